//! The simulated bench's configuration, as a fixture embeds it under `simulation:`.
//!
//! Every field has a default, so `simulation: {}` is a working bench with a 50 mL/hPa,
//! 5 hPa/(L/s) lung and error-free devices. Quantities may be written as quantity literals
//! (`compliance: 20 mL/hPa`, `volume_noise_sd: 0.005 L`, `peep_error: 0.5 hPa`) or as plain
//! numbers in the unit this file documents for the field; fractions (`volume_error`,
//! `pressure_error`, `rate_error`, `gain_error`) are plain numbers (`0.02` is +2 %) or
//! percentages (`2 %`).

use crate::units::{parse_quantity, parse_unit};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The whole simulated bench.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of every random draw; the same seed gives the same breaths.
    pub seed: u64,
    /// The test lung.
    pub lung: LungConfig,
    /// The ventilator under test.
    pub ventilator: VentilatorConfig,
    /// The reference flow analyzer.
    pub flow_analyzer: FlowAnalyzerConfig,
    /// The reference pressure meter (SCPI).
    pub pressure_meter: PressureMeterConfig,
    /// The room-condition sensor (Modbus RTU).
    pub room_sensor: RoomSensorConfig,
    /// The thermo-hygrometer driven by a device profile.
    pub thermohygrometer: ThermohygrometerConfig,
    /// Devices also served on a loopback TCP port, as a serial device server would
    /// (`[pressure_meter]`); fixtures reach them as `tcp: { host: "sim:pressure_meter" }`.
    /// The room sensor answers Modbus TCP there.
    pub tcp: Vec<String>,
    /// The simulated CAN bench: slcan adapter and CANopen nodes (see `sim::can`).
    pub can: super::can::CanSimConfig,
    /// The reference dosimeter (SCPI) measuring the simulated generator's exposures.
    pub dosimeter: super::dosimeter::DosimeterConfig,
}

/// The simulated active test lung (its initial settings; a driver may change them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LungConfig {
    /// Compliance, mL/hPa (50 unless stated).
    #[serde(deserialize_with = "ml_per_hpa")]
    pub compliance: f64,
    /// Linear resistance, hPa/(L/s) (5 unless stated).
    #[serde(deserialize_with = "hpa_per_lps")]
    pub resistance: f64,
    /// Serial number it reports.
    pub serial: String,
    /// Faults injected into its answers (none unless stated).
    pub fault: Option<FaultConfig>,
}

impl Default for LungConfig {
    fn default() -> Self {
        LungConfig {
            compliance: 50.0,
            resistance: 5.0,
            fault: None,
            serial: "SIM-LUNG-0001".into(),
        }
    }
}

/// The simulated ventilator's errors.
///
/// Systematic errors apply to every breath; noise is drawn afresh for each breath. Which
/// fields act depends on the ventilation mode: `volume_error` and `volume_noise_sd` shape
/// the delivered volume in volume control, `pressure_error`, `pressure_offset` and
/// `pressure_noise_sd` the inspiratory pressure in pressure control; PEEP, rate and FiO2
/// errors act in both modes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VentilatorConfig {
    /// Systematic error of delivered volume, as a fraction of the set volume (0.05 is +5 %).
    #[serde(deserialize_with = "fraction")]
    pub volume_error: f64,
    /// Standard deviation of breath-to-breath volume noise, mL.
    #[serde(deserialize_with = "ml")]
    pub volume_noise_sd: f64,
    /// Systematic error of the delivered inspiratory pressure above PEEP in pressure
    /// control, as a fraction of the set inspiratory pressure (0.1 is +10 %).
    #[serde(deserialize_with = "fraction")]
    pub pressure_error: f64,
    /// Systematic offset of the delivered inspiratory pressure in pressure control, cmH2O,
    /// added to the fractional error.
    #[serde(deserialize_with = "cmh2o")]
    pub pressure_offset: f64,
    /// Standard deviation of breath-to-breath inspiratory pressure noise in pressure
    /// control, cmH2O.
    #[serde(deserialize_with = "cmh2o")]
    pub pressure_noise_sd: f64,
    /// Systematic error of the delivered PEEP, cmH2O.
    #[serde(deserialize_with = "cmh2o")]
    pub peep_error: f64,
    /// Standard deviation of breath-to-breath PEEP noise, cmH2O.
    #[serde(deserialize_with = "cmh2o")]
    pub peep_noise_sd: f64,
    /// Systematic error of the breath rate, as a fraction.
    #[serde(deserialize_with = "fraction")]
    pub rate_error: f64,
    /// Systematic error of delivered FiO2, in percentage points.
    #[serde(deserialize_with = "percent")]
    pub fio2_error: f64,
    /// Standard deviation of breath-to-breath FiO2 noise, in percentage points.
    #[serde(deserialize_with = "percent")]
    pub fio2_noise_sd: f64,
    /// Serial number it reports.
    pub serial: String,
    /// Faults injected into its answers (none unless stated).
    pub fault: Option<FaultConfig>,
}

impl Default for VentilatorConfig {
    fn default() -> Self {
        VentilatorConfig {
            volume_error: 0.0,
            volume_noise_sd: 0.0,
            pressure_error: 0.0,
            pressure_offset: 0.0,
            pressure_noise_sd: 0.0,
            peep_error: 0.0,
            peep_noise_sd: 0.0,
            rate_error: 0.0,
            fio2_error: 0.0,
            fio2_noise_sd: 0.0,
            fault: None,
            serial: "SIM-VENT-0001".into(),
        }
    }
}

/// The simulated flow analyzer (an IMT FlowAnalyser or CITREX).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowAnalyzerConfig {
    /// Model whose dividers it uses (`PF-300`, `PF-300 PRO`, `CITREX`).
    pub model: String,
    /// Gain error of its volume measurements, as a fraction.
    #[serde(deserialize_with = "fraction")]
    pub gain_error: f64,
    /// Standard deviation of its own volume measurement noise, mL.
    #[serde(deserialize_with = "ml")]
    pub volume_noise_sd: f64,
    /// Standard deviation of its own pressure measurement noise (peak, plateau, PEEP), hPa.
    #[serde(deserialize_with = "hpa")]
    pub pressure_noise_sd: f64,
    /// Standard deviation of its own breath-rate measurement noise, /min.
    #[serde(deserialize_with = "per_minute")]
    pub rate_noise_sd: f64,
    /// Standard deviation of its own oxygen measurement noise, in percentage points.
    #[serde(deserialize_with = "percent")]
    pub oxygen_noise_sd: f64,
    /// Fault: after this many requests it stops answering (none unless stated).
    pub stop_answering_after_queries: Option<u64>,
    /// Fault: after answering this many breath-volume readings (`%RM#23`, inspired volume)
    /// it stops answering; steadier than counting requests, which breath polling consumes
    /// at a rate that depends on the host's speed.
    pub stop_answering_after_breaths: Option<u64>,
    /// Fault: after this many breath-volume readings, every per-breath value it reports is
    /// stuck at that breath's (none unless stated).
    pub stuck_after_breaths: Option<u64>,
    /// Serial number it reports (an integer, as the IMT protocol carries it).
    pub serial: u32,
    /// Faults injected into its answers (none unless stated).
    pub fault: Option<FaultConfig>,
}

impl Default for FlowAnalyzerConfig {
    fn default() -> Self {
        FlowAnalyzerConfig {
            model: "PF-300".into(),
            gain_error: 0.0,
            volume_noise_sd: 0.0,
            pressure_noise_sd: 0.0,
            rate_noise_sd: 0.0,
            oxygen_noise_sd: 0.0,
            stop_answering_after_queries: None,
            stop_answering_after_breaths: None,
            stuck_after_breaths: None,
            fault: None,
            serial: 300_001,
        }
    }
}

/// Reads a number in `symbol`, or a quantity literal converted to `symbol`.
struct InUnit(&'static str);

impl Visitor<'_> for InUnit {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            write!(f, "a number, or a percentage such as `2 %`")
        } else {
            write!(f, "a number in {0}, or a quantity such as `10 {0}`", self.0)
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        if v.is_finite() {
            Ok(v)
        } else {
            Err(E::custom("the number must be finite"))
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<f64, E> {
        let q = parse_quantity(text).map_err(E::custom)?;
        let unit = parse_unit(self.0).map_err(E::custom)?;
        Ok(q.to_unit(&unit).map_err(E::custom)?.value)
    }
}

fn ml_per_hpa<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("mL/hPa"))
}
fn hpa_per_lps<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("hPa/(L/s)"))
}
fn ml<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("mL"))
}
fn cmh2o<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("cmH2O"))
}
fn hpa<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("hPa"))
}
fn per_minute<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("/min"))
}
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("%"))
}
fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_the_default() {
        let c: SimConfig = serde_saphyr::from_str("{}").unwrap();
        assert_eq!(c, SimConfig::default());
        assert_eq!(c.lung.compliance, 50.0);
    }

    #[test]
    fn reads_quantity_literals_and_plain_numbers() {
        let yaml = "seed: 7\nlung:\n  compliance: 0.02 L/hPa\n  resistance: 20\nventilator:\n  volume_error: 2 %\n  volume_noise_sd: 3\n  fio2_error: -1.5\nflow_analyzer:\n  model: CITREX\n  gain_error: -0.01\n  volume_noise_sd: 0.001 L\n  stop_answering_after_queries: 3\n";
        let c: SimConfig = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(c.seed, 7);
        assert!((c.lung.compliance - 20.0).abs() < 1e-9);
        assert_eq!(c.lung.resistance, 20.0);
        assert!((c.ventilator.volume_error - 0.02).abs() < 1e-12);
        assert_eq!(c.ventilator.fio2_error, -1.5);
        assert!((c.flow_analyzer.volume_noise_sd - 1.0).abs() < 1e-9);
        assert_eq!(c.flow_analyzer.stop_answering_after_queries, Some(3));
    }

    #[test]
    fn reads_pressure_rate_and_oxygen_errors_in_their_units() {
        let yaml = "ventilator:\n  pressure_error: 10 %\n  pressure_offset: 1 hPa\n  pressure_noise_sd: 0.2\n  peep_error: -1.5 cmH2O\n  peep_noise_sd: 98.0665 Pa\n  fio2_noise_sd: 0.5 %\nflow_analyzer:\n  pressure_noise_sd: 0.1 cmH2O\n  rate_noise_sd: 0.6 /h\n  oxygen_noise_sd: 0.2\n";
        let c: SimConfig = serde_saphyr::from_str(yaml).unwrap();
        let v = &c.ventilator;
        assert!((v.pressure_error - 0.1).abs() < 1e-12);
        // 1 hPa is 1.0197 cmH2O.
        assert!((v.pressure_offset - 1.0 / 0.980_665).abs() < 1e-9);
        assert_eq!(v.pressure_noise_sd, 0.2);
        assert_eq!(v.peep_error, -1.5);
        assert!((v.peep_noise_sd - 1.0).abs() < 1e-9);
        assert!((v.fio2_noise_sd - 0.5).abs() < 1e-12);
        let a = &c.flow_analyzer;
        assert!((a.pressure_noise_sd - 0.098_066_5).abs() < 1e-9);
        assert!((a.rate_noise_sd - 0.01).abs() < 1e-12);
        assert_eq!(a.oxygen_noise_sd, 0.2);
        assert!(serde_saphyr::from_str::<SimConfig>("ventilator:\n  peep_error: 2 mL\n").is_err());
    }

    #[test]
    fn refuses_unknown_fields_and_wrong_units() {
        assert!(serde_saphyr::from_str::<SimConfig>("lung:\n  elastance: 3\n").is_err());
        let err = serde_saphyr::from_str::<SimConfig>("lung:\n  compliance: 20 hPa\n").unwrap_err();
        assert!(err.to_string().contains("hPa"), "{err}");
    }

    #[test]
    fn serializes_and_reads_back() {
        let mut c = SimConfig::default();
        c.flow_analyzer.stop_answering_after_queries = Some(9);
        let yaml = serde_saphyr::to_string(&c).unwrap();
        let back: SimConfig = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, c);
    }
}

/// A fault a simulated instrument injects into its answers (the robustness tests use them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Answers given normally before the fault starts (0 unless stated).
    #[serde(default)]
    pub after_requests: u64,
    /// How many answers the fault affects (every later one unless stated): 1 makes a
    /// transient fault that a retry recovers from.
    #[serde(default)]
    pub count: Option<u64>,
    /// Delay of a late answer, ms (500 unless stated).
    #[serde(default = "default_delay_ms")]
    pub delay_ms: u64,
    /// When stated, each answer after `after_requests` is faulted at random with this
    /// probability (0 to 1), drawn from the bench's `seed`: faults at random points that
    /// repeat from run to run.
    #[serde(default)]
    pub probability: Option<f64>,
}

fn default_delay_ms() -> u64 {
    500
}

/// The faults a simulated instrument can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The answer's bytes are replaced by noise (a line keeps its terminator).
    Garbage,
    /// Only the first half of the answer is sent, without its terminator.
    PartialAnswer,
    /// The answer comes `delay_ms` late.
    LateAnswer,
    /// No answer at all.
    Silent,
    /// One byte is altered: a line's checksum digit, a Modbus frame's CRC.
    Corrupt,
}

/// The simulated reference pressure meter (SCPI), measuring the test lung's airway pressure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PressureMeterConfig {
    /// Gain error, as a fraction (0 unless stated).
    #[serde(deserialize_with = "fraction")]
    pub gain_error: f64,
    /// Offset error, hPa (0 unless stated; `SENS:PRES:ZERO` in standby removes it).
    #[serde(deserialize_with = "hpa")]
    pub offset: f64,
    /// Standard deviation of the noise of each reading, hPa (0 unless stated).
    #[serde(deserialize_with = "hpa")]
    pub noise_sd: f64,
    /// Unit suffix of its answers (`MBAR` unless stated; `PA`, `KPA`, `HPA`, `CMH2O`).
    pub unit: String,
    /// Serial number it reports.
    pub serial: String,
    /// A fault it injects.
    pub fault: Option<FaultConfig>,
}

impl Default for PressureMeterConfig {
    fn default() -> Self {
        PressureMeterConfig {
            gain_error: 0.0,
            offset: 0.0,
            noise_sd: 0.0,
            unit: "MBAR".into(),
            serial: "SIM-PM-0001".into(),
            fault: None,
        }
    }
}

/// The simulated room-condition sensor (Modbus RTU): ambient temperature, humidity and
/// barometric pressure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomSensorConfig {
    /// Its Modbus unit identifier (1 unless stated).
    pub unit_id: u8,
    /// Room temperature, °C (22 unless stated).
    #[serde(deserialize_with = "celsius")]
    pub temperature: f64,
    /// Relative humidity, % (45 unless stated).
    #[serde(deserialize_with = "percent")]
    pub humidity: f64,
    /// Barometric pressure, hPa (1013.25 unless stated).
    #[serde(deserialize_with = "hpa")]
    pub pressure: f64,
    /// Serial number it reports (an integer in two registers).
    pub serial: u32,
    /// A fault it injects.
    pub fault: Option<FaultConfig>,
}

impl Default for RoomSensorConfig {
    fn default() -> Self {
        RoomSensorConfig {
            unit_id: 1,
            temperature: 22.0,
            humidity: 45.0,
            pressure: 1013.25,
            serial: 40_001,
            fault: None,
        }
    }
}

/// The simulated thermo-hygrometer: a simple ASCII instrument that only a device profile
/// (`fixtures/profiles/qbench-thermohygrometer.yaml`) describes to qbench.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThermohygrometerConfig {
    /// Temperature, °C (23 unless stated).
    #[serde(deserialize_with = "celsius")]
    pub temperature: f64,
    /// Relative humidity, % (50 unless stated).
    #[serde(deserialize_with = "percent")]
    pub humidity: f64,
    /// Serial number it reports.
    pub serial: String,
    /// A fault it injects.
    pub fault: Option<FaultConfig>,
}

impl Default for ThermohygrometerConfig {
    fn default() -> Self {
        ThermohygrometerConfig {
            temperature: 23.0,
            humidity: 50.0,
            serial: "TH-0001".into(),
            fault: None,
        }
    }
}

fn celsius<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(InUnit("°C"))
}
