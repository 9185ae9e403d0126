//! `qbench validate`: check procedures and fixtures without touching hardware.

use super::{Failure, exit};
use crate::fixture::{Fixture, parse_fixture};
use crate::procedure::parse_procedure;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Validates every file; procedures are also checked against every fixture given.
/// Prints every problem found, then returns exit code 0 or 2.
pub fn validate(files: &[PathBuf], out: &mut dyn Write) -> Result<i32, Failure> {
    let mut texts = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|e| Failure {
            message: format!("cannot read {}: {e}", path.display()),
            code: exit::INVALID,
        })?;
        texts.push((path, text));
    }
    let mut failed = false;
    let mut fixtures: Vec<(&PathBuf, Fixture)> = Vec::new();
    let mut procedures = Vec::new();
    let mut profiles = Vec::new();
    for (path, text) in &texts {
        if has_key(text, "profile") {
            match crate::protocol::profile::parse_profile(path, text) {
                Ok(p) => profiles.push((path, p)),
                Err(e) => {
                    failed = true;
                    let _ = writeln!(out, "{e}");
                }
            }
        } else if is_fixture(text) {
            match parse_fixture(path, text) {
                Ok(f) => fixtures.push((path, f)),
                Err(e) => {
                    failed = true;
                    let _ = writeln!(out, "{e}");
                }
            }
        } else {
            match parse_procedure(path, text) {
                Ok(p) => procedures.push((path, p)),
                Err(e) => {
                    failed = true;
                    let _ = writeln!(out, "{e}");
                }
            }
        }
    }
    for (ppath, procedure) in &procedures {
        for (fpath, fixture) in &fixtures {
            if let Err(e) = crate::runner::check_roles(procedure, fixture) {
                failed = true;
                let _ = writeln!(
                    out,
                    "{}: with fixture {}: {e}",
                    ppath.display(),
                    fpath.display()
                );
            }
            let defaults = procedure
                .parameters
                .iter()
                .map(|(k, p)| (k.clone(), p.default.clone()))
                .collect();
            for v in crate::runner::check_interlocks(procedure, fixture, &defaults) {
                failed = true;
                let at = if v.set_point.is_empty() {
                    String::new()
                } else {
                    format!(" (at {})", v.set_point)
                };
                let _ = writeln!(
                    out,
                    "{}:{}: with fixture {}: {}{at}",
                    ppath.display(),
                    v.line,
                    fpath.display(),
                    crate::runner::error_chain(&v.error)
                );
            }
        }
    }
    if failed {
        return Ok(exit::INVALID);
    }
    for (path, p) in &procedures {
        let _ = writeln!(
            out,
            "{}: ok (procedure {} v{}, {} {})",
            path.display(),
            p.id,
            p.version,
            p.standard,
            p.clause
        );
    }
    for (path, f) in &fixtures {
        let _ = writeln!(
            out,
            "{}: ok (fixture {}, {} instruments)",
            path.display(),
            f.name,
            f.instruments.len()
        );
    }
    for (path, p) in &profiles {
        let _ = writeln!(
            out,
            "{}: ok (device profile {}, a {}: {} quantities, {} settings, {} actions)",
            path.display(),
            p.name,
            p.kind,
            p.quantities.len(),
            p.settings.len(),
            p.actions.len()
        );
    }
    Ok(exit::PASS)
}

/// A fixture binds instruments; a procedure declares roles.
fn is_fixture(text: &str) -> bool {
    has_key(text, "instruments")
}

/// Whether the document is a map with `key` at its top level (a device profile has
/// `profile:`).
fn has_key(text: &str, key: &str) -> bool {
    let keys: Result<BTreeMap<String, serde::de::IgnoredAny>, _> = serde_saphyr::from_str(text);
    keys.map(|k| k.contains_key(key)).unwrap_or(false)
}
