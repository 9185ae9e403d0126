//! Captured waveforms in the record, folded from their header and chunk entries.
//!
//! A [`WaveformRecord`] is opened by its header entry and filled by the chunks that follow.
//! If the journal ends before every chunk (a crash mid-capture) the record keeps what
//! arrived and says it is incomplete; a chunk whose shape does not match its header is noted
//! as an error rather than folded.

use crate::driver::StreamCounts;
use crate::journal::{ChannelHeader, WaveformChunk, WaveformHeader};
use serde::{Deserialize, Serialize};

/// A captured waveform, with every sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveformRecord {
    /// The capture's id.
    pub id: String,
    /// The role whose data stream was captured.
    pub role: String,
    /// The set point it was captured at.
    pub set_point: Option<usize>,
    /// What the procedure asked for (`2 breaths`).
    pub length: String,
    /// Sampling period, s.
    pub period_s: f64,
    /// Whole breaths captured.
    pub breaths: usize,
    /// Packets received, rejected for a failed checksum (never used), missing.
    pub counts: StreamCounts,
    /// Samples the header announced.
    pub samples: usize,
    /// The journal entry of the header.
    pub seq: u64,
    /// Time of each sample since the first, in sampling periods.
    pub ticks: Vec<u32>,
    /// The quantities, each with one value per sample.
    pub channels: Vec<ChannelRecord>,
    /// Whether the capture's set point was run again after an interruption (kept as
    /// evidence, superseded by the capture taken again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded: bool,
}

/// One quantity of a recorded waveform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelRecord {
    /// The quantity (`flow`).
    pub quantity: String,
    /// Unit of every value.
    pub unit: String,
    /// The values.
    pub values: Vec<f64>,
}

impl WaveformRecord {
    /// An empty waveform as its header describes it.
    pub(crate) fn open(header: &WaveformHeader, seq: u64) -> WaveformRecord {
        WaveformRecord {
            id: header.id.clone(),
            role: header.role.clone(),
            set_point: header.set_point,
            length: header.length.clone(),
            period_s: header.period_s,
            breaths: header.breaths,
            counts: header.counts,
            samples: header.samples,
            seq,
            ticks: Vec::with_capacity(header.samples),
            channels: header
                .channels
                .iter()
                .map(|ChannelHeader { quantity, unit }| ChannelRecord {
                    quantity: quantity.clone(),
                    unit: unit.clone(),
                    values: Vec::with_capacity(header.samples),
                })
                .collect(),
            superseded: false,
        }
    }

    /// Appends a chunk, or says why it does not belong.
    pub(crate) fn append(&mut self, chunk: &WaveformChunk) -> Result<(), String> {
        let n = chunk.ticks.len();
        if chunk.first != self.ticks.len()
            || chunk.values.len() != self.channels.len()
            || chunk.values.iter().any(|v| v.len() != n)
            || self.ticks.len() + n > self.samples
        {
            return Err(format!(
                "chunk {} of waveform {} does not fit its header (samples {}.., {} channels)",
                chunk.chunk,
                self.id,
                chunk.first,
                chunk.values.len()
            ));
        }
        self.ticks.extend_from_slice(&chunk.ticks);
        for (channel, values) in self.channels.iter_mut().zip(&chunk.values) {
            channel.values.extend_from_slice(values);
        }
        Ok(())
    }

    /// Whether every announced sample arrived.
    pub fn is_complete(&self) -> bool {
        self.ticks.len() == self.samples
    }

    /// Time of each sample since the first, s.
    pub fn time_s(&self) -> Vec<f64> {
        self.ticks
            .iter()
            .map(|t| f64::from(*t) * self.period_s)
            .collect()
    }

    /// The values of `quantity`, if captured.
    pub fn channel(&self, quantity: &str) -> Option<&ChannelRecord> {
        self.channels.iter().find(|c| c.quantity == quantity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(samples: usize) -> WaveformHeader {
        WaveformHeader {
            id: "breath".into(),
            role: "flow_reference".into(),
            set_point: Some(0),
            length: "2 breaths".into(),
            period_s: 0.005,
            channels: vec![
                ChannelHeader {
                    quantity: "flow".into(),
                    unit: "L/min".into(),
                },
                ChannelHeader {
                    quantity: "pressure".into(),
                    unit: "mbar".into(),
                },
            ],
            samples,
            chunks: 2,
            breaths: 2,
            counts: StreamCounts {
                received: 5,
                rejected: 1,
                missing: 0,
                discarded_bytes: 0,
            },
        }
    }

    fn chunk(chunk: usize, first: usize, ticks: Vec<u32>) -> WaveformChunk {
        let n = ticks.len();
        WaveformChunk {
            id: "breath".into(),
            set_point: Some(0),
            chunk,
            first,
            ticks,
            values: vec![vec![30.0; n], vec![5.0; n]],
        }
    }

    #[test]
    fn chunks_fill_the_waveform_in_order() {
        let mut w = WaveformRecord::open(&header(4), 7);
        assert!(!w.is_complete());
        w.append(&chunk(0, 0, vec![0, 1])).unwrap();
        // A sample rejected for its checksum leaves a gap in the ticks.
        w.append(&chunk(1, 2, vec![3, 4])).unwrap();
        assert!(w.is_complete());
        assert_eq!(w.time_s(), vec![0.0, 0.005, 0.015, 0.02]);
        assert_eq!(w.channel("pressure").map(|c| c.values.len()), Some(4));
        assert_eq!(w.counts.rejected, 1);
    }

    #[test]
    fn a_chunk_that_does_not_fit_is_refused() {
        let mut w = WaveformRecord::open(&header(4), 7);
        assert!(w.append(&chunk(1, 2, vec![2, 3])).is_err(), "out of order");
        let mut wrong = chunk(0, 0, vec![0, 1]);
        wrong.values.pop();
        assert!(w.append(&wrong).is_err(), "a channel missing");
        assert!(
            w.append(&chunk(0, 0, vec![0, 1, 2, 3, 4])).is_err(),
            "too many"
        );
        assert!(w.ticks.is_empty());
    }
}
