//! `--set` into a list: a path may step into a list by a position, as cascade's own error
//! paths name a list's entries (`services.page.calls.2.timeoutSeconds=0.25` sets one call's
//! timeout and keeps the others). The rest of the path is set as `params::set_path` sets it;
//! a path without a list in it goes to `set_path` unchanged. docs/retry-defences.md#fan-out

use crate::params::set_path;
use serde_json::Value;

/// Sets `path` to `value` in `tree`, stepping into lists by position. An error is a
/// 1-based column inside `PATH=VALUE` (at the offending segment) and its message.
pub(super) fn set_in_tree(
    tree: &mut Value,
    path: &str,
    value: &str,
) -> Result<(), (usize, String)> {
    let parts: Vec<&str> = path.split('.').collect();
    // The segments that exist, up to just past the last position in a list.
    let mut node = &*tree;
    let mut past_list = None;
    let mut column = 1;
    for (j, part) in parts.iter().enumerate() {
        match node {
            Value::Array(items) => {
                let list = parts[..j].join(".");
                let expected = match items.len() {
                    0 => "it is empty".to_string(),
                    n => format!("expected a position from 0 to {}", n - 1),
                };
                let Ok(ix) = part.parse::<usize>() else {
                    return Err((
                        column,
                        format!("--set {path}={value}: {list} is a list: {expected}, not {part:?}"),
                    ));
                };
                let Some(item) = items.get(ix) else {
                    return Err((
                        column,
                        format!(
                            "--set {path}={value}: {list} has {} entries: position {ix} is out of range ({expected})",
                            items.len()
                        ),
                    ));
                };
                node = item;
                past_list = Some(j + 1);
            }
            Value::Object(map) => match map.get(*part) {
                Some(next) => node = next,
                None => break,
            },
            _ => break,
        }
        column += part.len() + 1;
    }
    let Some(k) = past_list else {
        return set_path(tree, path, value).map_err(|e| (1, e));
    };
    let mut target = tree;
    for part in &parts[..k] {
        target = match target {
            Value::Array(items) => &mut items[part.parse::<usize>().unwrap_or(0)],
            other => &mut other[*part],
        };
    }
    if k == parts.len() {
        // The whole entry: `calls.2={service: x, timeoutSeconds: 1}`.
        *target = serde_yaml_ng::from_str(value).map_err(|e| {
            (
                path.len() + 2,
                format!("--set {path}={value}: cannot read the value: {e}"),
            )
        })?;
        return Ok(());
    }
    let rest = parts[k..].join(".");
    set_path(target, &rest, value).map_err(|e| {
        (
            1,
            e.replacen(&format!("--set {rest}="), &format!("--set {path}="), 1),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree() -> Value {
        json!({"services": {"page": {"fanOut": "parallel", "calls": [
            {"service": "catalog", "timeoutSeconds": 15},
            {"service": "recommendations", "timeoutSeconds": 15, "optional": true},
        ]}}})
    }

    #[test]
    fn a_position_sets_one_entry_and_keeps_the_others() {
        let mut t = tree();
        set_in_tree(&mut t, "services.page.calls.1.timeoutSeconds", "0.25").unwrap();
        let calls = &t["services"]["page"]["calls"];
        assert_eq!(calls[1]["timeoutSeconds"], json!(0.25));
        assert_eq!(calls[1]["optional"], json!(true));
        assert_eq!(
            calls[0],
            json!({"service": "catalog", "timeoutSeconds": 15})
        );
        // A new field of an entry, and a whole entry.
        set_in_tree(
            &mut t,
            "services.page.calls.0.backoff.initialSeconds",
            "0.1",
        )
        .unwrap();
        assert_eq!(calls_of(&t)[0]["backoff"]["initialSeconds"], json!(0.1));
        set_in_tree(&mut t, "services.page.calls.0", "{service: cart}").unwrap();
        assert_eq!(calls_of(&t)[0], json!({"service": "cart"}));
        // Without a list on the way, as before: a whole list replaced.
        set_in_tree(&mut t, "services.page.calls", "[{service: cart}]").unwrap();
        assert_eq!(calls_of(&t).as_array().unwrap().len(), 1);
    }

    fn calls_of(t: &Value) -> &Value {
        &t["services"]["page"]["calls"]
    }

    #[test]
    fn a_position_out_of_range_or_not_a_number_is_an_error_at_it() {
        let mut t = tree();
        let (column, message) =
            set_in_tree(&mut t, "services.page.calls.2.timeoutSeconds", "1").unwrap_err();
        assert_eq!(column, "services.page.calls.".len() + 1);
        assert_eq!(
            message,
            "--set services.page.calls.2.timeoutSeconds=1: services.page.calls has 2 entries: position 2 is out of range (expected a position from 0 to 1)"
        );
        let (column, message) =
            set_in_tree(&mut t, "services.page.calls.last.timeoutSeconds", "1").unwrap_err();
        assert_eq!(column, "services.page.calls.".len() + 1);
        assert!(
            message.ends_with(
                "services.page.calls is a list: expected a position from 0 to 1, not \"last\""
            ),
            "{message}"
        );
        assert_eq!(t, tree(), "nothing set");
    }
}
