//! Whole runs against the simulated CANopen X-ray generator, through the real binary and the
//! simulated slcan adapter on a pseudo-terminal.

use crate::util::Dir;
use qbench::journal::{RunEvent, read_journal};

const EXPOSURES: &str = r#"
id: generator-exposures
title: Repeated exposures at fixed technique factors (CANopen link)
version: 0.1.0
standard: 21 CFR 1020.31
clause: "(b) reproducibility — here, the generator's own reported kV (a link test, not a qualification)"
roles:
  generator: { kind: xray_generator }
steps:
  - set: { role: generator, values: { tube_voltage: 80 kV, tube_current: 100 mA, exposure_time: 100 ms } }
  - sweep:
      name: exposures
      over: n
      range: { from: 1, to: 5, step: 1 }
      steps:
        - action: { role: generator, do: prepare }
        - action: { role: generator, do: expose }
        - measure: { id: kv, role: generator, quantity: actual_tube_voltage, samples: 1, timeout: 10 s }
        - check: { id: kv_reported, title: Reported kV within 10 % of set, value: mean(kv), target: 80 kV, tolerance: 10 % * 80 kV }
teardown:
  - action: { role: generator, do: idle }
"#;

#[test]
fn a_canopen_generator_is_driven_through_the_slcan_adapter() {
    let dir = Dir::new();
    dir.write("exposures.yaml", EXPOSURES);
    let out = dir.qbench(&[
        "run",
        "exposures.yaml",
        "--fixture",
        "fixtures/sim-xray.yaml",
        "--yes",
        "--json",
        "--out",
        "run",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = qbench::record::read_record(&dir.path().join("run/record.json")).expect("record");
    assert_eq!(record.measurements.len(), 5);
    let generator = &record.instruments[0];
    assert!(
        generator.link.contains("CANopen node 5"),
        "{}",
        generator.link
    );
    assert_eq!(generator.identity.serial, "4100001");
    // The run's bus traffic is kept in candump format, and reads back.
    let log = dir.read("run/can-generator.log");
    let entries = qbench::can::candump::read_log(&log).expect("a candump log");
    assert!(entries.len() > 20, "{} frames logged", entries.len());
}

#[test]
fn a_node_that_stops_its_heartbeat_mid_run_ends_the_run_naming_the_node() {
    let dir = Dir::new();
    dir.write("exposures.yaml", EXPOSURES);
    let fixture = dir.read("fixtures/sim-xray.yaml").replace(
        "xray_generator: { node_id: 5,",
        "xray_generator: { stop_heartbeat_after_exposures: 3, node_id: 5,",
    );
    dir.write("fixtures/lost.yaml", &fixture);
    let out = dir.qbench(&[
        "run",
        "exposures.yaml",
        "--fixture",
        "fixtures/lost.yaml",
        "--yes",
        "--json",
        "--out",
        "run",
    ]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let error = out.json()["error"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        error.contains("generator") && error.contains("node 5"),
        "{error}"
    );
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    let samples = journal
        .entries
        .iter()
        .filter(|e| matches!(e.event, RunEvent::Sample { .. }))
        .count();
    assert!(samples >= 2, "the exposures before the loss are recorded");
}
