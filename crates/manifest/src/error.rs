//! Errors and warnings that point at a place in an input file.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A problem in an input file, at a line and column (both 1-based), in the form editors and
/// compilers use: `file:line:column: error: message`. Line 0 stands for no position (a file
/// that cannot be read, a run refused as a whole, a command-line option): it prints
/// `file: error: message`, never a made-up `file:0:0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// Set on the warning of a document skipped because cascade does not model its kind, and
    /// only there (where the loader makes it), so that `--quiet` can summarise these warnings
    /// without reading their text.
    pub skipped_kind: Option<SkippedKind>,
}

/// A document's apiVersion and kind, of a kind cascade does not model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SkippedKind {
    pub api_version: String,
    pub kind: String,
}

/// `v1 ConfigMap`.
impl fmt::Display for SkippedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.api_version, self.kind)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {sev}: {}", self.file, self.message),
            (line, 0) => write!(f, "{}:{line}: {sev}: {}", self.file, self.message),
            (line, column) => write!(f, "{}:{line}:{column}: {sev}: {}", self.file, self.message),
        }
    }
}

/// How a skipped document of a kind cascade does not model is worded (`skipping v1 ConfigMap:
/// ...`): informational, since such an object places or runs nothing in the model, and so the
/// one warning `--quiet` summarises instead of listing (by [`Diagnostic::skipped_kind`]).
pub const UNMODELLED_KIND: &str = "cascade does not model this kind";

/// Every error found in a set of inputs (loading reports all of them, not only the first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors(pub Vec<Diagnostic>);

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

/// One step of a path into a YAML document: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a document, such as `spec.containers[0].resources.requests.cpu`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    pub fn idx(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A problem found while converting a document, located by its path inside the document;
/// [`crate::locate`] turns the path into a line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    pub path: Path,
    pub message: String,
}

impl PathError {
    pub fn new(path: Path, message: impl Into<String>) -> Self {
        PathError {
            path,
            message: message.into(),
        }
    }
}

/// For callers that report in words: the path, then the message.
impl From<PathError> for String {
    fn from(e: PathError) -> String {
        if e.path.0.is_empty() {
            e.message
        } else {
            format!("{}: {}", e.path, e.message)
        }
    }
}
