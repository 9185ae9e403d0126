//! The simulated slcan adapter: speaks slcan to the host on a real pty and forwards frames
//! to and from the simulated bus.
//!
//! Two threads share the pty's master: one reads the host's commands and answers them
//! (forwarding transmitted frames to the bus), the other writes the bus's frames to the host
//! while the channel is open. Their writes go through one lock, so lines never interleave.
//! Both batch: every answer to one read goes out in one write, and frames already queued on
//! the bus go out together.

use super::config::CanAdapterConfig;
use crate::can::CanBus;
use crate::can::memory::MemoryBus;
use crate::protocol::slcan::{
    BEL, CR, Command, Reply, encode_frame_into, encode_reply, parse_command,
};
use crate::sim::SimError;
use serialport::{SerialPort, TTYPort};
use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a thread waits for input before checking its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Frames sent to the host in one write, at most.
const BATCH: usize = 64;

/// The line a garbled-line fault sends instead of the real one.
pub(crate) const GARBLE: &[u8] = b"tQ!~\r";

struct Shared {
    open: AtomicBool,
    listen_only: AtomicBool,
    lines: AtomicU64,
    forwarded: AtomicU64,
    writer: Mutex<TTYPort>,
    config: CanAdapterConfig,
}

impl Shared {
    /// Writes `lines` (each one answer or frame) to the host, garbling the configured one.
    ///
    /// A host slower than the bus fills the pty; the write then waits for room, checking
    /// `stop` every [`POLL`], so no frame is lost while the host is there (a real adapter
    /// would drop frames and set its overrun flag; tests want certainty).
    fn emit(&self, lines: &[Vec<u8>], stop: &AtomicBool) {
        let mut out = Vec::with_capacity(lines.iter().map(Vec::len).sum());
        for line in lines {
            let n = self.lines.fetch_add(1, Ordering::Relaxed) + 1;
            if self.config.garble_line == Some(n) {
                out.extend_from_slice(GARBLE);
            } else {
                out.extend_from_slice(line);
            }
        }
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut written = 0;
        while written < out.len() && !stop.load(Ordering::Relaxed) {
            match writer.write(&out[written..]) {
                Ok(n) => written += n,
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                // No reader at all (the slave side closed): the lines have nowhere to go.
                Err(_) => return,
            }
        }
    }
}

/// The adapter's pty and threads.
pub(crate) struct AdapterEndpoint {
    pub(crate) path: PathBuf,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn pty_error(source: serialport::Error) -> SimError {
    SimError::Pty {
        device: "can_adapter",
        source,
    }
}

impl AdapterEndpoint {
    /// Creates the pty and starts the adapter on `bus`.
    pub(crate) fn spawn(
        config: &CanAdapterConfig,
        bus: &MemoryBus,
    ) -> Result<AdapterEndpoint, SimError> {
        let (mut master, slave) = TTYPort::pair().map_err(pty_error)?;
        let path = slave.name().map(PathBuf::from).ok_or_else(|| {
            pty_error(serialport::Error::new(
                serialport::ErrorKind::Unknown,
                "the pty slave has no path",
            ))
        })?;
        master.set_timeout(POLL).map_err(pty_error)?;
        let mut writer = master.try_clone_native().map_err(pty_error)?;
        writer.set_timeout(POLL).map_err(pty_error)?;
        let shared = Arc::new(Shared {
            open: AtomicBool::new(false),
            listen_only: AtomicBool::new(false),
            lines: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            writer: Mutex::new(writer),
            config: config.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let endpoint = bus.endpoint();
        let sender = endpoint.sender();

        let (flag, s) = (Arc::clone(&stop), Arc::clone(&shared));
        let host = std::thread::Builder::new()
            .name("sim-can-adapter-host".into())
            .spawn(move || {
                let _keep_alive = slave;
                serve_host(&mut master, sender, &s, &flag);
            })
            .map_err(|source| SimError::Thread {
                device: "can_adapter",
                source,
            })?;
        let (flag, s) = (Arc::clone(&stop), Arc::clone(&shared));
        let mut endpoint = endpoint;
        let bus_thread = std::thread::Builder::new()
            .name("sim-can-adapter-bus".into())
            .spawn(move || {
                let mut lines: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
                while !flag.load(Ordering::Relaxed) {
                    let Ok(first) = endpoint.receive(POLL) else {
                        continue;
                    };
                    if !s.open.load(Ordering::Relaxed) {
                        continue;
                    }
                    lines.clear();
                    let mut frame = Some(first);
                    while let Some(f) = frame {
                        let mut line = Vec::with_capacity(24);
                        encode_frame_into(&f, None, &mut line);
                        line.push(CR);
                        lines.push(line);
                        frame = if lines.len() < BATCH {
                            endpoint.receive(Duration::ZERO).ok()
                        } else {
                            None
                        };
                    }
                    s.emit(&lines, &flag);
                }
            })
            .map_err(|source| SimError::Thread {
                device: "can_adapter",
                source,
            })?;
        Ok(AdapterEndpoint {
            path,
            stop,
            threads: vec![host, bus_thread],
        })
    }

    /// Whether the adapter is still plugged in.
    pub(crate) fn is_connected(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// Unplugs the adapter: stops both threads and closes the pty.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for AdapterEndpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_host(
    master: &mut TTYPort,
    mut sender: crate::can::memory::MemorySender,
    shared: &Shared,
    stop: &AtomicBool,
) {
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut answers: Vec<Vec<u8>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let n = match master.read(&mut chunk) {
            Ok(0) => {
                std::thread::sleep(POLL);
                continue;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => continue,
            Err(_) => {
                std::thread::sleep(POLL);
                continue;
            }
        };
        pending.extend_from_slice(&chunk[..n]);
        answers.clear();
        let mut start = 0;
        let mut gone = false;
        while let Some(pos) = pending[start..].iter().position(|&b| b == CR) {
            let line = &pending[start..start + pos];
            start += pos + 1;
            let reply = answer(line, shared, &mut sender);
            answers.push(reply);
            if shared
                .config
                .disappear_after_frames
                .is_some_and(|n| shared.forwarded.load(Ordering::Relaxed) >= n)
            {
                gone = true;
                break;
            }
        }
        pending.drain(..start);
        if pending.len() > 4096 {
            pending.clear();
        }
        if gone {
            // The adapter vanishes mid-conversation: no answer, the pty closes.
            stop.store(true, Ordering::Relaxed);
            return;
        }
        if !answers.is_empty() {
            shared.emit(&answers, stop);
        }
    }
}

fn answer(line: &[u8], shared: &Shared, sender: &mut crate::can::memory::MemorySender) -> Vec<u8> {
    let open = shared.open.load(Ordering::Relaxed);
    let ok = || encode_reply(&Reply::Ok);
    let refuse = || vec![BEL];
    match parse_command(line) {
        Ok(Command::Open | Command::ListenOnly) if open => refuse(),
        Ok(c @ (Command::Open | Command::ListenOnly)) => {
            shared
                .listen_only
                .store(c == Command::ListenOnly, Ordering::Relaxed);
            shared.open.store(true, Ordering::Relaxed);
            ok()
        }
        Ok(Command::Close) if !open => refuse(),
        Ok(Command::Close) => {
            shared.open.store(false, Ordering::Relaxed);
            ok()
        }
        Ok(Command::BitRate(_)) if open => refuse(),
        Ok(Command::BitRate(_) | Command::Timestamps(_)) => ok(),
        Ok(Command::Status) => encode_reply(&Reply::Status(Default::default())),
        Ok(Command::Version) => encode_reply(&Reply::Version(shared.config.version.clone())),
        Ok(Command::SerialNumber) => {
            encode_reply(&Reply::SerialNumber(shared.config.serial.clone()))
        }
        Ok(Command::Transmit(frame)) => {
            if !open || shared.listen_only.load(Ordering::Relaxed) {
                return refuse();
            }
            sender.post(&frame);
            shared.forwarded.fetch_add(1, Ordering::Relaxed);
            encode_reply(&Reply::Transmitted {
                extended: frame.id().is_extended(),
            })
        }
        Err(_) => refuse(),
    }
}
