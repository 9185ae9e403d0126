//! Errors that stop a run (exit code 3), as opposed to failed checks (a verdict).

use crate::driver::DriverError;
use crate::journal::JournalError;
use crate::link::LinkError;
use crate::record::RecordError;
use std::path::PathBuf;

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An instrument failed or did not answer.
    #[error("instrument `{role}` ({driver}): {action}")]
    Instrument {
        /// The role of the instrument.
        role: String,
        /// Its driver.
        driver: String,
        /// What qbench was doing.
        action: String,
        /// The driver's error.
        #[source]
        source: Box<DriverError>,
    },
    /// An instrument's link was lost and could not be opened again in time.
    #[error(
        "instrument `{role}` ({driver}) was disconnected and did not come back within {waited_s:.3} s"
    )]
    LinkNotRestored {
        /// The role of the instrument.
        role: String,
        /// Its driver.
        driver: String,
        /// Real seconds spent trying to reopen it.
        waited_s: f64,
        /// The last attempt's error.
        #[source]
        source: Box<RunError>,
    },
    /// An instrument's link could not be opened.
    #[error("instrument `{role}`: cannot open its link {port}")]
    Link {
        /// The role of the instrument.
        role: String,
        /// The port.
        port: String,
        /// The cause.
        #[source]
        source: Box<LinkError>,
    },
    /// A CAN bus (its adapter) could not be opened.
    #[error("instrument `{role}`: cannot open its CAN bus")]
    CanBus {
        /// The role of the instrument.
        role: String,
        /// The cause.
        #[source]
        source: Box<crate::can::CanError>,
    },
    /// An instrument answered with another identity than the fixture declares.
    #[error(
        "instrument `{role}` is not the one the fixture declares: {field} is `{found}`, expected `{expected}`"
    )]
    IdentityMismatch {
        /// The role of the instrument.
        role: String,
        /// The identity field that differs.
        field: &'static str,
        /// What the fixture declares.
        expected: String,
        /// What the instrument answered.
        found: String,
    },
    /// An instrument is past its calibration due date.
    #[error(
        "instrument `{role}` was due for calibration on {due}\nrecalibrate it, or run with --allow-expired-calibration (the record and report will say so)"
    )]
    CalibrationExpired {
        /// The role of the instrument.
        role: String,
        /// The due date.
        due: String,
    },
    /// The procedure needs a role the fixture does not bind, or binds to the wrong kind.
    #[error("the fixture cannot provide role `{role}`: {reason}")]
    RoleNotProvided {
        /// The role.
        role: String,
        /// Why.
        reason: String,
    },
    /// A command would exceed a safety limit of the fixture; it was not sent.
    #[error("interlock: refusing to set `{setting}` of `{role}` to {value}: {limit}")]
    Interlock {
        /// The role.
        role: String,
        /// The setting.
        setting: String,
        /// The value that would have been sent.
        value: String,
        /// The limit it exceeds.
        limit: String,
    },
    /// An expression could not be evaluated at run time.
    #[error("step at line {line}: {message}")]
    Evaluation {
        /// Line of the step in the procedure.
        line: usize,
        /// What went wrong.
        message: String,
    },
    /// A `--set` override is not valid.
    #[error("--set {text}: {message}")]
    Override {
        /// The override as given.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// The operator declined a prompt, or no answer could be read.
    #[error("operator prompt not confirmed: {message}")]
    PromptDeclined {
        /// The prompt.
        message: String,
    },
    /// A wait for a condition reached its timeout.
    #[error("step at line {line}: `{condition}` did not hold before the timeout")]
    WaitTimedOut {
        /// Line of the step in the procedure.
        line: usize,
        /// The condition.
        condition: String,
    },
    /// A measurement could not take all its samples before its timeout.
    #[error(
        "step at line {line}: measurement `{measurement}` took {taken} of {wanted} samples before its timeout"
    )]
    MeasurementTimedOut {
        /// Line of the step in the procedure.
        line: usize,
        /// The measurement.
        measurement: String,
        /// Samples taken.
        taken: usize,
        /// Samples wanted.
        wanted: usize,
    },
    /// A step outran the watchdog's step limit.
    #[error("step at line {line} did not finish within the step limit of {limit_s} s (watchdog)")]
    StepDeadline {
        /// Line of the step in the procedure.
        line: usize,
        /// The limit, in seconds.
        limit_s: u64,
    },
    /// A `repeat` group with `on_exhausted: stop` still failed after its last attempt; the
    /// run stops with verdict FAIL.
    #[error("`{group}` still failed after {attempts} attempts; the procedure says to stop")]
    StoppedAfterFailure {
        /// The group.
        group: String,
        /// Attempts made.
        attempts: usize,
    },
    /// The run was aborted.
    #[error("run aborted: {reason}")]
    Aborted {
        /// Why.
        reason: String,
    },
    /// The simulated bench could not start.
    #[error("cannot start the simulated bench")]
    Simulator(#[source] crate::sim::SimError),
    /// The journal could not be written: the run stops, since unrecorded data is no evidence.
    #[error(transparent)]
    Journal(Box<JournalError>),
    /// The record could not be built or written.
    #[error(transparent)]
    Record(Box<RecordError>),
    /// The report could not be rendered.
    #[error("cannot write the report")]
    Report(#[source] crate::report::ReportError),
    /// The run directory could not be created.
    #[error("cannot create the run directory {}", path.display())]
    RunDirectory {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The simulated bench's request log (`simulator.log`) could not be written.
    #[error(transparent)]
    SimulatorLog(#[from] crate::sim::LogFileError),
}

impl From<JournalError> for RunError {
    fn from(e: JournalError) -> RunError {
        RunError::Journal(Box::new(e))
    }
}

impl From<RecordError> for RunError {
    fn from(e: RecordError) -> RunError {
        RunError::Record(Box::new(e))
    }
}
