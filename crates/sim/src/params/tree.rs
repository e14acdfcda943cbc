//! Parameters as a JSON tree, before they are read into `Params`: `--set path=value`, a
//! scale model's laws (`spec.similarity`), and the merge of a variant's parameters over the
//! scenario's.

/// Sets `path` (dot-separated camelCase names, e.g. `kubelet.imagePullSeconds`) to `value`
/// (read as a YAML scalar) in a JSON tree of parameters.
pub fn set_path(tree: &mut serde_json::Value, path: &str, value: &str) -> Result<(), String> {
    let parsed: serde_json::Value = serde_yaml_ng::from_str(value)
        .map_err(|e| format!("--set {path}={value}: cannot read the value: {e}"))?;
    let mut node = tree;
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "--set {path}={value}: expected a dot-separated path such as kubelet.imagePullSeconds"
        ));
    }
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = serde_json::Value::Object(Default::default());
        }
        let map = node.as_object_mut().expect("object");
        if i + 1 == parts.len() {
            map.insert(part.to_string(), parsed);
            return Ok(());
        }
        node = map
            .entry(part.to_string())
            .or_insert(serde_json::Value::Null);
    }
    Ok(())
}

/// Applies a scale model to a tree of parameters: `generatorScale` times `s`, and each of
/// `laws` (a dot path and an exponent) times `s^exponent`; a whole-number parameter stays whole
/// (rounded, at least 1). Returns, for each law that names no numeric parameter, its index and
/// why.
pub fn apply_similarity(
    tree: &mut serde_json::Value,
    s: f64,
    laws: &[(&str, f64)],
) -> Vec<(usize, String)> {
    let mut errors = Vec::new();
    if let Some(g) = tree.get_mut("generatorScale") {
        if let Some(v) = g.as_f64() {
            *g = serde_json::json!(v * s);
        }
    }
    for (i, (path, exponent)) in laws.iter().enumerate() {
        let mut node = Some(&mut *tree);
        for part in path.split('.') {
            node = node.and_then(|n| n.get_mut(part));
        }
        let factor = s.powf(*exponent);
        match node {
            Some(v) if v.is_u64() => {
                let scaled = (v.as_f64().unwrap_or(0.0) * factor).round().max(1.0);
                *v = serde_json::json!(whole(scaled));
            }
            Some(v) if v.is_f64() || v.is_i64() => {
                *v = serde_json::json!(v.as_f64().unwrap_or(0.0) * factor);
            }
            Some(_) => errors.push((i, format!("{path} is not a number: only numeric parameters scale"))),
            None => errors.push((i, format!("no parameter {path}: expected a dot-separated path such as gossip.snapshot.maxBytes (see cascade params)"))),
        }
    }
    errors
}

/// A rounded, non-negative count as an integer.
#[allow(
    clippy::cast_possible_truncation,
    reason = "a scaled count of a parameter that was a u64; `as` saturates, and a count past 2^64 is refused when the parameter is read"
)]
fn whole(v: f64) -> u64 {
    v as u64
}

/// Merges `over` into `base` (objects key by key; anything else replaces; null leaves `base`).
pub fn merge(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (_, serde_json::Value::Null) => {}
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn similarity_scales_sizes_times_and_bandwidths_by_their_exponents() {
        let mut tree = serde_json::to_value(Params::default()).unwrap();
        let laws = [
            ("gossip.snapshot.maxBytes", 1.0),
            ("gossip.snapshot.bufferEvents", 1.0),
            ("gossip.snapshot.fsyncSeconds", -1.0),
            ("gossip.snapshot.writeBytesPerSecond", 2.0),
        ];
        assert!(apply_similarity(&mut tree, 0.1, &laws).is_empty());
        let p: Params = serde_json::from_value(tree).unwrap();
        let d = Params::default();
        assert!((p.generator_scale - 0.1).abs() < 1e-12);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
        assert!(close(
            p.gossip.snapshot.max_bytes,
            d.gossip.snapshot.max_bytes * 0.1
        ));
        assert_eq!(p.gossip.snapshot.buffer_events, 102, "1024 x 0.1, rounded");
        assert!(close(
            p.gossip.snapshot.fsync_seconds,
            d.gossip.snapshot.fsync_seconds * 10.0
        ));
        assert!(close(
            p.gossip.snapshot.write_bytes_per_second,
            d.gossip.snapshot.write_bytes_per_second * 0.01
        ));
        // What is not listed does not move.
        assert_eq!(p.gossip.handoff_queue_depth, d.gossip.handoff_queue_depth);
        let mut tree = serde_json::to_value(Params::default()).unwrap();
        let bad = apply_similarity(
            &mut tree,
            0.5,
            &[
                ("gossip.snapshot.maxByte", 1.0),
                ("gossip.handoffPolicy", 1.0),
            ],
        );
        assert_eq!(bad.len(), 2);
        assert!(bad[0].1.starts_with("no parameter gossip.snapshot.maxByte"));
        assert!(bad[1].1.contains("not a number"));
    }

    #[test]
    fn set_overrides_and_unknown_names_are_rejected() {
        let mut tree = serde_json::to_value(Params::default()).unwrap();
        set_path(&mut tree, "kubelet.imagePullSeconds", "30").unwrap();
        set_path(&mut tree, "scheduler.scoreWeights.taintToleration", "5").unwrap();
        let p: Params = serde_json::from_value(tree.clone()).unwrap();
        assert_eq!(p.kubelet.image_pull_seconds, 30.0);
        assert_eq!(p.scheduler.score_weights.taint_toleration, 5);
        set_path(&mut tree, "kubelet.imagePulSeconds", "30").unwrap();
        let err = serde_json::from_value::<Params>(tree)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `imagePulSeconds`"), "{err}");
    }
}
