//! Runs that survive: Ctrl-C and SIGTERM stop at a safe point, always tear down, and record
//! ABORTED; nothing measured before is lost.

use crate::util::Dir;
use qbench::analysis::Verdict;
use qbench::journal::{RunEvent, read_journal};
use std::time::Duration;

const PROCEDURE: &str = "procedures/ventilator-volume-accuracy.yaml";

/// Starts the volume qualification, lets it record `lines` journal entries, sends `signals`,
/// and checks that teardown reached the ventilator and the run is recorded as ABORTED.
fn abort_after(lines: usize, signals: &[&str]) {
    let dir = Dir::new();
    let run = dir.spawn(&["run", PROCEDURE, "--yes", "--json", "--out", "run"]);
    assert!(
        dir.wait_for_lines("run/journal.jsonl", lines, Duration::from_secs(30)),
        "the run started"
    );
    for signal in signals {
        run.signal(signal);
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = run.finish(Duration::from_secs(30));
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["verdict"], "ABORTED");
    let journal =
        read_journal(&dir.path().join("run/journal.jsonl")).expect("the journal verifies");
    let events: Vec<&RunEvent> = journal.entries.iter().map(|e| &e.event).collect();
    let standby = events
        .iter()
        .any(|e| matches!(e, RunEvent::Command { role, command, .. } if role == "dut" && command == "standby"));
    assert!(
        standby,
        "the teardown's standby command reached the ventilator"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::SafeState { role, ok: true, .. } if role == "dut"))
    );
    let ended = events.iter().find_map(|e| match e {
        RunEvent::RunEnded { verdict, reason } => {
            Some((*verdict, reason.clone().unwrap_or_default()))
        }
        _ => None,
    });
    let (verdict, reason) = ended.expect("run_ended recorded");
    assert_eq!(verdict, Verdict::Aborted);
    let signal = if signals[0] == "TERM" {
        "SIGTERM"
    } else {
        "SIGINT"
    };
    assert!(
        reason.contains(signal),
        "the reason names the signal: {reason}"
    );
    let record = dir.record();
    let samples = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Sample { .. }))
        .count();
    assert_eq!(
        record.sample_count(),
        samples,
        "every sample taken before the abort is in the record"
    );
    assert!(dir.path().join("run/report.html").exists());
    // The simulator's own log, independent of the journal, shows the ventilator's last
    // requests ended in standby.
    let log = dir.read("run/simulator.log");
    let ventilator: Vec<&str> = log
        .lines()
        .filter(|l| l.split(' ').nth(1) == Some("ventilator"))
        .collect();
    let last = ventilator
        .iter()
        .rev()
        .take(3)
        .any(|l| l.ends_with("STANDBY"));
    assert!(
        last,
        "the ventilator's last requests include STANDBY: {:?}",
        &ventilator[ventilator.len().saturating_sub(3)..]
    );
}

/// Journal lengths at which to interrupt, spread over the run by a seeded generator.
fn points(seed: u64, count: usize) -> Vec<usize> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            12 + (state >> 33) as usize % 500
        })
        .collect()
}

#[test]
fn ctrl_c_at_random_points_stops_at_a_safe_point_and_tears_down() {
    for lines in points(7, 4) {
        abort_after(lines, &["INT"]);
    }
}

#[test]
fn sigterm_at_random_points_stops_at_a_safe_point_and_tears_down() {
    for lines in points(11, 4) {
        abort_after(lines, &["TERM"]);
    }
}

#[test]
fn a_second_ctrl_c_does_not_skip_the_teardown() {
    abort_after(60, &["INT", "INT", "INT"]);
}

/// Kills the real process with SIGKILL after the journal holds `lines` entries, then resumes
/// the run and checks that nothing acknowledged was lost and the run ends as it should.
fn kill_and_resume(lines: usize) {
    let dir = Dir::new();
    let args = [
        "run",
        PROCEDURE,
        "--yes",
        "--out",
        "run",
        "--set",
        "measured_breaths=3",
        "--set",
        "settle_breaths=1",
    ];
    let run = dir.spawn(&args);
    assert!(
        dir.wait_for_lines("run/journal.jsonl", lines, Duration::from_secs(30)),
        "the run started"
    );
    run.signal("KILL");
    let killed = run.finish(Duration::from_secs(10));
    assert_ne!(killed.code, 0, "killed");
    let before = dir.read("run/journal.jsonl");
    let acknowledged: Vec<&str> = before
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .collect();
    if before.contains("\"type\":\"run_ended\"") {
        return; // the run finished before the kill landed: nothing to resume
    }
    // An interrupted run that was never resumed still renders, marked INCOMPLETE.
    let report = dir.qbench(&["report", "run", "--format", "html"]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    assert!(report.stdout.contains("INCOMPLETE"));

    let resumed = dir.qbench(&["resume", "run", "--yes", "--json"]);
    assert_eq!(
        resumed.code, 0,
        "lines {lines}:\n{}\n{}",
        resumed.stdout, resumed.stderr
    );
    assert_eq!(resumed.json()["verdict"], "PASS");
    let after = dir.read("run/journal.jsonl");
    let journal =
        read_journal(&dir.path().join("run/journal.jsonl")).expect("the resumed journal verifies");
    assert!(!journal.torn_tail);
    // Every entry acknowledged before the kill is still there, byte for byte.
    for (i, line) in acknowledged.iter().enumerate() {
        assert!(
            after.split_inclusive('\n').nth(i) == Some(*line),
            "lines {lines}: entry {i} changed"
        );
    }
    let record = dir.record();
    assert_eq!(record.interruptions.len(), 1);
    assert_eq!(record.verdict, Some(Verdict::Pass));
    // Every set point has exactly one counted measurement of three breaths and one counted check.
    for index in 0..21 {
        let measurements: Vec<_> = record
            .measurements
            .iter()
            .filter(|m| m.set_point == Some(index) && !m.superseded)
            .collect();
        assert_eq!(measurements.len(), 1, "lines {lines}: set point {index}");
        assert_eq!(
            measurements[0].samples.len(),
            3,
            "lines {lines}: set point {index}"
        );
        let checks = record
            .checks
            .iter()
            .filter(|c| c.set_point == Some(index) && !c.superseded)
            .count();
        assert_eq!(checks, 1, "lines {lines}: set point {index}");
    }
    let verify = dir.qbench(&["verify", "run"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}

#[test]
fn kill_9_at_random_points_loses_nothing_and_resume_finishes_first_half() {
    for lines in points(101, 25) {
        kill_and_resume(lines % 260 + 3);
    }
}

#[test]
fn kill_9_at_random_points_loses_nothing_and_resume_finishes_second_half() {
    for lines in points(202, 25) {
        kill_and_resume(lines % 260 + 3);
    }
}

#[test]
fn the_watchdog_stops_a_step_that_outruns_the_step_limit() {
    let dir = Dir::new();
    let procedure = "id: long-wait\ntitle: A wait longer than the watchdog allows\nversion: 1.0.0\nstandard: none\nclause: n/a\nroles:\n  dut: { kind: ventilator }\nsteps:\n  - action: { role: dut, do: start }\n  - wait: { duration: 2000 s }\nteardown:\n  - action: { role: dut, do: standby }\n";
    dir.write("long-wait.yaml", procedure);
    let started = std::time::Instant::now();
    let out = dir.qbench(&[
        "run",
        "long-wait.yaml",
        "--yes",
        "--json",
        "--out",
        "run",
        "--step-limit",
        "1",
    ]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "stopped by the watchdog, not by the wait's end"
    );
    let error = out.json()["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        error.contains("watchdog") && error.contains("line 10"),
        "{error}"
    );
    let log = dir.read("run/simulator.log");
    assert!(
        log.lines().any(|l| l.ends_with("ventilator STANDBY")),
        "teardown ran"
    );
}

#[test]
fn a_stuck_analyzer_reports_the_same_breath_again_and_the_record_shows_it() {
    let dir = Dir::new();
    let fixture = dir.read("fixtures/sim.yaml").replace(
        "flow_analyzer: { model: PF-300,",
        "flow_analyzer: { stuck_after_breaths: 12, model: PF-300,",
    );
    dir.write("fixtures/stuck.yaml", &fixture);
    let out = dir.qbench(&[
        "run",
        PROCEDURE,
        "--fixture",
        "fixtures/stuck.yaml",
        "--yes",
        "--out",
        "run",
        "--set",
        "measured_breaths=6",
        "--set",
        "settle_breaths=1",
    ]);
    assert!(
        out.code == 0 || out.code == 1,
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let record = dir.record();
    let first = &record.measurements[0].samples;
    assert!(
        first.windows(2).any(|w| w[0].value != w[1].value),
        "breaths differ before the fault"
    );
    let last = &record.measurements.last().expect("measurements").samples;
    assert!(
        last.windows(2).all(|w| w[0].value == w[1].value),
        "the stuck value repeats"
    );
}
