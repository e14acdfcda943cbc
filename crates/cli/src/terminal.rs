//! What `cascade run` prints on a terminal: a header, the totals grouped by what they count
//! and wrapped, one line per expectation, and a verdict line; colour only on a terminal with
//! NO_COLOR unset; a progress bar with ETA on stderr for runs that take over a second.

use crate::ci::{verdict, Case};

use cascade_sim::Summary;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::Path;
use std::time::{Duration, Instant};

/// Width the totals are wrapped to.
const WIDTH: usize = 100;

/// Whether to colour: on when `tty` and NO_COLOR is unset or empty (no-color.org).
pub fn use_colour(tty: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    tty && no_color.is_none_or(|v| v.is_empty())
}

/// Colour for stdout as the environment asks.
pub fn stdout_colour() -> bool {
    use_colour(
        std::io::stdout().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

#[derive(Clone, Copy)]
enum Paint {
    Red,
    Green,
    Bold,
}

fn paint(colour: bool, p: Paint, s: &str) -> String {
    if !colour {
        return s.to_string();
    }
    let code = match p {
        Paint::Red => "1;31",
        Paint::Green => "32",
        Paint::Bold => "1",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// A duration as a scenario writes it: `75m`, `2h`, `90s`.
pub fn duration(secs: f64) -> String {
    if secs > 0.0 && secs % 3600.0 == 0.0 {
        format!("{}h", secs / 3600.0)
    } else if secs > 0.0 && secs % 60.0 == 0.0 {
        format!("{}m", secs / 60.0)
    } else {
        format!("{secs}s")
    }
}

/// 7199814 -> 7,199,814.
pub fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut o = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// The non-zero totals grouped by their first word (`pods_created` -> `pods: created=`),
/// each group on its own lines, wrapped at [`WIDTH`].
pub fn totals(t: &BTreeMap<String, u64>) -> String {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (k, v) in t.iter().filter(|(_, v)| **v > 0) {
        let (group, rest) = k.split_once('_').unwrap_or((k.as_str(), "total"));
        groups
            .entry(group)
            .or_default()
            .push(format!("{rest}={}", thousands(*v)));
    }
    let label = groups.keys().map(|g| g.len()).max().unwrap_or(0) + 1;
    let mut o = String::new();
    for (g, items) in &groups {
        let mut line = format!("  {:<label$} ", format!("{g}:"));
        let indent = line.len();
        let mut first = true;
        for item in items {
            if !first && line.len() + 1 + item.len() > WIDTH {
                o.push_str(line.trim_end());
                o.push('\n');
                line = " ".repeat(indent);
                first = true;
            }
            if !first {
                line.push(' ');
            }
            line.push_str(item);
            first = false;
        }
        o.push_str(&line);
        o.push('\n');
    }
    o
}

/// The verdict: `PASS: N of N expectations hold` or `FAIL: K of N expectations failed: ...`.
pub fn verdict_line(s: &Summary, colour: bool) -> String {
    let n = s.expectations.len();
    let failed: Vec<&str> = s
        .expectations
        .iter()
        .filter(|e| !e.passed)
        .map(|e| e.name.as_str())
        .collect();
    let run = match &s.variant {
        Some(v) => format!("{} (variant {v})", s.scenario),
        None => s.scenario.clone(),
    };
    if s.truncated {
        return format!(
            "{} {run}: truncated at parameters.maxEvents, no verdict ({} of {n} expectations failed so far)",
            paint(colour, Paint::Red, "FAIL"),
            failed.len()
        );
    }
    if failed.is_empty() {
        let what = if n == 0 {
            "no expectations".to_string()
        } else {
            format!("{n} of {n} expectations hold")
        };
        format!("{} {run}: {what}", paint(colour, Paint::Green, "PASS"))
    } else {
        format!(
            "{} {run}: {} of {n} expectations failed: {}",
            paint(colour, Paint::Red, "FAIL"),
            failed.len(),
            failed.join("; ")
        )
    }
}

/// The whole summary.
pub fn summary(s: &Summary, cases: &[Case<'_>], out: &Path, colour: bool) -> String {
    let mut o = String::new();
    if s.truncated {
        let _ = writeln!(
            o,
            "TRUNCATED: the run reached parameters.maxEvents ({} events) after {:.0} simulated seconds; its figures cover that much only",
            s.events_processed, s.simulated_seconds
        );
    }
    let run = match &s.variant {
        Some(v) => format!("{} (variant {v})", s.scenario),
        None => s.scenario.clone(),
    };
    let _ = writeln!(
        o,
        "{}: seed {}, {} simulated, {} events, {:.3} s wall",
        paint(colour, Paint::Bold, &run),
        s.seed,
        duration(s.simulated_seconds),
        thousands(s.events_processed),
        s.wall_seconds
    );
    o.push_str(&totals(&s.totals));
    for c in cases {
        let mark = if c.r.passed {
            paint(colour, Paint::Green, "ok  ")
        } else {
            paint(colour, Paint::Red, "FAIL")
        };
        let _ = writeln!(o, "  {mark} {}: {}", c.r.name, verdict(c));
    }
    for n in &s.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let _ = writeln!(o, "  outputs in {}", out.display());
    let _ = writeln!(o, "{}", verdict_line(s, colour));
    o
}

/// A progress bar on stderr: drawn only on a terminal, and only once the run has taken a
/// second, with the estimated time left.
pub struct Progress {
    on: bool,
    start: Instant,
    last: Option<Instant>,
    name: String,
}

impl Progress {
    pub fn new(name: &str, quiet: bool) -> Progress {
        Progress {
            on: !quiet && std::io::stderr().is_terminal(),
            start: Instant::now(),
            last: None,
            name: name.to_string(),
        }
    }

    /// `done` is the fraction of simulated time run, 0 to 1.
    pub fn update(&mut self, done: f64) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        let elapsed = now - self.start;
        if elapsed < Duration::from_secs(1)
            || self
                .last
                .is_some_and(|l| now - l < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let _ = write!(std::io::stderr(), "\r{}", bar(&self.name, done, elapsed));
    }

    /// Clears the bar's line, if one was drawn.
    pub fn finish(&self) {
        if self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `[#######.........]  42% of NAME, 12 s left`.
pub fn bar(name: &str, done: f64, elapsed: Duration) -> String {
    let done = done.clamp(0.0, 1.0);
    let filled = (done * 30.0).round() as usize;
    let left = if done > 0.0 {
        let secs = elapsed.as_secs_f64() * (1.0 - done) / done;
        format!("{:.0} s left", secs.ceil())
    } else {
        "estimating".into()
    };
    format!(
        "[{}{}] {:>3.0}% of {name}, {left} ",
        "#".repeat(filled),
        ".".repeat(30 - filled),
        done * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".as_ref())));
        assert!(!use_colour(true, Some("1".as_ref())));
        assert!(!use_colour(false, None));
    }

    #[test]
    fn totals_are_grouped_and_wrapped() {
        let mut t = BTreeMap::new();
        for i in 0..40 {
            t.insert(format!("proxy_counter_{i:02}"), 1_000_000 + i);
        }
        t.insert("pods_created".into(), 41);
        t.insert("pods_idle".into(), 0);
        let s = totals(&t);
        assert!(s.lines().all(|l| l.len() <= WIDTH), "{s}");
        assert!(
            s.starts_with("  pods:  created=41\n  proxy: counter_00=1,000,000 "),
            "{s}"
        );
        assert!(!s.contains("idle"));
        assert!(s.lines().count() > 2);
    }

    #[test]
    fn the_bar_estimates_what_is_left() {
        let b = bar("x", 0.25, Duration::from_secs(3));
        assert!(b.contains(" 25% of x, 9 s left"), "{b}");
        assert!(b.starts_with("[########......"), "{b}");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(7199814), "7,199,814");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }
}
