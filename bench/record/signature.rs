//! Electronic signatures of a sealed record (21 CFR 11.50, 11.70).
//!
//! # Files
//!
//! - **Key pair** ([`write_key_pair`]): the private key is `PREFIX.key`, an unencrypted
//!   PKCS#8 v1 PEM file (`-----BEGIN PRIVATE KEY-----`, RFC 8410 ed25519), created with mode
//!   0600 and never overwritten; the public key is `PREFIX.pub`, an SPKI PEM file
//!   (`-----BEGIN PUBLIC KEY-----`). Both read with OpenSSL (`openssl pkey -in PREFIX.key`).
//!   A public key may also be given as the 64 hex digits of its 32 raw bytes, the form
//!   written in `signatures.jsonl`.
//! - **Fingerprint** ([`fingerprint`]): `SHA256:` and the SHA-256 of the 32 raw public-key
//!   bytes in hex.
//! - **Signatures** ([`SIGNATURES_FILE`], `signatures.jsonl` beside `record.json`): one JSON
//!   object per line ([`Signature`]), appended and `fdatasync`ed, never rewritten. The
//!   journal stays the run's own hash chain; signing never touches it or the record.
//!
//! # What a signature binds
//!
//! A signature is made over [`Signature::signed_bytes`]: the ASCII line
//! `qbench-signature-v1`, then one line per field in this fixed order, each written as
//! `NAME:LENGTH:VALUE` where LENGTH is the value's length in bytes (in decimal), so no value
//! can be read as another field whatever it contains:
//!
//! ```text
//! qbench-signature-v1
//! run_id:<len>:<run id from the record>
//! record_sha256:<len>:<SHA-256 of the bytes of record.json, hex>
//! journal_head:<len>:<SHA-256 of the journal's last line, hex>
//! name:<len>:<the signer's printed name, UTF-8>
//! meaning:<len>:<performed | reviewed | approved>
//! utc:<len>:<date and time of signing, RFC 3339 UTC, seconds>
//! public_key:<len>:<the signer's ed25519 public key, 64 hex digits>
//! previous:<len>:<SHA-256 of the previous line of signatures.jsonl, hex; 64 zeros for the first>
//! ```
//!
//! Every line ends with `\n`. Because the record's hash and the journal head are inside the
//! signed bytes, a signature copied beside another record no longer matches it (11.70), and
//! changing the hash it names breaks the ed25519 signature. Because the public key is inside
//! them, a signature cannot be re-attributed to another key.
//!
//! The `previous` field chains the signatures like the journal's entries: removing,
//! reordering or inserting a signature line breaks the chain at the line after it, so what
//! was signed before can never be obscured (21 CFR 11.10(e)). Removing the *last* line
//! leaves the others valid; `qbench verify --key` catches a missing signature by naming the
//! keys whose signatures must be present.

use super::{RECORD_FILE, Record};
use crate::journal::{JOURNAL_FILE, read_journal};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the signatures inside a run directory.
pub const SIGNATURES_FILE: &str = "signatures.jsonl";

/// Version of the signature format (and of the signed bytes) written by this build.
pub const SIGNATURE_FORMAT: u32 = 1;

/// The first line of the signed bytes; changes with [`SIGNATURE_FORMAT`].
const SIGNED_BYTES_TAG: &str = "qbench-signature-v1";

/// What a signature means (21 CFR 11.50(a)(3)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Meaning {
    /// The signer performed the test.
    Performed,
    /// The signer reviewed the record.
    Reviewed,
    /// The signer approved the record.
    Approved,
}

impl Meaning {
    /// The word written in the signature and shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Performed => "performed",
            Meaning::Reviewed => "reviewed",
            Meaning::Approved => "approved",
        }
    }
}

impl fmt::Display for Meaning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What identifies one sealed record: the values a signature binds to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seal {
    /// The run's id, from the record.
    pub run_id: String,
    /// SHA-256 of the bytes of `record.json`, in hex.
    pub record_sha256: String,
    /// SHA-256 of the journal's last line, in hex.
    pub journal_head: String,
}

impl Seal {
    /// The seal of `record`, whose file holds `record_bytes`.
    pub fn of(record: &Record, record_bytes: &[u8]) -> Seal {
        Seal {
            run_id: record.header.run_id.clone(),
            record_sha256: hex::encode(Sha256::digest(record_bytes)),
            journal_head: record.journal_head.clone(),
        }
    }
}

/// One signature: a line of `signatures.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Signature format version ([`SIGNATURE_FORMAT`]).
    pub format: u32,
    /// The run's id.
    pub run_id: String,
    /// SHA-256 of the bytes of `record.json` when it was signed, in hex.
    pub record_sha256: String,
    /// The journal's head hash when it was signed.
    pub journal_head: String,
    /// The signer's printed name.
    pub name: String,
    /// What the signature means.
    pub meaning: Meaning,
    /// Date and time of signing, RFC 3339 UTC.
    pub utc: String,
    /// The signer's ed25519 public key: 32 bytes in hex.
    pub public_key: String,
    /// SHA-256 (hex) of the previous line of `signatures.jsonl` (without its line break), or
    /// [`GENESIS_HASH`](crate::journal::GENESIS_HASH) for the first signature.
    pub previous: String,
    /// The ed25519 signature over [`Signature::signed_bytes`]: 64 bytes in hex.
    pub signature: String,
}

impl Signature {
    /// Signs `seal` as `name` with `meaning` at `utc` (RFC 3339) with `key`, after the
    /// signature line whose hash is `previous` ([`previous_signature_hash`]).
    ///
    /// The name must not be blank nor hold control characters (a line break in a printed
    /// name could make a report show something other than what was signed).
    pub fn sign(
        seal: &Seal,
        previous: &str,
        name: &str,
        meaning: Meaning,
        utc: &str,
        key: &SigningKey,
    ) -> Result<Signature, SignatureError> {
        if name.trim().is_empty() {
            return Err(SignatureError::BadName {
                reason: "it is blank",
            });
        }
        if name.chars().any(char::is_control) {
            return Err(SignatureError::BadName {
                reason: "it holds a control character",
            });
        }
        let mut signature = Signature {
            format: SIGNATURE_FORMAT,
            run_id: seal.run_id.clone(),
            record_sha256: seal.record_sha256.clone(),
            journal_head: seal.journal_head.clone(),
            name: name.to_string(),
            meaning,
            utc: utc.to_string(),
            public_key: hex::encode(key.verifying_key().as_bytes()),
            previous: previous.to_string(),
            signature: String::new(),
        };
        let sig = key.sign(&signature.signed_bytes());
        signature.signature = hex::encode(sig.to_bytes());
        Ok(signature)
    }

    /// The canonical bytes the ed25519 signature is made over (see the module docs).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(SIGNED_BYTES_TAG.as_bytes());
        out.push(b'\n');
        let fields: [(&str, &str); 8] = [
            ("run_id", &self.run_id),
            ("record_sha256", &self.record_sha256),
            ("journal_head", &self.journal_head),
            ("name", &self.name),
            ("meaning", self.meaning.as_str()),
            ("utc", &self.utc),
            ("public_key", &self.public_key),
            ("previous", &self.previous),
        ];
        for (name, value) in fields {
            out.extend_from_slice(format!("{name}:{}:", value.len()).as_bytes());
            out.extend_from_slice(value.as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// The public key the signature names, if it is a valid ed25519 key.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        let bytes: [u8; 32] = hex::decode(&self.public_key).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }

    /// The fingerprint of the public key the signature names (the hex itself when it is
    /// not a valid key).
    pub fn key_fingerprint(&self) -> String {
        match self.verifying_key() {
            Some(key) => fingerprint(&key),
            None => self.public_key.clone(),
        }
    }

    /// Checks this signature against the record identified by `seal`; `trusted`, when not
    /// empty, lists the only keys whose signatures are accepted.
    pub fn check(&self, seal: &Seal, trusted: &[VerifyingKey]) -> SignatureStatus {
        if self.format != SIGNATURE_FORMAT {
            return SignatureStatus::UnknownFormat(self.format);
        }
        let Some(key) = self.verifying_key() else {
            return SignatureStatus::BadKey;
        };
        // Only the canonical (lowercase) hex is accepted, so that no byte of a signature
        // line can change without the line being rejected.
        let sig = hex::decode(&self.signature)
            .ok()
            .filter(|b| hex::encode(b) == self.signature)
            .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok());
        let Some(sig) = sig else {
            return SignatureStatus::BadSignature;
        };
        // The signature is checked first: a signature that does not verify says nothing
        // about which record it was meant for. `verify_strict` also refuses weak keys and
        // malleable signature encodings.
        if key.verify_strict(&self.signed_bytes(), &sig).is_err() {
            return SignatureStatus::BadSignature;
        }
        let differs = if self.run_id != seal.run_id {
            Some("run id")
        } else if self.record_sha256 != seal.record_sha256 {
            Some("record hash")
        } else if self.journal_head != seal.journal_head {
            Some("journal head")
        } else {
            None
        };
        if let Some(field) = differs {
            return SignatureStatus::OtherRecord { field };
        }
        if !trusted.is_empty() && !trusted.contains(&key) {
            return SignatureStatus::UntrustedKey;
        }
        SignatureStatus::Valid
    }
}

/// The outcome of checking one signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureStatus {
    /// The signature verifies over this record (and its key is trusted, when keys were
    /// named).
    Valid,
    /// The line is not a signature.
    Malformed(String),
    /// The signature is of a format this build does not know.
    UnknownFormat(u32),
    /// The public key it names is not a valid ed25519 key.
    BadKey,
    /// The ed25519 signature does not verify: the line was altered after signing, or it was
    /// not made with the key it names.
    BadSignature,
    /// The signature is genuine but was made over another record.
    OtherRecord {
        /// The first field that differs: `run id`, `record hash` or `journal head`.
        field: &'static str,
    },
    /// The signature verifies, but its key is not among the keys named as trusted.
    UntrustedKey,
    /// The signature verifies, but the line before it is not the one it was signed after: a
    /// signature line was removed, reordered or inserted before it.
    Unchained,
    /// The record itself does not verify, so no signature over it can be trusted.
    RecordNotIntact,
}

impl SignatureStatus {
    /// Whether the signature is accepted.
    pub fn is_valid(&self) -> bool {
        matches!(self, SignatureStatus::Valid)
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Valid => f.write_str("valid"),
            SignatureStatus::Malformed(why) => write!(f, "not a signature ({why})"),
            SignatureStatus::UnknownFormat(v) => write!(f, "unknown signature format {v}"),
            SignatureStatus::BadKey => f.write_str("its public key is not a valid ed25519 key"),
            SignatureStatus::BadSignature => f.write_str(
                "the signature does not verify: altered after signing, or not made with the key it names",
            ),
            SignatureStatus::OtherRecord { field } => {
                write!(f, "made over another record (the {field} differs)")
            }
            SignatureStatus::UntrustedKey => f.write_str("made with a key not given with --key"),
            SignatureStatus::Unchained => f.write_str(
                "the signature line before it is not the one it was made after: a signature was removed, reordered or inserted",
            ),
            SignatureStatus::RecordNotIntact => {
                f.write_str("not checked: the record itself does not verify")
            }
        }
    }
}

/// One line of `signatures.jsonl`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedSignature {
    /// 1-based line number in `signatures.jsonl`.
    pub line: usize,
    /// The signature, when the line parses.
    pub signature: Option<Signature>,
    /// The outcome.
    pub status: SignatureStatus,
}

/// Every signature of a run, checked, and the trusted keys that signed nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignatureCheck {
    /// The signature lines, in file order.
    pub signatures: Vec<CheckedSignature>,
    /// Fingerprints of the keys named as trusted with no valid signature.
    pub missing_keys: Vec<String>,
}

impl SignatureCheck {
    /// Whether every signature is valid and every trusted key signed.
    pub fn is_intact(&self) -> bool {
        self.missing_keys.is_empty() && self.signatures.iter().all(|s| s.status.is_valid())
    }
}

/// Errors making keys, signing, or reading signatures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// A file could not be read, created or written.
    #[error("{}: i/o error", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key file exists already; keys are never overwritten.
    #[error("{} exists already; a key is never overwritten", path.display())]
    KeyExists {
        /// The file.
        path: PathBuf,
    },
    /// The operating system gave no random bytes for a new key.
    #[error("no random bytes for a new key")]
    Random(#[source] getrandom::Error),
    /// A private key file is not an ed25519 PKCS#8 key.
    #[error("{}: not an ed25519 private key (PKCS#8 PEM)", path.display())]
    PrivateKey {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ed25519_dalek::pkcs8::Error,
    },
    /// A public key file is neither an ed25519 SPKI PEM key nor 64 hex digits.
    #[error("{}: not an ed25519 public key (SPKI PEM, or 64 hex digits)", path.display())]
    PublicKey {
        /// The file.
        path: PathBuf,
    },
    /// A key could not be encoded.
    #[error("cannot encode the key")]
    Encode(#[source] ed25519_dalek::pkcs8::Error),
    /// The printed name cannot be signed.
    #[error("the printed name cannot be signed: {reason}")]
    BadName {
        /// Why.
        reason: &'static str,
    },
    /// The run has no record yet (it was interrupted before it was sealed).
    #[error("{} holds no {RECORD_FILE}: only a sealed record can be signed", path.display())]
    NotSealed {
        /// The run directory.
        path: PathBuf,
    },
    /// The journal does not verify.
    #[error("the journal does not verify")]
    Journal(#[source] crate::journal::JournalError),
    /// The record cannot be read or folded.
    #[error("the record cannot be read")]
    Record(#[source] super::RecordError),
    /// The record is not what its journal folds into.
    #[error("{RECORD_FILE} differs from what the journal records: it cannot be signed")]
    RecordDiffers,
    /// A signature could not be encoded.
    #[error("cannot encode the signature")]
    EncodeSignature(#[source] serde_json::Error),
}

/// The bytes of `record.json` for `record`, exactly as [`super::write_record`] writes them
/// (pretty JSON and a line break), so the record's hash can be shown by any report.
pub fn record_file_bytes(record: &Record) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(record)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The fingerprint of a public key: `SHA256:` and the SHA-256 of its 32 bytes in hex.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("SHA256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// A new key pair from the operating system's random source.
pub fn generate_key() -> Result<SigningKey, SignatureError> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(SignatureError::Random)?;
    let key = SigningKey::from_bytes(&secret);
    secret.fill(0);
    Ok(key)
}

/// The paths of the private and public key files for `prefix`: `PREFIX.key`, `PREFIX.pub`.
pub fn key_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let mut private = prefix.as_os_str().to_owned();
    private.push(".key");
    let mut public = prefix.as_os_str().to_owned();
    public.push(".pub");
    (PathBuf::from(private), PathBuf::from(public))
}

/// Writes `key` as `PREFIX.key` (PKCS#8 PEM, mode 0600) and `PREFIX.pub` (SPKI PEM); fails
/// if either exists. Returns the two paths.
pub fn write_key_pair(
    key: &SigningKey,
    prefix: &Path,
) -> Result<(PathBuf, PathBuf), SignatureError> {
    let (private, public) = key_paths(prefix);
    for path in [&private, &public] {
        if path.exists() {
            return Err(SignatureError::KeyExists { path: path.clone() });
        }
    }
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(SignatureError::Encode)?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| SignatureError::Encode(e.into()))?;
    write_new(&private, private_pem.as_bytes(), 0o600)?;
    write_new(&public, public_pem.as_bytes(), 0o644)?;
    Ok((private, public))
}

/// Creates `path` (never overwriting) with `mode` on Unix, writes `bytes` and syncs.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SignatureError> {
    let io = |source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            SignatureError::KeyExists {
                path: path.to_path_buf(),
            }
        } else {
            io(source)
        }
    })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a private key written by [`write_key_pair`].
pub fn read_signing_key(path: &Path) -> Result<SigningKey, SignatureError> {
    let text = std::fs::read_to_string(path).map_err(|source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    SigningKey::from_pkcs8_pem(&text).map_err(|source| SignatureError::PrivateKey {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a public key: an SPKI PEM file, or a file holding the 64 hex digits of its bytes.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, SignatureError> {
    let text = std::fs::read_to_string(path).map_err(|source| SignatureError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = || SignatureError::PublicKey {
        path: path.to_path_buf(),
    };
    if text.contains("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(&text).map_err(|_| bad());
    }
    let bytes: [u8; 32] = hex::decode(text.trim())
        .map_err(|_| bad())?
        .try_into()
        .map_err(|_| bad())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| bad())
}

/// Reads the run in `run_dir` and returns the seal of its record, after checking that the
/// journal's chain holds and that `record.json` is exactly what the journal folds into.
pub fn seal_run(run_dir: &Path) -> Result<Seal, SignatureError> {
    let record_path = run_dir.join(RECORD_FILE);
    if !record_path.exists() {
        return Err(SignatureError::NotSealed {
            path: run_dir.to_path_buf(),
        });
    }
    let journal = read_journal(&run_dir.join(JOURNAL_FILE)).map_err(SignatureError::Journal)?;
    let bytes = std::fs::read(&record_path).map_err(|source| SignatureError::Io {
        path: record_path.clone(),
        source,
    })?;
    let record: Record = serde_json::from_slice(&bytes).map_err(|source| {
        SignatureError::Record(super::RecordError::Decode {
            path: record_path.clone(),
            source,
        })
    })?;
    let refolded =
        Record::from_entries(&journal.entries, &journal.head).map_err(SignatureError::Record)?;
    if refolded != record || record.journal_head != journal.head {
        return Err(SignatureError::RecordDiffers);
    }
    Ok(Seal::of(&record, &bytes))
}

/// Appends `signature` to `signatures.jsonl` in `run_dir`, durably.
pub fn append_signature(run_dir: &Path, signature: &Signature) -> Result<(), SignatureError> {
    let path = run_dir.join(SIGNATURES_FILE);
    let mut line = serde_json::to_string(signature).map_err(SignatureError::EncodeSignature)?;
    line.push('\n');
    let io = |source| SignatureError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(io)?;
    // One write per line, as for the journal: a line is whole or absent after a crash.
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// One line of `signatures.jsonl`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureLine {
    /// 1-based line number.
    pub line: usize,
    /// SHA-256 (hex) of the previous non-empty line, or the genesis hash for the first.
    pub previous: String,
    /// The signature, or why the line is not one.
    pub parsed: Result<Signature, String>,
}

/// SHA-256 (hex) of one line of `signatures.jsonl`, without its line break.
fn line_hash(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Parses the text of a `signatures.jsonl` file: one entry per non-empty line, with its
/// 1-based line number; a line that is not a signature is kept as an error message.
pub fn parse_signatures(text: &str) -> Vec<SignatureLine> {
    let mut previous = crate::journal::GENESIS_HASH.to_string();
    let mut lines = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        lines.push(SignatureLine {
            line: i + 1,
            previous: std::mem::replace(&mut previous, line_hash(l)),
            parsed: serde_json::from_str(l).map_err(|e| e.to_string()),
        });
    }
    lines
}

/// The `previous` hash for the next signature of the run in `run_dir`: the hash of the last
/// line of its `signatures.jsonl`, or the genesis hash when it has none.
pub fn previous_signature_hash(run_dir: &Path) -> Result<String, SignatureError> {
    let path = run_dir.join(SIGNATURES_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(SignatureError::Io { path, source }),
    };
    Ok(text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map_or_else(|| crate::journal::GENESIS_HASH.to_string(), line_hash))
}

/// Reads the signatures of the run in `run_dir` (none when it has no `signatures.jsonl`).
pub fn read_signatures(run_dir: &Path) -> Result<Vec<SignatureLine>, SignatureError> {
    let path = run_dir.join(SIGNATURES_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse_signatures(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(SignatureError::Io { path, source }),
    }
}

/// Checks parsed signature lines against `seal` (or marks them all unchecked when the record
/// does not verify, `seal` being `None`), and lists the `trusted` keys that signed nothing.
pub fn check_signatures(
    lines: Vec<SignatureLine>,
    seal: Option<&Seal>,
    trusted: &[VerifyingKey],
) -> SignatureCheck {
    let signatures: Vec<CheckedSignature> = lines
        .into_iter()
        .map(
            |SignatureLine {
                 line,
                 previous,
                 parsed,
             }| match parsed {
                Ok(signature) => CheckedSignature {
                    line,
                    status: match seal {
                        Some(seal) => match signature.check(seal, trusted) {
                            SignatureStatus::Valid | SignatureStatus::UntrustedKey
                                if signature.previous != previous =>
                            {
                                SignatureStatus::Unchained
                            }
                            status => status,
                        },
                        None => SignatureStatus::RecordNotIntact,
                    },
                    signature: Some(signature),
                },
                Err(why) => CheckedSignature {
                    line,
                    signature: None,
                    status: SignatureStatus::Malformed(why),
                },
            },
        )
        .collect();
    let missing_keys = trusted
        .iter()
        .filter(|key| {
            !signatures.iter().any(|s| {
                s.status.is_valid()
                    && s.signature
                        .as_ref()
                        .and_then(Signature::verifying_key)
                        .is_some_and(|k| &k == *key)
            })
        })
        .map(fingerprint)
        .collect();
    SignatureCheck {
        signatures,
        missing_keys,
    }
}

/// Reads and checks every signature of the run in `run_dir`, for reports: the record is
/// sealed afresh, and when it does not verify every signature is marked unchecked.
pub fn check_run_signatures(run_dir: &Path) -> Result<SignatureCheck, SignatureError> {
    let lines = read_signatures(run_dir)?;
    if lines.is_empty() {
        return Ok(SignatureCheck::default());
    }
    let seal = seal_run(run_dir).ok();
    Ok(check_signatures(lines, seal.as_ref(), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    fn seal(n: u8) -> Seal {
        Seal {
            run_id: format!("run-{n}"),
            record_sha256: hex::encode([n; 32]),
            journal_head: hex::encode([n.wrapping_add(1); 32]),
        }
    }

    fn signed(seal: &Seal, key: &SigningKey) -> Signature {
        Signature::sign(
            seal,
            crate::journal::GENESIS_HASH,
            "A. Tester",
            Meaning::Reviewed,
            "2026-11-23T10:00:00Z",
            key,
        )
        .unwrap()
    }

    #[test]
    fn a_signature_verifies_over_its_record() {
        let s = signed(&seal(1), &key(7));
        assert_eq!(s.check(&seal(1), &[]), SignatureStatus::Valid);
        assert_eq!(
            s.check(&seal(1), &[key(7).verifying_key()]),
            SignatureStatus::Valid
        );
    }

    #[test]
    fn the_signed_bytes_are_length_prefixed_fields() {
        let s = signed(&seal(1), &key(7));
        let text = String::from_utf8(s.signed_bytes()).unwrap();
        assert!(
            text.starts_with("qbench-signature-v1\nrun_id:5:run-1\n"),
            "{text}"
        );
        assert!(
            text.contains("\nname:9:A. Tester\nmeaning:8:reviewed\n"),
            "{text}"
        );
        assert!(text.contains(&format!("\npublic_key:64:{}\n", s.public_key)));
        assert!(text.ends_with(&format!("previous:64:{}\n", "0".repeat(64))));
    }

    #[test]
    fn a_signature_over_another_record_is_rejected() {
        let s = signed(&seal(1), &key(7));
        let mut other = seal(1);
        other.record_sha256 = hex::encode([9u8; 32]);
        assert_eq!(
            s.check(&other, &[]),
            SignatureStatus::OtherRecord {
                field: "record hash"
            }
        );
    }

    #[test]
    fn a_signature_edited_to_name_another_record_does_not_verify() {
        let mut s = signed(&seal(1), &key(7));
        s.record_sha256 = seal(2).record_sha256;
        assert_eq!(s.check(&seal(2), &[]), SignatureStatus::BadSignature);
    }

    #[test]
    fn a_signature_claiming_another_key_does_not_verify() {
        let mut s = signed(&seal(1), &key(7));
        s.public_key = hex::encode(key(8).verifying_key().as_bytes());
        assert_eq!(s.check(&seal(1), &[]), SignatureStatus::BadSignature);
    }

    #[test]
    fn an_untrusted_key_is_rejected_and_a_trusted_key_that_did_not_sign_is_named() {
        let s = signed(&seal(1), &key(7));
        let line = serde_json::to_string(&s).unwrap();
        let check = check_signatures(
            parse_signatures(&line),
            Some(&seal(1)),
            &[key(8).verifying_key()],
        );
        assert_eq!(check.signatures[0].status, SignatureStatus::UntrustedKey);
        assert_eq!(
            check.missing_keys,
            vec![fingerprint(&key(8).verifying_key())]
        );
        assert!(!check.is_intact());
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever the keys and records, a signature is valid only over the record it was
        /// made for, only by its own key, and not after any byte of its line changed.
        #[test]
        fn a_signature_never_verifies_elsewhere_or_altered(
            signer in 1u8..=255,
            other in 1u8..=255,
            record in 0u8..=255,
            field in 0usize..3,
            at in 0usize..1000,
            mask in 1u8..=255,
        ) {
            let s = signed(&seal(record), &key(signer));
            prop_assert_eq!(s.check(&seal(record), &[]), SignatureStatus::Valid);

            let mut elsewhere = seal(record);
            match field {
                0 => elsewhere.run_id.push('x'),
                1 => elsewhere.record_sha256 = hex::encode([record ^ 0x5a; 32]),
                _ => elsewhere.journal_head = hex::encode([record ^ 0xa5; 32]),
            }
            let elsewhere_status = s.check(&elsewhere, &[]);
            let other_record = matches!(elsewhere_status, SignatureStatus::OtherRecord { .. });
            prop_assert!(other_record, "{:?}", elsewhere_status);

            let trusted = [key(other).verifying_key()];
            let expected = if other == signer {
                SignatureStatus::Valid
            } else {
                SignatureStatus::UntrustedKey
            };
            prop_assert_eq!(s.check(&seal(record), &trusted), expected);

            let line = serde_json::to_string(&s).unwrap();
            let mut bytes = line.into_bytes();
            let at = at % bytes.len();
            bytes[at] ^= mask;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let check = check_signatures(parse_signatures(&text), Some(&seal(record)), &[]);
            prop_assert!(
                check.signatures.iter().all(|c| !c.status.is_valid()),
                "byte {} ^ {:#04x} still verifies: {}", at, mask, text
            );
        }
    }

    #[test]
    fn signatures_are_chained_so_none_can_be_removed_from_the_middle() {
        let mut text = String::new();
        let mut previous = crate::journal::GENESIS_HASH.to_string();
        for n in 0..3u8 {
            let s = Signature::sign(
                &seal(1),
                &previous,
                &format!("signer {n}"),
                Meaning::Reviewed,
                "2026-11-23T10:00:00Z",
                &key(n + 1),
            )
            .unwrap();
            let line = serde_json::to_string(&s).unwrap();
            previous = line_hash(&line);
            text.push_str(&line);
            text.push('\n');
        }
        let statuses = |text: &str| -> Vec<SignatureStatus> {
            check_signatures(parse_signatures(text), Some(&seal(1)), &[])
                .signatures
                .into_iter()
                .map(|c| c.status)
                .collect()
        };
        assert_eq!(statuses(&text), vec![SignatureStatus::Valid; 3]);
        let lines: Vec<&str> = text.lines().collect();
        let without_middle = format!("{}\n{}\n", lines[0], lines[2]);
        assert_eq!(
            statuses(&without_middle),
            [SignatureStatus::Valid, SignatureStatus::Unchained]
        );
        let swapped = format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]);
        assert_eq!(
            statuses(&swapped),
            [
                SignatureStatus::Unchained,
                SignatureStatus::Unchained,
                SignatureStatus::Unchained
            ]
        );
    }

    #[test]
    fn names_with_control_characters_are_refused() {
        let err = Signature::sign(&seal(1), "0", "A\nB", Meaning::Approved, "t", &key(1));
        assert!(matches!(err, Err(SignatureError::BadName { .. })));
        let err = Signature::sign(&seal(1), "0", "  ", Meaning::Approved, "t", &key(1));
        assert!(matches!(err, Err(SignatureError::BadName { .. })));
    }

    #[test]
    fn a_malformed_line_is_located() {
        let check = check_signatures(parse_signatures("\n{not json\n"), Some(&seal(1)), &[]);
        assert_eq!(check.signatures.len(), 1);
        assert_eq!(check.signatures[0].line, 2);
        assert!(matches!(
            check.signatures[0].status,
            SignatureStatus::Malformed(_)
        ));
    }

    #[test]
    fn record_file_bytes_are_what_write_record_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECORD_FILE);
        let record = crate::report::testutil::failing_record();
        super::super::write_record(&record, &path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            record_file_bytes(&record).unwrap()
        );
    }

    #[test]
    fn key_files_round_trip_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("lab");
        let key = generate_key().unwrap();
        let (private, public) = write_key_pair(&key, &prefix).unwrap();
        assert_eq!(read_signing_key(&private).unwrap(), key);
        assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            write_key_pair(&key, &prefix),
            Err(SignatureError::KeyExists { .. })
        ));
        let hex_file = dir.path().join("hex.pub");
        std::fs::write(&hex_file, hex::encode(key.verifying_key().as_bytes())).unwrap();
        assert_eq!(read_verifying_key(&hex_file).unwrap(), key.verifying_key());
        assert!(read_verifying_key(&private).is_err());
    }
}
