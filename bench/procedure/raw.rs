//! Procedures exactly as written in YAML, with source positions.
//!
//! These types only mirror the file: every field that validation may complain about is a
//! [`Spanned`] so the complaint can name its line and column. `validate.rs` turns them into
//! the checked [`Procedure`](super::Procedure).

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

/// A spanned string (a name, an expression, a quantity literal).
pub type Text = Spanned<String>;

/// A procedure file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProcedure {
    /// Stable identifier (`ventilator-volume-accuracy`).
    pub id: Text,
    /// Human title.
    pub title: Text,
    /// Version of this procedure (semantic version).
    pub version: Text,
    /// The standard implemented (`ISO 80601-2-12:2020`).
    pub standard: Text,
    /// The clause implemented.
    pub clause: Text,
    /// Who wrote it.
    #[serde(default)]
    pub author: Option<Text>,
    /// What changed in this version.
    #[serde(default)]
    pub change_note: Option<Text>,
    /// A longer description, shown in the report.
    #[serde(default)]
    pub description: Option<Text>,
    /// The instrument roles needed, by name.
    pub roles: BTreeMap<String, Spanned<RawRole>>,
    /// Parameters with defaults, overridable with `--set`.
    #[serde(default)]
    pub parameters: BTreeMap<String, Spanned<RawParameter>>,
    /// Steps run first.
    #[serde(default)]
    pub setup: Vec<Spanned<RawStep>>,
    /// The body of the procedure.
    pub steps: Vec<Spanned<RawStep>>,
    /// Steps that always run at the end, whatever happened.
    #[serde(default)]
    pub teardown: Vec<Spanned<RawStep>>,
}

/// A role the procedure needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// The kind of instrument (`ventilator`, `flow_analyzer`, `test_lung`).
    pub kind: Text,
    /// What the role is for, in a sentence.
    #[serde(default)]
    pub description: Option<Text>,
    /// Settings, actions, quantities or events (`breath`) the role must offer; those the
    /// steps use are required anyway, these are checked against the fixture as well.
    #[serde(default)]
    pub capabilities: Vec<Text>,
}

/// A parameter and its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParameter {
    /// The default value, a quantity literal (`4 mL`, `15 %`, `25`).
    pub default: Text,
    /// What the parameter means and where its default comes from.
    #[serde(default)]
    pub description: Option<Text>,
}

/// One step; exactly one of these keys per list item.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RawStep {
    /// Set one or more settings of an instrument.
    Set(RawSet),
    /// Perform an action on an instrument.
    Action(RawAction),
    /// Wait for a duration or a number of device events.
    Wait(Box<RawWait>),
    /// Ask the operator.
    Prompt(Box<RawPrompt>),
    /// Take samples of a quantity.
    Measure(Box<RawMeasure>),
    /// Repeat steps over set points.
    Sweep(Box<RawSweep>),
    /// Decide whether a value meets a limit.
    Check(Box<RawCheck>),
    /// Run a group of steps again when it fails, keeping every attempt.
    Repeat(RawRepeat),
    /// Add an (x, y) point to a series, for fits across set points.
    Collect(RawCollect),
}

/// `collect:` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCollect {
    /// The series' name, used by `slope()`, `r_squared()`, ... after the sweep.
    pub id: Text,
    /// The point's x (a set-point column, say).
    pub x: Text,
    /// The point's y (a statistic of a measurement, say).
    pub y: Text,
}

/// `set:` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSet {
    /// The role commanded.
    pub role: Text,
    /// Setting name → expression giving its value.
    pub values: BTreeMap<String, Text>,
}

/// `action:` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    /// The role commanded.
    pub role: Text,
    /// The action's name (`start`, `standby`).
    #[serde(rename = "do")]
    pub action: Text,
}

/// `wait:` step: a duration, a number of device events, or a condition, with a timeout.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWait {
    /// A duration expression (`2 s`).
    #[serde(default)]
    pub duration: Option<Text>,
    /// A condition to wait for (`pressure < 1 hPa`), over the names in `read`.
    #[serde(default)]
    pub until: Option<Text>,
    /// Quantities read at each poll, bound to names the condition uses.
    #[serde(default)]
    pub read: BTreeMap<String, Spanned<RawRead>>,
    /// Time between polls of the condition (default 1 s bench time).
    #[serde(default)]
    pub every: Option<Text>,
    /// A number of breaths to let pass.
    #[serde(default)]
    pub breaths: Option<Text>,
    /// The role whose events are counted.
    #[serde(default)]
    pub role: Option<Text>,
    /// The longest the wait may take (bench time).
    #[serde(default)]
    pub timeout: Option<Text>,
}

/// A quantity read from a role, for `wait: until:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRead {
    /// The role read.
    pub role: Text,
    /// The quantity read.
    pub quantity: Text,
}

/// `prompt:` step: an instruction to confirm, or a value to enter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrompt {
    /// An instruction the operator confirms was done.
    #[serde(default)]
    pub confirm: Option<Text>,
    /// A question whose answer is a value (`Ambient temperature`).
    #[serde(default)]
    pub enter: Option<Text>,
    /// The name the entered value is bound to.
    #[serde(default)]
    pub id: Option<Text>,
    /// The unit of the entered value.
    #[serde(default)]
    pub unit: Option<Text>,
    /// The answer `--yes` gives on the simulated bench.
    #[serde(default)]
    pub default: Option<Text>,
}

/// `measure:` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMeasure {
    /// The measurement's id, used by checks.
    pub id: Text,
    /// The role read.
    pub role: Text,
    /// The quantity read (`inspired_volume`).
    pub quantity: Text,
    /// Number of breaths: one sample per breath.
    #[serde(default)]
    pub breaths: Option<Text>,
    /// Number of samples read one after the other.
    #[serde(default)]
    pub samples: Option<Text>,
    /// The longest the measurement may take (bench time).
    pub timeout: Text,
    /// Steps run before each sample (set, action, wait, prompt): arm a dosimeter and
    /// expose, so that each sample is one exposure's.
    #[serde(default)]
    pub before_each: Vec<Spanned<RawStep>>,
}

/// `sweep:` step: repeat steps at each set point.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSweep {
    /// The sweep's name.
    pub name: Text,
    /// The name bound at each set point, with `values:` or `range:`.
    #[serde(default)]
    pub over: Option<Text>,
    /// A list of set points (quantity literals).
    #[serde(default)]
    pub values: Option<Spanned<Vec<Text>>>,
    /// A range of set points.
    #[serde(default)]
    pub range: Option<Spanned<RawRange>>,
    /// A table of set points binding several names at once.
    #[serde(default)]
    pub table: Option<Spanned<RawTable>>,
    /// Steps run at each set point.
    pub steps: Vec<Spanned<RawStep>>,
}

/// A range of set points: from, to (inclusive) and step, as quantity literals.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRange {
    /// First set point.
    pub from: Text,
    /// Last set point (included when the steps reach it).
    pub to: Text,
    /// Increment (negative to go down).
    pub step: Text,
}

/// `repeat:` step: a group of steps run again while it fails, up to a number of attempts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepeat {
    /// The group's name.
    pub name: Text,
    /// The most attempts (at least 1).
    pub attempts: Text,
    /// What triggers another attempt: `fail` (a check failed), `error` (an instrument error).
    #[serde(default)]
    pub retry_on: Option<Vec<Text>>,
    /// At the limit: `fail_and_continue` (default) or `stop`.
    #[serde(default)]
    pub on_exhausted: Option<Text>,
    /// The steps.
    pub steps: Vec<Spanned<RawStep>>,
}

/// A table of set points.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    /// Column names, bound at each row.
    pub columns: Vec<Text>,
    /// Column units, one per column (`""` for pure numbers).
    pub units: Vec<Text>,
    /// Rows of numbers, one per column.
    pub rows: Vec<Spanned<Vec<f64>>>,
    /// Optional row labels (`row 1`); default `row N`.
    #[serde(default)]
    pub labels: Option<Vec<Text>>,
}

/// `check:` step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// The check's id (several set points share it).
    pub id: Text,
    /// What is verified, in a sentence.
    pub title: Text,
    /// The value checked, an expression over measurements (`mean(delivered_volume)`).
    pub value: Text,
    /// The target value (`volume`); with `tolerance` it defines target ± tolerance.
    #[serde(default)]
    pub target: Option<Text>,
    /// Half-width of the band around the target.
    #[serde(default)]
    pub tolerance: Option<Text>,
    /// Lower bound.
    #[serde(default)]
    pub min: Option<Text>,
    /// Upper bound.
    #[serde(default)]
    pub max: Option<Text>,
    /// The check applies only when this condition holds.
    #[serde(default)]
    pub when: Option<Text>,
    /// Check every sample of the measurement named by `value` instead of a statistic.
    #[serde(default)]
    pub each: bool,
    /// How conformity is decided (ILAC-G8); simple acceptance when absent.
    #[serde(default)]
    pub decision: Option<Spanned<RawDecision>>,
    /// Uncertainty contributions beyond repeatability and the reference's accuracy.
    #[serde(default)]
    pub uncertainty: Option<RawUncertainty>,
}

/// `decision:` of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDecision {
    /// `simple`, `guarded` or `non_binary`.
    pub rule: Text,
    /// Guard band width, an expression in which `U` is the expanded uncertainty (default `U`).
    #[serde(default)]
    pub guard: Option<Text>,
    /// How conditional outcomes count: `fail` (default) or `accept_pass`.
    #[serde(default)]
    pub conditional: Option<Text>,
}

/// `uncertainty:` of a check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUncertainty {
    /// Coverage probability (default 95 %).
    #[serde(default)]
    pub coverage: Option<Text>,
    /// Contributions the procedure declares (test-lung tolerance, ambient conditions).
    #[serde(default)]
    pub contributions: Vec<Spanned<RawContribution>>,
}

/// One declared uncertainty contribution.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContribution {
    /// What the input is.
    pub name: Text,
    /// Half-width (or, for `normal`, the expanded uncertainty), in the check value's dimension.
    pub half_width: Text,
    /// `rectangular` (default), `triangular`, `u_shaped` or `normal`.
    #[serde(default)]
    pub distribution: Option<Text>,
    /// Coverage factor of a `normal` half-width (default 2).
    #[serde(default)]
    pub k: Option<f64>,
}
