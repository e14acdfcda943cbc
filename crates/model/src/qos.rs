//! A pod's QoS class, as Kubernetes computes it (`GetPodQOS`,
//! pkg/apis/core/v1/helper/qos/qos.go, v1.33; docs/kubernetes.md#node-memory-pressure).
//! The kubelet derives each container's `oom_score_adj` from it, and the kernel's OOM killer
//! reads that when a node runs out of memory.

use crate::Resources;
use serde::Serialize;

/// status.qosClass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub enum QosClass {
    /// Every container has CPU and memory limits, and the summed requests equal the summed
    /// limits.
    Guaranteed,
    /// Neither Guaranteed nor BestEffort.
    Burstable,
    /// No container requests or limits CPU or memory.
    #[default]
    BestEffort,
}

impl QosClass {
    /// Kubernetes' spelling (`status.qosClass`).
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

/// The containers of one pod (app and init containers alike), added one at a time.
///
/// `GetPodQOS` sums the non-zero CPU and memory requests and limits over all containers; the
/// pod is Guaranteed only if every container has both a CPU and a memory limit and each
/// summed request equals its summed limit; BestEffort if nothing was requested or limited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QosTally {
    requests: Resources,
    limits: Resources,
    every_container_limited: bool,
    containers: u32,
}

impl QosTally {
    pub fn new() -> QosTally {
        QosTally {
            every_container_limited: true,
            ..QosTally::default()
        }
    }

    /// One container's requests and limits as written (before API defaulting: a CPU or
    /// memory limit without a request is also the request, and that is applied here).
    pub fn add(&mut self, requests: Resources, limits: Resources) {
        let pos = |v: i64| v.max(0);
        let default = |req: i64, lim: i64| if req > 0 { req } else { pos(lim) };
        self.requests.milli_cpu = self
            .requests
            .milli_cpu
            .saturating_add(default(requests.milli_cpu, limits.milli_cpu));
        self.requests.memory = self
            .requests
            .memory
            .saturating_add(default(requests.memory, limits.memory));
        self.limits.milli_cpu = self.limits.milli_cpu.saturating_add(pos(limits.milli_cpu));
        self.limits.memory = self.limits.memory.saturating_add(pos(limits.memory));
        if limits.milli_cpu <= 0 || limits.memory <= 0 {
            self.every_container_limited = false;
        }
        self.containers += 1;
    }

    /// The pod's QoS class.
    pub fn class(&self) -> QosClass {
        let (r, l) = (self.requests, self.limits);
        if r.milli_cpu == 0 && r.memory == 0 && l.milli_cpu == 0 && l.memory == 0 {
            return QosClass::BestEffort;
        }
        // Every container limited both resources, so both limit sums are non-zero and the
        // requests sums (defaulted from the limits) are too: equal sums is the whole test.
        if self.containers > 0
            && self.every_container_limited
            && r.milli_cpu == l.milli_cpu
            && r.memory == l.memory
        {
            QosClass::Guaranteed
        } else {
            QosClass::Burstable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ((cpu request, memory request), (cpu limit, memory limit)) of each container.
    type Container = ((i64, i64), (i64, i64));

    fn class(containers: &[Container]) -> QosClass {
        let mut t = QosTally::new();
        for ((rc, rm), (lc, lm)) in containers {
            t.add(Resources::new(*rc, *rm), Resources::new(*lc, *lm));
        }
        t.class()
    }

    #[test]
    fn classes_as_get_pod_qos_computes_them() {
        // Nothing requested or limited.
        assert_eq!(class(&[((0, 0), (0, 0))]), QosClass::BestEffort);
        assert_eq!(
            class(&[((0, 0), (0, 0)), ((0, 0), (0, 0))]),
            QosClass::BestEffort
        );
        // Equal requests and limits for both resources.
        assert_eq!(
            class(&[((500, 1 << 30), (500, 1 << 30))]),
            QosClass::Guaranteed
        );
        // Limits only: the requests default to them.
        assert_eq!(class(&[((0, 0), (500, 1 << 30))]), QosClass::Guaranteed);
        // A memory request only.
        assert_eq!(class(&[((0, 1 << 30), (0, 0))]), QosClass::Burstable);
        // Limits above requests.
        assert_eq!(
            class(&[((500, 1 << 29), (500, 1 << 30))]),
            QosClass::Burstable
        );
        // A memory limit without a CPU limit.
        assert_eq!(class(&[((0, 0), (0, 1 << 30))]), QosClass::Burstable);
        // One Guaranteed container and one with nothing: not every container is limited.
        assert_eq!(
            class(&[((500, 1 << 30), (500, 1 << 30)), ((0, 0), (0, 0))]),
            QosClass::Burstable
        );
    }
}
