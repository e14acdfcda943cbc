//! Routing follows the EndpointSlice, which follows readiness only when written
//! (docs/control-plane-and-nodes.md#endpointslices).

use super::*;

/// `api` with two replicas (pods 1 and 2), a client sending 20 requests a second, no retries.
fn two_replicas() -> Driver {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: 10,
            service_seconds: 0.01,
            queue_capacity: 100,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: 20.0,
            timeout_seconds: 1.0,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 5);
    d.ready_pod(1, "api-0", "api");
    d.ready_pod(2, "api-1", "api");
    d
}

#[test]
fn a_dead_replica_keeps_its_traffic_until_the_slice_is_written() {
    let mut d = two_replicas();
    d.run_checked(10.0);
    assert_eq!(d.total("api_failed"), 0);
    assert!(d.slices.is_empty(), "Immediate gives no slice effect");
    // The controller cannot write: the pod's process dies, its slice entry stays.
    d.world.set_slice_writes(SliceWrites::Deferred);
    let api = d.world.endpoints.find("api").expect("api");
    d.call(|w, now, out| w.process_died(now, PodRef::new(1), out));
    assert_eq!(
        d.slices,
        vec![(false, api)],
        "one SliceStale for the service"
    );
    d.run_checked(60.0);
    let stale = d.total("api_stale_endpoint_failures");
    let sent = d.total("api_requests");
    // About half of ~1,000 requests go to the gone replica: sd ~ 16.
    assert!((stale as f64 - 500.0).abs() < 80.0, "{stale} of {sent}");
    assert_eq!(
        d.total("api_failed"),
        stale,
        "every failure is a refused connection"
    );
    // Further changes ride along with the stale slice: no second effect.
    d.call(|w, now, out| w.pod_gone(now, PodRef::new(1), out));
    assert_eq!(d.slices.len(), 1);
    // The slice is written: no request goes there any more.
    d.call(|w, now, out| w.write_slice(now, api, out));
    d.run_checked(120.0);
    assert_eq!(d.total("api_stale_endpoint_failures"), stale);
    assert_eq!(d.total("api_failed"), stale);
    assert!(d.total("api_requests") > sent + 1000);
}

#[test]
fn a_new_ready_replica_gets_no_traffic_until_the_slice_is_written() {
    let mut cfg = ServicesConfig::default();
    cfg.services.insert(
        "api".into(),
        ServiceSpec {
            selector: selector("api"),
            workers_per_replica: 10,
            service_seconds: 0.01,
            ..ServiceSpec::default()
        },
    );
    cfg.clients.insert(
        "users".into(),
        ClientSpec {
            target: "api".into(),
            rate_per_second: 20.0,
            timeout_seconds: 1.0,
            max_retries: 0,
            ..ClientSpec::default()
        },
    );
    let mut d = Driver::new(cfg, 5);
    d.world.set_slice_writes(SliceWrites::Deferred);
    let i = info("api-0", "api");
    d.call(|w, now, out| w.container_started(now, PodRef::new(1), &i, out));
    d.call(|w, now, out| w.pod_ready(now, PodRef::new(1), out));
    d.run_checked(10.0);
    assert_eq!(d.total("api_requests"), 0, "nothing routed");
    let refused = d.total("api_unavailable");
    assert!(refused > 150, "{refused} refused for want of endpoints");
    let api = d.world.endpoints.find("api").expect("api");
    d.call(|w, now, out| w.write_slice(now, api, out));
    d.run_checked(20.0);
    assert_eq!(
        d.total("api_unavailable"),
        refused,
        "none refused once written"
    );
    assert!(d.total("api_succeeded") > 150);
}

#[test]
fn a_change_the_controller_can_write_at_once_is_routed_at_once_and_reported() {
    let mut d = two_replicas();
    d.world.set_slice_writes(SliceWrites::Requested);
    let api = d.world.endpoints.find("api").expect("api");
    d.call(|w, now, out| w.process_died(now, PodRef::new(1), out));
    assert_eq!(d.slices, vec![(true, api)]);
    d.run_checked(60.0);
    assert_eq!(d.total("api_stale_endpoint_failures"), 0);
    assert_eq!(d.total("api_failed"), 0);
}

#[test]
fn a_replica_lost_with_its_node_stays_ready_and_listed_until_marked() {
    // With Immediate writes, a process that dies is out of the slice at once; one lost with
    // its node is not: nobody reports it until the node lifecycle controller marks it.
    let mut d = two_replicas();
    d.run_checked(10.0);
    let api = d.world.endpoints.find("api").expect("api");
    d.call(|w, now, out| w.process_lost(now, PodRef::new(1), out));
    assert!(
        d.slices.is_empty(),
        "no slice change: its readiness did not change"
    );
    let rep = &d.world.endpoints.get(api).replicas[0];
    assert!(rep.ready && rep.lost && !rep.alive && rep.routable);
    // 40 s at 20 a second, half of them to the lost replica: ~400 refused (sd ~ 13).
    d.run_checked(50.0);
    let stale = d.total("api_stale_endpoint_failures");
    assert!((stale as f64 - 400.0).abs() < 60.0, "{stale}");
    assert_eq!(d.total("api_failed"), stale);
    // The mark arrives: out of the slice (written at once), no more refusals.
    d.call(|w, now, out| w.pod_not_ready(now, PodRef::new(1), out));
    let rep = &d.world.endpoints.get(api).replicas[0];
    assert!(!rep.ready && !rep.lost && !rep.routable);
    d.run_checked(100.0);
    assert_eq!(d.total("api_stale_endpoint_failures"), stale);
}

#[test]
fn a_kubelet_that_comes_back_reports_its_lost_replicas_not_ready() {
    let mut d = two_replicas();
    d.run_checked(10.0);
    let api = d.world.endpoints.find("api").expect("api");
    d.call(|w, now, out| w.process_lost(now, PodRef::new(1), out));
    d.run_checked(20.0);
    assert!(d.total("api_stale_endpoint_failures") > 0);
    d.call(|w, now, out| w.kubelet_reports_lost(now, PodRef::new(1), out));
    // The other pod is untouched.
    d.call(|w, now, out| w.kubelet_reports_lost(now, PodRef::new(2), out));
    let stale = d.total("api_stale_endpoint_failures");
    let reps = &d.world.endpoints.get(api).replicas;
    assert!(!reps[0].ready && !reps[0].routable);
    assert!(reps[1].ready && reps[1].routable && reps[1].alive);
    d.run_checked(60.0);
    assert_eq!(d.total("api_stale_endpoint_failures"), stale);
    assert_eq!(d.total("api_failed"), stale);
}
