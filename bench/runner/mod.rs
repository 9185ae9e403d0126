//! The runner: validates, opens the bench, executes the procedure, always tears down, and
//! seals the journal into a record and a report.
//!
//! # Architecture
//!
//! - [`prepare`] checks everything that can be checked without touching a device: the
//!   procedure, the fixture, `--set` overrides and role bindings. Its errors mean exit code 2.
//! - [`execute`] creates the run directory and the journal, opens the bench (`bench.rs`),
//!   runs setup and steps (`execute.rs`), then always runs teardown and brings every
//!   instrument to its safe state, whatever happened. It then folds the journal into the
//!   record and renders the HTML report.
//! - `console.rs`: the [`Observer`] and [`Operator`] traits through which the runner talks to
//!   people; it never prints or reads a terminal itself.
//!
//! A failed check is a verdict (FAIL), not an error. An error (instrument silent, interlock,
//! abort) ends the run with verdict ERROR or ABORTED, and is recorded with every measurement
//! taken before it.

mod bench;

mod console;
mod constants;
mod detector;
mod error;
mod execute;
mod hazard;
mod interlock;
mod reconnect;
mod resume;
mod schedule;
mod stop;

pub use bench::{check_roles, open_can_node};
pub use console::{AssumeYes, Observer, Operator, Silent};
pub use error::RunError;
pub use execute::fmt as format_number;
pub use interlock::{Violation, check_interlocks};
pub use resume::{ResumeError, resume};
pub use stop::{SIGINT, SIGTERM, StopRequest};

use crate::analysis::Verdict;
use crate::fixture::{Fixture, load_fixture};
use crate::journal::{
    JOURNAL_FILE, JournalSink, JournalWriter, RunEvent, RunHeader, SoftwareInfo, SourceFile,
};
use crate::procedure::{Procedure, ValidationError, load_procedure};
use crate::record::{RECORD_FILE, Record, record_from_run_dir, write_record};
use crate::units::{Quantity, parse_quantity};
use execute::{Executor, Frame};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default watchdog limit on a single step, real time.
pub const DEFAULT_STEP_LIMIT: Duration = Duration::from_secs(3600);

/// File name of the HTML report inside a run directory.
pub const REPORT_FILE: &str = "report.html";

/// What to run and how, as the command line gives it.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The procedure file.
    pub procedure: PathBuf,
    /// The fixture file.
    pub fixture: PathBuf,
    /// Where run directories go (`reports/runs`).
    pub runs_root: PathBuf,
    /// The run directory, instead of `<runs_root>/<run id>`.
    pub out: Option<PathBuf>,
    /// Serial number of the device under test.
    pub dut_serial: String,
    /// Who runs the procedure.
    pub operator: String,
    /// Host name of the bench computer.
    pub host: String,
    /// `name=value` parameter overrides.
    pub overrides: Vec<String>,
    /// Run even when an instrument is past its calibration due date (stated in the record).
    pub allow_expired_calibration: bool,
    /// A directory of report templates overriding the built-in ones.
    pub templates: Option<PathBuf>,
    /// The longest any single step may take, real time (the watchdog).
    pub step_limit: Duration,
    /// The computing environment to record (operating system, architecture, kernel).
    pub environment: BTreeMap<String, String>,
}

/// A validated run, ready to execute.
#[derive(Debug)]
pub struct Prepared {
    /// The request.
    pub request: RunRequest,
    /// The procedure.
    pub procedure: Procedure,
    /// The procedure's text.
    pub procedure_text: String,
    /// The fixture.
    pub fixture: Fixture,
    /// The fixture's text.
    pub fixture_text: String,
    /// Parameter values in force.
    pub parameters: BTreeMap<String, Quantity>,
}

/// Why a run could not be prepared (exit code 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// The procedure or the fixture is invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// An override or a role binding is invalid.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run's id.
    pub run_id: String,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The error that ended the run early, if any, as a message.
    pub error: Option<String>,
    /// The record.
    pub record: Record,
    /// Path of the journal.
    pub journal: PathBuf,
    /// Path of the record.
    pub record_path: PathBuf,
    /// Path of the HTML report.
    pub report: PathBuf,
}

/// Validates the procedure, the fixture, the overrides and the role bindings.
pub fn prepare(request: RunRequest) -> Result<Prepared, PrepareError> {
    let (procedure, procedure_text) = load_procedure(&request.procedure)?;
    let (fixture, fixture_text) = load_fixture(&request.fixture)?;
    let parameters = apply_overrides(&procedure, &request.overrides)?;
    bench::check_roles(&procedure, &fixture)?;
    // Nothing moves when any command the procedure would send exceeds a safety limit.
    if let Some(v) = check_interlocks(&procedure, &fixture, &parameters)
        .into_iter()
        .next()
    {
        return Err(PrepareError::Run(RunError::Evaluation {
            line: v.line,
            message: format!(
                "{}{}",
                crate::runner::error_chain(&v.error),
                if v.set_point.is_empty() {
                    String::new()
                } else {
                    format!(" (at {})", v.set_point)
                }
            ),
        }));
    }
    Ok(Prepared {
        request,
        procedure,
        procedure_text,
        fixture,
        fixture_text,
        parameters,
    })
}

/// Applies `name=value` overrides to the procedure's defaults. A value written without a
/// unit takes the unit of the parameter's default.
fn apply_overrides(
    procedure: &Procedure,
    overrides: &[String],
) -> Result<BTreeMap<String, Quantity>, RunError> {
    let mut values: BTreeMap<String, Quantity> = procedure
        .parameters
        .iter()
        .map(|(k, p)| (k.clone(), p.default.clone()))
        .collect();
    for text in overrides {
        let bad = |message: String| RunError::Override {
            text: text.clone(),
            message,
        };
        let (name, value) = text
            .split_once('=')
            .ok_or_else(|| bad("expected name=value".into()))?;
        let (name, value) = (name.trim(), value.trim());
        let Some(default) = procedure.parameters.get(name).map(|p| &p.default) else {
            let names: Vec<&str> = procedure.parameters.keys().map(String::as_str).collect();
            let hint = crate::procedure::did_you_mean(name, names.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("parameters: {}", names.join(", ")));
            return Err(bad(format!(
                "the procedure has no parameter `{name}`; {hint}"
            )));
        };
        let mut q = parse_quantity(value).map_err(|e| bad(e.to_string()))?;
        if q.unit.symbol().is_empty() && !default.unit.symbol().is_empty() {
            q = Quantity::new(q.value, default.unit.clone());
        }
        if q.dimension() != default.dimension() {
            return Err(bad(format!(
                "`{name}` is a {} (default {default}), not a {}",
                default.dimension().describe(),
                q.dimension().describe()
            )));
        }
        values.insert(name.to_string(), q);
    }
    Ok(values)
}

/// A new run id: UTC time stamp, procedure id and a random suffix.
fn new_run_id(procedure_id: &str) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    format!("{stamp}-{procedure_id}-{:04x}", rand::random::<u16>())
}

fn source_file(path: &Path, text: &str) -> SourceFile {
    SourceFile {
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        text: text.to_string(),
    }
}

/// Executes a prepared run. `Err` only when nothing could be recorded (the run directory or
/// journal could not be created); every later failure is recorded and returned in the
/// outcome with verdict ERROR or ABORTED.
pub fn execute(
    prepared: &Prepared,
    observer: &mut dyn Observer,
    operator: &mut dyn Operator,
    stop: &StopRequest,
) -> Result<RunOutcome, RunError> {
    let request = &prepared.request;
    let run_id = new_run_id(&prepared.procedure.id);
    let run_dir = request
        .out
        .clone()
        .unwrap_or_else(|| request.runs_root.join(&run_id));
    std::fs::create_dir_all(&run_dir).map_err(|source| RunError::RunDirectory {
        path: run_dir.clone(),
        source,
    })?;
    let journal_path = run_dir.join(JOURNAL_FILE);
    let mut journal = JournalWriter::create(&journal_path)?;
    let header = RunHeader {
        format: crate::journal::JOURNAL_FORMAT,
        run_id: run_id.clone(),
        procedure: source_file(&request.procedure, &prepared.procedure_text),
        procedure_id: prepared.procedure.id.clone(),
        procedure_version: prepared.procedure.version.clone(),
        title: prepared.procedure.title.clone(),
        standard: prepared.procedure.standard.clone(),
        clause: prepared.procedure.clause.clone(),
        fixture: source_file(&request.fixture, &prepared.fixture_text),
        fixture_name: prepared.fixture.name.clone(),
        simulated: prepared.fixture.is_simulated(),
        time_scale: prepared.fixture.time_scale,
        software: SoftwareInfo {
            name: "qbench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: option_env!("QBENCH_GIT_COMMIT").map(str::to_string),
        },
        host: request.host.clone(),
        operator: request.operator.clone(),
        dut_serial: request.dut_serial.clone(),
        parameters: prepared.parameters.clone(),
        overrides: request.overrides.clone(),
        environment: request.environment.clone(),
        allow_expired_calibration: request.allow_expired_calibration,
    };
    let entry = journal.append(RunEvent::RunStarted(Box::new(header)))?;
    observer.entry(entry);
    let run = Run {
        prepared,
        run_id,
        run_dir,
        resume_from: None,
        recorded_identities: Vec::new(),
        collected: BTreeMap::new(),
    };
    finish(run, journal, observer, operator, stop)
}

/// A run ready to drive: its journal open for appending.
struct Run<'a> {
    prepared: &'a Prepared,
    run_id: String,
    run_dir: PathBuf,
    /// When resuming: the set point to start again from (earlier ones are complete).
    resume_from: Option<usize>,
    /// When resuming: the identity each role gave before the interruption.
    recorded_identities: Vec<(String, crate::driver::Identity)>,
    /// When resuming: the points collected at set points that are not run again.
    collected: BTreeMap<String, crate::procedure::expr::Series>,
}

/// Drives a run to its end: bench, steps, teardown, run end, record, report.
fn finish(
    run: Run<'_>,
    mut journal: JournalWriter,
    observer: &mut dyn Observer,
    operator: &mut dyn Operator,
    stop: &StopRequest,
) -> Result<RunOutcome, RunError> {
    let (verdict, error, simulator_log) =
        run_and_tear_down(&run, &mut journal, observer, operator, stop);
    simulator_log?;
    let reason = error.as_ref().map(|e| error_chain(e));
    let entry = journal.append(RunEvent::RunEnded {
        verdict,
        reason: reason.clone(),
    })?;
    observer.entry(entry);
    let journal_path = journal.path().to_path_buf();
    drop(journal);

    let run_dir = run.run_dir;
    let record = record_from_run_dir(&run_dir)?;
    let record_path = run_dir.join(RECORD_FILE);
    write_record(&record, &record_path)?;
    let report = run_dir.join(REPORT_FILE);
    crate::report::write_html_for_run(
        &record,
        &run_dir,
        &report,
        run.prepared.request.templates.as_deref(),
    )
    .map_err(RunError::Report)?;
    Ok(RunOutcome {
        run_id: run.run_id,
        run_dir,
        verdict,
        error: reason,
        record,
        journal: journal_path,
        record_path,
        report,
    })
}

/// Runs a procedure's setup and steps against in-process drivers (one per role), recording
/// to `journal`, with no link, simulator, teardown or run directory: the runner's own cost,
/// for benchmarks and for tests of the executor. Parameters take their defaults.
pub fn run_in_process(
    procedure: &Procedure,
    drivers: Vec<(String, Box<dyn crate::driver::Driver>)>,
    journal: &mut dyn JournalSink,
) -> Result<Verdict, RunError> {
    let mut instruments = BTreeMap::new();
    for (role, driver) in drivers {
        let kind = procedure
            .roles
            .get(&role)
            .map(|r| r.kind.clone())
            .unwrap_or_default();
        let config = crate::fixture::InstrumentConfig {
            driver: "in-process".into(),
            kind,
            link: None,
            tcp: None,
            can: None,
            options: BTreeMap::new(),
            identity: crate::fixture::ExpectedIdentity::default(),
            calibration_certificate: None,
            calibration_due: None,
            accuracy: crate::fixture::Accuracy::default(),
            limits: BTreeMap::new(),
        };
        instruments.insert(
            role,
            bench::Instrument {
                handle: bench::Handle::Driver(driver),
                config,
            },
        );
    }
    let mut bench = bench::Bench {
        instruments,
        simulator: None,
    };
    let mut observer = Silent;
    let mut operator = AssumeYes;
    let stop = StopRequest::new();
    let mut ex = Executor {
        bench: &mut bench,
        journal,
        observer: &mut observer,
        operator: &mut operator,
        time_scale: 1.0,
        stop: &stop,
        tearing_down: false,
        resume_from: None,
        step_limit: Duration::from_secs(24 * 3600),
        step_deadline: None,
        set_points: 0,
        verdict: Verdict::Pass,
        links: reconnect::Links::default(),
        constants: constants::Constants::default(),
    };
    let parameters = procedure
        .parameters
        .iter()
        .map(|(k, p)| (k.clone(), p.default.clone()))
        .collect();
    let mut frame = Frame {
        values: parameters,
        ..Frame::default()
    };
    ex.run_steps(&procedure.setup, &mut frame)?;
    ex.run_steps(&procedure.steps, &mut frame)?;
    Ok(ex.verdict)
}

/// File name, inside a run directory, of what the simulated devices received.
pub const SIMULATOR_LOG_FILE: &str = "simulator.log";

/// Opens the bench, runs setup and steps, and always runs teardown. Returns the verdict, the
/// error that ended the run early, if any, and whether the simulated bench's request log
/// (`simulator.log`, written as requests arrive; a resumed run appends to it) was written
/// in full.
fn run_and_tear_down(
    run: &Run<'_>,
    journal: &mut JournalWriter,
    observer: &mut dyn Observer,
    operator: &mut dyn Operator,
    stop: &StopRequest,
) -> (Verdict, Option<RunError>, Result<(), RunError>) {
    let (prepared, resume_from) = (run.prepared, run.resume_from);
    let today = chrono::Utc::now().date_naive();
    let opened = bench::open_bench(
        &prepared.procedure,
        &prepared.fixture,
        prepared.request.allow_expired_calibration,
        today,
        &run.run_dir,
    );
    // A resumed run must be talking to the very instruments it started with.
    let opened = opened.and_then(|(bench, ready)| {
        for info in &ready {
            let before = run
                .recorded_identities
                .iter()
                .find(|(role, _)| *role == info.role);
            if let Some((role, identity)) = before
                && *identity != info.identity
            {
                return Err(RunError::IdentityMismatch {
                    role: role.clone(),
                    field: "identity since the interruption",
                    expected: format!(
                        "{} {} s/n {}",
                        identity.manufacturer, identity.model, identity.serial
                    ),
                    found: format!(
                        "{} {} s/n {}",
                        info.identity.manufacturer, info.identity.model, info.identity.serial
                    ),
                });
            }
        }
        Ok((bench, ready))
    });
    let (mut bench, ready) = match opened {
        Ok(b) => b,
        Err(e) => {
            record_error(journal, observer, &e);
            return (Verdict::Error, Some(e), Ok(()));
        }
    };
    let mut ex = Executor {
        bench: &mut bench,
        journal,
        observer,
        operator,
        time_scale: prepared.fixture.time_scale,
        stop,
        tearing_down: false,
        resume_from,
        step_limit: prepared.request.step_limit,
        step_deadline: None,
        set_points: 0,
        verdict: Verdict::Pass,
        links: reconnect::Links::default(),
        constants: constants::Constants::default(),
    };
    let mut frame = Frame {
        values: prepared.parameters.clone(),
        series: run.collected.clone(),
        ..Frame::default()
    };
    let mut result = announce_instruments(&mut ex, ready);
    if result.is_ok() {
        result = ex.run_steps(&prepared.procedure.setup, &mut frame);
    }
    if result.is_ok() {
        result = ex.run_steps(&prepared.procedure.steps, &mut frame);
    }
    if let Err(e) = &result {
        let _ = ex.emit(RunEvent::Error {
            role: execute::error_role(e),
            message: error_chain(e),
        });
    }
    tear_down(&mut ex, prepared, &mut frame);
    let verdict = match &result {
        Ok(()) => ex.verdict,
        Err(RunError::Aborted { .. }) => Verdict::Aborted,
        Err(RunError::StoppedAfterFailure { .. }) => Verdict::Fail,
        Err(_) => Verdict::Error,
    };
    // The instruments first, then the simulated devices, then the log's last lines.
    let simulator = bench.simulator.take();
    drop(bench);
    let simulator_log = simulator.map_or(Ok(()), |s| s.close().map_err(RunError::from));
    (verdict, result.err(), simulator_log)
}

fn announce_instruments(
    ex: &mut Executor<'_>,
    ready: Vec<crate::journal::InstrumentReady>,
) -> Result<(), RunError> {
    for info in ready {
        let role = info.role.clone();
        ex.links.remember(&role, &info.identity);
        ex.emit(RunEvent::InstrumentReady(Box::new(info)))?;
        let driver = ex
            .bench
            .instruments
            .get(&role)
            .map(|i| i.config.driver.clone())
            .unwrap_or_default();
        if let Some(bench::Instrument {
            handle: bench::Handle::Driver(d),
            ..
        }) = ex.bench.instruments.get_mut(&role)
        {
            let conditions = d.conditions().map_err(|source| RunError::Instrument {
                role: role.clone(),
                driver,
                action: "reading its measurement conditions".into(),
                source: Box::new(source),
            })?;
            for condition in conditions {
                ex.emit(RunEvent::Condition {
                    role: role.clone(),
                    condition,
                })?;
            }
            // Whatever the driver noted while being opened and identified.
            ex.journal_notes(&role)?;
        }
    }
    Ok(())
}

/// Runs the procedure's teardown steps (each failure recorded, the next still tried), then
/// brings every instrument to its safe state.
fn tear_down(ex: &mut Executor<'_>, prepared: &Prepared, frame: &mut Frame) {
    // Teardown must run even after an abort: it is what makes the bench safe.
    ex.tearing_down = true;
    for step in &prepared.procedure.teardown {
        if let Err(e) = ex.run_steps(std::slice::from_ref(step), frame) {
            let _ = ex.emit(RunEvent::Error {
                role: execute::error_role(&e),
                message: format!("teardown: {}", error_chain(&e)),
            });
        }
    }
    let roles: Vec<String> = ex.bench.instruments.keys().cloned().collect();
    for role in roles {
        // A lost link gets its chance to come back: the safe-state command matters most.
        if let Err(e) = ex.restore_link(&role) {
            let _ = ex.emit(RunEvent::SafeState {
                role: role.clone(),
                ok: false,
                message: Some(error_chain(&e)),
            });
            continue;
        }
        // An instrument operated by hand has no safe-state command: the operator owns it.
        let Some(bench::Instrument {
            handle: bench::Handle::Driver(driver),
            ..
        }) = ex.bench.instruments.get_mut(&role)
        else {
            continue;
        };
        let result = driver.make_safe();
        let event = RunEvent::SafeState {
            role: role.clone(),
            ok: result.is_ok(),
            message: result.err().map(|e| error_chain(&e)),
        };
        let _ = ex.emit(event);
    }
    ex.tearing_down = false;
}

fn record_error(journal: &mut JournalWriter, observer: &mut dyn Observer, error: &RunError) {
    if let Ok(entry) = journal.append(RunEvent::Error {
        role: execute::error_role(error),
        message: error_chain(error),
    }) {
        observer.entry(entry);
    }
}

/// An error and its causes on one line: `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
