//! Nodes, Pods, PriorityClasses and PodDisruptionBudgets, reduced to what scheduling and the
//! simulated control loops need.

use crate::resources::{Resources, ScalarResources};
use crate::selector::{LabelSelector, Labels, NodeSelector, NodeSelectorTerm};
use crate::Millis;
use serde::Serialize;

mod workloads;
pub use workloads::*;

/// The well-known label kube-scheduler's node tree groups nodes by (topology.kubernetes.io/zone).
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// The well-known region label; kube-scheduler's zone key is region and zone together.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
/// The deprecated beta zone and region labels, still on nodes registered by old kubelets and
/// in old dumps. Kubernetes reads them *before* the GA labels (`GetZoneKey`,
/// docs/kubernetes.md#zones).
pub const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
pub const LABEL_REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
/// Taint the NodeUnschedulable plugin checks when `spec.unschedulable` is set.
pub const TAINT_NODE_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// A taint's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Taint {
    pub key: String,
    pub value: String,
    pub effect: TaintEffect,
    /// When a NoExecute taint was added (the node lifecycle controller sets it); used to time
    /// evictions against `tolerationSeconds`.
    pub time_added: Option<Millis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TolerationOperator {
    /// The default: key and value must be equal.
    Equal,
    /// Any value; with an empty key, any taint.
    Exists,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Empty means every key (only with `Exists`).
    pub key: String,
    pub operator: TolerationOperator,
    pub value: String,
    /// None tolerates every effect.
    pub effect: Option<TaintEffect>,
    /// For NoExecute: how long the pod stays bound after the taint appears; None is forever.
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Whether this toleration tolerates the taint, per core/v1 Toleration.ToleratesTaint.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if let Some(e) = self.effect {
            if e != taint.effect {
                return false;
            }
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// A Node as the scheduler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    /// status.allocatable (capacity when allocatable is absent).
    pub allocatable: Resources,
    /// Allocatable extended resources, hugepages and other scalar resources.
    pub scalar_allocatable: ScalarResources,
    pub taints: Vec<Taint>,
    /// spec.unschedulable (cordoned).
    pub unschedulable: bool,
}

impl Node {
    /// The node tree's and the node lifecycle controller's zone key: region and zone joined,
    /// as component-helpers' `GetZoneKey` does (v1.33); empty when both are empty.
    pub fn zone_key(&self) -> String {
        let (region, zone) = (self.region(), self.zone());
        if region.is_empty() && zone.is_empty() {
            String::new()
        } else {
            format!("{region}:\x00:{zone}")
        }
    }

    /// The node's zone as `GetZoneKey` reads it: the beta label if the node has it (even
    /// empty), else the GA label, else "".
    pub fn zone(&self) -> &str {
        self.label_beta_first(LABEL_ZONE_BETA, LABEL_ZONE)
    }

    /// The node's region, read like [`Node::zone`].
    pub fn region(&self) -> &str {
        self.label_beta_first(LABEL_REGION_BETA, LABEL_REGION)
    }

    fn label_beta_first(&self, beta: &str, ga: &str) -> &str {
        self.labels
            .get(beta)
            .or_else(|| self.labels.get(ga))
            .map_or("", String::as_str)
    }
}

/// Whether a pod may preempt lower-priority pods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub enum PreemptionPolicy {
    #[default]
    PreemptLowerPriority,
    Never,
}

/// The controller that owns a pod (metadata.ownerReferences with controller: true).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

/// A preferred node affinity term and its weight (1..100).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreferredTerm {
    pub weight: i32,
    pub term: NodeSelectorTerm,
}

/// A Pod with its requests and priority resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub owner: Option<OwnerRef>,
    pub priority_class_name: Option<String>,
    /// spec.priority, resolved by the Priority admission plugin when the pod was created.
    pub priority: i32,
    pub preemption_policy: PreemptionPolicy,
    /// Effective requests for NodeResourcesFit: containers, init containers and overhead, and
    /// `pods: 1`.
    pub requests: Resources,
    /// The same with kube-scheduler's non-zero defaults (100m CPU, 200 MiB memory for a
    /// container that requests none), used only for scoring.
    pub nonzero_requests: Resources,
    /// Requests of extended resources, hugepages and other scalar resources, summed like
    /// `requests` (docs/kubernetes.md#extended-resources).
    pub scalar_requests: ScalarResources,
    /// Memory limit of the pod (sum of container limits); 0 when any container is unlimited.
    pub memory_limit: i64,
    /// CPU limit of the pod in millicores (sum of container limits); 0 when any container is
    /// unlimited. The kubelet sets the pod cgroup's CFS quota from it only then.
    pub cpu_limit: i64,
    /// status.qosClass, from the containers' requests and limits (`crate::qos`).
    pub qos_class: crate::QosClass,
    pub node_selector: Labels,
    pub required_node_affinity: Option<NodeSelector>,
    pub preferred_node_affinity: Vec<PreferredTerm>,
    pub tolerations: Vec<Toleration>,
    /// spec.nodeName: set when the pod is bound.
    pub node_name: Option<String>,
    /// status.nominatedNodeName: set by preemption.
    pub nominated_node_name: Option<String>,
    pub creation_timestamp: Millis,
    /// status.startTime, set when the kubelet starts the pod.
    pub start_time: Option<Millis>,
    /// metadata.deletionTimestamp is set: the pod is terminating but still holds its resources.
    pub terminating: bool,
    pub termination_grace_period_seconds: i64,
    /// Container images, in order (a changed image is a changed pod template).
    pub images: Vec<String>,
    /// Condition DisruptionTarget=True with reason PreemptionByScheduler: the pod is being
    /// deleted because the scheduler preempted it.
    pub preempted_by_scheduler: bool,
    /// spec.dnsPolicy and spec.dnsConfig; None when neither is set (ClusterFirst, nothing
    /// added): boxed, as most pods have none.
    pub dns: Option<Box<PodDns>>,
}

/// spec.dnsPolicy: where a pod's resolv.conf comes from (docs/dns.md#a-pods-dnsconfig).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DnsPolicy {
    /// The cluster's DNS service, its search list and `ndots:5` (the default).
    #[default]
    ClusterFirst,
    /// The same for a pod on the host's network.
    ClusterFirstWithHostNet,
    /// The node's own resolv.conf: lookups do not go through the cluster's DNS.
    Default,
    /// Only what spec.dnsConfig says.
    None,
}

/// A pod's DNS settings as written (spec.dnsPolicy, spec.dnsConfig), merged into its
/// resolv.conf by kubelet (docs/dns.md#a-pods-dnsconfig).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDns {
    pub policy: DnsPolicy,
    /// dnsConfig.nameservers, in order.
    pub nameservers: Vec<String>,
    /// dnsConfig.searches, in order.
    pub searches: Vec<String>,
    /// dnsConfig.options, in order: each name and its value (None: an option without one,
    /// such as `single-request`).
    pub options: Vec<(String, Option<String>)>,
    /// The `ndots` dnsConfig.options sets, read (the last one written wins, as kubelet merges
    /// options by name), within 0..=[`MAX_NDOTS`].
    pub ndots: Option<u32>,
}

/// The resolv.conf `ndots` option's upper bound: glibc and musl both cap it at 15 (glibc
/// `RES_MAXNDOTS`, musl `resolvconf.c`); cascade refuses a value above rather than capping it
/// silently. docs/dns.md#the-resolver
pub const MAX_NDOTS: u32 = 15;

impl Pod {
    /// NAMESPACE/NAME, the key kubectl and kube-scheduler's messages use.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// A bare pod for tests and generators: one container with the given requests.
    pub fn new(namespace: &str, name: &str, milli_cpu: i64, memory: i64) -> Pod {
        let requests = Resources {
            milli_cpu,
            memory,
            ephemeral_storage: 0,
            pods: 1,
        };
        Pod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: Labels::new(),
            owner: None,
            priority_class_name: None,
            priority: 0,
            preemption_policy: PreemptionPolicy::PreemptLowerPriority,
            requests,
            nonzero_requests: nonzero_container(requests),
            scalar_requests: ScalarResources::new(),
            memory_limit: 0,
            cpu_limit: 0,
            // One container with these requests and no limits.
            qos_class: if milli_cpu > 0 || memory > 0 {
                crate::QosClass::Burstable
            } else {
                crate::QosClass::BestEffort
            },
            node_selector: Labels::new(),
            required_node_affinity: None,
            preferred_node_affinity: Vec::new(),
            tolerations: Vec::new(),
            node_name: None,
            nominated_node_name: None,
            creation_timestamp: 0,
            start_time: None,
            terminating: false,
            termination_grace_period_seconds: DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS,
            images: Vec::new(),
            preempted_by_scheduler: false,
            dns: None,
        }
    }
}

/// Default terminationGracePeriodSeconds of a pod (core/v1 defaults).
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

/// kube-scheduler's non-zero defaults for a container without a request
/// (pkg/scheduler/util: DefaultMilliCPURequest = 100, DefaultMemoryRequest = 200 MiB).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Non-zero requests of one container (or a single-container pod): the defaults where a
/// request is zero.
pub fn nonzero_container(r: Resources) -> Resources {
    Resources {
        milli_cpu: if r.milli_cpu == 0 {
            DEFAULT_MILLI_CPU_REQUEST
        } else {
            r.milli_cpu
        },
        memory: if r.memory == 0 {
            DEFAULT_MEMORY_REQUEST
        } else {
            r.memory
        },
        ..r
    }
}

/// A pod as written in a manifest or a controller's template, before admission has resolved its
/// priority. Admission runs when each pod is *created* (see [`crate::admission`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodTemplate {
    /// The pod; its `priority` and `preemption_policy` are placeholders until admitted.
    pub pod: Pod,
    /// spec.priority as written (a snapshot's pods carry their admitted value).
    pub spec_priority: Option<i32>,
    /// spec.preemptionPolicy as written.
    pub spec_preemption_policy: Option<PreemptionPolicy>,
}

impl PodTemplate {
    /// The pod as the API server admits it now, against the classes that exist now.
    pub fn admit(
        &self,
        classes: &crate::admission::PriorityClasses,
    ) -> Result<Pod, crate::admission::AdmissionError> {
        let (priority, policy) = classes.resolve(
            self.spec_priority,
            self.pod.priority_class_name.as_deref(),
            self.spec_preemption_policy,
        )?;
        let mut pod = self.pod.clone();
        pod.priority = priority;
        pod.preemption_policy = policy;
        Ok(pod)
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn node_with(labels: &[(&str, &str)]) -> Node {
        Node {
            name: "n".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            allocatable: Resources::ZERO,
            scalar_allocatable: Default::default(),
            taints: Vec::new(),
            unschedulable: false,
        }
    }

    #[test]
    fn zones_are_read_as_get_zone_key_reads_them_beta_label_first() {
        let beta_only = node_with(&[
            (LABEL_ZONE_BETA, "us-east-2a"),
            (LABEL_REGION_BETA, "us-east-2"),
        ]);
        assert_eq!(beta_only.zone(), "us-east-2a");
        assert_eq!(beta_only.zone_key(), "us-east-2:\x00:us-east-2a");
        let ga_only = node_with(&[(LABEL_ZONE, "z1")]);
        assert_eq!(ga_only.zone(), "z1");
        assert_eq!(ga_only.zone_key(), ":\x00:z1");
        // Both: the beta label wins, as upstream (it is looked up first).
        let both = node_with(&[(LABEL_ZONE_BETA, "old"), (LABEL_ZONE, "new")]);
        assert_eq!(both.zone(), "old");
        assert_eq!(node_with(&[]).zone_key(), "");
        assert_eq!(node_with(&[(LABEL_ZONE, "")]).zone_key(), "");
    }

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
            time_added: None,
        }
    }

    #[test]
    fn toleration_rules_follow_core_v1() {
        let t = taint("dedicated", "gpu", TaintEffect::NoSchedule);
        let exists_all = Toleration {
            key: String::new(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: None,
            toleration_seconds: None,
        };
        assert!(exists_all.tolerates(&t));
        let equal = Toleration {
            key: "dedicated".into(),
            operator: TolerationOperator::Equal,
            value: "gpu".into(),
            effect: Some(TaintEffect::NoSchedule),
            toleration_seconds: None,
        };
        assert!(equal.tolerates(&t));
        let wrong_effect = Toleration {
            effect: Some(TaintEffect::NoExecute),
            ..equal.clone()
        };
        assert!(!wrong_effect.tolerates(&t));
        let wrong_value = Toleration {
            value: "cpu".into(),
            ..equal
        };
        assert!(!wrong_value.tolerates(&t));
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(IntOrPercent::Percent(50).scaled(3), 2);
        assert_eq!(IntOrPercent::Percent(10).scaled(10), 1);
        assert_eq!(IntOrPercent::Int(4).scaled(10), 4);
    }
}
