//! Waveform capture from the flow analyzer's fast-data stream through the real driver, over
//! the simulated analyzer's pseudo-terminal: the expected number of packets for a duration,
//! whole breaths, corrupted packets counted and never used, garbage resynchronised, and no
//! answer a typed timeout naming the instrument.

use qbench::driver::{
    CaptureLength, CaptureRequest, Driver, DriverErrorKind, Waveform, inspiration_starts,
    open_driver,
};
use qbench::link::{LinkErrorKind, LinkSettings, SerialSettings, open_link};
use qbench::sim::{FastDataFaults, FaultConfig, FaultKind, SimBench, SimConfig, resolve_link};
use std::collections::BTreeMap;
use std::time::Duration;

const TIME_SCALE: f64 = 200.0;

fn on_pty(bench: &SimBench, device: &str, name: &str, timeout_ms: u64) -> Box<dyn Driver> {
    let mut serial = SerialSettings::new(format!("sim:{device}"));
    serial.timeout_ms = timeout_ms;
    let settings = resolve_link(&LinkSettings::Serial(serial), Some(bench)).expect("served");
    let link = open_link(&settings).expect("open the pty");
    open_driver(name, link, &BTreeMap::new()).expect("driver opens")
}

/// A bench whose ventilator runs (500 mL, 15 /min, Ti 1 s) and the analyzer's driver.
fn ventilating(configure: impl FnOnce(&mut SimConfig)) -> (SimBench, Box<dyn Driver>) {
    let mut config = SimConfig {
        seed: 5,
        ..Default::default()
    };
    configure(&mut config);
    let bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    let mut vent = on_pty(&bench, "ventilator", "qbench-ventilator", 1000);
    vent.act("start").expect("ventilator starts");
    let analyzer = on_pty(&bench, "flow_analyzer", "imt-flowanalyser", 500);
    (bench, analyzer)
}

fn request(length: CaptureLength) -> CaptureRequest {
    CaptureRequest {
        quantities: vec!["flow".into(), "pressure".into()],
        length,
        timeout: Duration::from_secs(10),
    }
}

fn two_seconds() -> CaptureRequest {
    request(CaptureLength::Duration(Duration::from_secs(2)))
}

fn channel<'a>(w: &'a Waveform, quantity: &str) -> &'a [f64] {
    &w.channels
        .iter()
        .find(|c| c.quantity == quantity)
        .expect("channel")
        .values
}

/// Every step between samples is a whole number of 5 ms packets, going forward.
fn steps_are_packets(w: &Waveform) -> bool {
    w.ticks.windows(2).all(|t| t[1] > t[0])
}

#[test]
fn a_duration_captures_one_packet_per_5_ms_of_bench_time() {
    let (_bench, mut analyzer) = ventilating(|_| {});
    let w = analyzer.capture(&two_seconds()).expect("captures");
    assert_eq!(w.ticks.len(), 400, "2 s at 200 packets/s");
    let time = w.time_s();
    assert_eq!(time[0], 0.0);
    assert!((time[399] - 1.995).abs() < 1e-9, "{}", time[399]);
    assert_eq!(w.counts.rejected, 0);
    assert_eq!(w.counts.discarded_bytes, 0);
    let (flow, pressure) = (channel(&w, "flow"), channel(&w, "pressure"));
    assert_eq!((flow.len(), pressure.len()), (400, 400));
    assert_eq!(w.channels[0].unit, "L/min");
    assert_eq!(w.channels[1].unit, "mbar");
    // Volume control, 500 mL over 1 s: 30 L/min in, PEEP 5 mbar between breaths.
    assert!(flow.iter().any(|f| (*f - 30.0).abs() < 0.05), "inspiration");
    assert!(flow.iter().any(|f| *f < -1.0), "expiration");
    // PEEP 5 cmH2O is 4.9 mbar.
    assert!(pressure.iter().all(|p| *p >= 4.85), "never below PEEP");
    assert!(pressure.iter().any(|p| *p > 10.0), "inspiratory pressure");
    // The stream was stopped: the analyzer answers ordinary reads again at once.
    let o2 = analyzer.read("oxygen").expect("reads after the capture");
    assert!(o2.value > 20.0, "{o2}");
}

#[test]
fn whole_breaths_start_at_an_inspiration() {
    let (_bench, mut analyzer) = ventilating(|_| {});
    let w = analyzer
        .capture(&request(CaptureLength::Breaths(2)))
        .expect("captures");
    assert_eq!(w.breaths, 2);
    // 15 /min: a breath is 4 s, 800 packets.
    let n = w.ticks.len();
    assert!((1598..=1602).contains(&n), "{n} samples");
    let flow = channel(&w, "flow");
    assert!(flow[0] > 0.5, "starts in inspiration: {}", flow[0]);
    assert_eq!(inspiration_starts(flow, 0.5).len(), 1, "one more start inside");
    assert!(flow[n - 1] <= 0.5, "ends before the next inspiration");
}

#[test]
fn corrupted_packets_are_counted_and_never_used() {
    let (_bench, mut analyzer) = ventilating(|c| {
        c.flow_analyzer.fast_data = FastDataFaults {
            corrupt_count: Some(5),
            ..Default::default()
        };
    });
    let w = analyzer.capture(&two_seconds()).expect("captures");
    assert_eq!(w.counts.rejected, 5);
    assert_eq!(w.ticks.len(), 400);
    assert!(steps_are_packets(&w));

    let (_bench, mut analyzer) = ventilating(|c| {
        c.flow_analyzer.fast_data = FastDataFaults {
            corrupt_fraction: 0.1,
            ..Default::default()
        };
    });
    let w = analyzer.capture(&two_seconds()).expect("captures");
    let used = w.ticks.len() as u64;
    assert!(w.counts.rejected >= 10, "{:?}", w.counts);
    // Every packet of the 2 s is either used or rejected (the first used one starts it).
    assert!(
        (400..=402).contains(&(used + w.counts.rejected)),
        "{used} used, {:?}",
        w.counts
    );
    assert!(steps_are_packets(&w));
    assert!(w.ticks.windows(2).any(|t| t[1] - t[0] > 1), "gaps");
    let notes = analyzer.take_notes().join("\n");
    assert!(notes.contains("failed their checksum"), "{notes}");
}

#[test]
fn garbage_on_the_line_resynchronises() {
    let (_bench, mut analyzer) = ventilating(|c| {
        c.flow_analyzer.fast_data = FastDataFaults {
            garbage_after_packets: Some(50),
            ..Default::default()
        };
    });
    let w = analyzer.capture(&two_seconds()).expect("captures");
    assert_eq!(w.counts.discarded_bytes, 5);
    assert_eq!(w.counts.rejected, 0);
    assert_eq!(w.ticks.len(), 400, "no packet lost");
    assert!(steps_are_packets(&w));
}

#[test]
fn no_answer_times_out_naming_the_instrument() {
    let (_bench, mut analyzer) = ventilating(|c| {
        c.flow_analyzer.fault = Some(FaultConfig {
            kind: FaultKind::Silent,
            after_requests: 0,
            count: None,
            delay_ms: 0,
            probability: None,
        });
    });
    let started = std::time::Instant::now();
    let err = analyzer.capture(&two_seconds()).expect_err("times out");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        err.link_error()
            .is_some_and(|e| e.kind == LinkErrorKind::Timeout),
        "{err}"
    );
    assert!(err.to_string().contains("imt-flowanalyser"), "{err}");
}

#[test]
fn a_capture_longer_than_its_timeout_fails_as_such() {
    let (_bench, mut analyzer) = ventilating(|_| {});
    let mut long = request(CaptureLength::Duration(Duration::from_secs(3600)));
    long.timeout = Duration::from_millis(300);
    let err = analyzer.capture(&long).expect_err("too long");
    assert!(
        matches!(err.kind, DriverErrorKind::NoEvent { .. }),
        "{err:?}"
    );
    // The stream was stopped: the next read is clean.
    assert!(analyzer.read("oxygen").is_ok());
}
