//! A device described by a DBC file, driven from a fixture and a procedure without Rust: the
//! simulated collimator of `fixtures/sim-can.yaml`, through the real binary and the simulated
//! slcan adapter on a pseudo-terminal.

use crate::util::Dir;
use qbench::journal::{RunEvent, read_journal};

const FIELD: &str = r#"
id: collimator-field
title: Collimator field follows its command (DBC-described device)
version: 0.1.0
standard: CiA 412-2
clause: "automatic X-ray collimator: target and actual field (a link test, not a qualification)"
roles:
  collimator:
    kind: collimator
    capabilities: [field_width, field_height, move, close, state, actual_field_width, housing_temperature]
steps:
  - sweep:
      name: field sizes
      over: size
      values: [100 mm, 20 cm, 350 mm]
      steps:
        - set: { role: collimator, values: { field_width: size, field_height: size } }
        - action: { role: collimator, do: move }
        - wait:
            until: state == 2
            read: { state: { role: collimator, quantity: state } }
            every: 0.05 s
            timeout: 5 s
        - measure: { id: width, role: collimator, quantity: actual_field_width, samples: 3, timeout: 5 s }
        - check: { id: width_ok, title: Actual width within 2 % of the command, value: mean(width), target: size, tolerance: 2 % * size }
  - measure: { id: temperature, role: collimator, quantity: housing_temperature, samples: 2, timeout: 5 s }
  - check: { id: housing_cool, title: Housing below 60 °C, value: mean(temperature), max: 60 °C }
teardown:
  - action: { role: collimator, do: close }
"#;

fn run(dir: &Dir, fixture: &str) -> crate::util::Output {
    dir.write("field.yaml", FIELD);
    dir.run_unattended("field.yaml", fixture)
}

#[test]
fn a_dbc_described_collimator_is_set_moved_and_read_by_signal_name() {
    let dir = Dir::new();
    let out = run(&dir, "fixtures/sim-can.yaml");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    assert_eq!(record.measurements.len(), 4);
    let collimator = &record.instruments[0];
    assert!(
        collimator
            .link
            .contains("DBC device (fixtures/dbc/qbench_collimator.dbc)"),
        "{}",
        collimator.link
    );
    assert_eq!(collimator.identity.model, "SIM-COLL-412");
    // Each setting's read-back is the value as encoded in mm; 20 cm was converted.
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal");
    let readbacks: Vec<f64> = journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Command {
                command, readback, ..
            } if command == "field_width" => readback.as_ref().map(|q| q.value),
            _ => None,
        })
        .collect();
    assert_eq!(readbacks, [100.0, 200.0, 350.0]);
    // The simulated collimator's +0.4 % shows in the samples (350 mm → 351.4 mm).
    let last_width = journal
        .entries
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            RunEvent::Sample {
                measurement, value, ..
            } if measurement == "width" => Some(value.clone()),
            _ => None,
        })
        .expect("a width sample");
    assert!((last_width.value - 351.4).abs() < 0.051, "{last_width:?}");
    assert_eq!(last_width.unit.symbol(), "mm");
    // The bus traffic is kept: the commands sent (210h) and the status received (290h).
    let log = qbench::can::candump::read_log(&dir.read("run/can-collimator.log")).expect("log");
    let ids: Vec<String> = log.iter().map(|e| e.frame.id().to_string()).collect();
    assert!(ids.iter().any(|i| i == "210") && ids.iter().any(|i| i == "290"));
}

#[test]
fn a_collimator_that_falls_silent_ends_the_run_naming_it_and_the_message() {
    let dir = Dir::new();
    let fixture = dir.read("fixtures/sim-can.yaml").replace(
        "collimator: { status_ms: 50,",
        "collimator: { silent_after_commands: 5, status_ms: 50,",
    );
    dir.write("fixtures/silent.yaml", &fixture);
    let out = run(&dir, "fixtures/silent.yaml");
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let error = out.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("collimator") && error.contains("no fresh `CollimatorStatus"),
        "{error}"
    );
}

#[test]
fn validation_checks_the_fixture_against_its_dbc_and_the_procedure_against_the_fixture() {
    let dir = Dir::new();
    let fixture = dir.read("fixtures/sim-can.yaml").replace(
        "CollimatorStatus.ActualWidth",
        "CollimatorStatus.ActualWidht",
    );
    dir.write("fixtures/typo.yaml", &fixture);
    let line = 1 + fixture
        .lines()
        .position(|l| l.contains("ActualWidht"))
        .expect("the typo's line");
    let out = dir.qbench(&["validate", "fixtures/typo.yaml"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    let at = format!(
        "fixtures/typo.yaml:{line}:32: `read.actual_field_width`: message `CollimatorStatus` has no signal `ActualWidht`"
    );
    assert!(
        out.stdout.contains(&at) && out.stdout.contains("did you mean `ActualWidth`?"),
        "{}",
        out.stdout
    );
    dir.write(
        "field.yaml",
        &FIELD.replace("actual_field_width, housing", "actual_field_widht, housing"),
    );
    let out = dir.qbench(&["validate", "field.yaml", "fixtures/sim-can.yaml"]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.contains("does not offer `actual_field_widht`"),
        "{}",
        out.stdout
    );
}

/// The collimator and the CANopen generator of `fixtures/sim-can.yaml`, on one adapter.
const FIELD_AND_EXPOSURE: &str = r#"
id: field-and-exposure
title: Collimate, then expose (two devices on one CAN bus)
version: 0.1.0
standard: CiA 412-2
clause: "automatic X-ray collimator with a generator on the same bus (a link test, not a qualification)"
roles:
  collimator: { kind: collimator, capabilities: [field_width, field_height, move, close, state, actual_field_width] }
  generator: { kind: xray_generator }
steps:
  - set: { role: collimator, values: { field_width: 24 cm, field_height: 30 cm } }
  - action: { role: collimator, do: move }
  - wait:
      until: state == 2
      read: { state: { role: collimator, quantity: state } }
      every: 0.05 s
      timeout: 5 s
  - set: { role: generator, values: { tube_voltage: 70 kV, tube_current: 100 mA, exposure_time: 20 ms } }
  - action: { role: generator, do: prepare }
  - action: { role: generator, do: expose }
  - measure: { id: kv, role: generator, quantity: actual_tube_voltage, samples: 1, timeout: 5 s }
  - measure: { id: width, role: collimator, quantity: actual_field_width, samples: 2, timeout: 5 s }
  - check: { id: kv_ok, title: Reported kV within 2 %, value: mean(kv), target: 70 kV, tolerance: 2 % * 70 kV }
  - check: { id: width_ok, title: Width within 2 %, value: mean(width), target: 24 cm, tolerance: 2 % * 24 cm }
teardown:
  - action: { role: generator, do: idle }
"#;

#[test]
fn a_collimator_and_a_canopen_generator_share_one_adapter() {
    let dir = Dir::new();
    dir.write("both.yaml", FIELD_AND_EXPOSURE);
    let out = dir.run_unattended("both.yaml", "fixtures/sim-can.yaml");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    let kv = &record.measurements[0].samples[0];
    assert!((kv.value - 70.7).abs() < 1e-9, "{kv:?}");
    // Each role's log holds what it sent and everything received: the generator's has the
    // collimator's status too, the collimator's the generator's TPDO.
    let generator = dir.read("run/can-generator.log");
    let collimator = dir.read("run/can-collimator.log");
    assert!(generator.contains(" 205#") && generator.contains(" 290#"));
    assert!(collimator.contains(" 210#") && collimator.contains(" 185#"));
    assert!(
        !collimator.contains(" 205#"),
        "a role logs only its own sends"
    );
}
