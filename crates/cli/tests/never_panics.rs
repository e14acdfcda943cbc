//! The readers never panic, whatever they are given: the manifest reader, the quantity
//! parser, the scenario reader and `--set`. Each committed input under tests/corpus/ is
//! replayed (the shallow bugs found so far are kept there, named for what they broke), and
//! proptest mutates the corpus further. A reader may refuse an input; it may not crash.

mod readers;

use proptest::prelude::*;
use readers::{corpus_dir, read_manifest, read_quantity, read_scenario, read_set};
use std::path::PathBuf;

/// The repository's root, for `readers`.
const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn corpus(kind: &str) -> Vec<(PathBuf, String)> {
    let dir = corpus_dir().join(kind);
    let mut v: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no corpus in {}", dir.display());
    v
}

#[test]
fn the_corpus_replays_without_a_panic() {
    type Reader = fn(&str);
    let readers: [(&str, Reader); 4] = [
        ("manifest", read_manifest),
        ("quantity", read_quantity),
        ("scenario", read_scenario),
        ("set", read_set),
    ];
    for (kind, read) in readers {
        for (p, t) in corpus(kind) {
            // Shown with the failure: which input broke the reader.
            eprintln!("replaying {}", p.display());
            read(&t);
        }
    }
}

/// `cascade schedule --cluster DIR/cluster --pod DIR/pods` for each case under
/// corpus/schedule: refused or answered, never a panic (101) or an abort (134).
#[test]
fn schedule_cases_end_with_an_answer_or_a_refusal() {
    let dir = corpus_dir().join("schedule");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    for case in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
            .arg("schedule")
            .arg("--cluster")
            .arg(case.join("cluster"))
            .arg("--pod")
            .arg(case.join("pods"))
            .output()
            .unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 2)),
            "{}: exit {code:?}: {}",
            case.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// One edit of a text: replace, insert or delete a byte-sized piece at a position.
fn mutate(text: &str, edits: &[(usize, u8, String)]) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for (at, op, piece) in edits {
        let i = if s.is_empty() { 0 } else { at % (s.len() + 1) };
        match op % 3 {
            0 => s.splice(i..i, piece.chars()).for_each(drop),
            1 => {
                let end = (i + piece.len().max(1)).min(s.len());
                s.splice(i..end, std::iter::empty()).for_each(drop)
            }
            _ => {
                let end = (i + 1).min(s.len());
                s.splice(i..end, piece.chars()).for_each(drop)
            }
        }
    }
    s.into_iter().collect()
}

/// Pieces that reach the readers' corners: YAML syntax, numbers, quantities, keys.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(": ".to_string()),
        Just("\n- ".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("null".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("99999999999999999999".to_string()),
        Just("0.000000001".to_string()),
        Just("NaN".to_string()),
        Just("&a *a".to_string()),
        Just("!!binary".to_string()),
        Just("\n---\n".to_string()),
        Just("Ei".to_string()),
        "[ -~]{0,6}",
    ]
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, String)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), piece()), 1..6)
}

proptest! {
    // 64 cases in the suite; `PROPTEST_CASES=100000` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_manifests_never_panic(i in any::<usize>(), e in edits()) {
        let c = corpus("manifest");
        read_manifest(&mutate(&c[i % c.len()].1, &e));
    }

    #[test]
    fn quantities_never_panic(s in "[-+]?[0-9.]{0,25}([eE][-+]?[0-9]{0,5}|[numkKMGTPE]i?)?", t in "[ -~]{0,12}") {
        read_quantity(&s);
        read_quantity(&t);
    }

    #[test]
    fn mutated_scenarios_never_panic(i in any::<usize>(), e in edits()) {
        let c = corpus("scenario");
        read_scenario(&mutate(&c[i % c.len()].1, &e));
    }

    #[test]
    fn set_lines_never_panic(
        path in prop_oneof![
            Just("sampleIntervalSeconds"), Just("generatorScale"), Just("maxEvents"),
            Just("kubelet.imagePullSeconds"), Just("services.proxy.memoryLimit"),
            Just("services.proxy"), Just("rings.cortex.joinAfterSeconds"), Just("scheduler"),
            Just("startTime"), Just(""), Just("."), Just("a..b"),
        ],
        value in prop_oneof![piece(), "[0-9]{1,25}", Just("1e308".to_string()), Just("-0".to_string())],
    ) {
        read_set(&format!("{path}={value}"));
    }
}
