//! `qbench report RUN --format ...`: render a run's record again, in any format.
//!
//! The record is folded afresh from the run's journal (whose chain is checked on the way), so
//! a report can never show anything the journal does not hold; a run interrupted before its
//! record was sealed is rendered all the same, marked INCOMPLETE. The run's signatures are
//! checked and shown (HTML, PDF, ATML), each marked verified or not.

use super::{Failure, exit};
use crate::record::record_from_run_dir;
use crate::record::signature::check_run_signatures;
use crate::report::{render_atml, render_csv, render_html_for_run, render_junit, render_pdf};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Self-contained HTML page.
    Html,
    /// PDF for archiving (no external resources, metadata embedded).
    Pdf,
    /// Raw samples, one row each.
    Csv,
    /// JUnit XML, one test case per check and set point.
    Junit,
    /// IEEE 1636.1 (ATML) test results XML.
    Atml,
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
    let signatures = check_run_signatures(run).map_err(|e| Failure::new(&e, exit::INVALID))?;
    let bytes: Vec<u8> = match format {
        Format::Html => render_html_for_run(&record, Some(&signatures), run, templates)
            .map_err(|e| Failure::new(&e, exit::INVALID))?
            .into_bytes(),
        Format::Pdf => render_pdf(&record, &signatures),
        Format::Csv => render_csv(&record).into_bytes(),
        Format::Junit => render_junit(&record).into_bytes(),
        Format::Atml => render_atml(&record, &signatures).into_bytes(),
    };
    match output {
        Some(path) => std::fs::write(path, bytes).map_err(|e| Failure {
            message: format!("cannot write {}: {e}", path.display()),
            code: exit::INVALID,
        })?,
        None => out.write_all(&bytes).map_err(|e| Failure {
            message: format!("cannot write the report: {e}"),
            code: exit::INVALID,
        })?,
    }
    Ok(exit::PASS)
}
