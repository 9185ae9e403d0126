//! Waveforms: quantities sampled at a fixed period from an instrument's data stream (an IMT
//! analyzer's fast data), as a driver returns them from [`Driver::capture`](super::Driver).
//!
//! A waveform keeps the instrument's own time base (packet time stamps), so its length is
//! instrument time, which on a simulated bench is bench time, whatever the host's speed.
//! It carries the counts a reviewer needs to trust it: packets received and used, packets
//! rejected for a failed checksum (never used), packets missing from the stream, and bytes
//! discarded while finding the packet boundaries again after garbage.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The quantities a waveform of an instrument of `kind` may hold, with their units, for
/// validating procedures before any instrument is open.
pub fn waveform_quantities(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "flow_analyzer" => &[("flow", "L/min"), ("pressure", "mbar")],
        _ => &[],
    }
}

/// How much of the stream to capture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CaptureLength {
    /// This long, in the instrument's time (bench time).
    Duration(Duration),
    /// This many whole breaths, each from the start of its inspiration.
    Breaths(usize),
}

/// What to capture.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptureRequest {
    /// Quantities to keep (names from [`waveform_quantities`]), in order.
    pub quantities: Vec<String>,
    /// How much.
    pub length: CaptureLength,
    /// The longest the capture may take, real time.
    pub timeout: Duration,
}

/// One quantity of a waveform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveformChannel {
    /// The quantity (`flow`).
    pub quantity: String,
    /// Unit symbol of every value (`L/min`).
    pub unit: String,
    /// One value per sample.
    pub values: Vec<f64>,
}

/// How the stream behind a waveform went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCounts {
    /// Valid packets received (those in the waveform and those before or after it).
    pub received: u64,
    /// Packets whose checksum failed: counted, never used.
    pub rejected: u64,
    /// Packets absent from the stream (skipped time stamps).
    pub missing: u64,
    /// Bytes discarded while finding the packet boundaries again (garbage).
    pub discarded_bytes: u64,
}

/// A captured waveform.
#[derive(Clone, Debug, PartialEq)]
pub struct Waveform {
    /// Sampling period, s (0.005 for IMT fast data).
    pub period_s: f64,
    /// Time of each sample since the first, in sampling periods (the instrument's time
    /// stamps; a gap is a packet rejected or missing).
    pub ticks: Vec<u32>,
    /// The quantities, each with one value per sample.
    pub channels: Vec<WaveformChannel>,
    /// Whole breaths in the waveform (starts of inspiration seen, in a breath capture).
    pub breaths: usize,
    /// How the stream went.
    pub counts: StreamCounts,
}

impl Waveform {
    /// Time of each sample since the first, s.
    pub fn time_s(&self) -> Vec<f64> {
        self.ticks
            .iter()
            .map(|t| f64::from(*t) * self.period_s)
            .collect()
    }
}

/// Indices where an inspiration starts: the flow rises above `trigger` (L/min) from at or
/// below it, as an analyzer's flow trigger does.
pub fn inspiration_starts(flow: &[f64], trigger: f64) -> Vec<usize> {
    flow.windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] <= trigger && w[1] > trigger)
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspirations_start_on_a_rising_flow() {
        let flow = [
            30.0, 30.0, -20.0, -5.0, -0.1, 0.0, 30.0, 30.0, -10.0, 0.0, 0.6,
        ];
        assert_eq!(inspiration_starts(&flow, 0.5), vec![6, 10]);
        assert!(inspiration_starts(&[], 0.5).is_empty());
        assert_eq!(waveform_quantities("flow_analyzer")[0], ("flow", "L/min"));
        assert!(waveform_quantities("ventilator").is_empty());
    }
}
