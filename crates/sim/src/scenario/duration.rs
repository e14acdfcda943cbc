//! Durations as scenarios write them: seconds, or Go-style strings ("90s", "5m", "1h30m").

use serde::Deserialize;

/// A duration: seconds as a number, or a string such as "90s", "5m", "1h30m", "250ms".
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Duration(pub f64);

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n >= 0.0 && n.is_finite() => Ok(Duration(n)),
            Raw::Num(n) => Err(serde::de::Error::custom(format!("invalid duration {n}: expected a finite, non-negative number of seconds"))),
            Raw::Str(s) => parse_duration(&s).map(Duration).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid duration {s:?}: expected a number of seconds or a duration such as \"90s\", \"5m\", \"1h30m\""
                ))
            }),
        }
    }
}

/// The pattern of a duration written as a string, as [`parse_duration`] reads it: a
/// non-negative number of seconds, or number+unit pairs (the JSON Schema of scenario files
/// uses it; a test checks the two agree).
pub const DURATION_PATTERN: &str = r"^\s*(\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ms|h|m|s))+)\s*$";

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: seconds as a number, or a string such as \"90s\", \"5m\", \"1h30m\", \"250ms\".",
            "anyOf": [
                { "type": "number", "minimum": 0 },
                { "type": "string", "pattern": DURATION_PATTERN }
            ]
        })
    }
}

/// Go-style durations: a sequence of number+unit (h, m, s, ms).
pub fn parse_duration(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    // A sign is refused even on zero ("-0"): a duration is written without one.
    if s.starts_with('-') {
        return None;
    }
    // Rust reads "inf", "infinity" and "1e999" as infinite and "nan" as NaN: none is a
    // duration (the JSON Schema's pattern refuses the words; no JSON number is infinite).
    if let Ok(v) = s.parse::<f64>() {
        return (v >= 0.0 && v.is_finite()).then_some(v);
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if n_end == 0 {
            return None;
        }
        let n: f64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let (mult, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else {
            return None;
        };
        total += n * mult;
        rest = &rest[len..];
    }
    total.is_finite().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90.0));
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("250ms"), Some(0.25));
        assert_eq!(parse_duration("12"), Some(12.0));
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("-3"), None);
    }

    /// What the JSON Schema refuses the reader refuses: no infinite or NaN duration.
    #[test]
    fn infinite_and_nan_durations_are_refused_as_the_schema_refuses_them() {
        for s in ["inf", "+inf", "infinity", "Infinity", "nan", "NaN", "1e999"] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
        assert_eq!(parse_duration(&format!("{}h", "9".repeat(400))), None);
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(".inf").unwrap();
        let e = serde_yaml_ng::from_value::<Duration>(v)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected a finite, non-negative number of seconds"),
            "{e}"
        );
    }
}
