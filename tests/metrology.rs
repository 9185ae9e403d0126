//! Uncertainty budgets and ILAC-G8 decision rules in real runs, and `qbench analyze`.

use crate::util::Dir;
use qbench::analysis::{Outcome, Verdict};
use qbench::record::read_record;

/// A one-set-point volume check under `decision`, on a ventilator delivering `error` too much.
fn run_with(decision: &str, error: &str) -> (i32, qbench::record::Record) {
    let dir = Dir::new();
    let procedure = format!(
        r#"
id: decision-rules
title: Decision rules on one set point
version: 0.1.0
standard: ILAC-G8:09/2019
clause: "4.2 decision rules"
roles:
  dut: {{ kind: ventilator }}
  flow_reference: {{ kind: flow_analyzer }}
  test_lung: {{ kind: test_lung }}
steps:
  - sweep:
      name: volumes
      over: volume
      values: [500 mL]
      steps:
        - set: {{ role: test_lung, values: {{ compliance: 50 mL/hPa, resistance: 5 hPa/(L/s) }} }}
        - set: {{ role: dut, values: {{ tidal_volume: volume, rate: 20 /min, inspiratory_time: 1 s, peep: 5 cmH2O, fio2: 21 % }} }}
        - action: {{ role: dut, do: start }}
        - wait: {{ role: flow_reference, breaths: 2, timeout: 60 s }}
        - measure: {{ id: vt, role: flow_reference, quantity: inspired_volume, breaths: 10, timeout: 60 s }}
        - check:
            id: volume
            title: Mean volume within ±(4 mL + 15 %)
            value: mean(vt)
            target: volume
            tolerance: 4 mL + 15 % * volume
            {decision}
            uncertainty:
              contributions:
                - {{ name: resolution, half_width: 0.5 mL }}
teardown:
  - action: {{ role: dut, do: standby }}
"#
    );
    dir.write("decision.yaml", &procedure);
    let fixture = dir
        .read("fixtures/sim.yaml")
        .replace("volume_error: 1 %", &format!("volume_error: {error}"));
    dir.write("fixtures/biased.yaml", &fixture);
    let out = dir.qbench(&[
        "run",
        "decision.yaml",
        "--fixture",
        "fixtures/biased.yaml",
        "--yes",
        "--out",
        "run",
    ]);
    let record = read_record(&dir.path().join("run/record.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", out.stdout, out.stderr));
    (out.code, record)
}

#[test]
fn the_budget_holds_repeatability_reference_accuracy_and_declared_terms() {
    let (code, record) = run_with("decision: { rule: guarded }", "1 %");
    assert_eq!(code, 0);
    let check = &record.checks[0];
    let budget = check.uncertainty.as_ref().expect("a budget");
    let names: Vec<&str> = budget
        .rows
        .iter()
        .map(|r| r.contribution.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "repeatability of vt (n = 10)",
            "accuracy of flow_reference: ±(1.75 % of reading + 0.5 mL)",
            "resolution"
        ]
    );
    // Recompute u_c and U from the rows: the record carries everything needed.
    let uc = budget
        .rows
        .iter()
        .map(|r| r.uncertainty_contribution.powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((uc - budget.combined_standard_uncertainty).abs() < 1e-9 * uc);
    assert!((budget.coverage_factor * uc - budget.expanded_uncertainty).abs() < 1e-9 * uc);
    // The reference's type-B term is its accuracy at the reading, rectangular.
    let mean = check.value.as_ref().map(|v| v.value).unwrap_or_default();
    let reference = &budget.rows[1].contribution;
    assert!((reference.half_width.unwrap_or_default() - (0.0175 * mean + 0.5)).abs() < 1e-9);
    let decision = check.decision.as_ref().expect("a decision");
    assert_eq!(decision.guard_band, budget.expanded_uncertainty);
}

#[test]
fn a_result_inside_the_tolerance_but_within_the_guard_band_is_not_a_plain_pass() {
    // +14.5 % puts the mean about 4 mL inside the upper tolerance limit 579 mL, while U is
    // about 11 mL: inside the tolerance, inside the guard band.
    let (simple_code, simple) = run_with("decision: { rule: simple }", "14.5 %");
    let (guarded_code, guarded) = run_with("decision: { rule: guarded }", "14.5 %");
    let (nb_fail_code, nb_fail) = run_with("decision: { rule: non_binary }", "14.5 %");
    let (nb_accept_code, nb_accept) = run_with(
        "decision: { rule: non_binary, conditional: accept_pass }",
        "14.5 %",
    );
    let decision = |r: &qbench::record::Record| r.checks[0].decision.clone().expect("decision");
    assert!(decision(&simple).within_tolerance);
    assert_eq!((simple_code, simple.checks[0].verdict), (0, Verdict::Pass));
    assert_eq!(
        (guarded_code, guarded.checks[0].verdict),
        (1, Verdict::Fail)
    );
    assert!(
        decision(&guarded).within_tolerance,
        "the guarded fail is inside the tolerance"
    );
    assert_eq!(decision(&nb_fail).outcome, Outcome::ConditionalPass);
    assert_eq!(
        (nb_fail_code, nb_fail.checks[0].verdict),
        (1, Verdict::Fail),
        "conditional counts as fail by default"
    );
    assert_eq!(
        (nb_accept_code, nb_accept.checks[0].verdict),
        (0, Verdict::Pass),
        "the procedure accepts conditional passes"
    );
    assert!(
        nb_accept.checks[0]
            .note
            .as_deref()
            .is_some_and(|n| n.contains("conditional pass"))
    );
}

#[test]
fn analyze_recomputes_a_fit_from_an_exported_csv() {
    let dir = Dir::new();
    dir.write(
        "data.csv",
        "kerma [uGy],pixel value\n1,1010\n2,2005\n4,3990\n8,8020\n16,15985\n",
    );
    let out = dir.qbench(&[
        "analyze",
        "linear-fit",
        "data.csv",
        "--x",
        "kerma",
        "--y",
        "pixel value",
        "--json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json = out.json();
    assert_eq!(json["n"], 5);
    let slope = json["slope"].as_f64().expect("slope");
    assert!((slope - 997.5).abs() < 5.0, "{slope}");
    let bad = dir.qbench(&["analyze", "summary", "data.csv", "--column", "dose"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("kerma"),
        "names the columns that exist: {}",
        bad.stderr
    );
}
