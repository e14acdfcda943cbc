//! `cascade schema`: the JSON Schema of scenario files, for editors (yaml-language-server,
//! VS Code's YAML extension), generated from the types that read them; with `--markdown`, the
//! scenario reference (docs/scenario-reference.md) generated from the same schema, the metric
//! names expectations may use and the labels of generated nodes, so that it cannot drift.

use cascade_sim::output::{catalog, names, TOTALS};
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write;

/// The schema as pretty-printed JSON, ending in a newline.
pub fn json() -> String {
    let mut s = serde_json::to_string_pretty(&cascade_sim::scenario::json_schema())
        .expect("a schema serialises");
    s.push('\n');
    s
}

/// The command that writes the committed reference.
pub const REGENERATE: &str = "cascade schema --markdown > docs/scenario-reference.md";

/// Prints the schema, or with `markdown` the reference.
pub fn print(markdown: bool) -> u8 {
    if markdown {
        print!("{}", reference());
    } else {
        print!("{}", json());
    }
    0
}

/// One line of table text: newlines joined, pipes escaped.
fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn def_name(r: &str) -> &str {
    r.strip_prefix("#/definitions/").unwrap_or(r)
}

/// A field's type in words, with links to the definitions it names.
fn type_of(s: &Value, refs: &mut Vec<String>) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = def_name(r).to_string();
        let text = format!("[{name}](#{})", name.to_lowercase());
        refs.push(name);
        return text;
    }
    if let Some(c) = s.get("const") {
        return format!("`{c}`");
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let parts: Vec<String> = alts.iter().map(|a| type_of(a, refs)).collect();
            return parts.join(" or ");
        }
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let mut words: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => {
                let item = s.get("items").map(|i| type_of(i, refs)).unwrap_or_default();
                format!("list of {item}")
            }
            "object" => match s.get("additionalProperties") {
                Some(v @ Value::Object(_)) => format!("map of name to {}", type_of(v, refs)),
                _ => "object".into(),
            },
            other => other.to_string(),
        })
        .collect();
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        words.push(format!("matching `{p}`"));
    }
    if words.is_empty() {
        "any".into()
    } else {
        words.join(" or ")
    }
}

/// The schema's definitions as sections, in the order a reader meets them from the top.
fn fields(out: &mut String, schema: &Value) {
    let defs = &schema["definitions"];
    let mut queue: VecDeque<(String, &Value)> = VecDeque::from([("ScenarioDoc".into(), schema)]);
    let mut seen = BTreeSet::from(["ScenarioDoc".to_string()]);
    while let Some((name, s)) = queue.pop_front() {
        let mut refs = Vec::new();
        writeln!(out, "### {name}\n").unwrap();
        if let Some(d) = s.get("description").and_then(Value::as_str) {
            writeln!(out, "{}\n", cell(d)).unwrap();
        }
        match s.get("properties").and_then(Value::as_object) {
            Some(props) => {
                let required: BTreeSet<&str> = s
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                    writeln!(out, "Closed: any other field is an error.\n").unwrap();
                }
                writeln!(
                    out,
                    "| field | type | default | meaning |\n|---|---|---|---|"
                )
                .unwrap();
                for (field, f) in props {
                    let ty = type_of(f, &mut refs);
                    let default = match (required.contains(field.as_str()), f.get("default")) {
                        (true, _) => "required".to_string(),
                        // An object's default is its fields', listed in its own section.
                        (false, Some(Value::Object(o))) if !o.is_empty() => "its fields'".into(),
                        (false, Some(d)) => format!("`{d}`"),
                        (false, None) => String::new(),
                    };
                    let meaning = f
                        .get("description")
                        .and_then(Value::as_str)
                        .map(cell)
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "| `{field}` | {} | {} | {meaning} |",
                        cell(&ty),
                        cell(&default)
                    )
                    .unwrap();
                }
                writeln!(out).unwrap();
            }
            None => {
                // A value type: its alternatives, each with its meaning when it has one.
                let alts = s
                    .get("oneOf")
                    .or_else(|| s.get("anyOf"))
                    .and_then(Value::as_array);
                match alts {
                    Some(alts) => {
                        writeln!(out, "One of:\n").unwrap();
                        for a in alts {
                            let ty = type_of(a, &mut refs);
                            match a.get("description").and_then(Value::as_str) {
                                Some(d) => writeln!(out, "- {ty}: {}", cell(d)).unwrap(),
                                None => writeln!(out, "- {ty}").unwrap(),
                            }
                        }
                        writeln!(out).unwrap();
                    }
                    None => writeln!(out, "Type: {}\n", type_of(s, &mut refs)).unwrap(),
                }
            }
        }
        for r in refs {
            if seen.insert(r.clone()) {
                queue.push_back((r.clone(), &defs[&r]));
            }
        }
    }
    for name in defs.as_object().into_iter().flatten().map(|(k, _)| k) {
        assert!(seen.contains(name), "definition {name} is reachable");
    }
}

fn list(out: &mut String, family: &str, names: &[&str]) {
    let mut v: Vec<&str> = names.to_vec();
    v.sort_unstable();
    let v: Vec<String> = v.iter().map(|n| format!("`{family}.{n}`")).collect();
    writeln!(out, "{}\n", v.join(", ")).unwrap();
}

fn metrics(out: &mut String) {
    out.push_str(
        "An expectation's `metric` is `totals.NAME` (a counter of summary.json), `peaks.NAME`, \
         `lows.NAME` or `means.NAME` (the largest, the lowest or the time-weighted mean value of \
         the metrics.csv column NAME, over the run or within `after` and `before`), \
         `ratios.NAME` (a service level, a fraction in [0, 1]: over the run summary.json's \
         figure; within `after` and `before`, the same ratio of what its two counts (requests \
         served and requests asked, say) gained between the window's edges, each edge read at \
         the last sample at or before it, so the window falls on the `sampleIntervalSeconds` \
         grid; an edge at or past the end reads the run's final counts, and a window with \
         nothing counted reads what the summary reads then: 1 for an availability or success \
         ratio; a ratio is a service's, a ring's or a client's own, so it takes no selector) or \
         `averages.NAME` (an average per thing counted, in the unit its name says and never \
         bounded by 1: a service's mean latency per request served, a client's requests per \
         call; over a window taken from its two counts as a ratio is, 0 when nothing was \
         counted; summary.json's `averages`; `ratios.NAME` of an average is an error naming \
         `averages.NAME`). A peak has one name with or without a window, its \
         column's: summary.json's `peaks` keeps the whole run's (the largest value the model \
         saw, never below the column's largest sample), and a column it keeps none of reads its \
         largest sample. The names the simulation's peaks had before (`peaks.max_pending_pods`, \
         `peaks.max_not_ready_nodes`, `peaks.max_terminating_pods`, \
         `peaks.max_memory_pressure_nodes`) still read, with a warning naming the new one. \
         `cascade run` refuses a name no run of the scenario reports, and says which ones it \
         does.\n\n",
    );
    writeln!(out, "### Counters (`totals.`)\n\nAlways:\n").unwrap();
    let mut always: Vec<&str> = TOTALS.to_vec();
    always.extend(names::SIM_COUNTERS);
    list(out, "totals", &always);
    writeln!(
        out,
        "Counted by `selector`, `after` and `before` (each counts one kind of event): \
         `totals.pods_created`, `totals.pods_scheduled`, `totals.pods_preempted`, \
         `totals.pods_deleted`.\n\nWith a gossip pool (a behaviour with `gossipAgent`):\n"
    )
    .unwrap();
    list(out, "totals", names::GOSSIP_TOTALS);
    writeln!(
        out,
        "### Peaks kept in summary.json (`peaks.`)\n\nAlways:\n"
    )
    .unwrap();
    list(out, "peaks", names::SIM_PEAKS);
    writeln!(out, "With a gossip pool:\n").unwrap();
    list(out, "peaks", names::GOSSIP_PEAKS);
    writeln!(
        out,
        "With node memory modelled (a behaviour with `memory`):\n"
    )
    .unwrap();
    list(out, "peaks", names::MEMORY_PEAKS);
    writeln!(
        out,
        "### metrics.csv columns (`peaks.NAME`, `lows.NAME`, `means.NAME`)\n\n\
         | column | when | meaning |\n|---|---|---|"
    )
    .unwrap();
    for (set, when) in [
        (names::SIM_COLUMNS, "always"),
        (names::GOSSIP_COLUMNS, "gossip pool"),
        (names::MEMORY_COLUMNS, "node memory"),
    ] {
        for c in set {
            let help = catalog::family(c).help;
            writeln!(out, "| `{c}` | {when} | {} |", cell(&help)).unwrap();
        }
    }
    writeln!(
        out,
        "\n### The services' names\n\nEach service, ring, remote_write fleet and client adds \
         columns named after it (and counters, peaks, ratios and averages of the same stem): \
         `{{NAME}}SUFFIX`.\n\n| suffix | declared by | meaning |\n|---|---|---|"
    )
    .unwrap();
    for (suffix, what, help) in catalog::SUFFIXES {
        writeln!(out, "| `{suffix}` | {what} | {} |", cell(help)).unwrap();
    }
    writeln!(
        out,
        "\n### The services' figures without a column\n\nsummary.json's peaks, ratios and averages of \
         the services that no metrics.csv column holds. An availability or success figure says \
         whether it is time-based (the share of time, or of sample intervals, a condition held) \
         or request-based (the share of requests answered successfully).\n\n\
         | name | in | meaning |\n|---|---|---|"
    )
    .unwrap();
    for (suffix, what, help) in catalog::SUMMARY_SUFFIXES {
        let name = if suffix.starts_with('_') {
            format!("{{NAME}}{suffix}")
        } else {
            suffix.to_string()
        };
        writeln!(out, "| `{name}` | {what} | {} |", cell(help)).unwrap();
    }
    writeln!(out).unwrap();
}

fn node_labels(out: &mut String) {
    let g: cascade_sim::scenario::NodeGroup = serde_yaml_ng::from_str(
        "{namePrefix: pool, count: 3, zones: [zone-a, zone-b], allocatable: {cpu: '4'}, labels: {team: web}}",
    )
    .expect("an example group");
    out.push_str(
        "A node of `nodeGroups` (or `addNodes`, or the cluster autoscaler) named \
         `{namePrefix}-{i}` carries these labels; the group's `labels` win over the first three, \
         its hostname and zone win over the group's. For the group `{namePrefix: pool, zones: \
         [zone-a, zone-b], labels: {team: web}}`, nodes 0 and 1:\n\n\
         | label | pool-0 | pool-1 |\n|---|---|---|\n",
    );
    let a = cascade_sim::generate::node_labels(&g, 0);
    let b = cascade_sim::generate::node_labels(&g, 1);
    for (k, v) in &a {
        writeln!(out, "| `{k}` | `{v}` | `{}` |", b[k]).unwrap();
    }
    writeln!(out).unwrap();
}

/// The scenario reference, as Markdown.
pub fn reference() -> String {
    let schema: Value =
        serde_json::to_value(cascade_sim::scenario::json_schema()).expect("a schema serialises");
    let mut out = String::new();
    writeln!(
        out,
        "# Scenario reference\n\n\
         Generated from the code by `{REGENERATE}`; do not edit (a test fails when this file \
         and the code differ). The same fields, types and defaults as `cascade schema`, the \
         JSON Schema for editors (see the README). Parameters' defaults are Kubernetes' and \
         the other upstreams' as the `meaning` column cites them (the full citations are in \
         the other pages of docs/); `cascade params SCENARIO` prints a scenario's effective \
         values.\n\n\
         Durations are seconds or strings such as `90s`, `5m`, `1h30m`; quantities are \
         Kubernetes quantities (`500m`, `512Mi`). A `null` under `spec.parameters` keeps the \
         default.\n\n\
         - [Scenario fields](#scenario-fields)\n\
         - [Metrics for expectations](#metrics-for-expectations)\n\
         - [Labels of generated nodes](#labels-of-generated-nodes)\n\n\
         ## Scenario fields\n"
    )
    .unwrap();
    fields(&mut out, &schema);
    writeln!(out, "## Metrics for expectations\n").unwrap();
    metrics(&mut out);
    writeln!(out, "## Labels of generated nodes\n").unwrap();
    node_labels(&mut out);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
