//! TCP links: a raw TCP socket to an instrument with an Ethernet port, or to a serial device
//! server on the LAN that passes a serial line's bytes through unchanged.
//!
//! The stream is the same byte stream a serial port gives, so every byte-stream driver works
//! over it unchanged. As with serial links, the deadline of a read covers the whole answer,
//! and bytes after the terminator wait in a buffer for the next call. Connecting has its own
//! deadline (the command timeout), so an unreachable host fails as a timeout, not a hang.

use super::{ByteLink, LinkError, LinkErrorKind};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How to reach an instrument over TCP, as a fixture states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSettings {
    /// Host name or address (`192.168.1.40`, `moxa-3.lab`); `sim:<device>` names a device of
    /// the simulated bench.
    pub host: String,
    /// TCP port (a serial device server's raw port, or an instrument's socket port).
    #[serde(default)]
    pub port: u16,
    /// How long a driver waits for each answer, and for the connection, in milliseconds
    /// (1000 unless stated).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    1000
}

impl TcpSettings {
    /// Settings for `host:port` with a 1 s timeout.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpSettings {
            host: host.into(),
            port,
            timeout_ms: default_timeout_ms(),
        }
    }

    /// The per-answer timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// `tcp://192.168.1.40:4001` (a simulated device's host, `sim:<device>`, as written).
    pub fn describe(&self) -> String {
        if self.host.starts_with("sim:") {
            format!("tcp://{}", self.host)
        } else {
            format!("tcp://{}:{}", self.host, self.port)
        }
    }
}

/// Size of one read, as for serial links.
const CHUNK: usize = 1024;

/// An open TCP connection with a buffered reader.
pub struct TcpLink {
    stream: TcpStream,
    pending: Vec<u8>,
    description: String,
    timeout: Duration,
}

impl TcpLink {
    /// Connects to `settings.host:settings.port`, trying each address the name resolves to
    /// within the timeout.
    pub fn open(settings: &TcpSettings) -> Result<TcpLink, LinkError> {
        let description = settings.describe();
        if settings.timeout_ms == 0 {
            return Err(LinkError::new(
                LinkErrorKind::BadSettings,
                &description,
                "timeout_ms must be positive",
            ));
        }
        let addresses: Vec<SocketAddr> = (settings.host.as_str(), settings.port)
            .to_socket_addrs()
            .map_err(|e| LinkError::from_io(e, &description, "resolving the host name"))?
            .collect();
        let timeout = settings.timeout();
        let mut last: Option<io::Error> = None;
        for address in &addresses {
            match TcpStream::connect_timeout(address, timeout) {
                Ok(stream) => {
                    // Requests are small and answers awaited: send each at once.
                    let _ = stream.set_nodelay(true);
                    stream
                        .set_write_timeout(Some(timeout))
                        .map_err(|e| LinkError::from_io(e, &description, "setting a timeout"))?;
                    return Ok(TcpLink {
                        stream,
                        pending: Vec::with_capacity(CHUNK),
                        description,
                        timeout,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => LinkError {
                kind: LinkErrorKind::Disconnected,
                port: description,
                detail: "connection refused (nothing listens on that port)".into(),
                source: Some(e),
            },
            Some(e) => LinkError::from_io(e, &description, "connecting"),
            None => LinkError::new(
                LinkErrorKind::BadSettings,
                &description,
                "the host name resolves to no address",
            ),
        })
    }

    fn error(&self, kind: LinkErrorKind, detail: impl Into<String>) -> LinkError {
        LinkError::new(kind, &self.description, detail)
    }

    fn timeout_error(&self, timeout: Duration, wanted: &str) -> LinkError {
        let detail = if self.pending.is_empty() {
            format!("no answer within {} ms", timeout.as_millis())
        } else {
            format!(
                "incomplete answer within {} ms ({} bytes received, {wanted})",
                timeout.as_millis(),
                self.pending.len()
            )
        };
        self.error(LinkErrorKind::Timeout, detail)
    }

    /// Reads once into the buffer, waiting at most until `deadline`. `Ok(false)` when the
    /// deadline passed with nothing read.
    fn fill(&mut self, deadline: Instant, first: bool) -> Result<bool, LinkError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() && !first {
            return Ok(false);
        }
        // A zero read timeout means "block forever" to the socket: use a tiny one instead.
        let wait = remaining.max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(wait))
            .map_err(|e| LinkError::from_io(e, &self.description, "setting the read timeout"))?;
        let mut chunk = [0u8; CHUNK];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(self.error(
                LinkErrorKind::Disconnected,
                "the far end closed the connection",
            )),
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => {
                let err = LinkError::from_io(e, &self.description, "reading");
                if err.is_timeout() {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }
}

impl ByteLink for TcpLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.stream
            .write_all(bytes)
            .map_err(|e| LinkError::from_io(e, &self.description, "writing"))
    }

    fn receive_until(&mut self, terminator: u8, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
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
            if !self.fill(deadline, first)? && Instant::now() >= deadline {
                return Err(self.timeout_error(timeout, "no terminator"));
            }
            first = false;
        }
    }

    fn receive_exact(&mut self, count: usize, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut first = true;
        while self.pending.len() < count {
            if !self.fill(deadline, first)? && Instant::now() >= deadline {
                return Err(self.timeout_error(timeout, &format!("{count} expected")));
            }
            first = false;
        }
        Ok(self.pending.drain(..count).collect())
    }

    fn discard_input(&mut self) -> Result<(), LinkError> {
        self.pending.clear();
        // Drain what the kernel holds without waiting for more.
        self.stream
            .set_nonblocking(true)
            .map_err(|e| LinkError::from_io(e, &self.description, "discarding input"))?;
        let mut chunk = [0u8; CHUNK];
        let outcome = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    break Err(self.error(
                        LinkErrorKind::Disconnected,
                        "the far end closed the connection",
                    ));
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(LinkError::from_io(e, &self.description, "discarding")),
            }
        };
        self.stream
            .set_nonblocking(false)
            .map_err(|e| LinkError::from_io(e, &self.description, "discarding input"))?;
        outcome
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn command_timeout(&self) -> Duration {
        self.timeout
    }
}

impl Drop for TcpLink {
    fn drop(&mut self) {
        // Tell the far end at once; a serial device server frees its port on FIN.
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    fn pair(timeout_ms: u64) -> (TcpStream, TcpLink) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("address").port();
        let mut settings = TcpSettings::new("127.0.0.1", port);
        settings.timeout_ms = timeout_ms;
        let link = TcpLink::open(&settings).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (server, link)
    }

    #[test]
    fn settings_deserialize_with_defaults_and_refuse_unknown_fields() {
        let s: TcpSettings = serde_saphyr::from_str("host: 10.0.0.5\nport: 4001\n").unwrap();
        assert_eq!(s, TcpSettings::new("10.0.0.5", 4001));
        assert!(serde_saphyr::from_str::<TcpSettings>("host: h\nbaud: 9600\n").is_err());
    }

    #[test]
    fn reads_lines_and_exact_counts_and_keeps_the_rest() {
        let (mut server, mut link) = pair(300);
        server.write_all(b"one\ntwo\nabcdef").unwrap();
        let t = Duration::from_millis(300);
        assert_eq!(link.receive_until(b'\n', t).unwrap(), b"one");
        assert_eq!(link.receive_until(b'\n', t).unwrap(), b"two");
        assert_eq!(link.receive_exact(3, t).unwrap(), b"abc");
        assert_eq!(link.receive_exact(3, t).unwrap(), b"def");
        link.send(b"hello").unwrap();
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    }

    #[test]
    fn silence_and_trickle_are_timeouts_within_the_deadline() {
        let (mut server, mut link) = pair(300);
        let start = Instant::now();
        let err = link
            .receive_until(b'\n', Duration::from_millis(40))
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(start.elapsed() < Duration::from_millis(300));
        let writer = thread::spawn(move || {
            for _ in 0..20 {
                if server.write_all(b"x").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            server
        });
        let start = Instant::now();
        let err = link
            .receive_until(b'\n', Duration::from_millis(60))
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(err.to_string().contains("incomplete"), "{err}");
        assert!(start.elapsed() < Duration::from_millis(200));
        drop(writer.join());
    }

    #[test]
    fn a_closed_peer_is_disconnected() {
        let (server, mut link) = pair(300);
        drop(server);
        let start = Instant::now();
        let err = link
            .receive_until(b'\n', Duration::from_millis(500))
            .unwrap_err();
        assert!(err.is_disconnected(), "{err}");
        assert!(start.elapsed() < Duration::from_millis(200));
    }

    #[test]
    fn nothing_listening_is_disconnected_and_discard_drops_stale_bytes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = TcpLink::open(&TcpSettings::new("127.0.0.1", port))
            .err()
            .expect("refused");
        assert!(err.is_disconnected(), "{err}");

        let (mut server, mut link) = pair(300);
        server.write_all(b"stale").unwrap();
        thread::sleep(Duration::from_millis(20));
        link.discard_input().unwrap();
        server.write_all(b"fresh\n").unwrap();
        assert_eq!(
            link.receive_until(b'\n', Duration::from_millis(300))
                .unwrap(),
            b"fresh"
        );
    }
}
