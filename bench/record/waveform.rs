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
