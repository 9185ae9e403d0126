//! Units of measurement and quantities.
//!
//! Every number qbench handles is a [`Quantity`]: a value with its [`Unit`]. A unit is a
//! symbol, a factor to the coherent SI unit and a [`Dimension`] (exponents of length, mass,
//! time, electric current, temperature and a detector's digital numbers). Conversions between units of the same dimension
//! are automatic; mixing dimensions is an error the caller reports.
//!
//! Unit symbols are parsed from text such as `mL`, `L/min`, `hPa/(L/s)`, `/min`, `mL/hPa`
//! or `mm Al`. The atoms known are listed in [`ATOMS`]. Temperatures in °C are treated as
//! intervals (no offset): qbench records ambient temperatures but never converts them to
//! kelvin, so the distinction never matters.
//!
//! This module does no I/O.

mod parse;

pub use parse::{parse_quantity, parse_unit};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// Exponents of the base dimensions: length, mass, time, electric current, temperature, and
/// the digital number (DN) a detector's analogue-to-digital converter counts in. DN is its own
/// dimension, not a pure number: a pixel value can be compared with a pixel value, never with a
/// percentage, and a detector's response reads in DN/µGy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Dimension(pub [i8; 6]);

impl Dimension {
    /// The dimension of a pure number (ratios, percentages, counts).
    pub const NONE: Dimension = Dimension([0; 6]);

    /// This dimension raised to an integer power.
    pub fn powi(self, n: i8) -> Dimension {
        Dimension(self.0.map(|e| e * n))
    }

    /// Whether this is the dimension of a pure number.
    pub fn is_none(self) -> bool {
        self == Dimension::NONE
    }

    /// A readable name for error messages ("volume", "pressure", or the exponents).
    pub fn describe(self) -> String {
        const NAMED: &[([i8; 6], &str)] = &[
            ([0, 0, 0, 0, 0, 0], "dimensionless"),
            ([3, 0, 0, 0, 0, 0], "volume"),
            ([3, 0, -1, 0, 0, 0], "flow"),
            ([-1, 1, -2, 0, 0, 0], "pressure"),
            ([0, 0, 1, 0, 0, 0], "time"),
            ([0, 0, -1, 0, 0, 0], "rate"),
            ([1, 0, 0, 0, 0, 0], "length"),
            ([4, -1, 2, 0, 0, 0], "compliance"),
            ([-4, 1, -1, 0, 0, 0], "resistance"),
            ([2, 1, -3, -1, 0, 0], "voltage"),
            ([0, 0, 0, 1, 0, 0], "current"),
            ([0, 0, 1, 1, 0, 0], "charge"),
            ([2, 0, -2, 0, 0, 0], "dose"),
            ([2, 0, -3, 0, 0, 0], "dose rate"),
            ([0, 0, 0, 0, 1, 0], "temperature"),
            ([0, 0, 0, 0, 0, 1], "pixel value"),
            ([-2, 0, 2, 0, 0, 1], "pixel value per dose"),
        ];
        NAMED
            .iter()
            .find(|(d, _)| *d == self.0)
            .map(|(_, n)| (*n).to_string())
            .unwrap_or_else(|| {
                let names = ["m", "kg", "s", "A", "K", "DN"];
                let parts: Vec<String> = self
                    .0
                    .iter()
                    .zip(names)
                    .filter(|(e, _)| **e != 0)
                    .map(|(e, n)| format!("{n}^{e}"))
                    .collect();
                parts.join("·")
            })
    }
}

impl std::ops::Mul for Dimension {
    type Output = Dimension;

    /// The dimension of a product: exponents add.
    #[allow(clippy::suspicious_arithmetic_impl)]
    fn mul(self, other: Dimension) -> Dimension {
        let mut out = self.0;
        for (o, b) in out.iter_mut().zip(other.0) {
            *o += b;
        }
        Dimension(out)
    }
}

impl std::ops::Div for Dimension {
    type Output = Dimension;

    /// The dimension of a quotient: exponents subtract.
    fn div(self, other: Dimension) -> Dimension {
        self * other.powi(-1)
    }
}

/// A unit: the symbol as written, its factor to the coherent SI unit, and its dimension.
///
/// The symbol is shared (`Arc<str>`): units are copied into every sample, value and limit a
/// run handles, and a copy then costs a reference count, not an allocation. It serialises as
/// the plain symbol string.
#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    symbol: Arc<str>,
    factor: f64,
    dimension: Dimension,
}

impl Unit {
    /// Builds a unit from its parts; prefer [`parse_unit`] for symbols a person wrote.
    pub fn new(symbol: impl Into<Arc<str>>, factor: f64, dimension: Dimension) -> Unit {
        Unit {
            symbol: symbol.into(),
            factor,
            dimension,
        }
    }

    /// The unit of a pure number, written as an empty symbol.
    pub fn one() -> Unit {
        Unit::new("", 1.0, Dimension::NONE)
    }

    /// The symbol as written (`mL`, `L/min`).
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The factor that converts a value in this unit to the coherent SI unit.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The dimension of this unit.
    pub fn dimension(&self) -> Dimension {
        self.dimension
    }

    /// Whether values in `other` can be converted to this unit.
    pub fn is_compatible(&self, other: &Unit) -> bool {
        self.dimension == other.dimension
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.symbol)
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.symbol)
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Unit, D::Error> {
        let text = String::deserialize(d)?;
        parse_unit(&text).map_err(serde::de::Error::custom)
    }
}

/// A value with its unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The number, in `unit`.
    pub value: f64,
    /// The unit `value` is expressed in.
    pub unit: Unit,
}

impl Quantity {
    /// A quantity of `value` in `unit`.
    pub fn new(value: f64, unit: Unit) -> Quantity {
        Quantity { value, unit }
    }

    /// The value expressed in the coherent SI unit of its dimension.
    pub fn si_value(&self) -> f64 {
        self.value * self.unit.factor
    }

    /// The dimension of this quantity.
    pub fn dimension(&self) -> Dimension {
        self.unit.dimension
    }

    /// This quantity expressed in `unit`, or an error when the dimensions differ.
    pub fn to_unit(&self, unit: &Unit) -> Result<Quantity, UnitError> {
        if !self.unit.is_compatible(unit) {
            return Err(UnitError::Incompatible {
                from: self.unit.symbol.to_string(),
                from_dimension: self.unit.dimension.describe(),
                to: unit.symbol.to_string(),
                to_dimension: unit.dimension.describe(),
            });
        }
        Ok(Quantity::new(self.si_value() / unit.factor, unit.clone()))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.unit.symbol.is_empty() {
            write!(f, "{}", self.value)
        } else {
            write!(f, "{} {}", self.value, self.unit.symbol)
        }
    }
}

/// Errors in unit symbols and conversions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitError {
    /// A symbol that is not a known unit.
    #[error("unknown unit `{symbol}`")]
    Unknown {
        /// The unknown symbol.
        symbol: String,
    },
    /// A unit expression that does not parse.
    #[error("malformed unit `{text}`: {reason}")]
    Malformed {
        /// The text as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A quantity literal without a readable number.
    #[error("`{text}` is not a quantity (expected a number and a unit, such as `500 mL`)")]
    NotAQuantity {
        /// The text as written.
        text: String,
    },
    /// A conversion between units of different dimensions.
    #[error("cannot convert {from} ({from_dimension}) to {to} ({to_dimension})")]
    Incompatible {
        /// The source unit.
        from: String,
        /// The source unit's dimension.
        from_dimension: String,
        /// The target unit.
        to: String,
        /// The target unit's dimension.
        to_dimension: String,
    },
}

/// Builds a dimension from exponents of m, kg, s, A, K (no DN).
const fn dim(l: i8, m: i8, t: i8, i: i8, k: i8) -> Dimension {
    Dimension([l, m, t, i, k, 0])
}

/// The dimension of a detector's pixel values (digital numbers).
const PIXEL_VALUE: Dimension = Dimension([0, 0, 0, 0, 0, 1]);

const PRESSURE: Dimension = dim(-1, 1, -2, 0, 0);
const VOLTAGE: Dimension = dim(2, 1, -3, -1, 0);

/// The unit atoms qbench knows: symbol, factor to SI, dimension. Composite units are built
/// from these with `/`, `*`, `·`, `^` and parentheses.
pub const ATOMS: &[(&str, f64, Dimension)] = &[
    ("1", 1.0, Dimension::NONE),
    ("%", 0.01, Dimension::NONE),
    ("ppm", 1e-6, Dimension::NONE),
    ("m", 1.0, dim(1, 0, 0, 0, 0)),
    ("cm", 1e-2, dim(1, 0, 0, 0, 0)),
    ("mm", 1e-3, dim(1, 0, 0, 0, 0)),
    ("µm", 1e-6, dim(1, 0, 0, 0, 0)),
    ("um", 1e-6, dim(1, 0, 0, 0, 0)),
    ("mm Al", 1e-3, dim(1, 0, 0, 0, 0)),
    ("mmAl", 1e-3, dim(1, 0, 0, 0, 0)),
    ("L", 1e-3, dim(3, 0, 0, 0, 0)),
    ("l", 1e-3, dim(3, 0, 0, 0, 0)),
    ("mL", 1e-6, dim(3, 0, 0, 0, 0)),
    ("ml", 1e-6, dim(3, 0, 0, 0, 0)),
    ("s", 1.0, dim(0, 0, 1, 0, 0)),
    ("ms", 1e-3, dim(0, 0, 1, 0, 0)),
    ("µs", 1e-6, dim(0, 0, 1, 0, 0)),
    ("us", 1e-6, dim(0, 0, 1, 0, 0)),
    ("min", 60.0, dim(0, 0, 1, 0, 0)),
    ("h", 3600.0, dim(0, 0, 1, 0, 0)),
    ("Hz", 1.0, dim(0, 0, -1, 0, 0)),
    ("g", 1e-3, dim(0, 1, 0, 0, 0)),
    ("kg", 1.0, dim(0, 1, 0, 0, 0)),
    ("Pa", 1.0, PRESSURE),
    ("hPa", 100.0, PRESSURE),
    ("kPa", 1000.0, PRESSURE),
    ("mbar", 100.0, PRESSURE),
    ("bar", 1e5, PRESSURE),
    ("cmH2O", 98.0665, PRESSURE),
    ("mmHg", 133.322_387_415, PRESSURE),
    ("A", 1.0, dim(0, 0, 0, 1, 0)),
    ("mA", 1e-3, dim(0, 0, 0, 1, 0)),
    ("µA", 1e-6, dim(0, 0, 0, 1, 0)),
    ("uA", 1e-6, dim(0, 0, 0, 1, 0)),
    ("As", 1.0, dim(0, 0, 1, 1, 0)),
    ("mAs", 1e-3, dim(0, 0, 1, 1, 0)),
    ("C", 1.0, dim(0, 0, 1, 1, 0)),
    ("V", 1.0, VOLTAGE),
    ("kV", 1e3, VOLTAGE),
    ("Gy", 1.0, dim(2, 0, -2, 0, 0)),
    ("mGy", 1e-3, dim(2, 0, -2, 0, 0)),
    ("µGy", 1e-6, dim(2, 0, -2, 0, 0)),
    ("uGy", 1e-6, dim(2, 0, -2, 0, 0)),
    ("nGy", 1e-9, dim(2, 0, -2, 0, 0)),
    ("J", 1.0, dim(2, 1, -2, 0, 0)),
    ("W", 1.0, dim(2, 1, -3, 0, 0)),
    ("K", 1.0, dim(0, 0, 0, 0, 1)),
    ("°C", 1.0, dim(0, 0, 0, 0, 1)),
    ("degC", 1.0, dim(0, 0, 0, 0, 1)),
    ("DN", 1.0, PIXEL_VALUE),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Quantity {
        parse_quantity(text).unwrap()
    }

    #[test]
    fn converts_between_compatible_units() {
        let v = q("0.5 L").to_unit(&parse_unit("mL").unwrap()).unwrap();
        assert!((v.value - 500.0).abs() < 1e-9);
        let p = q("10 cmH2O").to_unit(&parse_unit("hPa").unwrap()).unwrap();
        assert!((p.value - 9.80665).abs() < 1e-9);
        let f = q("60 L/min").to_unit(&parse_unit("mL/s").unwrap()).unwrap();
        assert!((f.value - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn refuses_incompatible_units() {
        let err = q("500 mL")
            .to_unit(&parse_unit("hPa").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("volume"), "{err}");
        assert!(err.to_string().contains("pressure"), "{err}");
    }

    #[test]
    fn pixel_values_are_their_own_dimension() {
        let dn = parse_unit("DN").unwrap();
        assert_eq!(dn.dimension().describe(), "pixel value");
        // A pixel value is not a pure number: never compared with one, nor with a percentage.
        for other in ["", "%", "1"] {
            let err = q("20 DN").to_unit(&parse_unit(other).unwrap()).unwrap_err();
            assert!(err.to_string().contains("pixel value"), "{err}");
        }
        let response = parse_unit("DN/µGy").unwrap();
        assert_eq!(response.dimension().describe(), "pixel value per dose");
        let variance = parse_unit("DN^2").unwrap();
        assert_eq!(variance.dimension(), dn.dimension().powi(2));
        let v = q("1500 DN/µGy")
            .to_unit(&parse_unit("DN/mGy").unwrap())
            .unwrap();
        assert!((v.value - 1.5e6).abs() < 1e-3, "{v:?}");
    }

    #[test]
    fn composite_units_have_the_right_dimension() {
        assert_eq!(
            parse_unit("mL/hPa").unwrap().dimension().describe(),
            "compliance"
        );
        assert_eq!(
            parse_unit("hPa/(L/s)").unwrap().dimension().describe(),
            "resistance"
        );
        assert_eq!(parse_unit("/min").unwrap().dimension().describe(), "rate");
        assert_eq!(
            parse_unit("mGy/s").unwrap().dimension().describe(),
            "dose rate"
        );
    }
}
