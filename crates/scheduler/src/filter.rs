//! The default Filter plugins, in kube-scheduler's order (v1.33 default profile):
//! NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodeResourcesFit.
//! As in the framework, the first plugin that rejects a node decides its status.

use crate::cluster::{Cluster, NodeId, NodeInfo, PodId};
use cascade_model::objects::{tolerated, TAINT_NODE_UNSCHEDULABLE};
use cascade_model::{Node, Pod, ResourceName, Resources, ScalarResources, Taint, TaintEffect};
use std::fmt;

/// Why a node was rejected. Small and `Copy`: a cycle that rejects thousands of nodes records
/// a reason for each without allocating; the words are only produced for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// NodeUnschedulable.
    Unschedulable,
    /// NodeName.
    NodeName,
    /// TaintToleration: the first taint the pod does not tolerate (its index on the node).
    UntoleratedTaint {
        node: NodeId,
        taint: u32,
    },
    /// NodeAffinity (nodeSelector and required node affinity).
    NodeAffinity,
    /// NodeResourcesFit.
    TooManyPods,
    Insufficient(ResourceName),
    /// A scalar resource (extended resource, hugepages): the pod's `index`-th scalar request.
    InsufficientScalar {
        pod: PodId,
        index: u32,
    },
    /// DefaultPreemption: no pod on the node has lower priority than the preemptor.
    NoPreemptionVictims,
    /// DefaultPreemption: the node was rejected for a reason removing pods cannot fix.
    PreemptionNotHelpful,
}

/// A reason in the plugin's own words.
pub struct Describe<'a>(pub Reason, pub &'a Cluster);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::NodeName => f.write_str("node(s) didn't match the requested node name"),
            Reason::UntoleratedTaint { node, taint } => {
                let t = &self.1.node(node).node.taints[taint as usize];
                write!(
                    f,
                    "node(s) had untolerated taint {{{}: {}}}",
                    t.key, t.value
                )
            }
            Reason::NodeAffinity => {
                f.write_str("node(s) didn't match Pod's node affinity/selector")
            }
            Reason::TooManyPods => f.write_str("Too many pods"),
            Reason::Insufficient(r) => write!(f, "Insufficient {}", r.as_str()),
            Reason::InsufficientScalar { pod, index } => {
                let scalar = &self.1.pod(pod).pod.scalar_requests;
                write!(f, "Insufficient {}", scalar.entry(index as usize).0)
            }
            Reason::NoPreemptionVictims => {
                f.write_str("No preemption victims found for incoming pod")
            }
            Reason::PreemptionNotHelpful => f.write_str("Preemption is not helpful for scheduling"),
        }
    }
}

/// How many reasons a node's status holds inline: NodeResourcesFit's four native ones (too
/// many pods, cpu, memory, storage) and up to four scalar resources. A pod short of more than
/// four scalar resources on one node is described by its first four (in name order).
const MAX_REASONS: usize = 8;

/// A node's reasons, inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reasons {
    len: u8,
    items: [Reason; MAX_REASONS],
}

impl Reasons {
    pub fn one(r: Reason) -> Self {
        let mut s = Reasons {
            len: 0,
            items: [Reason::Unschedulable; MAX_REASONS],
        };
        s.push(r);
        s
    }

    pub fn empty() -> Self {
        Reasons {
            len: 0,
            items: [Reason::Unschedulable; MAX_REASONS],
        }
    }

    pub fn push(&mut self, r: Reason) {
        if (self.len as usize) < MAX_REASONS {
            self.items[self.len as usize] = r;
            self.len += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Reason> + '_ {
        self.items[..self.len as usize].iter().copied()
    }
}

/// A rejected node: its reasons and whether preemption could help (framework status codes
/// Unschedulable vs UnschedulableAndUnresolvable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    pub resolvable: bool,
    pub reasons: Reasons,
}

impl NodeStatus {
    pub fn unresolvable(r: Reason) -> Self {
        NodeStatus {
            resolvable: false,
            reasons: Reasons::one(r),
        }
    }
}

/// The index of the first untolerated taint with effect NoSchedule or NoExecute, if any
/// (v1helper.FindMatchingUntoleratedTaint).
pub fn untolerated_taint(pod: &Pod, taints: &[Taint]) -> Option<usize> {
    taints.iter().position(|t| {
        matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
            && !tolerated(&pod.tolerations, t)
    })
}

/// nodeSelector and requiredDuringSchedulingIgnoredDuringExecution.
pub fn matches_node_affinity(pod: &Pod, info: &NodeInfo) -> bool {
    let labels = &info.node.labels;
    if !pod
        .node_selector
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    match &pod.required_node_affinity {
        Some(sel) => sel.matches(&info.node.name, labels),
        None => true,
    }
}

/// The filters that do not depend on what runs on the node. Their failures are
/// UnschedulableAndUnresolvable: preemption cannot fix them.
pub fn static_filters(pod: &Pod, id: NodeId, info: &NodeInfo) -> Result<(), NodeStatus> {
    if info.node.unschedulable {
        let cordon = Taint {
            key: TAINT_NODE_UNSCHEDULABLE.to_string(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        };
        if !tolerated(&pod.tolerations, &cordon) {
            return Err(NodeStatus::unresolvable(Reason::Unschedulable));
        }
    }
    if let Some(name) = &pod.node_name {
        if *name != info.node.name {
            return Err(NodeStatus::unresolvable(Reason::NodeName));
        }
    }
    if let Some(t) = untolerated_taint(pod, &info.node.taints) {
        return Err(NodeStatus::unresolvable(Reason::UntoleratedTaint {
            node: id,
            taint: crate::cluster::index_u32(t),
        }));
    }
    if !matches_node_affinity(pod, info) {
        return Err(NodeStatus::unresolvable(Reason::NodeAffinity));
    }
    Ok(())
}

/// What is requested on a node: the native resources (with the pod count in `pods`) and the
/// scalar ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requested {
    pub native: Resources,
    pub scalar: ScalarResources,
}

impl Requested {
    pub fn add_pod(&mut self, pod: &Pod) {
        self.native += pod.requests;
        if !pod.scalar_requests.is_empty() {
            self.scalar.add_all(&pod.scalar_requests);
        }
    }

    pub fn remove_pod(&mut self, pod: &Pod) {
        self.native -= pod.requests;
        if !pod.scalar_requests.is_empty() {
            self.scalar.sub_all(&pod.scalar_requests);
        }
    }
}

/// NodeResourcesFit: `requested` (including the pod count in `pods`) against allocatable.
/// Only resources the pod requests are checked; the pod count always is (fit.go fitsRequest).
pub fn fits(
    pod_req: &Resources,
    requested: &Resources,
    allocatable: &Resources,
) -> Result<(), NodeStatus> {
    let mut reasons = Reasons::empty();
    fits_native(pod_req, requested, allocatable, &mut reasons);
    status_of(reasons)
}

fn status_of(reasons: Reasons) -> Result<(), NodeStatus> {
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(NodeStatus {
            resolvable: true,
            reasons,
        })
    }
}

fn fits_native(
    pod_req: &Resources,
    requested: &Resources,
    allocatable: &Resources,
    reasons: &mut Reasons,
) {
    if requested.pods + 1 > allocatable.pods {
        reasons.push(Reason::TooManyPods);
    }
    for r in [
        ResourceName::Cpu,
        ResourceName::Memory,
        ResourceName::EphemeralStorage,
    ] {
        let want = pod_req.get(r);
        if want > 0 && want > allocatable.get(r).saturating_sub(requested.get(r)) {
            reasons.push(Reason::Insufficient(r));
        }
    }
}

/// NodeResourcesFit for scalar resources (extended resources, hugepages): each amount the pod
/// requests must be left on the node; a node without the resource has none of it
/// (fit.go fitsRequest, v1.33: "Insufficient nvidia.com/gpu"). Reasons follow name order.
pub fn fits_scalar(
    pod_id: PodId,
    want: &ScalarResources,
    requested: &ScalarResources,
    allocatable: &ScalarResources,
    reasons: &mut Reasons,
) {
    for (i, (name, v)) in want.iter().enumerate() {
        if v > 0 && v > allocatable.get(name).saturating_sub(requested.get(name)) {
            reasons.push(Reason::InsufficientScalar {
                pod: pod_id,
                index: crate::cluster::index_u32(i),
            });
        }
    }
}

/// NodeResourcesFit for `pod` against `node` with `requested` already placed there.
pub fn fits_pod(
    pod_id: PodId,
    pod: &Pod,
    requested: &Requested,
    node: &Node,
) -> Result<(), NodeStatus> {
    let mut reasons = Reasons::empty();
    fits_native(
        &pod.requests,
        &requested.native,
        &node.allocatable,
        &mut reasons,
    );
    if !pod.scalar_requests.is_empty() {
        fits_scalar(
            pod_id,
            &pod.scalar_requests,
            &requested.scalar,
            &node.scalar_allocatable,
            &mut reasons,
        );
    }
    status_of(reasons)
}

/// What the pods nominated to this node with priority >= the pod's own add to its requests:
/// kube-scheduler treats them as already there (RunFilterPluginsWithNominatedPods), so a
/// preemptor's room is not taken by a lower-priority pod.
pub fn nominated_requests(
    cluster: &Cluster,
    pod_id: PodId,
    pod: &Pod,
    info: &NodeInfo,
) -> Requested {
    let mut extra = Requested::default();
    for &n in &info.nominated {
        if n == pod_id {
            continue;
        }
        let np = &cluster.pod(n).pod;
        if np.priority >= pod.priority {
            extra.add_pod(np);
        }
    }
    extra
}

/// What is requested on the node, with the nominated pods that count (see
/// [`nominated_requests`]).
pub fn requested_with_nominated(
    cluster: &Cluster,
    pod_id: PodId,
    pod: &Pod,
    info: &NodeInfo,
) -> Requested {
    let mut requested = Requested {
        native: info.requested,
        scalar: info.scalar_requested.clone(),
    };
    if !info.nominated.is_empty() {
        let extra = nominated_requests(cluster, pod_id, pod, info);
        requested.native += extra.native;
        requested.scalar.add_all(&extra.scalar);
    }
    requested
}

/// Runs every filter for `pod` on `info`.
pub fn run_filters(
    cluster: &Cluster,
    pod_id: PodId,
    pod: &Pod,
    id: NodeId,
) -> Result<(), NodeStatus> {
    let info = cluster.node(id);
    static_filters(pod, id, info)?;
    if info.nominated.is_empty()
        && info.scalar_requested.is_empty()
        && pod.scalar_requests.is_empty()
    {
        return fits(&pod.requests, &info.requested, &info.node.allocatable);
    }
    let requested = requested_with_nominated(cluster, pod_id, pod, info);
    fits_pod(pod_id, pod, &requested, &info.node)
}
