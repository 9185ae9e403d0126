//! The simulated CAN bench's configuration: the `can:` section of `simulation:`.

use serde::{Deserialize, Serialize};

/// The simulated CAN bench: an slcan adapter on a pty and the nodes on its bus.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanSimConfig {
    /// The simulated serial-line CAN adapter.
    pub adapter: CanAdapterConfig,
    /// The simulated CANopen X-ray generator.
    pub xray_generator: XrayGeneratorConfig,
    /// The simulated flat-panel detector, on the same bus behind its own adapter
    /// (`sim:detector_can_adapter`); none unless stated.
    pub flat_panel_detector: Option<super::flat_panel::FlatPanelSimConfig>,
    /// The simulated DBC-described collimator (absent unless stated; `collimator: {}` for
    /// the defaults).
    pub collimator: Option<CollimatorConfig>,
}

/// The simulated DBC-described collimator (`fixtures/dbc/qbench_collimator.dbc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollimatorConfig {
    /// Period of its status frames, ms, real time (50 unless stated).
    pub status_ms: u64,
    /// Blade speed, mm/s of bench time (400 unless stated).
    pub speed_mm_per_s: f64,
    /// Systematic error of the field size, as a fraction (0.01 is +1 %).
    pub size_error: f64,
    /// Field at start-up, mm (square; 430 unless stated).
    pub open_mm: f64,
    /// Housing temperature it reports, °C.
    pub housing_temperature_c: f64,
    /// Fault: after this many command frames it falls silent (none unless stated).
    pub silent_after_commands: Option<u64>,
}

impl Default for CollimatorConfig {
    fn default() -> Self {
        CollimatorConfig {
            status_ms: 50,
            speed_mm_per_s: 400.0,
            size_error: 0.0,
            open_mm: 430.0,
            housing_temperature_c: 31.5,
            silent_after_commands: None,
        }
    }
}

/// The simulated slcan adapter and its faults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CanAdapterConfig {
    /// The version it answers to `V`.
    pub version: String,
    /// The serial number it answers to `N`.
    pub serial: String,
    /// Fault: the Nth line it sends to the host (1-based, answers and frames alike) is
    /// garbled (none unless stated).
    pub garble_line: Option<u64>,
    /// Fault: after forwarding this many frames from the host to the bus, the adapter
    /// disappears: its pty closes, as when a USB adapter is pulled (none unless stated).
    pub disappear_after_frames: Option<u64>,
}

impl Default for CanAdapterConfig {
    fn default() -> Self {
        CanAdapterConfig {
            version: "1013".into(),
            serial: "QB01".into(),
            garble_line: None,
            disappear_after_frames: None,
        }
    }
}

/// The simulated CANopen X-ray generator: its node, its errors and its faults.
///
/// The output model is deliberately small: air kerma at distance `d` is
/// `output · mAs · (kV / 80)² / d²`, with the actual kV, mA and time set by the fractional
/// errors below and a multiplicative reproducibility noise of coefficient of variation
/// `output_cv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XrayGeneratorConfig {
    /// Node id, 1 to 127 (5 unless stated).
    pub node_id: u8,
    /// Heartbeat period in ms (object 1017h), real time; 0 turns heartbeats off.
    pub heartbeat_ms: u16,
    /// Systematic error of the tube voltage, as a fraction (0.02 is +2 %).
    pub kv_error: f64,
    /// Systematic error of the tube current, as a fraction.
    pub ma_error: f64,
    /// Systematic error of the exposure time, as a fraction.
    pub time_error: f64,
    /// Coefficient of variation of the output from one exposure to the next (0.01 is 1 %).
    pub output_cv: f64,
    /// Air kerma per mAs at 80 kV and 1 m, µGy/mAs.
    pub output_ugy_per_mas: f64,
    /// Non-linearity of the output with mAs: the air kerma is multiplied by
    /// `(mAs / 10 mAs)^mas_nonlinearity` (0, linear, unless stated).
    pub mas_nonlinearity: f64,
    /// Fault: after this many exposures the node falls silent (no heartbeat, no answer), as
    /// a node that lost power or its bus connection (none unless stated).
    pub stop_heartbeat_after_exposures: Option<u64>,
    /// Serial number (object 1018h sub 4).
    pub serial: u32,
}

impl Default for XrayGeneratorConfig {
    fn default() -> Self {
        XrayGeneratorConfig {
            node_id: 5,
            heartbeat_ms: 100,
            kv_error: 0.0,
            ma_error: 0.0,
            time_error: 0.0,
            output_cv: 0.0,
            output_ugy_per_mas: 50.0,
            mas_nonlinearity: 0.0,
            stop_heartbeat_after_exposures: None,
            serial: 4_100_001,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_default_and_fields_read() {
        let c: CanSimConfig = serde_saphyr::from_str("{}").unwrap();
        assert_eq!(c, CanSimConfig::default());
        let yaml = "adapter:\n  garble_line: 7\nxray_generator:\n  node_id: 9\n  kv_error: 0.02\n  stop_heartbeat_after_exposures: 3\n";
        let c: CanSimConfig = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(c.adapter.garble_line, Some(7));
        assert_eq!(c.xray_generator.node_id, 9);
        assert_eq!(c.xray_generator.stop_heartbeat_after_exposures, Some(3));
        assert!(serde_saphyr::from_str::<CanSimConfig>("adapter:\n  colour: red\n").is_err());
    }
}
