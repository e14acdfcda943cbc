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
    /// Saturating: absurd manifests (two containers of 4Ei) must not overflow; real amounts
    /// are far from the limit, so sums are exact.
    fn add(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_add(o.milli_cpu),
            memory: self.memory.saturating_add(o.memory),
            ephemeral_storage: self.ephemeral_storage.saturating_add(o.ephemeral_storage),
            pods: self.pods.saturating_add(o.pods),
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
    /// Saturating, like [`Add`].
    fn sub(self, o: Resources) -> Resources {
        Resources {
            milli_cpu: self.milli_cpu.saturating_sub(o.milli_cpu),
            memory: self.memory.saturating_sub(o.memory),
            ephemeral_storage: self.ephemeral_storage.saturating_sub(o.ephemeral_storage),
            pods: self.pods.saturating_sub(o.pods),
        }
    }
}

impl SubAssign for Resources {
    fn sub_assign(&mut self, o: Resources) {
        *self = *self - o;
    }
}

/// Whether kube-scheduler accounts a resource name in its `ScalarResources`
/// (scheduler util `IsScalarResourceName`, v1.33): extended resources (a domain-qualified name
/// outside `kubernetes.io`, such as `nvidia.com/gpu`), `hugepages-<size>`,
/// `attachable-volumes-*`, and other `kubernetes.io/`-prefixed names. `cpu`, `memory`,
/// `ephemeral-storage` and `pods` are not scalar: they live in [`Resources`].
/// See docs/kubernetes.md#extended-resources.
pub fn is_scalar_resource_name(name: &str) -> bool {
    is_extended_resource_name(name)
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || name.contains("kubernetes.io/")
}

/// An extended resource (v1helper `IsExtendedResourceName`): it has a domain (a `/`), the
/// domain is not `kubernetes.io`, and it is not a quota name (`requests.*`). Extended
/// resources are counted in whole units and cannot be overcommitted.
pub fn is_extended_resource_name(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// Amounts of scalar resources (extended resources, hugepages, ...), by name, in name order,
/// without zero entries. Separate from [`Resources`] so that the common case (no scalar
/// resources) stays a `Copy` value and costs nothing: an empty list does not allocate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct ScalarResources(Vec<(String, i64)>);

impl ScalarResources {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The amount of `name` (0 when absent).
    pub fn get(&self, name: &str) -> i64 {
        self.find(name).map_or(0, |i| self.0[i].1)
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// Sets the amount of `name` (removing it when 0).
    pub fn set(&mut self, name: &str, v: i64) {
        match self.find(name) {
            Ok(i) if v == 0 => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = v,
            Err(_) if v == 0 => {}
            Err(i) => self.0.insert(i, (name.to_string(), v)),
        }
    }

    /// Adds `v` to the amount of `name`.
    pub fn add(&mut self, name: &str, v: i64) {
        self.set(name, self.get(name).saturating_add(v));
    }

    /// `(name, amount)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// The entry at `index` in name order.
    pub fn entry(&self, index: usize) -> (&str, i64) {
        let (n, v) = &self.0[index];
        (n.as_str(), *v)
    }

    /// Adds every amount of `o`.
    pub fn add_all(&mut self, o: &ScalarResources) {
        for (n, v) in o.iter() {
            self.add(n, v);
        }
    }

    /// Subtracts every amount of `o`.
    pub fn sub_all(&mut self, o: &ScalarResources) {
        for (n, v) in o.iter() {
            self.set(n, self.get(n).saturating_sub(v));
        }
    }

    /// Element-wise maximum (init containers against the app containers).
    pub fn max_with(&mut self, o: &ScalarResources) {
        for (n, v) in o.iter() {
            if v > self.get(n) {
                self.set(n, v);
            }
        }
    }

    /// True when every amount in `self` is at most the one in `cap`.
    pub fn fits_in(&self, cap: &ScalarResources) -> bool {
        self.iter().all(|(n, v)| v <= cap.get(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_names_follow_the_scheduler() {
        for n in [
            "nvidia.com/gpu",
            "example.com/foo",
            "hugepages-2Mi",
            "attachable-volumes-aws-ebs",
            "kubernetes.io/batch-cpu",
        ] {
            assert!(is_scalar_resource_name(n), "{n}");
        }
        for n in ["cpu", "memory", "ephemeral-storage", "pods", "gpu"] {
            assert!(!is_scalar_resource_name(n), "{n}");
        }
        assert!(!is_extended_resource_name("hugepages-1Gi"));
        assert!(!is_extended_resource_name("requests.nvidia.com/gpu"));
    }

    #[test]
    fn scalar_sums_drop_zero_entries_and_stay_sorted() {
        let mut a = ScalarResources::new();
        a.add("nvidia.com/gpu", 2);
        a.add("example.com/foo", 1);
        assert_eq!(a.entry(0), ("example.com/foo", 1));
        let mut b = a.clone();
        b.sub_all(&a);
        assert!(b.is_empty());
        assert!(a.fits_in(&a));
        let mut small = a.clone();
        small.set("nvidia.com/gpu", 1);
        assert!(!a.fits_in(&small));
    }
}
