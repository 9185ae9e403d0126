//! Driver errors: what went wrong talking to one instrument.

use crate::link::LinkError;
use crate::units::UnitError;
use std::fmt;

/// An error from one driver, naming the driver.
#[derive(Debug)]
#[non_exhaustive]
pub struct DriverError {
    /// The driver's name (`imt-flowanalyser`).
    pub driver: String,
    /// What went wrong.
    pub kind: DriverErrorKind,
}

/// What went wrong in a driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverErrorKind {
    /// The link failed (timeout, disconnection, ...).
    #[error("the link failed")]
    Link(#[source] LinkError),
    /// The instrument answered something other than what the protocol expects.
    #[error("unexpected answer: expected {expected}, received `{received}`")]
    Protocol {
        /// What the driver expected, in words or as a pattern.
        expected: String,
        /// What came back (lossy UTF-8).
        received: String,
    },
    /// The instrument understood and refused (the analyzer's lone `?`, an `ERR` line).
    #[error("the instrument refused the request: `{reply}`")]
    InstrumentRefused {
        /// The instrument's answer.
        reply: String,
    },
    /// The instrument reports the quantity as not defined (sensor not working or not
    /// calibrated): an instrument error, never a number.
    #[error(
        "the instrument reports {quantity} as not defined (sensor not working or not calibrated)"
    )]
    NotDefined {
        /// The quantity read.
        quantity: String,
    },
    /// The driver does not offer this setting, action, quantity, event or driver name.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What was asked, and what is known.
        what: String,
    },
    /// A value cannot be used for a setting (a unit of another dimension).
    #[error("bad value for {name}")]
    BadValue {
        /// The setting.
        name: String,
        /// Why, with both units named (boxed: it is large and rare).
        #[source]
        source: Box<UnitError>,
    },
    /// A fixture option is unknown or its value is invalid.
    #[error("bad option `{option}`: {reason}")]
    BadOption {
        /// The option's name.
        option: String,
        /// What is wrong, naming the accepted values or options.
        reason: String,
    },
    /// A value is outside what the instrument accepts (a device profile's `min`/`max`); it was
    /// not sent.
    #[error("{name} = {value} is outside {range}")]
    OutOfRange {
        /// The setting.
        name: String,
        /// The value asked, with its unit.
        value: String,
        /// The accepted range, with units.
        range: String,
    },
    /// The awaited device event did not occur in time (the link itself worked).
    #[error("no {event} within {waited_ms} ms")]
    NoEvent {
        /// The event awaited (`breath`).
        event: String,
        /// How long the driver waited.
        waited_ms: u128,
    },
    /// The device sent an emergency message and its fixture says emergencies stop the run
    /// (`emcy: stop`).
    #[error("the device sent an emergency: {description}")]
    Emergency {
        /// The emergency, decoded.
        description: String,
    },
    /// No frame of a message a device sends came in time (a DBC-described device's status):
    /// the device is silent, or was never heard.
    #[error("no fresh `{message}` frame ({id}) within {waited_ms} ms: {}", last_seen(*last_seen_ms, *open_for_ms))]
    NoFreshMessage {
        /// The message (and its multiplexor page).
        message: String,
        /// Its identifier (`290h`).
        id: String,
        /// How long the driver waited for it.
        waited_ms: u64,
        /// How long ago it was last received, if ever.
        last_seen_ms: Option<u64>,
        /// How long the device had been open.
        open_for_ms: u64,
    },
}

/// When a message was last received, in words.
fn last_seen(last_seen_ms: Option<u64>, open_for_ms: u64) -> String {
    match last_seen_ms {
        Some(ms) => format!("the last one came {ms} ms ago"),
        None => format!("none received since the device was opened {open_for_ms} ms ago"),
    }
}

impl DriverError {
    /// An error of `kind` from `driver`.
    pub fn new(driver: impl Into<String>, kind: DriverErrorKind) -> Self {
        DriverError {
            driver: driver.into(),
            kind,
        }
    }

    /// The link error behind this one, if the link failed.
    pub fn link_error(&self) -> Option<&LinkError> {
        match &self.kind {
            DriverErrorKind::Link(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.driver, self.kind)
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The kind's message is already part of ours; its cause is the next link.
        std::error::Error::source(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::LinkErrorKind;
    use std::error::Error as _;

    #[test]
    fn message_names_the_driver_and_keeps_the_cause() {
        let link = LinkError::new(
            LinkErrorKind::Timeout,
            "/dev/pts/3",
            "no answer within 5 ms",
        );
        let err = DriverError::new("imt-flowanalyser", DriverErrorKind::Link(link));
        assert_eq!(err.to_string(), "imt-flowanalyser: the link failed");
        let cause = err.source().expect("a cause").to_string();
        assert!(cause.contains("timed out"), "{cause}");
        assert!(err.link_error().is_some_and(|e| e.is_timeout()));
    }
}
