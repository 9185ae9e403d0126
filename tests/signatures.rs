//! Electronic signatures and tamper detection, through the real binary: `qbench keygen`,
//! `qbench sign`, `qbench verify [--key]`, and random tamperings of a recorded journal.

use crate::util::{Dir, Output, run_qbench};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::path::Path;
use std::time::Duration;

const PROCEDURE: &str = "procedures/ventilator-volume-accuracy.yaml";

/// A short real run in `dir/<name>` that completes (PASS or FAIL: signatures and tamper
/// detection do not depend on the verdict).
fn short_run(dir: &Dir, name: &str) {
    let out = dir.qbench(&[
        "run",
        PROCEDURE,
        "--yes",
        "--out",
        name,
        "--set",
        "measured_breaths=3",
        "--set",
        "settle_breaths=1",
    ]);
    assert!(
        out.code == 0 || out.code == 1,
        "{}\n{}",
        out.stdout,
        out.stderr
    );
}

fn keygen(dir: &Dir, prefix: &str) {
    let out = dir.qbench(&["keygen", "--out", prefix]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

fn sign(dir: &Dir, run: &str, key: &str, meaning: &str, name: &str) -> Output {
    dir.qbench(&[
        "sign",
        run,
        "--key",
        key,
        "--meaning",
        meaning,
        "--name",
        name,
    ])
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let dir = Dir::new();
    let out = dir.qbench(&["keygen", "--out", "lab"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("fingerprint: SHA256:"),
        "{}",
        out.stdout
    );
    let private = dir.read("lab.key");
    assert!(
        private.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{private}"
    );
    assert!(
        dir.read("lab.pub")
            .starts_with("-----BEGIN PUBLIC KEY-----\n")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("lab.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = dir.qbench(&["keygen", "--out", "lab"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("exists already"), "{}", again.stderr);
    assert_eq!(dir.read("lab.key"), private, "the key was not overwritten");
}

#[test]
fn a_signed_run_verifies_and_its_reports_show_the_signature() {
    let dir = Dir::new();
    short_run(&dir, "run");
    keygen(&dir, "alice");
    let out = sign(&dir, "run", "alice.key", "performed", "Alice <b>Smith</b>");
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    let out = dir.qbench(&["verify", "run", "--key", "alice.pub"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("1 valid signature"), "{}", out.stdout);

    // The signature binds the record's hash and the journal head.
    let line = dir.read("run/signatures.jsonl");
    let signature: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    let record: serde_json::Value = serde_json::from_str(&dir.read("run/record.json")).unwrap();
    assert_eq!(signature["journal_head"], record["journal_head"]);
    assert_eq!(signature["meaning"], "performed");
    assert_eq!(signature["name"], "Alice <b>Smith</b>");

    // Re-rendered after signing, the HTML report shows it (escaped), and it differs from
    // the report written at the end of the run only by the signature.
    let html = dir.qbench(&["report", "run", "--format", "html"]);
    assert_eq!(html.code, 0, "{}", html.stderr);
    assert!(html.stdout.contains("<h2>Signatures</h2>"));
    assert!(
        html.stdout
            .contains("<td>Alice &lt;b&gt;Smith&lt;&#x2F;b&gt;</td>")
            || html
                .stdout
                .contains("<td>Alice &lt;b&gt;Smith&lt;/b&gt;</td>"),
        "{}",
        html.stdout
    );
    assert!(!html.stdout.contains("<b>Smith"));
    assert!(html.stdout.contains("<td>performed</td>"));
    assert!(html.stdout.contains(">verified</span>"), "{}", html.stdout);
    assert!(!dir.read("run/report.html").contains("Alice"));

    let pdf = dir.qbench(&["report", "run", "--format", "pdf", "-o", "run.pdf"]);
    assert_eq!(pdf.code, 0, "{}", pdf.stderr);
    let bytes = std::fs::read(dir.path().join("run.pdf")).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("(Printed name:    Alice <b>Smith</b>)"),
        "signature in the PDF"
    );
    assert!(text.contains("(Verification:    verified)"));

    let atml = dir.qbench(&["report", "run", "--format", "atml"]);
    assert!(
        atml.stdout
            .contains("name=\"Alice &lt;b&gt;Smith&lt;/b&gt;\"")
    );
}

#[test]
fn signatures_by_another_key_or_over_another_record_are_rejected_and_named() {
    let dir = Dir::new();
    short_run(&dir, "one");
    short_run(&dir, "two");
    keygen(&dir, "alice");
    keygen(&dir, "mallory");
    assert_eq!(
        sign(&dir, "one", "alice.key", "reviewed", "Alice Smith").code,
        0
    );

    // With --key, a signature by any other key is rejected, naming its line and signer.
    assert_eq!(
        sign(&dir, "one", "mallory.key", "approved", "Dr. Boss").code,
        0
    );
    let out = dir.qbench(&["verify", "one", "--key", "alice.pub"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("signatures.jsonl:2: REJECTED: \"Dr. Boss\" (approved)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("not given with --key"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("signatures.jsonl:1: valid"),
        "{}",
        out.stdout
    );
    // Without --key both verify (nothing says whose keys to trust).
    assert_eq!(dir.qbench(&["verify", "one"]).code, 0);
    // A key named with --key must have signed.
    let lines: Vec<String> = dir
        .read("one/signatures.jsonl")
        .lines()
        .map(str::to_string)
        .collect();
    // Signatures are chained: removing the first leaves the second unchained.
    dir.write("one/signatures.jsonl", &format!("{}\n", lines[1]));
    let out = dir.qbench(&["verify", "one"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("signatures.jsonl:1: REJECTED: \"Dr. Boss\"")
            && out
                .stdout
                .contains("a signature was removed, reordered or inserted"),
        "{}",
        out.stdout
    );
    dir.write("one/signatures.jsonl", &format!("{}\n", lines[0]));
    let out = dir.qbench(&["verify", "one", "--key", "mallory.pub"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("missing: no valid signature by key"));

    // Alice's genuine signature copied beside another run's record.
    dir.write("two/signatures.jsonl", &format!("{}\n", lines[0]));
    let out = dir.qbench(&["verify", "two"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("made over another record"),
        "{}",
        out.stdout
    );
    // ... and edited to name that run and record: the signature no longer verifies.
    let two: serde_json::Value = serde_json::from_str(&dir.read("two/record.json")).unwrap();
    let record_sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            std::fs::read(dir.path().join("two/record.json")).unwrap(),
        ))
    };
    let mut forged: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    forged["run_id"] = two["header"]["run_id"].clone();
    forged["journal_head"] = two["journal_head"].clone();
    forged["record_sha256"] = serde_json::Value::String(record_sha);
    dir.write("two/signatures.jsonl", &format!("{forged}\n"));
    let out = dir.qbench(&["verify", "two"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("does not verify"), "{}", out.stdout);

    // A signed name changed afterwards.
    let renamed = lines[0].replace("Alice Smith", "Alice Smyth");
    dir.write("one/signatures.jsonl", &format!("{renamed}\n"));
    let out = dir.qbench(&["verify", "one"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("\"Alice Smyth\""), "{}", out.stdout);

    // The report shows a rejected signature as not verified.
    let html = dir.qbench(&["report", "one", "--format", "html"]);
    assert!(html.stdout.contains("NOT VERIFIED"), "{}", html.stdout);
}

#[test]
fn an_altered_record_is_not_signed_and_a_reformatted_one_loses_its_signatures() {
    let dir = Dir::new();
    short_run(&dir, "run");
    keygen(&dir, "alice");
    let record = dir.read("run/record.json");
    dir.write(
        "run/record.json",
        &record.replacen("\"dut_serial\": \"", "\"dut_serial\": \"X", 1),
    );
    let out = sign(&dir, "run", "alice.key", "approved", "Alice Smith");
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("cannot be signed"), "{}", out.stderr);
    assert!(!dir.path().join("run/signatures.jsonl").exists());

    dir.write("run/record.json", &record);
    assert_eq!(
        sign(&dir, "run", "alice.key", "approved", "Alice Smith").code,
        0
    );
    // Same content, other bytes: the record still folds the same, but the signature
    // binds the bytes it was made over.
    dir.write("run/record.json", &record.replace("\n", "\r\n"));
    let out = dir.qbench(&["verify", "run"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("the record hash differs"),
        "{}",
        out.stdout
    );
}

/// A run directory to tamper with: a copy of the recorded run with the journal replaced.
fn tampered_copy(run: &Path, into: &Path, journal: &[u8]) {
    std::fs::create_dir_all(into).unwrap();
    std::fs::copy(run.join("record.json"), into.join("record.json")).unwrap();
    std::fs::write(into.join("journal.jsonl"), journal).unwrap();
}

/// The line number `qbench verify` names in its NOT INTACT message.
fn named_line(out: &Output) -> Option<usize> {
    let line = out.stdout.lines().find(|l| l.starts_with("NOT INTACT"))?;
    let at = line.find("line ")?;
    line[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

fn verify(dir: &Path) -> Output {
    run_qbench(dir, &["verify", "case"], Duration::from_secs(30))
}

#[test]
fn random_tamperings_of_a_journal_are_detected_and_located() {
    let dir = Dir::new();
    short_run(&dir, "run");
    let run = dir.path().join("run");
    let journal = std::fs::read(run.join("journal.jsonl")).unwrap();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            journal
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < journal.len())
        .collect();
    let lines = line_starts.len();
    let line_of = |byte: usize| line_starts.partition_point(|&s| s <= byte) - 1;
    let case = dir.path().join("case");
    let config = Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    };

    // One byte changed anywhere (its newline included): detected, and the line named is the
    // altered entry's or the next one's (the chain breaks where the next entry no longer
    // matches its hash).
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&(0..journal.len(), 1u8..=255), |(at, mask)| {
            let mut bytes = journal.clone();
            bytes[at] ^= mask;
            tampered_copy(&run, &case, &bytes);
            let out = verify(dir.path());
            prop_assert_eq!(out.code, 1, "{}", out.stdout);
            let altered = line_of(at) + 1;
            let named = named_line(&out);
            prop_assert!(
                named == Some(altered) || named == Some(altered + 1),
                "byte {} (line {}) ^ {:#04x}: {}",
                at,
                altered,
                mask,
                out.stdout
            );
            Ok(())
        })
        .unwrap();

    let without = |skip: usize| -> Vec<u8> {
        let text = String::from_utf8(journal.clone()).unwrap();
        text.lines()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .flat_map(|(_, l)| format!("{l}\n").into_bytes())
            .collect()
    };
    // An entry deleted: the line where it was is named.
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&(0..lines), |index| {
            tampered_copy(&run, &case, &without(index));
            let out = verify(dir.path());
            prop_assert_eq!(out.code, 1, "{}", out.stdout);
            prop_assert_eq!(named_line(&out), Some(index + 1), "{}", out.stdout);
            Ok(())
        })
        .unwrap();

    // Two entries swapped: the first of them is named.
    let mut runner = TestRunner::new(config);
    runner
        .run(&(0..lines, 0..lines), |(a, b)| {
            if a == b {
                return Err(TestCaseError::reject("same entry"));
            }
            let text = String::from_utf8(journal.clone()).unwrap();
            let mut all: Vec<&str> = text.lines().collect();
            all.swap(a, b);
            let bytes: Vec<u8> = all
                .iter()
                .flat_map(|l| format!("{l}\n").into_bytes())
                .collect();
            tampered_copy(&run, &case, &bytes);
            let out = verify(dir.path());
            prop_assert_eq!(out.code, 1, "{}", out.stdout);
            prop_assert_eq!(named_line(&out), Some(a.min(b) + 1), "{}", out.stdout);
            Ok(())
        })
        .unwrap();

    // The end of the journal, which no later entry chains over, is checked against the
    // record: the last entry removed, altered, or its line break damaged.
    let last = lines - 1;
    tampered_copy(&run, &case, &without(last));
    let out = verify(dir.path());
    assert_eq!(
        (out.code, named_line(&out)),
        (1, Some(lines)),
        "{}",
        out.stdout
    );
    let mut bytes = journal.clone();
    let digit = line_starts[last]
        + journal[line_starts[last]..]
            .iter()
            .position(u8::is_ascii_digit)
            .unwrap();
    bytes[digit] = if bytes[digit] == b'9' {
        b'8'
    } else {
        bytes[digit] + 1
    };
    tampered_copy(&run, &case, &bytes);
    let out = verify(dir.path());
    assert_eq!(
        (out.code, named_line(&out)),
        (1, Some(lines)),
        "{}",
        out.stdout
    );
    let mut bytes = journal.clone();
    let end = bytes.len() - 1;
    bytes[end] = b' ';
    tampered_copy(&run, &case, &bytes);
    let out = verify(dir.path());
    assert_eq!(
        (out.code, named_line(&out)),
        (1, Some(lines)),
        "{}",
        out.stdout
    );

    // The untouched copy still verifies (the harness itself alters nothing).
    tampered_copy(&run, &case, &journal);
    assert_eq!(verify(dir.path()).code, 0);
}
