//! Stop requests: how an operator's Ctrl-C or a SIGTERM reaches the runner.
//!
//! A signal handler may only do async-signal-safe work, so it stores the signal's number in
//! an atomic (signal-hook's `flag::register_usize`); the runner polls it at safe points
//! (between steps, between breaths, while sleeping or waiting for the operator) and then
//! stops, records ABORTED with the reason, and runs the teardown. Teardown itself ignores
//! further requests: a second Ctrl-C must not skip the safe-state commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Signal number of SIGINT (Ctrl-C).
pub const SIGINT: usize = 2;
/// Signal number of SIGTERM.
pub const SIGTERM: usize = 15;

/// A request to stop a run at the next safe point.
#[derive(Clone, Debug, Default)]
pub struct StopRequest(Arc<AtomicUsize>);

impl StopRequest {
    /// No stop requested yet.
    pub fn new() -> StopRequest {
        StopRequest::default()
    }

    /// The atomic a signal handler stores the signal number into.
    pub fn flag(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.0)
    }

    /// Requests a stop, as signal `signal` would.
    pub fn request(&self, signal: usize) {
        self.0.store(signal, Ordering::SeqCst);
    }

    /// Why a stop was requested, if it was.
    pub fn reason(&self) -> Option<String> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            SIGINT => Some("interrupted from the operator's terminal (SIGINT, Ctrl-C)".into()),
            SIGTERM => Some("asked to terminate (SIGTERM)".into()),
            other => Some(format!("stopped by signal {other}")),
        }
    }
}
