//! Node CPU input the kubelet would refuse or the model cannot run with: `cascade validate`
//! and `cascade run` exit 2 with each problem at its position (docs/kubernetes.md#node-cpu).

use std::process::Command;

fn cascade(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bad_cpu_settings_are_errors_at_their_position() {
    let (code, out, err) = cascade(&["validate", "crates/cli/tests/inputs/bad-cpu.yaml"]);
    assert_eq!(code, 2, "{out}{err}");
    assert_eq!(out, "");
    insta::assert_snapshot!(err);
    let (code, _, cores) = cascade(&["validate", "crates/cli/tests/inputs/bad-cpu-cores.yaml"]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(cores);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cascade-bad-cpu-{}", std::process::id()));
    let (code, out, run) = cascade(&[
        "run",
        "crates/cli/tests/inputs/bad-cpu-cores.yaml",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(run, cores);
    assert!(!dir.exists());
}
