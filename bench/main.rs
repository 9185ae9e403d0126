//! The `qbench` binary: parse arguments, run the command, exit with its code.
//!
//! Exit codes (see `qbench::cli::exit`): 0 every check passed; 1 a check failed; 2 invalid
//! invocation, procedure or fixture; 3 the run could not complete.

use clap::Parser;

fn main() {
    let cli = match qbench::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                qbench::cli::exit::INVALID
            } else {
                qbench::cli::exit::PASS
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(qbench::cli::execute(cli));
}
