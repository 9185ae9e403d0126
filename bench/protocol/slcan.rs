//! The slcan (Lawicel) ASCII protocol of serial-line CAN adapters: pure encoders and parsers.
//!
//! The host sends one command per line, ended by `\r`: `O` open the channel, `L` open it
//! listen-only, `C` close it, `S0`..`S8` select a bit rate, `F` read the status flags, `V`
//! the version, `N` the serial number, `Z0`/`Z1` timestamps off/on, and frames: `tIIIL…`
//! (standard data), `TIIIIIIIIL…` (extended data), `rIIIL`/`RIIIIIIIIL` (remote), and the
//! CAN FD extensions `d`/`D` (FD without bit rate switch) and `b`/`B` (with), whose length
//! nibble is an FD DLC (0 to F).
//!
//! The adapter answers `\r` for success and BEL (`\x07`, with no `\r`) for an error; a
//! transmitted frame is acknowledged `z\r` (standard) or `Z\r` (extended), which some
//! adapters shorten to `\r`. Frames received from the bus arrive as the same `t`/`T`/`r`/
//! `R`/`d`/`D`/`b`/`B` lines, optionally followed by a 4-digit hex timestamp in ms.
//!
//! Lines here are passed without their `\r`. Every parser takes arbitrary bytes and returns
//! an error rather than panicking (checked with proptest).

use crate::can::frame::{CanFrame, CanId, FrameKind, fd_dlc, fd_len};
use std::fmt;

/// The BEL byte: the adapter's error answer.
pub const BEL: u8 = 0x07;
/// The carriage return ending every line.
pub const CR: u8 = b'\r';

/// The standard slcan bit rates, `S0` to `S8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitRate {
    /// 10 kbit/s (`S0`).
    K10,
    /// 20 kbit/s (`S1`).
    K20,
    /// 50 kbit/s (`S2`).
    K50,
    /// 100 kbit/s (`S3`).
    K100,
    /// 125 kbit/s (`S4`).
    K125,
    /// 250 kbit/s (`S5`).
    K250,
    /// 500 kbit/s (`S6`).
    K500,
    /// 800 kbit/s (`S7`).
    K800,
    /// 1 Mbit/s (`S8`).
    M1,
}

const RATES: [(BitRate, u32); 9] = [
    (BitRate::K10, 10_000),
    (BitRate::K20, 20_000),
    (BitRate::K50, 50_000),
    (BitRate::K100, 100_000),
    (BitRate::K125, 125_000),
    (BitRate::K250, 250_000),
    (BitRate::K500, 500_000),
    (BitRate::K800, 800_000),
    (BitRate::M1, 1_000_000),
];

impl BitRate {
    /// The bit rate of `bits_per_second`, if slcan has a code for it.
    pub fn from_bps(bits_per_second: u32) -> Option<BitRate> {
        RATES
            .iter()
            .find(|(_, bps)| *bps == bits_per_second)
            .map(|(r, _)| *r)
    }

    /// Bits per second.
    pub fn bps(self) -> u32 {
        RATES[self.code() as usize].1
    }

    /// The digit after `S` (0 to 8).
    pub fn code(self) -> u8 {
        RATES.iter().position(|(r, _)| *r == self).unwrap_or(0) as u8
    }

    /// The bit rate of the digit after `S`.
    pub fn from_code(code: u8) -> Option<BitRate> {
        RATES.get(usize::from(code)).map(|(r, _)| *r)
    }
}

impl fmt::Display for BitRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bps = self.bps();
        if bps >= 1_000_000 {
            write!(f, "{} Mbit/s", bps / 1_000_000)
        } else {
            write!(f, "{} kbit/s", bps / 1000)
        }
    }
}

/// A command from the host to the adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `O`: open the channel.
    Open,
    /// `L`: open the channel listen-only.
    ListenOnly,
    /// `C`: close the channel.
    Close,
    /// `Sn`: select a standard bit rate (only while closed).
    BitRate(BitRate),
    /// `F`: read the status flags.
    Status,
    /// `V`: read the hardware and software versions.
    Version,
    /// `N`: read the serial number.
    SerialNumber,
    /// `Z0`/`Z1`: timestamps on received frames off or on.
    Timestamps(bool),
    /// A frame to transmit.
    Transmit(CanFrame),
}

/// Status flags answered to `F` (one byte, two hex digits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StatusFlags(pub u8);

impl StatusFlags {
    /// Receive queue full (frames were lost).
    pub const RX_FULL: u8 = 0x01;
    /// Transmit queue full.
    pub const TX_FULL: u8 = 0x02;
    /// Error warning (an error counter passed 96).
    pub const ERROR_WARNING: u8 = 0x04;
    /// Data overrun.
    pub const OVERRUN: u8 = 0x08;
    /// Error passive (an error counter passed 127).
    pub const ERROR_PASSIVE: u8 = 0x20;
    /// Arbitration lost.
    pub const ARBITRATION_LOST: u8 = 0x40;
    /// Bus error.
    pub const BUS_ERROR: u8 = 0x80;

    /// The names of the flags set, for messages.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::RX_FULL, "receive queue full"),
            (Self::TX_FULL, "transmit queue full"),
            (Self::ERROR_WARNING, "error warning"),
            (Self::OVERRUN, "data overrun"),
            (Self::ERROR_PASSIVE, "error passive"),
            (Self::ARBITRATION_LOST, "arbitration lost"),
            (Self::BUS_ERROR, "bus error"),
        ]
        .iter()
        .filter(|(bit, _)| self.0 & bit != 0)
        .map(|(_, name)| *name)
        .collect()
    }

    /// Whether no flag is set.
    pub fn is_clear(self) -> bool {
        self.0 == 0
    }
}

/// One answer line from the adapter (without its `\r`; BEL is its own answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `\r`: the command succeeded (or, from some adapters, a frame was queued).
    Ok,
    /// BEL: the command failed.
    Error,
    /// `z` or `Z`: a standard or extended frame was queued for transmission.
    Transmitted {
        /// Whether it acknowledges an extended frame (`Z`).
        extended: bool,
    },
    /// A frame received from the bus, with its timestamp in ms if timestamps are on.
    Frame {
        /// The frame.
        frame: CanFrame,
        /// Milliseconds (0 to 59 999) when the adapter received it.
        timestamp: Option<u16>,
    },
    /// `Fxx`: the status flags.
    Status(StatusFlags),
    /// `Vhhss`: hardware and software versions, as the adapter writes them.
    Version(String),
    /// `Nxxxx`: the serial number.
    SerialNumber(String),
}

/// Why a line is not valid slcan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlcanError {
    /// An empty command line.
    #[error("empty line")]
    Empty,
    /// The first character names no command or frame.
    #[error("unknown command `{0}`")]
    UnknownCommand(char),
    /// A character that should be a hex digit is not.
    #[error("`{found}` at position {position} is not a hex digit")]
    NotHex {
        /// Position in the line.
        position: usize,
        /// The character found.
        found: char,
    },
    /// The line is shorter or longer than its identifier and length say.
    #[error("wrong length: {found} characters where {expected} were expected")]
    WrongLength {
        /// Characters expected.
        expected: String,
        /// Characters found.
        found: usize,
    },
    /// A field is out of range (an 11-bit identifier above 7FF, a DLC above 8).
    #[error("{0}")]
    OutOfRange(String),
}

/// Encodes a command as the adapter reads it, `\r` included.
pub fn encode_command(command: &Command) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    match command {
        Command::Open => out.push(b'O'),
        Command::ListenOnly => out.push(b'L'),
        Command::Close => out.push(b'C'),
        Command::BitRate(rate) => {
            out.push(b'S');
            out.push(b'0' + rate.code());
        }
        Command::Status => out.push(b'F'),
        Command::Version => out.push(b'V'),
        Command::SerialNumber => out.push(b'N'),
        Command::Timestamps(on) => out.extend_from_slice(if *on { b"Z1" } else { b"Z0" }),
        Command::Transmit(frame) => encode_frame_into(frame, None, &mut out),
    }
    out.push(CR);
    out
}

/// Encodes a reply as an adapter writes it: `\r`-terminated, or a lone BEL.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    match reply {
        Reply::Ok => {}
        Reply::Error => return vec![BEL],
        Reply::Transmitted { extended } => out.push(if *extended { b'Z' } else { b'z' }),
        Reply::Frame { frame, timestamp } => encode_frame_into(frame, *timestamp, &mut out),
        Reply::Status(flags) => {
            out.push(b'F');
            push_hex(&mut out, u32::from(flags.0), 2);
        }
        Reply::Version(v) => {
            out.push(b'V');
            out.extend_from_slice(v.as_bytes());
        }
        Reply::SerialNumber(n) => {
            out.push(b'N');
            out.extend_from_slice(n.as_bytes());
        }
    }
    out.push(CR);
    out
}

/// Appends a frame line (without `\r`) to `out`.
///
/// Error frames have no slcan form; they are written as the extended data frame of their
/// class bits, which only the simulator ever does.
pub fn encode_frame_into(frame: &CanFrame, timestamp: Option<u16>, out: &mut Vec<u8>) {
    let ext = frame.id().is_extended();
    let letter = match (frame.kind(), ext) {
        (FrameKind::Data | FrameKind::Error, false) => b't',
        (FrameKind::Data | FrameKind::Error, true) => b'T',
        (FrameKind::Remote, false) => b'r',
        (FrameKind::Remote, true) => b'R',
        (
            FrameKind::Fd {
                bit_rate_switch: false,
            },
            false,
        ) => b'd',
        (
            FrameKind::Fd {
                bit_rate_switch: false,
            },
            true,
        ) => b'D',
        (
            FrameKind::Fd {
                bit_rate_switch: true,
            },
            false,
        ) => b'b',
        (
            FrameKind::Fd {
                bit_rate_switch: true,
            },
            true,
        ) => b'B',
    };
    out.push(letter);
    push_hex(out, frame.id().raw(), if ext { 8 } else { 3 });
    let dlc = if frame.is_fd() {
        fd_dlc(frame.len()).unwrap_or(0)
    } else {
        frame.len() as u8
    };
    push_hex(out, u32::from(dlc), 1);
    for b in frame.data_bytes() {
        push_hex(out, u32::from(*b), 2);
    }
    if let Some(ts) = timestamp {
        push_hex(out, u32::from(ts), 4);
    }
}

fn push_hex(out: &mut Vec<u8>, value: u32, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (4 * i)) & 0xF) as usize]);
    }
}

/// Reads `digits` hex digits at `at`.
fn hex(line: &[u8], at: usize, digits: usize) -> Result<u32, SlcanError> {
    let mut v = 0u32;
    for i in at..at + digits {
        let c = *line.get(i).ok_or_else(|| SlcanError::WrongLength {
            expected: format!("at least {}", at + digits),
            found: line.len(),
        })?;
        let d = (c as char).to_digit(16).ok_or(SlcanError::NotHex {
            position: i,
            found: c as char,
        })?;
        v = (v << 4) | d;
    }
    Ok(v)
}

/// Parses a frame line (`t…`, `T…`, `r…`, `R…`, `d…`, `D…`, `b…`, `B…`), with an optional
/// 4-digit timestamp after the data.
pub fn parse_frame(line: &[u8]) -> Result<(CanFrame, Option<u16>), SlcanError> {
    let first = *line.first().ok_or(SlcanError::Empty)?;
    let (ext, kind) = match first {
        b't' => (false, FrameKind::Data),
        b'T' => (true, FrameKind::Data),
        b'r' => (false, FrameKind::Remote),
        b'R' => (true, FrameKind::Remote),
        b'd' => (
            false,
            FrameKind::Fd {
                bit_rate_switch: false,
            },
        ),
        b'D' => (
            true,
            FrameKind::Fd {
                bit_rate_switch: false,
            },
        ),
        b'b' => (
            false,
            FrameKind::Fd {
                bit_rate_switch: true,
            },
        ),
        b'B' => (
            true,
            FrameKind::Fd {
                bit_rate_switch: true,
            },
        ),
        other => return Err(SlcanError::UnknownCommand(other as char)),
    };
    let id_digits = if ext { 8 } else { 3 };
    let raw_id = hex(line, 1, id_digits)?;
    let id = if ext {
        CanId::extended(raw_id).map_err(|e| SlcanError::OutOfRange(e.to_string()))?
    } else {
        CanId::standard(raw_id as u16).map_err(|e| SlcanError::OutOfRange(e.to_string()))?
    };
    let dlc_at = 1 + id_digits;
    let dlc = hex(line, dlc_at, 1)? as u8;
    let len = match kind {
        FrameKind::Fd { .. } => fd_len(dlc).unwrap_or(0),
        _ if dlc > 8 => {
            return Err(SlcanError::OutOfRange(format!(
                "length {dlc} is above 8 for a classic frame"
            )));
        }
        _ => usize::from(dlc),
    };
    let data_chars = if kind == FrameKind::Remote {
        0
    } else {
        2 * len
    };
    let body = dlc_at + 1 + data_chars;
    let timestamp = match line.len() {
        n if n == body => None,
        n if n == body + 4 => Some(hex(line, body, 4)? as u16),
        n => {
            return Err(SlcanError::WrongLength {
                expected: format!("{body} or {}", body + 4),
                found: n,
            });
        }
    };
    let mut data = [0u8; 64];
    for (i, byte) in data.iter_mut().enumerate().take(data_chars / 2) {
        *byte = hex(line, dlc_at + 1 + 2 * i, 2)? as u8;
    }
    let frame = match kind {
        FrameKind::Remote => CanFrame::remote(id, len),
        FrameKind::Fd { bit_rate_switch } => CanFrame::fd(id, &data[..len], bit_rate_switch),
        _ => CanFrame::data(id, &data[..len]),
    }
    .map_err(|e| SlcanError::OutOfRange(e.to_string()))?;
    Ok((frame, timestamp))
}

/// Parses a command line as an adapter reads it (the simulated adapter's side).
pub fn parse_command(line: &[u8]) -> Result<Command, SlcanError> {
    let first = *line.first().ok_or(SlcanError::Empty)?;
    let exact = |cmd: Command, len: usize| {
        if line.len() == len {
            Ok(cmd)
        } else {
            Err(SlcanError::WrongLength {
                expected: len.to_string(),
                found: line.len(),
            })
        }
    };
    match first {
        b'O' => exact(Command::Open, 1),
        b'L' => exact(Command::ListenOnly, 1),
        b'C' => exact(Command::Close, 1),
        b'F' => exact(Command::Status, 1),
        b'V' => exact(Command::Version, 1),
        b'N' => exact(Command::SerialNumber, 1),
        b'S' => {
            let code = hex(line, 1, 1)? as u8;
            let rate = BitRate::from_code(code)
                .ok_or_else(|| SlcanError::OutOfRange(format!("bit rate code S{code}")))?;
            exact(Command::BitRate(rate), 2)
        }
        b'Z' if line.len() == 2 => match line[1] {
            b'0' => Ok(Command::Timestamps(false)),
            b'1' => Ok(Command::Timestamps(true)),
            c => Err(SlcanError::OutOfRange(format!(
                "timestamp setting `{}`",
                c as char
            ))),
        },
        _ => {
            let (frame, timestamp) = parse_frame(line)?;
            if timestamp.is_some() {
                return Err(SlcanError::WrongLength {
                    expected: "no timestamp on a transmitted frame".into(),
                    found: line.len(),
                });
            }
            Ok(Command::Transmit(frame))
        }
    }
}

/// Parses one answer line from the adapter (without its `\r`).
///
/// `z` and `Z` alone are transmit acknowledgements; a `Z` followed by hex digits is an
/// extended frame. A lone BEL is [`Reply::Error`].
pub fn parse_reply(line: &[u8]) -> Result<Reply, SlcanError> {
    let Some(&first) = line.first() else {
        return Ok(Reply::Ok);
    };
    match (first, line.len()) {
        (BEL, 1) => Ok(Reply::Error),
        (b'z', 1) => Ok(Reply::Transmitted { extended: false }),
        (b'Z', 1) => Ok(Reply::Transmitted { extended: true }),
        (b'F', 3) => Ok(Reply::Status(StatusFlags(hex(line, 1, 2)? as u8))),
        (b'V', _) | (b'N', _) => {
            let text: String = line[1..]
                .iter()
                .map(|&b| {
                    if b.is_ascii_alphanumeric() {
                        Ok(b as char)
                    } else {
                        Err(SlcanError::OutOfRange(format!(
                            "byte {b:#04X} in a version or serial number"
                        )))
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(if first == b'V' {
                Reply::Version(text)
            } else {
                Reply::SerialNumber(text)
            })
        }
        _ => {
            let (frame, timestamp) = parse_frame(line)?;
            Ok(Reply::Frame { frame, timestamp })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(text: &str) -> CanFrame {
        parse_frame(text.as_bytes()).unwrap().0
    }

    #[test]
    fn encodes_the_documented_lines() {
        let f = CanFrame::data(CanId::Standard(0x123), &[0x11, 0x22]).unwrap();
        assert_eq!(encode_command(&Command::Transmit(f)), b"t12321122\r");
        let f = CanFrame::remote(CanId::Extended(0x1234_5678), 4).unwrap();
        assert_eq!(encode_command(&Command::Transmit(f)), b"R123456784\r");
        assert_eq!(encode_command(&Command::BitRate(BitRate::K500)), b"S6\r");
        assert_eq!(encode_command(&Command::Open), b"O\r");
        assert_eq!(encode_reply(&Reply::Error), [BEL]);
        assert_eq!(encode_reply(&Reply::Status(StatusFlags(0x24))), b"F24\r");
        let fd = CanFrame::fd(CanId::Standard(0x10), &[0xAA; 12], true).unwrap();
        let mut line = Vec::new();
        encode_frame_into(&fd, None, &mut line);
        assert_eq!(&line[..5], b"b0109");
    }

    #[test]
    fn parses_frames_with_and_without_timestamps() {
        assert_eq!(frame("t7FF0").id(), CanId::Standard(0x7FF));
        let (f, ts) = parse_frame(b"t12321122EA60").unwrap();
        assert_eq!((f.data_bytes(), ts), (&[0x11, 0x22][..], Some(0xEA60)));
        assert!(frame("r1238").is_remote());
        assert_eq!(frame("T1FFFFFFF0").id(), CanId::Extended(0x1FFF_FFFF));
    }

    #[test]
    fn refuses_malformed_frames() {
        assert!(matches!(
            parse_frame(b"t8000"),
            Err(SlcanError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_frame(b"t1239"),
            Err(SlcanError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_frame(b"t123211"),
            Err(SlcanError::WrongLength { .. })
        ));
        assert!(matches!(
            parse_frame(b"t12G0"),
            Err(SlcanError::NotHex { position: 3, .. })
        ));
        assert!(matches!(
            parse_frame(b"T200000000"),
            Err(SlcanError::OutOfRange(_))
        ));
        assert_eq!(
            parse_frame(b"x").unwrap_err().to_string(),
            "unknown command `x`"
        );
    }

    #[test]
    fn parses_replies() {
        assert_eq!(parse_reply(b"").unwrap(), Reply::Ok);
        assert_eq!(parse_reply(&[BEL]).unwrap(), Reply::Error);
        assert_eq!(
            parse_reply(b"Z").unwrap(),
            Reply::Transmitted { extended: true }
        );
        assert_eq!(
            parse_reply(b"F80").unwrap(),
            Reply::Status(StatusFlags(0x80))
        );
        assert_eq!(
            parse_reply(b"V1013").unwrap(),
            Reply::Version("1013".into())
        );
        assert_eq!(
            StatusFlags(0x21).names(),
            ["receive queue full", "error passive"]
        );
    }

    #[test]
    fn parses_commands() {
        assert_eq!(parse_command(b"S8").unwrap(), Command::BitRate(BitRate::M1));
        assert!(parse_command(b"S9").is_err());
        assert!(parse_command(b"O1").is_err());
        assert_eq!(parse_command(b"Z1").unwrap(), Command::Timestamps(true));
        assert_eq!(BitRate::from_bps(125_000), Some(BitRate::K125));
        assert_eq!(BitRate::K800.to_string(), "800 kbit/s");
    }

    fn arb_frame() -> impl Strategy<Value = CanFrame> {
        let id = prop_oneof![
            (0u16..=0x7FF).prop_map(CanId::Standard),
            (0u32..=0x1FFF_FFFF).prop_map(CanId::Extended),
        ];
        (
            id,
            0u8..3,
            proptest::collection::vec(any::<u8>(), 0..=8),
            0usize..16,
            any::<bool>(),
        )
            .prop_map(|(id, kind, data, fd, brs)| match kind {
                0 => CanFrame::data(id, &data).unwrap(),
                1 => CanFrame::remote(id, data.len()).unwrap(),
                _ => {
                    let len = crate::can::frame::FD_LENGTHS[fd];
                    let mut bytes = data.clone();
                    bytes.resize(len, 0x5A);
                    CanFrame::fd(id, &bytes, brs).unwrap()
                }
            })
    }

    proptest! {
        #[test]
        fn frames_round_trip_as_commands(f in arb_frame()) {
            let line = encode_command(&Command::Transmit(f));
            prop_assert_eq!(line.last(), Some(&CR));
            prop_assert_eq!(parse_command(&line[..line.len() - 1]).unwrap(), Command::Transmit(f));
        }

        #[test]
        fn frames_round_trip_as_replies(f in arb_frame(), ts in proptest::option::of(0u16..60_000)) {
            let line = encode_reply(&Reply::Frame { frame: f, timestamp: ts });
            prop_assert_eq!(parse_reply(&line[..line.len() - 1]).unwrap(), Reply::Frame { frame: f, timestamp: ts });
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
            let _ = parse_reply(&bytes);
            let _ = parse_command(&bytes);
            let _ = parse_frame(&bytes);
        }

        #[test]
        fn near_valid_lines_never_panic(f in arb_frame(), cut in 0usize..40, junk in any::<u8>()) {
            let mut line = encode_command(&Command::Transmit(f));
            line.pop();
            let at = cut.min(line.len());
            line.insert(at, junk);
            let _ = parse_command(&line);
            line.truncate(at);
            let _ = parse_reply(&line);
        }
    }
}
