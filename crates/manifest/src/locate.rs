//! Finds where a path (`spec.containers[0].resources.requests.cpu`) sits in a YAML file.
//!
//! Only called when there is an error to report, so that the fast path parses each file once.
//! Where the path does not exist (a missing field), it answers with the deepest node that does,
//! which is where the field was expected.

use crate::error::Seg;
use saphyr_parser::{Event, Parser, Span};

/// 1-based line and column of the node at `path` in document `doc` (0-based) of `text`.
pub fn locate(text: &str, doc: usize, path: &[Seg]) -> Option<(usize, usize)> {
    let mut parser = Parser::new_from_str(text);
    let mut events: Vec<(Event<'_>, Span)> = Vec::new();
    let mut docs_seen = 0usize;
    let mut inside = false;
    while let Some(Ok((ev, span))) = parser.next_event() {
        match ev {
            Event::DocumentStart(_) => {
                if docs_seen == doc {
                    inside = true;
                }
                docs_seen += 1;
            }
            Event::DocumentEnd if inside => break,
            Event::StreamEnd => break,
            _ if inside => events.push((ev, span)),
            _ => {}
        }
    }
    if events.is_empty() {
        return None;
    }
    let (_, found) = walk(&events, 0, path);
    let m = found.start;
    Some((m.line(), m.col() + 1))
}

/// Walks the node starting at `events[i]`; returns the index after it and the span of the
/// deepest node on `path`.
fn walk(events: &[(Event<'_>, Span)], i: usize, path: &[Seg]) -> (usize, Span) {
    let here = events[i].1;
    match (&events[i].0, path.first()) {
        (Event::MappingStart(..), Some(Seg::Key(want))) => {
            let mut j = i + 1;
            let mut best = here;
            while j < events.len() && !matches!(events[j].0, Event::MappingEnd) {
                let key_is_want = matches!(&events[j].0, Event::Scalar(k, ..) if k == want);
                let value_start = skip(events, j);
                if key_is_want && value_start < events.len() {
                    best = walk(events, value_start, &path[1..]).1;
                }
                j = skip(events, value_start);
            }
            (j + 1, best)
        }
        (Event::SequenceStart(..), Some(Seg::Index(want))) => {
            let mut j = i + 1;
            let mut n = 0;
            let mut best = here;
            while j < events.len() && !matches!(events[j].0, Event::SequenceEnd) {
                if n == *want {
                    best = walk(events, j, &path[1..]).1;
                }
                j = skip(events, j);
                n += 1;
            }
            (j + 1, best)
        }
        _ => (skip(events, i), here),
    }
}

/// The index just after the node starting at `events[i]`.
fn skip(events: &[(Event<'_>, Span)], i: usize) -> usize {
    let mut depth = 0i32;
    let mut j = i;
    while j < events.len() {
        match events[j].0 {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth -= 1,
            _ => {}
        }
        j += 1;
        if depth <= 0 {
            break;
        }
    }
    j
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    const TEXT: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: a
---
apiVersion: v1
kind: Pod
metadata:
  name: b
spec:
  containers:
  - name: c
    resources:
      requests:
        cpu: 2x
";

    #[test]
    fn finds_a_scalar_in_the_second_document() {
        let p = [
            key("spec"),
            key("containers"),
            Seg::Index(0),
            key("resources"),
            key("requests"),
            key("cpu"),
        ];
        assert_eq!(locate(TEXT, 1, &p), Some((15, 14)));
    }

    #[test]
    fn missing_field_points_at_its_parent() {
        assert_eq!(locate(TEXT, 0, &[key("spec")]), Some((1, 1)));
        assert_eq!(
            locate(TEXT, 1, &[key("spec"), key("containers"), Seg::Index(3)]),
            Some((12, 5))
        );
    }
}
