//! What a CI system reads from a run: a JUnit XML file (`--junit FILE`, each expectation a
//! test case) and GitHub Actions annotations (`--format github`, one `::error` per failed
//! expectation, located at the expectation in the scenario file). See docs/ci.md.

use cascade_sim::{ExpectationResult, Scenario, Summary};
use std::fmt::Write as _;
use std::path::Path;

/// How `cascade run` prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The summary for people (as it has always been).
    #[default]
    Text,
    /// The summary, then one GitHub Actions `::error` annotation per failed expectation.
    Github,
}

/// One expectation with what CI needs beside its verdict: its time window and where it is
/// written. `summary.expectations` is in the order of `sc.spec.expectations` (variants add
/// none), so the two are zipped.
pub struct Case<'a> {
    pub r: &'a ExpectationResult,
    /// `AFTERs..BEFOREs`, simulated seconds.
    pub window: String,
    pub line: usize,
    pub column: usize,
}

pub fn cases<'a>(sc: &Scenario, summary: &'a Summary) -> Vec<Case<'a>> {
    summary
        .expectations
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (line, column) = sc.expectation_positions.get(i).copied().unwrap_or((1, 1));
            Case {
                r,
                window: format!("{}s..{}s", r.after_seconds, r.before_seconds),
                line,
                column,
            }
        })
        .collect()
}

fn suite_name(summary: &Summary) -> String {
    match &summary.variant {
        Some(v) => format!("{}/{v}", summary.scenario),
        None => summary.scenario.clone(),
    }
}

/// `METRIC = VALUE, want BOUND, window W[, pods SELECTOR][, not judged: WHY]`: the facts of a
/// verdict, in one phrase.
pub fn verdict(c: &Case) -> String {
    let pods =
        c.r.selector
            .as_ref()
            .map_or(String::new(), |s| format!(", pods {s}"));
    // The note names its figure first (`peaks.api_qps_ratio: not given ...`): said once.
    let not_given = c.r.not_given.as_ref().map_or(String::new(), |n| {
        let why = n.strip_prefix(c.r.metric.as_str()).unwrap_or(n);
        format!(", not judged: {}", why.trim_start_matches(": "))
    });
    format!(
        "{} = {}, want {}, window {}{pods}{not_given}",
        c.r.metric,
        value(c.r.value),
        c.r.bound,
        c.window
    )
}

/// A value as people read it: integers without a fraction, others to 6 significant decimals
/// (0.691542, not 0.691542288557214).
pub fn value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Escapes text for XML 1.0 content and attribute values; characters XML 1.0 cannot carry
/// (control characters other than tab, newline, carriage return) become U+FFFD.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// The JUnit XML of a run: one `<testsuite>` named after the scenario (and variant), one
/// `<testcase>` per expectation named by its metric and bound, its value, bound, window (and
/// selector, when it has one) as properties, a failed one with a `<failure>`. No wall-clock time, so that a seed gives the
/// same bytes.
pub fn junit(sc: &Scenario, summary: &Summary) -> String {
    let cases = cases(sc, summary);
    let failures = cases.iter().filter(|c| !c.r.passed).count();
    // A run stopped at parameters.maxEvents has no verdict: JUnit's "error" (the test could
    // not complete), one per suite, so that CI fails even when each expectation held so far.
    let errors = usize::from(summary.truncated);
    let suite = xml(&suite_name(summary));
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"cascade\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
        cases.len() + errors
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\">",
        cases.len() + errors
    );
    let _ = writeln!(
        x,
        "    <properties>\n      <property name=\"seed\" value=\"{}\"/>\n      <property name=\"simulated_seconds\" value=\"{}\"/>\n    </properties>",
        summary.seed, summary.simulated_seconds
    );
    for c in &cases {
        let _ = writeln!(
            x,
            "    <testcase name=\"{}\" classname=\"{suite}\">",
            xml(&format!("{} {}", c.r.metric, c.r.bound))
        );
        x.push_str("      <properties>\n");
        // The pods it counted, only when it has a selector (no empty property).
        let selector = c.r.selector.clone().map(|s| ("selector", s));
        for (k, v) in [
            Some(("expectation", c.r.name.clone())),
            Some(("metric", c.r.metric.clone())),
            Some(("value", c.r.value.to_string())),
            Some(("bound", c.r.bound.clone())),
            Some(("window", c.window.clone())),
            selector,
            Some(("line", c.line.to_string())),
        ]
        .into_iter()
        .flatten()
        {
            let _ = writeln!(x, "        <property name=\"{k}\" value=\"{}\"/>", xml(&v));
        }
        x.push_str("      </properties>\n");
        if !c.r.passed {
            let _ = writeln!(
                x,
                "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                xml(&verdict(c)),
                xml(&format!("{}: {}", c.r.name, verdict(c)))
            );
        }
        let _ = writeln!(
            x,
            "      <system-out>{}</system-out>",
            xml(&format!("{}: {}", c.r.name, verdict(c)))
        );
        x.push_str("    </testcase>\n");
    }
    if summary.truncated {
        let _ = writeln!(
            x,
            "    <testcase name=\"run complete\" classname=\"{suite}\">\n      <error message=\"{}\" type=\"truncated\"/>\n    </testcase>",
            xml(&truncated_message(summary))
        );
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Why a truncated run has no verdict.
fn truncated_message(summary: &Summary) -> String {
    format!(
        "the run reached parameters.maxEvents ({} events) after {} simulated seconds; its figures cover that much only",
        summary.events_processed, summary.simulated_seconds
    )
}

/// Escapes an annotation's message (GitHub's workflow-command data: `%`, CR, LF).
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes an annotation's property value (as data, plus `:` and `,`).
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One `::error` line per failed expectation, at its line and column in `scenario_path`.
pub fn github(scenario_path: &Path, sc: &Scenario, summary: &Summary) -> String {
    let file = gh_property(&scenario_path.display().to_string());
    let suite = suite_name(summary);
    let mut o = String::new();
    if summary.truncated {
        let _ = writeln!(
            o,
            "::error file={file},line=1,col=1,title=truncated::{}",
            gh_data(&format!("{suite}: {}", truncated_message(summary)))
        );
    }
    for c in cases(sc, summary).iter().filter(|c| !c.r.passed) {
        let _ = writeln!(
            o,
            "::error file={file},line={},col={},title={}::{}",
            c.line,
            c.column,
            gh_property(&c.r.metric),
            gh_data(&format!(
                "{suite}: expectation {:?} failed: {}",
                c.r.name,
                verdict(c)
            ))
        );
    }
    o
}

/// Writes `text` to `path` through a temporary file beside it and a rename, so that a reader
/// never sees half a file.
pub fn write_file_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "junit.xml".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.cascade-partial-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(
            xml("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;\u{FFFD}"
        );
    }

    #[test]
    fn github_properties_escape_their_separators() {
        assert_eq!(gh_property("a,b:c%\n"), "a%2Cb%3Ac%25%0A");
        assert_eq!(gh_data("50%: a,b\r\n"), "50%25: a,b%0D%0A");
    }
}
