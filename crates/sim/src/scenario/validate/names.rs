//! Names: the message for a name that resolves to nothing (with the nearest known name
//! suggested), and the DNS-1123 labels that declared names must be.

use super::{declared, spec_path, Report};
use crate::scenario::Spec;

/// "no zone named "z-typo" (did you mean "zone-a"?): expected one of zone-a, zone-b".
pub fn unknown_name(what: &str, name: &str, known: &[&str]) -> String {
    let mut s = format!("no {what} named {name:?}");
    if let Some(best) = nearest(name, known) {
        s.push_str(&format!(" (did you mean {best:?}?)"));
    }
    if known.is_empty() {
        s.push_str(&format!(": the scenario has no {what}"));
    } else {
        s.push_str(": expected one of ");
        s.push_str(&listing(known));
    }
    s
}

/// The first names of a list, and how many there are in all when it is long.
pub(super) fn listing(names: &[&str]) -> String {
    const SHOWN: usize = 12;
    let mut s = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(", ... ({} in all)", names.len()));
    }
    s
}

/// The known name closest to `name`, when it is close enough to be a typo of it: within a
/// third of its length in edits (at least one edit).
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance by characters, a swap of two neighbours counting as one edit (optimal
/// string alignment: "kafak" is one edit from "kafka").
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The names that become metric names and report.html ids (services, rings, remote_write
/// fleets, clients) must be DNS-1123 labels, as Kubernetes requires of a Service's name: at
/// most 63 lowercase letters, digits and '-', starting and ending with a letter or digit.
pub(in crate::scenario) fn labels(r: &mut Report<'_>, spec: &Spec) {
    for (key, what, tree) in declared(spec) {
        let Some(names) = tree.as_object() else {
            continue;
        };
        for name in names.keys().filter(|n| !is_dns1123_label(n)) {
            r.error(
                &spec_path().key(key).key(name),
                format!("{what} name {name:?}: expected a DNS-1123 label (at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit), as it names metrics and report.html ids"),
            );
        }
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (1..=63).contains(&b.len())
        && b.iter().all(|c| inner(c) || *c == b'-')
        && inner(&b[0])
        && inner(&b[b.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_labels() {
        for ok in ["a", "kafka", "remote-write-2", "0", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Kafka",
            "a_b",
            "a.b",
            "<img>",
            &"a".repeat(64),
            "é",
        ] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
    }

    #[test]
    fn near_names_are_suggested() {
        assert_eq!(edit_distance("us-east-2z", "us-east-2a"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kafak", "kafka"), 1);
        assert_eq!(
            nearest("worker-99", &["worker-9", "master-0"]),
            Some("worker-9")
        );
        assert_eq!(nearest("z-typo", &["zone-a", "zone-b"]), None);
        assert_eq!(
            unknown_name("zone", "zone-x", &["zone-a", "zone-b"]),
            "no zone named \"zone-x\" (did you mean \"zone-a\"?): expected one of zone-a, zone-b"
        );
    }
}
