//! Serial links: a serial port (or a pseudo-terminal) opened by its path.
//!
//! Reads go into one buffer and are scanned for the terminator, so an answer costs one
//! `ppoll` and one `read` however many bytes it has, and bytes after the terminator wait in
//! the buffer for the next call. The deadline of [`ByteLink::receive_until`] covers the whole
//! answer, not each partial read, so a device trickling bytes cannot stretch it.
//!
//! The port is opened and configured by serialport, then switched to non-blocking mode and
//! read and written through [`super::tty`]: a command is one `write` (it waits, up to the
//! command timeout, only if the output queue is full), where serialport's own `Write` polls
//! before every write. A query/answer therefore costs three system calls on this side.

use super::tty;
use super::{ByteLink, LinkError, LinkErrorKind};
use serde::{Deserialize, Serialize};
use serialport::{SerialPort, TTYPort};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

/// Parity bit setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// No parity bit.
    #[default]
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

/// Flow control setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// No flow control.
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// How to open a serial port, as a fixture states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialSettings {
    /// Path of the port (`/dev/ttyUSB0`, or a pseudo-terminal's `/dev/pts/7`).
    pub port: String,
    /// Baud rate (19200 unless stated).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Data bits per character, 5 to 8 (8 unless stated).
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Parity (none unless stated).
    #[serde(default)]
    pub parity: Parity,
    /// Stop bits, 1 or 2 (1 unless stated).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Flow control (none unless stated).
    #[serde(default)]
    pub flow_control: FlowControl,
    /// How long a driver waits for each answer, in milliseconds (1000 unless stated).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_baud() -> u32 {
    19200
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_timeout_ms() -> u64 {
    1000
}

impl SerialSettings {
    /// Settings for `port` with every other field at its default (19200 8N1, 1 s).
    pub fn new(port: impl Into<String>) -> Self {
        SerialSettings {
            port: port.into(),
            baud: default_baud(),
            data_bits: default_data_bits(),
            parity: Parity::None,
            stop_bits: default_stop_bits(),
            flow_control: FlowControl::None,
            timeout_ms: default_timeout_ms(),
        }
    }

    /// The per-answer timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// `/dev/ttyUSB0 @ 19200 8N1`.
    pub fn describe(&self) -> String {
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        format!(
            "{} @ {} {}{}{}",
            self.port, self.baud, self.data_bits, parity, self.stop_bits
        )
    }
}

/// Size of one read: larger than any answer qbench's protocols use, small enough for the stack.
const CHUNK: usize = 1024;

/// A serial port opened by path, with a buffered reader.
pub struct SerialLink {
    port: TTYPort,
    pending: Vec<u8>,
    description: String,
    timeout: Duration,
}

impl SerialLink {
    /// Opens the port with `settings`, exclusively.
    pub fn open(settings: &SerialSettings) -> Result<SerialLink, LinkError> {
        let description = settings.describe();
        let bad = |what: String| LinkError::new(LinkErrorKind::BadSettings, &description, what);
        let data_bits = match settings.data_bits {
            5 => serialport::DataBits::Five,
            6 => serialport::DataBits::Six,
            7 => serialport::DataBits::Seven,
            8 => serialport::DataBits::Eight,
            n => return Err(bad(format!("{n} data bits (expected 5 to 8)"))),
        };
        let stop_bits = match settings.stop_bits {
            1 => serialport::StopBits::One,
            2 => serialport::StopBits::Two,
            n => return Err(bad(format!("{n} stop bits (expected 1 or 2)"))),
        };
        let parity = match settings.parity {
            Parity::None => serialport::Parity::None,
            Parity::Even => serialport::Parity::Even,
            Parity::Odd => serialport::Parity::Odd,
        };
        let flow_control = match settings.flow_control {
            FlowControl::None => serialport::FlowControl::None,
            FlowControl::Software => serialport::FlowControl::Software,
            FlowControl::Hardware => serialport::FlowControl::Hardware,
        };
        let port = serialport::new(&settings.port, settings.baud)
            .data_bits(data_bits)
            .stop_bits(stop_bits)
            .parity(parity)
            .flow_control(flow_control)
            .timeout(settings.timeout())
            .open_native()
            .map_err(|e| LinkError::from_serialport(e, &description, "opening the port"))?;
        tty::set_nonblocking(port.as_raw_fd())
            .map_err(|e| LinkError::from_io(e, &description, "setting the port non-blocking"))?;
        Ok(SerialLink {
            port,
            pending: Vec::with_capacity(CHUNK),
            description,
            timeout: settings.timeout(),
        })
    }

    fn error(&self, kind: LinkErrorKind, detail: impl Into<String>) -> LinkError {
        LinkError::new(kind, &self.description, detail)
    }
}

impl ByteLink for SerialLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        // Writes wait at most the command timeout for room in the output queue. There is no
        // tcdrain: the kernel sends what is queued anyway, and the answer's deadline covers a
        // slow line, so waiting for the UART to empty would only add a system call.
        let deadline = tty::deadline_after(self.timeout);
        tty::write_all_before(self.port.as_raw_fd(), bytes, deadline)
            .map_err(|e| LinkError::from_io(e, &self.description, "writing"))
    }

    fn receive_until(&mut self, terminator: u8, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = tty::deadline_after(timeout);
        let mut scanned = 0;
        let mut first = true;
        loop {
            if let Some(pos) = self.pending[scanned..]
                .iter()
                .position(|&b| b == terminator)
            {
                let end = scanned + pos;
                let line = self.pending[..end].to_vec();
                self.pending.drain(..=end);
                return Ok(line);
            }
            scanned = self.pending.len();
            self.fill(deadline, first, timeout)?;
            first = false;
        }
    }

    fn receive_exact(&mut self, count: usize, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = tty::deadline_after(timeout);
        let mut first = true;
        while self.pending.len() < count {
            self.fill(deadline, first, timeout)?;
            first = false;
        }
        Ok(self.pending.drain(..count).collect())
    }

    fn discard_input(&mut self) -> Result<(), LinkError> {
        self.pending.clear();
        self.port
            .clear(serialport::ClearBuffer::Input)
            .map_err(|e| LinkError::from_serialport(e, &self.description, "discarding input"))
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn command_timeout(&self) -> Duration {
        self.timeout
    }
}

impl SerialLink {
    /// Reads what arrives before `deadline` into the pending bytes (one read). The first pass
    /// always reads, even with no time left, so a zero timeout still collects what has
    /// already arrived; `timeout` is the caller's, for the message.
    fn fill(&mut self, deadline: Instant, first: bool, timeout: Duration) -> Result<(), LinkError> {
        if !first && Instant::now() >= deadline {
            return Err(self.timeout_error(timeout));
        }
        let mut chunk = [0u8; CHUNK];
        match tty::read_before(self.port.as_raw_fd(), &mut chunk, deadline) {
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => {
                // A hung-up tty is the far end gone: `Disconnected`, and no spinning.
                let err = LinkError::from_io(e, &self.description, "reading");
                Err(if err.is_timeout() {
                    self.timeout_error(timeout)
                } else {
                    err
                })
            }
        }
    }

    fn timeout_error(&self, timeout: Duration) -> LinkError {
        let detail = if self.pending.is_empty() {
            format!("no answer within {} ms", timeout.as_millis())
        } else {
            format!(
                "incomplete answer within {} ms ({} bytes received)",
                timeout.as_millis(),
                self.pending.len()
            )
        };
        self.error(LinkErrorKind::Timeout, detail)
    }
}

impl Drop for SerialLink {
    fn drop(&mut self) {
        // Clear TIOCEXCL so the port can be opened again by an unprivileged user while
        // another descriptor (the simulated device's own hold on its pty) keeps it alive.
        let _ = self.port.set_exclusive(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::thread;

    fn pair() -> (TTYPort, SerialLink) {
        let (master, slave) = TTYPort::pair().expect("a pty pair");
        let path = slave.name().expect("the slave has a path");
        let mut settings = SerialSettings::new(path);
        settings.timeout_ms = 200;
        let link = SerialLink::open(&settings).expect("open the slave");
        // The pair's own slave descriptor stays open in the test, as the simulator keeps it.
        std::mem::forget(slave);
        (master, link)
    }

    #[test]
    fn settings_deserialize_with_defaults_and_refuse_unknown_fields() {
        let s: SerialSettings = serde_saphyr::from_str("port: /dev/ttyUSB0\n").unwrap();
        assert_eq!(s, SerialSettings::new("/dev/ttyUSB0"));
        let s: SerialSettings =
            serde_saphyr::from_str("port: p\nparity: even\nstop_bits: 2\nflow_control: hardware\n")
                .unwrap();
        assert_eq!(
            (s.parity, s.stop_bits, s.flow_control),
            (Parity::Even, 2, FlowControl::Hardware)
        );
        assert!(serde_saphyr::from_str::<SerialSettings>("port: p\nspeed: 9600\n").is_err());
    }

    #[test]
    fn bad_settings_are_refused_before_opening() {
        let mut s = SerialSettings::new("/nonexistent");
        s.stop_bits = 3;
        let err = SerialLink::open(&s).err().expect("refused");
        assert_eq!(err.kind, LinkErrorKind::BadSettings);
    }

    #[test]
    fn missing_port_is_disconnected() {
        let err = SerialLink::open(&SerialSettings::new("/dev/qbench-no-such-port")).err();
        assert_eq!(err.expect("refused").kind, LinkErrorKind::Disconnected);
    }

    #[test]
    fn reads_lines_and_keeps_the_rest_buffered() {
        let (mut master, mut link) = pair();
        master.write_all(b"one\rtwo\rthr").unwrap();
        let t = Duration::from_millis(200);
        assert_eq!(link.receive_until(b'\r', t).unwrap(), b"one");
        assert_eq!(link.receive_until(b'\r', t).unwrap(), b"two");
        master.write_all(b"ee\r").unwrap();
        assert_eq!(link.receive_until(b'\r', t).unwrap(), b"three");
        link.send(b"hello\n").unwrap();
        let mut buf = [0u8; 16];
        master.set_timeout(t).unwrap();
        let n = master.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello\n");
    }

    #[test]
    fn deadline_covers_partial_reads() {
        let (mut master, mut link) = pair();
        let writer = thread::spawn(move || {
            // Trickle bytes without a terminator for longer than the deadline.
            for _ in 0..20 {
                if master.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            master
        });
        let start = Instant::now();
        let err = link
            .receive_until(b'\r', Duration::from_millis(60))
            .unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind, LinkErrorKind::Timeout, "{err}");
        assert!(waited < Duration::from_millis(150), "waited {waited:?}");
        assert!(err.to_string().contains("incomplete"), "{err}");
        drop(writer.join());
    }

    #[test]
    fn silence_is_a_timeout() {
        let (_master, mut link) = pair();
        let start = Instant::now();
        let err = link
            .receive_until(b'\r', Duration::from_millis(30))
            .unwrap_err();
        assert_eq!(err.kind, LinkErrorKind::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(start.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn closed_master_is_disconnected_not_a_busy_loop() {
        let (master, mut link) = pair();
        drop(master);
        let start = Instant::now();
        let err = link
            .receive_until(b'\r', Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(err.kind, LinkErrorKind::Disconnected, "{err}");
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_port_held_by_another_link_is_busy_and_free_again_after_drop() {
        let (_master, link) = pair();
        let settings = SerialSettings::new(link.port.name().expect("a path"));
        let err = SerialLink::open(&settings)
            .err()
            .expect("refused while held");
        assert_eq!(err.kind, LinkErrorKind::Busy, "{err}");
        drop(link);
        assert!(SerialLink::open(&settings).is_ok());
    }

    #[test]
    fn discard_input_drops_stale_bytes() {
        let (mut master, mut link) = pair();
        master.write_all(b"stale").unwrap();
        // Let the first bytes land in the link's own buffer too.
        let _ = link.receive_until(b'\r', Duration::from_millis(20));
        link.discard_input().unwrap();
        master.write_all(b"fresh\r").unwrap();
        assert_eq!(
            link.receive_until(b'\r', Duration::from_millis(200))
                .unwrap(),
            b"fresh"
        );
    }
}
