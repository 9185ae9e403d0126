//! `qbench verify RUN [--key PUBKEY]...`: recompute the journal's hash chain, compare it with
//! the record, and check every signature.
//!
//! Every signature in `signatures.jsonl` must verify over this very record (its run id, the
//! hash of `record.json` and the journal head). With `--key`, only signatures by the keys
//! given are accepted, and each key given must have signed: a signature by any other key is
//! rejected and named, as is one copied from another record.

use super::{Failure, exit};
use crate::journal::{JOURNAL_FILE, read_journal};
use crate::record::signature::{
    SignatureCheck, check_signatures, read_signatures, read_verifying_key,
};
use crate::record::{RECORD_FILE, Record, RecordError, SIGNATURES_FILE, Seal};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Verifies the run directory `run`, trusting only `keys` when any are given; exit 0 when
/// intact, 1 when altered.
pub fn verify(run: &Path, keys: &[PathBuf], out: &mut dyn Write) -> Result<i32, Failure> {
    if !run.join(JOURNAL_FILE).exists() {
        return Err(Failure {
            message: format!(
                "{} is not a run directory (no {JOURNAL_FILE})",
                run.display()
            ),
            code: exit::INVALID,
        });
    }
    let trusted = keys
        .iter()
        .map(|k| read_verifying_key(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::new(&e, exit::INVALID))?;
    if let Some(line) = first_non_utf8_line(&run.join(JOURNAL_FILE)) {
        let _ = writeln!(
            out,
            "NOT INTACT: {JOURNAL_FILE} line {line} is not valid UTF-8: entry {} was altered",
            line - 1
        );
        return Ok(exit::FAIL);
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
    let seal = if record_path.exists() {
        let read = std::fs::read(&record_path)
            .map_err(|source| RecordError::Io {
                path: record_path.clone(),
                source,
            })
            .and_then(|bytes| {
                serde_json::from_slice::<Record>(&bytes)
                    .map(|record| (record, bytes))
                    .map_err(|source| RecordError::Decode {
                        path: record_path.clone(),
                        source,
                    })
            });
        let (record, bytes) = match read {
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
            // The chain holds up to the journal's last complete entry, so the damage is at
            // the end: name the first entry that differs from what the record was sealed
            // from.
            let found = journal.entries.len() as u64;
            let sealed = record.journal_entries;
            let what = if found < sealed {
                format!(
                    "entry {found} (line {}) and any after it are missing or damaged",
                    found + 1
                )
            } else if found > sealed {
                format!(
                    "entry {sealed} (line {}) and any after it were appended after sealing",
                    sealed + 1
                )
            } else {
                format!(
                    "entry {} (line {found}), the last, was altered",
                    found.saturating_sub(1)
                )
            };
            let _ = writeln!(
                out,
                "NOT INTACT: {what}: {RECORD_FILE} was sealed from {sealed} entries with head {} but the journal's head is {} after {found} entries",
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
        Some(Seal::of(&record, &bytes))
    } else {
        let _ = writeln!(
            out,
            "note: no {RECORD_FILE}: the run was interrupted before it was sealed"
        );
        None
    };
    let lines = match read_signatures(run) {
        Ok(lines) => lines,
        Err(e) => {
            let _ = writeln!(out, "NOT INTACT: {}", crate::runner::error_chain(&e));
            return Ok(exit::FAIL);
        }
    };
    let check = check_signatures(lines, seal.as_ref(), &trusted);
    print_signatures(&check, out);
    if trusted.is_empty() && !check.signatures.is_empty() {
        // Without --key a signature is only checked against the key it names itself:
        // anyone can make a key. Say so, so that a reviewer asks for the signers' keys.
        let _ = writeln!(
            out,
            "note: no --key given: each signature was checked against the key it names; give the signers' public keys with --key to know who signed"
        );
    }
    if !check.is_intact() {
        let rejected = check
            .signatures
            .iter()
            .filter(|s| !s.status.is_valid())
            .count();
        let _ = writeln!(
            out,
            "NOT INTACT: {rejected} of {} signatures rejected, {} expected signer(s) missing",
            check.signatures.len(),
            check.missing_keys.len()
        );
        return Ok(exit::FAIL);
    }
    let _ = writeln!(
        out,
        "intact: {} entries, head {}, {} valid signature(s)",
        journal.entries.len(),
        journal.head,
        check.signatures.len()
    );
    Ok(exit::PASS)
}

/// The 1-based line holding the journal's first byte that is not UTF-8, if any (the
/// journal reader only says the file is unreadable).
fn first_non_utf8_line(path: &Path) -> Option<usize> {
    let bytes = std::fs::read(path).ok()?;
    let bad = std::str::from_utf8(&bytes).err()?.valid_up_to();
    Some(bytes[..bad].iter().filter(|b| **b == b'\n').count() + 1)
}

/// One line per signature, then one per trusted key that signed nothing.
fn print_signatures(check: &SignatureCheck, out: &mut dyn Write) {
    for s in &check.signatures {
        let verdict = if s.status.is_valid() {
            "valid"
        } else {
            "REJECTED"
        };
        match &s.signature {
            Some(sig) => {
                let _ = writeln!(
                    out,
                    "signature {SIGNATURES_FILE}:{}: {verdict}: {:?} ({}) at {}, key {}{}",
                    s.line,
                    sig.name,
                    sig.meaning,
                    sig.utc,
                    sig.key_fingerprint(),
                    if s.status.is_valid() {
                        String::new()
                    } else {
                        format!(": {}", s.status)
                    }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "signature {SIGNATURES_FILE}:{}: {verdict}: {}",
                    s.line, s.status
                );
            }
        }
    }
    for key in &check.missing_keys {
        let _ = writeln!(out, "missing: no valid signature by key {key}");
    }
}
