//! `qbench sign RUN --key KEY --meaning performed|reviewed|approved --name NAME`: append an
//! electronic signature to a sealed run.
//!
//! The run is checked first (journal chain, record equal to its fold): an altered record is
//! never signed. The signature goes to `signatures.jsonl` beside the record; see
//! [`crate::record::signature`] for what it binds.

use super::{Failure, exit};
use crate::record::signature::{
    Meaning, Signature, append_signature, fingerprint, previous_signature_hash, read_signing_key,
    seal_run,
};
use std::io::Write;
use std::path::Path;

/// The meaning of a signature, as typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MeaningArg {
    /// The signer performed the test.
    Performed,
    /// The signer reviewed the record.
    Reviewed,
    /// The signer approved the record.
    Approved,
}

impl From<MeaningArg> for Meaning {
    fn from(m: MeaningArg) -> Meaning {
        match m {
            MeaningArg::Performed => Meaning::Performed,
            MeaningArg::Reviewed => Meaning::Reviewed,
            MeaningArg::Approved => Meaning::Approved,
        }
    }
}

/// Signs the run in `run` with the private key in `key`, as `name` meaning `meaning`, at
/// `utc` (RFC 3339, read from the clock by the caller).
pub fn sign(
    run: &Path,
    key: &Path,
    meaning: MeaningArg,
    name: &str,
    utc: &str,
    out: &mut dyn Write,
) -> Result<i32, Failure> {
    let key = read_signing_key(key).map_err(|e| Failure::new(&e, exit::INVALID))?;
    // A run that does not verify cannot be signed: exit 1, as `verify` would.
    let seal = seal_run(run).map_err(|e| Failure::new(&e, exit::FAIL))?;
    let previous = previous_signature_hash(run).map_err(|e| Failure::new(&e, exit::INVALID))?;
    let signature = Signature::sign(&seal, &previous, name, meaning.into(), utc, &key)
        .map_err(|e| Failure::new(&e, exit::INVALID))?;
    append_signature(run, &signature).map_err(|e| Failure::new(&e, exit::INVALID))?;
    let _ = writeln!(
        out,
        "signed: {} ({}) at {} with key {}",
        signature.name,
        signature.meaning,
        signature.utc,
        fingerprint(&key.verifying_key())
    );
    let _ = writeln!(
        out,
        "record {} sha256 {}, journal head {}",
        seal.run_id, seal.record_sha256, seal.journal_head
    );
    Ok(exit::PASS)
}
