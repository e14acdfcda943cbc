//! Label selectors (metav1.LabelSelector) and node selectors (core/v1 NodeSelector), with the
//! matching rules of k8s.io/apimachinery/pkg/labels and component-helpers/scheduling/corev1.

use std::collections::BTreeMap;

/// Object labels.
pub type Labels = BTreeMap<String, String>;

/// One requirement of a selector expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// Node selectors only: the label's value parsed as an integer is greater than the bound.
    Gt(String, i64),
    /// Node selectors only: the label's value parsed as an integer is less than the bound.
    Lt(String, i64),
}

impl Requirement {
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            // NotIn and DoesNotExist match objects that lack the label.
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
            Requirement::Gt(k, b) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *b),
            Requirement::Lt(k, b) => labels
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *b),
        }
    }
}

/// A metav1.LabelSelector: `matchLabels` and `matchExpressions`, all of which must match.
/// An empty selector matches everything (as for a PDB's selector in policy/v1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// One NodeSelectorTerm: all its label expressions and field expressions must match.
/// A term with no expressions matches no node (component-helpers' NodeSelectorTerm semantics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<Requirement>,
    /// `matchFields`: only `metadata.name` is supported by Kubernetes; stored as requirements on
    /// the pseudo-label `metadata.name`.
    pub match_fields: Vec<Requirement>,
}

impl NodeSelectorTerm {
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        if !self.match_expressions.iter().all(|r| r.matches(labels)) {
            return false;
        }
        if self.match_fields.is_empty() {
            return true;
        }
        let mut fields = Labels::new();
        fields.insert("metadata.name".to_string(), node_name.to_string());
        self.match_fields.iter().all(|r| r.matches(&fields))
    }
}

/// requiredDuringSchedulingIgnoredDuringExecution: the terms are ORed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelector {
    pub terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        self.terms.iter().any(|t| t.matches(node_name, labels))
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> Labels {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn not_in_matches_missing_label_but_in_does_not() {
        let l = labels(&[("zone", "a")]);
        assert!(Requirement::NotIn("tier".into(), vec!["x".into()]).matches(&l));
        assert!(!Requirement::In("tier".into(), vec!["x".into()]).matches(&l));
        assert!(!Requirement::NotIn("zone".into(), vec!["a".into()]).matches(&l));
    }

    #[test]
    fn gt_lt_parse_integers_and_reject_others() {
        let l = labels(&[("cores", "16"), ("name", "big")]);
        assert!(Requirement::Gt("cores".into(), 8).matches(&l));
        assert!(!Requirement::Lt("cores".into(), 8).matches(&l));
        assert!(!Requirement::Gt("name".into(), 0).matches(&l));
    }

    #[test]
    fn empty_term_matches_nothing_and_terms_are_ored() {
        let l = labels(&[("zone", "a")]);
        let empty = NodeSelector {
            terms: vec![NodeSelectorTerm::default()],
        };
        assert!(!empty.matches("n1", &l));
        let sel = NodeSelector {
            terms: vec![
                NodeSelectorTerm {
                    match_expressions: vec![Requirement::In("zone".into(), vec!["b".into()])],
                    match_fields: vec![],
                },
                NodeSelectorTerm {
                    match_expressions: vec![],
                    match_fields: vec![Requirement::In("metadata.name".into(), vec!["n1".into()])],
                },
            ],
        };
        assert!(sel.matches("n1", &l));
        assert!(!sel.matches("n2", &l));
    }
}

/// Which pods a behaviour or a counter applies to.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodSelector {
    /// Only pods of this namespace (any namespace when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Only pods with all these labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl PodSelector {
    /// Whether the selector picks a pod with this namespace and these labels.
    pub fn matches_meta(&self, namespace: &str, labels: &Labels) -> bool {
        self.namespace.as_ref().is_none_or(|n| n == namespace)
            && self
                .match_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
    }

    pub fn matches(&self, pod: &crate::Pod) -> bool {
        self.namespace.as_ref().is_none_or(|n| *n == pod.namespace)
            && self
                .match_labels
                .iter()
                .all(|(k, v)| pod.labels.get(k) == Some(v))
    }
}
