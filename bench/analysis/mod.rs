//! Analysis and decision: statistics, uncertainty and verdicts, computed from samples.
//!
//! This stage does no I/O: it is handed numbers and returns numbers and verdicts.

mod verdict;

pub use verdict::Verdict;
