//! Journal entries of a waveform capture.
//!
//! A waveform holds hundreds of samples per second of bench time (200 for IMT fast data), so
//! it is not journaled one sample per entry: a [`WaveformHeader`] entry states what was
//! captured (quantities and units, sampling period, sample and chunk counts, breaths, and the
//! stream's counts of received, rejected and missing packets), then [`WaveformChunk`]
//! entries carry the samples, [`CHUNK_SAMPLES`] at a time. The samples stay in the journal,
//! and so under its hash chain, like every other raw sample; a run directory needs no side
//! file. The header is a sync point, so the whole capture is durable once the last chunk is
//! (the next sync point follows at once: a chunk is itself one).

use crate::driver::StreamCounts;
use serde::{Deserialize, Serialize};

/// Samples per chunk entry: 5 s of IMT fast data, about 20 kB of JSON.
pub const CHUNK_SAMPLES: usize = 1000;

/// What a capture took, journaled before its samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveformHeader {
    /// The capture's id in the procedure.
    pub id: String,
    /// The role whose data stream was captured.
    pub role: String,
    /// The set point it was captured at.
    pub set_point: Option<usize>,
    /// What the procedure asked for (`2 breaths`, `5 s`).
    pub length: String,
    /// Sampling period, s.
    pub period_s: f64,
    /// The quantities, in the order of each chunk's values.
    pub channels: Vec<ChannelHeader>,
    /// Samples in all the chunks that follow.
    pub samples: usize,
    /// Chunk entries that follow.
    pub chunks: usize,
    /// Whole breaths captured (0 for a capture of a duration).
    pub breaths: usize,
    /// How the stream went: packets received, rejected (failed checksum), missing.
    pub counts: StreamCounts,
}

/// One quantity of a waveform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelHeader {
    /// The quantity (`flow`).
    pub quantity: String,
    /// The unit of its values (`L/min`).
    pub unit: String,
}

/// A run of consecutive samples of a waveform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaveformChunk {
    /// The capture's id.
    pub id: String,
    /// The set point it was captured at.
    pub set_point: Option<usize>,
    /// 0-based chunk number.
    pub chunk: usize,
    /// Index of the chunk's first sample in the waveform.
    pub first: usize,
    /// Time of each sample since the waveform's first, in sampling periods.
    pub ticks: Vec<u32>,
    /// One list of values per channel (in the header's order), one value per sample.
    pub values: Vec<Vec<f64>>,
}
