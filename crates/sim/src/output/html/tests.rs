use super::charts::{buckets, panel_groups};
use super::events::fragment_time;
use super::*;
use cascade_engine::Time;
use proptest::prelude::*;

#[test]
fn numbers_read_as_people_read_them() {
    assert_eq!(readable(0.691542288557214, "ratio"), "69.2%");
    assert_eq!(readable(1.0, "ratio"), "100%");
    assert_eq!(readable(7_199_814.0, ""), "7,199,814");
    assert_eq!(readable(-1500.0, ""), "-1,500");
    assert_eq!(readable(0.12345, ""), "0.123");
    assert_eq!(readable(12.345, "seconds"), "12.3 s");
    assert_eq!(readable(1234.6, ""), "1235");
}

#[test]
fn instants_as_t_plus_and_misses_by_their_bound() {
    assert_eq!(t_plus(0.0), "T+0s");
    assert_eq!(t_plus(90.0), "T+1m30s");
    assert_eq!(t_plus(600.0), "T+10m");
    assert_eq!(t_plus(3900.0), "T+1h05m");
    assert_eq!(date_time(1_704_067_200.0), "2024-01-01 00:00");
    assert_eq!(
        miss(0.69, ">= 0.999", "ratio").as_deref(),
        Some("short by 30.9%")
    );
    assert_eq!(miss(14.0, "<= 0", "").as_deref(), Some("over by 14"));
    assert_eq!(miss(0.0, "<= 0", ""), None);
}

proptest! {
    /// Drawing two points per pixel column never loses a sample's extreme: the chart's
    /// highest and lowest points are the series' maximum and minimum.
    #[test]
    fn pixel_columns_keep_every_extreme(values in prop::collection::vec(-1e6f64..1e6, 1..400), n in 1usize..50) {
        let mut m = Metrics::default();
        for (k, v) in values.iter().enumerate() {
            m.sample(Time::from_secs_f64(k as f64), vec![(std::borrow::Cow::Borrowed("x"), *v)]);
        }
        let tmax = (values.len() - 1).max(1) as f64;
        let b = buckets(&m, 0, tmax, n);
        let hi = b.iter().flatten().map(|b| b.hi).fold(f64::MIN, f64::max);
        let lo = b.iter().flatten().map(|b| b.lo).fold(f64::MAX, f64::min);
        prop_assert_eq!(hi, values.iter().copied().fold(f64::MIN, f64::max));
        prop_assert_eq!(lo, values.iter().copied().fold(f64::MAX, f64::min));
        prop_assert_eq!(b.iter().flatten().last().map(|b| b.last), values.last().copied());
    }
}

/// The CSP allows the page's one script by its SHA-256: recomputed here from the text
/// between `<script>` and `</script>`, which must match the hash in [`REPORT_CSP`] (else
/// the browser refuses the script and the filters never appear).
#[test]
fn the_csp_names_the_sha256_of_the_inline_script() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(EVENTS_SCRIPT.as_bytes()));
    assert!(
        REPORT_CSP.contains(&format!("script-src 'sha256-{hash}';")),
        "REPORT_CSP must name 'sha256-{hash}'"
    );
    // The script directive names the hash alone: no 'unsafe-inline', no other source.
    let script_src = REPORT_CSP
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src "))
        .unwrap();
    assert_eq!(script_src, format!("script-src 'sha256-{hash}'"));
    assert!(!COMPARE_CSP.contains("script-src"));
    // The HTML parser would end the script at `</`; the page carries it byte for byte.
    assert!(!EVENTS_SCRIPT.contains("</"));
    let s = Summary {
        scenario: "s".into(),
        variant: None,
        seed: 1,
        simulated_seconds: 60.0,
        events_processed: 0,
        wall_seconds: 0.0,
        totals: Default::default(),
        peaks: Default::default(),
        ratios: Default::default(),
        averages: Default::default(),
        expectations: Vec::new(),
        truncated: false,
        notes: Vec::new(),
    };
    let page = report_html(&s, &Metrics::default(), &[], &ReportContext::default());
    assert_eq!(page.matches("<script>").count(), 1);
    assert!(page.contains(&format!("<script>{EVENTS_SCRIPT}</script>")));
}

/// Series land in the groups the issue names, in the page's order: a service called `api`
/// keeps its series, the API server's clients stay with the control plane, and a name the
/// scenario does not give keeps its first word.
#[test]
fn series_are_grouped_by_system() {
    let systems = Systems {
        services: vec!["api".into(), "proxy".into()],
        rings: vec!["cortex".into()],
        fleets: vec!["prometheus".into()],
        clients: vec!["users".into()],
    };
    let columns: Vec<String> = [
        "users_goodput_qps",
        "api_qps",
        "api_clients_unsynced",
        "gossip_members",
        "proxy_qps",
        "nodes_ready",
        "pods_pending",
        "write_error_ratio",
        "prometheus_shards",
        "cortex_ingesters_active",
        "apiserver_up",
        "api_latency_p99_seconds",
    ]
    .map(String::from)
    .into();
    let groups: Vec<(String, Vec<&str>)> = panel_groups(&columns, &systems)
        .into_iter()
        .map(|(g, v)| (g, v.iter().map(|&i| columns[i].as_str()).collect()))
        .collect();
    let want: Vec<(String, Vec<&str>)> = vec![
        ("cluster and scheduling".into(), vec!["pods_pending"]),
        ("nodes".into(), vec!["nodes_ready"]),
        (
            "control plane".into(),
            vec!["api_clients_unsynced", "apiserver_up"],
        ),
        (
            "service api".into(),
            vec!["api_qps", "api_latency_p99_seconds"],
        ),
        ("service proxy".into(), vec!["proxy_qps"]),
        ("ring cortex".into(), vec!["cortex_ingesters_active"]),
        ("remote_write prometheus".into(), vec!["prometheus_shards"]),
        ("gossip".into(), vec!["gossip_members"]),
        ("clients".into(), vec!["users_goodput_qps"]),
        ("write".into(), vec!["write_error_ratio"]),
    ];
    assert_eq!(groups, want);
}

/// The timeline's time column never breaks inside a time (`T+6m0` over `2s`): its cells
/// carry the class the style keeps on one line.
#[test]
fn timeline_times_stay_on_one_line() {
    assert!(STYLE.contains("td.t{white-space:nowrap;"));
    let ctx = ReportContext {
        marks: vec![Mark {
            at: 362.0,
            until: Some(400.0),
            text: "fault: x".into(),
        }],
        ..ReportContext::default()
    };
    let mut h = String::new();
    timeline(&mut h, &[], &ctx, &EventRows::select(&[], 600.0));
    assert!(
        h.contains(&format!("<tr><td class=\"t\">{}</td>", t_plus(362.0))),
        "{h}"
    );
}

#[test]
fn fragment_times_read_back_as_the_script_reads_them() {
    assert_eq!(fragment_time(0.0, false), "0s");
    assert_eq!(fragment_time(59.5, false), "59s");
    assert_eq!(fragment_time(59.5, true), "1m");
    assert_eq!(fragment_time(630.0, false), "10m30s");
    assert_eq!(fragment_time(3600.0, false), "1h");
    assert_eq!(fragment_time(3900.0, false), "1h05m");
    assert_eq!(fragment_time(3905.0, false), "1h05m05s");
    assert_eq!(events_link(540.0, 660.2), "#events?from=9m&amp;to=11m01s");
}

#[test]
fn escapes_markup_and_both_quotes() {
    assert_eq!(
        esc(r#"<img src=x onerror='a("1")'>&"#),
        "&lt;img src=x onerror=&#39;a(&quot;1&quot;)&#39;&gt;&amp;"
    );
}
