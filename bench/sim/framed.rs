//! Serving a simulated instrument whose requests are not all terminated lines (Modbus RTU
//! frames, say), on a pseudo-terminal or on a loopback TCP port, with injected faults.
//!
//! A [`FramedDevice`] says where the first complete request in the received bytes ends and
//! answers it. The loop is the one of `serve.rs` (read what arrived, answer every complete
//! request, write the answers at once, poll a stop flag every [`POLL`]) made generic over
//! the transport, so one device can be reached through a pty and, like a serial device
//! server on a LAN, through TCP.
//!
//! Faults ([`FaultConfig`]) are applied to answers after a number of normal ones: garbage,
//! a partial answer, a late answer, silence, or a corrupted byte (a wrong checksum or CRC).
//! They are what the robustness tests use to prove that a driver reports each one as a
//! typed error within its timeout.

use super::config::{FaultConfig, FaultKind};
use super::serve::{LOG_CAPACITY, Log};
use super::{SimError, SimLogLine};
use serialport::{SerialPort, TTYPort};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a device thread waits for input before checking its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Received bytes without a complete request beyond this are garbage and dropped.
const MAX_PENDING: usize = 4096;

/// A simulated device answering framed requests.
pub(crate) trait FramedDevice: Send + 'static {
    /// The first complete request in `pending`: its length without framing bytes, and how
    /// many bytes it occupies. `None` while more bytes are needed.
    fn next_request(&self, pending: &[u8]) -> Option<(usize, usize)>;

    /// The answer to one request, framed; `None` to stay silent.
    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>>;

    /// Whether answers end with a terminator byte that garbage must keep (line protocols),
    /// so that a garbled answer still arrives as one line.
    fn keeps_terminator(&self) -> bool {
        true
    }

    /// An answer owed to an earlier request that can be given now (a measurement that has
    /// completed since it was asked for); polled at least every [`POLL`]. Devices that
    /// always answer at once keep this default.
    fn poll_deferred(&mut self) -> Option<Vec<u8>> {
        None
    }
}

/// The first line in `pending` ended by `terminator`: (length, length + 1).
pub(crate) fn split_line(pending: &[u8], terminator: u8) -> Option<(usize, usize)> {
    pending
        .iter()
        .position(|&b| b == terminator)
        .map(|p| (p, p + 1))
}

/// Makes a new device for each connection (each TCP client meets a freshly powered device).
pub(crate) type DeviceFactory = Box<dyn FnMut() -> Box<dyn FramedDevice> + Send>;

/// One served device: its pty path or TCP address, and its thread.
pub(crate) struct Endpoint {
    /// The pty slave a driver opens, when served on a pty.
    pub(crate) path: Option<PathBuf>,
    /// The loopback address a driver connects to, when served on TCP.
    pub(crate) address: Option<SocketAddr>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Serves `device` on a new pty pair.
    pub(crate) fn spawn_pty(
        name: &'static str,
        mut device: Box<dyn FramedDevice>,
        fault: Option<FaultConfig>,
        log: Log,
        epoch: Instant,
    ) -> Result<Endpoint, SimError> {
        let pty = |source| SimError::Pty {
            device: name,
            source,
        };
        let (mut master, slave) = TTYPort::pair().map_err(pty)?;
        let path = slave.name().map(PathBuf::from).ok_or_else(|| {
            pty(serialport::Error::new(
                serialport::ErrorKind::Unknown,
                "the pty slave has no path",
            ))
        })?;
        master.set_timeout(POLL).map_err(pty)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("sim-{name}"))
            .spawn(move || {
                // Held so the master never polls as hung up between two driver sessions.
                let _keep_alive = slave;
                let mut faults = Faults::new(fault);
                let ctx = Context {
                    name,
                    log: &log,
                    epoch,
                    stop: &flag,
                };
                serve(&ctx, &mut master, device.as_mut(), &mut faults, false);
            })
            .map_err(|source| SimError::Thread {
                device: name,
                source,
            })?;
        Ok(Endpoint {
            path: Some(path),
            address: None,
            stop,
            thread: Some(thread),
        })
    }

    /// Serves devices made by `factory` on a loopback TCP port, one connection at a time.
    pub(crate) fn spawn_tcp(
        name: &'static str,
        mut factory: DeviceFactory,
        fault: Option<FaultConfig>,
        log: Log,
        epoch: Instant,
    ) -> Result<Endpoint, SimError> {
        let thread_err = |source| SimError::Thread {
            device: name,
            source,
        };
        let listener = TcpListener::bind("127.0.0.1:0").map_err(thread_err)?;
        let address = listener.local_addr().map_err(thread_err)?;
        listener.set_nonblocking(true).map_err(thread_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("sim-{name}-tcp"))
            .spawn(move || {
                let mut faults = Faults::new(fault);
                let ctx = Context {
                    name,
                    log: &log,
                    epoch,
                    stop: &flag,
                };
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            if let Ok(mut stream) = prepare(stream) {
                                let mut device = factory();
                                serve(&ctx, &mut stream, device.as_mut(), &mut faults, true);
                            }
                        }
                        Err(_) => std::thread::sleep(POLL),
                    }
                }
            })
            .map_err(thread_err)?;
        Ok(Endpoint {
            path: None,
            address: Some(address),
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and closes the pty or the listening socket.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

fn prepare(stream: TcpStream) -> std::io::Result<TcpStream> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(POLL))?;
    stream.set_write_timeout(Some(Duration::from_millis(500)))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// What the serving loop needs besides the transport and the device.
struct Context<'a> {
    name: &'static str,
    log: &'a Log,
    epoch: Instant,
    stop: &'a AtomicBool,
}

/// What to do with one answer.
pub(crate) enum Delivery {
    Now(Vec<u8>),
    After(Vec<u8>, Duration),
    Nothing,
}

/// The fault plan of one device and how far it has got.
pub(crate) struct Faults {
    config: Option<FaultConfig>,
    answered: u64,
    faulted: u64,
    /// Draws for random faults (`probability`), seeded from the bench's seed and the device.
    rng: rand::rngs::StdRng,
}

impl Faults {
    pub(crate) fn new(config: Option<FaultConfig>) -> Self {
        Faults::seeded(config, 0)
    }

    /// A fault plan whose random faults follow `seed`.
    pub(crate) fn seeded(config: Option<FaultConfig>, seed: u64) -> Self {
        use rand::SeedableRng;
        Faults {
            config,
            answered: 0,
            faulted: 0,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        }
    }

    /// How many answers were faulted so far.
    pub(crate) fn faulted(&self) -> u64 {
        self.faulted
    }

    pub(crate) fn deliver(&mut self, answer: Option<Vec<u8>>, keeps_terminator: bool) -> Delivery {
        let Some(mut answer) = answer else {
            return Delivery::Nothing;
        };
        self.answered += 1;
        let Some(fault) = &self.config else {
            return Delivery::Now(answer);
        };
        let chance = match fault.probability {
            Some(p) => rand::RngExt::random_bool(&mut self.rng, p.clamp(0.0, 1.0)),
            None => true,
        };
        let due = self.answered > fault.after_requests
            && fault.count.is_none_or(|count| self.faulted < count)
            && chance;
        if !due || answer.is_empty() {
            return Delivery::Now(answer);
        }
        self.faulted += 1;
        let last = answer.len() - 1;
        match fault.kind {
            FaultKind::Garbage => {
                let end = if keeps_terminator { last } else { answer.len() };
                for b in &mut answer[..end] {
                    *b = (*b ^ 0x5A) | 0x80;
                }
                Delivery::Now(answer)
            }
            FaultKind::PartialAnswer => {
                answer.truncate(answer.len().div_ceil(2).min(last));
                Delivery::Now(answer)
            }
            FaultKind::LateAnswer => Delivery::After(answer, Duration::from_millis(fault.delay_ms)),
            FaultKind::Silent => Delivery::Nothing,
            FaultKind::Corrupt => {
                // The byte before a line's terminator is its checksum's last digit; a binary
                // frame's last byte is its CRC's high byte. Either way the check fails.
                let at = if keeps_terminator {
                    last.saturating_sub(1)
                } else {
                    last
                };
                answer[at] ^= 0x01;
                Delivery::Now(answer)
            }
        }
    }
}

/// Serves until stopped or, when `eof_is_close` (a TCP peer), until the peer closes. A pty
/// reads 0 bytes while idle, so there end of file means nothing.
fn serve<T: Read + Write>(
    ctx: &Context<'_>,
    transport: &mut T,
    device: &mut dyn FramedDevice,
    faults: &mut Faults,
    eof_is_close: bool,
) {
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !ctx.stop.load(Ordering::Relaxed) {
        if let Some(answer) = device.poll_deferred() {
            match faults.deliver(Some(answer), device.keeps_terminator()) {
                Delivery::Now(bytes) => {
                    let _ = transport.write_all(&bytes);
                }
                Delivery::After(bytes, delay) => {
                    if !pause(ctx.stop, delay) {
                        return;
                    }
                    let _ = transport.write_all(&bytes);
                }
                Delivery::Nothing => {}
            }
        }
        let n = match transport.read(&mut chunk) {
            Ok(0) if ctx.stop.load(Ordering::Relaxed) => return,
            Ok(0) => {
                if eof_is_close {
                    return;
                }
                std::thread::sleep(POLL);
                continue;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return;
            }
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        pending.extend_from_slice(&chunk[..n]);
        let mut out = Vec::new();
        while let Some((len, used)) = device.next_request(&pending) {
            let request: Vec<u8> = pending[..len].to_vec();
            pending.drain(..used.max(1).min(pending.len()));
            record(ctx, &request);
            let answer = device.answer(&request);
            match faults.deliver(answer, device.keeps_terminator()) {
                Delivery::Now(bytes) => out.extend_from_slice(&bytes),
                Delivery::After(bytes, delay) => {
                    if !out.is_empty() {
                        let _ = transport.write_all(&out);
                        out.clear();
                    }
                    if !pause(ctx.stop, delay) {
                        return;
                    }
                    let _ = transport.write_all(&bytes);
                }
                Delivery::Nothing => {}
            }
        }
        if pending.len() > MAX_PENDING {
            pending.clear();
        }
        if !out.is_empty() {
            let _ = transport.write_all(&out);
        }
    }
}

/// Sleeps `delay` in steps, returning false if asked to stop meanwhile.
fn pause(stop: &AtomicBool, delay: Duration) -> bool {
    let end = Instant::now() + delay;
    while Instant::now() < end {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
    }
    true
}

fn record(ctx: &Context<'_>, request: &[u8]) {
    let text = if request
        .iter()
        .all(|b| b.is_ascii() && !b.is_ascii_control() || *b == b'\r')
    {
        String::from_utf8_lossy(request)
            .trim_end_matches('\r')
            .to_string()
    } else {
        hex::encode(request)
    };
    let line = SimLogLine {
        device: ctx.name.to_string(),
        at: ctx.epoch.elapsed(),
        request: text,
    };
    let mut log = ctx
        .log
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if log.len() == LOG_CAPACITY {
        log.pop_front();
    }
    log.push_back(line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: FaultKind, after: u64, count: Option<u64>) -> Option<FaultConfig> {
        Some(FaultConfig {
            kind,
            after_requests: after,
            count,
            delay_ms: 50,
            probability: None,
        })
    }

    fn now(d: Delivery) -> Vec<u8> {
        match d {
            Delivery::Now(b) => b,
            _ => panic!("expected an answer now"),
        }
    }

    #[test]
    fn faults_start_after_the_normal_answers_and_stop_after_count() {
        let mut f = Faults::new(fault(FaultKind::Garbage, 1, Some(1)));
        assert_eq!(now(f.deliver(Some(b"OK\n".to_vec()), true)), b"OK\n");
        let garbled = now(f.deliver(Some(b"OK\n".to_vec()), true));
        assert_ne!(&garbled[..2], b"OK");
        assert_eq!(garbled[2], b'\n');
        assert_eq!(now(f.deliver(Some(b"OK\n".to_vec()), true)), b"OK\n");
    }

    #[test]
    fn each_fault_changes_the_answer_as_documented() {
        let mut f = Faults::new(fault(FaultKind::PartialAnswer, 0, None));
        assert_eq!(now(f.deliver(Some(b"ABCDEF\n".to_vec()), true)), b"ABCD");
        let mut f = Faults::new(fault(FaultKind::Corrupt, 0, None));
        assert_eq!(now(f.deliver(Some(b"T*4A\n".to_vec()), true)), b"T*4@\n");
        let mut f = Faults::new(fault(FaultKind::Corrupt, 0, None));
        assert_eq!(now(f.deliver(Some(vec![1, 2, 3]), false)), vec![1, 2, 2]);
        let mut f = Faults::new(fault(FaultKind::Silent, 0, None));
        assert!(matches!(
            f.deliver(Some(b"x\n".to_vec()), true),
            Delivery::Nothing
        ));
        let mut f = Faults::new(fault(FaultKind::LateAnswer, 0, None));
        assert!(matches!(
            f.deliver(Some(b"x\n".to_vec()), true),
            Delivery::After(_, d) if d == Duration::from_millis(50)
        ));
    }
}
