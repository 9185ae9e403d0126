//! The pressure, rate and oxygen qualifications, run by the real binary against the simulated
//! bench: each passes on the bench as shipped, and fails at the expected set points when the
//! simulated ventilator carries the matching fault.

use crate::util::Dir;
use qbench::analysis::Verdict;
use qbench::record::Record;

const PRESSURE: &str = "procedures/ventilator-pressure-accuracy.yaml";
const RATE: &str = "procedures/ventilator-rate-accuracy.yaml";
const OXYGEN: &str = "procedures/ventilator-o2-accuracy.yaml";

/// Writes a copy of the simulated fixture with `from` replaced by `to`; returns its path.
fn fixture_with(dir: &Dir, name: &str, from: &str, to: &str) -> String {
    let text = dir.read("fixtures/sim.yaml");
    assert!(
        text.contains(from),
        "fixtures/sim.yaml no longer contains `{from}`"
    );
    let path = format!("fixtures/{name}.yaml");
    dir.write(&path, &text.replace(from, to));
    path
}

/// Runs `procedure` with `extra` arguments into `run/`, expecting exit `code` and `verdict`.
fn run(dir: &Dir, procedure: &str, extra: &[&str], code: i32, verdict: &str) -> Record {
    let mut args = vec!["run", procedure, "--yes", "--json", "--out", "run"];
    args.extend_from_slice(extra);
    let out = dir.qbench(&args);
    assert_eq!(
        out.code, code,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.json()["verdict"], verdict);
    dir.record()
}

/// The (check id, set point label) of every failed check, in run order.
fn failures(record: &Record) -> Vec<(String, String)> {
    record
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .map(|c| {
            let label = c
                .set_point
                .and_then(|i| record.set_point(i))
                .map(|s| s.label.clone())
                .unwrap_or_default();
            (c.id.clone(), label)
        })
        .collect()
}

/// Every pairing of `checks` with `labels`, in run order (set point, then check).
fn pairs(labels: &[&str], checks: &[&str]) -> Vec<(String, String)> {
    labels
        .iter()
        .flat_map(|l| checks.iter().map(|c| (c.to_string(), l.to_string())))
        .collect()
}

/// The value bound to `name` at the set point of measurement `m`.
fn binding(record: &Record, set_point: Option<usize>, name: &str) -> f64 {
    set_point
        .and_then(|i| record.set_point(i))
        .and_then(|s| s.bindings.get(name))
        .map(|q| q.value)
        .unwrap_or_else(|| panic!("no `{name}` bound at set point {set_point:?}"))
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

const PRESSURE_ROWS: [&str; 5] = ["row 1", "row 4", "row 7", "row 13", "row 19"];

#[test]
fn pressure_default_run_passes_and_records_peak_and_peep_of_every_breath() {
    let dir = Dir::new();
    let record = run(&dir, PRESSURE, &[], 0, "PASS");
    assert_eq!(record.verdict, Some(Verdict::Pass));
    let labels: Vec<&str> = record.set_points.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, PRESSURE_ROWS);
    // The ventilator was put in pressure control before anything else was set on it.
    let commands: Vec<&str> = record
        .events
        .iter()
        .filter(|e| e.kind == "command" && e.role.as_deref() == Some("dut"))
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(commands[..2], ["standby", "pressure_control"]);
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("set inspiratory_pressure = 30 hPa"))
    );
    // Peak pressure and PEEP of 25 breaths at each of the 5 rows, in mbar, near their set
    // values (the simulated ventilator errs by +2 % of ΔP and +0.3 cmH2O of PEEP).
    assert_eq!(record.measurements.len(), 10);
    for m in &record.measurements {
        assert_eq!(m.samples.len(), 25, "{} at {:?}", m.id, m.set_point);
        assert_eq!(m.unit, "mbar");
        let peep = binding(&record, m.set_point, "peep");
        let set = match m.quantity.as_str() {
            "peak_pressure" => peep + binding(&record, m.set_point, "inspiratory_pressure"),
            "peep" => peep,
            other => panic!("unexpected quantity {other}"),
        };
        let measured = mean(m.samples.iter().map(|s| s.value));
        assert!(
            (measured - set).abs() < 1.0,
            "{} at {:?}: mean {measured} mbar for {set} hPa set",
            m.id,
            m.set_point
        );
    }
    assert_eq!(record.checks.len(), 20);
    assert!(
        record
            .checks
            .iter()
            .all(|c| c.applicable && c.verdict == Verdict::Pass)
    );
}

#[test]
fn a_pressure_error_fails_the_pressure_checks_where_the_set_pressure_is_high() {
    let dir = Dir::new();
    // +16 % of ΔP exceeds ±(2 cmH2O + 4 %) at ΔP 25 and 30 hPa (rows 4 and 7: +4.0 and
    // +4.8 against ±3.4 cmH2O) but not at ΔP 10 and 15 hPa (+1.6 and +2.4 against ±2.6
    // and ±3.0 cmH2O); PEEP is untouched.
    let fixture = fixture_with(
        &dir,
        "pressure-error",
        "pressure_error: 2 %",
        "pressure_error: 16 %",
    );
    let record = run(
        &dir,
        PRESSURE,
        &[
            "--fixture",
            &fixture,
            "--set",
            "measured_breaths=5",
            "--set",
            "settle_breaths=2",
        ],
        1,
        "FAIL",
    );
    assert_eq!(
        failures(&record),
        pairs(
            &["row 4", "row 7"],
            &["pressure_accuracy", "pressure_every_breath"]
        )
    );
}

#[test]
fn a_peep_error_fails_the_peep_checks_only() {
    let dir = Dir::new();
    // +3 cmH2O exceeds ±(2 cmH2O + 4 % of PEEP) at both PEEP levels; the inspiratory
    // pressure target is absolute, so the peak stays in its band.
    let fixture = fixture_with(
        &dir,
        "peep-error",
        "peep_error: 0.3 cmH2O",
        "peep_error: 3 cmH2O",
    );
    let record = run(
        &dir,
        PRESSURE,
        &[
            "--fixture",
            &fixture,
            "--set",
            "measured_breaths=5",
            "--set",
            "settle_breaths=2",
        ],
        1,
        "FAIL",
    );
    assert_eq!(
        failures(&record),
        pairs(&PRESSURE_ROWS, &["peep_accuracy", "peep_every_breath"])
    );
}

const RATES: [&str; 6] = [
    "rate 10 /min",
    "rate 20 /min",
    "rate 30 /min",
    "rate 40 /min",
    "rate 50 /min",
    "rate 60 /min",
];

#[test]
fn rate_default_run_passes_and_records_the_rate_of_every_breath() {
    let dir = Dir::new();
    let record = run(&dir, RATE, &[], 0, "PASS");
    let labels: Vec<&str> = record.set_points.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, RATES);
    assert_eq!(record.measurements.len(), 6);
    for m in &record.measurements {
        assert_eq!(m.samples.len(), 25, "{:?}", m.set_point);
        assert_eq!(m.unit, "/min");
        // The simulated ventilator runs 0.5 % fast; the analyzer resolves 0.1 /min.
        let set = binding(&record, m.set_point, "rate");
        for s in &m.samples {
            assert!(
                (s.value - set * 1.005).abs() <= 0.051,
                "{} /min at {set} /min",
                s.value
            );
        }
    }
    assert_eq!(record.checks.len(), 12);
    assert!(record.checks.iter().all(|c| c.verdict == Verdict::Pass));
}

#[test]
fn a_rate_error_fails_where_it_exceeds_the_greater_of_the_two_limits() {
    let dir = Dir::new();
    // +7 % is within ±1 /min at 10 /min (+0.7) but beyond ±max(1 /min, 5 %) from 20 /min on.
    let fixture = fixture_with(&dir, "rate-error", "rate_error: 0.5 %", "rate_error: 7 %");
    let record = run(
        &dir,
        RATE,
        &[
            "--fixture",
            &fixture,
            "--set",
            "measured_breaths=5",
            "--set",
            "settle_breaths=1",
        ],
        1,
        "FAIL",
    );
    assert_eq!(
        failures(&record),
        pairs(&RATES[1..], &["rate_accuracy", "rate_every_breath"])
    );
}

const FIO2S: [&str; 6] = [
    "fio2 21 %",
    "fio2 30 %",
    "fio2 40 %",
    "fio2 60 %",
    "fio2 90 %",
    "fio2 100 %",
];

#[test]
fn oxygen_default_run_passes_and_records_the_oxygen_of_every_breath() {
    let dir = Dir::new();
    let record = run(&dir, OXYGEN, &[], 0, "PASS");
    let labels: Vec<&str> = record.set_points.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, FIO2S);
    assert_eq!(record.measurements.len(), 6);
    for m in &record.measurements {
        assert_eq!(m.samples.len(), 10, "{:?}", m.set_point);
        assert_eq!((m.quantity.as_str(), m.unit.as_str()), ("oxygen", "%"));
        let set = binding(&record, m.set_point, "fio2");
        let measured = mean(m.samples.iter().map(|s| s.value));
        assert!((measured - set).abs() < 1.0, "{measured} % at {set} %");
        // No blender delivers more than pure oxygen.
        assert!(m.samples.iter().all(|s| s.value <= 100.0));
    }
    assert!(record.checks.iter().all(|c| c.verdict == Verdict::Pass));
}

#[test]
fn an_fio2_error_fails_every_set_point_below_pure_oxygen() {
    let dir = Dir::new();
    // +5 percentage points exceeds ±3 vol %, except at 100 %, where the blender can deliver
    // no more than pure oxygen.
    let fixture = fixture_with(&dir, "fio2-error", "fio2_error: 0.5 %", "fio2_error: 5 %");
    let record = run(
        &dir,
        OXYGEN,
        &[
            "--fixture",
            &fixture,
            "--set",
            "measured_breaths=3",
            "--set",
            "settle_breaths=2",
        ],
        1,
        "FAIL",
    );
    assert_eq!(
        failures(&record),
        pairs(&FIO2S[..5], &["o2_accuracy", "o2_every_breath"])
    );
}
