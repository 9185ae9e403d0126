//! `qbench keygen [--out PREFIX]`: make an ed25519 key pair for signing records.
//!
//! Writes `PREFIX.key` (the private key, PKCS#8 PEM, mode 0600) and `PREFIX.pub` (the public
//! key, SPKI PEM), never overwriting either, and prints the public key's fingerprint.

use super::{Failure, exit};
use crate::record::signature::{fingerprint, generate_key, write_key_pair};
use std::io::Write;
use std::path::Path;

/// The prefix used when `--out` is not given.
pub const DEFAULT_PREFIX: &str = "qbench-signing";

/// Makes a key pair under `prefix` and prints where it went and its fingerprint.
pub fn keygen(prefix: &Path, out: &mut dyn Write) -> Result<i32, Failure> {
    let key = generate_key().map_err(|e| Failure::new(&e, exit::INVALID))?;
    let (private, public) =
        write_key_pair(&key, prefix).map_err(|e| Failure::new(&e, exit::INVALID))?;
    let _ = writeln!(
        out,
        "private key: {} (keep it secret; mode 0600)",
        private.display()
    );
    let _ = writeln!(out, "public key:  {}", public.display());
    let _ = writeln!(out, "fingerprint: {}", fingerprint(&key.verifying_key()));
    Ok(exit::PASS)
}
