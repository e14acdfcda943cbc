//! Files and directories on the command line. A directory stands for every `*.yaml`, `*.yml`
//! and `*.json` file under it, recursively, in sorted path order: what `kubectl apply -f DIR -R`
//! reads (kubectl without `-R` stops at the top level; cascade always descends, so a chart
//! rendered with `helm template --output-dir` is read whole). Hidden entries (`.git`) are
//! skipped. docs/kubernetes.md#reading-manifests.

use cascade_manifest::{Diagnostic, Errors, Severity};
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// The files `paths` name: files as given, directories expanded. A directory with no
/// manifest file in it is an error (kubectl: "no objects passed to apply").
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Errors> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            let before = out.len();
            if let Err(e) = walk(p, &mut out) {
                errors.push(problem(p, format!("cannot read directory: {e}")));
            } else if out.len() == before {
                errors.push(problem(
                    p,
                    "no *.yaml, *.yml or *.json file in this directory".to_string(),
                ));
            }
        } else {
            out.push(p.clone());
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Errors(errors))
    }
}

fn problem(p: &Path, message: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: p.display().to_string(),
        line: 0,
        column: 0,
        message,
        skipped_kind: None,
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for e in entries {
        let hidden = e
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if e.is_dir() {
            walk(&e, out)?;
        } else if e
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| EXTENSIONS.contains(&x))
        {
            out.push(e);
        }
    }
    Ok(())
}
