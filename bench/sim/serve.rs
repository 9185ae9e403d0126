//! Serving one simulated device on the master side of a pseudo-terminal, on its own thread.
//!
//! The loop reads whatever has arrived into a buffer, answers every complete request in it
//! and writes the answers in one call: no per-byte system calls and no sleeps between a
//! request and its answer. Reads wait at most [`POLL`] so the thread notices the stop flag
//! quickly and the bench's `Drop` never hangs. The master is non-blocking and served through
//! [`crate::link::tty`], as a driver's port is: a request and its answer cost three system
//! calls (`ppoll`, `read`, `write`), and an answer waits for room at most [`POLL`].
//!
//! The thread also keeps the pair's own slave descriptor open. On Linux a pty master whose
//! slave is closed polls as hung up forever, which would turn the loop into a busy loop
//! between two driver sessions; holding the slave keeps the line alive, and closing both
//! (on stop) is what a driver sees as a disconnection.

use super::SimError;
use super::framed::{Delivery, Faults};
pub(crate) use super::request_log::Log;
use super::unplug::{Plug, stay_away};
use crate::link::tty;
use serialport::{SerialPort, TTYPort};
use std::io::{ErrorKind, Write};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a device thread waits for input before checking its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// A request longer than this without a terminator is garbage and is dropped.
const MAX_PENDING: usize = 4096;

/// What the log shows when a device is unplugged by a `disconnect` fault.
pub(crate) const DISCONNECTED: &str = "!disconnected";

/// What the log shows when an unplugged device is back at its path.
pub(crate) const RECONNECTED: &str = "!reconnected";

/// What the log shows after a request whose answer a fault changed (or withheld).
pub(crate) const FAULT_INJECTED: &str = "!fault injected in the answer above";

/// A simulated device: answers one request at a time.
pub(crate) trait Device: Send + 'static {
    /// The byte that ends a request.
    fn terminator(&self) -> u8;
    /// The answer to one request (terminator excluded), with its own terminator; `None` to
    /// stay silent.
    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>>;

    /// Whether the device is streaming data on its own (the loop then polls every
    /// [`STREAM_POLL`] instead of [`POLL`]).
    fn is_streaming(&self) -> bool {
        false
    }

    /// Bytes the device sends on its own now, unasked (a measurement stream); called at
    /// every turn of the loop.
    fn unsolicited(&mut self) -> Option<Vec<u8>> {
        None
    }
}

/// How long a streaming device's thread waits for input before sending what became due.
const STREAM_POLL: Duration = Duration::from_millis(2);

/// One device's pty and thread.
pub(crate) struct Endpoint {
    pub(crate) path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Plugs `device` in at `link` (its stable path) and starts serving it.
    pub(crate) fn spawn(
        name: &'static str,
        mut device: Box<dyn Device>,
        mut faults: Faults,
        log: Log,
        epoch: Instant,
        link: PathBuf,
    ) -> Result<Endpoint, SimError> {
        let plug = Plug::connect(name, &link)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let path = link.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sim-{name}"))
            .spawn(move || {
                let mut plug = plug;
                // Served until stopped; a `disconnect` fault unplugs it, and it comes back
                // at the same path after its interval (or stays away).
                while let Some(away) = serve(
                    name,
                    &mut plug.master,
                    device.as_mut(),
                    &mut faults,
                    &log,
                    epoch,
                    &flag,
                ) {
                    plug.unplug(&link);
                    record(&log, name, epoch, DISCONNECTED.as_bytes());
                    if !stay_away(&flag, away) {
                        return;
                    }
                    match Plug::connect(name, &link) {
                        Ok(back) => plug = back,
                        Err(e) => {
                            let text = format!("!could not come back: {e}");
                            record(&log, name, epoch, text.as_bytes());
                            return;
                        }
                    }
                    record(&log, name, epoch, RECONNECTED.as_bytes());
                }
            })
            .map_err(|source| SimError::Thread {
                device: name,
                source,
            })?;
        Ok(Endpoint {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and closes the pty (the driver side sees a hang-up).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A device that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves until stopped (`None`) or until a fault unplugs the device (`Some(away)`: how long
/// it stays away, for ever when `None`).
fn serve(
    name: &'static str,
    master: &mut TTYPort,
    device: &mut dyn Device,
    faults: &mut Faults,
    log: &Log,
    epoch: Instant,
    stop: &AtomicBool,
) -> Option<Option<Duration>> {
    let terminator = device.terminator();
    if let Err(e) = tty::set_nonblocking(master.as_raw_fd()) {
        // Served blocking, a write could outlast the stop flag: better not served at all
        // (its driver times out, and the log says why).
        let text = format!("!cannot serve: {e}");
        record(log, name, epoch, text.as_bytes());
        return None;
    }
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let mut poll = POLL;
    while !stop.load(Ordering::Relaxed) {
        // A stream (fast data) is written between requests, as its samples fall due.
        if let Some(bytes) = device.unsolicited() {
            write_stream(master, &bytes, stop);
        }
        let wanted = if device.is_streaming() {
            STREAM_POLL
        } else {
            POLL
        };
        if wanted != poll && master.set_timeout(wanted).is_ok() {
            poll = wanted;
        }
        let n = match tty::read_before(master.as_raw_fd(), &mut chunk, tty::deadline_after(poll)) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::TimedOut => continue,
            Err(_) => {
                // No reader on the other side yet, or a transient error: wait, do not spin.
                std::thread::sleep(poll);
                continue;
            }
        };
        pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(pos) = pending[start..].iter().position(|&b| b == terminator) {
            let request = &pending[start..start + pos];
            record(log, name, epoch, request);
            let answer = device.answer(request);
            let before = faults.faulted();
            let delivery = faults.deliver(answer, true);
            if faults.faulted() > before {
                // Every injected fault is in the simulator's log, to be found in the record.
                record(log, name, epoch, FAULT_INJECTED.as_bytes());
            }
            match delivery {
                Delivery::Now(bytes) => out.extend_from_slice(&bytes),
                Delivery::After(bytes, delay) => {
                    if !out.is_empty() {
                        send(master, &out);
                        out.clear();
                    }
                    let end = Instant::now() + delay;
                    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
                    }
                    send(master, &bytes);
                }
                Delivery::Nothing => {}
                Delivery::Unplug(away) => {
                    if !out.is_empty() {
                        send(master, &out);
                    }
                    return Some(away);
                }
            }
            start += pos + 1;
        }
        pending.drain(..start);
        if pending.len() > MAX_PENDING {
            pending.clear();
        }
        if !out.is_empty() {
            // A driver that stopped reading fills the pty; the write then times out after
            // POLL and the answer is lost, as it would be on a real line.
            send(master, &out);
            out.clear();
        }
    }
    None
}

/// Writes answers to the driver: one `write` when there is room, else waiting at most
/// [`POLL`] for it (what was not written by then is lost, as on a line nobody reads).
fn send(master: &TTYPort, bytes: &[u8]) {
    let _ = tty::write_all_before(master.as_raw_fd(), bytes, tty::deadline_after(POLL));
}

/// How long streamed bytes wait for a reader that takes none before they are dropped (an
/// overrun, as when nobody listens to a real analyzer that was left streaming).
const STREAM_STALL: Duration = Duration::from_millis(500);

/// Writes streamed bytes, waiting while the reader is slow rather than losing any: the
/// stream's samples carry their own time stamps, so a late byte is still a right one. Gives
/// up when the bench stops, the line fails, or nothing is taken for [`STREAM_STALL`].
fn write_stream(master: &mut TTYPort, bytes: &[u8], stop: &AtomicBool) {
    let mut rest = bytes;
    let mut progress = Instant::now();
    while !rest.is_empty() && !stop.load(Ordering::Relaxed) {
        if progress.elapsed() > STREAM_STALL {
            return;
        }
        match master.write(rest) {
            Ok(0) => return,
            Ok(n) => {
                rest = &rest[n..];
                progress = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::WouldBlock | ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}

fn record(log: &Log, device: &'static str, epoch: Instant, request: &[u8]) {
    let at = epoch.elapsed();
    let request = String::from_utf8_lossy(request)
        .trim_end_matches('\r')
        .to_string();
    let mut log = log.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    log.push(device, at, request);
}
