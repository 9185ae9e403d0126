//! The retry policy shared by the SCPI, Modbus and profile drivers: which failures may pass
//! if the request is asked again, and how long to wait first.
//!
//! Only a timeout or a garbled answer is worth a retry: a refusal will be refused again, and
//! a disconnected device will not come back by itself. The pause grows with each attempt
//! (20, 40, 80 ms, at most 160 ms) so a device busy or recovering from line noise gets time,
//! while a bench with `retries: 1` loses at most 20 ms per transient fault.

use super::{DriverError, DriverErrorKind};
use std::time::Duration;

/// Whether a failed request may succeed when asked again.
pub(crate) fn is_transient(err: &DriverError) -> bool {
    match &err.kind {
        DriverErrorKind::Link(e) => e.is_timeout(),
        DriverErrorKind::Protocol { .. } => true,
        _ => false,
    }
}

/// The pause before retry number `attempt` (1 for the first retry).
pub(crate) fn pause_before(attempt: u32) -> Duration {
    Duration::from_millis(20 << attempt.saturating_sub(1).min(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{LinkError, LinkErrorKind};

    #[test]
    fn backs_off_and_retries_only_transient_failures() {
        assert_eq!(pause_before(1), Duration::from_millis(20));
        assert_eq!(pause_before(3), Duration::from_millis(80));
        assert_eq!(pause_before(9), Duration::from_millis(160));
        let timeout = DriverError::new(
            "d",
            DriverErrorKind::Link(LinkError::new(LinkErrorKind::Timeout, "p", "")),
        );
        let gone = DriverError::new(
            "d",
            DriverErrorKind::Link(LinkError::new(LinkErrorKind::Disconnected, "p", "")),
        );
        let refused = DriverError::new(
            "d",
            DriverErrorKind::InstrumentRefused { reply: "x".into() },
        );
        assert!(is_transient(&timeout));
        assert!(!is_transient(&gone) && !is_transient(&refused));
    }
}
