//! The journal entry stating a measurement's gas standard and the room conditions behind it.

use crate::units::Quantity;
use serde::{Deserialize, Serialize};

/// A measurement's volumes or flows restated at the procedure's gas standard: its raw
/// samples stay as the instrument reported them (at `from`); checks use them times `factor`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GasConversion {
    /// The measurement.
    pub measurement: String,
    /// The set point it was taken at.
    pub set_point: Option<usize>,
    /// The role that measured it.
    pub role: String,
    /// The gas standard the instrument reports in (`ATP`).
    pub from: String,
    /// The gas standard the procedure states results at (`BTPS`).
    pub to: String,
    /// The role that measured the room.
    pub room: String,
    /// Room temperature, as read.
    pub temperature: Quantity,
    /// Room relative humidity, as read.
    pub humidity: Quantity,
    /// Barometric pressure, as read.
    pub pressure: Quantity,
    /// The factor from `from` to `to` in that room.
    pub factor: f64,
}
