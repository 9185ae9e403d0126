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

pub use error::{LinkError, LinkErrorKind};
pub use serial::{FlowControl, Parity, SerialLink, SerialSettings};

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
