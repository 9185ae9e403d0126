//! The record: the single source of truth for a run, folded from its journal.
//!
//! A [`Record`] is built only from the journal's entries ([`Record::from_entries`]); every
//! report is rendered only from a record. It keeps every sample with its time stamps and
//! journal sequence number, so every derived figure can be recomputed from the raw data, and
//! the head hash of the journal it was sealed from.
//!
//! Signatures of a sealed record live beside it, in `signatures.jsonl` ([`signature`]); they
//! are never part of the record, whose bytes they sign.
//!
//! This stage does no I/O beyond [`write_record`], [`read_record`] and the signature files.

pub mod signature;
mod waveform;

use crate::analysis::Verdict;
use crate::journal::{
    CheckOutcome, Entry, InstrumentReady, PromptAnswer, RunEvent, RunHeader, read_journal,
};
use crate::units::Quantity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use waveform::{ChannelRecord, WaveformRecord};

pub use signature::{
    CheckedSignature, Meaning, SIGNATURES_FILE, Seal, Signature, SignatureCheck, SignatureError,
    SignatureStatus,
};

/// Version of the record format written by this build.
pub const RECORD_FORMAT: u32 = 1;

/// File name of the record inside a run directory.
pub const RECORD_FILE: &str = "record.json";

/// Everything known about a run, derived from its journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Record format version.
    pub format: u32,
    /// What ran, where, by whom.
    pub header: RunHeader,
    /// The instruments used, with identities and calibrations.
    pub instruments: Vec<InstrumentReady>,
    /// Conditions stated by instruments, per role (`gas_standard: BTPS`).
    pub conditions: BTreeMap<String, BTreeMap<String, String>>,
    /// The set points visited, in order.
    pub set_points: Vec<SetPointRecord>,
    /// Every measurement with its raw samples.
    pub measurements: Vec<MeasurementRecord>,
    /// Every check evaluated.
    pub checks: Vec<CheckOutcome>,
    /// Commands, prompts, errors and safe-state actions, in order.
    pub events: Vec<EventRecord>,
    /// The run's verdict; `None` when the journal ends before the run did (an interrupted run).
    pub verdict: Option<Verdict>,
    /// Why the run ended early, if it did.
    pub end_reason: Option<String>,
    /// Series of points collected across set points, for fits.
    #[serde(default)]
    pub series: Vec<SeriesRecord>,
    /// Interruptions and resumptions, in order.
    #[serde(default)]
    pub interruptions: Vec<Interruption>,
    /// Captured waveforms, in order (absent from records of runs without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waveforms: Vec<WaveformRecord>,
    /// Measurements restated at a gas standard, with the room conditions and factor used
    /// (absent from records of runs without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gas_conversions: Vec<crate::journal::GasConversion>,
    /// Emergency messages (CANopen EMCY) devices sent, in order. Left out when there are
    /// none, so records of runs without any keep the bytes (and hashes) they always had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emergencies: Vec<EmergencyRecord>,
    /// UTC time the run started.
    pub started_utc: String,
    /// UTC time of the last entry.
    pub ended_utc: String,
    /// Number of journal entries the record was folded from.
    pub journal_entries: u64,
    /// SHA-256 of the journal's last line: the head of its hash chain.
    pub journal_head: String,
}

/// A set point a sweep visited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetPointRecord {
    /// The sweep's name.
    pub sweep: String,
    /// 0-based index, unique within the run.
    pub index: usize,
    /// A label for tables (`row 3`).
    pub label: String,
    /// The values bound at this set point.
    pub bindings: BTreeMap<String, Quantity>,
}

/// One measurement: its samples in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasurementRecord {
    /// The measurement's id in the procedure.
    pub id: String,
    /// The role that produced it.
    pub role: String,
    /// The quantity read.
    pub quantity: String,
    /// The set point it was taken at.
    pub set_point: Option<usize>,
    /// The unit of every sample's value.
    pub unit: String,
    /// The raw samples.
    pub samples: Vec<SampleRecord>,
    /// Whether the measurement was interrupted and taken again after a resume (it is kept as
    /// evidence but does not count).
    #[serde(default)]
    pub superseded: bool,
}

/// A series of points collected across set points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesRecord {
    /// The series' name.
    pub id: String,
    /// Unit of x, as first collected.
    pub x_unit: String,
    /// Unit of y, as first collected.
    pub y_unit: String,
    /// The points in order (each in the unit it was collected in).
    pub points: Vec<SeriesPoint>,
}

/// One collected point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// The journal entry that holds it.
    pub seq: u64,
    /// The set point it was collected at.
    pub set_point: Option<usize>,
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// Whether the point was collected at a set point run again after an interruption.
    #[serde(default)]
    pub superseded: bool,
}

/// An emergency message a device sent (CANopen EMCY, CiA 301 §7.2.7), as journaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmergencyRecord {
    /// The journal entry that holds it.
    pub seq: u64,
    /// UTC time it was journaled.
    pub utc: String,
    /// The role of the instrument.
    pub role: String,
    /// The node that sent it.
    pub node: u8,
    /// The error code (0 is an error reset).
    pub code: u16,
    /// The class of the code in words.
    pub class: String,
    /// The error register at the time.
    pub register: u8,
    /// The manufacturer-specific bytes, in hex.
    pub manufacturer: String,
}

/// An interruption of the run (a crash, a power cut) and its resumption.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// UTC time of the last entry before the interruption.
    pub interrupted_utc: String,
    /// UTC time of the resumption.
    pub resumed_utc: String,
    /// Seconds between the two.
    pub gap_s: f64,
    /// The set point run again from, if any had started.
    pub from_set_point: Option<usize>,
    /// Who resumed the run.
    pub operator: String,
}

/// One raw sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// 0-based index of the sample within its measurement, as the runner numbered it.
    pub index: usize,
    /// The journal entry that holds it.
    pub seq: u64,
    /// UTC time stamp.
    pub utc: String,
    /// Seconds since the run started (monotonic clock).
    pub mono_s: f64,
    /// The value, in the measurement's unit.
    pub value: f64,
}

/// A notable event, as a line of the report's event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The journal entry that holds it.
    pub seq: u64,
    /// UTC time stamp.
    pub utc: String,
    /// `command`, `prompt`, `error`, `safe_state`, `link` or `step`.
    pub kind: String,
    /// The role concerned, if any.
    pub role: Option<String>,
    /// A one-line description.
    pub text: String,
}

/// Errors building, writing or reading a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The journal does not start with a run header.
    #[error("the journal does not start with a run_started entry")]
    NoHeader,
    /// The journal could not be read or does not verify.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// The record file could not be written or read.
    #[error("record {}: i/o error", path.display())]
    Io {
        /// The record file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The record file is not a valid record.
    #[error("record {}: not a valid record", path.display())]
    Decode {
        /// The record file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Record {
    /// Folds journal entries into a record. `head` is the hash of the last entry's line.
    pub fn from_entries(entries: &[Entry], head: &str) -> Result<Record, RecordError> {
        let Some(Entry {
            event: RunEvent::RunStarted(header),
            utc: started_utc,
            ..
        }) = entries.first()
        else {
            return Err(RecordError::NoHeader);
        };
        let mut record = Record {
            format: RECORD_FORMAT,
            header: (**header).clone(),
            instruments: Vec::new(),
            conditions: BTreeMap::new(),
            set_points: Vec::new(),
            measurements: Vec::new(),
            checks: Vec::new(),
            events: Vec::new(),
            verdict: None,
            end_reason: None,
            interruptions: Vec::new(),
            emergencies: Vec::new(),
            series: Vec::new(),
            waveforms: Vec::new(),
            gas_conversions: Vec::new(),
            started_utc: started_utc.clone(),
            ended_utc: entries.last().map(|e| e.utc.clone()).unwrap_or_default(),
            journal_entries: entries.len() as u64,
            journal_head: head.to_string(),
        };
        let mut folding = Folding::default();
        for entry in &entries[1..] {
            record.fold(entry, &mut folding);
        }
        Ok(record)
    }

    fn fold(&mut self, entry: &Entry, folding: &mut Folding) {
        let open = &mut folding.open;
        let mut note = |kind: &str, role: Option<&str>, text: String| {
            self.events.push(EventRecord {
                seq: entry.seq,
                utc: entry.utc.clone(),
                kind: kind.to_string(),
                role: role.map(str::to_string),
                text,
            });
        };
        match &entry.event {
            RunEvent::RunStarted(_) => note("error", None, "a second run_started entry".into()),
            RunEvent::InstrumentReady(ready) => self.instruments.push((**ready).clone()),
            RunEvent::SetPoint {
                sweep,
                index,
                label,
                bindings,
            } => self.set_points.push(SetPointRecord {
                sweep: sweep.clone(),
                index: *index,
                label: label.clone(),
                bindings: bindings.clone(),
            }),
            RunEvent::Command {
                role,
                command,
                value,
                readback,
            } => {
                let text = match (value, readback) {
                    (Some(v), Some(r)) => format!("set {command} = {v} (instrument reports {r})"),
                    (Some(v), None) => format!("set {command} = {v}"),
                    _ => command.clone(),
                };
                note("command", Some(role), text);
            }
            RunEvent::Prompt(PromptAnswer {
                message,
                answer,
                automatic,
                ..
            }) => {
                let by = if *automatic {
                    " (answered by --yes)"
                } else {
                    ""
                };
                note("prompt", None, format!("{message} → {answer}{by}"));
            }
            RunEvent::Sample {
                measurement,
                role,
                quantity,
                set_point,
                index,
                value,
            } => {
                let key = (measurement.clone(), *set_point);
                let slot = *open.entry(key).or_insert_with(|| {
                    self.measurements.push(MeasurementRecord {
                        id: measurement.clone(),
                        role: role.clone(),
                        quantity: quantity.clone(),
                        set_point: *set_point,
                        unit: value.unit.symbol().to_string(),
                        samples: Vec::new(),
                        superseded: false,
                    });
                    self.measurements.len() - 1
                });
                let m = &mut self.measurements[slot];
                // Samples of one measurement share its first sample's unit; a device that
                // changes units mid-measurement is converted, or noted when it cannot be.
                // A value already in the measurement's unit is kept bit for bit: the record
                // holds the raw sample, not a conversion of it.
                let converted = if value.unit.symbol() == m.unit {
                    Some(value.value)
                } else {
                    let unit = crate::units::parse_unit(&m.unit);
                    unit.ok()
                        .and_then(|u| value.to_unit(&u).ok())
                        .map(|q| q.value)
                };
                match converted {
                    Some(v) => m.samples.push(SampleRecord {
                        index: *index,
                        seq: entry.seq,
                        utc: entry.utc.clone(),
                        mono_s: entry.mono_s,
                        value: v,
                    }),
                    None => note(
                        "error",
                        Some(role),
                        format!(
                            "sample {value} of {measurement} has a unit incompatible with {}",
                            m.unit
                        ),
                    ),
                }
            }
            RunEvent::Condition { role, condition } => {
                self.conditions
                    .entry(role.clone())
                    .or_default()
                    .insert(condition.name.clone(), condition.value.clone());
            }
            RunEvent::Check(outcome) => self.checks.push((**outcome).clone()),
            RunEvent::AttemptStarted { group, attempt, of } => {
                folding.attempts.push(self.checks.len());
                note(
                    "attempt",
                    None,
                    format!("{group}: attempt {attempt} of {of}"),
                );
            }
            RunEvent::AttemptEnded {
                group,
                attempt,
                outcome,
                retried,
            } => {
                let first = folding.attempts.pop().unwrap_or(self.checks.len());
                if *retried {
                    // Every attempt stays in the record; only the last one counts.
                    for check in &mut self.checks[first..] {
                        check.superseded = true;
                    }
                }
                let then = if *retried { "; retrying" } else { "" };
                note(
                    "attempt",
                    None,
                    format!("{group}: attempt {attempt} ended {outcome}{then}"),
                );
            }
            RunEvent::WaitEnded {
                condition,
                polls,
                values,
                satisfied,
            } => {
                let read: Vec<String> = values.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                let how = if *satisfied {
                    "held"
                } else {
                    "did not hold before the timeout"
                };
                note(
                    "wait",
                    None,
                    format!(
                        "`{condition}` {how} after {polls} readings ({})",
                        read.join(", ")
                    ),
                );
            }
            RunEvent::Error { role, message } => note("error", role.as_deref(), message.clone()),
            RunEvent::Collected {
                series,
                set_point,
                x,
                y,
            } => {
                let slot = match self.series.iter().position(|s| s.id == *series) {
                    Some(i) => i,
                    None => {
                        self.series.push(SeriesRecord {
                            id: series.clone(),
                            x_unit: x.unit.symbol().to_string(),
                            y_unit: y.unit.symbol().to_string(),
                            points: Vec::new(),
                        });
                        self.series.len() - 1
                    }
                };
                self.series[slot].points.push(SeriesPoint {
                    seq: entry.seq,
                    set_point: *set_point,
                    x: x.value,
                    y: y.value,
                    superseded: false,
                });
            }
            RunEvent::InstrumentNote { role, note: text } => {
                note("instrument", Some(role), text.clone())
            }
            RunEvent::Emergency {
                role,
                node,
                code,
                class,
                register,
                manufacturer,
            } => {
                note(
                    "emergency",
                    Some(role),
                    format!(
                        "EMCY from node {node}: {code:04X}h ({class}), error register {register:02X}h"
                    ),
                );
                self.emergencies.push(EmergencyRecord {
                    seq: entry.seq,
                    utc: entry.utc.clone(),
                    role: role.clone(),
                    node: *node,
                    code: *code,
                    class: class.clone(),
                    register: *register,
                    manufacturer: manufacturer.clone(),
                });
            }
            RunEvent::SafeState { role, ok, message } => {
                let text = match (ok, message) {
                    (true, _) => "brought to its safe state".to_string(),
                    (false, Some(m)) => format!("could not be brought to its safe state: {m}"),
                    (false, None) => "could not be brought to its safe state".to_string(),
                };
                note("safe_state", Some(role), text);
            }
            RunEvent::RunResumed {
                interrupted_utc,
                gap_s,
                from_set_point,
                torn_bytes,
                operator,
            } => {
                // What the interrupted set point (or, before any set point, the whole body)
                // recorded stays as evidence but no longer counts: it is run again.
                let redone = |sp: Option<usize>| match from_set_point {
                    Some(from) => sp.is_some_and(|i| i >= *from),
                    None => true,
                };
                for check in self.checks.iter_mut().filter(|c| redone(c.set_point)) {
                    check.superseded = true;
                }
                for m in self.measurements.iter_mut().filter(|m| redone(m.set_point)) {
                    m.superseded = true;
                }
                for w in self.waveforms.iter_mut().filter(|w| redone(w.set_point)) {
                    w.superseded = true;
                }
                for point in self
                    .series
                    .iter_mut()
                    .flat_map(|s| s.points.iter_mut())
                    .filter(|p| redone(p.set_point))
                {
                    point.superseded = true;
                }
                folding.open.clear();
                let again = from_set_point
                    .map_or("the steps run again from the start".to_string(), |i| {
                        format!("set point {} and what follows run again", i + 1)
                    });
                let torn = if *torn_bytes > 0 {
                    format!("; a torn entry of {torn_bytes} bytes was discarded")
                } else {
                    String::new()
                };
                self.interruptions.push(Interruption {
                    interrupted_utc: interrupted_utc.clone(),
                    resumed_utc: entry.utc.clone(),
                    gap_s: *gap_s,
                    from_set_point: *from_set_point,
                    operator: operator.clone(),
                });
                note(
                    "interruption",
                    None,
                    format!(
                        "interrupted at {interrupted_utc}, resumed by {operator} after {gap_s:.0} s: {again}{torn}"
                    ),
                );
            }
            RunEvent::GasConversion(g) => {
                note(
                    "conditions",
                    Some(&g.role),
                    format!(
                        "{} stated at {} from the {} of the {} (room: {}, {}, {} by {}; factor {})",
                        g.measurement,
                        g.to,
                        g.from,
                        g.role,
                        g.temperature,
                        g.humidity,
                        g.pressure,
                        g.room,
                        g.factor
                    ),
                );
                self.gas_conversions.push((**g).clone());
            }
            RunEvent::WaveformCaptured(header) => {
                self.waveforms.push(WaveformRecord::open(header, entry.seq));
            }
            RunEvent::WaveformChunk(chunk) => {
                let target = self
                    .waveforms
                    .iter_mut()
                    .rev()
                    .find(|w| w.id == chunk.id && w.set_point == chunk.set_point);
                let result = match target {
                    Some(w) => w.append(chunk),
                    None => Err(format!(
                        "a chunk of waveform {} without its header",
                        chunk.id
                    )),
                };
                if let Err(message) = result {
                    note("error", None, message);
                }
            }
            RunEvent::LinkLost { role, message } => {
                note("link", Some(role), format!("link lost: {message}"))
            }
            RunEvent::LinkRestored {
                role,
                link,
                waited_s,
            } => note(
                "link",
                Some(role),
                format!("link {link} restored after {waited_s:.3} s, same identity"),
            ),
            RunEvent::RunEnded { verdict, reason } => {
                self.verdict = Some(*verdict);
                self.end_reason = reason.clone();
            }
        }
    }

    /// The total number of raw samples.
    pub fn sample_count(&self) -> usize {
        self.measurements.iter().map(|m| m.samples.len()).sum()
    }

    /// The set point with this index.
    pub fn set_point(&self, index: usize) -> Option<&SetPointRecord> {
        self.set_points.iter().find(|s| s.index == index)
    }
}

/// State carried while folding entries: open measurements, and where each open `repeat`
/// attempt's checks begin.
#[derive(Default)]
struct Folding {
    open: BTreeMap<(String, Option<usize>), usize>,
    attempts: Vec<usize>,
}

/// Reads the journal in `run_dir`, checks its chain, and folds it into a record.
pub fn record_from_run_dir(run_dir: &Path) -> Result<Record, RecordError> {
    let journal = read_journal(&run_dir.join(crate::journal::JOURNAL_FILE))?;
    Record::from_entries(&journal.entries, &journal.head)
}

/// Writes `record` as pretty JSON to `path`, durably.
pub fn write_record(record: &Record, path: &Path) -> Result<(), RecordError> {
    let io = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    use std::io::Write;
    let mut writer = std::io::BufWriter::new(file);
    // Streamed: a long run's record is not also held as one string.
    serde_json::to_writer_pretty(&mut writer, record).map_err(|source| RecordError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    writer.write_all(b"\n").map_err(io)?;
    let file = writer.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)
}

/// Reads a record written by [`write_record`].
pub fn read_record(path: &Path) -> Result<Record, RecordError> {
    let text = std::fs::read_to_string(path).map_err(|source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| RecordError::Decode {
        path: path.to_path_buf(),
        source,
    })
}
