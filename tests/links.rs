//! Links and protocols against the simulated bench over real pseudo-terminals and loopback
//! TCP: SCPI, Modbus RTU and TCP, a device profile, and every fault the issue names (garbage,
//! a partial line, a wrong checksum, a Modbus CRC error, a late answer, no answer, an
//! unplugged device), each a typed error naming the instrument and what was expected, within
//! the link's timeout. Also `qbench probe` and `qbench ports` as a user runs them.

use crate::util::Dir;
use qbench::driver::{DeviceEvent, Driver, DriverErrorKind, open_driver};
use qbench::link::{LinkErrorKind, LinkSettings, SerialSettings, TcpSettings, open_link};
use qbench::sim::{FaultConfig, FaultKind, SimBench, SimConfig, resolve_link};
use qbench::units::parse_quantity;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TIME_SCALE: f64 = 200.0;
const PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/profiles/qbench-thermohygrometer.yaml"
);

fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The driver `name` on the simulated `device`'s pty, with a per-answer timeout.
fn on_pty(
    bench: &SimBench,
    device: &str,
    name: &str,
    opts: &[(&str, &str)],
    timeout_ms: u64,
) -> Box<dyn Driver> {
    let mut serial = SerialSettings::new(format!("sim:{device}"));
    serial.timeout_ms = timeout_ms;
    let settings = resolve_link(&LinkSettings::Serial(serial), Some(bench)).expect("served");
    let link = open_link(&settings).expect("open the pty");
    open_driver(name, link, &options(opts)).expect("driver opens")
}

/// The driver `name` on the simulated `device`'s loopback TCP port.
fn on_tcp(bench: &SimBench, device: &str, name: &str, opts: &[(&str, &str)]) -> Box<dyn Driver> {
    let mut tcp = TcpSettings::new(format!("sim:{device}"), 0);
    tcp.timeout_ms = 500;
    let settings = resolve_link(&LinkSettings::Tcp(tcp), Some(bench)).expect("served on tcp");
    let link = open_link(&settings).expect("connect");
    open_driver(name, link, &options(opts)).expect("driver opens")
}

fn fault(kind: FaultKind, after_requests: u64, count: Option<u64>) -> Option<FaultConfig> {
    Some(FaultConfig {
        kind,
        after_requests,
        count,
        delay_ms: 400,
        probability: None,
        ..FaultConfig::new(kind)
    })
}

#[test]
fn the_scpi_pressure_meter_agrees_with_the_flow_analyzer() {
    let bench = SimBench::start(&SimConfig::default(), TIME_SCALE).expect("bench starts");
    let mut vent = on_pty(&bench, "ventilator", "qbench-ventilator", &[], 500);
    let mut analyzer = on_pty(
        &bench,
        "flow_analyzer",
        "imt-flowanalyser",
        &[("poll_interval", "200 us")],
        500,
    );
    let mut meter = on_pty(&bench, "pressure_meter", "qbench-pressure-meter", &[], 500);
    let id = meter.identify().expect("identity");
    assert_eq!(
        (id.model.as_str(), id.serial.as_str()),
        ("SIM-PM", "SIM-PM-0001")
    );
    // In standby the port is at ambient pressure, and no breath has a peak yet.
    assert_eq!(meter.read("pressure").expect("pressure").value, 0.0);
    let err = meter.read("peak_pressure").unwrap_err();
    assert!(
        matches!(err.kind, DriverErrorKind::NotDefined { .. }),
        "{err}"
    );
    let notes = meter.take_notes();
    assert!(
        notes.iter().any(|n| n.contains("-230")),
        "the instrument's own error reaches the notes: {notes:?}"
    );

    vent.set("peep", &parse_quantity("8 cmH2O").unwrap())
        .unwrap();
    vent.act("start").unwrap();
    for _ in 0..3 {
        analyzer
            .await_event(DeviceEvent::Breath, Duration::from_millis(1000))
            .expect("a breath");
    }
    let reference = analyzer.read("peak_pressure").unwrap().value;
    let second = meter.read("peak_pressure").unwrap();
    assert_eq!(second.unit.symbol(), "hPa");
    assert!(
        (second.value - reference).abs() < 0.2,
        "pressure meter {second} vs analyzer {reference} mbar"
    );
    let peep = meter.read("peep").unwrap().value;
    assert!((peep - 8.0 * 0.980665).abs() < 1e-3, "peep {peep}");
    let now = meter.read("pressure").unwrap().value;
    assert!(now >= peep - 1e-6 && now <= second.value + 0.01, "{now}");
    // Zeroing while ventilating is refused by the instrument, and the refusal is typed.
    let err = meter.act("zero").unwrap_err();
    assert!(
        matches!(err.kind, DriverErrorKind::InstrumentRefused { .. }),
        "{err}"
    );
    assert!(format!("{:?}", err.kind).contains("-221"), "{err:?}");
    vent.make_safe().unwrap();
}

#[test]
fn the_same_drivers_work_over_loopback_tcp() {
    let config = SimConfig {
        tcp: vec![
            "pressure_meter".into(),
            "room_sensor".into(),
            "thermohygrometer".into(),
        ],
        ..Default::default()
    };
    let bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    let mut meter = on_tcp(&bench, "pressure_meter", "qbench-pressure-meter", &[]);
    assert_eq!(meter.identify().unwrap().serial, "SIM-PM-0001");
    assert_eq!(meter.read("pressure").unwrap().value, 0.0);
    let mut generic = on_tcp(
        &bench,
        "pressure_meter",
        "scpi",
        &[("read.pressure", "MEAS:PRES?"), ("unit.pressure", "Pa")],
    );
    drop(meter);
    assert_eq!(generic.read("pressure").unwrap().unit.symbol(), "Pa");
    drop(generic);
    let mut room = on_tcp(
        &bench,
        "room_sensor",
        "qbench-room-sensor",
        &[("framing", "tcp")],
    );
    assert_eq!(room.identify().unwrap().serial, "40001");
    let p = room.read("barometric_pressure").unwrap();
    assert!((p.value - 1013.25).abs() < 1e-3, "{p}");
    let mut th = on_tcp(
        &bench,
        "thermohygrometer",
        "profile",
        &[("profile", PROFILE)],
    );
    assert_eq!(th.read("humidity").unwrap().value, 50.0);
    assert!(
        bench.log().iter().any(|l| l.device == "room_sensor"),
        "the sensor logged the Modbus TCP requests"
    );
}

#[test]
fn the_room_sensor_speaks_modbus_rtu() {
    let mut config = SimConfig::default();
    config.room_sensor.temperature = 21.5;
    config.room_sensor.unit_id = 7;
    let bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    let mut room = on_pty(
        &bench,
        "room_sensor",
        "qbench-room-sensor",
        &[("unit_id", "7")],
        300,
    );
    assert_eq!(room.read("temperature").unwrap().value, 21.5);
    let mut scaled = on_pty_again(&bench, &[("unit_id", "7"), ("registers", "scaled")], room);
    assert!((scaled.read("humidity").unwrap().value - 45.0).abs() < 1e-9);
    assert_eq!(
        scaled
            .set("averaging", &parse_quantity("10").unwrap())
            .unwrap()
            .value,
        10.0
    );
    let err = scaled
        .set("averaging", &parse_quantity("1000").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("qbench-room-sensor"), "{err}");
    assert!(
        format!("{:?}", err.kind).contains("illegal data value"),
        "{err:?}"
    );
    scaled.act("heater_on").unwrap();
}

/// Reopens the room sensor with other options once the first driver has let go of the pty.
fn on_pty_again(
    bench: &SimBench,
    opts: &[(&str, &str)],
    previous: Box<dyn Driver>,
) -> Box<dyn Driver> {
    drop(previous);
    on_pty(bench, "room_sensor", "qbench-room-sensor", opts, 300)
}

#[test]
fn a_profile_drives_the_thermohygrometer_without_rust() {
    let bench = SimBench::start(&SimConfig::default(), TIME_SCALE).expect("bench starts");
    let mut th = on_pty(
        &bench,
        "thermohygrometer",
        "profile",
        &[("profile", PROFILE)],
        300,
    );
    let id = th.identify().unwrap();
    assert_eq!((id.model.as_str(), id.serial.as_str()), ("TH-1", "TH-0001"));
    let t = th.read("temperature").unwrap();
    assert_eq!((t.value, t.unit.symbol()), (23.0, "°C"));
    let back = th
        .set("averaging_time", &parse_quantity("0.5 min").unwrap())
        .unwrap();
    assert_eq!((back.value, back.unit.symbol()), (30.0, "s"));
    let err = th
        .set("averaging_time", &parse_quantity("2 min").unwrap())
        .unwrap_err();
    assert!(
        matches!(err.kind, DriverErrorKind::OutOfRange { .. }),
        "{err}"
    );
    th.act("hold").unwrap();
    let sent: Vec<String> = bench
        .log()
        .into_iter()
        .filter(|l| l.device == "thermohygrometer")
        .map(|l| l.request)
        .collect();
    assert!(sent.iter().any(|r| r.starts_with("AVG 30*")), "{sent:?}");
}

/// What a faulty instrument gave: the error's display and kind, and how long it took.
struct Outcome {
    text: String,
    kind: String,
    waited: Duration,
    link_kind: Option<LinkErrorKind>,
}

fn read_with_fault(
    device: &str,
    driver: &str,
    opts: &[(&str, &str)],
    quantity: &str,
    configure: impl FnOnce(&mut SimConfig),
    timeout_ms: u64,
) -> Outcome {
    let mut config = SimConfig::default();
    configure(&mut config);
    let bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    let mut d = on_pty(&bench, device, driver, opts, timeout_ms);
    let start = Instant::now();
    let err = d
        .read(quantity)
        .expect_err("the fault must surface as an error");
    Outcome {
        text: format!("{err}: {err:?}"),
        kind: format!("{:?}", err.kind),
        waited: start.elapsed(),
        link_kind: err.link_error().map(|e| e.kind),
    }
}

#[test]
fn garbage_is_a_protocol_error_naming_the_instrument_and_the_expected_answer() {
    let o = read_with_fault(
        "pressure_meter",
        "qbench-pressure-meter",
        &[],
        "pressure",
        |c| c.pressure_meter.fault = fault(FaultKind::Garbage, 1, Some(1)),
        300,
    );
    assert!(o.kind.starts_with("Protocol"), "{}", o.text);
    assert!(o.text.contains("qbench-pressure-meter"), "{}", o.text);
    assert!(
        o.text
            .contains("a number with an optional unit in answer to `MEAS:PRES?`"),
        "{}",
        o.text
    );
    assert!(o.waited < Duration::from_millis(300), "{:?}", o.waited);
}

#[test]
fn a_partial_line_is_a_timeout_saying_the_answer_was_incomplete() {
    let o = read_with_fault(
        "thermohygrometer",
        "profile",
        &[("profile", PROFILE)],
        "temperature",
        |c| c.thermohygrometer.fault = fault(FaultKind::PartialAnswer, 0, None),
        150,
    );
    assert_eq!(o.link_kind, Some(LinkErrorKind::Timeout), "{}", o.text);
    assert!(
        o.text.contains("incomplete answer within 150 ms"),
        "{}",
        o.text
    );
    assert!(
        o.text.contains("profile:qbench-thermohygrometer"),
        "{}",
        o.text
    );
    assert!(
        o.waited >= Duration::from_millis(150) && o.waited < Duration::from_millis(500),
        "{:?}",
        o.waited
    );
}

#[test]
fn a_wrong_checksum_is_a_protocol_error() {
    let o = read_with_fault(
        "thermohygrometer",
        "profile",
        &[("profile", PROFILE)],
        "humidity",
        |c| c.thermohygrometer.fault = fault(FaultKind::Corrupt, 0, None),
        300,
    );
    assert!(o.kind.starts_with("Protocol"), "{}", o.text);
    assert!(
        o.text.contains("an answer to `H` with a valid checksum"),
        "{}",
        o.text
    );
    assert!(o.waited < Duration::from_millis(300), "{:?}", o.waited);
}

#[test]
fn a_modbus_crc_error_is_a_protocol_error() {
    let o = read_with_fault(
        "room_sensor",
        "qbench-room-sensor",
        &[],
        "temperature",
        |c| c.room_sensor.fault = fault(FaultKind::Corrupt, 0, None),
        300,
    );
    assert!(o.kind.starts_with("Protocol"), "{}", o.text);
    assert!(o.text.contains("crc mismatch"), "{}", o.text);
    assert!(
        o.text.contains("a Modbus answer from unit 1 to function 4"),
        "{}",
        o.text
    );
    assert!(o.waited < Duration::from_millis(300), "{:?}", o.waited);
}

#[test]
fn a_late_answer_times_out_at_the_deadline_and_the_next_exchange_is_clean() {
    let mut config = SimConfig::default();
    config.room_sensor.fault = fault(FaultKind::LateAnswer, 0, Some(1));
    let bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    let mut d = on_pty(&bench, "room_sensor", "qbench-room-sensor", &[], 150);
    let start = Instant::now();
    let err = d.read("temperature").unwrap_err();
    let waited = start.elapsed();
    assert_eq!(
        err.link_error().map(|e| e.kind),
        Some(LinkErrorKind::Timeout),
        "{err:?}"
    );
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_millis(400),
        "{waited:?}"
    );
    // The late answer arrives while nobody listens; it must not be taken for the next one.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(d.read("humidity").unwrap().value, 45.0);
}

#[test]
fn no_answer_is_a_timeout_within_the_configured_timeout() {
    let o = read_with_fault(
        "room_sensor",
        "qbench-room-sensor",
        &[],
        "humidity",
        |c| c.room_sensor.fault = fault(FaultKind::Silent, 0, None),
        120,
    );
    assert_eq!(o.link_kind, Some(LinkErrorKind::Timeout), "{}", o.text);
    assert!(o.text.contains("no answer within 120 ms"), "{}", o.text);
    assert!(o.text.contains("qbench-room-sensor"), "{}", o.text);
    assert!(
        o.waited >= Duration::from_millis(120) && o.waited < Duration::from_millis(400),
        "{:?}",
        o.waited
    );
}

#[test]
fn an_unplugged_instrument_is_disconnected_at_once() {
    for (device, driver, opts, quantity) in [
        (
            "pressure_meter",
            "qbench-pressure-meter",
            vec![],
            "pressure",
        ),
        ("room_sensor", "qbench-room-sensor", vec![], "temperature"),
        (
            "thermohygrometer",
            "profile",
            vec![("profile", PROFILE)],
            "temperature",
        ),
    ] {
        let mut bench = SimBench::start(&SimConfig::default(), TIME_SCALE).expect("bench starts");
        let mut d = on_pty(&bench, device, driver, &opts, 1000);
        d.read(quantity).expect("answers while plugged in");
        assert!(bench.disconnect(device));
        let start = Instant::now();
        let err = d.read(quantity).unwrap_err();
        assert_eq!(
            err.link_error().map(|e| e.kind),
            Some(LinkErrorKind::Disconnected),
            "{device}: {err:?}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "{device}: {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn retries_recover_from_transient_faults_and_say_so() {
    let mut config = SimConfig::default();
    config.thermohygrometer.fault = fault(FaultKind::Garbage, 0, Some(1));
    config.room_sensor.fault = fault(FaultKind::Corrupt, 0, Some(1));
    config.pressure_meter.fault = fault(FaultKind::Silent, 1, Some(1));
    let bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    for (device, driver, opts, quantity) in [
        (
            "thermohygrometer",
            "profile",
            vec![("profile", PROFILE), ("retries", "1")],
            "temperature",
        ),
        (
            "room_sensor",
            "qbench-room-sensor",
            vec![("retries", "1")],
            "temperature",
        ),
        (
            "pressure_meter",
            "qbench-pressure-meter",
            vec![("retries", "1")],
            "pressure",
        ),
    ] {
        let mut d = on_pty(&bench, device, driver, &opts, 150);
        d.read(quantity)
            .unwrap_or_else(|e| panic!("{device}: the retry recovers: {e:?}"));
        let notes = d.take_notes();
        assert!(
            notes.iter().any(|n| n.starts_with("retry 1")),
            "{device}: {notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.contains("succeeded after 1")),
            "{device}: {notes:?}"
        );
    }
}

#[test]
fn probe_checks_every_instrument_of_the_default_fixture() {
    let dir = Dir::new();
    let out = dir.qbench(&["probe"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("pressure_reference: driver qbench-pressure-meter"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("serial `40001`"), "{}", out.stdout);
    assert!(
        out.stdout.contains("answered as the fixture declares"),
        "{}",
        out.stdout
    );
    let out = dir.qbench(&["probe", "--fixture", "fixtures/sim-links.yaml"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("thermohygrometer: driver profile"),
        "{}",
        out.stdout
    );
}

#[test]
fn probe_says_plainly_what_is_wrong() {
    let dir = Dir::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    dir.write(
        "fixtures/wrong.yaml",
        &format!(
            "name: wrong\ntime_scale: 200\ninstruments:\n  pressure_reference:\n    driver: qbench-pressure-meter\n    link: {{ serial: {{ port: \"sim:pressure_meter\", timeout_ms: 300 }} }}\n    identity: {{ serial: PM-9999 }}\n    calibration: {{ certificate: C-1, due: 2020-01-31 }}\n  lan_meter:\n    driver: scpi\n    kind: pressure_meter\n    link: {{ tcp: {{ host: 127.0.0.1, port: {port}, timeout_ms: 300 }} }}\n  missing:\n    driver: qbench-room-sensor\n    link: {{ serial: {{ port: /dev/qbench-no-such-port, timeout_ms: 300 }} }}\nsimulation: {{}}\n"
        ),
    );
    let out = dir.qbench(&["probe", "--fixture", "fixtures/wrong.yaml"]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    for expected in [
        "answers with serial `SIM-PM-0001`, the fixture declares `PM-9999`",
        "calibration expired on 2020-01-31",
        "lan_meter: cannot open the link",
        "missing: cannot open the link",
        "4 problem(s)",
    ] {
        assert!(
            out.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            out.stdout
        );
    }
    let out = dir.qbench(&["probe", "--fixture", "fixtures/nope.yaml"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}

#[test]
fn ports_lists_without_failing() {
    let out = Dir::new().qbench(&["ports"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.is_empty());
}

#[test]
fn validate_checks_device_profiles_with_positions() {
    let dir = Dir::new();
    let out = dir.qbench(&["validate", "fixtures/profiles/qbench-thermohygrometer.yaml"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("device profile qbench-thermohygrometer"),
        "{}",
        out.stdout
    );
    let text = dir.read("fixtures/profiles/qbench-thermohygrometer.yaml");
    dir.write(
        "broken.yaml",
        &text
            .replacen("unit: °C", "unit: degrees", 1)
            .replacen("AVG {value:int}", "AVG", 1),
    );
    let out = dir.qbench(&["validate", "broken.yaml"]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("unknown unit `degrees`"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("must contain `{value}`"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("broken.yaml:"), "{}", out.stdout);
    assert!(out.stdout.contains("2 errors"), "{}", out.stdout);
}

#[test]
fn a_device_server_that_goes_away_is_a_disconnection() {
    let config = SimConfig {
        tcp: vec!["thermohygrometer".into()],
        ..Default::default()
    };
    let mut bench = SimBench::start(&config, TIME_SCALE).expect("bench starts");
    let mut th = on_tcp(
        &bench,
        "thermohygrometer",
        "profile",
        &[("profile", PROFILE)],
    );
    th.read("temperature").expect("answers while connected");
    assert!(bench.disconnect("thermohygrometer"));
    assert!(bench.tcp_address("thermohygrometer").is_none());
    let start = Instant::now();
    let err = th.read("temperature").unwrap_err();
    assert_eq!(
        err.link_error().map(|e| e.kind),
        Some(LinkErrorKind::Disconnected),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_scpi_instrument_that_falls_silent_times_out_and_an_unknown_query_is_explained() {
    let o = read_with_fault(
        "pressure_meter",
        "qbench-pressure-meter",
        &[],
        "pressure",
        |c| c.pressure_meter.fault = fault(FaultKind::Silent, 1, None),
        200,
    );
    assert_eq!(o.link_kind, Some(LinkErrorKind::Timeout), "{}", o.text);
    assert!(o.text.contains("qbench-pressure-meter"), "{}", o.text);
    // The answer's timeout, then a quarter of it asking the error queue why.
    assert!(
        o.waited >= Duration::from_millis(200) && o.waited < Duration::from_millis(450),
        "{:?}",
        o.waited
    );

    let bench = SimBench::start(&SimConfig::default(), TIME_SCALE).expect("bench starts");
    let mut d = on_pty(
        &bench,
        "pressure_meter",
        "scpi",
        &[("read.flow", "MEAS:FLOW?")],
        150,
    );
    let err = d.read("flow").unwrap_err();
    assert!(
        matches!(err.kind, DriverErrorKind::InstrumentRefused { .. }),
        "{err:?}"
    );
    assert!(
        format!("{:?}", err.kind).contains("-113,\\\"Undefined header\\\""),
        "{err:?}"
    );
    assert!(
        d.take_notes()
            .iter()
            .any(|n| n.contains("Undefined header"))
    );
}

/// A procedure measuring PEEP with the flow analyzer and with the SCPI pressure meter as a
/// second reference, recording the room conditions from the Modbus sensor.
const TWO_REFERENCES: &str = r#"
id: peep-two-references
title: PEEP by two references
version: 0.1.0
standard: ISO 80601-2-12:2020
clause: "201.12.4.101 (test of the links)"
roles:
  dut: { kind: ventilator }
  flow_reference: { kind: flow_analyzer }
  pressure_reference: { kind: pressure_meter }
  room_conditions: { kind: room_conditions }
setup:
  - action: { role: dut, do: standby }
steps:
  - measure: { id: room_pressure, role: room_conditions, quantity: barometric_pressure, samples: 2, timeout: 10 s }
  - set: { role: dut, values: { peep: 8 cmH2O } }
  - action: { role: dut, do: start }
  - wait: { role: flow_reference, breaths: 2, timeout: 60 s }
  - measure: { id: peep_meter, role: pressure_reference, quantity: peep, samples: 5, timeout: 10 s }
  - measure: { id: peep_analyzer, role: flow_reference, quantity: peep, breaths: 3, timeout: 60 s }
  - check:
      id: references_agree
      title: The two references agree on PEEP
      value: mean(peep_meter) - mean(peep_analyzer)
      target: 0 hPa
      tolerance: 0.2 hPa
  - check:
      id: room_pressure_plausible
      title: Barometric pressure recorded
      value: mean(room_pressure)
      min: 800 hPa
      max: 1100 hPa
teardown:
  - action: { role: dut, do: standby }
"#;

#[test]
fn a_procedure_uses_the_pressure_meter_as_a_second_reference() {
    let dir = Dir::new();
    dir.write("two-references.yaml", TWO_REFERENCES);
    let out = dir.qbench(&[
        "run",
        "two-references.yaml",
        "--yes",
        "--json",
        "--out",
        "run",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.read("run/record.json");
    assert!(
        record.contains("SIM-PM-0001"),
        "the pressure meter's identity is recorded"
    );
    assert!(record.contains("peep_meter") && record.contains("room_pressure"));
}

#[test]
fn a_retried_transient_fault_is_journaled_and_the_run_goes_on() {
    let dir = Dir::new();
    dir.write("two-references.yaml", TWO_REFERENCES);
    // The pressure meter garbles one answer, a little into the run; its driver retries once.
    let fixture = dir.read("fixtures/sim.yaml");
    let faulty = fixture.replacen(
        "simulation:\n",
        "simulation:\n  pressure_meter: { fault: { kind: garbage, after_requests: 6, count: 1 } }\n",
        1,
    );
    assert_ne!(faulty, fixture);
    dir.write("fixtures/faulty.yaml", &faulty);
    let out = dir.qbench(&[
        "run",
        "two-references.yaml",
        "--fixture",
        "fixtures/faulty.yaml",
        "--yes",
        "--out",
        "run",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let journal =
        qbench::journal::read_journal(&dir.path().join("run/journal.jsonl")).expect("journal");
    let notes: Vec<String> = journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            qbench::journal::RunEvent::InstrumentNote { role, note }
                if role == "pressure_reference" =>
            {
                Some(note.clone())
            }
            _ => None,
        })
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("retry 1")),
        "the retry is in the journal: {notes:?}"
    );
}

#[test]
fn a_procedure_uses_a_profile_driven_instrument_without_rust() {
    let dir = Dir::new();
    let procedure = r#"
id: room-conditions
title: Room conditions recorded by a profile-driven thermo-hygrometer
version: 0.1.0
standard: IEC 60601-1:2005
clause: "5.3 ambient temperature, humidity and pressure (test conditions)"
roles:
  thermohygrometer:
    kind: thermohygrometer
    capabilities: [temperature, humidity]
steps:
  - measure: { id: t, role: thermohygrometer, quantity: temperature, samples: 5, timeout: 30 s }
  - measure: { id: rh, role: thermohygrometer, quantity: humidity, samples: 5, timeout: 30 s }
  - check: { id: temperature_in_range, title: Ambient temperature within 15 °C to 35 °C, value: mean(t), min: 15 °C, max: 35 °C }
  - check: { id: humidity_in_range, title: Relative humidity within 30 % to 75 %, value: mean(rh), min: 30 %, max: 75 % }
"#;
    dir.write("room.yaml", procedure);
    // Valid alone (the kind is checked against the fixture's instrument when one is given).
    let out = dir.qbench(&["validate", "room.yaml", "fixtures/sim-links.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let out = dir.qbench(&[
        "run",
        "room.yaml",
        "--fixture",
        "fixtures/sim-links.yaml",
        "--yes",
        "--out",
        "run",
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let record = dir.record();
    let t = record
        .measurements
        .iter()
        .find(|m| m.id == "t")
        .expect("temperature measured");
    assert_eq!((t.samples.len(), t.unit.as_str()), (5, "°C"));
    // A capability the profile does not offer is refused before anything moves.
    dir.write(
        "room2.yaml",
        &procedure.replace("[temperature, humidity]", "[temperature, dew_point]"),
    );
    let out = dir.qbench(&[
        "run",
        "room2.yaml",
        "--fixture",
        "fixtures/sim-links.yaml",
        "--yes",
        "--out",
        "run2",
    ]);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("does not offer `dew_point`"),
        "{}",
        out.stderr
    );
}
