//! Kubernetes resource quantities ("500m", "15Gi", "1.5", "1e3"), parsed as
//! k8s.io/apimachinery/pkg/api/resource.ParseQuantity does, and converted to integers exactly as
//! `Quantity.Value()` and `Quantity.MilliValue()` do: rounding up to the next whole unit.
//!
//! Grammar (apimachinery resource/quantity.go):
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | <sign><number>
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
//! ```

use std::fmt;

/// A parsed quantity: `sign * mantissa * 10^exp10 * 2^exp2`, exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuantityError {
    /// Not of the quantity grammar; Kubernetes' own message is "quantities must match the
    /// regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".
    Syntax,
    /// Too many digits, or a value beyond what cascade's 64-bit accounting holds.
    OutOfRange,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantityError::Syntax => f.write_str(
                "a quantity such as \"500m\", \"2\", \"1.5\", \"15Gi\" or \"1e3\" \
                 (quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$')",
            ),
            QuantityError::OutOfRange => f.write_str("a quantity within 64-bit range"),
        }
    }
}

impl Quantity {
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let b = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            negative = b[i] == b'-';
            i += 1;
        }
        let mut mantissa: u128 = 0;
        let mut digits = 0usize;
        let mut frac_digits = 0i32;
        let mut seen_dot = false;
        let num_start = i;
        while i < b.len() {
            match b[i] {
                c @ b'0'..=b'9' => {
                    // Leading zeros do not count towards precision.
                    if mantissa != 0 || c != b'0' {
                        digits += 1;
                        if digits > 38 {
                            return Err(QuantityError::OutOfRange);
                        }
                    }
                    mantissa = mantissa * 10 + u128::from(c - b'0');
                    if seen_dot {
                        frac_digits += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => break,
            }
            i += 1;
        }
        let number = &b[num_start..i];
        if number.is_empty() || number == b"." {
            return Err(QuantityError::Syntax);
        }
        let suffix = &s[i..];
        let (exp10, exp2) = match suffix {
            "" => (0, 0),
            "n" => (-9, 0),
            "u" => (-6, 0),
            "m" => (-3, 0),
            "k" => (3, 0),
            "M" => (6, 0),
            "G" => (9, 0),
            "T" => (12, 0),
            "P" => (15, 0),
            "E" => (18, 0),
            "Ki" => (0, 10),
            "Mi" => (0, 20),
            "Gi" => (0, 30),
            "Ti" => (0, 40),
            "Pi" => (0, 50),
            "Ei" => (0, 60),
            _ if suffix.starts_with(['e', 'E']) => {
                let e = &suffix[1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(QuantityError::Syntax);
                }
                let v: i32 = e.parse().map_err(|_| QuantityError::OutOfRange)?;
                if !(-60..=60).contains(&v) {
                    return Err(QuantityError::OutOfRange);
                }
                (v, 0)
            }
            _ => return Err(QuantityError::Syntax),
        };
        Ok(Quantity {
            negative: negative && mantissa != 0,
            mantissa,
            exp10: exp10 - frac_digits,
            exp2,
        })
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value in units of `10^scale10`, rounded away from zero as inf.Dec's RoundUp does
    /// (MilliValue is `scale10 = -3`, Value is `scale10 = 0`).
    fn scaled(&self, scale10: i32) -> Result<i64, QuantityError> {
        let mut num = self.mantissa;
        let mut den: u128 = 1;
        let shift = self.exp10 - scale10;
        let pow = |n: i32| -> Result<u128, QuantityError> {
            10u128
                .checked_pow(n as u32)
                .ok_or(QuantityError::OutOfRange)
        };
        if shift >= 0 {
            num = num
                .checked_mul(pow(shift)?)
                .ok_or(QuantityError::OutOfRange)?;
        } else {
            den = pow(-shift)?;
        }
        num = num
            .checked_mul(1u128 << self.exp2)
            .ok_or(QuantityError::OutOfRange)?;
        let v = num.div_ceil(den);
        let v = i64::try_from(v).map_err(|_| QuantityError::OutOfRange)?;
        Ok(if self.negative { -v } else { v })
    }

    /// Quantity.Value(): whole units, rounded up ("1.5" bytes is 2).
    pub fn value(&self) -> Result<i64, QuantityError> {
        self.scaled(0)
    }

    /// Quantity.MilliValue(): thousandths, rounded up ("0.0001" CPU is 1m).
    pub fn milli_value(&self) -> Result<i64, QuantityError> {
        self.scaled(-3)
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn milli(s: &str) -> i64 {
        Quantity::parse(s).unwrap().milli_value().unwrap()
    }
    fn value(s: &str) -> i64 {
        Quantity::parse(s).unwrap().value().unwrap()
    }

    #[test]
    fn cpu_quantities() {
        assert_eq!(milli("500m"), 500);
        assert_eq!(milli("2"), 2000);
        assert_eq!(milli("1.5"), 1500);
        assert_eq!(milli("0.1"), 100);
        assert_eq!(milli(".5"), 500);
        assert_eq!(milli("1."), 1000);
        assert_eq!(milli("100u"), 1); // rounds up to a whole millicore
        assert_eq!(milli("1n"), 1);
        assert_eq!(milli("0"), 0);
        assert_eq!(milli("+4"), 4000);
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(value("15Gi"), 15 * (1 << 30));
        assert_eq!(value("128974848"), 128_974_848);
        assert_eq!(value("129e6"), 129_000_000);
        assert_eq!(value("129M"), 129_000_000);
        assert_eq!(value("123Mi"), 123 * (1 << 20));
        assert_eq!(value("1.5Ki"), 1536);
        assert_eq!(value("1k"), 1000);
        assert_eq!(value("1E"), 1_000_000_000_000_000_000);
        assert_eq!(value("1E3"), 1000);
        assert_eq!(value("1e-1"), 1); // 0.1 rounds up
        assert_eq!(value("500m"), 1);
    }

    #[test]
    fn rejects_what_kubernetes_rejects() {
        for bad in [
            "", ".", "m", "1.2.3", "12 Gi", "1GB", "1gi", "Gi", "1e", "1e+", "1Kib", "- 1", "abc",
            "1ki", "0x10",
        ] {
            assert_eq!(
                Quantity::parse(bad),
                Err(QuantityError::Syntax),
                "{bad:?} should not parse"
            );
        }
        assert_eq!(
            Quantity::parse("100Ei").unwrap().value(),
            Err(QuantityError::OutOfRange)
        );
    }

    proptest! {
        #[test]
        fn integer_millicores_round_trip(m in 0i64..1_000_000_000) {
            prop_assert_eq!(milli(&format!("{m}m")), m);
            prop_assert_eq!(milli(&format!("{m}")), m * 1000);
        }

        #[test]
        fn binary_suffixes_scale_exactly(v in 0i64..1_000_000, s in 0usize..4) {
            let (suffix, shift) = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40)][s];
            prop_assert_eq!(value(&format!("{v}{suffix}")), v << shift);
        }

        #[test]
        fn decimal_fractions_round_up(int in 0i64..1000, frac in 0u32..10_000) {
            // int.frac as CPU: millicores are ceil(int*1000 + frac/10).
            let s = format!("{int}.{frac:04}");
            prop_assert_eq!(milli(&s), int * 1000 + (i64::from(frac) + 9) / 10);
        }

        #[test]
        fn never_panics(s in "\\PC{0,12}") {
            if let Ok(q) = Quantity::parse(&s) {
                let _ = q.value();
                let _ = q.milli_value();
            }
        }
    }
}

/// A memory amount written as a Kubernetes quantity ("512Mi", "1.5Gi", 1000000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bytes(pub i64);

impl<'de> serde::Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(d)?;
        let s = match &v {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            _ => {
                return Err(serde::de::Error::custom(
                    "expected a quantity such as \"512Mi\"",
                ))
            }
        };
        Quantity::parse(&s)
            .and_then(|q| q.value())
            .map(Bytes)
            .map_err(|e| serde::de::Error::custom(format!("invalid quantity {s:?}: expected {e}")))
    }
}

impl serde::Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

/// The pattern of a quantity written as a string, the grammar above as [`Quantity::parse`]
/// reads it (the JSON Schema of scenario files uses it; a test checks the two agree).
pub const QUANTITY_PATTERN: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$";

impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Kubernetes quantity: a number, or a string such as \"500m\", \"512Mi\", \"1.5Gi\", \"1e3\".",
            "anyOf": [
                { "type": "number" },
                { "type": "string", "pattern": QUANTITY_PATTERN }
            ]
        })
    }
}

/// A memory amount is written as any quantity.
impl schemars::JsonSchema for Bytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        g.subschema_for::<Quantity>()
    }
}
