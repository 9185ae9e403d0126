//! Waveform capture from the flow analyzer's fast-data stream through the real driver, over
//! the simulated analyzer's pseudo-terminal: the expected number of packets for a duration,
//! whole breaths, corrupted packets counted and never used, garbage resynchronised, and no
//! answer a typed timeout naming the instrument. Then whole runs of the real `qbench` with a
//! `capture:` step (the report plots it) and volumes stated at a gas standard (the record
//! states the room conditions), and the validation of both.

use crate::util::Dir;
use qbench::analysis::Verdict;
use qbench::driver::{
    CaptureLength, CaptureRequest, Driver, DriverErrorKind, Waveform, inspiration_starts,
    open_driver,
};
use qbench::journal::{RunEvent, read_journal};
use qbench::link::{LinkErrorKind, LinkSettings, SerialSettings, open_link};
use qbench::record::{Record, read_record};
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
    // One whole breath period (15 /min), so an inspiration is in it wherever it starts.
    let w = analyzer
        .capture(&request(CaptureLength::Duration(Duration::from_secs(4))))
        .expect("captures");
    assert_eq!(w.ticks.len(), 800, "4 s at 200 packets/s");
    let time = w.time_s();
    assert_eq!(time[0], 0.0);
    assert!((time[799] - 3.995).abs() < 1e-9, "{}", time[799]);
    assert_eq!(w.counts.rejected, 0);
    assert_eq!(w.counts.missing, 0);
    assert_eq!(w.counts.discarded_bytes, 0);
    let (flow, pressure) = (channel(&w, "flow"), channel(&w, "pressure"));
    assert_eq!((flow.len(), pressure.len()), (800, 800));
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
    assert_eq!(
        inspiration_starts(flow, 0.5).len(),
        1,
        "one more start inside"
    );
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
            delay_ms: 0,
            ..FaultConfig::new(FaultKind::Silent)
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

const PROCEDURE: &str = "procedures/ventilator-breath-waveform.yaml";

/// The simulated fixture with each `(from, to)` replacement applied to its text.
fn fixture_variant(dir: &Dir, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text = dir.read("fixtures/sim.yaml");
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "fixtures/sim.yaml no longer contains `{from}`"
        );
        text = text.replace(from, to);
    }
    dir.write(name, &text);
    name.to_string()
}

fn run(dir: &Dir, fixture: &str, out: &str) -> Record {
    let o = dir.qbench(&[
        "run",
        PROCEDURE,
        "--fixture",
        fixture,
        "--yes",
        "--json",
        "--out",
        out,
    ]);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    read_record(&dir.path().join(out).join("record.json")).expect("record")
}

#[test]
fn a_run_captures_two_breaths_and_the_report_plots_them() {
    let dir = Dir::new();
    let record = run(&dir, "fixtures/sim.yaml", "run");
    assert_eq!(record.verdict, Some(Verdict::Pass));
    assert_eq!(record.waveforms.len(), 1);
    let w = &record.waveforms[0];
    assert_eq!((w.id.as_str(), w.breaths), ("breath", 2));
    assert!(w.is_complete());
    // 20 /min (with the simulated ventilator's 0.5 % rate error): about 600 samples a breath.
    assert!((1180..=1210).contains(&w.ticks.len()), "{}", w.ticks.len());
    assert_eq!((w.counts.rejected, w.counts.missing), (0, 0));
    let flow = w.channel("flow").expect("flow");
    assert_eq!(flow.unit, "L/min");
    // The peak-flow check was computed from the recorded samples.
    let peak = flow.values.iter().copied().fold(f64::MIN, f64::max);
    let check = record
        .checks
        .iter()
        .find(|c| c.id == "peak_inspiratory_flow")
        .expect("check");
    let checked = check.value.as_ref().expect("a value").value;
    assert!(
        (checked - peak).abs() < 1e-9 * peak.abs(),
        "{checked} vs {peak}"
    );
    assert_eq!(check.verdict, Verdict::Pass);
    // Journaled in a header and chunks, not one entry per sample.
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    let chunks = journal
        .entries
        .iter()
        .filter(|e| matches!(e.event, RunEvent::WaveformChunk(_)))
        .count();
    assert_eq!(chunks, 2);
    let report = dir.read("run/report.html");
    assert!(report.contains("<h2>Waveforms</h2>"));
    assert!(report.contains(r#"class="plot waveform""#));
    assert_eq!(report.matches("<polyline").count(), 2, "flow and pressure");
    assert!(report.contains("flow [L/min]") && report.contains("pressure [mbar]"));

    // A run without a capture has no waveform section.
    let o = dir.qbench(&[
        "run",
        "procedures/ventilator-rate-accuracy.yaml",
        "--yes",
        "--out",
        "plain",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let plain = dir.read("plain/report.html");
    assert!(!plain.contains("Waveforms") && !plain.contains("<polyline"));
    assert!(!dir.read("plain/record.json").contains("waveforms"));
}

#[test]
fn corrupted_packets_are_counted_in_the_record_and_the_report() {
    let dir = Dir::new();
    let fixture = fixture_variant(
        &dir,
        "corrupt.yaml",
        &[(
            "flow_analyzer: { model: PF-300, volume_noise_sd: 0.5 mL }",
            "flow_analyzer: { model: PF-300, volume_noise_sd: 0.5 mL, fast_data: { corrupt_fraction: 5 % } }",
        )],
    );
    let record = run(&dir, &fixture, "run");
    let w = &record.waveforms[0];
    assert!(w.counts.rejected > 10, "{:?}", w.counts);
    assert!(w.ticks.windows(2).all(|t| t[1] > t[0]));
    let report = dir.read("run/report.html");
    assert!(
        report.contains(&format!(
            "{} rejected (failed checksum, not used)",
            w.counts.rejected
        )),
        "the report states the count"
    );
    assert!(
        record
            .events
            .iter()
            .any(|e| e.text.contains("failed their checksum"))
    );
}

#[test]
fn volumes_are_stated_at_btps_from_the_analyzers_atp_with_the_room_conditions() {
    let dir = Dir::new();
    // The reference's room: 960 hPa, 28 °C, 50 % RH; the analyzer reports at ATP.
    let fixture = fixture_variant(
        &dir,
        "atp.yaml",
        &[
            ("gas_standard: BTPS", "gas_standard: ATP"),
            (
                "flow_analyzer: { model: PF-300, volume_noise_sd: 0.5 mL }",
                "flow_analyzer: { model: PF-300, volume_noise_sd: 0.5 mL }\n  room_sensor: { temperature: 28 °C, humidity: 50 %, pressure: 960 hPa }",
            ),
        ],
    );
    let record = run(&dir, &fixture, "run");
    assert_eq!(record.gas_conversions.len(), 1);
    let g = &record.gas_conversions[0];
    assert_eq!((g.from.as_str(), g.to.as_str()), ("ATP", "BTPS"));
    assert_eq!(g.room, "room_conditions");
    assert!(
        (g.temperature.value - 28.0).abs() < 0.01,
        "{}",
        g.temperature
    );
    assert!((g.humidity.value - 50.0).abs() < 0.01, "{}", g.humidity);
    assert!((g.pressure.value - 960.0).abs() < 0.1, "{}", g.pressure);
    // 119 / 110 in the reference's worked example.
    assert!((g.factor - 119.03 / 110.19).abs() < 0.002, "{}", g.factor);
    // The raw samples are as the analyzer read them; the check is their mean times the factor.
    let m = record
        .measurements
        .iter()
        .find(|m| m.id == "delivered_volume")
        .expect("measured");
    let raw_mean = m.samples.iter().map(|s| s.value).sum::<f64>() / m.samples.len() as f64;
    let check = record
        .checks
        .iter()
        .find(|c| c.id == "volume_accuracy")
        .expect("check");
    let checked = check.value.as_ref().expect("a value").value;
    assert!(
        (checked - raw_mean * g.factor).abs() < 1e-6,
        "{checked} vs {raw_mean}"
    );
    let report = dir.read("run/report.html");
    assert!(report.contains("Gas standard and room conditions"));
    assert!(
        report.contains("28 °C, 50 % RH, 960 hPa"),
        "room conditions in the report"
    );
    assert!(report.contains("ATP (by the flow_reference)"));
}

#[test]
fn capture_and_gas_standard_mistakes_are_located() {
    let dir = Dir::new();
    let text = dir.read(PROCEDURE);
    let bad = text
        .replace(
            "quantities: [flow, pressure]",
            "quantities: [flow, presure]",
        )
        .replace("      breaths: 2\n", "")
        .replace("state_at: BTPS", "state_at: BTSP");
    dir.write("procedures/bad.yaml", &bad);
    let o = dir.qbench(&["validate", "procedures/bad.yaml"]);
    assert_eq!(o.code, 2, "{}\n{}", o.stdout, o.stderr);
    let all = format!("{}{}", o.stdout, o.stderr);
    let line_of = |needle: &str| {
        bad.lines()
            .position(|l| l.contains(needle))
            .map(|i| i + 1)
            .expect("in the file")
    };
    assert!(
        all.contains("does not stream `presure`") && all.contains("did you mean `pressure`?"),
        "{all}"
    );
    assert!(
        all.contains(&format!("bad.yaml:{}:", line_of("presure"))),
        "{all}"
    );
    assert!(
        all.contains("exactly one of `breaths:` or `duration:`"),
        "{all}"
    );
    assert!(all.contains("unknown gas standard `BTSP`"), "{all}");
    assert!(
        all.contains(&format!("bad.yaml:{}:", line_of("BTSP"))),
        "{all}"
    );
    let on_ventilator = text.replace(
        "      role: flow_reference\n      quantities",
        "      role: dut\n      quantities",
    );
    dir.write("procedures/vent.yaml", &on_ventilator);
    let o = dir.qbench(&["validate", "procedures/vent.yaml"]);
    assert_eq!(o.code, 2);
    assert!(
        format!("{}{}", o.stdout, o.stderr).contains("a ventilator has no data stream"),
        "{}",
        o.stdout
    );
}
