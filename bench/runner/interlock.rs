//! Interlocks checked before a run: every value a procedure would command, at every set
//! point, against the fixture's absolute safety limits.
//!
//! Values that depend on what happens during the run (an operator's entry, a measurement)
//! cannot be known beforehand; the executor checks every command again just before sending it.

use super::RunError;
use super::execute::{Frame, check_limit};
use crate::fixture::Fixture;
use crate::procedure::{Procedure, Step, StepKind};
use crate::units::Quantity;
use std::collections::BTreeMap;

/// One command that would exceed a fixture limit.
#[derive(Debug)]
pub struct Violation {
    /// Line of the step in the procedure.
    pub line: usize,
    /// Where in the sweeps (`test condition row 3`), empty outside sweeps.
    pub set_point: String,
    /// The refusal, naming role, setting, value and limit.
    pub error: RunError,
}

/// Every command of `procedure` that would exceed a limit of `fixture` with `parameters`.
pub fn check_interlocks(
    procedure: &Procedure,
    fixture: &Fixture,
    parameters: &BTreeMap<String, Quantity>,
) -> Vec<Violation> {
    let frame = Frame {
        values: parameters.clone(),
        ..Frame::default()
    };
    let mut out = Vec::new();
    for steps in [&procedure.setup, &procedure.steps, &procedure.teardown] {
        walk(steps, fixture, &frame, "", &mut out);
    }
    out
}

fn walk(steps: &[Step], fixture: &Fixture, frame: &Frame, at: &str, out: &mut Vec<Violation>) {
    for step in steps {
        match &step.kind {
            StepKind::Set { role, values } => {
                let Some(instrument) = fixture.instruments.get(role) else {
                    continue;
                };
                for (setting, formula) in values {
                    let Some(limit) = instrument.limits.get(setting) else {
                        continue;
                    };
                    let Some(value) = formula.expr.eval(frame).ok().and_then(|v| v.to_quantity())
                    else {
                        continue;
                    };
                    if let Err(error) = check_limit(
                        role,
                        setting,
                        &value,
                        limit.min.as_ref(),
                        limit.max.as_ref(),
                    ) {
                        out.push(Violation {
                            line: step.line,
                            set_point: at.to_string(),
                            error,
                        });
                    }
                }
            }
            StepKind::Sweep(sweep) => {
                for (label, row) in &sweep.rows {
                    let mut inner = frame.clone();
                    for ((name, _), value) in sweep.columns.iter().zip(row) {
                        inner.values.insert(name.clone(), value.clone());
                    }
                    let here = format!(
                        "{}{} {label}",
                        if at.is_empty() { "" } else { ", " },
                        sweep.name
                    );
                    walk(&sweep.steps, fixture, &inner, &format!("{at}{here}"), out);
                }
            }
            StepKind::Repeat(repeat) => walk(&repeat.steps, fixture, frame, at, out),
            StepKind::Measure { before_each, .. } => walk(before_each, fixture, frame, at, out),
            _ => {}
        }
    }
}
