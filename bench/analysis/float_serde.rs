//! Serde for numbers that may be infinite: JSON has no infinity, and serde_json would write
//! `null`, which reads back as an error (for `f64`) or as "absent" (for `Option<f64>`) and
//! would change the meaning of a stored decision. Finite values are written as numbers;
//! infinities as the strings `"inf"` and `"-inf"`, NaN as `"nan"`. Reading also accepts
//! `"infinite"` and `"∞"`.

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

fn write<S: Serializer>(value: f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(value)
    } else if value.is_nan() {
        s.serialize_str("nan")
    } else if value > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

struct Float;

impl Visitor<'_> for Float {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, \"inf\", \"-inf\" or \"nan\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "inf" | "infinite" | "∞" | "+inf" => Ok(f64::INFINITY),
            "-inf" | "-infinite" | "-∞" => Ok(f64::NEG_INFINITY),
            "nan" | "NaN" => Ok(f64::NAN),
            other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }
}

/// For `f64` fields: `#[serde(with = "float")]`.
pub(crate) mod float {
    use super::*;

    pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        write(*value, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(Float)
    }
}

/// For `Option<f64>` fields: `#[serde(with = "option_float")]`; `None` is `null`.
pub(crate) mod option_float {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => write(*v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        struct OptionFloat;
        impl<'de> Visitor<'de> for OptionFloat {
            type Value = Option<f64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null, a number, \"inf\", \"-inf\" or \"nan\"")
            }
            fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
                d.deserialize_any(Float).map(Some)
            }
        }
        d.deserialize_option(OptionFloat)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "super::float")]
        a: f64,
        #[serde(with = "super::option_float", default)]
        b: Option<f64>,
    }

    #[test]
    fn infinities_survive_json() {
        for (a, b) in [
            (1.5, Some(f64::INFINITY)),
            (f64::NEG_INFINITY, None),
            (f64::INFINITY, Some(-2.0)),
            (0.0, Some(f64::NEG_INFINITY)),
        ] {
            let json = serde_json::to_string(&Sample { a, b }).unwrap();
            let back: Sample = serde_json::from_str(&json).unwrap();
            assert_eq!(back, Sample { a, b }, "{json}");
        }
        let json = serde_json::to_string(&Sample {
            a: f64::NAN,
            b: None,
        })
        .unwrap();
        assert_eq!(json, r#"{"a":"nan","b":null}"#);
        let back: Sample = serde_json::from_str(r#"{"a":"infinite"}"#).unwrap();
        assert_eq!(
            back,
            Sample {
                a: f64::INFINITY,
                b: None
            }
        );
        assert!(serde_json::from_str::<Sample>(r#"{"a":"lots"}"#).is_err());
    }
}
