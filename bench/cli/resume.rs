//! `qbench resume RUN`: continue a run interrupted by a crash, a kill or a power cut.

use super::console::{ConsoleObserver, ConsoleOperator};
use super::{Failure, exit};
use crate::runner::{self, AssumeYes, Operator};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `qbench resume`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The interrupted run's directory.
    pub run: PathBuf,
    /// Who resumes the run (default: the login name).
    #[arg(long)]
    pub operator: Option<String>,
    /// Answer operator confirmations with yes (unattended simulated runs).
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON object (run id, verdict, paths) as the last line of output.
    #[arg(long)]
    pub json: bool,
    /// A directory of report templates overriding the built-in ones.
    #[arg(long)]
    pub templates: Option<PathBuf>,
}

/// Runs `qbench resume` and returns the exit code.
pub fn resume(args: ResumeArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let operator_name = args
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_string());
    let stop = super::stop_on_signals()?;
    let mut operator: Box<dyn Operator> = if args.yes {
        Box::new(AssumeYes)
    } else {
        Box::new(ConsoleOperator::new(
            stop.clone(),
            std::time::Duration::from_secs(1800),
        ))
    };
    let mut observer = ConsoleObserver::new(out);
    let outcome = runner::resume(
        &args.run,
        &operator_name,
        args.templates.clone(),
        &mut observer,
        operator.as_mut(),
        &stop,
    )
    .map_err(|e| Failure::new(&e, exit::INVALID))?
    .map_err(|e| Failure::new(&e, exit::INCOMPLETE))?;
    super::run::finish_output(out, &outcome, args.json)
}
