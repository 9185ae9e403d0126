//! Links: byte streams between qbench and an instrument.
//!
//! A [`ByteLink`] carries bytes to and from one instrument and nothing else: it knows no
//! protocol, no units and no verdicts. Every read takes a deadline, so no caller can hang on
//! a silent device. Drivers are handed a link already open; only [`open`] (the registry of
//! link kinds) knows how a fixture's link settings become a link.
//!
//! Operating-system errors are mapped into the few [`LinkErrorKind`]s a caller can act on
//! (timeout, disconnected, busy, bad settings) in one place, `error.rs`.

mod error;
mod serial;
mod tcp;
pub(crate) mod tty;

pub use error::{LinkError, LinkErrorKind};
pub use serial::{FlowControl, Parity, SerialLink, SerialSettings};
pub use tcp::{TcpLink, TcpSettings};

use serde::{Deserialize, Serialize};

use std::time::Duration;

/// A byte stream to one instrument, with a timeout on every read.
pub trait ByteLink: Send {
    /// Writes all of `bytes` and flushes them towards the instrument.
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError>;

    /// Reads bytes up to and including `terminator`, waiting at most `timeout` in all.
    ///
    /// Returns the bytes without the terminator. Bytes read after the terminator stay
    /// buffered for the next call.
    fn receive_until(&mut self, terminator: u8, timeout: Duration) -> Result<Vec<u8>, LinkError>;

    /// Reads exactly `count` bytes, waiting at most `timeout` in all (binary protocols such
    /// as Modbus RTU, whose frames have no terminator).
    ///
    /// Bytes beyond `count` stay buffered for the next call. Links that cannot carry binary
    /// frames keep this default, which refuses with `BadSettings`.
    fn receive_exact(&mut self, count: usize, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let _ = (count, timeout);
        Err(LinkError::new(
            LinkErrorKind::BadSettings,
            self.describe(),
            "this link cannot read fixed-length binary frames",
        ))
    }

    /// Discards any bytes already received and not yet consumed (stale answers, garbage).
    fn discard_input(&mut self) -> Result<(), LinkError>;

    /// A short description of the far end for messages (`/dev/ttyUSB0 @ 19200 8N1`).
    fn describe(&self) -> String;

    /// How long a driver should wait for each answer on this link, as the fixture set it.
    fn command_timeout(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// Opens the link a fixture describes.
pub fn open(settings: &SerialSettings) -> Result<Box<dyn ByteLink>, LinkError> {
    Ok(Box::new(SerialLink::open(settings)?))
}

/// Any byte-stream link a fixture can describe: `serial: {...}` or `tcp: {...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum LinkSettings {
    /// A serial port or pseudo-terminal.
    Serial(SerialSettings),
    /// A raw TCP socket (an instrument's Ethernet port, a serial device server).
    Tcp(TcpSettings),
}

impl LinkSettings {
    /// A short description of the far end (`/dev/ttyUSB0 @ 19200 8N1`, `tcp://host:4001`).
    pub fn describe(&self) -> String {
        match self {
            LinkSettings::Serial(s) => s.describe(),
            LinkSettings::Tcp(t) => t.describe(),
        }
    }

    /// The per-answer timeout the fixture set.
    pub fn timeout(&self) -> Duration {
        match self {
            LinkSettings::Serial(s) => s.timeout(),
            LinkSettings::Tcp(t) => t.timeout(),
        }
    }
}

/// Opens any link a fixture describes.
pub fn open_link(settings: &LinkSettings) -> Result<Box<dyn ByteLink>, LinkError> {
    match settings {
        LinkSettings::Serial(s) => Ok(Box::new(SerialLink::open(s)?)),
        LinkSettings::Tcp(t) => Ok(Box::new(TcpLink::open(t)?)),
    }
}
