//! A CAN bus through a serial-line adapter speaking slcan (CANable, USBtin, Lawicel CANUSB).
//!
//! [`SlcanBus::open`] closes any channel left open, selects the bit rate and opens the
//! channel. Transmitted frames are pipelined: up to [`WINDOW`] frames may await the adapter's
//! `z`/`Z` acknowledgement at once, so throughput is not bound by one round trip per frame;
//! a refused frame (BEL) is reported by the next call that sees it. Frames received while
//! waiting for an answer are queued, never dropped.
//!
//! A BEL has no `\r` after it, so answers are read up to `\r` in slices of at most
//! [`BEL_SLICE`]; after each quiet slice, a lone BEL already received is looked for. A line
//! that is not valid slcan is [`CanError::Garbled`]; a port that vanishes is
//! [`CanError::Disconnected`].

use super::{CanBus, CanError, CanFrame};
use crate::link::ByteLink;
use crate::protocol::slcan::{
    self, BEL, BitRate, CR, Command, Reply, SlcanError, StatusFlags, encode_command,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long [`SlcanBus::open`] lets an adapter settle before it discards what it sent: long
/// enough for a USB adapter to answer a command already in its queue.
const SETTLE: Duration = Duration::from_millis(20);

/// The most transmitted frames awaiting the adapter's acknowledgement at once.
pub const WINDOW: usize = 32;

/// How long a wait for `\r` lasts before looking for a lone BEL.
pub const BEL_SLICE: Duration = Duration::from_millis(10);

/// How to open the adapter's channel, as a fixture states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlcanSettings {
    /// Bit rate in bit/s: one of 10 k, 20 k, 50 k, 100 k, 125 k, 250 k, 500 k, 800 k, 1 M
    /// (500 000 unless stated).
    pub bit_rate: u32,
    /// Open the channel listen-only (`L`): receive without ever acknowledging on the bus.
    pub listen_only: bool,
    /// Whether the adapter acknowledges each transmitted frame (`z`/`Z`, or `\r`); true for
    /// Lawicel-compatible adapters. Some firmwares stay silent, which this turns off.
    pub transmit_acknowledged: bool,
}

impl Default for SlcanSettings {
    fn default() -> Self {
        SlcanSettings {
            bit_rate: 500_000,
            listen_only: false,
            transmit_acknowledged: true,
        }
    }
}

/// A CAN bus through an slcan adapter on a byte link.
pub struct SlcanBus {
    link: Box<dyn ByteLink>,
    name: String,
    received: VecDeque<CanFrame>,
    lines: VecDeque<Vec<u8>>,
    unacked: usize,
    refused: usize,
    open: bool,
    acknowledged: bool,
    out: Vec<u8>,
}

impl SlcanBus {
    /// Opens the adapter's channel at the settings' bit rate.
    pub fn open(link: Box<dyn ByteLink>, settings: &SlcanSettings) -> Result<SlcanBus, CanError> {
        let name = format!("slcan on {}", link.describe());
        let rate = BitRate::from_bps(settings.bit_rate).ok_or_else(|| CanError::Unsupported {
            bus: name.clone(),
            what: format!(
                "bit rate {} bit/s (slcan knows 10k, 20k, 50k, 100k, 125k, 250k, 500k, 800k, 1M)",
                settings.bit_rate
            ),
        })?;
        let mut bus = SlcanBus {
            link,
            name,
            received: VecDeque::new(),
            lines: VecDeque::new(),
            unacked: 0,
            refused: 0,
            open: false,
            acknowledged: settings.transmit_acknowledged,
            out: Vec::with_capacity(64),
        };
        let timeout = bus.link.command_timeout();
        // A channel left open by a previous session refuses `S`: close it first. An adapter
        // whose channel is already closed answers BEL, which is fine here.
        bus.send_line(&encode_command(&Command::Close))?;
        match bus.await_answer(timeout) {
            Ok(_) => {}
            Err(e) if matches!(e, CanError::Disconnected { .. } | CanError::Link { .. }) => {
                return Err(e);
            }
            Err(_) => {}
        }
        bus.settle()?;
        let what = format!("bit rate {rate}");
        if let Err(CanError::Refused { .. }) = bus.command(Command::BitRate(rate), &what) {
            // The answer read may not be ours: a previous session's last `C`, written as its
            // process exited, reaches the adapter only when the port is opened again, and its
            // answer can arrive after our `C`'s. Let the adapter settle and ask once more.
            bus.settle()?;
            bus.command(Command::BitRate(rate), &what)?;
        }
        let open = if settings.listen_only {
            Command::ListenOnly
        } else {
            Command::Open
        };
        bus.command(open, "opening the channel")?;
        bus.open = true;
        bus.name = format!("{} @ {rate}", bus.name);
        Ok(bus)
    }

    /// Waits for a previous conversation's stray answers, then discards them.
    fn settle(&mut self) -> Result<(), CanError> {
        std::thread::sleep(SETTLE);
        self.link.discard_input().map_err(|e| self.link_error(e))?;
        self.lines.clear();
        Ok(())
    }

    /// Closes the channel (`C`); frames no longer flow until the bus is opened again.
    pub fn close(&mut self) -> Result<(), CanError> {
        self.command(Command::Close, "closing the channel")?;
        self.open = false;
        Ok(())
    }

    /// The adapter's status flags (`F`).
    pub fn status(&mut self) -> Result<StatusFlags, CanError> {
        match self.command(Command::Status, "the status query")? {
            Reply::Status(flags) => Ok(flags),
            other => Err(self.unexpected(&other, "a status (`Fxx`)")),
        }
    }

    /// The adapter's version string (`V`).
    pub fn version(&mut self) -> Result<String, CanError> {
        match self.command(Command::Version, "the version query")? {
            Reply::Version(v) => Ok(v),
            other => Err(self.unexpected(&other, "a version (`Vxxxx`)")),
        }
    }

    /// Waits until every transmitted frame is acknowledged by the adapter.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), CanError> {
        let deadline = Instant::now() + timeout;
        while self.unacked > 0 {
            self.process_one(deadline, timeout)?;
        }
        self.take_refusal()
    }

    fn unexpected(&self, reply: &Reply, expected: &str) -> CanError {
        CanError::Garbled {
            bus: self.name.clone(),
            line: format!("{reply:?}"),
            source: SlcanError::OutOfRange(format!("expected {expected}")),
        }
    }

    fn link_error(&self, e: crate::link::LinkError) -> CanError {
        CanError::from_link(&self.name, e, Duration::ZERO)
    }

    fn send_line(&mut self, bytes: &[u8]) -> Result<(), CanError> {
        self.link.send(bytes).map_err(|e| self.link_error(e))
    }

    /// Sends a command once every frame is acknowledged, and returns its answer.
    fn command(&mut self, command: Command, what: &str) -> Result<Reply, CanError> {
        let timeout = self.link.command_timeout();
        self.flush(timeout)?;
        self.send_line(&encode_command(&command))?;
        match self.await_answer(timeout)? {
            Reply::Error => Err(CanError::Refused {
                bus: self.name.clone(),
                command: what.to_string(),
            }),
            reply => Ok(reply),
        }
    }

    /// The next answer that is not a received frame (frames are queued).
    fn await_answer(&mut self, timeout: Duration) -> Result<Reply, CanError> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.next_line(deadline, timeout)?;
            match self.parse(&line)? {
                Reply::Frame { frame, .. } => self.received.push_back(frame),
                reply => return Ok(reply),
            }
        }
    }

    /// Reads and handles one line: a frame is queued, an acknowledgement counted.
    fn process_one(&mut self, deadline: Instant, timeout: Duration) -> Result<(), CanError> {
        let line = self.next_line(deadline, timeout)?;
        match self.parse(&line)? {
            Reply::Frame { frame, .. } => self.received.push_back(frame),
            Reply::Error => {
                self.unacked = self.unacked.saturating_sub(1);
                self.refused += 1;
            }
            // `\r`, `z` or `Z`: one more frame taken by the adapter. Other answers have
            // no command waiting for them and are dropped.
            _ => self.unacked = self.unacked.saturating_sub(1),
        }
        Ok(())
    }

    fn take_refusal(&mut self) -> Result<(), CanError> {
        if self.refused > 0 {
            let n = std::mem::take(&mut self.refused);
            return Err(CanError::Refused {
                bus: self.name.clone(),
                command: format!("{n} frame(s) (its transmit queue is full or the bus is off)"),
            });
        }
        Ok(())
    }

    fn parse(&self, line: &[u8]) -> Result<Reply, CanError> {
        slcan::parse_reply(line).map_err(|source| CanError::Garbled {
            bus: self.name.clone(),
            line: String::from_utf8_lossy(line).escape_debug().to_string(),
            source,
        })
    }

    /// The next line from the adapter (without `\r`), or `[BEL]` for an error answer.
    fn next_line(&mut self, deadline: Instant, timeout: Duration) -> Result<Vec<u8>, CanError> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Ok(line);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.link.receive_until(CR, remaining.min(BEL_SLICE)) {
                Ok(bytes) => self.split_bels(&bytes),
                Err(e) if e.is_timeout() => {
                    // A lone BEL never ends in `\r`: look for one among what has arrived.
                    match self.link.receive_until(BEL, Duration::ZERO) {
                        Ok(before) => {
                            if !before.is_empty() {
                                self.lines.push_back(before);
                            }
                            self.lines.push_back(vec![BEL]);
                        }
                        Err(e) if e.is_timeout() => {
                            if Instant::now() >= deadline {
                                return Err(CanError::Timeout {
                                    bus: self.name.clone(),
                                    waited_ms: timeout.as_millis(),
                                });
                            }
                        }
                        Err(e) => return Err(CanError::from_link(&self.name, e, timeout)),
                    }
                }
                Err(e) => return Err(CanError::from_link(&self.name, e, timeout)),
            }
        }
    }

    /// Queues the lines of `bytes` (a `\r`-ended line): each BEL in it is an answer of its
    /// own, before the line that follows it.
    fn split_bels(&mut self, bytes: &[u8]) {
        let mut parts = bytes.split(|&b| b == BEL).peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                self.lines.push_back(part.to_vec());
            } else {
                if !part.is_empty() {
                    self.lines.push_back(part.to_vec());
                }
                self.lines.push_back(vec![BEL]);
            }
        }
    }
}

impl CanBus for SlcanBus {
    fn send(&mut self, frame: &CanFrame, timeout: Duration) -> Result<(), CanError> {
        if !self.open {
            return Err(CanError::Unsupported {
                bus: self.name.clone(),
                what: "sending while the channel is closed".into(),
            });
        }
        if frame.is_error() {
            return Err(CanError::Unsupported {
                bus: self.name.clone(),
                what: "sending an error frame".into(),
            });
        }
        let deadline = Instant::now() + timeout;
        while self.acknowledged && self.unacked >= WINDOW {
            self.process_one(deadline, timeout)?;
        }
        self.out.clear();
        slcan::encode_frame_into(frame, None, &mut self.out);
        self.out.push(CR);
        let result = self.link.send(&self.out);
        result.map_err(|e| self.link_error(e))?;
        if self.acknowledged {
            self.unacked += 1;
        }
        self.take_refusal()
    }

    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(frame) = self.received.pop_front() {
                return Ok(frame);
            }
            self.process_one(deadline, timeout)?;
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl Drop for SlcanBus {
    fn drop(&mut self) {
        // Leave the adapter closed, as a careful engineer would; a gone adapter cannot be.
        if self.open {
            let _ = self.link.send(&encode_command(&Command::Close));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::CanId;
    use crate::link::{SerialLink, SerialSettings};
    use serialport::{SerialPort, TTYPort};
    use std::io::{Read, Write};

    /// A scripted adapter on a pty: answers each received line with `answer(line)`.
    fn adapter(
        answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> (Box<dyn ByteLink>, std::thread::JoinHandle<Vec<String>>) {
        let (mut master, slave) = TTYPort::pair().expect("a pty pair");
        let mut settings = SerialSettings::new(slave.name().expect("a path"));
        settings.timeout_ms = 200;
        let link = SerialLink::open(&settings).expect("open");
        let thread = std::thread::spawn(move || {
            let _slave = slave;
            let _ = master.set_timeout(Duration::from_millis(300));
            let mut seen = Vec::new();
            let mut pending = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                while let Some(pos) = pending.iter().position(|&b| b == CR) {
                    let line: Vec<u8> = pending.drain(..=pos).collect();
                    let line = &line[..line.len() - 1];
                    seen.push(String::from_utf8_lossy(line).to_string());
                    let _ = master.write_all(&answer(line));
                }
            }
            seen
        });
        (Box::new(link), thread)
    }

    #[test]
    fn opens_sends_and_receives() {
        let (link, thread) = adapter(|line| match line.first() {
            Some(b't') => b"z\rt1231AA\r".to_vec(),
            Some(b'F') => b"F00\r".to_vec(),
            _ => b"\r".to_vec(),
        });
        let mut bus = SlcanBus::open(link, &SlcanSettings::default()).unwrap();
        let t = Duration::from_millis(300);
        let f = CanFrame::data(CanId::Standard(0x7E5), &[1, 2, 3]).unwrap();
        bus.send(&f, t).unwrap();
        let back = bus.receive(t).unwrap();
        assert_eq!(back.to_string(), "123#AA");
        assert!(bus.status().unwrap().is_clear());
        bus.close().unwrap();
        drop(bus);
        let seen = thread.join().unwrap();
        assert_eq!(seen[..5], ["C", "S6", "O", "t7E53010203", "F"]);
    }

    #[test]
    fn a_refused_open_is_a_typed_error() {
        let (link, _thread) = adapter(|line| {
            if line == b"O" {
                vec![BEL]
            } else {
                b"\r".to_vec()
            }
        });
        let start = Instant::now();
        let err = SlcanBus::open(link, &SlcanSettings::default())
            .err()
            .unwrap();
        assert!(matches!(err, CanError::Refused { .. }), "{err}");
        assert!(err.to_string().contains("opening the channel"), "{err}");
        // A lone BEL is seen within a slice, not after the whole command timeout.
        assert!(start.elapsed() < Duration::from_millis(150));
    }

    #[test]
    fn a_garbled_line_is_a_typed_error() {
        let (link, _thread) = adapter(|line| {
            if line.first() == Some(&b't') {
                b"z\rt12Q!\r".to_vec()
            } else {
                b"\r".to_vec()
            }
        });
        let mut bus = SlcanBus::open(link, &SlcanSettings::default()).unwrap();
        let f = CanFrame::data(CanId::Standard(1), &[]).unwrap();
        bus.send(&f, Duration::from_millis(200)).unwrap();
        let err = bus.receive(Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, CanError::Garbled { .. }), "{err}");
        assert!(err.to_string().contains("t12Q!"), "{err}");
    }

    #[test]
    fn unknown_bit_rates_are_refused_before_talking() {
        let (link, _thread) = adapter(|_| b"\r".to_vec());
        let settings = SlcanSettings {
            bit_rate: 33_333,
            ..Default::default()
        };
        let err = SlcanBus::open(link, &settings).err().unwrap();
        assert!(matches!(err, CanError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn a_quiet_bus_times_out_within_the_deadline() {
        let (link, _thread) = adapter(|_| b"\r".to_vec());
        let mut bus = SlcanBus::open(link, &SlcanSettings::default()).unwrap();
        let start = Instant::now();
        let err = bus.receive(Duration::from_millis(50)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(50) && waited < Duration::from_millis(200));
    }
}
