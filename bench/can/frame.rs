//! CAN frames (classic, remote, error and FD) and the [`CanBus`] trait every backend implements.

use super::CanError;
use std::fmt;
use std::time::Duration;

/// Largest 11-bit identifier.
pub const STANDARD_ID_MAX: u16 = 0x7FF;
/// Largest 29-bit identifier.
pub const EXTENDED_ID_MAX: u32 = 0x1FFF_FFFF;
/// Data bytes of a classic frame, at most.
pub const CLASSIC_MAX_LEN: usize = 8;
/// Data bytes of an FD frame, at most.
pub const FD_MAX_LEN: usize = 64;
/// The data lengths an FD frame may have: 0 to 8, then the DLC steps 12 to 64.
pub const FD_LENGTHS: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/// A CAN identifier: 11-bit standard or 29-bit extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CanId {
    /// An 11-bit identifier (0 to 0x7FF).
    Standard(u16),
    /// A 29-bit identifier (0 to 0x1FFF_FFFF).
    Extended(u32),
}

impl CanId {
    /// A standard identifier, if `id` fits in 11 bits.
    pub fn standard(id: u16) -> Result<CanId, FrameError> {
        if id <= STANDARD_ID_MAX {
            Ok(CanId::Standard(id))
        } else {
            Err(FrameError::IdOutOfRange {
                id: u32::from(id),
                extended: false,
            })
        }
    }

    /// An extended identifier, if `id` fits in 29 bits.
    pub fn extended(id: u32) -> Result<CanId, FrameError> {
        if id <= EXTENDED_ID_MAX {
            Ok(CanId::Extended(id))
        } else {
            Err(FrameError::IdOutOfRange { id, extended: true })
        }
    }

    /// The identifier's number, without any format flag.
    pub fn raw(self) -> u32 {
        match self {
            CanId::Standard(id) => u32::from(id),
            CanId::Extended(id) => id,
        }
    }

    /// Whether this is a 29-bit identifier.
    pub fn is_extended(self) -> bool {
        matches!(self, CanId::Extended(_))
    }
}

impl fmt::Display for CanId {
    /// Three hex digits for a standard identifier, eight for an extended one (candump style).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanId::Standard(id) => write!(f, "{id:03X}"),
            CanId::Extended(id) => write!(f, "{id:08X}"),
        }
    }
}

/// What kind of frame a [`CanFrame`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A classic data frame, 0 to 8 data bytes.
    Data,
    /// A classic remote (request) frame: a DLC and no data.
    Remote,
    /// A CAN FD data frame, up to 64 bytes; `bit_rate_switch` is the BRS flag.
    Fd {
        /// Whether the data phase uses the faster bit rate.
        bit_rate_switch: bool,
    },
    /// An error frame as a controller reports it: the identifier carries the error class
    /// bits (SocketCAN's `CAN_ERR_*` classes) and the data the details.
    Error,
}

/// Why a frame cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The identifier does not fit its format.
    #[error("identifier {id:#X} does not fit in {} bits", if *extended { 29 } else { 11 })]
    IdOutOfRange {
        /// The identifier asked for.
        id: u32,
        /// Whether a 29-bit identifier was asked for.
        extended: bool,
    },
    /// Too many data bytes for the frame kind.
    #[error("{len} data bytes is more than the {max} a {kind} frame carries")]
    TooLong {
        /// Bytes given.
        len: usize,
        /// Bytes allowed.
        max: usize,
        /// `classic`, `remote` or `fd`.
        kind: &'static str,
    },
    /// An FD frame length that no DLC encodes.
    #[error("{len} data bytes is not a CAN FD length (0 to 8, 12, 16, 20, 24, 32, 48 or 64)")]
    BadFdLength {
        /// Bytes given.
        len: usize,
    },
}

/// One CAN frame. Copyable and allocation-free, so buses move frames without the heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CanFrame {
    id: CanId,
    kind: FrameKind,
    len: u8,
    data: [u8; FD_MAX_LEN],
}

impl CanFrame {
    /// A classic data frame with up to 8 bytes.
    pub fn data(id: CanId, data: &[u8]) -> Result<CanFrame, FrameError> {
        if data.len() > CLASSIC_MAX_LEN {
            return Err(FrameError::TooLong {
                len: data.len(),
                max: CLASSIC_MAX_LEN,
                kind: "classic",
            });
        }
        Ok(CanFrame::raw(id, FrameKind::Data, data, data.len()))
    }

    /// A remote frame asking for `dlc` bytes (0 to 8).
    pub fn remote(id: CanId, dlc: usize) -> Result<CanFrame, FrameError> {
        if dlc > CLASSIC_MAX_LEN {
            return Err(FrameError::TooLong {
                len: dlc,
                max: CLASSIC_MAX_LEN,
                kind: "remote",
            });
        }
        Ok(CanFrame::raw(id, FrameKind::Remote, &[], dlc))
    }

    /// A CAN FD frame; the length must be one a DLC encodes ([`FD_LENGTHS`]).
    pub fn fd(id: CanId, data: &[u8], bit_rate_switch: bool) -> Result<CanFrame, FrameError> {
        if data.len() > FD_MAX_LEN {
            return Err(FrameError::TooLong {
                len: data.len(),
                max: FD_MAX_LEN,
                kind: "fd",
            });
        }
        if !FD_LENGTHS.contains(&data.len()) {
            return Err(FrameError::BadFdLength { len: data.len() });
        }
        Ok(CanFrame::raw(
            id,
            FrameKind::Fd { bit_rate_switch },
            data,
            data.len(),
        ))
    }

    /// An error frame: `class` is the error class bit mask (29 bits at most), `data` the
    /// controller's 8 detail bytes.
    pub fn error(class: u32, data: [u8; 8]) -> CanFrame {
        CanFrame::raw(
            CanId::Extended(class & EXTENDED_ID_MAX),
            FrameKind::Error,
            &data,
            8,
        )
    }

    /// A classic data frame from at most 8 bytes (more are cut), for codecs whose frames
    /// are fixed-size by construction.
    pub(crate) fn raw_classic(id: CanId, data: &[u8]) -> CanFrame {
        let data = &data[..data.len().min(CLASSIC_MAX_LEN)];
        CanFrame::raw(id, FrameKind::Data, data, data.len())
    }

    fn raw(id: CanId, kind: FrameKind, data: &[u8], len: usize) -> CanFrame {
        let mut bytes = [0u8; FD_MAX_LEN];
        bytes[..data.len()].copy_from_slice(data);
        CanFrame {
            id,
            kind,
            // Every constructor bounds `len` to 64.
            len: len as u8,
            data: bytes,
        }
    }

    /// The identifier (for an error frame, its error class bits).
    pub fn id(&self) -> CanId {
        self.id
    }

    /// The frame's kind.
    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// The data bytes (empty for a remote frame).
    pub fn data_bytes(&self) -> &[u8] {
        match self.kind {
            FrameKind::Remote => &[],
            _ => &self.data[..usize::from(self.len)],
        }
    }

    /// The data length: the number of data bytes, or the requested length of a remote frame.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the frame has no data bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether this is a remote frame.
    pub fn is_remote(&self) -> bool {
        self.kind == FrameKind::Remote
    }

    /// Whether this is an error frame.
    pub fn is_error(&self) -> bool {
        self.kind == FrameKind::Error
    }

    /// Whether this is a CAN FD frame.
    pub fn is_fd(&self) -> bool {
        matches!(self.kind, FrameKind::Fd { .. })
    }
}

/// The DLC nibble that encodes an FD length, if the length is one of [`FD_LENGTHS`].
pub fn fd_dlc(len: usize) -> Option<u8> {
    FD_LENGTHS.iter().position(|&l| l == len).map(|p| p as u8)
}

/// The length an FD DLC nibble encodes (0 to 15).
pub fn fd_len(dlc: u8) -> Option<usize> {
    FD_LENGTHS.get(usize::from(dlc)).copied()
}

impl fmt::Debug for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CanFrame({self})")
    }
}

impl fmt::Display for CanFrame {
    /// The frame in candump's compact form: `123#DEADBEEF`, `123#R2`, `123##1AABB` (FD with
    /// its flags nibble), or `20000004#0000...` for an error frame (candump shows the
    /// error flag in the identifier; here the kind is named after the frame).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#", self.id)?;
        match self.kind {
            FrameKind::Remote => return write!(f, "R{}", self.len),
            FrameKind::Fd { bit_rate_switch } => write!(f, "#{}", u8::from(bit_rate_switch))?,
            FrameKind::Data | FrameKind::Error => {}
        }
        for b in self.data_bytes() {
            write!(f, "{b:02X}")?;
        }
        if self.kind == FrameKind::Error {
            f.write_str(" (error frame)")?;
        }
        Ok(())
    }
}

/// A CAN bus as seen from one node: frames out, frames in, each with a deadline.
///
/// Every call blocks at most its timeout. A receive that times out is not a failure of the
/// bus (a quiet bus is normal); callers tell it apart with [`CanError::is_timeout`].
pub trait CanBus: Send {
    /// Queues `frame` for transmission, waiting at most `timeout` for room or for the
    /// adapter's acknowledgement.
    fn send(&mut self, frame: &CanFrame, timeout: Duration) -> Result<(), CanError>;

    /// The next frame received from the bus, waiting at most `timeout`.
    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError>;

    /// A short description for messages (`slcan on /dev/ttyACM0 @ 500 kbit/s`).
    fn describe(&self) -> String;
}

impl<B: CanBus + ?Sized> CanBus for Box<B> {
    fn send(&mut self, frame: &CanFrame, timeout: Duration) -> Result<(), CanError> {
        (**self).send(frame, timeout)
    }
    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        (**self).receive(timeout)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_bounded() {
        assert!(CanId::standard(0x7FF).is_ok());
        assert_eq!(
            CanId::standard(0x800).unwrap_err().to_string(),
            "identifier 0x800 does not fit in 11 bits"
        );
        assert!(CanId::extended(0x1FFF_FFFF).is_ok());
        assert!(CanId::extended(0x2000_0000).is_err());
    }

    #[test]
    fn lengths_are_checked_per_kind() {
        let id = CanId::Standard(0x123);
        assert!(CanFrame::data(id, &[0; 9]).is_err());
        assert!(CanFrame::remote(id, 9).is_err());
        assert!(CanFrame::fd(id, &[0; 12], false).is_ok());
        assert!(matches!(
            CanFrame::fd(id, &[0; 10], false),
            Err(FrameError::BadFdLength { len: 10 })
        ));
        assert!(CanFrame::fd(id, &[0; 65], false).is_err());
        let r = CanFrame::remote(id, 3).unwrap();
        assert_eq!((r.len(), r.data_bytes()), (3, &[][..]));
    }

    #[test]
    fn displays_like_candump() {
        let f = CanFrame::data(CanId::Standard(0x123), &[0xDE, 0xAD]).unwrap();
        assert_eq!(f.to_string(), "123#DEAD");
        let r = CanFrame::remote(CanId::Extended(0x1ABCDEF), 2).unwrap();
        assert_eq!(r.to_string(), "01ABCDEF#R2");
        let fd = CanFrame::fd(CanId::Standard(1), &[1, 2], true).unwrap();
        assert_eq!(fd.to_string(), "001##10102");
    }

    #[test]
    fn fd_dlc_round_trips() {
        for (dlc, len) in FD_LENGTHS.iter().enumerate() {
            assert_eq!(fd_dlc(*len), Some(dlc as u8));
            assert_eq!(fd_len(dlc as u8), Some(*len));
        }
        assert_eq!(fd_dlc(9), None);
        assert_eq!(fd_len(16), None);
    }
}
