//! A soak run: six hours of bench time in seconds of wall time, with random seeded faults on
//! every simulated device. The bench keeps going (driver retries, retried groups), every
//! injected fault is in the record, and the resident memory of the real process stays flat.

use crate::util::{Dir, resident_kib};
use std::time::{Duration, Instant};

/// Set points of ten minutes of bench time each: six hours.
const SET_POINTS: usize = 36;

/// Every simulated device used at every set point; what an instrument error interrupts is
/// run again by the `readings` group.
fn procedure() -> String {
    format!(
        r#"
id: soak
title: Hours of bench time on every simulated device
version: 0.1.0
standard: none (robustness test)
clause: n/a
roles:
  dut: {{ kind: ventilator }}
  flow_reference: {{ kind: flow_analyzer }}
  test_lung: {{ kind: test_lung }}
  pressure_reference: {{ kind: pressure_meter }}
  room_conditions: {{ kind: room_conditions }}
  thermohygrometer: {{ kind: thermohygrometer, capabilities: [temperature, humidity] }}
steps:
  - sweep:
      name: hours
      over: k
      range: {{ from: 1, to: {SET_POINTS}, step: 1 }}
      steps:
        - wait: {{ duration: 10 min }}
        - repeat:
            name: readings
            attempts: 6
            retry_on: [error]
            steps:
              - set: {{ role: test_lung, values: {{ compliance: 50 mL/hPa, resistance: 5 hPa/(L/s) }} }}
              - set: {{ role: dut, values: {{ tidal_volume: 500 mL, rate: 20 /min, inspiratory_time: 1 s, peep: 5 cmH2O, fio2: 21 % }} }}
              - action: {{ role: dut, do: start }}
              - measure: {{ id: vt, role: flow_reference, quantity: inspired_volume, breaths: 3, timeout: 60 s }}
              - measure: {{ id: p, role: pressure_reference, quantity: pressure, samples: 2, timeout: 60 s }}
              - measure: {{ id: t_room, role: room_conditions, quantity: temperature, samples: 2, timeout: 60 s }}
              - measure: {{ id: t_th, role: thermohygrometer, quantity: temperature, samples: 2, timeout: 60 s }}
        - check: {{ id: vt_ok, title: Volume within 10 %, value: mean(vt), target: 500 mL, tolerance: 10 % * 500 mL }}
teardown:
  - action: {{ role: dut, do: standby }}
"#
    )
}

/// Each simulated device and the role bound to it.
const DEVICES: [(&str, &str); 6] = [
    ("ventilator", "dut"),
    ("flow_analyzer", "flow_reference"),
    ("test_lung", "test_lung"),
    ("pressure_meter", "pressure_reference"),
    ("room_sensor", "room_conditions"),
    ("thermohygrometer", "thermohygrometer"),
];

/// The simulated bench at 5000 times real time, every device faulting at random (seeded)
/// from the moment the sweep starts, so that opening the bench is clean. The kinds are those
/// a driver always notices: garbled answers, corrupted checksums or CRCs, and silence. Link
/// timeouts stay long (1 s real time) so that a loaded host's slow answer is never taken
/// for a fault the simulator did not inject.
const FIXTURE: &str = r#"
name: soak
description: Every simulated device, faulting at random.
time_scale: 5000
instruments:
  dut:
    driver: qbench-ventilator
    link: { serial: { port: "sim:ventilator", timeout_ms: 1000 } }
  flow_reference:
    driver: imt-flowanalyser
    link: { serial: { port: "sim:flow_analyzer", baud: 19200, timeout_ms: 1000 } }
    options: { model: PF-300, gas_standard: BTPS, poll_interval: 50 us, retries: "3" }
  test_lung:
    driver: qbench-test-lung
    link: { serial: { port: "sim:test_lung", timeout_ms: 1000 } }
  pressure_reference:
    driver: qbench-pressure-meter
    link: { serial: { port: "sim:pressure_meter", timeout_ms: 1000 } }
    options: { retries: 3 }
  room_conditions:
    driver: qbench-room-sensor
    link: { serial: { port: "sim:room_sensor", baud: 9600, parity: even, timeout_ms: 1000 } }
    options: { unit_id: 1, retries: 3 }
  thermohygrometer:
    driver: profile
    link: { serial: { port: "sim:thermohygrometer", baud: 9600, timeout_ms: 1000 } }
    options: { profile: fixtures/profiles/qbench-thermohygrometer.yaml, retries: 3 }
simulation:
  seed: 20261123
  ventilator: { fault: { kind: garbage, probability: 0.03, at_step: hours } }
  lung: { fault: { kind: garbage, probability: 0.05, at_step: hours } }
  flow_analyzer: { fault: { kind: garbage, probability: 0.01, at_step: hours } }
  pressure_meter: { fault: { kind: silent, probability: 0.05, at_step: hours } }
  room_sensor: { fault: { kind: corrupt, probability: 0.05, at_step: hours } }
  thermohygrometer: { fault: { kind: corrupt, probability: 0.05, at_step: hours } }
"#;

#[test]
fn hours_of_bench_time_with_faults_on_every_device_keep_going_record_every_fault_and_stay_flat() {
    let dir = Dir::new();
    dir.write("soak.yaml", &procedure());
    dir.write("fixtures/soak.yaml", FIXTURE);
    let started = Instant::now();
    let run = dir.spawn(&[
        "run",
        "soak.yaml",
        "--fixture",
        "fixtures/soak.yaml",
        "--yes",
        "--json",
        "--out",
        "run",
    ]);
    let pid = run.child.id();
    // Resident memory, sampled through the run (the process's own figure, not a timing).
    let mut samples: Vec<u64> = Vec::new();
    let deadline = started + Duration::from_secs(90);
    while let Some(kib) = resident_kib(pid) {
        samples.push(kib);
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = run.finish(Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    eprintln!(
        "soak: {:.1} s wall time, resident memory samples (KiB): {samples:?}",
        started.elapsed().as_secs_f64()
    );

    let record = dir.record();
    assert_eq!(record.set_points.len(), SET_POINTS);
    let passed = record
        .checks
        .iter()
        .filter(|c| c.id == "vt_ok" && !c.superseded)
        .count();
    assert_eq!(passed, SET_POINTS, "every set point completed");
    // Six hours of bench time went by: the run's journal says so through its waits.
    let waited_h = SET_POINTS as f64 * 10.0 / 60.0;
    assert!(waited_h >= 6.0);

    // Every fault the simulator injected (its own log) left exactly one trace in the record:
    // a driver's retry or note, or the error that ended an attempt the group then ran again.
    let log = dir.read("run/simulator.log");
    let mut total = 0;
    for (device, role) in DEVICES {
        let injected = log
            .lines()
            .filter(|l| l.split(' ').nth(1) == Some(device) && l.contains("!fault injected"))
            .count();
        let traces = record
            .events
            .iter()
            .filter(|e| e.role.as_deref() == Some(role))
            .filter(|e| {
                (e.kind == "instrument" && !e.text.contains("succeeded after"))
                    || e.kind == "error"
                    || (e.kind == "safe_state" && e.text.starts_with("could not"))
            })
            .count();
        assert_eq!(
            traces, injected,
            "{device}: {injected} faults injected, {traces} in the record"
        );
        eprintln!("soak: {device}: {injected} faults injected, each in the record");
        assert!(injected > 0, "{device}: faults were injected");
        total += injected;
    }
    assert!(total >= 30, "{total} faults in all");

    // Flat: once the run is under way, resident memory grows by no more than a few MiB.
    let n = samples.len();
    assert!(n >= 4, "memory sampled through the run: {samples:?}");
    let early = samples[n / 4];
    let late = *samples[n / 4..].iter().max().unwrap_or(&early);
    assert!(
        late < early + 8 * 1024,
        "resident memory grew from {early} KiB to {late} KiB: {samples:?}"
    );
}
