//! Appending entries to a journal, durably.

use super::{GENESIS_HASH, JournalError, JournalErrorKind, RunEvent};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One journal line: an event with its place in the chain and its time stamps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 0-based sequence number.
    pub seq: u64,
    /// SHA-256 (hex) of the previous entry's line, or [`GENESIS_HASH`] for the first.
    pub prev: String,
    /// UTC time stamp (RFC 3339, microseconds).
    pub utc: String,
    /// Seconds since the run started, from the monotonic clock.
    pub mono_s: f64,
    /// What happened.
    pub event: RunEvent,
}

/// Where a run's events go.
pub trait JournalSink {
    /// Appends an event; when this returns `Ok`, the entry is acknowledged (durable for a
    /// file journal).
    fn append(&mut self, event: RunEvent) -> Result<&Entry, JournalError>;
}

/// The chain state shared by every sink: next sequence number, previous hash, clock origin.
#[derive(Debug)]
struct Chain {
    next_seq: u64,
    prev: String,
    started: Instant,
}

impl Chain {
    fn new() -> Chain {
        Chain {
            next_seq: 0,
            prev: GENESIS_HASH.to_string(),
            started: Instant::now(),
        }
    }

    /// Builds the next entry and its line, and advances the chain.
    fn seal(&mut self, event: RunEvent, path: &Path) -> Result<(Entry, String), JournalError> {
        let entry = Entry {
            seq: self.next_seq,
            prev: self.prev.clone(),
            utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            mono_s: self.started.elapsed().as_secs_f64(),
            event,
        };
        let line = serde_json::to_string(&entry).map_err(|e| JournalError {
            path: path.to_path_buf(),
            kind: JournalErrorKind::Encode(e),
        })?;
        self.prev = line_hash(&line);
        self.next_seq += 1;
        Ok((entry, line))
    }
}

/// SHA-256 of a journal line (without its newline), in hex.
pub(crate) fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// A journal file: each entry is written and `fdatasync`ed before `append` returns.
#[derive(Debug)]
pub struct JournalWriter {
    path: PathBuf,
    file: File,
    chain: Chain,
    last: Option<Entry>,
}

impl JournalWriter {
    /// Creates a new journal at `path`; fails if the file already exists, so a run can never
    /// overwrite another's evidence.
    pub fn create(path: &Path) -> Result<JournalWriter, JournalError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| JournalError {
                path: path.to_path_buf(),
                kind: JournalErrorKind::Io(e),
            })?;
        Ok(JournalWriter {
            path: path.to_path_buf(),
            file,
            chain: Chain::new(),
            last: None,
        })
    }

    /// Reopens an interrupted journal to append to it: checks its chain, cuts a torn last
    /// line (never data: it was not acknowledged), and continues the chain. Returns the writer,
    /// the entries read and the number of torn bytes cut.
    pub fn reopen(path: &Path) -> Result<(JournalWriter, Vec<Entry>, usize), JournalError> {
        let err = |kind| JournalError {
            path: path.to_path_buf(),
            kind,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(JournalErrorKind::Io(e)))?;
        let read = super::reader::parse_journal(&text).map_err(err)?;
        let keep = text.rfind('\n').map_or(0, |i| i + 1);
        let torn = text.len() - keep;
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| err(JournalErrorKind::Io(e)))?;
        file.set_len(keep as u64)
            .map_err(|e| err(JournalErrorKind::Io(e)))?;
        file.sync_all().map_err(|e| err(JournalErrorKind::Io(e)))?;
        drop(file);
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| err(JournalErrorKind::Io(e)))?;
        let last_mono = read.entries.last().map_or(0.0, |e| e.mono_s);
        // Monotonic clocks do not survive a restart: time stamps continue from the last one,
        // and the gap is recorded from the UTC clock in the run_resumed entry.
        let started = Instant::now()
            .checked_sub(std::time::Duration::from_secs_f64(last_mono.max(0.0)))
            .unwrap_or_else(Instant::now);
        let chain = Chain {
            next_seq: read.entries.len() as u64,
            prev: read.head.clone(),
            started,
        };
        let writer = JournalWriter {
            path: path.to_path_buf(),
            file,
            chain,
            last: None,
        };
        Ok((writer, read.entries, torn))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hash of the last entry written (the head of the chain).
    pub fn head(&self) -> &str {
        &self.chain.prev
    }
}

impl JournalSink for JournalWriter {
    fn append(&mut self, event: RunEvent) -> Result<&Entry, JournalError> {
        let (entry, mut line) = self.chain.seal(event, &self.path)?;
        line.push('\n');
        let io = |e| JournalError {
            path: self.path.clone(),
            kind: JournalErrorKind::Io(e),
        };
        // One write per entry keeps a line whole or absent after a crash (a torn tail is
        // detected by the reader). Entries that record the world (a sample, a command, an
        // answer, an error) are made durable at once, and carry with them every entry written
        // since the last sync; derived entries (a check, a step started) ride with the next.
        self.file.write_all(line.as_bytes()).map_err(io)?;
        if entry.event.is_sync_point() {
            self.file.sync_data().map_err(io)?;
        }
        Ok(self.last.insert(entry))
    }
}

/// A journal kept in memory, for tests and benchmarks of the runner.
#[derive(Debug)]
pub struct MemoryJournal {
    chain: Chain,
    entries: Vec<Entry>,
    lines: Vec<String>,
}

impl Default for MemoryJournal {
    fn default() -> Self {
        MemoryJournal {
            chain: Chain::new(),
            entries: Vec::new(),
            lines: Vec::new(),
        }
    }
}

impl MemoryJournal {
    /// The entries appended so far.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The journal as the text a file journal would hold.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

impl JournalSink for MemoryJournal {
    fn append(&mut self, event: RunEvent) -> Result<&Entry, JournalError> {
        let (entry, line) = self.chain.seal(event, Path::new("<memory>"))?;
        self.lines.push(line);
        self.entries.push(entry);
        self.entries.last().ok_or_else(|| JournalError {
            path: PathBuf::from("<memory>"),
            kind: JournalErrorKind::Empty,
        })
    }
}
