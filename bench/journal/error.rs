//! Errors of the journal stage.

use std::path::PathBuf;

/// An error writing or reading a journal, with the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("journal {}: {kind}", path.display())]
pub struct JournalError {
    /// The journal file.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub kind: JournalErrorKind,
}

/// What went wrong with a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalErrorKind {
    /// The file could not be created, written, synced or read.
    #[error("i/o error")]
    Io(#[source] std::io::Error),
    /// An event could not be encoded.
    #[error("cannot encode entry")]
    Encode(#[source] serde_json::Error),
    /// A line is not a valid entry.
    #[error("line {line} is not a valid journal entry")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The hash chain is broken at this entry.
    #[error(
        "entry {seq} (line {line}) does not chain to the entry before it: it was altered, removed or inserted"
    )]
    BrokenChain {
        /// The sequence number written in the entry.
        seq: u64,
        /// 1-based line number.
        line: usize,
    },
    /// Sequence numbers are not consecutive.
    #[error("line {line} holds entry {found} where entry {expected} was expected")]
    OutOfSequence {
        /// 1-based line number.
        line: usize,
        /// The sequence number expected.
        expected: u64,
        /// The sequence number found.
        found: u64,
    },
    /// The journal holds no entry.
    #[error("the journal is empty")]
    Empty,
}
