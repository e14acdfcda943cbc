// Tests index small fixtures: truncating casts cannot occur there.
#![allow(clippy::cast_possible_truncation)]
use super::*;
use proptest::prelude::*;

fn load(text: &str) -> Manifests {
    let mut m = Manifests::new();
    m.load_str("test.yaml", text.to_string());
    m
}

fn errors(text: &str) -> Vec<String> {
    let mut m = load(text);
    let _ = m.admit_pods();
    match m.finish() {
        Ok(()) => vec![],
        Err(e) => e.0.iter().map(|d| d.to_string()).collect(),
    }
}

const NODE_AND_LIST: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: n1
  labels: {topology.kubernetes.io/zone: a}
spec:
  taints:
  - {key: dedicated, value: ingest, effect: NoSchedule}
status:
  allocatable: {cpu: 16, memory: 64Gi, pods: "110"}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: prod}
  spec:
    nodeName: n1
    priority: 0
    containers:
    - name: c
      image: x
      resources: {requests: {cpu: 1.5, memory: 1Gi}}
    initContainers:
    - name: init
      image: x
      resources: {requests: {cpu: "4"}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: ignored}
"#;

/// A diagnostic prints the position it has, and none it lacks (line 0): `file: error: ...`
/// for an unreadable file or a refusal of the whole input, never `file:0:0:`.
#[test]
fn a_diagnostic_prints_only_the_position_it_has() {
    let d = |line, column| Diagnostic {
        severity: Severity::Error,
        file: "a.yaml".into(),
        line,
        column,
        message: "m".into(),
        skipped_kind: None,
    };
    assert_eq!(d(3, 7).to_string(), "a.yaml:3:7: error: m");
    assert_eq!(d(3, 0).to_string(), "a.yaml:3: error: m");
    assert_eq!(d(0, 0).to_string(), "a.yaml: error: m");
    let mut m = Manifests::new();
    m.load_file(std::path::Path::new("no/such.yaml"));
    let e = m.finish().unwrap_err().to_string();
    assert!(
        e.starts_with("no/such.yaml: error: cannot read file: "),
        "{e}"
    );
}

/// The warning of a document of a kind cascade does not model carries the kind as a field,
/// set where the loader skips it; no other warning does, whatever its words.
#[test]
fn a_skipped_kind_is_a_field_of_its_warning() {
    let mut m = load(NODE_AND_LIST);
    m.admit_pods();
    m.finish().unwrap();
    let w = &m.warnings[0];
    assert_eq!(
        w.skipped_kind,
        Some(SkippedKind {
            api_version: "v1".into(),
            kind: "ConfigMap".into()
        })
    );
    assert_eq!(w.skipped_kind.as_ref().unwrap().to_string(), "v1 ConfigMap");
    assert!(w.message.ends_with(crate::UNMODELLED_KIND), "{w}");
    // A Node skipped for want of allocatable is another warning: no kind.
    let mut m = load("apiVersion: v1\nkind: Node\nmetadata: {name: n3}\n");
    m.finish().unwrap();
    assert!(m.warnings[0].message.starts_with("skipping Node n3"));
    assert_eq!(m.warnings[0].skipped_kind, None);
}

#[test]
fn reads_nodes_lists_and_numeric_quantities() {
    let mut m = load(NODE_AND_LIST);
    let pods = m.admit_pods();
    m.finish().unwrap();
    assert_eq!(m.nodes.len(), 1);
    let n = &m.nodes[0].object;
    assert_eq!(n.allocatable.milli_cpu, 16_000);
    assert_eq!(n.allocatable.memory, 64 << 30);
    assert_eq!(n.allocatable.pods, 110);
    assert_eq!(n.taints[0].key, "dedicated");
    assert_eq!(pods.len(), 1);
    // The init container (4 CPU) runs alone before the app (1.5 CPU): the pod needs the max.
    assert_eq!(pods[0].requests.milli_cpu, 4000);
    assert_eq!(pods[0].requests.memory, 1 << 30);
    assert_eq!(pods[0].node_name.as_deref(), Some("n1"));
    assert_eq!(m.warnings.len(), 1);
    assert!(
        m.warnings[0].to_string().contains("skipping v1 ConfigMap"),
        "{}",
        m.warnings[0]
    );
    assert_eq!(m.warnings[0].line, 30);
}

#[test]
fn bad_quantity_names_file_line_column_and_what_was_expected() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources:\n      requests:\n        memory: 15GB\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "test.yaml:9:17: error: invalid quantity \"15GB\": expected a quantity such as"
        ),
        "{}",
        e[0]
    );
}

#[test]
fn type_errors_and_missing_fields_are_located() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  priority: high\n  containers: [{name: c}]\n";
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with(
            "test.yaml:5:13: error: invalid type: string \"high\", expected i32 at spec.priority"
        ),
        "{}",
        e[0]
    );

    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  nodeName: x\n";
    let e = errors(text);
    assert!(
        e[0].starts_with("test.yaml:5:3: error: expected spec.containers"),
        "{}",
        e[0]
    );

    let text = "apiVersion: v1\nkind: Node\nmetadata: {}\n";
    let e = errors(text);
    assert!(e[0].contains("expected metadata.name"), "{}", e[0]);
}

#[test]
fn yaml_syntax_error_is_located() {
    let e = errors("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("test.yaml:5:1: error: invalid YAML"),
        "{}",
        e[0]
    );
}

#[test]
fn unknown_priority_class_is_rejected_like_the_api_server() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  priorityClassName: gold\n  containers: [{name: c}]\n";
    let e = errors(text);
    assert_eq!(
        e,
        vec!["test.yaml:5:22: error: pod default/p: no PriorityClass with name gold was found"]
    );
}

#[test]
fn global_default_resolves_for_pods_without_priority() {
    let text = r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: medium}
value: 2000
globalDefault: true
---
apiVersion: v1
kind: Pod
metadata: {name: new}
spec:
  containers: [{name: c}]
---
apiVersion: v1
kind: Pod
metadata: {name: old}
spec:
  priority: 0
  containers: [{name: c}]
"#;
    let mut m = load(text);
    let pods = m.admit_pods();
    m.finish().unwrap();
    assert_eq!(pods[0].priority, 2000);
    assert_eq!(pods[1].priority, 0);
    // Scoring uses kube-scheduler's non-zero defaults for containers without requests.
    assert_eq!(pods[0].requests.milli_cpu, 0);
    assert_eq!(pods[0].nonzero_requests.milli_cpu, 100);
    assert_eq!(pods[0].nonzero_requests.memory, 200 << 20);
}

#[test]
fn second_global_default_and_duplicates_are_errors() {
    let text = r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: a}
value: 1
globalDefault: true
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: b}
value: 2
globalDefault: true
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: a}
value: 3
"#;
    let e = errors(text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("PriorityClass a is already marked as default"),
        "{}",
        e[0]
    );
    assert!(
        e[1].contains("duplicate PriorityClass a: already defined at test.yaml:2:1"),
        "{}",
        e[1]
    );
}

#[test]
fn wrong_api_version_is_an_error() {
    let e = errors("apiVersion: v1\nkind: Deployment\nmetadata: {name: d}\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("apps/v1"), "{}", e[0]);
}

#[test]
fn workloads_are_read_with_defaults() {
    let text = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: ingester, namespace: cortex}
spec:
  replicas: 3
  podManagementPolicy: Parallel
  selector: {matchLabels: {name: ingester}}
  template:
    metadata: {labels: {name: ingester}}
    spec:
      priorityClassName: high
      containers:
      - name: ingester
        resources: {requests: {cpu: "4", memory: 15Gi}, limits: {memory: 25Gi}}
"#;
    let mut m = load(text);
    m.finish().unwrap();
    let w = &m.workloads[0].object;
    assert_eq!(w.replicas, 3);
    assert_eq!(
        w.pod_management_policy,
        cascade_model::PodManagementPolicy::Parallel
    );
    assert_eq!(w.template.pod.requests.milli_cpu, 4000);
    assert_eq!(w.template.pod.memory_limit, 25 << 30);
    assert_eq!(w.template.pod.priority_class_name.as_deref(), Some("high"));
}

#[test]
fn selector_must_match_template() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: c}}\n    spec: {containers: [{name: c}]}\n";
    let e = errors(text);
    assert!(
        e[0].starts_with("test.yaml:5:13: error: expected a non-empty selector"),
        "{}",
        e[0]
    );
}

proptest! {
    // 256 cases in the suite; `PROPTEST_CASES=5000` (or more) for a longer hunt
    // (docs/testing.md). `with_cases` alone would ignore the variable.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]
    /// Whatever the bytes, loading answers with objects or diagnostics, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let mut m = load(&text);
        let _ = m.admit_pods();
        let _ = m.finish();
    }

    /// Mutating a valid manifest one character at a time never panics either, and every error
    /// carries a position inside the file.
    #[test]
    fn mutated_manifests_never_panic(pos in 0usize..NODE_AND_LIST.len(), c in proptest::char::any()) {
        let mut text: Vec<char> = NODE_AND_LIST.chars().collect();
        let pos = pos.min(text.len() - 1);
        text[pos] = c;
        let text: String = text.into_iter().collect();
        // YAML breaks lines at \n, \r\n and a lone \r (count both bytes for an upper bound),
        // and libyaml, a YAML 1.1 reader, also at NEL, LS and PS (docs/kubernetes.md#yaml-line-breaks).
        let lines = text
            .matches(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
            .count()
            + 1;
        let mut m = load(&text);
        let _ = m.admit_pods();
        if let Err(e) = m.finish() {
            for d in e.0 {
                prop_assert!(d.line >= 1 && d.line <= lines, "{}", d);
            }
        }
    }
}

#[test]
fn a_node_without_allocatable_is_skipped_with_a_warning() {
    let text = "apiVersion: v1\nkind: Node\nmetadata: {name: n3}\nspec: {}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n4}\nstatus: {conditions: []}\n";
    let mut m = load(text);
    m.finish().unwrap();
    assert!(m.nodes.is_empty());
    assert_eq!(m.warnings.len(), 2);
    assert!(
        m.warnings[0]
            .to_string()
            .starts_with("test.yaml:1:1: warning: skipping Node n3: it has no status.allocatable"),
        "{}",
        m.warnings[0]
    );
}

#[test]
fn removed_beta_versions_are_read_with_their_own_defaults_and_a_warning() {
    let text = r#"
apiVersion: scheduling.k8s.io/v1beta1
kind: PriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c}]}
---
apiVersion: extensions/v1beta1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c}]}
---
apiVersion: apps/v1beta1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c}]}
---
apiVersion: apps/v1beta2
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: c}]}
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: all}
spec: {minAvailable: 1, selector: {}}
"#;
    let mut m = load(text);
    m.finish().unwrap();
    assert_eq!(m.priority_classes[0].object.value, 1000);
    let w = |name: &str| {
        &m.workloads
            .iter()
            .find(|w| w.object.name == name)
            .unwrap()
            .object
    };
    // extensions/v1beta1: selector from the template, RollingUpdate 1/1 (not apps/v1's 25%).
    let web = w("web");
    assert!(web.selector.matches(&web.template.pod.labels));
    assert_eq!(web.max_surge, cascade_model::IntOrPercent::Int(1));
    assert_eq!(web.max_unavailable, cascade_model::IntOrPercent::Int(1));
    assert_eq!(
        w("agent").update_strategy,
        cascade_model::UpdateStrategy::OnDelete
    );
    assert_eq!(
        w("db").update_strategy,
        cascade_model::UpdateStrategy::OnDelete
    );
    // apps/v1beta2 kept apps/v1's defaults.
    assert_eq!(w("api").max_surge, cascade_model::IntOrPercent::Percent(25));
    // An empty v1beta1 selector protected nothing: no budget that covers every pod.
    assert!(m.pdbs.is_empty());
    let warnings: Vec<String> = m.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 6, "{warnings:#?}");
    assert!(warnings[0].contains("reading scheduling.k8s.io/v1beta1 PriorityClass as scheduling.k8s.io/v1: scheduling.k8s.io/v1beta1 was removed in Kubernetes 1.22"), "{}", warnings[0]);
    assert!(
        warnings[1].contains(
            "with its defaults (selector: the template's labels, maxUnavailable: 1, maxSurge: 1)"
        ),
        "{}",
        warnings[1]
    );
    assert!(
        warnings[5].contains("skipping policy/v1beta1 PodDisruptionBudget"),
        "{}",
        warnings[5]
    );
}

#[test]
fn qos_class_is_computed_as_get_pod_qos_does() {
    let pod = |resources: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    resources: {resources}\n")
    };
    let class = |resources: &str| {
        let mut m = load(&pod(resources));
        m.finish().unwrap();
        m.pods[0].object.pod.qos_class
    };
    use cascade_model::QosClass::*;
    assert_eq!(class("{}"), BestEffort);
    assert_eq!(class("{limits: {cpu: 500m, memory: 1Gi}}"), Guaranteed);
    assert_eq!(
        class("{requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 500m, memory: 1Gi}}"),
        Guaranteed
    );
    assert_eq!(class("{requests: {memory: 1Gi}}"), Burstable);
    assert_eq!(
        class("{requests: {memory: 1Gi}, limits: {memory: 2Gi}}"),
        Burstable
    );
}
