//! Bus traffic logs in candump's log format (`candump -L`), recorded for a run and replayed.
//!
//! One frame per line: `(1700000000.123456) can0 123#DEADBEEF`. Identifiers of 3 hex digits
//! are standard, of 8 extended; `#R` (optionally followed by a length digit) is a remote
//! frame, `##F` followed by data an FD frame with flags nibble `F` (bit 0: bit rate switch);
//! an 8-digit identifier with bit 29 (`20000000h`, SocketCAN's error flag) is an error frame.
//!
//! [`Recorder`] wraps any bus and logs every frame sent and received; [`ReplayBus`] is a bus
//! that hands back the frames of a log, for re-running a decoder on recorded traffic.

use super::{CanBus, CanError, CanFrame, CanId, FrameKind};
use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// SocketCAN's error-frame flag in the identifier word.
const ERROR_FLAG: u32 = 0x2000_0000;

/// One logged frame.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
    /// The interface name as logged (`can0`, `slcan0`).
    pub interface: String,
    /// The frame.
    pub frame: CanFrame,
}

/// Why a log line cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("candump log line {line}: {reason}")]
pub struct CandumpError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// The log line of a frame (without a newline).
pub fn format_line(timestamp: f64, interface: &str, frame: &CanFrame) -> String {
    let mut out = format!("({timestamp:.6}) {interface} ");
    match (frame.kind(), frame.id()) {
        (FrameKind::Error, id) => out.push_str(&format!("{:08X}#", id.raw() | ERROR_FLAG)),
        (_, CanId::Standard(id)) => out.push_str(&format!("{id:03X}#")),
        (_, CanId::Extended(id)) => out.push_str(&format!("{id:08X}#")),
    }
    match frame.kind() {
        FrameKind::Remote => {
            out.push('R');
            if !frame.is_empty() {
                out.push_str(&frame.len().to_string());
            }
        }
        FrameKind::Fd { bit_rate_switch } => {
            out.push_str(&format!("#{}", u8::from(bit_rate_switch)));
        }
        _ => {}
    }
    if !frame.is_remote() {
        for b in frame.data_bytes() {
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

fn parse_hex_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Parses one log line.
pub fn parse_line(text: &str, line: usize) -> Result<LogEntry, CandumpError> {
    let bad = |reason: &str| CandumpError {
        line,
        reason: reason.to_string(),
    };
    let mut parts = text.split_whitespace();
    let stamp = parts.next().ok_or_else(|| bad("empty line"))?;
    let timestamp: f64 = stamp
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.parse().ok())
        .filter(|t: &f64| t.is_finite())
        .ok_or_else(|| bad("expected a timestamp such as (1700000000.000000)"))?;
    let interface = parts.next().ok_or_else(|| bad("missing interface"))?;
    let body = parts.next().ok_or_else(|| bad("missing frame"))?;
    if parts.next().is_some() {
        return Err(bad("unexpected text after the frame"));
    }
    let (id_text, rest) = body.split_once('#').ok_or_else(|| bad("missing `#`"))?;
    let raw = u32::from_str_radix(id_text, 16).map_err(|_| bad("identifier is not hex"))?;
    let frame_err = |e: super::FrameError| bad(&e.to_string());
    let frame = match id_text.len() {
        8 if raw & ERROR_FLAG != 0 => {
            let data = parse_hex_bytes(rest).ok_or_else(|| bad("data is not hex"))?;
            let mut d = [0u8; 8];
            let n = data.len().min(8);
            d[..n].copy_from_slice(&data[..n]);
            CanFrame::error(raw & !ERROR_FLAG, d)
        }
        3 | 8 => {
            let id = if id_text.len() == 3 {
                CanId::standard(raw as u16).map_err(frame_err)?
            } else {
                CanId::extended(raw).map_err(frame_err)?
            };
            if let Some(dlc) = rest.strip_prefix('R') {
                let dlc = if dlc.is_empty() {
                    0
                } else {
                    dlc.parse().map_err(|_| bad("bad remote length"))?
                };
                CanFrame::remote(id, dlc).map_err(frame_err)?
            } else if let Some(fd) = rest.strip_prefix('#') {
                let mut chars = fd.chars();
                let flags = chars
                    .next()
                    .and_then(|c| c.to_digit(16))
                    .ok_or_else(|| bad("missing FD flags"))?;
                let data = parse_hex_bytes(chars.as_str()).ok_or_else(|| bad("data is not hex"))?;
                CanFrame::fd(id, &data, flags & 1 == 1).map_err(frame_err)?
            } else {
                let data = parse_hex_bytes(rest).ok_or_else(|| bad("data is not hex"))?;
                CanFrame::data(id, &data).map_err(frame_err)?
            }
        }
        _ => return Err(bad("identifier must have 3 or 8 hex digits")),
    };
    Ok(LogEntry {
        timestamp,
        interface: interface.to_string(),
        frame,
    })
}

/// Reads a whole log; blank lines and `#` comments are skipped.
pub fn read_log(text: &str) -> Result<Vec<LogEntry>, CandumpError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with("# "))
        .map(|(i, l)| parse_line(l, i + 1))
        .collect()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A bus that logs every frame it sends and receives, in candump format.
pub struct Recorder<B: CanBus> {
    bus: B,
    interface: String,
    out: Box<dyn Write + Send>,
    /// The first write error, kept so that logging never breaks the bus.
    error: Option<std::io::Error>,
}

impl<B: CanBus> Recorder<B> {
    /// Wraps `bus`, logging as `interface` to `out`.
    pub fn new(bus: B, interface: impl Into<String>, out: Box<dyn Write + Send>) -> Recorder<B> {
        Recorder {
            bus,
            interface: interface.into(),
            out,
            error: None,
        }
    }

    fn log(&mut self, frame: &CanFrame) {
        if self.error.is_some() {
            return;
        }
        let line = format_line(now(), &self.interface, frame);
        if let Err(e) = writeln!(self.out, "{line}") {
            self.error = Some(e);
        }
    }

    /// The first error writing the log, if any (the bus kept working regardless).
    pub fn log_error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }

    /// Flushes the log and gives the bus back.
    pub fn finish(mut self) -> Result<B, std::io::Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.bus)
    }
}

impl<B: CanBus> CanBus for Recorder<B> {
    fn send(&mut self, frame: &CanFrame, timeout: Duration) -> Result<(), CanError> {
        self.bus.send(frame, timeout)?;
        self.log(frame);
        Ok(())
    }

    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        let frame = self.bus.receive(timeout)?;
        self.log(&frame);
        Ok(frame)
    }

    fn describe(&self) -> String {
        format!("{} (recorded)", self.bus.describe())
    }
}

/// A bus replaying a log: `receive` hands back the logged frames in order (without their
/// timing), `send` is accepted and kept for inspection.
pub struct ReplayBus {
    frames: VecDeque<CanFrame>,
    sent: Vec<CanFrame>,
    name: String,
}

impl ReplayBus {
    /// A bus replaying `entries`.
    pub fn new(entries: &[LogEntry], name: impl Into<String>) -> ReplayBus {
        ReplayBus {
            frames: entries.iter().map(|e| e.frame).collect(),
            sent: Vec::new(),
            name: name.into(),
        }
    }

    /// Frames sent to the replay, in order.
    pub fn sent(&self) -> &[CanFrame] {
        &self.sent
    }
}

impl CanBus for ReplayBus {
    fn send(&mut self, frame: &CanFrame, _timeout: Duration) -> Result<(), CanError> {
        self.sent.push(*frame);
        Ok(())
    }

    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        self.frames.pop_front().ok_or_else(|| CanError::Timeout {
            bus: self.name.clone(),
            waited_ms: timeout.as_millis(),
        })
    }

    fn describe(&self) -> String {
        format!("replay of {}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::memory::MemoryBus;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn formats_and_parses_each_kind() {
        let frames = [
            CanFrame::data(CanId::Standard(0x123), &[0xDE, 0xAD]).unwrap(),
            CanFrame::data(CanId::Extended(0x1ABCDEF), &[]).unwrap(),
            CanFrame::remote(CanId::Standard(0x7FF), 3).unwrap(),
            CanFrame::fd(CanId::Standard(1), &[7; 12], true).unwrap(),
            CanFrame::error(0x04, [0, 4, 0, 0, 0, 0, 0, 0]),
        ];
        let lines = [
            "(1.500000) can0 123#DEAD",
            "(1.500000) can0 01ABCDEF#",
            "(1.500000) can0 7FF#R3",
            "(1.500000) can0 001##1070707070707070707070707",
            "(1.500000) can0 20000004#0004000000000000",
        ];
        for (f, l) in frames.iter().zip(lines) {
            assert_eq!(format_line(1.5, "can0", f), l);
            assert_eq!(parse_line(l, 1).unwrap().frame, *f);
        }
        let err = parse_line("(1.0) can0 12#00", 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "candump log line 4: identifier must have 3 or 8 hex digits"
        );
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_then_replays_the_traffic() {
        let bus = MemoryBus::new("rec");
        let mut peer = bus.endpoint();
        let log = Shared::default();
        let mut rec = Recorder::new(bus.endpoint(), "sim0", Box::new(log.clone()));
        let t = Duration::from_millis(100);
        let a = CanFrame::data(CanId::Standard(0x601), &[0x40, 0, 0x10, 0, 0, 0, 0, 0]).unwrap();
        let b = CanFrame::data(CanId::Standard(0x581), &[0x4F, 0, 0x10, 0, 1, 0, 0, 0]).unwrap();
        rec.send(&a, t).unwrap();
        peer.send(&b, t).unwrap();
        assert_eq!(rec.receive(t).unwrap(), b);
        rec.finish().unwrap();
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        let entries = read_log(&text).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].interface, "sim0");
        let mut replay = ReplayBus::new(&entries, "run log");
        assert_eq!(replay.receive(t).unwrap(), a);
        assert_eq!(replay.receive(t).unwrap(), b);
        assert!(replay.receive(t).unwrap_err().is_timeout());
    }

    proptest! {
        #[test]
        fn arbitrary_lines_never_panic(s in "\\PC{0,60}") {
            let _ = parse_line(&s, 1);
        }

        #[test]
        fn data_frames_round_trip(id in 0u16..=0x7FF, data in proptest::collection::vec(any::<u8>(), 0..=8), t in 0.0f64..2e9) {
            let f = CanFrame::data(CanId::Standard(id), &data).unwrap();
            let e = parse_line(&format_line(t, "can0", &f), 1).unwrap();
            prop_assert_eq!(e.frame, f);
            prop_assert!((e.timestamp - t).abs() < 1e-5);
        }
    }
}
