//! Label and node selectors, node affinity terms and tolerations.

use super::*;

pub(super) fn requirement(
    key: &str,
    op: &str,
    values: &[String],
    node: bool,
    path: &Path,
) -> Result<Requirement> {
    let k = key.to_string();
    let v = values.to_vec();
    let need_values = |r: Requirement| {
        if v.is_empty() {
            Err(PathError::new(
                path.key("values"),
                format!("operator {op} expected a non-empty values list"),
            ))
        } else {
            Ok(r)
        }
    };
    let int_bound = |p: &Path| -> Result<i64> {
        match values {
            [one] => one.parse::<i64>().map_err(|_| {
                PathError::new(
                    p.key("values").idx(0),
                    format!("operator {op} expected an integer value, got {one:?}"),
                )
            }),
            _ => Err(PathError::new(
                p.key("values"),
                format!("operator {op} expected exactly one value"),
            )),
        }
    };
    match op {
        "In" => need_values(Requirement::In(k, v.clone())),
        "NotIn" => need_values(Requirement::NotIn(k, v.clone())),
        "Exists" => Ok(Requirement::Exists(k)),
        "DoesNotExist" => Ok(Requirement::DoesNotExist(k)),
        "Gt" if node => Ok(Requirement::Gt(k, int_bound(path)?)),
        "Lt" if node => Ok(Requirement::Lt(k, int_bound(path)?)),
        other => Err(PathError::new(
            path.key("operator"),
            if node {
                format!("unsupported operator {other:?}: expected one of In, NotIn, Exists, DoesNotExist, Gt, Lt")
            } else {
                format!("unsupported operator {other:?}: expected one of In, NotIn, Exists, DoesNotExist")
            },
        )),
    }
}

pub fn label_selector(s: &meta::LabelSelector, path: &Path) -> Result<LabelSelector> {
    let mut reqs = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        reqs.push(Requirement::In(k.clone(), vec![v.clone()]));
    }
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let p = path.key("matchExpressions").idx(i);
        reqs.push(requirement(
            &e.key,
            &e.operator,
            e.values.as_deref().unwrap_or(&[]),
            false,
            &p,
        )?);
    }
    Ok(LabelSelector { requirements: reqs })
}

pub(super) fn node_selector_term(
    t: &core::NodeSelectorTerm,
    path: &Path,
) -> Result<NodeSelectorTerm> {
    let mut term = NodeSelectorTerm::default();
    for (i, e) in t.match_expressions.iter().flatten().enumerate() {
        let p = path.key("matchExpressions").idx(i);
        term.match_expressions.push(requirement(
            &e.key,
            &e.operator,
            e.values.as_deref().unwrap_or(&[]),
            true,
            &p,
        )?);
    }
    for (i, e) in t.match_fields.iter().flatten().enumerate() {
        let p = path.key("matchFields").idx(i);
        if e.key != "metadata.name" {
            return Err(PathError::new(
                p.key("key"),
                format!("unsupported field {:?}: expected metadata.name", e.key),
            ));
        }
        term.match_fields.push(requirement(
            &e.key,
            &e.operator,
            e.values.as_deref().unwrap_or(&[]),
            true,
            &p,
        )?);
    }
    Ok(term)
}

pub(super) fn toleration(t: &core::Toleration, path: &Path) -> Result<Toleration> {
    let operator = match t.operator.as_deref() {
        None | Some("") | Some("Equal") => TolerationOperator::Equal,
        Some("Exists") => TolerationOperator::Exists,
        Some(other) => {
            return Err(PathError::new(
                path.key("operator"),
                format!("unsupported toleration operator {other:?}: expected Equal or Exists"),
            ))
        }
    };
    let key = t.key.clone().unwrap_or_default();
    if key.is_empty() && operator != TolerationOperator::Exists {
        return Err(PathError::new(
            path.key("operator"),
            "a toleration with an empty key expected operator Exists",
        ));
    }
    let effect = match t.effect.as_deref() {
        None | Some("") => None,
        Some(e) => Some(taint_effect(e, &path.key("effect"))?),
    };
    Ok(Toleration {
        key,
        operator,
        value: t.value.clone().unwrap_or_default(),
        effect,
        toleration_seconds: t.toleration_seconds,
    })
}
