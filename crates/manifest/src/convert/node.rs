//! Node: allocatable (or capacity), labels, taints, unschedulable.

use super::*;

pub fn node(n: &core::Node, path: &Path) -> Result<Node> {
    let name = name_of(&n.metadata, path)?;
    let status = n.status.as_ref();
    let st = path.key("status");
    // The scheduler reads allocatable; a hand-written node may give only capacity.
    let (allocatable, scalar_allocatable) = match status.and_then(|s| s.allocatable.as_ref()) {
        Some(a) => resource_list(Some(a), &st.key("allocatable"), ListOf::Other)?,
        None => match status.and_then(|s| s.capacity.as_ref()) {
            Some(c) => resource_list(Some(c), &st.key("capacity"), ListOf::Other)?,
            None => {
                return Err(PathError::new(
                    path.clone(),
                    format!("node {name}: expected status.allocatable (or status.capacity) with cpu, memory and pods"),
                ))
            }
        },
    };
    let mut taints = Vec::new();
    let spec = n.spec.as_ref();
    for (i, t) in spec
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = path.key("spec").key("taints").idx(i);
        if t.key.is_empty() {
            return Err(PathError::new(p, "expected a taint key"));
        }
        taints.push(Taint {
            key: t.key.clone(),
            value: t.value.clone().unwrap_or_default(),
            effect: taint_effect(&t.effect, &p.key("effect"))?,
            time_added: t.time_added.as_ref().map(millis),
        });
    }
    Ok(Node {
        name,
        labels: n.metadata.labels.clone().unwrap_or_default(),
        allocatable,
        scalar_allocatable,
        taints,
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
    })
}
