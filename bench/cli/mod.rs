//! The command line: arguments as typed, and one function per subcommand.
//!
//! This is the only module that prints, reads the terminal or the environment; everything it
//! calls takes its inputs as arguments. `bench/main.rs` parses arguments, calls [`execute`],
//! and exits with the code it returns ([`exit`] holds the documented codes).

pub mod analyze;
mod catalog;
mod console;
pub mod exit;
mod keygen;
mod ports;
mod probe;
mod report;
mod resume;
mod run;
mod sign;
mod sim;
mod validate;
mod verify;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// qbench: hardware-in-the-loop test and qualification bench for medical devices.
#[derive(Debug, Parser)]
#[command(name = "qbench", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a qualification procedure on a bench.
    Run(run::RunArgs),
    /// Re-analyse exported data: summary statistics or a linear fit of CSV columns.
    Analyze {
        /// The analysis.
        #[command(subcommand)]
        command: analyze::AnalyzeCommand,
    },
    /// Check procedures and fixtures without touching hardware.
    Validate {
        /// Procedure and fixture files; procedures are also checked against the fixtures given.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Serve a fixture's simulated devices on pseudo-terminals until stopped.
    Sim {
        /// The fixture whose `simulation:` to serve.
        #[arg(long, default_value = "fixtures/sim.yaml")]
        fixture: PathBuf,
    },
    /// Print the JSON Schema of procedures or fixtures (for editors' YAML extensions).
    Schema {
        /// Which schema.
        #[arg(value_enum)]
        kind: catalog::SchemaKind,
    },
    /// List the procedures under procedures/.
    List {
        /// The folder to list.
        #[arg(long, default_value = "procedures")]
        dir: PathBuf,
    },
    /// Render a run's record as a report.
    Report {
        /// The run directory.
        run: PathBuf,
        /// The format.
        #[arg(long, value_enum)]
        format: report::Format,
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// A directory of templates overriding the built-in ones.
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Continue a run interrupted by a crash, a kill or a power cut.
    Resume(resume::ResumeArgs),
    /// Check that a run's journal, record and signatures were not altered.
    Verify {
        /// The run directory.
        run: PathBuf,
        /// A public key (SPKI PEM, or 64 hex digits) whose signature must be present; when
        /// given (repeatable), signatures by any other key are rejected.
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
    },
    /// Make an ed25519 key pair for signing records.
    Keygen {
        /// Write PREFIX.key (private, PKCS#8 PEM, mode 0600) and PREFIX.pub (public, SPKI PEM).
        #[arg(long = "out", default_value = keygen::DEFAULT_PREFIX)]
        prefix: PathBuf,
    },
    /// Sign a run's sealed record (appends to signatures.jsonl beside it).
    Sign {
        /// The run directory.
        run: PathBuf,
        /// The private key (PKCS#8 PEM, as written by `qbench keygen`).
        #[arg(long)]
        key: PathBuf,
        /// What the signature means.
        #[arg(long, value_enum)]
        meaning: sign::MeaningArg,
        /// The signer's printed name.
        #[arg(long)]
        name: String,
    },
    /// List the serial ports of this machine (USB vendor/product, serial number).
    Ports,
    /// Open every link of a fixture, check each instrument's identity and calibration.
    Probe {
        /// The bench description.
        #[arg(long, default_value = "fixtures/sim.yaml")]
        fixture: PathBuf,
    },
}

/// Runs the command and returns the process exit code.
pub fn execute(cli: Cli) -> i32 {
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let result = match cli.command {
        Command::Run(args) => run::run(args, &mut stdout),
        Command::Resume(args) => resume::resume(args, &mut stdout),
        Command::Analyze { command } => analyze::run(&command, &mut stdout)
            .map(|()| exit::PASS)
            .map_err(|e| Failure::new(&e, exit::INVALID)),
        Command::Validate { files } => validate::validate(&files, &mut stdout),
        Command::Verify { run, keys } => verify::verify(&run, &keys, &mut stdout),
        Command::Keygen { prefix } => keygen::keygen(&prefix, &mut stdout),
        Command::Sign {
            run,
            key,
            meaning,
            name,
        } => {
            let utc = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            sign::sign(&run, &key, meaning, &name, &utc, &mut stdout)
        }
        Command::Ports => ports::ports(&mut stdout),
        Command::Probe { fixture } => probe::probe(&fixture, &mut stdout),
        Command::Schema { kind } => catalog::schema(kind, &mut stdout),
        Command::Sim { fixture } => sim::sim(&fixture, &mut stdout),
        Command::List { dir } => catalog::list(&dir, &mut stdout),
        Command::Report {
            run,
            format,
            output,
            templates,
        } => report::report(
            &run,
            format,
            output.as_ref(),
            templates.as_deref(),
            &mut stdout,
        ),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            use std::io::Write;
            let _ = writeln!(stderr, "error: {}", failure.message);
            failure.code
        }
    }
}

/// Makes Ctrl-C and SIGTERM ask for a stop at the next safe point instead of killing qbench,
/// so that teardown, the record and the report are always written.
pub fn stop_on_signals() -> Result<crate::runner::StopRequest, Failure> {
    use crate::runner::{SIGINT, SIGTERM, StopRequest};
    let stop = StopRequest::new();
    for (signal, number) in [
        (signal_hook::consts::SIGINT, SIGINT),
        (signal_hook::consts::SIGTERM, SIGTERM),
    ] {
        signal_hook::flag::register_usize(signal, stop.flag(), number).map_err(|e| Failure {
            message: format!("cannot install the signal handler: {e}"),
            code: exit::INCOMPLETE,
        })?;
    }
    Ok(stop)
}

/// A command that could not do its job: a message for the operator and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, with its causes.
    pub message: String,
    /// The exit code.
    pub code: i32,
}

impl Failure {
    /// A failure from an error and its causes.
    pub fn new(error: &dyn std::error::Error, code: i32) -> Failure {
        Failure {
            message: crate::runner::error_chain(error),
            code,
        }
    }
}
