//! `qbench verify RUN`: recompute the journal's hash chain and compare it with the record.

use super::{Failure, exit};
use crate::journal::{JOURNAL_FILE, read_journal};
use crate::record::{RECORD_FILE, Record, read_record};
use std::io::Write;
use std::path::Path;

/// Verifies the run directory `run`; exit 0 when intact, 1 when altered.
pub fn verify(run: &Path, out: &mut dyn Write) -> Result<i32, Failure> {
    if !run.join(JOURNAL_FILE).exists() {
        return Err(Failure {
            message: format!(
                "{} is not a run directory (no {JOURNAL_FILE})",
                run.display()
            ),
            code: exit::INVALID,
        });
    }
    let journal = match read_journal(&run.join(JOURNAL_FILE)) {
        Ok(j) => j,
        Err(e) => {
            let _ = writeln!(out, "NOT INTACT: {}", crate::runner::error_chain(&e));
            return Ok(exit::FAIL);
        }
    };
    if journal.torn_tail {
        let _ = writeln!(
            out,
            "note: the journal ends with a torn entry (interrupted while writing); it is ignored"
        );
    }
    let record_path = run.join(RECORD_FILE);
    if record_path.exists() {
        let record = match read_record(&record_path) {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(out, "NOT INTACT: {}", crate::runner::error_chain(&e));
                return Ok(exit::FAIL);
            }
        };
        // The record must be exactly what the journal folds into: any edit of the record
        // (a changed sample, verdict or name) shows as a difference.
        let refolded = Record::from_entries(&journal.entries, &journal.head)
            .map_err(|e| Failure::new(&e, exit::FAIL))?;
        if record.journal_head != journal.head {
            let _ = writeln!(
                out,
                "NOT INTACT: {RECORD_FILE} was sealed from journal head {} but the journal's head is {}",
                record.journal_head, journal.head
            );
            return Ok(exit::FAIL);
        }
        if refolded != record {
            let _ = writeln!(
                out,
                "NOT INTACT: {RECORD_FILE} differs from what the journal records"
            );
            return Ok(exit::FAIL);
        }
    } else {
        let _ = writeln!(
            out,
            "note: no {RECORD_FILE}: the run was interrupted before it was sealed"
        );
    }
    let _ = writeln!(
        out,
        "intact: {} entries, head {}",
        journal.entries.len(),
        journal.head
    );
    Ok(exit::PASS)
}
