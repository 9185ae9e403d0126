//! The journal: an append-only, hash-chained log of everything a run did, written as it happens.
//!
//! # Architecture
//!
//! - [`RunEvent`] (`event.rs`) is the contract between the runner and everything downstream:
//!   the runner emits events, the journal writes them, the console reporter prints them, and
//!   the record is folded from them.
//! - [`Entry`] wraps an event with its sequence number, UTC and monotonic time stamps, and the
//!   SHA-256 of the previous entry's line (the hash chain).
//! - [`JournalWriter`] appends one JSON line per entry, and makes the journal durable
//!   (`fdatasync`) before returning from every entry that records the world — a sample, a
//!   command, an operator's answer, an error ([`RunEvent::is_sync_point`]) — so an
//!   acknowledged sample survives a crash or a power cut. Derived entries (a check's verdict,
//!   a step started) are held in memory and written in the same `write` as the next entry
//!   that records the world: one `write` and one fdatasync per measured sample, not one per
//!   entry, without weakening the guarantee for anything measured or commanded.
//! - [`read_journal`] reads a journal back, checking the chain; a torn last line (a crash in
//!   the middle of a write) is reported, never taken for data.
//!
//! The format carries a version ([`JOURNAL_FORMAT`]) in the first entry.

mod error;
mod event;
mod gas;
mod json;
mod reader;
mod waveform;
mod writer;

pub use error::{JournalError, JournalErrorKind};
pub use event::{
    CheckOutcome, InstrumentReady, LimitRecord, PromptAnswer, RunEvent, RunHeader, SoftwareInfo,
    SourceFile,
};
pub use gas::GasConversion;
pub use reader::{ReadJournal, read_journal};
pub use waveform::{CHUNK_SAMPLES, ChannelHeader, WaveformChunk, WaveformHeader};
pub use writer::{Entry, JournalSink, JournalWriter, MemoryJournal};

/// Version of the journal format written by this build.
pub const JOURNAL_FORMAT: u32 = 1;

/// The `prev` hash of the first entry of every journal.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// File name of the journal inside a run directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
