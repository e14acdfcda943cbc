//! Priority resolution as the API server's Priority admission plugin does it
//! (plugin/pkg/admission/priority, Kubernetes v1.33).
//!
//! A pod's priority is fixed when the pod is *created*: a PriorityClass marked `globalDefault`
//! later does not change pods that already exist. This is the mechanism behind the Grafana Labs
//! outage of July 2019 (docs/postmortems.md#grafana-labs-2019): production ingesters created
//! before the classes kept priority 0 while every pod created afterwards got `medium` (2000).

use crate::objects::{PreemptionPolicy, PriorityClass};
use std::collections::BTreeMap;
use std::fmt;

/// scheduling.k8s.io: the built-in classes every cluster has.
pub const SYSTEM_CLUSTER_CRITICAL: i32 = 2_000_000_000;
pub const SYSTEM_NODE_CRITICAL: i32 = 2_000_001_000;
/// User-defined classes may not exceed this value (HighestUserDefinablePriority).
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;

/// Why admission rejected a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdmissionError {
    /// The pod names a class that does not exist. The API server's wording.
    UnknownPriorityClass(String),
}

impl fmt::Display for AdmissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmissionError::UnknownPriorityClass(name) => {
                write!(f, "no PriorityClass with name {name} was found")
            }
        }
    }
}

impl std::error::Error for AdmissionError {}

/// The PriorityClasses that exist at some moment, with the two system classes built in.
#[derive(Clone, Debug)]
pub struct PriorityClasses {
    classes: BTreeMap<String, PriorityClass>,
}

impl Default for PriorityClasses {
    fn default() -> Self {
        let mut classes = BTreeMap::new();
        for (name, value) in [
            ("system-cluster-critical", SYSTEM_CLUSTER_CRITICAL),
            ("system-node-critical", SYSTEM_NODE_CRITICAL),
        ] {
            classes.insert(
                name.to_string(),
                PriorityClass {
                    name: name.to_string(),
                    value,
                    global_default: false,
                    preemption_policy: PreemptionPolicy::PreemptLowerPriority,
                },
            );
        }
        PriorityClasses { classes }
    }
}

impl PriorityClasses {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a class (an apply).
    pub fn apply(&mut self, class: PriorityClass) {
        self.classes.insert(class.name.clone(), class);
    }

    pub fn delete(&mut self, name: &str) -> Option<PriorityClass> {
        self.classes.remove(name)
    }

    pub fn get(&self, name: &str) -> Option<&PriorityClass> {
        self.classes.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PriorityClass> {
        self.classes.values()
    }

    /// The globalDefault class. The API server's validation allows only one, but when a
    /// snapshot holds several, the admission plugin takes the one with the lowest value
    /// (getDefaultPriorityClass).
    pub fn global_default(&self) -> Option<&PriorityClass> {
        self.classes
            .values()
            .filter(|c| c.global_default)
            .min_by_key(|c| c.value)
    }

    /// Resolves a new pod's priority and preemption policy at creation time.
    ///
    /// - `spec_priority`: an already-set `spec.priority` (a snapshot's existing pods carry one);
    ///   it is kept as it is, since admission ran when that pod was created.
    /// - `class_name`: `spec.priorityClassName`; an unknown name is rejected.
    /// - otherwise the globalDefault class at this moment, else 0.
    ///
    /// The preemption policy is the pod's own if set, else the class's, else
    /// PreemptLowerPriority.
    pub fn resolve(
        &self,
        spec_priority: Option<i32>,
        class_name: Option<&str>,
        spec_policy: Option<PreemptionPolicy>,
    ) -> Result<(i32, PreemptionPolicy), AdmissionError> {
        let class = match class_name {
            Some(name) if !name.is_empty() => Some(
                self.get(name)
                    .ok_or_else(|| AdmissionError::UnknownPriorityClass(name.to_string()))?,
            ),
            _ => self.global_default(),
        };
        let priority = spec_priority.unwrap_or_else(|| class.map_or(0, |c| c.value));
        let policy = spec_policy
            .or_else(|| class.map(|c| c.preemption_policy))
            .unwrap_or_default();
        Ok((priority, policy))
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn class(name: &str, value: i32, global_default: bool) -> PriorityClass {
        PriorityClass {
            name: name.into(),
            value,
            global_default,
            preemption_policy: PreemptionPolicy::PreemptLowerPriority,
        }
    }

    #[test]
    fn global_default_applies_only_from_its_creation_on() {
        let mut classes = PriorityClasses::new();
        // A pod created before any class exists gets 0 ...
        let (before, _) = classes.resolve(None, None, None).unwrap();
        assert_eq!(before, 0);
        // ... and keeps it: it now carries spec.priority = 0.
        classes.apply(class("medium", 2000, true));
        classes.apply(class("high", 3000, false));
        assert_eq!(classes.resolve(Some(before), None, None).unwrap().0, 0);
        // A pod created afterwards without a class gets the default.
        assert_eq!(classes.resolve(None, None, None).unwrap().0, 2000);
        assert_eq!(classes.resolve(None, Some("high"), None).unwrap().0, 3000);
    }

    #[test]
    fn unknown_class_is_rejected_with_the_api_servers_words() {
        let classes = PriorityClasses::new();
        let err = classes.resolve(None, Some("gold"), None).unwrap_err();
        assert_eq!(err.to_string(), "no PriorityClass with name gold was found");
        assert_eq!(
            classes
                .resolve(None, Some("system-node-critical"), None)
                .unwrap()
                .0,
            SYSTEM_NODE_CRITICAL
        );
    }

    #[test]
    fn preemption_policy_comes_from_pod_then_class() {
        let mut classes = PriorityClasses::new();
        classes.apply(PriorityClass {
            preemption_policy: PreemptionPolicy::Never,
            ..class("batch", 10, false)
        });
        assert_eq!(
            classes.resolve(None, Some("batch"), None).unwrap().1,
            PreemptionPolicy::Never
        );
        assert_eq!(
            classes
                .resolve(
                    None,
                    Some("batch"),
                    Some(PreemptionPolicy::PreemptLowerPriority)
                )
                .unwrap()
                .1,
            PreemptionPolicy::PreemptLowerPriority
        );
        assert_eq!(
            classes.resolve(None, None, None).unwrap().1,
            PreemptionPolicy::PreemptLowerPriority
        );
    }
}
