//! `qbench schema` and `qbench list`: what the language accepts, and what procedures exist.

use super::{Failure, exit};
use crate::procedure::parse_procedure;
use std::io::Write;
use std::path::Path;

/// JSON Schema of procedures (also in `procedures/procedure.schema.json`).
pub const PROCEDURE_SCHEMA: &str = include_str!("../../procedures/procedure.schema.json");
/// JSON Schema of fixtures (also in `fixtures/fixture.schema.json`).
pub const FIXTURE_SCHEMA: &str = include_str!("../../fixtures/fixture.schema.json");

/// Which schema to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    /// Procedures.
    Procedure,
    /// Fixtures.
    Fixture,
}

/// Prints the JSON Schema of `kind`.
pub fn schema(kind: SchemaKind, out: &mut dyn Write) -> Result<i32, Failure> {
    let text = match kind {
        SchemaKind::Procedure => PROCEDURE_SCHEMA,
        SchemaKind::Fixture => FIXTURE_SCHEMA,
    };
    out.write_all(text.as_bytes()).map_err(|e| Failure {
        message: format!("cannot write the schema: {e}"),
        code: exit::INVALID,
    })?;
    Ok(exit::PASS)
}

/// Lists the procedures under `dir`: id, version, title, standard and clause. Invalid files
/// are listed too, with their number of errors, so nothing is silently missing.
pub fn list(dir: &Path, out: &mut dyn Write) -> Result<i32, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure {
        message: format!("cannot read {}: {e}", dir.display()),
        code: exit::INVALID,
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut rows = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        rows.push(match parse_procedure(path, &text) {
            Ok(p) => [
                p.id,
                p.version,
                p.title,
                format!("{} {}", p.standard, p.clause),
            ],
            Err(e) => [
                path.display().to_string(),
                "-".into(),
                format!(
                    "INVALID ({} errors; run qbench validate)",
                    e.diagnostics.len()
                ),
                String::new(),
            ],
        });
    }
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
            .max(7)
    };
    let (w0, w1) = (width(0), width(1));
    let _ = writeln!(out, "{:<w0$}  {:<w1$}  title — standard", "id", "version");
    for [id, version, title, standard] in &rows {
        let _ = writeln!(out, "{id:<w0$}  {version:<w1$}  {title} — {standard}");
    }
    Ok(exit::PASS)
}
