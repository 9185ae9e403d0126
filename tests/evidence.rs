//! Records as evidence: `qbench verify` detects alteration, `qbench report` re-renders.

use crate::util::Dir;

const PROCEDURE: &str = "procedures/ventilator-volume-accuracy.yaml";

/// A short real run in `dir/run`: every test condition, three breaths each.
fn short_run(dir: &Dir) {
    let out = dir.qbench(&[
        "run",
        PROCEDURE,
        "--yes",
        "--out",
        "run",
        "--set",
        "measured_breaths=3",
        "--set",
        "settle_breaths=1",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn an_untouched_run_verifies_and_any_alteration_is_located() {
    let dir = Dir::new();
    short_run(&dir);
    let out = dir.qbench(&["verify", "run"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("intact"), "{}", out.stdout);

    // Change one sample's value in the journal: the chain breaks at the entry after it.
    let journal = dir.read("run/journal.jsonl");
    let lines: Vec<&str> = journal.lines().collect();
    let (index, line) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("\"type\":\"sample\""))
        .expect("a sample entry");
    let altered = line.replacen("\"value\":{\"value\":", "\"value\":{\"value\":1", 1);
    assert_ne!(&altered, line);
    let mut tampered: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    tampered[index] = altered;
    dir.write("run/journal.jsonl", &(tampered.join("\n") + "\n"));
    let out = dir.qbench(&["verify", "run"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("line {}", index + 2)),
        "names the entry: {}",
        out.stdout
    );
}

#[test]
fn an_edited_record_is_detected() {
    let dir = Dir::new();
    short_run(&dir);
    let record = dir.read("run/record.json");
    dir.write(
        "run/record.json",
        &record.replacen("\"verdict\": \"PASS\"", "\"verdict\": \"FAIL\"", 1),
    );
    let out = dir.qbench(&["verify", "run"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("record.json"), "{}", out.stdout);
}

#[test]
fn reports_are_rendered_from_the_record_identically_every_time() {
    let dir = Dir::new();
    short_run(&dir);
    let first = dir.qbench(&["report", "run", "--format", "html", "-o", "a.html"]);
    let second = dir.qbench(&["report", "run", "--format", "html", "-o", "b.html"]);
    assert_eq!((first.code, second.code), (0, 0), "{}", first.stderr);
    assert_eq!(dir.read("a.html"), dir.read("b.html"));
    assert_eq!(
        dir.read("a.html"),
        dir.read("run/report.html"),
        "re-rendering gives the run's own report"
    );

    let csv = dir.qbench(&["report", "run", "--format", "csv"]);
    assert_eq!(csv.code, 0);
    let mut rows = csv.stdout.lines();
    assert!(
        rows.next().is_some_and(|h| h.contains("value [mL]")),
        "units in the header"
    );
    assert_eq!(rows.count(), 21 * 3, "one row per sample");

    let junit = dir.qbench(&["report", "run", "--format", "junit"]);
    assert_eq!(junit.code, 0);
    assert!(junit.stdout.starts_with("<?xml"));
    assert_eq!(
        junit.stdout.matches("<testcase").count(),
        21,
        "one test case per check and set point"
    );
    assert_eq!(junit.stdout.matches("<failure").count(), 0);
}

#[test]
fn an_expired_calibration_stops_the_run_unless_allowed_and_then_the_report_says_so() {
    let dir = Dir::new();
    let fixture = dir
        .read("fixtures/sim.yaml")
        .replacen("due: 2099-12-31", "due: 2020-01-31", 1);
    dir.write("fixtures/expired.yaml", &fixture);
    let args = [
        "run",
        PROCEDURE,
        "--fixture",
        "fixtures/expired.yaml",
        "--yes",
        "--set",
        "measured_breaths=3",
    ];
    let refused = dir.qbench(&[&args[..], &["--out", "refused"]].concat());
    assert_eq!(refused.code, 3, "{}\n{}", refused.stdout, refused.stderr);
    let allowed = dir.qbench(
        &[
            &args[..],
            &["--out", "allowed", "--allow-expired-calibration"],
        ]
        .concat(),
    );
    assert_eq!(allowed.code, 0, "{}\n{}", allowed.stdout, allowed.stderr);
    let record =
        qbench::record::read_record(&dir.path().join("allowed/record.json")).expect("record");
    assert!(record.header.allow_expired_calibration);
    assert!(record.header.environment.contains_key("os"));
    let report = dir.read("allowed/report.html");
    assert!(report.contains("Run with expired calibrations allowed"));
}
