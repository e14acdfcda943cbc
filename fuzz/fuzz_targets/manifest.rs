//! The manifest reader on one file's text (multi-document YAML as `kubectl get -o yaml` prints it).
//! Asserts no panic only: the reader may refuse the input (docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/cli/tests/readers/mod.rs"]
mod readers;

/// The repository's root, for `readers`.
const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fuzz_target!(|data: &[u8]| {
    readers::read_manifest(&String::from_utf8_lossy(data));
});
