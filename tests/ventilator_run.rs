//! The first whole qualification, run by the real binary against the simulated bench.

use crate::util::Dir;
use qbench::analysis::Verdict;
use qbench::journal::{RunEvent, read_journal};
use qbench::record::{Record, read_record};
use std::path::Path;

const PROCEDURE: &str = "procedures/ventilator-volume-accuracy.yaml";

/// The simulated fixture with `replace` applied to its text.
fn fixture_variant(dir: &Dir, name: &str, from: &str, to: &str) -> String {
    let text = dir.read("fixtures/sim.yaml");
    assert!(
        text.contains(from),
        "fixtures/sim.yaml no longer contains `{from}`"
    );
    dir.write(name, &text.replace(from, to));
    name.to_string()
}

fn record_of(dir: &Dir, run: &str) -> Record {
    read_record(&dir.path().join(run).join("record.json")).expect("record")
}

fn rows_with_volume_above_50(record: &Record) -> Vec<String> {
    record
        .set_points
        .iter()
        .filter(|s| s.bindings.get("volume").is_some_and(|v| v.value > 50.0))
        .map(|s| s.label.clone())
        .collect()
}

#[test]
fn default_run_passes_and_records_every_breath() {
    let dir = Dir::new();
    let out = dir.qbench(&[
        "run",
        PROCEDURE,
        "--yes",
        "--json",
        "--out",
        "run",
        "--operator",
        "tester",
        "--dut-serial",
        "VENT-42",
    ]);
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let json = out.json();
    assert_eq!(json["verdict"], "PASS");
    assert_eq!(json["exit_code"], 0);
    assert!(
        out.stdout.contains("breath 25 of 25"),
        "progress shows breaths"
    );
    assert!(out.stdout.contains("summary of checks"));

    let record = record_of(&dir, "run");
    assert_eq!(record.verdict, Some(Verdict::Pass));
    assert_eq!(record.header.operator, "tester");
    assert_eq!(record.header.dut_serial, "VENT-42");
    assert_eq!(record.set_points.len(), 21, "all 21 test conditions ran");
    // Every breath of every set point is in the record, one measurement per set point.
    assert_eq!(record.measurements.len(), 21);
    for m in &record.measurements {
        assert_eq!(m.samples.len(), 25, "set point {:?}", m.set_point);
        assert_eq!(m.unit, "mL");
    }
    // The check applies above 50 mL only, and passes there.
    let applicable: Vec<_> = record.checks.iter().filter(|c| c.applicable).collect();
    assert_eq!(applicable.len(), rows_with_volume_above_50(&record).len());
    assert!(applicable.iter().all(|c| c.verdict == Verdict::Pass));
    // The analyzer's gas standard is recorded with its measurements.
    assert_eq!(record.conditions["flow_reference"]["gas_standard"], "BTPS");

    // The journal verifies and holds exactly the samples of the record.
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    let samples = journal
        .entries
        .iter()
        .filter(|e| matches!(e.event, RunEvent::Sample { .. }))
        .count();
    assert_eq!(samples, 21 * 25);
    assert_eq!(record.journal_head, journal.head);
    let report = dir.read("run/report.html");
    assert!(report.contains("ventilator-volume-accuracy"));
}

#[test]
fn a_volume_error_beyond_the_limit_fails_and_names_the_set_points() {
    let dir = Dir::new();
    let fixture = fixture_variant(
        &dir,
        "fixtures/biased.yaml",
        "volume_error: 1 %",
        "volume_error: 25 %",
    );
    let out = dir.qbench(&[
        "run",
        PROCEDURE,
        "--fixture",
        &fixture,
        "--yes",
        "--json",
        "--out",
        "run",
        "--set",
        "measured_breaths=5",
    ]);
    assert_eq!(
        out.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.json()["verdict"], "FAIL");
    let record = record_of(&dir, "run");
    let failing: Vec<String> = record
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .filter_map(|c| {
            c.set_point
                .and_then(|i| record.set_point(i))
                .map(|s| s.label.clone())
        })
        .collect();
    // +25 % exceeds ±(4 mL + 15 %) at every set point where the check applies.
    assert_eq!(failing, rows_with_volume_above_50(&record));
    let report = dir.read("run/report.html");
    for label in &failing {
        assert!(report.contains(label.as_str()), "report names {label}");
    }
    assert!(report.contains("FAIL"));
}

#[test]
fn an_analyzer_that_stops_answering_ends_the_run_safely() {
    let dir = Dir::new();
    // The analyzer answers the identity and set-up queries and 40 breath volumes (the first
    // set point and part of the second), then goes silent.
    let fixture = fixture_variant(
        &dir,
        "fixtures/silent.yaml",
        "flow_analyzer: { model: PF-300,",
        "flow_analyzer: { model: PF-300, stop_answering_after_breaths: 40,",
    );
    let out = dir.run_unattended(PROCEDURE, &fixture);
    assert_eq!(
        out.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    let json = out.json();
    assert_eq!(json["verdict"], "ERROR");
    let error = json["error"].as_str().expect("error message");
    assert!(
        error.contains("flow_reference"),
        "names the instrument: {error}"
    );
    assert!(
        error.contains("imt-flowanalyser"),
        "names the driver: {error}"
    );

    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    let events: Vec<&RunEvent> = journal.entries.iter().map(|e| &e.event).collect();
    // The ventilator was told to go to standby and acknowledged it.
    let standby_acknowledged = events.iter().any(|e| {
        matches!(e, RunEvent::Command { role, command, .. } if role == "dut" && command == "standby")
    });
    assert!(
        standby_acknowledged,
        "teardown put the ventilator in standby"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::SafeState { role, ok: true, .. } if role == "dut"))
    );
    // Every sample taken before the failure is in the record.
    let samples = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Sample { .. }))
        .count();
    assert!(
        samples > 0,
        "some breaths were measured before the analyzer fell silent"
    );
    let record = record_of(&dir, "run");
    assert_eq!(record.sample_count(), samples);
    assert_eq!(record.verdict, Some(Verdict::Error));
    assert!(Path::new(&dir.path().join("run/report.html")).exists());
}

#[test]
fn an_invalid_override_is_refused_before_anything_moves() {
    let dir = Dir::new();
    let out = dir.qbench(&[
        "run",
        PROCEDURE,
        "--yes",
        "--out",
        "run",
        "--set",
        "tolerance_absolute=5 hPa",
    ]);
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("tolerance_absolute"), "{}", out.stderr);
    assert!(
        !dir.path().join("run").exists(),
        "no run directory for an invalid run"
    );
}
