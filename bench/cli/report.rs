//! `qbench report RUN --format ...`: render a run's record again, in any format.
//!
//! The record is folded afresh from the run's journal (whose chain is checked on the way), so
//! a report can never show anything the journal does not hold; a run interrupted before its
//! record was sealed is rendered all the same, marked INCOMPLETE.

use super::{Failure, exit};
use crate::record::record_from_run_dir;
use crate::report::{render_csv, render_html, render_junit};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Self-contained HTML page.
    Html,
    /// Raw samples, one row each.
    Csv,
    /// JUnit XML, one test case per check and set point.
    Junit,
}

/// Renders the run in `run` as `format`, to `output` or standard output.
pub fn report(
    run: &Path,
    format: Format,
    output: Option<&PathBuf>,
    templates: Option<&Path>,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let record = record_from_run_dir(run).map_err(|e| Failure::new(&e, exit::INVALID))?;
    let text = match format {
        Format::Html => {
            render_html(&record, templates).map_err(|e| Failure::new(&e, exit::INVALID))?
        }
        Format::Csv => render_csv(&record),
        Format::Junit => render_junit(&record),
    };
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| Failure {
            message: format!("cannot write {}: {e}", path.display()),
            code: exit::INVALID,
        })?,
        None => out.write_all(text.as_bytes()).map_err(|e| Failure {
            message: format!("cannot write the report: {e}"),
            code: exit::INVALID,
        })?,
    }
    Ok(exit::PASS)
}
