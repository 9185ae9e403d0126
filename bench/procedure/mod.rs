//! Procedures: what to do and what counts as passing, as validated domain types.
//!
//! # Architecture
//!
//! - `raw.rs`: the YAML as written, with positions (serde-saphyr `Spanned`).
//! - `validate.rs`: checks a raw procedure completely (names, units, roles, expressions) and
//!   builds a [`Procedure`], or returns every problem at once as a [`ValidationError`] whose
//!   diagnostics carry line and column.
//! - `expr.rs`: the expression language of limits, set values and conditions.
//! - `diagnostic.rs`: diagnostics and their display with the offending line and a caret.
//!
//! A [`Procedure`] names roles, never ports or brands: binding roles to instruments is the
//! fixture's job. This stage does no I/O beyond reading the procedure file.

mod diagnostic;
pub mod expr;
mod raw;
mod validate;

pub use diagnostic::{Diagnostic, ValidationError, did_you_mean, read_source};
pub use validate::{kind_spec, load_procedure, parse_procedure, yaml_diagnostic};

use crate::units::{Quantity, Unit};
use expr::Expr;
use std::collections::BTreeMap;

/// A validated procedure.
#[derive(Clone, Debug)]
pub struct Procedure {
    /// Stable identifier.
    pub id: String,
    /// Human title.
    pub title: String,
    /// Version of the procedure.
    pub version: String,
    /// The standard implemented.
    pub standard: String,
    /// The clause implemented.
    pub clause: String,
    /// Who wrote it.
    pub author: Option<String>,
    /// What changed in this version.
    pub change_note: Option<String>,
    /// A longer description.
    pub description: Option<String>,
    /// Roles needed, by name.
    pub roles: BTreeMap<String, Role>,
    /// Parameters and their defaults.
    pub parameters: BTreeMap<String, Parameter>,
    /// Steps run first.
    pub setup: Vec<Step>,
    /// The body.
    pub steps: Vec<Step>,
    /// Steps that always run at the end.
    pub teardown: Vec<Step>,
}

/// A role the procedure needs.
#[derive(Clone, Debug)]
pub struct Role {
    /// The kind of instrument.
    pub kind: String,
    /// What the role is for.
    pub description: Option<String>,
    /// Settings, actions, quantities and events the role must offer (declared and used).
    pub capabilities: Vec<String>,
}

/// A parameter with its default.
#[derive(Clone, Debug)]
pub struct Parameter {
    /// Default value.
    pub default: Quantity,
    /// What it means.
    pub description: Option<String>,
}

/// A step and where it was written.
#[derive(Clone, Debug)]
pub struct Step {
    /// What the step does.
    pub kind: StepKind,
    /// 1-based line of the step in the procedure file.
    pub line: usize,
}

/// An expression with the text it was parsed from (for records and messages).
#[derive(Clone, Debug)]
pub struct Formula {
    /// The parsed expression.
    pub expr: Expr,
    /// The text as written.
    pub text: String,
}

/// How many samples a measurement takes.
#[derive(Clone, Debug)]
pub enum SampleCount {
    /// One sample per breath, for this many breaths.
    Breaths(Formula),
    /// This many samples read one after another.
    Samples(Formula),
}

/// What a step does.
#[derive(Clone, Debug)]
pub enum StepKind {
    /// Set settings of an instrument, in order.
    Set {
        /// The role commanded.
        role: String,
        /// Setting name and value.
        values: Vec<(String, Formula)>,
    },
    /// Perform an action.
    Action {
        /// The role commanded.
        role: String,
        /// The action.
        action: String,
    },
    /// Wait a duration (bench time).
    WaitDuration(Formula),
    /// Wait for a number of breaths.
    WaitBreaths {
        /// The role whose breaths are counted.
        role: String,
        /// How many.
        count: Formula,
        /// The longest the wait may take (bench time).
        timeout: Formula,
    },
    /// Ask the operator to do something and confirm.
    Prompt {
        /// The instruction.
        message: String,
    },
    /// Ask the operator for a value, bound to a name.
    Entry {
        /// The question.
        message: String,
        /// The name the value is bound to.
        id: String,
        /// The unit of the value.
        unit: Unit,
        /// The answer `--yes` gives.
        default: Option<Quantity>,
    },
    /// Poll quantities until a condition holds.
    WaitUntil {
        /// The condition.
        condition: Formula,
        /// Name, role and quantity read at each poll.
        reads: Vec<(String, String, String)>,
        /// Time between polls (bench time).
        every: Formula,
        /// The longest the wait may take (bench time).
        timeout: Formula,
    },
    /// Take samples.
    Measure {
        /// The measurement id.
        id: String,
        /// The role read.
        role: String,
        /// The quantity read.
        quantity: String,
        /// How many samples.
        count: SampleCount,
        /// The longest the measurement may take (bench time).
        timeout: Formula,
        /// Steps run before each sample (commands, waits and prompts only).
        before_each: Vec<Step>,
    },
    /// Repeat steps over the rows of a table.
    Sweep(Sweep),
    /// Decide whether a value meets a limit.
    Check(Box<Check>),
    /// Run a group of steps again when it fails.
    Repeat(Repeat),
    /// Add an (x, y) point to a series.
    Collect {
        /// The series.
        id: String,
        /// The point's x.
        x: Formula,
        /// The point's y.
        y: Formula,
    },
}

/// A group of steps with a retry policy.
#[derive(Clone, Debug)]
pub struct Repeat {
    /// The group's name.
    pub name: String,
    /// The most attempts.
    pub attempts: Formula,
    /// Retry when a check in the group failed.
    pub retry_on_fail: bool,
    /// Retry when an instrument error ended the attempt.
    pub retry_on_error: bool,
    /// At the limit, stop the run instead of recording the failure and continuing.
    pub stop_when_exhausted: bool,
    /// The steps.
    pub steps: Vec<Step>,
}

/// A sweep over set points.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The sweep's name.
    pub name: String,
    /// Column names and units.
    pub columns: Vec<(String, Unit)>,
    /// Rows: a label and one quantity per column.
    pub rows: Vec<(String, Vec<Quantity>)>,
    /// Steps run at each row.
    pub steps: Vec<Step>,
}

/// A check.
#[derive(Clone, Debug)]
pub struct Check {
    /// The check's id.
    pub id: String,
    /// What is verified.
    pub title: String,
    /// The value checked.
    pub value: Formula,
    /// The target, with `tolerance`.
    pub target: Option<Formula>,
    /// Half-width of the band around the target.
    pub tolerance: Option<Formula>,
    /// Lower bound.
    pub min: Option<Formula>,
    /// Upper bound.
    pub max: Option<Formula>,
    /// Condition for the check to apply.
    pub when: Option<Formula>,
    /// The measurement the value is computed from (for records).
    pub measurement: String,
    /// The statistic taken (`mean`), or `each` for a check of every sample.
    pub statistic: String,
    /// Whether every sample is checked instead of one value.
    pub each: bool,
    /// How conformity is decided.
    pub decision: DecisionSpec,
    /// Coverage probability of the expanded uncertainty (0.95 by default).
    pub coverage: f64,
    /// Contributions the procedure declares.
    pub contributions: Vec<DeclaredContribution>,
}

/// The decision rule of a check, as the procedure states it.
#[derive(Clone, Debug)]
pub struct DecisionSpec {
    /// Simple, guarded or non-binary.
    pub rule: RuleKind,
    /// Guard band width; `U` in it is the expanded uncertainty. `None`: w = U.
    pub guard: Option<Formula>,
    /// How conditional outcomes count towards the verdict.
    pub conditional: crate::analysis::ConditionalPolicy,
}

/// The ILAC-G8 decision rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// Simple acceptance.
    Simple,
    /// Guarded acceptance.
    Guarded,
    /// Pass, conditional pass, conditional fail, fail.
    NonBinary,
}

/// An uncertainty contribution declared by the procedure.
#[derive(Clone, Debug)]
pub struct DeclaredContribution {
    /// What the input is.
    pub name: String,
    /// Its half-width (or expanded uncertainty for a normal distribution).
    pub half_width: Formula,
    /// The distribution assumed.
    pub distribution: crate::analysis::Distribution,
}

impl Procedure {
    /// Every check id, in the order first written.
    pub fn check_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_checks(&self.steps, &mut out);
        out
    }
}

fn collect_checks(steps: &[Step], out: &mut Vec<String>) {
    for step in steps {
        match &step.kind {
            StepKind::Check(c) if !out.contains(&c.id) => out.push(c.id.clone()),
            StepKind::Sweep(s) => collect_checks(&s.steps, out),
            StepKind::Repeat(r) => collect_checks(&r.steps, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
