//! Verdicts: the outcome of one check, and of a whole run.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The outcome of a check or of a run.
///
/// FAIL is about the device under test; ERROR and ABORTED are about the run, which could not
/// decide (an instrument error, an operator's abort).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Verdict {
    /// Every requirement was met.
    Pass,
    /// At least one requirement was not met.
    Fail,
    /// The run could not complete because of an instrument or bench error.
    Error,
    /// The run was stopped by the operator or a signal.
    Aborted,
}

impl Verdict {
    /// The word printed in reports and on the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Error => "ERROR",
            Verdict::Aborted => "ABORTED",
        }
    }

    /// Combines two verdicts: the worse one wins (PASS < FAIL < ERROR < ABORTED).
    pub fn combine(self, other: Verdict) -> Verdict {
        self.max(other)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
