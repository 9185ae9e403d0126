//! A reference instrument unplugged mid-run (its pseudo-terminal closes, as a USB serial
//! adapter's does) and coming back, or not; faults scheduled at a set point of the run.

use crate::util::Dir;
use qbench::journal::{RunEvent, read_journal};
use std::collections::BTreeMap;

/// A sweep over three volumes whose reading of the analyzer is retried on an instrument
/// error, as a procedure written to survive a pulled cable would be.
const PROCEDURE: &str = r#"
id: unplug-rehearsal
title: Volumes read through a reference that may be unplugged
version: 0.1.0
standard: none (robustness test)
clause: n/a
roles:
  dut: { kind: ventilator }
  flow_reference: { kind: flow_analyzer }
steps:
  - set: { role: dut, values: { tidal_volume: 500 mL, rate: 20 /min, inspiratory_time: 1 s, peep: 5 cmH2O, fio2: 21 % } }
  - action: { role: dut, do: start }
  - sweep:
      name: volumes
      over: volume
      values: [300 mL, 500 mL, 700 mL]
      steps:
        - set: { role: dut, values: { tidal_volume: volume } }
        - repeat:
            name: reading
            attempts: 3
            retry_on: [error]
            steps:
              - measure: { id: vt, role: flow_reference, quantity: inspired_volume, breaths: 3, timeout: 60 s }
        - check: { id: vt_ok, title: Volume within 10 %, value: mean(vt), target: volume, tolerance: 10 % * volume }
teardown:
  - action: { role: dut, do: standby }
"#;

/// Runs [`PROCEDURE`] on the simulated bench whose analyzer has `fault`.
fn run_with_analyzer_fault(fault: &str) -> (Dir, crate::util::Output) {
    let dir = Dir::new();
    dir.write("unplug.yaml", PROCEDURE);
    let fixture = dir.read("fixtures/sim.yaml").replace(
        "flow_analyzer: { model: PF-300,",
        &format!("flow_analyzer: {{ fault: {fault}, model: PF-300,"),
    );
    assert!(fixture.contains(fault), "the fault is in the fixture");
    dir.write("fixtures/unplug.yaml", &fixture);
    let out = dir.run_unattended("unplug.yaml", "fixtures/unplug.yaml");
    (dir, out)
}

/// The journal's events, with the index of each set point's first entry by label.
fn events(dir: &Dir) -> Vec<RunEvent> {
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    journal.entries.into_iter().map(|e| e.event).collect()
}

/// Where the set point labelled `label` starts and where the next one (or the end) begins.
fn set_point_span(events: &[RunEvent], label: &str) -> (usize, usize) {
    let start = events
        .iter()
        .position(|e| matches!(e, RunEvent::SetPoint { label: l, .. } if l == label))
        .unwrap_or_else(|| panic!("set point {label} entered"));
    let end = events[start + 1..]
        .iter()
        .position(|e| matches!(e, RunEvent::SetPoint { .. }))
        .map_or(events.len(), |i| start + 1 + i);
    (start, end)
}

#[test]
fn an_unplugged_analyzer_that_comes_back_is_reopened_and_the_run_completes() {
    let (dir, out) = run_with_analyzer_fault(
        "{ kind: disconnect, at_set_point: volume 500 mL, after_requests: 3, count: 1, reconnect_after: 2 s }",
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["verdict"], "PASS");
    let events = events(&dir);
    let (start, end) = set_point_span(&events, "volume 500 mL");
    let lost = events
        .iter()
        .position(|e| matches!(e, RunEvent::LinkLost { role, .. } if role == "flow_reference"))
        .expect("the disconnection is journaled");
    let restored = events
        .iter()
        .position(|e| matches!(e, RunEvent::LinkRestored { role, .. } if role == "flow_reference"))
        .expect("the reconnection is journaled");
    assert!(
        start < lost && lost < restored && restored < end,
        "lost and restored within the set point: {start} < {lost} < {restored} < {end}"
    );
    if let RunEvent::LinkLost { message, .. } = &events[lost] {
        assert!(message.contains("disconnected"), "{message}");
    }
    // The first attempt ended with the error, the second passed.
    let attempts: Vec<(usize, String, bool)> = events[start..end]
        .iter()
        .filter_map(|e| match e {
            RunEvent::AttemptEnded {
                attempt,
                outcome,
                retried,
                ..
            } => Some((*attempt, outcome.to_string(), *retried)),
            _ => None,
        })
        .collect();
    assert_eq!(
        attempts,
        [
            (1, "ERROR".to_string(), true),
            (2, "PASS".to_string(), false)
        ]
    );
    // Only this set point saw the fault; the others were read once.
    for label in ["volume 300 mL", "volume 700 mL"] {
        let (s, e) = set_point_span(&events, label);
        assert!(
            !events[s..e]
                .iter()
                .any(|e| matches!(e, RunEvent::LinkLost { .. } | RunEvent::Error { .. })),
            "{label}"
        );
    }
    // The simulator's own log: unplugged once, back once, at the same path.
    let log = dir.read("run/simulator.log");
    let unplugged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("flow_analyzer !disconnected"))
        .collect();
    assert_eq!(unplugged.len(), 1, "{unplugged:?}");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("flow_analyzer !reconnected"))
            .count(),
        1
    );
    let record = dir.record();
    let link_notes: Vec<&str> = record
        .events
        .iter()
        .filter(|e| e.kind == "link")
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(link_notes.len(), 2, "{link_notes:?}");
    assert!(link_notes[0].starts_with("link lost"), "{link_notes:?}");
    assert!(link_notes[1].contains("restored"), "{link_notes:?}");
    let checks: Vec<_> = record.checks.iter().filter(|c| c.id == "vt_ok").collect();
    assert_eq!(checks.len(), 3);
}

#[test]
fn an_analyzer_that_never_comes_back_ends_the_run_naming_it_and_loses_nothing() {
    let (dir, out) = run_with_analyzer_fault(
        "{ kind: disconnect, at_set_point: volume 500 mL, after_requests: 2 }",
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["verdict"], "ERROR");
    let error = out.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("flow_reference") && error.contains("did not come back"),
        "{error}"
    );
    let events = events(&dir);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, RunEvent::LinkLost { role, .. } if role == "flow_reference"))
            .count(),
        1
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, RunEvent::LinkRestored { .. }))
    );
    // Three attempts, every one ended by the lost link.
    let errored = events
        .iter()
        .filter(|e| {
            matches!(e, RunEvent::AttemptEnded { outcome, .. } if outcome.to_string() == "ERROR")
        })
        .count();
    assert_eq!(errored, 3);
    // Teardown still ran: the ventilator is in standby; the analyzer could not be reached.
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::SafeState { role, ok: true, .. } if role == "dut")),
        "the ventilator was made safe"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::SafeState { role, ok: false, message: Some(m) } if role == "flow_reference" && m.contains("did not come back")
    )));
    let log = dir.read("run/simulator.log");
    assert!(log.lines().any(|l| l.ends_with("ventilator STANDBY")));
    // Every sample taken before is in the record; the first set point is complete.
    let samples = events
        .iter()
        .filter(|e| matches!(e, RunEvent::Sample { .. }))
        .count();
    let record = dir.record();
    assert_eq!(record.sample_count(), samples);
    assert!(samples >= 3, "{samples}");
    assert!(record.checks.iter().any(|c| c.id == "vt_ok"));
}

#[test]
fn a_fault_scheduled_at_a_set_point_hits_exactly_there() {
    let (dir, out) = run_with_analyzer_fault(
        "{ kind: garbage, at_set_point: volume 700 mL, after_requests: 1, count: 1 }",
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let events = events(&dir);
    let (start, end) = set_point_span(&events, "volume 700 mL");
    let errors: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, RunEvent::Error { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(errors.len(), 1, "one garbled answer, one error");
    assert!(
        start < errors[0] && errors[0] < end,
        "the error lies in the set point the fault was scheduled at"
    );
    if let RunEvent::Error { role, message } = &events[errors[0]] {
        assert_eq!(role.as_deref(), Some("flow_reference"));
        assert!(!message.is_empty());
    }
    let log = dir.read("run/simulator.log");
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("flow_analyzer !fault injected"))
            .count(),
        1
    );
    let record = dir.record();
    let error = record
        .events
        .iter()
        .find(|e| e.kind == "error")
        .expect("the record shows the error");
    let entered = record
        .set_points
        .iter()
        .find(|s| s.label == "volume 700 mL")
        .expect("set point recorded");
    assert_eq!(entered.index, 2);
    assert!(error.role.as_deref() == Some("flow_reference"));
}

#[test]
fn qbench_sim_refuses_a_fault_waiting_for_a_step_and_says_what_to_use() {
    let dir = Dir::new();
    let fixture = dir.read("fixtures/sim.yaml").replace(
        "flow_analyzer: { model: PF-300,",
        "flow_analyzer: { fault: { kind: silent, at_step: vt }, model: PF-300,",
    );
    dir.write("fixtures/at-step.yaml", &fixture);
    let out = dir.qbench(&["sim", "--fixture", "fixtures/at-step.yaml"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("flow_analyzer") && out.stderr.contains("after_time"),
        "{}",
        out.stderr
    );
}

#[test]
fn qbench_sim_serves_a_device_that_comes_back_at_the_same_path() {
    use qbench::driver::open_driver;
    use qbench::link::{LinkErrorKind, SerialLink, SerialSettings};
    use std::time::{Duration, Instant};
    let dir = Dir::new();
    // At a time scale of 200, 40 s of bench time away is 200 ms.
    let fixture = dir.read("fixtures/sim.yaml").replace(
        "  ventilator:\n",
        "  ventilator:\n    fault: { kind: disconnect, count: 1, reconnect_after: 40 s }\n",
    );
    assert!(fixture.contains("kind: disconnect"));
    dir.write("fixtures/unplug.yaml", &fixture);
    let sim = dir.spawn(&["sim", "--fixture", "fixtures/unplug.yaml"]);
    let port = sim.served_port("ventilator");
    let started = Instant::now();
    let identify = |port: &str| -> Result<qbench::driver::Identity, Option<LinkErrorKind>> {
        let mut settings = SerialSettings::new(port);
        settings.timeout_ms = 500;
        let link = SerialLink::open(&settings).map_err(|e| Some(e.kind))?;
        let kind = |e: qbench::driver::DriverError| e.link_error().map(|l| l.kind);
        let mut driver =
            open_driver("qbench-ventilator", Box::new(link), &BTreeMap::new()).map_err(kind)?;
        driver.identify().map_err(kind)
    };
    // The first request unplugs it: the port hangs up.
    let err = identify(&port).expect_err("unplugged");
    assert_eq!(err, Some(LinkErrorKind::Disconnected));
    // It comes back at the same path.
    let back = loop {
        if let Ok(identity) = identify(&port) {
            break identity;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the ventilator did not come back at {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(back.serial, "SIM-VENT-0001");
    sim.signal("INT");
    let out = sim.finish(Duration::from_secs(10));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}
