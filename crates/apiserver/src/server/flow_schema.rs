//! The bootstrap FlowSchemas: which priority level a request goes to and how its FlowSchema
//! splits requests into flows (`distinguisherMethod`). Owns [`LevelId`] (a
//! PriorityLevelConfiguration by its place in [`BOOTSTRAP_PRIORITY_LEVELS`]),
//! [`FlowSchema`] and the v1.33 table; no state. docs/control-plane-and-nodes.md, "API
//! Priority and Fairness".

use crate::apf::BOOTSTRAP_PRIORITY_LEVELS;

/// A priority level, by its index in [`BOOTSTRAP_PRIORITY_LEVELS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LevelId(pub u8);

impl LevelId {
    pub const EXEMPT: LevelId = LevelId(0);
    pub const CATCH_ALL: LevelId = LevelId(1);
    pub const SYSTEM: LevelId = LevelId(2);
    pub const NODE_HIGH: LevelId = LevelId(3);
    pub const LEADER_ELECTION: LevelId = LevelId(4);
    pub const WORKLOAD_HIGH: LevelId = LevelId(5);
    pub const WORKLOAD_LOW: LevelId = LevelId(6);
    pub const GLOBAL_DEFAULT: LevelId = LevelId(7);

    pub fn name(self) -> &'static str {
        BOOTSTRAP_PRIORITY_LEVELS
            .get(usize::from(self.0))
            .map_or("?", |l| l.name)
    }
}

/// How a FlowSchema splits its requests into flows (`distinguisherMethod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distinguisher {
    /// One flow for the whole schema.
    None,
    ByUser,
    ByNamespace,
}

/// A bootstrap FlowSchema: its name, `matchingPrecedence`, level and distinguisher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSchema {
    pub name: &'static str,
    pub matching_precedence: u32,
    pub level: LevelId,
    pub distinguisher: Distinguisher,
}

const fn fs(
    name: &'static str,
    matching_precedence: u32,
    level: LevelId,
    distinguisher: Distinguisher,
) -> FlowSchema {
    FlowSchema {
        name,
        matching_precedence,
        level,
        distinguisher,
    }
}

/// The bootstrap FlowSchemas of Kubernetes v1.33 (apiserver v0.33,
/// `pkg/apis/flowcontrol/bootstrap/default.go`), by matching precedence. `endpoint-controller`
/// and `workload-leader-election` are gone in v1.34.
pub const BOOTSTRAP_FLOW_SCHEMAS: [FlowSchema; 13] = [
    fs("exempt", 1, LevelId::EXEMPT, Distinguisher::None),
    fs("probes", 2, LevelId::EXEMPT, Distinguisher::None),
    fs(
        "system-leader-election",
        100,
        LevelId::LEADER_ELECTION,
        Distinguisher::ByUser,
    ),
    fs(
        "endpoint-controller",
        150,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByUser,
    ),
    fs(
        "workload-leader-election",
        200,
        LevelId::LEADER_ELECTION,
        Distinguisher::ByUser,
    ),
    fs(
        "system-node-high",
        400,
        LevelId::NODE_HIGH,
        Distinguisher::ByUser,
    ),
    fs("system-nodes", 500, LevelId::SYSTEM, Distinguisher::ByUser),
    fs(
        "kube-controller-manager",
        800,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    fs(
        "kube-scheduler",
        800,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    fs(
        "kube-system-service-accounts",
        900,
        LevelId::WORKLOAD_HIGH,
        Distinguisher::ByNamespace,
    ),
    fs(
        "service-accounts",
        9000,
        LevelId::WORKLOAD_LOW,
        Distinguisher::ByUser,
    ),
    fs(
        "global-default",
        9900,
        LevelId::GLOBAL_DEFAULT,
        Distinguisher::ByUser,
    ),
    fs(
        "catch-all",
        10000,
        LevelId::CATCH_ALL,
        Distinguisher::ByUser,
    ),
];

/// The bootstrap FlowSchema named `name`.
pub fn flow_schema(name: &str) -> Option<&'static FlowSchema> {
    BOOTSTRAP_FLOW_SCHEMAS.iter().find(|f| f.name == name)
}
