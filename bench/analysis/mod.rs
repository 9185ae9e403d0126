//! Analysis and decision: statistics, uncertainty and verdicts, computed from samples.
//!
//! This stage does no I/O: it is handed numbers and returns numbers and verdicts.
//!
//! - [`stats`]: [`Summary`] (mean, standard deviation, CV, extremes) and percentiles.
//! - [`fit`]: [`LinearFit`] by ordinary least squares (and [`ProportionalFit`] through the
//!   origin), deviation from linearity, and the coefficient of linearity of X-ray output.
//! - [`uncertainty`]: GUM [`Contribution`]s and the evaluated [`UncertaintyBudget`];
//!   [`accuracy`] parses the instrument [`AccuracySpec`]s that type-B contributions come from.
//! - [`decision`]: ILAC-G8 decision rules, from a measured value, its expanded uncertainty and
//!   a [`Limit`] to a [`Decision`] and then a [`Verdict`].
//! - [`gas`]: gas standards (ATP, BTPS, STPD...) and the factor between two of them.
//! - [`table`]: CSV text to numeric columns, for offline analysis (the caller reads the file).
//!
//! Validated against the NIST Statistical Reference Datasets kept in `tests/data/nist/` (the
//! test-only module `nist`).

pub mod accuracy;
pub mod decision;
mod error;
pub mod fit;
mod float_serde;
pub mod gas;
#[cfg(test)]
mod nist;
pub mod stats;
mod student;
pub mod table;
pub mod uncertainty;
mod verdict;

pub use accuracy::{AccuracySpec, parse_accuracy};
pub use decision::{
    AcceptanceZone, ConditionalPolicy, Decision, DecisionRule, GuardBand, Limit, Outcome, decide,
    decide_quantity,
};
pub use error::AnalysisError;
pub use fit::{LinearFit, Linearity, ProportionalFit, coefficient_of_linearity};
pub use stats::{Summary, mean, median, percentile, percentiles};
pub use student::coverage_factor;
pub use table::{Column, Table};
pub use uncertainty::{
    BudgetRow, Contribution, DEFAULT_COVERAGE_PROBABILITY, Distribution, EvaluationType,
    UncertaintyBudget,
};
pub use verdict::Verdict;
