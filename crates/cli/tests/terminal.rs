//! What `cascade run` prints, with colour off (not a terminal, NO_COLOR set): the summary as a
//! snapshot, `--quiet`'s single verdict line.

use std::process::Command;

fn run(args: &[&str], tag: &str, no_color: bool) -> (i32, String, String) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-term-{tag}-{}", std::process::id()));
    let mut c = Command::new(env!("CARGO_BIN_EXE_cascade"));
    c.arg("run")
        .args(args)
        .arg("--out")
        .arg(&dir)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    let o = c.output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let out = String::from_utf8(o.stdout)
        .unwrap()
        .replace(&dir.display().to_string(), "OUT");
    (
        o.status.code().unwrap(),
        out,
        String::from_utf8(o.stderr).unwrap(),
    )
}

/// The wall time is the one figure that differs between runs.
fn without_wall(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(" s wall") {
            Some(end) => {
                let start = l[..end].rfind(", ").unwrap() + 2;
                format!("{}W{}\n", &l[..start], &l[end..])
            }
            None => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn the_summary_groups_totals_and_ends_with_the_verdict() {
    let (code, out, err) = run(&["scenarios/grafana-2019.yaml"], "summary", true);
    assert_eq!(code, 1, "{err}");
    // The header and the totals fit 100 columns, one group a line (or more when wrapped).
    let head: Vec<&str> = out
        .lines()
        .take_while(|l| !l.starts_with("  FAIL"))
        .collect();
    assert!(head.iter().all(|l| l.len() <= 100), "{out}");
    assert!(head.iter().any(|l| l.starts_with("  pods:")), "{out}");
    assert!(!out.contains('\x1b'), "{out:?}");
    // Not a terminal: no progress bar either.
    assert!(!err.contains('['), "{err}");
    assert!(out.ends_with(
        "FAIL grafana-2019: 3 of 3 expectations failed: writes succeed 99.9% of the time; no sample is lost; the gateway is never OOM-killed\n"
    ));
    insta::assert_snapshot!("grafana_2019_terminal", without_wall(&out));
}

#[test]
fn quiet_prints_the_verdict_alone() {
    let (code, out, _) = run(
        &[
            "scenarios/grafana-2019-preemption.yaml",
            "--variant",
            "ingesters-high",
            "--quiet",
        ],
        "quiet",
        false,
    );
    assert_eq!(code, 0);
    // Not a terminal: no colour, though NO_COLOR is unset.
    assert_eq!(
        out,
        "PASS grafana-2019-preemption (variant ingesters-high): 1 of 1 expectations hold\n"
    );
}
