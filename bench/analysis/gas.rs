//! Gas standards: stating a flow or a volume at reference conditions (ATP, BTPS, STPD...).
//!
//! A volume of gas means little without its conditions: the same amount of dry gas fills
//! more volume warm, at low pressure, or carrying water vapour. A gas standard fixes a
//! temperature, a pressure and a humidity, each either a stated value or the ambient one
//! (measured in the room). Converting between two standards keeps the amount of dry gas:
//!
//! V₂ = V₁ · (T₂ / T₁) · (P₁ − p_w1) / (P₂ − p_w2)
//!
//! with absolute temperatures T, total pressures P and water-vapour partial pressures p_w
//! (0 for a dry standard, the saturation pressure at the standard's temperature for a
//! saturated one, the ambient relative humidity times it for a humid one). Flows convert
//! like volumes. The saturation pressure of water is the Magnus formula with the WMO
//! coefficients (6.112 hPa · exp(17.62 t / (243.12 + t)), t in °C), within 0.1 % of the
//! tables between 0 and 50 °C.
//!
//! The standards are those of IMT analyzers' setting 3, under the same short names
//! ([`crate::protocol::imt::GAS_STANDARDS`]), so what an analyzer reports can be converted.
//! The reference's worked figures hold: at 960 hPa, 28 °C and 50 % RH, 100 L/min at STP
//! reads about 110 L/min at ATP and 119 L/min at BTPS (see the tests). Humid standards at a
//! stated temperature (`STPH`) take the room's relative humidity at that temperature
//! (confirm against the analyzer's manual).
//!
//! Pure: no I/O. The runner reads the room conditions and records them with the factor.

use std::fmt;

/// Absolute zero in °C.
const ZERO_CELSIUS_K: f64 = 273.15;

/// Body temperature of the BTP standards, °C.
const BODY_TEMPERATURE_C: f64 = 37.0;

/// Standard atmosphere, hPa.
const ATMOSPHERE_HPA: f64 = 1013.25;

/// A standard's temperature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Temperature {
    /// This temperature, °C.
    Fixed(f64),
    /// The room's.
    Ambient,
}

/// A standard's pressure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pressure {
    /// This pressure, hPa.
    Fixed(f64),
    /// The room's barometric pressure.
    Ambient,
}

/// A standard's water content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Humidity {
    /// Dry gas.
    Dry,
    /// The room's relative humidity, at the standard's temperature.
    Ambient,
    /// Saturated with water vapour at the standard's temperature.
    Saturated,
}

/// A gas standard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GasStandard {
    /// The short name (`BTPS`).
    pub name: &'static str,
    /// Its temperature.
    pub temperature: Temperature,
    /// Its pressure.
    pub pressure: Pressure,
    /// Its water content.
    pub humidity: Humidity,
}

/// The gas standards an IMT analyzer offers (setting 3), by the names of
/// [`crate::protocol::imt::GAS_STANDARDS`].
pub const GAS_STANDARDS: [GasStandard; 13] = [
    standard(
        "ATP",
        Temperature::Ambient,
        Pressure::Ambient,
        Humidity::Ambient,
    ),
    standard(
        "STP",
        Temperature::Fixed(21.1),
        Pressure::Fixed(ATMOSPHERE_HPA),
        Humidity::Dry,
    ),
    standard(
        "BTPS",
        Temperature::Fixed(BODY_TEMPERATURE_C),
        Pressure::Ambient,
        Humidity::Saturated,
    ),
    standard(
        "BTPD",
        Temperature::Fixed(BODY_TEMPERATURE_C),
        Pressure::Ambient,
        Humidity::Dry,
    ),
    standard(
        "STPD0",
        Temperature::Fixed(0.0),
        Pressure::Fixed(ATMOSPHERE_HPA),
        Humidity::Dry,
    ),
    standard(
        "20/981",
        Temperature::Fixed(20.0),
        Pressure::Fixed(981.0),
        Humidity::Dry,
    ),
    standard(
        "15/1013",
        Temperature::Fixed(15.0),
        Pressure::Fixed(1013.0),
        Humidity::Dry,
    ),
    standard(
        "20/1013",
        Temperature::Fixed(20.0),
        Pressure::Fixed(1013.0),
        Humidity::Dry,
    ),
    standard(
        "25/991",
        Temperature::Fixed(25.0),
        Pressure::Fixed(991.0),
        Humidity::Dry,
    ),
    standard(
        "AP21",
        Temperature::Fixed(21.0),
        Pressure::Ambient,
        Humidity::Dry,
    ),
    standard(
        "STPH",
        Temperature::Fixed(21.1),
        Pressure::Fixed(ATMOSPHERE_HPA),
        Humidity::Ambient,
    ),
    standard(
        "ATPD",
        Temperature::Ambient,
        Pressure::Ambient,
        Humidity::Dry,
    ),
    standard(
        "ATPS",
        Temperature::Ambient,
        Pressure::Ambient,
        Humidity::Saturated,
    ),
];

const fn standard(
    name: &'static str,
    temperature: Temperature,
    pressure: Pressure,
    humidity: Humidity,
) -> GasStandard {
    GasStandard {
        name,
        temperature,
        pressure,
        humidity,
    }
}

/// The gas standard with this name (case-insensitive).
pub fn gas_standard(name: &str) -> Option<&'static GasStandard> {
    GAS_STANDARDS
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
}

/// The names of every known gas standard, for messages.
pub fn gas_standard_names() -> Vec<&'static str> {
    GAS_STANDARDS.iter().map(|s| s.name).collect()
}

/// The room's conditions, as measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ambient {
    /// Temperature, °C.
    pub temperature_c: f64,
    /// Relative humidity, % (0 to 100).
    pub humidity_percent: f64,
    /// Barometric pressure, hPa.
    pub pressure_hpa: f64,
}

/// Why a conversion cannot be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GasError {
    /// A name that is no gas standard.
    #[error("unknown gas standard `{name}` (known: {known})")]
    Unknown {
        /// The name given.
        name: String,
        /// The known names.
        known: String,
    },
    /// Room conditions outside what the formula can take.
    #[error("room conditions out of range: {0}")]
    Ambient(String),
}

/// The saturation vapour pressure of water at `t_c` °C, hPa (Magnus, WMO coefficients).
pub fn saturation_vapour_pressure_hpa(t_c: f64) -> f64 {
    6.112 * (17.62 * t_c / (243.12 + t_c)).exp()
}

impl GasStandard {
    /// Absolute temperature (K), total pressure (hPa) and water-vapour partial pressure
    /// (hPa) of this standard in the room `ambient`.
    pub fn state(&self, ambient: &Ambient) -> (f64, f64, f64) {
        let t_c = match self.temperature {
            Temperature::Fixed(t) => t,
            Temperature::Ambient => ambient.temperature_c,
        };
        let p = match self.pressure {
            Pressure::Fixed(p) => p,
            Pressure::Ambient => ambient.pressure_hpa,
        };
        let p_w = match self.humidity {
            Humidity::Dry => 0.0,
            Humidity::Ambient => {
                ambient.humidity_percent / 100.0 * saturation_vapour_pressure_hpa(t_c)
            }
            Humidity::Saturated => saturation_vapour_pressure_hpa(t_c),
        };
        (t_c + ZERO_CELSIUS_K, p, p_w)
    }
}

impl fmt::Display for GasStandard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The factor that turns a volume or flow stated at `from` into one stated at `to`, in the
/// room `ambient`.
pub fn conversion_factor(from: &str, to: &str, ambient: &Ambient) -> Result<f64, GasError> {
    let find = |name: &str| {
        gas_standard(name).ok_or_else(|| GasError::Unknown {
            name: name.to_string(),
            known: gas_standard_names().join(", "),
        })
    };
    let (from, to) = (find(from)?, find(to)?);
    let a = ambient;
    if !(a.temperature_c.is_finite() && (-50.0..=100.0).contains(&a.temperature_c)) {
        return Err(GasError::Ambient(format!(
            "temperature {} °C is not between -50 and 100 °C",
            a.temperature_c
        )));
    }
    if !(a.humidity_percent.is_finite() && (0.0..=100.0).contains(&a.humidity_percent)) {
        return Err(GasError::Ambient(format!(
            "relative humidity {} % is not between 0 and 100 %",
            a.humidity_percent
        )));
    }
    if !(a.pressure_hpa.is_finite() && (100.0..=2000.0).contains(&a.pressure_hpa)) {
        return Err(GasError::Ambient(format!(
            "barometric pressure {} hPa is not between 100 and 2000 hPa",
            a.pressure_hpa
        )));
    }
    let (t1, p1, w1) = from.state(ambient);
    let (t2, p2, w2) = to.state(ambient);
    if p1 - w1 <= 0.0 || p2 - w2 <= 0.0 {
        return Err(GasError::Ambient(format!(
            "water vapour pressure reaches the total pressure at {} hPa",
            a.pressure_hpa
        )));
    }
    Ok(t2 / t1 * (p1 - w1) / (p2 - w2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's worked example: 960 mbar, 28 °C, 50 % RH.
    const ROOM: Ambient = Ambient {
        temperature_c: 28.0,
        humidity_percent: 50.0,
        pressure_hpa: 960.0,
    };

    #[test]
    fn the_reference_worked_numbers_hold() {
        let atp = 100.0 * conversion_factor("STP", "ATP", &ROOM).unwrap();
        let btps = 100.0 * conversion_factor("STP", "BTPS", &ROOM).unwrap();
        assert!((atp - 110.0).abs() < 0.5, "{atp}");
        assert!((btps - 119.0).abs() < 0.5, "{btps}");
    }

    #[test]
    fn conversions_are_consistent() {
        for a in &GAS_STANDARDS {
            assert_eq!(conversion_factor(a.name, a.name, &ROOM).unwrap(), 1.0);
            for b in &GAS_STANDARDS {
                let there = conversion_factor(a.name, b.name, &ROOM).unwrap();
                let back = conversion_factor(b.name, a.name, &ROOM).unwrap();
                assert!((there * back - 1.0).abs() < 1e-12, "{} {}", a.name, b.name);
            }
        }
        // Dry gas warmed from 0 °C to 37 °C at one atmosphere: Charles's law alone.
        let room = Ambient {
            pressure_hpa: ATMOSPHERE_HPA,
            ..ROOM
        };
        let f = conversion_factor("STPD0", "BTPD", &room).unwrap();
        assert!((f - 310.15 / 273.15).abs() < 1e-12, "{f}");
    }

    #[test]
    fn saturation_pressure_matches_the_tables() {
        // 37 °C: 62.8 hPa (47.1 mmHg); 20 °C: 23.4 hPa; 0 °C: 6.11 hPa.
        assert!((saturation_vapour_pressure_hpa(37.0) - 62.8).abs() < 0.2);
        assert!((saturation_vapour_pressure_hpa(20.0) - 23.4).abs() < 0.1);
        assert!((saturation_vapour_pressure_hpa(0.0) - 6.112).abs() < 1e-9);
    }

    #[test]
    fn every_analyzer_standard_is_known() {
        for (_, name, _) in crate::protocol::imt::GAS_STANDARDS {
            assert!(gas_standard(name).is_some(), "{name}");
        }
        assert_eq!(gas_standard("btps").map(|s| s.name), Some("BTPS"));
    }

    #[test]
    fn bad_names_and_rooms_are_errors() {
        let err = conversion_factor("XTP", "BTPS", &ROOM).unwrap_err();
        assert!(err.to_string().contains("ATPD"), "{err}");
        let hot = Ambient {
            humidity_percent: 120.0,
            ..ROOM
        };
        assert!(matches!(
            conversion_factor("ATP", "BTPS", &hot),
            Err(GasError::Ambient(_))
        ));
        let vacuum = Ambient {
            pressure_hpa: f64::NAN,
            ..ROOM
        };
        assert!(conversion_factor("ATP", "BTPS", &vacuum).is_err());
    }
}
