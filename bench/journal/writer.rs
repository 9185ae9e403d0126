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
    /// Appends an event; when this returns `Ok`, the entry is acknowledged. For a file
    /// journal, an entry that records the world ([`RunEvent::is_sync_point`]) is then durable,
    /// with every entry before it; a derived entry is durable with the next one that records
    /// the world (see [`JournalWriter`]).
    fn append(&mut self, event: RunEvent) -> Result<&Entry, JournalError>;

    /// Hands every acknowledged entry to the file (without making it durable), so that
    /// readers of the file see it: called before the run waits on a person or on time.
    fn flush(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
}

/// The chain state shared by every sink: next sequence number, previous hash, clock origin,
/// and the buffer each line is serialised into (reused, so an entry allocates only what the
/// [`Entry`] itself keeps).
#[derive(Debug)]
struct Chain {
    next_seq: u64,
    prev: String,
    started: Instant,
    utc: UtcStamps,
    line: Vec<u8>,
}

impl Chain {
    fn new() -> Chain {
        Chain::continuing(0, GENESIS_HASH.to_string(), Instant::now())
    }

    fn continuing(next_seq: u64, prev: String, started: Instant) -> Chain {
        Chain {
            next_seq,
            prev,
            started,
            utc: UtcStamps::default(),
            line: Vec::with_capacity(1024),
        }
    }

    /// Builds the next entry, serialises its line (without newline) into `self.line`, and
    /// advances the chain.
    fn seal(&mut self, event: RunEvent, path: &Path) -> Result<Entry, JournalError> {
        let entry = Entry {
            seq: self.next_seq,
            // The previous hash moves into the entry; the chain gets the new one below.
            prev: std::mem::take(&mut self.prev),
            utc: self.utc.now(),
            mono_s: self.started.elapsed().as_secs_f64(),
            event,
        };
        self.line.clear();
        if let Err(e) = write_entry(&mut self.line, &entry) {
            self.prev = entry.prev;
            return Err(JournalError {
                path: path.to_path_buf(),
                kind: JournalErrorKind::Encode(e),
            });
        }
        self.prev = bytes_hash(&self.line);
        self.next_seq += 1;
        Ok(entry)
    }
}

/// Serialises `entry` as its journal line, byte for byte what `serde_json::to_string(entry)`
/// gives: the envelope is written directly, the event by `json::write_event` (directly for
/// the events of every step, through serde for the others). The envelope's strings
/// never need escaping: `prev` is a hash in hex (or [`GENESIS_HASH`]), `utc` a time stamp from
/// [`UtcStamps`]; both are made here, never taken from outside.
fn write_entry(out: &mut Vec<u8>, entry: &Entry) -> Result<(), serde_json::Error> {
    debug_assert!([&entry.prev, &entry.utc].iter().all(|s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-:.".contains(&b))
    }));
    out.extend_from_slice(b"{\"seq\":");
    serde_json::to_writer(&mut *out, &entry.seq)?;
    out.extend_from_slice(b",\"prev\":\"");
    out.extend_from_slice(entry.prev.as_bytes());
    out.extend_from_slice(b"\",\"utc\":\"");
    out.extend_from_slice(entry.utc.as_bytes());
    out.extend_from_slice(b"\",\"mono_s\":");
    serde_json::to_writer(&mut *out, &entry.mono_s)?;
    out.extend_from_slice(b",\"event\":");
    super::json::write_event(out, &entry.event)?;
    out.push(b'}');
    Ok(())
}

/// UTC time stamps in RFC 3339 with microseconds (`2026-11-23T13:32:46.606261Z`), as chrono
/// writes them; the date and time up to the second are formatted once per second.
#[derive(Debug, Default)]
struct UtcStamps {
    /// The second last formatted, and its text without fraction or `Z`.
    second: Option<(i64, String)>,
}

impl UtcStamps {
    /// The current UTC time stamp.
    fn now(&mut self) -> String {
        self.format(chrono::Utc::now())
    }

    fn format(&mut self, at: chrono::DateTime<chrono::Utc>) -> String {
        let nanos = at.timestamp_subsec_nanos();
        if nanos >= 1_000_000_000 {
            // A leap second: rare enough to leave to chrono.
            return at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        }
        let second = at.timestamp();
        let prefix = match &mut self.second {
            Some((s, prefix)) if *s == second => prefix,
            slot => {
                let mut text = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                text.pop(); // the `Z`
                &mut slot.insert((second, text)).1
            }
        };
        let mut stamp = String::with_capacity(prefix.len() + 8);
        stamp.push_str(prefix);
        stamp.push('.');
        let micros = nanos / 1000;
        let mut divisor = 100_000;
        while divisor > 0 {
            stamp.push(char::from(b'0' + ((micros / divisor) % 10) as u8));
            divisor /= 10;
        }
        stamp.push('Z');
        stamp
    }
}

/// SHA-256 of a journal line (without its newline), in hex.
pub(crate) fn line_hash(line: &str) -> String {
    bytes_hash(line.as_bytes())
}

/// SHA-256 of some bytes, in lower-case hex.
fn bytes_hash(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(2 * digest.len());
    for b in digest {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    hex
}

/// A journal file, appended to durably.
///
/// # What is durable when, and what a crash can lose
///
/// An entry that records the world ([`RunEvent::is_sync_point`]: a sample, a command, an
/// operator's answer, an error, a safe state, the run's start, resumption and end) is written
/// and `fdatasync`ed before [`append`](JournalSink::append) returns, so nothing measured,
/// commanded or answered is acknowledged before it survives a power cut.
///
/// A derived entry (a set point entered, a check's verdict, a step started, a wait ended) is
/// sealed into the chain at once but kept in memory, and goes to the file in the same `write`
/// as the next entry that records the world, just before that one's `fdatasync`. A step of
/// the usual kind (set point, sample, check) so costs one `write` and one `fdatasync`, not
/// three `write`s. Held entries also go to the file (not synced) when they exceed 64 KiB,
/// on [`flush`](JournalSink::flush) (the runner flushes before waiting on a person or on
/// time) and when the writer is dropped.
///
/// The file is therefore always a prefix of the chain — whole lines, possibly followed by a
/// torn part of the next (a crash inside a `write`, which the reader detects and `reopen`
/// cuts). A `kill -9` or a power cut loses at most the derived entries since the last entry
/// that recorded the world: what `qbench resume` derives again, because it starts again from
/// the last set point entered in the file (its samples, already durable, are marked
/// superseded in the record).
#[derive(Debug)]
pub struct JournalWriter {
    path: PathBuf,
    file: File,
    chain: Chain,
    last: Option<Entry>,
    /// Lines (each with its newline) of derived entries not yet written, in chain order.
    held: Vec<u8>,
}

/// The most bytes of derived entries a [`JournalWriter`] holds before writing them anyway
/// (without a sync): bounds memory when many derived entries follow each other.
const HELD_LIMIT: usize = 64 * 1024;

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
            held: Vec::with_capacity(4096),
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
        let chain = Chain::continuing(read.entries.len() as u64, read.head.clone(), started);
        let writer = JournalWriter {
            path: path.to_path_buf(),
            file,
            chain,
            last: None,
            held: Vec::with_capacity(4096),
        };
        Ok((writer, read.entries, torn))
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hash of the last entry appended (the head of the chain; the entry may still be
    /// held, see the type's documentation).
    pub fn head(&self) -> &str {
        &self.chain.prev
    }

    /// Writes the held lines to the file, with one `write` when the kernel takes them all.
    /// What was written leaves `held` even if a later `write` fails, so a retry never writes
    /// a line twice.
    fn write_held(&mut self) -> Result<(), JournalError> {
        let mut written = 0;
        let result = loop {
            if written == self.held.len() {
                break Ok(());
            }
            match self.file.write(&self.held[written..]) {
                Ok(0) => break Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.held.drain(..written);
        result.map_err(|e| JournalError {
            path: self.path.clone(),
            kind: JournalErrorKind::Io(e),
        })
    }
}

impl JournalSink for JournalWriter {
    fn append(&mut self, event: RunEvent) -> Result<&Entry, JournalError> {
        let entry = self.chain.seal(event, &self.path)?;
        self.held.extend_from_slice(&self.chain.line);
        self.held.push(b'\n');
        // A world entry goes out with the derived entries held before it, in one write, and
        // is made durable with them before `append` returns (see the type's documentation).
        if entry.event.is_sync_point() {
            self.write_held()?;
            self.file.sync_data().map_err(|e| JournalError {
                path: self.path.clone(),
                kind: JournalErrorKind::Io(e),
            })?;
        } else if self.held.len() >= HELD_LIMIT {
            self.write_held()?;
        }
        Ok(self.last.insert(entry))
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        self.write_held()
    }
}

impl Drop for JournalWriter {
    /// Writes the held derived entries (not synced, as before a crash they would not be);
    /// an error here cannot be reported: call [`JournalSink::flush`] first to see it.
    fn drop(&mut self) {
        let _ = self.write_held();
    }
}

/// The file journal's batching: what is in the file when.
#[cfg(test)]
mod held_tests {
    use super::*;
    use crate::units::{Quantity, parse_unit};

    fn set_point(index: usize) -> RunEvent {
        RunEvent::SetPoint {
            sweep: "rates".into(),
            index,
            label: format!("row {}", index + 1),
            bindings: std::collections::BTreeMap::new(),
        }
    }

    fn sample(index: usize) -> RunEvent {
        RunEvent::Sample {
            measurement: "flow".into(),
            role: "meter".into(),
            quantity: "high_flow".into(),
            set_point: Some(index),
            index: 0,
            value: Quantity::new(30.0, parse_unit("L/min").unwrap()),
        }
    }

    fn attempt(attempt: usize) -> RunEvent {
        RunEvent::AttemptStarted {
            group: "g".repeat(100),
            attempt,
            of: usize::MAX,
        }
    }

    /// The file's entries, checked against the chain; fails on a torn or broken journal.
    fn on_disk(path: &Path) -> Vec<Entry> {
        let text = std::fs::read_to_string(path).unwrap();
        if text.is_empty() {
            return Vec::new();
        }
        let read = super::super::reader::parse_journal(&text).unwrap();
        assert!(!read.torn_tail);
        read.entries
    }

    #[test]
    fn derived_entries_reach_the_file_with_the_next_world_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = JournalWriter::create(&path).unwrap();
        assert!(!set_point(0).is_sync_point() && sample(0).is_sync_point());
        journal.append(set_point(0)).unwrap();
        assert!(on_disk(&path).is_empty(), "a derived entry is held");
        journal.append(sample(0)).unwrap();
        let entries = on_disk(&path);
        assert_eq!(entries.len(), 2, "the sample takes the set point with it");
        assert_eq!(entries[0].event, set_point(0));
        assert_eq!(entries[1].event, sample(0));
        journal.append(set_point(1)).unwrap();
        assert_eq!(on_disk(&path).len(), 2);
        journal.flush().unwrap();
        let entries = on_disk(&path);
        assert_eq!(entries.len(), 3, "flush writes what is held");
        assert_eq!(entries[2].event, set_point(1));
        journal.flush().unwrap();
        assert_eq!(on_disk(&path).len(), 3, "an empty flush writes nothing");
    }

    #[test]
    fn dropping_the_writer_writes_what_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = JournalWriter::create(&path).unwrap();
        journal.append(sample(0)).unwrap();
        journal.append(set_point(1)).unwrap();
        let head = journal.head().to_string();
        drop(journal);
        let text = std::fs::read_to_string(&path).unwrap();
        let read = super::super::reader::parse_journal(&text).unwrap();
        assert_eq!(read.entries.len(), 2);
        assert_eq!(read.head, head);
    }

    #[test]
    fn a_long_run_of_derived_entries_is_written_in_whole_lines_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = JournalWriter::create(&path).unwrap();
        let mut appended = 0;
        loop {
            journal.append(attempt(appended)).unwrap();
            appended += 1;
            if journal.held.is_empty() {
                break;
            }
            assert!(journal.held.len() < HELD_LIMIT);
            assert!(on_disk(&path).is_empty(), "held below the limit");
        }
        let entries = on_disk(&path);
        assert_eq!(entries.len(), appended, "all written, in whole lines");
        let bytes = std::fs::metadata(&path).unwrap().len();
        assert!(
            bytes >= HELD_LIMIT as u64,
            "written once past {HELD_LIMIT} bytes"
        );
    }

    #[test]
    fn after_losing_what_was_held_the_journal_reopens_at_the_last_world_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = JournalWriter::create(&path).unwrap();
        journal.append(set_point(0)).unwrap();
        journal.append(sample(0)).unwrap();
        let durable_head = journal.head().to_string();
        journal.append(set_point(1)).unwrap();
        // A kill -9 now: the held set point dies with the process, unwritten.
        journal.held.clear();
        drop(journal);

        let (mut journal, entries, torn) = JournalWriter::reopen(&path).unwrap();
        assert_eq!((entries.len(), torn), (2, 0));
        assert_eq!(journal.head(), durable_head);
        journal.append(set_point(1)).unwrap();
        journal.append(sample(1)).unwrap();
        drop(journal);
        let entries = on_disk(&path);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[2].seq, 2, "the chain continues from the file");
        assert_eq!(entries[3].event, sample(1));
    }
}

/// A journal kept in memory, for tests and benchmarks of the runner.
///
/// Its lines are kept end to end in one buffer, as a file journal holds them: appending an
/// entry copies its line there, with no allocation of its own.
#[derive(Debug)]
pub struct MemoryJournal {
    chain: Chain,
    entries: Vec<Entry>,
    /// Every line written so far, each ended by a newline.
    text: Vec<u8>,
}

impl Default for MemoryJournal {
    fn default() -> Self {
        MemoryJournal {
            chain: Chain::new(),
            entries: Vec::new(),
            text: Vec::new(),
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
        // Lines are JSON written by serde_json from Rust strings: always UTF-8, so nothing is
        // ever replaced here.
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

impl JournalSink for MemoryJournal {
    fn append(&mut self, event: RunEvent) -> Result<&Entry, JournalError> {
        let entry = self.chain.seal(event, Path::new("<memory>"))?;
        self.text.extend_from_slice(&self.chain.line);
        self.text.push(b'\n');
        self.entries.push(entry);
        self.entries.last().ok_or_else(|| JournalError {
            path: PathBuf::from("<memory>"),
            kind: JournalErrorKind::Empty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{Quantity, parse_unit};
    use proptest::prelude::*;

    fn sample(measurement: String, value: f64) -> RunEvent {
        RunEvent::Sample {
            measurement,
            role: "meter".into(),
            quantity: "high_flow".into(),
            set_point: Some(3),
            index: 0,
            value: Quantity::new(value, parse_unit("L/min").unwrap()),
        }
    }

    fn line(entry: &Entry) -> String {
        let mut out = Vec::new();
        write_entry(&mut out, entry).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_line_is_what_serde_writes() {
        let entry = Entry {
            seq: 17,
            prev: GENESIS_HASH.into(),
            utc: "2026-11-23T13:32:46.606261Z".into(),
            mono_s: 0.000023785,
            event: sample("flow \"a\" \\ é\n".into(), 30.0),
        };
        assert_eq!(line(&entry), serde_json::to_string(&entry).unwrap());
    }

    proptest! {
        #[test]
        fn any_line_is_what_serde_writes(
            seq in any::<u64>(),
            prev in "[0-9a-f]{64}",
            measurement in ".{0,20}",
            mono_s in 0.0f64..1e9,
            value in any::<f64>().prop_filter("finite", |v| v.is_finite()),
        ) {
            let entry = Entry {
                seq,
                prev,
                utc: "2026-11-23T13:32:46.000001Z".into(),
                mono_s,
                event: sample(measurement, value),
            };
            prop_assert_eq!(line(&entry), serde_json::to_string(&entry).unwrap());
        }

        #[test]
        fn time_stamps_are_what_chrono_writes(
            secs in 0i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            later in 0u32..1_000_000_000,
        ) {
            let mut stamps = UtcStamps::default();
            for n in [nanos, later] {
                let at = chrono::DateTime::from_timestamp(secs, n).unwrap();
                prop_assert_eq!(
                    stamps.format(at),
                    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                );
            }
            let next = chrono::DateTime::from_timestamp(secs + 1, nanos).unwrap();
            prop_assert_eq!(
                stamps.format(next),
                next.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
        }

        #[test]
        fn hashes_are_lower_case_hex_sha256(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(bytes_hash(&bytes), hex::encode(Sha256::digest(&bytes)));
        }
    }

    #[test]
    fn memory_and_file_journals_write_the_same_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut file = JournalWriter::create(&path).unwrap();
        let mut memory = MemoryJournal::default();
        for i in 0..5 {
            file.append(sample(format!("m{i}"), f64::from(i))).unwrap();
            memory
                .append(sample(format!("m{i}"), f64::from(i)))
                .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let read = super::super::reader::parse_journal(&text).unwrap();
        assert_eq!(read.entries.len(), 5);
        assert_eq!(read.head, file.head());
        // Same events, same chain rules: every line hashes into the next entry's `prev`.
        let text = memory.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        for (entry, previous) in memory.entries()[1..].iter().zip(&lines) {
            assert_eq!(entry.prev, line_hash(previous));
        }
        for (entry, line) in memory.entries().iter().zip(&lines) {
            assert_eq!(*line, serde_json::to_string(entry).unwrap());
        }
    }
}
