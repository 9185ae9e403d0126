//! Drivers: speak one instrument's protocol over a link and expose typed capabilities.
//!
//! Every driver implements [`Driver`], a small vocabulary shared by all instruments: set a
//! named setting to a quantity, perform a named action, read a named quantity, wait for a
//! device event (the end of a breath), identify, and go to the safe state. What a driver
//! offers is described statically by its [`DriverSpec`], so a procedure can be validated
//! against a fixture without opening a single port.
//!
//! Drivers never open ports (they are handed a [`ByteLink`](crate::link::ByteLink)), never
//! decide a verdict, and never sleep without a deadline. The registry in `registry.rs` is the
//! only place that knows every driver.

mod capabilities;
pub(crate) mod common;
mod error;
#[cfg(test)]
mod fake_link;
mod imt_flow_analyzer;
mod modbus_client;
mod modbus_generic;
mod modbus_room_sensor;
mod profile;
mod registry;
mod retry;
mod scpi_client;
mod scpi_dosimeter;
mod scpi_generic;
mod scpi_pressure_meter;
mod test_lung_service;
mod ventilator_service;
mod waveform;

pub use capabilities::{Capabilities, capabilities};
pub use error::{DriverError, DriverErrorKind};
pub use profile::load_profile;
pub use registry::{DRIVERS, open_driver, spec_of};
pub use waveform::{
    CaptureLength, CaptureRequest, StreamCounts, Waveform, WaveformChannel, inspiration_starts,
    waveform_quantities,
};

use crate::units::Quantity;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who an instrument says it is, as it answered its identity query.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Maker's name.
    pub manufacturer: String,
    /// Model name.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// Firmware or software version.
    pub firmware: String,
}

/// An event a device signals, which a procedure can wait for or count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceEvent {
    /// The end of a breath's inspiration, after which the breath's values can be read.
    Breath,
}

/// A measurement condition to be recorded beside samples (the analyzer's gas standard).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// What the condition is (`gas_standard`).
    pub name: String,
    /// Its value as the instrument states it (`BTPS`).
    pub value: String,
}

/// A setting a driver accepts, with the unit the instrument works in.
#[derive(Clone, Copy, Debug)]
pub struct SettingSpec {
    /// Name used in procedures (`tidal_volume`).
    pub name: &'static str,
    /// Unit symbol the instrument works in; values in compatible units are converted.
    pub unit: &'static str,
    /// One line for documentation and error messages.
    pub description: &'static str,
}

/// A quantity a driver can read.
#[derive(Clone, Copy, Debug)]
pub struct QuantitySpec {
    /// Name used in procedures (`inspired_volume`).
    pub name: &'static str,
    /// Unit symbol of the values the driver returns.
    pub unit: &'static str,
    /// One line for documentation and error messages.
    pub description: &'static str,
}

/// What a driver offers, known without opening a link.
#[derive(Clone, Copy, Debug)]
pub struct DriverSpec {
    /// Name used in fixtures (`imt-flowanalyser`).
    pub name: &'static str,
    /// The kind of instrument (`ventilator`, `flow_analyzer`, `test_lung`).
    pub kind: &'static str,
    /// Settings it accepts.
    pub settings: &'static [SettingSpec],
    /// Actions it performs (`start`, `standby`).
    pub actions: &'static [&'static str],
    /// Quantities it reads.
    pub quantities: &'static [QuantitySpec],
    /// Device events it can wait for.
    pub events: &'static [DeviceEvent],
}

/// The capabilities every instrument driver offers.
pub trait Driver: Send {
    /// Asks the instrument for its identity.
    fn identify(&mut self) -> Result<Identity, DriverError>;

    /// Sets `name` to `value` (converted to the instrument's unit) and returns the value the
    /// instrument reports back, in the instrument's unit.
    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError>;

    /// Performs the named action.
    fn act(&mut self, action: &str) -> Result<(), DriverError>;

    /// Reads the current value of the named quantity.
    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError>;

    /// Waits for the next occurrence of `event`, at most `timeout`.
    fn await_event(&mut self, event: DeviceEvent, timeout: Duration) -> Result<(), DriverError>;

    /// Brings the instrument to its safe state (a ventilator to standby); a no-op for
    /// instruments that have none.
    fn make_safe(&mut self) -> Result<(), DriverError>;

    /// Conditions that qualify this instrument's readings (its gas standard, say).
    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError>;

    /// Takes what the instrument reported on its own since the last call, oldest first: the
    /// entries a SCPI instrument's error queue held after each command, a retry that
    /// recovered from a transient fault. The runner journals them, so that an instrument's
    /// own error is never silent. Drivers with nothing to report keep this default.
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// Captures a waveform from the instrument's data stream. Instruments without one keep
    /// this default, which refuses as unsupported.
    fn capture(&mut self, request: &CaptureRequest) -> Result<Waveform, DriverError> {
        let _ = request;
        Err(DriverError::new(
            "driver",
            DriverErrorKind::Unsupported {
                what: "waveform capture (this instrument has no data stream)".into(),
            },
        ))
    }

    /// Takes the emergency messages (CANopen EMCY) the device sent since the last call,
    /// oldest first. The runner journals each as its own event; drivers of devices without
    /// emergency messages keep this default.
    fn take_emergencies(&mut self) -> Vec<crate::can::canopen::Emergency> {
        Vec::new()
    }
}
