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
    let out = dir.run_unattended("exposures.yaml", "fixtures/sim-xray.yaml");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
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
    let out = dir.run_unattended("exposures.yaml", "fixtures/lost.yaml");
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

/// A generator fixture with PDOs declared: kV and mA sent by RPDO1, the reported kV read
/// from TPDO1 (placed by the node's own mapping). `EMCY` is replaced by the policy.
const PDO_FIXTURE: &str = r#"
name: sim-xray-pdo
time_scale: 1
instruments:
  generator:
    driver: canopen-xray-generator
    link:
      can:
        adapter: { port: "sim:can_adapter", baud: 115200, timeout_ms: 500 }
        node_id: 5
    options:
      tpdo.actual_tube_voltage: "TPDO1 2012h.1 scale=0.01 unit=kV"
      rpdo.tube_voltage: "RPDO1 0:16 2000h.1 scale=0.1 unit=kV"
      rpdo.tube_current: "RPDO1 16:16 2000h.2 scale=0.1 unit=mA"
      emcy: EMCY
    limits:
      tube_voltage: { min: 40 kV, max: 200 kV }
simulation:
  can:
    xray_generator: { node_id: 5, kv_error: 0.01 }
"#;

/// Exposures with the kV read from TPDO1; then a kV the generator refuses (above its 150 kV),
/// which it answers with EMCY 6320h (parameter error), and one more exposure.
const PDO_EXPOSURES: &str = r#"
id: generator-pdo
title: Exposures with settings by RPDO and the reported kV from TPDO1 (CANopen link test)
version: 0.1.0
standard: CiA 301
clause: "7.2.2 process data objects, 7.2.7 emergency objects (a link test, not a qualification)"
roles:
  generator: { kind: xray_generator }
steps:
  - set: { role: generator, values: { tube_voltage: 80 kV, tube_current: 100 mA, exposure_time: 20 ms } }
  - action: { role: generator, do: prepare }
  - action: { role: generator, do: expose }
  - measure: { id: kv, role: generator, quantity: actual_tube_voltage, samples: 1, timeout: 5 s }
  - check: { id: kv_reported, title: Reported kV within 2 % of set, value: mean(kv), target: 80 kV, tolerance: 2 % * 80 kV }
  - set: { role: generator, values: { tube_voltage: 160 kV } }
  - action: { role: generator, do: prepare }
  - action: { role: generator, do: expose }
  - measure: { id: kv_after, role: generator, quantity: actual_tube_voltage, samples: 1, timeout: 5 s }
  - check: { id: kv_kept, title: The refused kV left 80 kV in force, value: mean(kv_after), target: 80 kV, tolerance: 2 % * 80 kV }
teardown:
  - action: { role: generator, do: idle }
"#;

fn run_pdo(policy: &str) -> (Dir, crate::util::Output) {
    let dir = Dir::new();
    dir.write("pdo.yaml", PDO_EXPOSURES);
    dir.write(
        "fixtures/pdo.yaml",
        &PDO_FIXTURE.replace("emcy: EMCY", &format!("emcy: {policy}")),
    );
    let out = dir.run_unattended("pdo.yaml", "fixtures/pdo.yaml");
    (dir, out)
}

#[test]
fn pdos_declared_in_the_fixture_and_an_emcy_recorded_as_its_own_event() {
    let (dir, out) = run_pdo("record");
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    let kv = &record.measurements[0].samples[0];
    assert!((kv.value - 80.8).abs() < 1e-9, "{kv:?}");
    // The refusal is an EMCY event, in the record and in the report, and the run went on.
    let emcy: Vec<(u16, &str, u8)> = record
        .emergencies
        .iter()
        .map(|e| (e.code, e.class.as_str(), e.node))
        .collect();
    assert_eq!(emcy, [(0x6320, "device software", 5)]);
    assert_eq!(record.emergencies[0].manufacturer, "4006E80300");
    assert!(record.events.iter().any(|e| e.kind == "emergency"));
    let log = dir.read("run/can-generator.log");
    let report = dir.read("run/report.html");
    assert!(
        report.contains("<h2>Emergency messages</h2>") && report.contains("6320h"),
        "no EMCY section"
    );
    // The exports a CI system or a test-management system reads carry it too.
    for (format, expected) in [
        ("junit", "code 6320h (device software)"),
        ("atml", "code=\"6320h\""),
        ("pdf", "6320h"),
    ] {
        let file = format!("emcy.{format}");
        let out = dir.qbench(&["report", "run", "--format", format, "-o", &file]);
        assert_eq!(out.code, 0, "{format}: {}", out.stderr);
        let text =
            String::from_utf8_lossy(&std::fs::read(dir.path().join(&file)).unwrap_or_default())
                .into_owned();
        assert!(text.contains(expected), "{format}: no EMCY in the export");
    }
    // The kV came from TPDO1 (185h) of each exposure.
    let tpdos = log.lines().filter(|l| l.contains(" 185#")).count();
    assert_eq!(tpdos, 2, "{log}");
    // The RPDO went on the bus: kV and mA in one frame (80 kV = 800, 100 mA = 1000).
    assert!(
        log.contains("205#20036E03") || log.contains("205#2003E803"),
        "{log}"
    );
}

#[test]
fn an_emcy_stops_the_run_when_the_fixture_says_so() {
    let (dir, out) = run_pdo("stop");
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let error = out.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("generator") && error.contains("6320h"),
        "{error}"
    );
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    assert!(
        journal
            .entries
            .iter()
            .any(|e| matches!(e.event, RunEvent::Emergency { code: 0x6320, .. })),
        "the emergency is journaled before the run ends"
    );
}
