//! Validation tests: a table of broken procedures, each giving its message at its place, and
//! property tests (round trips of generated procedures, mutations that must never panic).

use super::{StepKind, parse_procedure};
use proptest::prelude::*;
use std::path::Path;

/// A small valid procedure; each case below breaks one thing in it.
const BASE: &str = r#"id: base
title: Base procedure
version: 1.0.0
standard: ISO 80601-2-12:2020
clause: "201.12.1.102"
roles:
  dut: { kind: ventilator }
  flow_reference: { kind: flow_analyzer }
parameters:
  tol: { default: 4 mL }
  n: { default: 3 }
steps:
  - sweep:
      name: volumes
      table:
        columns: [volume, rate]
        units: [mL, /min]
        rows:
          - [500, 20]
      steps:
        - set:
            role: dut
            values: { tidal_volume: volume, rate: rate }
        - action: { role: dut, do: start }
        - wait: { role: flow_reference, breaths: 2, timeout: 30 s }
        - measure:
            id: vt
            role: flow_reference
            quantity: inspired_volume
            breaths: n
            timeout: 60 s
        - check:
            id: c1
            title: Mean volume
            value: mean(vt)
            target: volume
            tolerance: tol + 15 % * volume
            when: volume > 50 mL
teardown:
  - action: { role: dut, do: standby }
"#;

/// One broken procedure: replace `from` by `to` in [`BASE`]; expect a diagnostic at the line
/// holding `at_line` (after the edit), at the column where `at_token` starts on it, whose
/// message contains `message`.
struct Case {
    from: &'static str,
    to: &'static str,
    at_line: &'static str,
    at_token: &'static str,
    message: &'static str,
}

const CASES: &[Case] = &[
    // 1. An unknown top-level key, with a suggestion.
    Case {
        from: "title: Base",
        to: "titel: Base",
        at_line: "titel:",
        at_token: "titel",
        message: "did you mean `title`",
    },
    // 2. An unknown key inside a step.
    Case {
        from: "breaths: n\n",
        to: "breths: n\n",
        at_line: "breths",
        at_token: "breths",
        message: "did you mean `breaths`",
    },
    // 3. An empty id.
    Case {
        from: "id: base",
        to: "id: \"\"",
        at_line: "id: \"\"",
        at_token: "\"\"",
        message: "id must not be empty",
    },
    // 4. An id with spaces.
    Case {
        from: "id: base",
        to: "id: my base",
        at_line: "id: my",
        at_token: "my base",
        message: "id may hold only",
    },
    // 5. An unknown instrument kind.
    Case {
        from: "kind: ventilator",
        to: "kind: ventilater",
        at_line: "kind: ventilater",
        at_token: "ventilater",
        message: "did you mean `ventilator`",
    },
    // 6. A role used but never declared.
    Case {
        from: "role: flow_reference\n            quantity",
        to: "role: flow_ref\n            quantity",
        at_line: "    role: flow_ref",
        at_token: "flow_ref",
        message: "role `flow_ref` is not declared",
    },
    // 7. A setting the kind does not have.
    Case {
        from: "tidal_volume: volume",
        to: "tidal_vol: volume",
        at_line: "tidal_vol:",
        at_token: "volume, rate: rate",
        message: "did you mean `tidal_volume`",
    },
    // 8. An action the kind does not have.
    Case {
        from: "do: start",
        to: "do: go",
        at_line: "do: go",
        at_token: "go",
        message: "has no action `go`",
    },
    // 9. A quantity the kind does not measure.
    Case {
        from: "quantity: inspired_volume",
        to: "quantity: tidal",
        at_line: "quantity: tidal",
        at_token: "tidal",
        message: "does not measure `tidal`",
    },
    // 10. A parameter default in an unknown unit.
    Case {
        from: "default: 4 mL",
        to: "default: 4 cc",
        at_line: "default: 4 cc",
        at_token: "4 cc",
        message: "unknown unit `cc`",
    },
    // 11. A parameter default that is not a quantity.
    Case {
        from: "default: 4 mL",
        to: "default: four",
        at_line: "default: four",
        at_token: "four",
        message: "is not a quantity",
    },
    // 12. A parameter named like a unit.
    Case {
        from: "  n: { default: 3 }",
        to: "  min: { default: 3 }",
        at_line: "min: {",
        at_token: "{ default",
        message: "is a unit, function or keyword",
    },
    // 13. An expression that does not parse (the caret points after the `+`).
    Case {
        from: "tolerance: tol + 15 % * volume",
        to: "tolerance: tol +",
        at_line: "tolerance: tol +",
        at_token: "",
        message: "expression ends too early",
    },
    // 14. An unknown name in an expression, located at the name.
    Case {
        from: "tolerance: tol + 15 % * volume",
        to: "tolerance: tol + 15 % * volum",
        at_line: "tolerance: tol",
        at_token: "volum",
        message: "unknown name `volum`",
    },
    // 15. Adding a pressure to a volume.
    Case {
        from: "tolerance: tol + 15 % * volume",
        to: "tolerance: tol + 5 hPa",
        at_line: "tolerance: tol",
        at_token: "tol + 5",
        message: "mixes volume and pressure",
    },
    // 16. A setting given a value of the wrong dimension.
    Case {
        from: "tidal_volume: volume",
        to: "tidal_volume: 5 cmH2O",
        at_line: "tidal_volume: 5",
        at_token: "5 cmH2O",
        message: "must be a volume",
    },
    // 17. A wait with two forms.
    Case {
        from: "wait: { role: flow_reference, breaths: 2, timeout: 30 s }",
        to: "wait: { duration: 2 s, breaths: 2, timeout: 30 s }",
        at_line: "- wait:",
        at_token: "wait",
        message: "exactly one of `duration:`, `breaths:` or `until:`",
    },
    // 18. A wait for breaths without a timeout.
    Case {
        from: "breaths: 2, timeout: 30 s }",
        to: "breaths: 2 }",
        at_line: "- wait:",
        at_token: "wait",
        message: "needs `timeout:`",
    },
    // 19. A measurement with both breaths and samples.
    Case {
        from: "breaths: n\n",
        to: "breaths: n\n            samples: 3\n",
        at_line: "- measure:",
        at_token: "measure",
        message: "exactly one of `breaths:` or `samples:`",
    },
    // 20. A count that is not whole.
    Case {
        from: "breaths: n\n",
        to: "breaths: 2.5\n",
        at_line: "breaths: 2.5",
        at_token: "2.5",
        message: "whole number",
    },
    // 21. A timeout that is not a time.
    Case {
        from: "timeout: 60 s",
        to: "timeout: 60 mL",
        at_line: "timeout: 60 mL",
        at_token: "60 mL",
        message: "must be a time",
    },
    // 22. A check without a limit.
    Case {
        from: "            target: volume\n            tolerance: tol + 15 % * volume\n",
        to: "",
        at_line: "- check:",
        at_token: "check",
        message: "a check needs a limit",
    },
    // 23. A target without a tolerance.
    Case {
        from: "            tolerance: tol + 15 % * volume\n",
        to: "",
        at_line: "- check:",
        at_token: "check",
        message: "go together",
    },
    // 24. A `when` that is a number, not a condition.
    Case {
        from: "when: volume > 50 mL",
        to: "when: volume + 50 mL",
        at_line: "when: volume",
        at_token: "volume + 50",
        message: "must be a condition",
    },
    // 25. A table row with a missing value.
    Case {
        from: "- [500, 20]",
        to: "- [500]",
        at_line: "- [500]",
        at_token: "[500]",
        message: "row 1 has 1 values for 2 columns",
    },
    // 26. A table with more columns than units.
    Case {
        from: "units: [mL, /min]",
        to: "units: [mL]",
        at_line: "columns: [volume, rate]",
        at_token: "columns",
        message: "2 columns but 1 units",
    },
    // 27. A statistic of a measurement not taken.
    Case {
        from: "value: mean(vt)",
        to: "value: mean(vtt)",
        at_line: "value: mean(vtt)",
        at_token: "mean(vtt)",
        message: "`vtt` is not a measurement taken before",
    },
    // 28. An unknown decision rule.
    Case {
        from: "when: volume > 50 mL",
        to: "when: volume > 50 mL\n            decision: { rule: guardd }",
        at_line: "decision:",
        at_token: "guardd",
        message: "did you mean `guarded`",
    },
    // 29. `each: true` on something that is not a measurement.
    Case {
        from: "value: mean(vt)",
        to: "value: mean(vt)\n            each: true",
        at_line: "value: mean(vt)",
        at_token: "mean(vt)",
        message: "with `each: true` the value names a measurement",
    },
    // 30. A sweep with two forms of set points.
    Case {
        from: "      name: volumes\n",
        to: "      name: volumes\n      values: [1 mL]\n",
        at_line: "- sweep:",
        at_token: "sweep",
        message: "exactly one of `values:`, `range:` or `table:`",
    },
    // 31. An unknown step kind.
    Case {
        from: "- action: { role: dut, do: start }",
        to: "- acton: { role: dut, do: start }",
        at_line: "- acton",
        at_token: "acton",
        message: "unknown variant `acton`",
    },
    // 32. A duplicate key.
    Case {
        from: "title: Base procedure\n",
        to: "title: Base procedure\ntitle: Again\n",
        at_line: "title: Again",
        at_token: "title",
        message: "duplicate",
    },
    // 33. A measurement id used twice in one scope.
    Case {
        from: "        - check:",
        to: "        - measure: { id: vt, role: flow_reference, quantity: inspired_volume, samples: 1, timeout: 1 s }\n        - check:",
        at_line: "- measure: { id: vt",
        at_token: "vt,",
        message: "already defined",
    },
    // 34. A repeat with zero attempts.
    Case {
        from: "teardown:\n",
        to: "  - repeat: { name: r, attempts: 0, steps: [] }\nteardown:\n",
        at_line: "- repeat:",
        at_token: "0,",
        message: "whole number of at least 1",
    },
    // 35. A YAML syntax error: an unclosed flow mapping.
    Case {
        from: "action: { role: dut, do: start }",
        to: "action: { role: dut, do: start",
        at_line: "- wait:",
        at_token: ": { role",
        message: "did not find expected ',' or '}'",
    },
    // 36. A step that measures or decides cannot run before each sample.
    Case {
        from: "            timeout: 60 s\n",
        to: "            timeout: 60 s\n            before_each:\n              - action: { role: dut, do: start }\n              - check: { id: x, title: x, value: 1, max: 2 }\n",
        at_line: "- check: { id: x",
        at_token: "check",
        message: "cannot run before each sample",
    },
    // 37. The steps before each sample are validated like any other.
    Case {
        from: "            timeout: 60 s\n",
        to: "            timeout: 60 s\n            before_each:\n              - action: { role: dut, do: fly }\n",
        at_line: "do: fly",
        at_token: "fly",
        message: "has no action `fly`",
    },
];

fn diagnostics_of(text: &str) -> Vec<super::Diagnostic> {
    match parse_procedure(Path::new("broken.yaml"), text) {
        Ok(_) => Vec::new(),
        Err(e) => e.diagnostics,
    }
}

#[test]
fn the_base_procedure_is_valid() {
    let procedure = parse_procedure(Path::new("base.yaml"), BASE).expect("valid");
    assert_eq!(procedure.check_ids(), ["c1"]);
}

#[test]
fn steps_before_each_sample_are_kept_with_their_measurement() {
    let text = BASE.replacen(
        "            timeout: 60 s\n",
        "            timeout: 60 s\n            before_each:\n              - action: { role: dut, do: start }\n              - wait: { duration: 1 s }\n",
        1,
    );
    let procedure = parse_procedure(Path::new("base.yaml"), &text).expect("valid");
    let StepKind::Sweep(sweep) = &procedure.steps[0].kind else {
        panic!("not a sweep");
    };
    let Some(StepKind::Measure { before_each, .. }) = sweep
        .steps
        .iter()
        .map(|s| &s.kind)
        .find(|k| matches!(k, StepKind::Measure { .. }))
    else {
        panic!("no measurement");
    };
    assert!(matches!(
        before_each.iter().map(|s| &s.kind).collect::<Vec<_>>()[..],
        [StepKind::Action { .. }, StepKind::WaitDuration(_)]
    ));
}

#[test]
fn every_broken_procedure_gives_its_message_at_its_place() {
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        assert!(
            BASE.contains(case.from),
            "case {}: `{}` not in the base",
            i + 1,
            case.from
        );
        let text = BASE.replacen(case.from, case.to, 1);
        let (line_index, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(case.at_line))
            .unwrap_or_else(|| panic!("case {}: no line holds `{}`", i + 1, case.at_line));
        let column = if case.at_token.is_empty() {
            line.chars().count() + 1
        } else {
            line.find(case.at_token)
                .map(|b| line[..b].chars().count() + 1)
                .unwrap_or_else(|| {
                    panic!("case {}: `{}` not on line `{line}`", i + 1, case.at_token)
                })
        };
        let found = diagnostics_of(&text);
        let hit = found.iter().any(|d| {
            d.line == line_index + 1 && d.column == column && d.message.contains(case.message)
        });
        if !hit {
            failures.push(format!(
                "case {}: expected {}:{} `{}`, got {:?}",
                i + 1,
                line_index + 1,
                column,
                case.message,
                found
                    .iter()
                    .map(|d| (d.line, d.column, d.message.clone()))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Generates the YAML of a valid procedure from a few choices, and the facts it must yield.
fn generated(
    rows: &[(u32, u32)],
    breaths: u32,
    tolerance_ml: u32,
    rel_percent: u32,
    title: &str,
) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|(v, r)| format!("          - [{v}, {r}]"))
        .collect();
    format!(
        "id: generated\ntitle: {title:?}\nversion: 1.0.0\nstandard: S\nclause: \"1\"\nroles:\n  dut: {{ kind: ventilator }}\n  flow_reference: {{ kind: flow_analyzer }}\nparameters:\n  tol: {{ default: {tolerance_ml} mL }}\n  n: {{ default: {breaths} }}\nsteps:\n  - sweep:\n      name: volumes\n      table:\n        columns: [volume, rate]\n        units: [mL, /min]\n        rows:\n{}\n      steps:\n        - set: {{ role: dut, values: {{ tidal_volume: volume, rate: rate }} }}\n        - measure: {{ id: vt, role: flow_reference, quantity: inspired_volume, breaths: n, timeout: 60 s }}\n        - check: {{ id: c1, title: T, value: mean(vt), target: volume, tolerance: tol + {rel_percent} % * volume }}\n",
        rows.join("\n")
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A generated procedure parses back to exactly what was generated.
    #[test]
    fn generated_procedures_round_trip(
        rows in prop::collection::vec((1u32..2000, 1u32..80), 1..6),
        breaths in 1u32..50,
        tolerance_ml in 0u32..50,
        rel_percent in 0u32..30,
        title in "[A-Za-z0-9][A-Za-z0-9 ,.()±%-]{0,39}",
    ) {
        let text = generated(&rows, breaths, tolerance_ml, rel_percent, &title);
        let p = parse_procedure(Path::new("g.yaml"), &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&p.title, &title);
        prop_assert_eq!(p.parameters["n"].default.value, f64::from(breaths));
        prop_assert_eq!(p.parameters["tol"].default.value, f64::from(tolerance_ml));
        let StepKind::Sweep(sweep) = &p.steps[0].kind else { return Err(TestCaseError::fail("not a sweep")) };
        let read: Vec<(u32, u32)> = sweep.rows.iter().map(|(_, q)| (q[0].value as u32, q[1].value as u32)).collect();
        prop_assert_eq!(read, rows);
        let StepKind::Check(check) = &sweep.steps[2].kind else { return Err(TestCaseError::fail("not a check")) };
        prop_assert_eq!(&check.tolerance.as_ref().map(|f| f.text.clone()), &Some(format!("tol + {rel_percent} % * volume")));
    }

    /// Byte-level mutations of a valid procedure never panic the validator.
    #[test]
    fn byte_mutations_never_panic(position in 0usize..BASE.len(), byte in any::<u8>(), delete in any::<bool>()) {
        let mut bytes = BASE.as_bytes().to_vec();
        if delete { bytes.remove(position); } else { bytes[position] = byte; }
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_procedure(Path::new("m.yaml"), &text);
    }

    /// Structural mutations (lines duplicated, dropped, swapped or re-indented) never panic.
    #[test]
    fn line_mutations_never_panic(a in 0usize..48, b in 0usize..48, kind in 0u8..4) {
        let mut lines: Vec<String> = BASE.lines().map(str::to_string).collect();
        let (a, b) = (a % lines.len(), b % lines.len());
        match kind {
            0 => { let l = lines[a].clone(); lines.insert(b, l); }
            1 => { lines.remove(a); }
            2 => lines.swap(a, b),
            _ => lines[a] = format!("  {}", lines[a]),
        }
        let _ = parse_procedure(Path::new("m.yaml"), &lines.join("\n"));
    }
}
