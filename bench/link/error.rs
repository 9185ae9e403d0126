//! Link errors, and the one place where operating-system and serialport errors become them.

use std::fmt;
use std::io;

/// What went wrong on a link, in the few kinds a caller can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkErrorKind {
    /// The far end did not complete an answer before the deadline.
    Timeout,
    /// The far end is gone: the port vanished, the cable was pulled, the pty's master closed.
    Disconnected,
    /// The port exists but another program holds it.
    Busy,
    /// The settings cannot be applied to this port (an unsupported baud rate, say).
    BadSettings,
    /// Any other input/output error.
    Io,
}

impl fmt::Display for LinkErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkErrorKind::Timeout => "timed out",
            LinkErrorKind::Disconnected => "disconnected",
            LinkErrorKind::Busy => "busy (held by another program)",
            LinkErrorKind::BadSettings => "bad settings",
            LinkErrorKind::Io => "input/output error",
        })
    }
}

/// An error on one link, naming the port it happened on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub struct LinkError {
    /// What went wrong.
    pub kind: LinkErrorKind,
    /// The port, as [`ByteLink::describe`](super::ByteLink::describe) names it.
    pub port: String,
    /// Context in a few words (`no complete answer within 200 ms`); may be empty.
    pub detail: String,
    /// The operating-system error behind it, if any.
    #[source]
    pub source: Option<io::Error>,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.port, self.kind)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl LinkError {
    /// A link error without an underlying operating-system error.
    pub fn new(kind: LinkErrorKind, port: impl Into<String>, detail: impl Into<String>) -> Self {
        LinkError {
            kind,
            port: port.into(),
            detail: detail.into(),
            source: None,
        }
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == LinkErrorKind::Timeout
    }

    /// Whether the far end is gone.
    pub fn is_disconnected(&self) -> bool {
        self.kind == LinkErrorKind::Disconnected
    }

    /// Maps an error from reading or writing an open port.
    ///
    /// serialport reports a hang-up seen by `poll` as `BrokenPipe`. A read on a pty slave
    /// whose master has closed fails with EIO, which serialport passes on as an `Other` error
    /// carrying only the errno's description; that text is the only way to tell it apart, so
    /// it is matched here and nowhere else.
    pub(crate) fn from_io(err: io::Error, port: &str, doing: &str) -> Self {
        use io::ErrorKind as K;
        let kind = match err.kind() {
            K::TimedOut | K::WouldBlock => LinkErrorKind::Timeout,
            K::BrokenPipe
            | K::UnexpectedEof
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::NotFound => LinkErrorKind::Disconnected,
            K::Other if is_eio(&err) => LinkErrorKind::Disconnected,
            K::InvalidInput => LinkErrorKind::BadSettings,
            _ => LinkErrorKind::Io,
        };
        LinkError {
            kind,
            port: port.to_string(),
            detail: doing.to_string(),
            source: Some(err),
        }
    }

    /// Maps an error from opening or configuring a port.
    pub(crate) fn from_serialport(err: serialport::Error, port: &str, doing: &str) -> Self {
        use serialport::ErrorKind as K;
        let kind = match err.kind {
            // serialport reports EBUSY (TIOCEXCL or flock refused) as NoDevice.
            K::NoDevice => LinkErrorKind::Busy,
            K::InvalidInput => LinkErrorKind::BadSettings,
            K::Io(io::ErrorKind::NotFound) => LinkErrorKind::Disconnected,
            K::Io(io::ErrorKind::PermissionDenied) => LinkErrorKind::Busy,
            K::Io(io::ErrorKind::TimedOut) => LinkErrorKind::Timeout,
            K::Io(_) | K::Unknown => LinkErrorKind::Io,
        };
        LinkError {
            kind,
            port: port.to_string(),
            detail: doing.to_string(),
            source: Some(io::Error::from(err)),
        }
    }
}

/// Whether an `Other` error is serialport's rendering of EIO ("I/O error").
fn is_eio(err: &io::Error) -> bool {
    err.raw_os_error() == Some(5) || err.to_string() == "I/O error"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_hangups_and_timeouts() {
        let e = LinkError::from_io(
            io::Error::new(io::ErrorKind::BrokenPipe, "x"),
            "p",
            "reading",
        );
        assert_eq!(e.kind, LinkErrorKind::Disconnected);
        let e = LinkError::from_io(io::Error::other("I/O error"), "p", "reading");
        assert_eq!(e.kind, LinkErrorKind::Disconnected);
        let e = LinkError::from_io(io::Error::new(io::ErrorKind::TimedOut, "t"), "p", "reading");
        assert!(e.is_timeout());
        let e = LinkError::from_io(io::Error::other("weird"), "p", "reading");
        assert_eq!(e.kind, LinkErrorKind::Io);
    }

    #[test]
    fn maps_open_errors() {
        let busy = serialport::Error::new(serialport::ErrorKind::NoDevice, "busy");
        assert_eq!(
            LinkError::from_serialport(busy, "p", "opening").kind,
            LinkErrorKind::Busy
        );
        let bad = serialport::Error::new(serialport::ErrorKind::InvalidInput, "baud");
        assert_eq!(
            LinkError::from_serialport(bad, "p", "opening").kind,
            LinkErrorKind::BadSettings
        );
    }

    #[test]
    fn message_is_lowercase_and_names_the_port() {
        let e = LinkError::new(
            LinkErrorKind::Timeout,
            "/dev/pts/9",
            "no answer within 5 ms",
        );
        assert_eq!(
            e.to_string(),
            "/dev/pts/9: timed out (no answer within 5 ms)"
        );
    }
}
