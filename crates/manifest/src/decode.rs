//! From a parsed document to a typed value: serde's error path kept as a [`Path`] and its
//! wording made a YAML writer's, and resource quantities given as numbers read as Kubernetes
//! reads them.

use crate::{Path, PathError, Seg, Value};

/// Deserializes a document (a k8s-openapi type, a scenario), keeping the path of any error.
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, PathError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut path = Path::root();
        for seg in e.path().iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => path.0.push(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => path.0.push(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    path.0.push(Seg::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        let msg = mapping_wording(&strip_location(&e.inner().to_string()));
        PathError::new(
            path,
            format!("{msg} at {}", display_path(&e.path().to_string())),
        )
    })
}

fn display_path(p: &str) -> String {
    if p == "." {
        "the top level".to_string()
    } else {
        p.to_string()
    }
}

/// A sequence where a struct is expected: said as a mapping, the word a YAML writer uses
/// ("invalid type: sequence, expected a mapping (struct NodeGroup)").
pub fn mapping_wording(msg: &str) -> String {
    match msg.split_once("invalid type: sequence, expected struct ") {
        Some((before, name)) => {
            format!("{before}invalid type: sequence, expected a mapping (struct {name})")
        }
        None => msg.to_string(),
    }
}

/// serde_yaml_ng appends " at line L column C"; the diagnostic carries the position already.
pub(crate) fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Kubernetes' Quantity accepts a JSON/YAML number as well as a string (`cpu: 2`,
/// `memory: 1.5e9`), but k8s-openapi's Quantity is a string: turn numbers inside resource lists
/// into the strings Kubernetes would read them as.
pub(crate) fn quantities_as_strings(v: &mut Value, in_resource_list: bool) {
    match v {
        Value::Mapping(m) => {
            for (k, child) in m.iter_mut() {
                let is_list = matches!(
                    k.as_str(),
                    Some("requests" | "limits" | "allocatable" | "capacity" | "overhead")
                );
                if in_resource_list {
                    if let Value::Number(n) = child {
                        *child = Value::String(n.to_string());
                        continue;
                    }
                }
                quantities_as_strings(child, is_list);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(|c| quantities_as_strings(c, false)),
        Value::Tagged(t) => quantities_as_strings(&mut t.value, in_resource_list),
        _ => {}
    }
}
