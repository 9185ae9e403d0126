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

use super::SimError;
use super::config::{FaultConfig, FaultKind};
use super::serve::{DISCONNECTED, FAULT_INJECTED, Log, RECONNECTED};
use super::unplug::{Plug, stay_away};
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
    /// Plugs `device` in at `link` (its stable path) and serves it there.
    pub(crate) fn spawn_pty(
        name: &'static str,
        mut device: Box<dyn FramedDevice>,
        faults: Faults,
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
                let mut faults = faults;
                let ctx = Context {
                    name,
                    log: &log,
                    epoch,
                    stop: &flag,
                };
                // A `disconnect` fault unplugs it; it comes back at the same path.
                while let Some(away) =
                    serve(&ctx, &mut plug.master, device.as_mut(), &mut faults, false)
                {
                    plug.unplug(&link);
                    record(&ctx, DISCONNECTED.as_bytes());
                    if !stay_away(&flag, away) {
                        return;
                    }
                    match Plug::connect(name, &link) {
                        Ok(back) => plug = back,
                        Err(e) => {
                            let text = format!("!could not come back: {e}");
                            record(&ctx, text.as_bytes());
                            return;
                        }
                    }
                    record(&ctx, RECONNECTED.as_bytes());
                }
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
        faults: Faults,
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
                let mut faults = faults;
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
                                let unplugged =
                                    serve(&ctx, &mut stream, device.as_mut(), &mut faults, true);
                                if let Some(away) = unplugged {
                                    // The device server loses its device: the connection
                                    // closes and no new one is served until it is back.
                                    drop(stream);
                                    record(&ctx, DISCONNECTED.as_bytes());
                                    if !stay_away(&flag, away) {
                                        return;
                                    }
                                    record(&ctx, RECONNECTED.as_bytes());
                                }
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
    /// Unplug the device; it comes back after this real time (never when `None`).
    Unplug(Option<Duration>),
}

/// What a fault's schedule (`at_step`, `at_set_point`, `after_time`) is measured against:
/// the points of the run the runner announced, and the bench's clock.
#[derive(Clone)]
pub(crate) struct Schedule {
    /// The points the run reached so far (`step:<name>`, `set_point:<label>`).
    pub(crate) marks: super::Marks,
    /// Bench time per real time.
    pub(crate) time_scale: f64,
    /// When the bench started.
    pub(crate) epoch: Instant,
}

/// The fault plan of one device and how far it has got.
pub(crate) struct Faults {
    config: Option<FaultConfig>,
    answered: u64,
    faulted: u64,
    /// Draws for random faults (`probability`), seeded from the bench's seed and the device.
    rng: rand::rngs::StdRng,
    /// What the fault's start is scheduled against; `None`: it starts with the bench, and a
    /// fault waiting for a point of a run never starts.
    schedule: Option<Schedule>,
    /// Answers given before the fault's schedule was met (it counts `after_requests` from
    /// there); `None` until then.
    armed_at: Option<u64>,
}

impl Faults {
    #[cfg(test)]
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
            schedule: None,
            armed_at: None,
        }
    }

    /// The same plan, its start measured against `schedule`.
    pub(crate) fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// Whether the fault's schedule is met now.
    fn schedule_met(&self, fault: &FaultConfig) -> bool {
        let Some(schedule) = &self.schedule else {
            return !fault.needs_a_run() && fault.after_time.is_none();
        };
        let bench_s = schedule.epoch.elapsed().as_secs_f64() * schedule.time_scale;
        if fault.after_time.is_some_and(|t| bench_s < t) {
            return false;
        }
        if !fault.needs_a_run() {
            return true;
        }
        let marks = schedule
            .marks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let reached = |mark: String| marks.contains(&mark);
        fault
            .at_step
            .as_ref()
            .is_none_or(|step| reached(format!("step:{step}")))
            && fault
                .at_set_point
                .as_ref()
                .is_none_or(|label| reached(format!("set_point:{label}")))
    }

    /// How long an unplugged device stays away, real time.
    fn away_for(&self, fault: &FaultConfig) -> Option<Duration> {
        let scale = self.schedule.as_ref().map_or(1.0, |s| s.time_scale);
        fault
            .reconnect_after
            .map(|bench_s| Duration::from_secs_f64((bench_s / scale).max(0.0)))
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
        let armed_at = match self.armed_at {
            Some(at) => at,
            None if self.schedule_met(fault) => {
                // This very answer is the first one the schedule counts.
                self.armed_at = Some(self.answered - 1);
                self.answered - 1
            }
            None => return Delivery::Now(answer),
        };
        let chance = match fault.probability {
            Some(p) => rand::RngExt::random_bool(&mut self.rng, p.clamp(0.0, 1.0)),
            None => true,
        };
        let due = self.answered - armed_at > fault.after_requests
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
            FaultKind::Disconnect => Delivery::Unplug(self.away_for(fault)),
        }
    }
}

/// Serves until stopped or, when `eof_is_close` (a TCP peer), until the peer closes. A pty
/// reads 0 bytes while idle, so there end of file means nothing. Returns `Some(away)` when
/// a fault unplugs the device (how long it stays away; for ever when `None`).
fn serve<T: Read + Write>(
    ctx: &Context<'_>,
    transport: &mut T,
    device: &mut dyn FramedDevice,
    faults: &mut Faults,
    eof_is_close: bool,
) -> Option<Option<Duration>> {
    let mut pending: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !ctx.stop.load(Ordering::Relaxed) {
        if let Some(answer) = device.poll_deferred() {
            // An answer owed to an earlier request meets the faults as any answer does.
            let before = faults.faulted();
            let delivery = faults.deliver(Some(answer), device.keeps_terminator());
            if faults.faulted() > before {
                record(ctx, FAULT_INJECTED.as_bytes());
            }
            match delivery {
                Delivery::Now(bytes) => {
                    let _ = transport.write_all(&bytes);
                }
                Delivery::After(bytes, delay) => {
                    if !pause(ctx.stop, delay) {
                        return None;
                    }
                    let _ = transport.write_all(&bytes);
                }
                Delivery::Nothing => {}
                Delivery::Unplug(away) => return Some(away),
            }
        }
        let n = match transport.read(&mut chunk) {
            Ok(0) if ctx.stop.load(Ordering::Relaxed) => return None,
            Ok(0) => {
                if eof_is_close {
                    return None;
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
                return None;
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
            let before = faults.faulted();
            let delivery = faults.deliver(answer, device.keeps_terminator());
            if faults.faulted() > before {
                // Every injected fault is in the simulator's log, to be found in the record.
                record(ctx, FAULT_INJECTED.as_bytes());
            }
            match delivery {
                Delivery::Now(bytes) => out.extend_from_slice(&bytes),
                Delivery::After(bytes, delay) => {
                    if !out.is_empty() {
                        let _ = transport.write_all(&out);
                        out.clear();
                    }
                    if !pause(ctx.stop, delay) {
                        return None;
                    }
                    let _ = transport.write_all(&bytes);
                }
                Delivery::Nothing => {}
                Delivery::Unplug(away) => {
                    if !out.is_empty() {
                        let _ = transport.write_all(&out);
                    }
                    return Some(away);
                }
            }
        }
        if pending.len() > MAX_PENDING {
            pending.clear();
        }
        if !out.is_empty() {
            let _ = transport.write_all(&out);
        }
    }
    None
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
    let at = ctx.epoch.elapsed();
    let mut log = ctx
        .log
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    log.push(ctx.name, at, text);
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
            ..FaultConfig::new(kind)
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

    fn schedule(time_scale: f64, age: Duration) -> (Schedule, super::super::Marks) {
        let marks: super::super::Marks = Default::default();
        let epoch = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        let schedule = Schedule {
            marks: Arc::clone(&marks),
            time_scale,
            epoch,
        };
        (schedule, marks)
    }

    fn is_now(d: &Delivery) -> bool {
        matches!(d, Delivery::Now(b) if b == b"OK\n")
    }

    #[test]
    fn a_fault_at_a_set_point_waits_for_it_then_counts_its_answers_from_there() {
        let config = FaultConfig {
            at_set_point: Some("row 2".into()),
            after_requests: 1,
            count: Some(1),
            ..FaultConfig::new(FaultKind::Silent)
        };
        let (schedule, marks) = schedule(1.0, Duration::ZERO);
        let mut f = Faults::new(Some(config)).with_schedule(schedule);
        for _ in 0..5 {
            assert!(is_now(&f.deliver(Some(b"OK\n".to_vec()), true)));
        }
        marks.lock().unwrap().push("set_point:row 1".into());
        assert!(is_now(&f.deliver(Some(b"OK\n".to_vec()), true)));
        marks.lock().unwrap().push("set_point:row 2".into());
        // One normal answer at the set point, then the fault, once.
        assert!(is_now(&f.deliver(Some(b"OK\n".to_vec()), true)));
        assert!(matches!(
            f.deliver(Some(b"OK\n".to_vec()), true),
            Delivery::Nothing
        ));
        assert!(is_now(&f.deliver(Some(b"OK\n".to_vec()), true)));
        assert_eq!(f.faulted(), 1);
    }

    #[test]
    fn a_fault_at_a_step_never_starts_without_a_run_to_announce_it() {
        let config = FaultConfig {
            at_step: Some("vt".into()),
            ..FaultConfig::new(FaultKind::Garbage)
        };
        let mut f = Faults::new(Some(config));
        for _ in 0..3 {
            assert!(is_now(&f.deliver(Some(b"OK\n".to_vec()), true)));
        }
    }

    #[test]
    fn a_fault_after_a_bench_time_starts_then() {
        let config = FaultConfig {
            after_time: Some(3600.0),
            ..FaultConfig::new(FaultKind::Silent)
        };
        // 10 ms at a time scale of 1000 is 10 bench seconds: not yet an hour.
        let (young, _) = schedule(1000.0, Duration::from_millis(10));
        let mut f = Faults::new(Some(config.clone())).with_schedule(young);
        assert!(is_now(&f.deliver(Some(b"OK\n".to_vec()), true)));
        // 4 s at a time scale of 1000 is more than an hour of bench time.
        let (old, _) = schedule(1000.0, Duration::from_secs(4));
        let mut f = Faults::new(Some(config)).with_schedule(old);
        assert!(matches!(
            f.deliver(Some(b"OK\n".to_vec()), true),
            Delivery::Nothing
        ));
    }

    #[test]
    fn a_disconnect_unplugs_for_its_bench_time_interval_scaled_to_real_time() {
        let config = FaultConfig {
            reconnect_after: Some(30.0),
            ..FaultConfig::new(FaultKind::Disconnect)
        };
        let (schedule, _) = schedule(100.0, Duration::ZERO);
        let mut f = Faults::new(Some(config)).with_schedule(schedule);
        assert!(matches!(
            f.deliver(Some(b"OK\n".to_vec()), true),
            Delivery::Unplug(Some(d)) if d == Duration::from_millis(300)
        ));
        let mut never = Faults::new(Some(FaultConfig::new(FaultKind::Disconnect)));
        assert!(matches!(
            never.deliver(Some(b"OK\n".to_vec()), true),
            Delivery::Unplug(None)
        ));
    }

    #[test]
    fn schedules_and_intervals_read_as_quantities() {
        let yaml =
            "kind: disconnect\nreconnect_after: 2 min\nafter_time: 1.5 h\nat_set_point: row 3\n";
        let config: FaultConfig = serde_saphyr::from_str(yaml).expect("a fault");
        assert_eq!(config.reconnect_after, Some(120.0));
        assert_eq!(config.after_time, Some(5400.0));
        assert_eq!(config.at_set_point.as_deref(), Some("row 3"));
        assert!(config.needs_a_run());
        assert!(serde_saphyr::from_str::<FaultConfig>("kind: silent\nafter_time: 3 mL\n").is_err());
        assert!(serde_saphyr::from_str::<FaultConfig>("kind: silent\nafter_time: -3\n").is_err());
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
