//! `qbench run`: validate, execute on the bench, print a summary, exit with the verdict.

use super::console::{ConsoleObserver, ConsoleOperator};
use super::{Failure, exit};
use crate::record::Record;
use crate::runner::{self, AssumeYes, Operator, PrepareError, RunRequest, format_number};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `qbench run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The procedure to run.
    pub procedure: PathBuf,
    /// The bench description.
    #[arg(long, default_value = "fixtures/sim.yaml")]
    pub fixture: PathBuf,
    /// Serial number of the device under test.
    #[arg(long, default_value = "unspecified")]
    pub dut_serial: String,
    /// Who runs the procedure (default: the login name).
    #[arg(long)]
    pub operator: Option<String>,
    /// The run directory (default: reports/runs/<run id>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override a procedure parameter: name=value (a value without unit takes the default's).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub overrides: Vec<String>,
    /// Answer operator confirmations with yes (unattended simulated runs).
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON object (run id, verdict, paths) as the last line of output.
    #[arg(long)]
    pub json: bool,
    /// Run although an instrument is past its calibration due date (stated in the record).
    #[arg(long)]
    pub allow_expired_calibration: bool,
    /// A directory of report templates overriding the built-in ones.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Seconds an operator prompt may wait for its answer before the run stops (watchdog).
    #[arg(long, default_value_t = 1800)]
    pub prompt_timeout: u64,
    /// Seconds any single step may take before the run stops (watchdog).
    #[arg(long, default_value_t = 3600)]
    pub step_limit: u64,
}

/// Runs `qbench run` and returns the exit code.
pub fn run(args: RunArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let operator_name = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_string());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let request = RunRequest {
        procedure: args.procedure.clone(),
        fixture: args.fixture.clone(),
        runs_root: PathBuf::from("reports/runs"),
        out: args.out.clone(),
        dut_serial: args.dut_serial.clone(),
        operator: operator_name,
        host,
        overrides: args.overrides.clone(),
        allow_expired_calibration: args.allow_expired_calibration,
        templates: args.templates.clone(),
        step_limit: std::time::Duration::from_secs(args.step_limit),
        environment: environment(),
    };
    let prepared = runner::prepare(request).map_err(|e| match e {
        PrepareError::Invalid(v) => Failure {
            message: format!("invalid input, nothing was run\n{v}"),
            code: exit::INVALID,
        },
        PrepareError::Run(r) => Failure::new(&r, exit::INVALID),
    })?;
    // Ctrl-C and SIGTERM ask the runner to stop at a safe point; they no longer kill qbench,
    // so the teardown and the record are always written.
    let stop = super::stop_on_signals()?;
    let mut observer = ConsoleObserver::new(out);
    let mut operator: Box<dyn Operator> = if args.yes {
        Box::new(AssumeYes)
    } else {
        Box::new(ConsoleOperator::new(
            stop.clone(),
            std::time::Duration::from_secs(args.prompt_timeout),
        ))
    };
    let outcome = runner::execute(&prepared, &mut observer, operator.as_mut(), &stop)
        .map_err(|e| Failure::new(&e, exit::INCOMPLETE))?;
    finish_output(out, &outcome, args.json)
}

/// Prints the summary, the paths and the verdict (and the `--json` line), and returns the
/// exit code of the outcome.
pub fn finish_output(
    out: &mut dyn Write,
    outcome: &runner::RunOutcome,
    json: bool,
) -> Result<i32, Failure> {
    print_summary(out, &outcome.record);
    let code = exit::for_verdict(outcome.verdict);
    let _ = writeln!(out, "record: {}", outcome.record_path.display());
    let _ = writeln!(out, "report: {}", outcome.report.display());
    if let Some(error) = &outcome.error {
        let _ = writeln!(out, "the run could not complete: {error}");
    }
    let _ = writeln!(out, "verdict: {}", outcome.verdict);
    if json {
        let summary = serde_json::json!({
            "run_id": outcome.run_id,
            "verdict": outcome.verdict,
            "exit_code": code,
            "error": outcome.error,
            "run_dir": outcome.run_dir,
            "journal": outcome.journal,
            "record": outcome.record_path,
            "report": outcome.report,
        });
        let _ = writeln!(out, "{summary}");
    }
    Ok(code)
}

/// Prints one line per check and set point, then a line per check id.
fn print_summary(out: &mut dyn Write, record: &Record) {
    let _ = writeln!(out, "\nsummary of checks:");
    let _ = writeln!(
        out,
        "  {:<20} {:<12} {:>12} {:>12} {:>24} {:<8}",
        "check", "set point", "measured", "target", "limit", "verdict"
    );
    let mut per_id: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for c in &record.checks {
        let label = c
            .set_point
            .and_then(|i| record.set_point(i))
            .map(|s| s.label.clone())
            .unwrap_or_else(|| "-".into());
        let value = c
            .value
            .as_ref()
            .map(|v| format!("{} {}", format_number(v.value), v.unit))
            .unwrap_or_default();
        let target = c
            .target
            .as_ref()
            .map(|v| format!("{} {}", format_number(v.value), v.unit))
            .unwrap_or_else(|| "-".into());
        let limit = c
            .limit
            .as_ref()
            .map(|l| {
                let low = l.low.map(format_number).unwrap_or_else(|| "-∞".into());
                let high = l.high.map(format_number).unwrap_or_else(|| "+∞".into());
                format!("[{low}, {high}] {}", l.unit)
            })
            .unwrap_or_default();
        let verdict = match (c.superseded, c.applicable) {
            (true, _) => format!("({}, superseded)", c.verdict),
            (false, true) => c.verdict.to_string(),
            (false, false) => "n/a".into(),
        };
        let _ = writeln!(
            out,
            "  {:<20} {:<12} {:>12} {:>12} {:>24} {:<8}",
            c.id, label, value, target, limit, verdict
        );
        if c.superseded {
            continue; // a retried attempt or an interrupted set point: shown, not counted
        }
        let tally = per_id.entry(c.id.as_str()).or_default();
        match (c.applicable, c.verdict) {
            (false, _) => tally.2 += 1,
            (true, crate::analysis::Verdict::Pass) => tally.0 += 1,
            _ => tally.1 += 1,
        }
    }
    for (id, (pass, fail, na)) in per_id {
        let _ = writeln!(
            out,
            "  {id}: {pass} passed, {fail} failed, {na} not applicable"
        );
    }
}

/// The computing environment a run records: operating system, architecture, kernel release.
pub fn environment() -> std::collections::BTreeMap<String, String> {
    let mut env = std::collections::BTreeMap::new();
    env.insert("os".to_string(), std::env::consts::OS.to_string());
    env.insert("arch".to_string(), std::env::consts::ARCH.to_string());
    if let Ok(kernel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        env.insert("kernel".to_string(), kernel.trim().to_string());
    }
    env
}
