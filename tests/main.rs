//! Integration tests: the real `qbench` binary, run in fresh temporary directories against
//! the simulated bench over real pseudo-terminals.

/// Helpers: a temporary working directory and a command builder for the real binary.
mod util;

/// `qbench validate` on shipped and broken files.
mod validate;
/// `qbench run` of the pressure, rate and oxygen qualifications: pass, and fail on a fault.
mod ventilator_procedures;
/// `qbench run` of the ventilator volume-accuracy qualification: pass, fail, instrument loss.
mod ventilator_run;
