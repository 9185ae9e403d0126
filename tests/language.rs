//! The procedure language's constructs, run by the real binary on the simulated bench.

use crate::util::Dir;
use qbench::analysis::Verdict;
use qbench::journal::{RunEvent, read_journal};

/// A procedure using entries, list and range sweeps, wait-until, each-sample checks and a
/// repeat group whose check `always` passes or fails.
fn procedure(repeat_check_max: &str, on_exhausted: &str) -> String {
    format!(
        r#"
id: language-tour
title: Every construct of the language
version: 0.1.0
standard: none (test)
clause: n/a
roles:
  dut: {{ kind: ventilator }}
  flow_reference: {{ kind: flow_analyzer }}
  test_lung: {{ kind: test_lung }}
parameters:
  breaths: {{ default: 3 }}
setup:
  - prompt: {{ enter: Ambient temperature, id: ambient, unit: °C, default: 21.5 }}
  - set: {{ role: test_lung, values: {{ compliance: 50 mL/hPa, resistance: 5 hPa/(L/s) }} }}
steps:
  - sweep:
      name: volumes
      over: volume
      values: [300 mL, 0.5 L]
      steps:
        - set: {{ role: dut, values: {{ tidal_volume: volume, rate: 20 /min, inspiratory_time: 1 s, peep: 5 cmH2O, fio2: 21 % }} }}
        - action: {{ role: dut, do: start }}
        - wait:
            until: peep_now > 0 hPa and ambient > 15 °C
            read: {{ peep_now: {{ role: flow_reference, quantity: peep }} }}
            every: 1 s
            timeout: 60 s
        - measure: {{ id: vt, role: flow_reference, quantity: inspired_volume, breaths: breaths, timeout: 60 s }}
        - check:
            id: each_breath
            title: Every breath within 10 %
            value: vt
            each: true
            target: volume
            tolerance: 10 % * volume
        - check:
            id: p90
            title: 90th percentile below 115 % of set
            value: percentile(vt, 90)
            max: 1.15 * volume
  - sweep:
      name: rates
      over: rate
      range: {{ from: 20 /min, to: 30 /min, step: 10 /min }}
      steps:
        - set: {{ role: dut, values: {{ rate: rate }} }}
        - repeat:
            name: rate group
            attempts: 3
            on_exhausted: {on_exhausted}
            steps:
              - measure: {{ id: vt2, role: flow_reference, quantity: inspired_volume, breaths: 2, timeout: 60 s }}
              - check: {{ id: rate_group_check, title: Volume below a limit, value: mean(vt2), max: {repeat_check_max} }}
  - check: {{ id: ambient_recorded, title: Ambient temperature plausible, value: ambient, min: 10 °C, max: 40 °C }}
teardown:
  - action: {{ role: dut, do: standby }}
"#
    )
}

#[test]
fn every_construct_runs_and_is_recorded() {
    let dir = Dir::new();
    dir.write("tour.yaml", &procedure("2 L", "fail_and_continue"));
    let out = dir.qbench(&["run", "tour.yaml", "--yes", "--json", "--out", "run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    // Two volumes from the list, two rates from the range.
    let labels: Vec<&str> = record.set_points.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "volume 300 mL",
            "volume 0.5 L",
            "rate 20 /min",
            "rate 30 /min"
        ]
    );
    let each: Vec<_> = record
        .checks
        .iter()
        .filter(|c| c.id == "each_breath")
        .collect();
    assert_eq!(each.len(), 2);
    assert!(
        each.iter()
            .all(|c| c.statistic == "each" && c.samples == 3 && c.verdict == Verdict::Pass)
    );
    // The entry's default was used by --yes and recorded as such, with its value.
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal");
    let entry = journal
        .entries
        .iter()
        .find_map(|e| match &e.event {
            RunEvent::Prompt(p) if p.value.is_some() => Some(p.clone()),
            _ => None,
        })
        .expect("entry prompt recorded");
    assert!(entry.automatic);
    assert_eq!(
        entry.value.map(|v| (v.value, v.unit.symbol().to_string())),
        Some((21.5, "°C".into()))
    );
    let waits = journal
        .entries
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                RunEvent::WaitEnded {
                    satisfied: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(waits, 2, "one satisfied wait per volume set point");
    // A passing repeat group needs one attempt per set point.
    let attempts = journal
        .entries
        .iter()
        .filter(|e| matches!(e.event, RunEvent::AttemptStarted { .. }))
        .count();
    assert_eq!(attempts, 2);
}

#[test]
fn a_failing_repeat_group_keeps_every_attempt_and_counts_the_last() {
    let dir = Dir::new();
    dir.write("tour.yaml", &procedure("1 mL", "fail_and_continue"));
    let out = dir.qbench(&["run", "tour.yaml", "--yes", "--json", "--out", "run"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    let group: Vec<_> = record
        .checks
        .iter()
        .filter(|c| c.id == "rate_group_check")
        .collect();
    // Two set points, three attempts each: six outcomes, four superseded.
    assert_eq!(group.len(), 6);
    assert_eq!(group.iter().filter(|c| c.superseded).count(), 4);
    assert!(group.iter().all(|c| c.verdict == Verdict::Fail));
    let attempts: Vec<_> = group.iter().map(|c| c.attempt).collect();
    assert_eq!(
        attempts,
        [Some(1), Some(2), Some(3), Some(1), Some(2), Some(3)]
    );
    // fail_and_continue: the check after the sweep still ran.
    assert!(record.checks.iter().any(|c| c.id == "ambient_recorded"));
}

#[test]
fn a_repeat_group_that_stops_ends_the_run_with_fail_after_teardown() {
    let dir = Dir::new();
    dir.write("tour.yaml", &procedure("1 mL", "stop"));
    let out = dir.qbench(&["run", "tour.yaml", "--yes", "--json", "--out", "run"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.json()["verdict"], "FAIL");
    let record = dir.record();
    assert_eq!(record.set_points.len(), 3, "stopped at the first rate");
    assert!(
        !record.checks.iter().any(|c| c.id == "ambient_recorded"),
        "later steps did not run"
    );
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal");
    assert!(journal.entries.iter().any(|e| matches!(&e.event,
        RunEvent::Command { role, command, .. } if role == "dut" && command == "standby")));
}

#[test]
fn a_manual_test_lung_turns_commands_into_recorded_instructions() {
    let dir = Dir::new();
    let fixture = dir.read("fixtures/sim.yaml");
    let start = fixture
        .find("  test_lung:\n")
        .expect("test_lung in sim.yaml");
    let end = fixture[start..]
        .find("\nsimulation:")
        .map(|i| start + i)
        .expect("simulation section");
    let manual = format!(
        "{}  test_lung:\n    driver: manual\n    kind: test_lung\n    identity: {{ manufacturer: Acme, model: Passive lung, serial: PL-7 }}\n{}",
        &fixture[..start],
        &fixture[end..]
    );
    dir.write("fixtures/manual.yaml", &manual);
    let out = dir.qbench(&[
        "run",
        "procedures/ventilator-volume-accuracy.yaml",
        "--fixture",
        "fixtures/manual.yaml",
        "--yes",
        "--out",
        "run",
        "--set",
        "measured_breaths=5",
        "--set",
        "settle_breaths=1",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal");
    let instructions: Vec<String> = journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Prompt(p) => Some(p.message.clone()),
            _ => None,
        })
        .collect();
    assert!(
        instructions
            .iter()
            .any(|m| m == "Set the compliance of the test_lung to 50 mL/hPa."),
        "{instructions:?}"
    );
    let record = dir.record();
    let lung = record
        .instruments
        .iter()
        .find(|i| i.role == "test_lung")
        .expect("lung");
    assert_eq!(lung.link, "operated by hand");
    assert_eq!(lung.identity.serial, "PL-7");
}

#[test]
fn an_entry_without_default_needs_a_person() {
    let dir = Dir::new();
    let text = procedure("2 L", "stop").replace(", default: 21.5", "");
    dir.write("tour.yaml", &text);
    let out = dir.qbench(&["run", "tour.yaml", "--yes", "--json", "--out", "run"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("Ambient temperature"))
    );
}

#[test]
fn points_collected_across_set_points_are_fitted() {
    let dir = Dir::new();
    let procedure = r#"
id: volume-linearity
title: Delivered volume is linear in the set volume
version: 0.1.0
standard: none (test)
clause: n/a
roles:
  dut: { kind: ventilator }
  flow_reference: { kind: flow_analyzer }
steps:
  - sweep:
      name: volumes
      over: volume
      values: [200 mL, 300 mL, 400 mL, 500 mL]
      steps:
        - set: { role: dut, values: { tidal_volume: volume, rate: 20 /min, inspiratory_time: 1 s, peep: 5 cmH2O, fio2: 21 % } }
        - action: { role: dut, do: start }
        - measure: { id: vt, role: flow_reference, quantity: inspired_volume, breaths: 3, timeout: 60 s }
        - collect: { id: response, x: volume, y: mean(vt) }
  - check: { id: r2, title: Linear response, value: r_squared(response), min: 0.999 }
  - check: { id: gain, title: Gain near one, value: slope(response), target: 1, tolerance: 0.05 }
  - check: { id: linearity, title: Deviation from linearity, value: max_relative_deviation(response), max: 2 % }
teardown:
  - action: { role: dut, do: standby }
"#;
    dir.write("linearity.yaml", procedure);
    let out = dir.qbench(&["run", "linearity.yaml", "--yes", "--out", "run"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    let series = record
        .series
        .iter()
        .find(|s| s.id == "response")
        .expect("the series is recorded");
    assert_eq!(series.points.len(), 4);
    assert_eq!(
        (series.x_unit.as_str(), series.y_unit.as_str()),
        ("mL", "mL")
    );
    // The fit is reproducible from the recorded points.
    let x: Vec<f64> = series.points.iter().map(|p| p.x).collect();
    let y: Vec<f64> = series.points.iter().map(|p| p.y).collect();
    let fit = qbench::analysis::LinearFit::new(&x, &y).expect("fit");
    let gain = record
        .checks
        .iter()
        .find(|c| c.id == "gain")
        .and_then(|c| c.value.clone())
        .expect("gain");
    assert!(
        (gain.value - fit.slope).abs() < 1e-12,
        "{} vs {}",
        gain.value,
        fit.slope
    );
    let report = dir.read("run/report.html");
    assert!(
        report.contains("Collected series") && report.contains("<h3>response</h3>"),
        "the report lists the fitted points"
    );

    // A fit of a series never collected is a validation error.
    dir.write(
        "broken.yaml",
        &procedure.replace("slope(response)", "slope(respons)"),
    );
    let out = dir.qbench(&["validate", "broken.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("`respons` is not a series collected before this point"),
        "{}",
        out.stdout
    );
}
