//! Reports: a record rendered for people (HTML, PDF) and for other tools (CSV, JUnit XML,
//! ATML).
//!
//! Every report is derived from a [`Record`](crate::record::Record) alone, plus, where it
//! shows them, the record's checked signatures, and is deterministic: the same record (and
//! signatures) give the same bytes, so a report can be re-rendered and compared years later.
//!
//! # Architecture
//!
//! - [`ReportView`] (`view.rs`) is the view model: every figure the human-readable reports
//!   show, formatted in Rust (4 significant digits in tables, full precision in the raw data)
//!   and in a fixed order, with the signatures ([`SignatureRow`]) and the record's hashes.
//!   Templates only lay it out.
//! - `svg.rs` draws the error-against-set-point plots as SVG text, escaping what it embeds.
//! - [`render_html`] and [`render_html_signed`] (`html.rs`) lay the view out with tera
//!   templates: the built-in ones in `reports/templates/`, compiled in, each overridable by a
//!   file of the same name in a directory the caller names. Templates ending in `.html` are
//!   autoescaped.
//! - [`render_pdf`] (`pdf.rs`) lays the same view out as an archival PDF, in Rust, with the
//!   base-14 Courier fonts (see that module for how close it comes to PDF/A).
//! - [`render_csv`] (`csv.rs`), [`render_junit`] (`junit.rs`) and [`render_atml`]
//!   (`atml.rs`, IEEE 1636.1) write the raw samples and the check outcomes directly, without
//!   templates.
//!
//! This stage reads templates and writes report files; it never touches the journal or the
//! instruments, and never decides a verdict (it only shows the record's) nor whether a
//! signature is valid (it only shows what `record::signature` found).
//!
//! # Tests
//!
//! The rendered HTML, CSV and JUnit XML of a small failing run are compared byte for byte
//! with the snapshots in `bench/report/snapshots/`. After an intended change to a template or
//! to the formatting, run `QBENCH_UPDATE_SNAPSHOTS=1 cargo test --lib report` to rewrite them,
//! and review the diff before committing.

mod atml;
mod csv;
mod error;
mod figures;
mod format;
mod html;
mod junit;
mod pdf;
mod svg;
mod view;

#[cfg(test)]
pub(crate) mod testutil;

pub use atml::{ATML_COMMON_NAMESPACE, ATML_NAMESPACE, QBENCH_EXTENSION_NAMESPACE, render_atml};
pub use csv::render_csv;
pub use error::ReportError;
pub use figures::FigureView;
pub use html::{
    BUILTIN_TEMPLATES, REPORT_TEMPLATE, render_html, render_html_for_run, render_html_signed,
    write_html, write_html_for_run,
};
pub use junit::render_junit;
pub use pdf::render_pdf;
pub use view::{
    CheckRow, CheckSection, CheckSummary, EventRow, Footer, Identification, InstrumentRow,
    NameValue, RawMeasurement, ReportView, SignatureRow, VerdictBanner,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Compares `actual` with the snapshot `name` in `bench/report/snapshots/`, byte for byte.
    /// Run the tests with `QBENCH_UPDATE_SNAPSHOTS=1` to write the snapshots instead, then
    /// review the diff before committing.
    fn assert_snapshot(name: &str, actual: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("bench/report/snapshots")
            .join(name);
        if std::env::var_os("QBENCH_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with QBENCH_UPDATE_SNAPSHOTS=1 to create it",
                path.display()
            )
        });
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b);
            panic!(
                "{} differs from the rendered output (first differing line: {:?}); \
                 run with QBENCH_UPDATE_SNAPSHOTS=1 to update it after review",
                path.display(),
                line.map(|l| l + 1)
            );
        }
    }

    #[test]
    fn html_snapshot_of_a_small_failing_run() {
        let html = render_html(&testutil::failing_record(), None).unwrap();
        assert_snapshot("small-failing.html", &html);
    }

    #[test]
    fn csv_snapshot_of_a_small_failing_run() {
        assert_snapshot(
            "small-failing.csv",
            &render_csv(&testutil::failing_record()),
        );
    }

    #[test]
    fn junit_snapshot_of_a_small_failing_run() {
        assert_snapshot(
            "small-failing.junit.xml",
            &render_junit(&testutil::failing_record()),
        );
    }

    #[test]
    fn a_hundred_thousand_samples_render_quickly() {
        let record = testutil::large_record(1000, 100);
        assert_eq!(record.sample_count(), 100_000);
        let started = std::time::Instant::now();
        let html = render_html(&record, None).unwrap();
        let csv = render_csv(&record);
        let xml = render_junit(&record);
        let elapsed = started.elapsed();
        assert!(html.contains("100000 samples in 1000 measurements"));
        assert_eq!(csv.lines().count(), 100_001);
        assert_eq!(xml.matches("<testcase").count(), 1000);
        // Timing is only meaningful with optimisations (`cargo test --release`).
        if !cfg!(debug_assertions) {
            assert!(elapsed.as_secs_f64() < 1.0, "rendering took {elapsed:?}");
        }
    }
}
