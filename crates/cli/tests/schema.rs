//! `cascade schema`: the JSON Schema of scenario files says what the reader accepts. Every
//! bundled scenario validates; a field the reader refuses (unknown, or of the wrong type) fails
//! both; the string patterns agree with the parsers. The validator is a minimal one for the
//! keywords the schema uses, and it refuses any other keyword, so a schema that grows past it
//! fails here instead of being checked loosely.

use proptest::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("schema")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("the schema is JSON")
}

/// Validates `v` against `s` (a subschema of `root`); the problems, each at its JSON path.
fn validate(root: &Value, s: &Value, v: &Value, at: &str, problems: &mut Vec<String>) {
    let Some(obj) = s.as_object() else {
        match s {
            Value::Bool(true) => return,
            Value::Bool(false) => return problems.push(format!("{at}: nothing is allowed")),
            _ => panic!("not a schema at {at}: {s}"),
        }
    };
    for (k, kv) in obj {
        match k.as_str() {
            "$schema" | "title" | "description" | "default" | "format" | "definitions" => {}
            "$ref" => {
                let name = kv
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/definitions/"))
                    .unwrap_or_else(|| panic!("unsupported $ref {kv}"));
                let target = &root["definitions"][name];
                assert!(!target.is_null(), "dangling $ref {kv}");
                validate(root, target, v, at, problems);
            }
            "type" => {
                let types: Vec<&str> = match kv {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => panic!("bad type {kv}"),
                };
                let ok = types.iter().any(|t| match *t {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "boolean" => v.is_boolean(),
                    "null" => v.is_null(),
                    "number" => v.is_number(),
                    "integer" => {
                        v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
                    }
                    other => panic!("unknown type {other}"),
                });
                if !ok {
                    problems.push(format!("{at}: expected {}, found {v}", types.join(" or ")));
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (name, sub) in kv.as_object().unwrap() {
                        if let Some(x) = o.get(name) {
                            validate(root, sub, x, &format!("{at}.{name}"), problems);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(o) = v.as_object() {
                    let known = obj.get("properties").and_then(Value::as_object);
                    for (name, x) in o {
                        if known.is_none_or(|p| !p.contains_key(name)) {
                            validate(root, kv, x, &format!("{at}.{name}"), problems);
                        }
                    }
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for r in kv.as_array().unwrap() {
                        let r = r.as_str().unwrap();
                        if !o.contains_key(r) {
                            problems.push(format!("{at}: missing {r}"));
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        validate(root, kv, x, &format!("{at}[{i}]"), problems);
                    }
                }
            }
            "enum" => {
                if !kv.as_array().unwrap().contains(v) {
                    problems.push(format!("{at}: {v} is not one of {kv}"));
                }
            }
            "const" => {
                if kv != v {
                    problems.push(format!("{at}: expected {kv}, found {v}"));
                }
            }
            "minimum" => {
                if v.as_f64().is_some_and(|x| x < kv.as_f64().unwrap()) {
                    problems.push(format!("{at}: {v} is below {kv}"));
                }
            }
            "maximum" => {
                if v.as_f64().is_some_and(|x| x > kv.as_f64().unwrap()) {
                    problems.push(format!("{at}: {v} is above {kv}"));
                }
            }
            "pattern" => {
                if let Some(x) = v.as_str() {
                    let re = regex_lite::Regex::new(kv.as_str().unwrap()).expect("a pattern");
                    if !re.is_match(x) {
                        problems.push(format!("{at}: {x:?} does not match {kv}"));
                    }
                }
            }
            "allOf" => {
                for sub in kv.as_array().unwrap() {
                    validate(root, sub, v, at, problems);
                }
            }
            "anyOf" | "oneOf" => {
                let results: Vec<Vec<String>> = kv
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|sub| {
                        let mut p = Vec::new();
                        validate(root, sub, v, at, &mut p);
                        p
                    })
                    .collect();
                let passing = results.iter().filter(|p| p.is_empty()).count();
                let ok = if k == "anyOf" {
                    passing >= 1
                } else {
                    passing == 1
                };
                if !ok {
                    problems.push(format!("{at}: {passing} of the {k} alternatives match {v}"));
                    // Why the closest alternative fails (an object's unknown field rather
                    // than "expected null").
                    if let Some(best) = results.into_iter().min_by_key(Vec::len) {
                        problems.extend(best);
                    }
                }
            }
            other => panic!("the test's validator does not know the keyword {other} (at {at})"),
        }
    }
}

fn problems(schema: &Value, doc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    validate(schema, schema, doc, "", &mut p);
    p
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The scenario files in a folder (documents of kind Scenario).
fn scenarios_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .any(|l| l == "kind: Scenario")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_schema_is_the_snapshot() {
    insta::assert_json_snapshot!(schema());
}

#[test]
fn every_bundled_scenario_validates() {
    let s = schema();
    let files: Vec<PathBuf> = ["scenarios", "benches"]
        .iter()
        .flat_map(|d| scenarios_in(&root().join(d)))
        .collect();
    assert!(files.len() >= 8, "found only {files:?}");
    for f in files {
        let p = problems(&s, &yaml(&f));
        assert!(p.is_empty(), "{}: {p:#?}", f.display());
    }
}

#[test]
fn every_test_scenario_the_reader_loads_validates() {
    let s = schema();
    let mut loaded = 0;
    for f in scenarios_in(&root().join("crates/cli/tests/inputs")) {
        if cascade_sim::load(&f, None, &[], None).is_ok() {
            loaded += 1;
            let p = problems(&s, &yaml(&f));
            assert!(p.is_empty(), "{}: {p:#?}", f.display());
        }
    }
    assert!(loaded >= 3, "only {loaded} test scenarios load");
}

/// A bundled scenario with one change, written where the reader reads it.
fn mutated(change: impl FnOnce(&mut Value)) -> (Value, PathBuf) {
    let src = root().join("scenarios/memory-leak.yaml");
    let mut doc = yaml(&src);
    change(&mut doc);
    // Beside the original, so the manifests it names resolve.
    let path = root().join(format!(
        "scenarios/.schema-test-{}-{:?}.yaml",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    (doc, path)
}

/// The schema and the reader both refuse `change`.
fn both_refuse(change: impl FnOnce(&mut Value), expect: &str) {
    let s = schema();
    let (doc, path) = mutated(change);
    let read = cascade_sim::load(&path, None, &[], None);
    std::fs::remove_file(&path).unwrap();
    let p = problems(&s, &doc);
    assert!(
        p.iter().any(|m| m.contains(expect)),
        "the schema should refuse it with {expect:?}: {p:#?}"
    );
    assert!(read.is_err(), "the reader should refuse it too");
}

#[test]
fn the_unchanged_scenario_passes_both() {
    let s = schema();
    let (doc, path) = mutated(|_| {});
    let read = cascade_sim::load(&path, None, &[], None);
    std::fs::remove_file(&path).unwrap();
    assert!(problems(&s, &doc).is_empty());
    assert!(read.is_ok());
}

#[test]
fn an_unknown_field_fails_the_schema_and_the_reader() {
    both_refuse(
        |d| d["spec"]["durration"] = "1h".into(),
        ".spec.durration: nothing is allowed",
    );
    both_refuse(
        |d| d["spec"]["parameters"]["kubelet"]["imagePullSecs"] = 3.into(),
        ".spec.parameters.kubelet.imagePullSecs: nothing is allowed",
    );
    both_refuse(
        |d| d["spec"]["changes"][0]["descripton"] = "typo".into(),
        ".spec.changes[0].descripton: nothing is allowed",
    );
}

#[test]
fn a_wrong_type_fails_the_schema_and_the_reader() {
    both_refuse(
        |d| d["spec"]["seed"] = "seven".into(),
        ".spec.seed: expected integer",
    );
    both_refuse(
        |d| d["spec"]["duration"] = "ten minutes".into(),
        ".spec.duration: 0 of the anyOf alternatives",
    );
    both_refuse(
        |d| d["spec"]["parameters"]["kubelet"] = "fast".into(),
        ".spec.parameters.kubelet: expected object",
    );
    both_refuse(
        |d| d["kind"] = "Scenery".into(),
        ".kind: expected \"Scenario\"",
    );
}

#[test]
fn the_committed_scenario_reference_is_what_the_code_generates() {
    let path = root().join("docs/scenario-reference.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let out = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(["schema", "--markdown"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let generated = String::from_utf8(out.stdout).unwrap();
    assert!(
        committed == generated,
        "docs/scenario-reference.md is not what the code generates: regenerate it with `{}` \
         (from the repository's root; `cargo run -q -p cascade --` for `cascade`) and commit it",
        cascade::schema::REGENERATE
    );
}

#[test]
fn the_reference_names_every_field_and_metric() {
    let r = cascade::schema::reference();
    for needle in [
        "| `duration` | [Duration](#duration) | required |",
        "| `imagePullSeconds` |",
        "`totals.pods_evicted`",
        "`peaks.phantom_members`",
        "| `topology.kubernetes.io/zone` | `zone-a` | `zone-b` |",
    ] {
        assert!(r.contains(needle), "{needle} missing");
    }
}

fn durations() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9.]{0,4}(ms|h|m|s)?([0-9.]{0,3}(ms|h|m|s|x))?",
        "[+-]?[0-9]{1,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9])?",
        " ?[0-9hms.]{1,6} ?",
    ]
}

fn quantities() -> impl Strategy<Value = String> {
    prop_oneof![
        "[+-]?[0-9.]{0,4}(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|i|e[+-]?[0-9]{0,2}|E3|x)?",
        "[0-9a-zA-Z.+-]{0,6}",
    ]
}

proptest! {
    #[test]
    fn the_duration_pattern_accepts_what_the_reader_accepts(s in durations()) {
        let re = regex_lite::Regex::new(cascade_sim::scenario::DURATION_PATTERN).unwrap();
        prop_assert_eq!(re.is_match(&s), cascade_sim::scenario::parse_duration(&s).is_some(), "{:?}", s);
    }

    #[test]
    fn the_quantity_pattern_accepts_what_the_reader_accepts(s in quantities()) {
        use cascade_manifest::quantity::{Quantity, QuantityError, QUANTITY_PATTERN};
        let re = regex_lite::Regex::new(QUANTITY_PATTERN).unwrap();
        let parsed = Quantity::parse(&s);
        // Out-of-range exponents and precision are syntax the schema allows and the reader
        // refuses by value, as it refuses an out-of-range number.
        prop_assume!(!matches!(parsed, Err(QuantityError::OutOfRange)));
        prop_assert_eq!(re.is_match(&s), parsed.is_ok(), "{:?}", s);
    }
}
