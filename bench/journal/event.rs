//! The events a run emits: the contract between the runner, the journal, the console and the
//! record.

use crate::analysis::Verdict;
use crate::driver::{Condition, Identity};
use crate::units::Quantity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One thing that happened during a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run started: everything needed to repeat it.
    RunStarted(Box<RunHeader>),
    /// An instrument was opened and identified.
    InstrumentReady(Box<InstrumentReady>),
    /// A sweep entered a set point.
    SetPoint {
        /// The sweep's name.
        sweep: String,
        /// 0-based index of the set point in the run (unique across sweeps).
        index: usize,
        /// A label for tables (`row 3`).
        label: String,
        /// The values the set point binds.
        bindings: BTreeMap<String, Quantity>,
    },
    /// A command was sent to an instrument and acknowledged.
    Command {
        /// The role commanded.
        role: String,
        /// The setting or action (`tidal_volume`, `start`).
        command: String,
        /// The value set, for settings.
        value: Option<Quantity>,
        /// The value the instrument reported back, for settings.
        readback: Option<Quantity>,
    },
    /// An operator prompt and its answer.
    Prompt(PromptAnswer),
    /// One sample of a measurement.
    Sample {
        /// The measurement's id in the procedure.
        measurement: String,
        /// The role that produced it.
        role: String,
        /// The quantity read (`inspired_volume`).
        quantity: String,
        /// The set point it belongs to.
        set_point: Option<usize>,
        /// 0-based index of the sample within its measurement.
        index: usize,
        /// The value as the instrument reported it.
        value: Quantity,
    },
    /// A condition under which an instrument measured (its gas standard).
    Condition {
        /// The role of the instrument.
        role: String,
        /// The condition.
        condition: Condition,
    },
    /// A check was evaluated.
    Check(Box<CheckOutcome>),
    /// A point added to a series (`collect` step), for fits across set points.
    Collected {
        /// The series.
        series: String,
        /// The set point it was collected at.
        set_point: Option<usize>,
        /// The point's x.
        x: Quantity,
        /// The point's y.
        y: Quantity,
    },
    /// Something an instrument's driver noted: an entry of the instrument's own error queue,
    /// a retry that recovered from a transient fault.
    InstrumentNote {
        /// The role of the instrument.
        role: String,
        /// What was noted.
        note: String,
    },
    /// An emergency message (CANopen EMCY, CiA 301 §7.2.7) a device sent.
    Emergency {
        /// The role of the instrument.
        role: String,
        /// The node that sent it.
        node: u8,
        /// The emergency error code (0 is an error reset).
        code: u16,
        /// The class of the code in words (CiA 301 table 21: `current`, `device specific`).
        class: String,
        /// The error register (object 1001h) at the time.
        register: u8,
        /// The five manufacturer-specific bytes, in hex.
        manufacturer: String,
    },
    /// Something went wrong; the message names the instrument and what was expected.
    Error {
        /// The role concerned, if any.
        role: Option<String>,
        /// What happened.
        message: String,
    },
    /// A safe-state command during teardown.
    SafeState {
        /// The role brought to its safe state.
        role: String,
        /// Whether the instrument acknowledged.
        ok: bool,
        /// The error, if it did not.
        message: Option<String>,
    },
    /// An attempt of a `repeat` group started.
    AttemptStarted {
        /// The group's name.
        group: String,
        /// 1-based attempt number.
        attempt: usize,
        /// The most attempts allowed.
        of: usize,
    },
    /// An attempt of a `repeat` group ended.
    AttemptEnded {
        /// The group's name.
        group: String,
        /// 1-based attempt number.
        attempt: usize,
        /// PASS, FAIL, or ERROR for an attempt ended by an instrument error.
        outcome: Verdict,
        /// Whether another attempt follows (this attempt's checks then do not count).
        retried: bool,
    },
    /// A wait for a condition ended.
    WaitEnded {
        /// The condition waited for.
        condition: String,
        /// How many times the quantities were read.
        polls: usize,
        /// The last values read.
        values: BTreeMap<String, Quantity>,
        /// Whether the condition held (false: the wait timed out).
        satisfied: bool,
    },
    /// An interrupted run was resumed (`qbench resume`).
    RunResumed {
        /// UTC time of the last entry before the interruption.
        interrupted_utc: String,
        /// Seconds between that entry and the resumption (UTC clock).
        gap_s: f64,
        /// The set point run again from (complete set points before it are kept); `None`
        /// when no set point had started: the steps run again from the start.
        from_set_point: Option<usize>,
        /// Bytes of a torn last line discarded (a crash in the middle of a write).
        torn_bytes: usize,
        /// Who resumed the run.
        operator: String,
    },
    /// A waveform was captured; its samples follow in [`RunEvent::WaveformChunk`] entries.
    WaveformCaptured(Box<super::WaveformHeader>),
    /// Consecutive samples of a captured waveform.
    WaveformChunk(Box<super::WaveformChunk>),
    /// A measurement's volumes or flows are stated at another gas standard, in the room
    /// conditions read just before it.
    GasConversion(Box<super::GasConversion>),
    /// The link to an instrument was lost: its port went away (a cable pulled, a USB
    /// adapter unplugged) or hung up.
    LinkLost {
        /// The role of the instrument.
        role: String,
        /// The error that showed it.
        message: String,
    },
    /// A lost link was opened again and the instrument answered with the same identity.
    LinkRestored {
        /// The role of the instrument.
        role: String,
        /// The link reopened, as the fixture names it.
        link: String,
        /// Real seconds spent reopening it.
        waited_s: f64,
    },
    /// The run ended.
    RunEnded {
        /// The overall verdict.
        verdict: Verdict,
        /// Why the run ended early, if it did.
        reason: Option<String>,
    },
}

impl RunEvent {
    /// Whether the journal must be durable (fdatasync) once this entry is written, before the
    /// run proceeds: true for what records the world or the run's fate (samples, commands,
    /// operator answers, errors, safe states, start, resumption and end). Derived entries
    /// (checks, set points, steps started, conditions, attempts, waits) are written at once
    /// and made durable with the next sync point; a crash before it loses only what can be
    /// derived again, and `qbench resume` derives it again.
    pub fn is_sync_point(&self) -> bool {
        !matches!(
            self,
            RunEvent::SetPoint { .. }
                | RunEvent::Check(_)
                | RunEvent::Collected { .. }
                | RunEvent::Condition { .. }
                | RunEvent::AttemptStarted { .. }
                | RunEvent::AttemptEnded { .. }
                | RunEvent::WaitEnded { .. }
        )
    }
}

/// What a run is: procedure, fixture, software, people and device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// Journal format version.
    pub format: u32,
    /// The run's id (also its directory name).
    pub run_id: String,
    /// The procedure file, its bytes and hash.
    pub procedure: SourceFile,
    /// Procedure id.
    pub procedure_id: String,
    /// Procedure version.
    pub procedure_version: String,
    /// Procedure title.
    pub title: String,
    /// The standard the procedure implements.
    pub standard: String,
    /// The clause of that standard.
    pub clause: String,
    /// The fixture file, its bytes and hash.
    pub fixture: SourceFile,
    /// The fixture's name.
    pub fixture_name: String,
    /// Whether the fixture is the simulated bench.
    pub simulated: bool,
    /// Simulated time per real time (1 on real benches).
    pub time_scale: f64,
    /// The software that ran.
    pub software: SoftwareInfo,
    /// Host name of the bench computer.
    pub host: String,
    /// Who ran the procedure.
    pub operator: String,
    /// Serial number of the device under test.
    pub dut_serial: String,
    /// Parameter values in force (defaults with `--set` overrides applied).
    pub parameters: BTreeMap<String, Quantity>,
    /// Parameters overridden on the command line.
    pub overrides: Vec<String>,
    /// The computing environment: operating system, architecture, kernel.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Whether the run was allowed to use instruments past their calibration due date
    /// (`--allow-expired-calibration`); the report says so prominently.
    #[serde(default)]
    pub allow_expired_calibration: bool,
}

/// A file the run depended on, kept whole so the run can be repeated and checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceFile {
    /// The path as given.
    pub path: String,
    /// SHA-256 of the bytes, in hex.
    pub sha256: String,
    /// The text of the file.
    pub text: String,
}

/// The software that produced a record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftwareInfo {
    /// Program name.
    pub name: String,
    /// Program version.
    pub version: String,
    /// The git commit it was built from (`-modified` when the checkout had changes).
    #[serde(default)]
    pub git_commit: Option<String>,
}

/// An instrument opened and identified at the start of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstrumentReady {
    /// The role it plays.
    pub role: String,
    /// The driver speaking to it.
    pub driver: String,
    /// The link, as described by the link (`/dev/pts/3 @ 19200 8N1`).
    pub link: String,
    /// What the instrument answered to its identity query.
    pub identity: Identity,
    /// Calibration certificate declared in the fixture.
    pub calibration_certificate: Option<String>,
    /// Calibration due date declared in the fixture (ISO 8601 date).
    pub calibration_due: Option<String>,
    /// Accuracy specification declared in the fixture.
    pub accuracy: Option<String>,
}

/// An operator prompt and how it was answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptAnswer {
    /// The message shown to the operator.
    pub message: String,
    /// The answer given.
    pub answer: String,
    /// Whether `--yes` answered in the operator's place.
    pub automatic: bool,
    /// The value entered, for prompts that ask for one.
    #[serde(default)]
    pub value: Option<Quantity>,
}

/// A limit as evaluated, in the unit of the value it bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitRecord {
    /// Lower bound, if any.
    pub low: Option<f64>,
    /// Upper bound, if any.
    pub high: Option<f64>,
    /// Unit of the bounds.
    pub unit: String,
    /// How the limit was stated (`500 mL ± (4 mL + 15 %)`).
    pub description: String,
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The check's id in the procedure.
    pub id: String,
    /// What the check verifies.
    pub title: String,
    /// The set point it was evaluated at.
    pub set_point: Option<usize>,
    /// The measurement it reads.
    pub measurement: String,
    /// The statistic taken (`mean`).
    pub statistic: String,
    /// The number of samples the statistic was computed from.
    pub samples: usize,
    /// The value the statistic took; absent when the check did not apply.
    pub value: Option<Quantity>,
    /// The target value, when the limit is stated around one.
    pub target: Option<Quantity>,
    /// The limit.
    pub limit: Option<LimitRecord>,
    /// Whether the check applied (a `when` condition may exclude a set point).
    pub applicable: bool,
    /// The verdict: PASS or FAIL when it applied, PASS (not applicable) otherwise.
    pub verdict: Verdict,
    /// A short explanation (why not applicable, which samples were outside).
    pub note: Option<String>,
    /// The `repeat` attempt this outcome belongs to, if any.
    #[serde(default)]
    pub attempt: Option<usize>,
    /// Whether a later attempt superseded this outcome (it then does not count); set when the
    /// record is folded from the journal.
    #[serde(default)]
    pub superseded: bool,
    /// The uncertainty budget of the value (GUM), when any contribution is known.
    #[serde(default)]
    pub uncertainty: Option<crate::analysis::UncertaintyBudget>,
    /// How conformity was decided (ILAC-G8): rule, guard band, acceptance zone, outcome.
    #[serde(default)]
    pub decision: Option<crate::analysis::Decision>,
}
