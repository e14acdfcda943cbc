//! Faults: what breaks at a simulated time (a node, a zone, a service, a partition, the API
//! server, a stockout), and the references to nodes and faults they are written with.

use super::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A fault: something breaks at `at`, for `duration` (forever when absent). One fault is one
/// kind of breakage; the YAML names it by its field (`nodeDown: NAME`, `zoneDown: ZONE`,
/// `serviceDown: NAME` with an optional `flapping`, `serviceDegraded: NAME` with its
/// `degradation`, `partition: {...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "FaultDoc")]
pub struct Fault {
    /// A name for the fault, unique in the scenario, by which a variant's `skipFaults` can
    /// leave it out.
    pub name: Option<String>,
    pub at: Duration,
    pub duration: Option<Duration>,
    pub description: Option<String>,
    pub kind: FaultKind,
}

/// A fault is written as [`FaultDoc`] (one of its kind fields set).
impl schemars::JsonSchema for Fault {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Fault".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        FaultDoc::json_schema(g)
    }
}

/// What breaks.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// A node's kubelet stops (power loss, kernel panic): heartbeats stop, its pods stop.
    /// `nodeDown: NAME` names one node; `nodeDown: {selector: {matchLabels: ...}, fraction: F}`
    /// takes down that share of the nodes the selector picks when the fault starts.
    NodeDown(NodeTarget),
    /// Every node of a zone goes down at once.
    ZoneDown(String),
    /// A dependency is down: a service (from `spec.services`) refuses every connection, as if
    /// its endpoints were gone, while its pods keep running. With `flapping`, instead of
    /// staying down, the service alternates down and up for the fault's duration, starting
    /// down (an intermittently reachable Kafka).
    ServiceDown {
        service: String,
        flapping: Option<Flapping>,
    },
    /// A service (from `spec.services`) runs degraded: fewer workers, a slower service time,
    /// added latency, an error rate (docs/retry-defences.md#degradation). It keeps its
    /// endpoints: callers reach it and get worse answers, not refusals. With `onNodes`, only
    /// its replicas on those nodes are (a bad node: one replica of several).
    ServiceDegraded {
        service: String,
        degradation: cascade_services::Degradation,
        on_nodes: Option<NodeTarget>,
    },
    /// A network partition: these nodes lose the control plane and the rest of the cluster.
    /// Their kubelets cannot post status (the nodes go NotReady and their pods are evicted in
    /// time), but their processes keep running. Service callers are on the control plane's
    /// side: requests routed to the far side's replicas go unanswered until the endpoints
    /// drop them; gossip agents on each side lose the other side.
    Partition(PartitionSpec),
    /// The cloud has no capacity for new instances in a zone (`stockout: ZONE`): every create
    /// there (the autoscaler's, a repair's) fails after `cloud.stockoutFailureSeconds`.
    Stockout(String),
    /// kube-apiserver is stopped (`apiServerDown: true`): every request and watch on it
    /// fails; at the fault's end it starts again and serves after `apiServer.startupSeconds`.
    /// A restart is this fault with a short duration. With `replica: I` only that replica
    /// stops (0 to `apiServer.replicas` - 1; its clients reconnect to the others), else
    /// every replica does.
    ApiServerDown { replica: Option<u32> },
}

/// A fault as written: one of its kind fields is set.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultDoc {
    /// A name for the fault, unique in the scenario, that a variant's `skipFaults` can use.
    #[serde(default)]
    name: Option<String>,
    /// When it breaks, from the start of the run.
    at: Duration,
    /// How long it stays broken; absent: to the end of the run.
    #[serde(default)]
    duration: Option<Duration>,
    /// What breaks, for the outputs.
    #[serde(default)]
    description: Option<String>,
    /// A node's kubelet stops (power loss, kernel panic): heartbeats stop, its pods stop. A
    /// node's name, or `{selector: {matchLabels: ...}, fraction: F}` for a share of the nodes a
    /// selector picks.
    #[serde(default)]
    node_down: Option<NodeTarget>,
    /// Every node of this zone goes down at once.
    #[serde(default)]
    zone_down: Option<String>,
    /// A service (from `spec.services`) refuses every connection while its pods keep running.
    #[serde(default)]
    service_down: Option<String>,
    /// With `serviceDown`: down and up in turn for the fault's duration, starting down.
    #[serde(default)]
    flapping: Option<Flapping>,
    /// These nodes lose the control plane and the rest of the cluster; their processes keep running.
    #[serde(default)]
    partition: Option<PartitionSpec>,
    /// A service (from `spec.services`) runs degraded (with `degradation`): callers get worse answers, not refusals.
    #[serde(default)]
    service_degraded: Option<String>,
    /// With `serviceDegraded`: how it is degraded.
    #[serde(default)]
    degradation: Option<cascade_services::Degradation>,
    /// With `serviceDegraded`: only its replicas on these nodes are degraded (a bad node), a
    /// node's name or `{selector: {matchLabels: ...}, fraction: F}`, chosen when the fault
    /// starts; a replica that starts there while it lasts is degraded too. Absent: every
    /// replica.
    #[serde(default)]
    on_nodes: Option<NodeTarget>,
    /// kube-apiserver is stopped; at the fault's end it starts again.
    #[serde(default)]
    api_server_down: bool,
    /// With `apiServerDown`: only this replica of kube-apiserver stops (0 to
    /// `apiServer.replicas` - 1); absent: every replica.
    #[serde(default)]
    replica: Option<u32>,
    /// The cloud has no capacity left in this zone: instance creates there fail.
    #[serde(default)]
    stockout: Option<String>,
}

impl TryFrom<FaultDoc> for Fault {
    type Error = String;

    fn try_from(d: FaultDoc) -> Result<Fault, String> {
        if d.flapping.is_some() && d.service_down.is_none() {
            return Err("flapping: expected with serviceDown".into());
        }
        if d.flapping.is_some_and(|f| f.up.0 <= 0.0 || f.down.0 <= 0.0) {
            return Err("flapping: expected up and down longer than 0".into());
        }
        if d.on_nodes.is_some() && d.service_degraded.is_none() {
            return Err("onNodes: expected with serviceDegraded".into());
        }
        if d.replica.is_some() && !d.api_server_down {
            return Err("replica: expected with apiServerDown: true".into());
        }
        if d.degradation.is_some() && d.service_degraded.is_none() {
            return Err("degradation: expected with serviceDegraded".into());
        }
        if d.service_degraded.is_some() && d.degradation.is_none() {
            return Err(
                "serviceDegraded: expected a degradation (workersPerReplica, serviceTimeFactor, addedLatencySeconds, errorRate)"
                    .into(),
            );
        }
        let mut kinds = Vec::new();
        if let Some(n) = d.node_down {
            kinds.push(("nodeDown", FaultKind::NodeDown(n)));
        }
        if let Some(z) = d.zone_down {
            kinds.push(("zoneDown", FaultKind::ZoneDown(z)));
        }
        if let Some(service) = d.service_down {
            let flapping = d.flapping;
            kinds.push(("serviceDown", FaultKind::ServiceDown { service, flapping }));
        }
        if let Some(p) = d.partition {
            kinds.push(("partition", FaultKind::Partition(p)));
        }
        if let (Some(service), Some(degradation)) = (d.service_degraded, d.degradation) {
            kinds.push((
                "serviceDegraded",
                FaultKind::ServiceDegraded {
                    service,
                    degradation,
                    on_nodes: d.on_nodes,
                },
            ));
        }
        if d.api_server_down {
            kinds.push((
                "apiServerDown",
                FaultKind::ApiServerDown { replica: d.replica },
            ));
        }
        if let Some(z) = d.stockout {
            kinds.push(("stockout", FaultKind::Stockout(z)));
        }
        const EXPECTED: &str =
            "expected one of nodeDown, zoneDown, serviceDown, serviceDegraded, partition, apiServerDown or stockout";
        match kinds.len() {
            0 => Err(format!("a fault with nothing that breaks: {EXPECTED}")),
            1 => Ok(Fault {
                name: d.name,
                at: d.at,
                duration: d.duration,
                description: d.description,
                kind: kinds.remove(0).1,
            }),
            _ => {
                let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "one fault is one kind, this one has {}: {EXPECTED} (write one fault each)",
                    names.join(" and ")
                ))
            }
        }
    }
}

/// Down for `down`, up for `up`, repeatedly.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flapping {
    /// How long each up phase lasts.
    pub up: Duration,
    /// How long each down phase lasts.
    pub down: Duration,
}

/// The nodes on the far side of a partition: by zone, by name and/or by label selector
/// (the union of the three), of which `fraction` is cut off when set.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PartitionSpec {
    /// Every node of these zones.
    #[serde(default)]
    pub zones: Vec<String>,
    /// These nodes.
    #[serde(default)]
    pub nodes: Vec<String>,
    /// Nodes by their labels (`matchLabels`), as they are when the fault starts.
    #[serde(default)]
    pub selector: Option<NodeSelector>,
    /// The share of those nodes cut off, between 0 and 1 (all of them when absent), chosen
    /// with the run's seed: `ceil(fraction x nodes)` of them.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Only the nodes' pods lose the network (a CNI or a security-group fault): the kubelets
    /// keep posting status, so the nodes stay Ready and nothing is evicted, while callers
    /// and gossip agents lose the pods on them.
    #[serde(default)]
    pub pods_only: bool,
}

/// Nodes picked by their labels, as a Service picks pods: every `matchLabels` pair must be
/// on the node. An empty selector picks every node.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelector {
    /// Label pairs every picked node carries.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

impl std::fmt::Display for NodeSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.match_labels.is_empty() {
            return f.write_str("every node");
        }
        let pairs: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(f, "nodes {}", pairs.join(","))
    }
}

/// "60% of " before a selection's description, nothing without a fraction.
pub fn fraction_text(fraction: Option<f64>) -> String {
    fraction.map_or(String::new(), |x| format!("{}% of ", x * 100.0))
}

impl std::fmt::Display for NodeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeTarget::Name(n) => f.write_str(n),
            NodeTarget::Selected(s) => write!(f, "{}{}", fraction_text(s.fraction), s.selector),
        }
    }
}

impl NodeSelector {
    pub fn matches(&self, labels: &cascade_model::Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// The nodes a `nodeDown` fault takes down: one by name, or a share of those a selector
/// picks.
#[derive(Debug, Clone)]
pub enum NodeTarget {
    Name(String),
    Selected(NodeSelection),
}

/// `{selector: {matchLabels: ...}, fraction: F}`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeSelection {
    /// The nodes to choose from.
    pub selector: NodeSelector,
    /// The share of the selected nodes, between 0 and 1 (all of them when absent), chosen
    /// with the run's seed: `ceil(fraction x nodes)` of them.
    #[serde(default)]
    pub fraction: Option<f64>,
}

impl schemars::JsonSchema for NodeTarget {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "NodeTarget".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let selection = g.subschema_for::<NodeSelection>();
        schemars::json_schema!({
            "description": "A node's name, or {selector: {matchLabels: ...}, fraction: F}.",
            "anyOf": [{ "type": "string" }, selection]
        })
    }
}

impl<'de> Deserialize<'de> for NodeTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NodeTarget, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NodeTarget;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a node's name, or {selector: {matchLabels: ...}, fraction: F}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeTarget, E> {
                Ok(NodeTarget::Name(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<NodeTarget, A::Error> {
                NodeSelection::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(NodeTarget::Selected)
            }
        }
        d.deserialize_any(V)
    }
}

/// A fault by its `name` or by its index in `spec.faults`.
#[derive(Debug, Clone)]
pub enum FaultRef {
    Index(usize),
    Name(String),
}

impl schemars::JsonSchema for FaultRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FaultRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A fault's name, or its index in spec.faults.",
            "anyOf": [{ "type": "string" }, { "type": "integer", "minimum": 0 }]
        })
    }
}

impl<'de> Deserialize<'de> for FaultRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FaultRef, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FaultRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a fault's name or its index in spec.faults")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FaultRef, E> {
                Ok(FaultRef::Name(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FaultRef, E> {
                usize::try_from(v)
                    .map(FaultRef::Index)
                    .map_err(|_| E::custom("index too large"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FaultRef, E> {
                usize::try_from(v)
                    .map(FaultRef::Index)
                    .map_err(|_| E::custom(format!("index {v}: expected 0 or more")))
            }
        }
        d.deserialize_any(V)
    }
}
