//! CAN bus errors: what went wrong on one bus, naming the bus.

use crate::link::LinkError;
use crate::protocol::slcan::SlcanError;

/// An error on a CAN bus or adapter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanError {
    /// Nothing arrived (or the adapter did not acknowledge) before the deadline.
    #[error("{bus}: no frame within {waited_ms} ms")]
    Timeout {
        /// The bus, as its backend describes it.
        bus: String,
        /// How long the caller waited.
        waited_ms: u128,
    },
    /// The adapter or interface is gone (unplugged, its port closed, the bus dropped).
    #[error("{bus}: the CAN adapter is gone")]
    Disconnected {
        /// The bus.
        bus: String,
        /// The link error that showed it, if any.
        #[source]
        source: Option<LinkError>,
    },
    /// The adapter sent a line the slcan protocol does not allow.
    #[error("{bus}: garbled line from the CAN adapter: `{line}`")]
    Garbled {
        /// The bus.
        bus: String,
        /// The line as received (lossy UTF-8, control bytes escaped).
        line: String,
        /// Why it does not parse.
        #[source]
        source: SlcanError,
    },
    /// The adapter answered a command with its error reply (BEL).
    #[error("{bus}: the CAN adapter refused {command}")]
    Refused {
        /// The bus.
        bus: String,
        /// What was refused (`open`, `bit rate 500 kbit/s`, `a frame`).
        command: String,
    },
    /// The backend cannot do this (an FD frame on a classic-only adapter, say).
    #[error("{bus}: {what} is not supported")]
    Unsupported {
        /// The bus.
        bus: String,
        /// What was asked.
        what: String,
    },
    /// The byte link to the adapter failed in another way.
    #[error("{bus}: the link to the CAN adapter failed")]
    Link {
        /// The bus.
        bus: String,
        /// The link's error.
        #[source]
        source: LinkError,
    },
    /// No network interface of that name (SocketCAN): the kernel has no such device.
    #[error("{bus}: no such CAN interface")]
    NoInterface {
        /// The bus.
        bus: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A socket error (SocketCAN).
    #[error("{bus}: input/output error")]
    Io {
        /// The bus.
        bus: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl CanError {
    /// Whether the call timed out (on a receive: the bus was quiet).
    pub fn is_timeout(&self) -> bool {
        matches!(self, CanError::Timeout { .. })
    }

    /// Whether the adapter is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, CanError::Disconnected { .. })
    }

    /// The bus the error happened on.
    pub fn bus(&self) -> &str {
        match self {
            CanError::Timeout { bus, .. }
            | CanError::Disconnected { bus, .. }
            | CanError::Garbled { bus, .. }
            | CanError::Refused { bus, .. }
            | CanError::Unsupported { bus, .. }
            | CanError::Link { bus, .. }
            | CanError::NoInterface { bus, .. }
            | CanError::Io { bus, .. } => bus,
        }
    }

    /// Maps a link error: a timeout stays a timeout, a lost port is a lost adapter.
    pub(crate) fn from_link(bus: &str, err: LinkError, waited: std::time::Duration) -> CanError {
        if err.is_timeout() {
            CanError::Timeout {
                bus: bus.to_string(),
                waited_ms: waited.as_millis(),
            }
        } else if err.is_disconnected() {
            CanError::Disconnected {
                bus: bus.to_string(),
                source: Some(err),
            }
        } else {
            CanError::Link {
                bus: bus.to_string(),
                source: err,
            }
        }
    }
}
