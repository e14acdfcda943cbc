//! Resource amounts as kube-scheduler accounts them: CPU in millicores, memory and
//! ephemeral storage in bytes, and the pod count (allocatable `pods`).

use serde::Serialize;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// The resources kube-scheduler's NodeResourcesFit plugin checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceName {
    Cpu,
    Memory,
    EphemeralStorage,
    Pods,
}

impl ResourceName {
    pub const ALL: [ResourceName; 4] = [
        ResourceName::Cpu,
        ResourceName::Memory,
        ResourceName::EphemeralStorage,
        ResourceName::Pods,
    ];

    /// The name as Kubernetes spells it (`cpu`, `memory`, `ephemeral-storage`, `pods`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Cpu => "cpu",
            ResourceName::Memory => "memory",
            ResourceName::EphemeralStorage => "ephemeral-storage",
            ResourceName::Pods => "pods",
        }
    }
}

/// An amount of each resource. Used both for a node's allocatable and for a pod's requests
/// (where `pods` is 1: every pod takes one of the node's pod slots).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
}

impl Resources {
    pub const ZERO: Resources = Resources {
        milli_cpu: 0,
        memory: 0,
        ephemeral_storage: 0,
        pods: 0,
    };

    pub fn new(milli_cpu: i64, memory: i64) -> Self {
        Resources {
            milli_cpu,
            memory,
            ephemeral_storage: 0,
            pods: 0,
        }
    }

    pub fn get(&self, r: ResourceName) -> i64 {
        match r {
            ResourceName::Cpu => self.milli_cpu,
            ResourceName::Memory => self.memory,
            ResourceName::EphemeralStorage => self.ephemeral_storage,
            ResourceName::Pods => self.pods,
        }
    }

    pub fn set(&mut self, r: ResourceName, v: i64) {
        match r {
            ResourceName::Cpu => self.milli_cpu = v,
            ResourceName::Memory => self.memory = v,
            ResourceName::EphemeralStorage => self.ephemeral_storage = v,
            ResourceName::Pods => self.pods = v,
        }
    }

    /// Element-wise maximum, as pod requests take the max of init containers and app containers.
    pub fn max(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.max(o.milli_cpu),
            memory: self.memory.max(o.memory),
            ephemeral_storage: self.ephemeral_storage.max(o.ephemeral_storage),
            pods: self.pods.max(o.pods),
        }
    }

    /// True when every amount in `self` is at most the one in `cap`.
    pub fn fits_in(&self, cap: &Resources) -> bool {
        self.milli_cpu <= cap.milli_cpu
            && self.memory <= cap.memory
            && self.ephemeral_storage <= cap.ephemeral_storage
            && self.pods <= cap.pods
    }
}

impl Add for Resources {
    type Output = Resources;
    fn add(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu + o.milli_cpu,
            memory: self.memory + o.memory,
            ephemeral_storage: self.ephemeral_storage + o.ephemeral_storage,
            pods: self.pods + o.pods,
        }
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, o: Resources) {
        *self = *self + o;
    }
}

impl Sub for Resources {
    type Output = Resources;
    fn sub(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu - o.milli_cpu,
            memory: self.memory - o.memory,
            ephemeral_storage: self.ephemeral_storage - o.ephemeral_storage,
            pods: self.pods - o.pods,
        }
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, o: Resources) {
        *self = *self - o;
    }
}
