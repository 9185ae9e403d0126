//! Exit codes: the contract scripts rely on (see `design.md`).

/// Every check passed (or, for other commands, the command did its job).
pub const PASS: i32 = 0;
/// At least one check failed (for `verify`: the record is not intact).
pub const FAIL: i32 = 1;
/// Invalid invocation, or an invalid procedure or fixture.
pub const INVALID: i32 = 2;
/// The run could not complete: instrument error, abort, interlock.
pub const INCOMPLETE: i32 = 3;

/// The exit code for a run's verdict.
pub fn for_verdict(verdict: crate::analysis::Verdict) -> i32 {
    use crate::analysis::Verdict;
    match verdict {
        Verdict::Pass => PASS,
        Verdict::Fail => FAIL,
        Verdict::Error | Verdict::Aborted => INCOMPLETE,
    }
}
