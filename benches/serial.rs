//! Serial query/answer: the flow-analyzer driver reading one measurement from the simulated
//! analyzer over a real pseudo-terminal, 10,000 times.
//!
//! Seven rounds of 10,000 queries; each round is followed by 10,000 exchanges of the same
//! bytes between two bare threads over a fresh pty pair, with the same system calls as
//! qbench's link (the client writes, then waits in `ppoll` and reads; the server waits in
//! `ppoll`, reads and writes). That second figure is the kernel's pty path on this machine at
//! this moment (each direction goes through a kernel worker thread): the difference between
//! the two is what the driver, the codec and the simulator cost. Printed: best and median
//! per query/answer over the rounds, wall-clock and the querying thread's CPU time, and the
//! load average, since wall-clock figures on a busy machine are upper bounds.

mod common;

use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use qbench::driver::{DeviceEvent, open_driver};
use qbench::link::{SerialLink, SerialSettings};
use qbench::sim::{SimBench, SimConfig};
use qbench::units::parse_quantity;
use serialport::TTYPort;
use std::collections::BTreeMap;
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

const QUERIES: usize = 10_000;
const ROUNDS: usize = 7;

fn main() {
    let bench = SimBench::start(&SimConfig::default(), 200.0).expect("simulated bench");
    let open = |device: &str, driver: &str, options: &[(&str, &str)]| {
        let port = bench.port(device).expect("device").display().to_string();
        let link = SerialLink::open(&SerialSettings::new(port)).expect("link");
        let options: BTreeMap<String, String> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        open_driver(driver, Box::new(link), &options).expect("driver")
    };
    let mut ventilator = open("ventilator", "qbench-ventilator", &[]);
    let mut analyzer = open(
        "flow_analyzer",
        "imt-flowanalyser",
        &[("poll_interval", "50 us")],
    );
    ventilator
        .set("tidal_volume", &parse_quantity("500 mL").expect("q"))
        .expect("set");
    ventilator.act("start").expect("start");
    analyzer
        .await_event(DeviceEvent::Breath, Duration::from_secs(5))
        .expect("a breath");

    let load_before = load_average();
    let per_query = |d: Duration| d.as_secs_f64() * 1e6 / QUERIES as f64;
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let (mut floor, mut floor_cpu) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (result, elapsed, used) = common::time_cpu(|| {
            for _ in 0..QUERIES {
                analyzer.read("inspired_volume")?;
            }
            Ok::<(), qbench::driver::DriverError>(())
        });
        result.expect("every query answered");
        wall.push(per_query(elapsed));
        cpu.push(per_query(used));
        let (elapsed, used) = bare_pty_exchanges();
        floor.push(per_query(elapsed));
        floor_cpu.push(per_query(used));
    }
    println!(
        "serial: {ROUNDS} rounds of {QUERIES} queries of %RM#23 (Vti) to the simulated IMT \
         analyzer over a pty (load average before {load_before}, after {})",
        load_average()
    );
    let target = "≤ 40 µs (a Python loop on a raw pty: ~64 µs)";
    let (best, median) = common::best_and_median(wall);
    common::figure("per query/answer: best", best, "µs", target);
    common::figure("per query/answer: median", median, "µs", target);
    let (best, median) = common::best_and_median(cpu);
    common::figure("  querying thread's CPU: best", best, "µs", "-");
    common::figure("  querying thread's CPU: median", median, "µs", "-");
    let (best, median) = common::best_and_median(floor);
    common::figure(
        "bare pty exchange, same system calls: best",
        best,
        "µs",
        "-",
    );
    common::figure(
        "bare pty exchange, same system calls: median",
        median,
        "µs",
        "-",
    );
    let (best, median) = common::best_and_median(floor_cpu);
    common::figure("  its client thread's CPU: best", best, "µs", "-");
    common::figure("  its client thread's CPU: median", median, "µs", "-");
    let _ = ventilator.make_safe();
}

/// The request and answer of the driver's query, byte for byte.
const REQUEST: &[u8] = b"%RM#23\r";
const ANSWER: &[u8] = b"%RM#23$500\r";

/// [`QUERIES`] exchanges of [`REQUEST`] and [`ANSWER`] between this thread (on the slave) and
/// a server thread (on the master) of a fresh pty pair; the time they took, wall-clock and
/// this thread's CPU.
fn bare_pty_exchanges() -> (Duration, Duration) {
    let (master, slave) = TTYPort::pair().expect("a pty pair");
    let server = std::thread::spawn(move || {
        let fd = master.as_raw_fd();
        let mut buf = [0u8; 64];
        for _ in 0..QUERIES {
            read_line(fd, &mut buf);
            write_all(fd, ANSWER);
        }
        master
    });
    let fd = slave.as_raw_fd();
    let mut buf = [0u8; 64];
    let (_, elapsed, used) = common::time_cpu(|| {
        for _ in 0..QUERIES {
            write_all(fd, REQUEST);
            read_line(fd, &mut buf);
        }
    });
    drop(server.join().expect("the server thread"));
    (elapsed, used)
}

/// Waits (at most a second, else the benchmark fails) and reads until a carriage return.
fn read_line(fd: RawFd, buf: &mut [u8]) {
    let mut got = 0;
    while got == 0 || buf[got - 1] != b'\r' {
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let ready = ppoll(
            &mut fds,
            Some(TimeSpec::from_duration(Duration::from_secs(1))),
            None,
        )
        .expect("ppoll");
        assert_eq!(ready, 1, "no bytes within a second on the bare pty");
        got += nix::unistd::read(fd, &mut buf[got..]).expect("read");
    }
}

/// Writes all of `bytes`. The descriptors are blocking, but the exchange is a ping-pong of
/// a few bytes, so the pty always has room for them.
fn write_all(fd: RawFd, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = nix::unistd::write(fd, rest).expect("write");
        rest = &rest[n..];
    }
}

/// The 1, 5 and 15 min load averages, from /proc.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}
