//! Resuming an interrupted run (`qbench resume RUN`): after a crash, a `kill -9` or a power
//! cut, continue the same run in the same journal.
//!
//! What is checked first: the journal's chain (a torn last line, never acknowledged, is cut
//! and said so); that the run did not end; that the fixture file is byte for byte the one the
//! run started with (its SHA-256 is in the journal); and, once the bench is open, that every
//! instrument answers with the identity it gave before. The procedure is taken from the
//! journal itself, so editing the file afterwards changes nothing.
//!
//! Where it continues: set points are the unit of work. Every set point before the last one
//! entered completed before the interruption (a sweep enters a set point only after the
//! previous one finished), so they are kept and skipped; the set point in progress is run
//! again from its start. Setup runs again, to re-establish a safe starting state; commands,
//! waits and prompts before the resume point run again, measurements and checks there do
//! not. The record marks what the interrupted set point had recorded as superseded and shows
//! the interruption and its duration.

use super::{Observer, Operator, StopRequest};
use super::{Prepared, RunError, RunOutcome, RunRequest, finish};
use crate::fixture::parse_fixture;
use crate::journal::{Entry, JOURNAL_FILE, JournalSink, JournalWriter, RunEvent, RunHeader};
use crate::procedure::expr::Series;
use crate::procedure::{ValidationError, parse_procedure};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a run cannot be resumed (exit code 2: nothing was moved).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The directory holds no journal, or it does not verify.
    #[error(transparent)]
    Journal(#[from] Box<crate::journal::JournalError>),
    /// The journal does not start with the run's header.
    #[error("{} does not start with a run_started entry", path.display())]
    NoHeader {
        /// The journal.
        path: PathBuf,
    },
    /// The run already ended.
    #[error("the run already ended ({verdict}); nothing to resume")]
    AlreadyEnded {
        /// Its verdict.
        verdict: crate::analysis::Verdict,
    },
    /// The fixture changed since the run started.
    #[error(
        "fixture {path} is not the one the run started with (SHA-256 {found}, recorded {recorded})\nrestore the original fixture to resume this run"
    )]
    FixtureChanged {
        /// The fixture's path.
        path: String,
        /// Its hash now.
        found: String,
        /// Its hash when the run started.
        recorded: String,
    },
    /// The fixture cannot be read.
    #[error("cannot read fixture {path}")]
    FixtureUnreadable {
        /// The fixture's path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The recorded procedure or fixture no longer validates with this build.
    #[error(transparent)]
    Invalid(#[from] Box<ValidationError>),
}

/// Resumes the interrupted run in `run_dir`. `operator` is who resumes it; `templates` the
/// report templates to use. `Err(ResumeError)` when the run cannot be resumed; otherwise the
/// outcome, whose verdict says how the resumed run ended.
pub fn resume(
    run_dir: &Path,
    operator_name: &str,
    templates: Option<PathBuf>,
    observer: &mut dyn Observer,
    operator: &mut dyn Operator,
    stop: &StopRequest,
) -> Result<Result<RunOutcome, RunError>, ResumeError> {
    let path = run_dir.join(JOURNAL_FILE);
    let (mut journal, entries, torn_bytes) = JournalWriter::reopen(&path).map_err(Box::new)?;
    let Some(Entry {
        event: RunEvent::RunStarted(header),
        ..
    }) = entries.first()
    else {
        return Err(ResumeError::NoHeader { path });
    };
    if let Some(verdict) = entries.iter().find_map(|e| match &e.event {
        RunEvent::RunEnded { verdict, .. } => Some(*verdict),
        _ => None,
    }) {
        return Err(ResumeError::AlreadyEnded { verdict });
    }
    let prepared = prepare_again(header, operator_name, templates)?;
    let from_set_point = entries.iter().rev().find_map(|e| match &e.event {
        RunEvent::SetPoint { index, .. } => Some(*index),
        _ => None,
    });
    let last_utc = entries.last().map(|e| e.utc.clone()).unwrap_or_default();
    let gap_s = chrono::DateTime::parse_from_rfc3339(&last_utc)
        .map(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0
        })
        .unwrap_or(f64::NAN);
    let resumed = RunEvent::RunResumed {
        interrupted_utc: last_utc,
        gap_s,
        from_set_point,
        torn_bytes,
        operator: operator_name.to_string(),
    };
    let outcome = (|| {
        let entry = journal.append(resumed)?;
        observer.entry(entry);
        let run = super::Run {
            prepared: &prepared,
            run_id: header.run_id.clone(),
            run_dir: run_dir.to_path_buf(),
            resume_from: Some(from_set_point.unwrap_or(0)),
            recorded_identities: recorded_identities(&entries),
            collected: collected_before(&entries, from_set_point.unwrap_or(0)),
        };
        finish(run, journal, observer, operator, stop)
    })();
    Ok(outcome)
}

/// The points collected at set points complete before the interruption, which the resumed
/// run does not run again, so that fits after the sweep still see every point.
fn collected_before(entries: &[Entry], from: usize) -> BTreeMap<String, Series> {
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for entry in entries {
        if let RunEvent::Collected {
            series: id,
            set_point: Some(sp),
            x,
            y,
        } = &entry.event
            && *sp < from
        {
            let s = series.entry(id.clone()).or_default();
            let x_unit = s.x_unit.get_or_insert_with(|| x.unit.clone()).clone();
            let y_unit = s.y_unit.get_or_insert_with(|| y.unit.clone()).clone();
            if let (Ok(x), Ok(y)) = (x.to_unit(&x_unit), y.to_unit(&y_unit)) {
                s.x.push(x.value);
                s.y.push(y.value);
            }
        }
    }
    series
}

/// The identities instruments gave before the interruption, by role.
fn recorded_identities(entries: &[Entry]) -> Vec<(String, crate::driver::Identity)> {
    entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::InstrumentReady(ready) => Some((ready.role.clone(), ready.identity.clone())),
            _ => None,
        })
        .collect()
}

/// Rebuilds the prepared run from the journal's header: the procedure from its recorded
/// text, the fixture from its file (which must be unchanged), the recorded parameters.
fn prepare_again(
    header: &RunHeader,
    operator_name: &str,
    templates: Option<PathBuf>,
) -> Result<Prepared, ResumeError> {
    let procedure_path = PathBuf::from(&header.procedure.path);
    let procedure = parse_procedure(&procedure_path, &header.procedure.text).map_err(Box::new)?;
    let fixture_path = PathBuf::from(&header.fixture.path);
    let fixture_text = std::fs::read_to_string(&fixture_path).map_err(|source| {
        ResumeError::FixtureUnreadable {
            path: header.fixture.path.clone(),
            source,
        }
    })?;
    let found = hex::encode(Sha256::digest(fixture_text.as_bytes()));
    if found != header.fixture.sha256 {
        return Err(ResumeError::FixtureChanged {
            path: header.fixture.path.clone(),
            found,
            recorded: header.fixture.sha256.clone(),
        });
    }
    let fixture = parse_fixture(&fixture_path, &fixture_text).map_err(Box::new)?;
    let request = RunRequest {
        procedure: procedure_path,
        fixture: fixture_path,
        runs_root: PathBuf::new(),
        out: None,
        dut_serial: header.dut_serial.clone(),
        operator: operator_name.to_string(),
        host: header.host.clone(),
        overrides: header.overrides.clone(),
        allow_expired_calibration: false,
        templates,
        step_limit: super::DEFAULT_STEP_LIMIT,
        environment: header.environment.clone(),
    };
    Ok(Prepared {
        request,
        procedure,
        procedure_text: header.procedure.text.clone(),
        fixture,
        fixture_text,
        parameters: header.parameters.clone(),
    })
}
