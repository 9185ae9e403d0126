//! The CAN stage over the simulated slcan adapter on a real pseudo-terminal: NMT, SDO both
//! ways, an SDO abort, EMCY, TPDO through a mapping, node loss, a garbled line, an adapter
//! that disappears.

use qbench::can::canopen::{
    CanOpenClient, CanOpenError, NmtCommand, NmtState, PdoMapping, PdoSignal,
};
use qbench::can::slcan::{SlcanBus, SlcanSettings};
use qbench::can::{CanBus, CanError, CanFrame, CanId};
use qbench::link::{SerialLink, SerialSettings};
use qbench::sim::can::xray_generator::{ACTUAL, CONTROLWORD, LABEL, SET, STATUSWORD};
use qbench::sim::can::{CanSimConfig, SimCanBench};
use std::time::{Duration, Instant};

const NODE: u8 = 5;
const SDO_TIMEOUT: Duration = Duration::from_millis(500);

fn bench(config: &CanSimConfig) -> SimCanBench {
    SimCanBench::start(config, 1, 100.0).expect("the simulated CAN bench starts")
}

fn slcan(bench: &SimCanBench) -> SlcanBus {
    let path = bench.port().expect("adapter plugged in");
    let mut settings = SerialSettings::new(path.to_string_lossy());
    settings.timeout_ms = 300;
    let link = SerialLink::open(&settings).expect("open the adapter's pty");
    SlcanBus::open(Box::new(link), &SlcanSettings::default()).expect("the channel opens")
}

fn client(bench: &SimCanBench) -> CanOpenClient {
    CanOpenClient::new(Box::new(slcan(bench)), SDO_TIMEOUT)
}

#[test]
fn nmt_commands_change_the_node_state() {
    let bench = bench(&CanSimConfig::default());
    let mut c = client(&bench);
    let t = Duration::from_millis(600);
    c.wait_for_state(NODE, NmtState::PreOperational, t).unwrap();
    c.nmt(NmtCommand::Start, NODE).unwrap();
    c.wait_for_state(NODE, NmtState::Operational, t).unwrap();
    c.nmt(NmtCommand::Stop, 0).unwrap();
    c.wait_for_state(NODE, NmtState::Stopped, t).unwrap();
    // A stopped node does not serve SDO.
    let err = c.read_u16(NODE, SET, 1).unwrap_err();
    assert!(
        matches!(err, CanOpenError::SdoTimeout { node: NODE, .. }),
        "{err}"
    );
    c.nmt(NmtCommand::EnterPreOperational, NODE).unwrap();
    c.wait_for_state(NODE, NmtState::PreOperational, t).unwrap();
    c.nmt(NmtCommand::ResetNode, NODE).unwrap();
    c.wait_for_state(NODE, NmtState::PreOperational, t).unwrap();
    c.nmt(NmtCommand::ResetCommunication, NODE).unwrap();
    c.wait_for_state(NODE, NmtState::PreOperational, t).unwrap();
    // Waiting for a state that never comes names the node and what it last said.
    let err = c
        .wait_for_state(NODE, NmtState::Operational, Duration::from_millis(250))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 5 did not report operational within 250 ms (last reported: pre-operational)"
    );
}

#[test]
fn sdo_transfers_expedited_and_segmented_both_ways() {
    let bench = bench(&CanSimConfig::default());
    let mut c = client(&bench);
    // Expedited download and upload.
    c.write_u16(NODE, SET, 1, 812).unwrap();
    assert_eq!(c.read_u16(NODE, SET, 1).unwrap(), 812);
    c.write_u32(NODE, SET, 3, 250_000).unwrap();
    assert_eq!(c.read_u32(NODE, SET, 3).unwrap(), 250_000);
    assert_eq!(c.read_u32(NODE, 0x1018, 4).unwrap(), 4_100_001);
    // Segmented upload (the device name is longer than 4 bytes).
    assert_eq!(
        c.read_string(NODE, 0x1008, 0).unwrap(),
        "qbench simulated X-ray generator"
    );
    // Segmented download of 5, 7, 14 and 64 bytes, read back segmented (or expedited).
    for label in ["chest", "abdomen", "PA chest 1.8 m", &"x".repeat(64)] {
        c.sdo_download(NODE, LABEL, 0, label.as_bytes()).unwrap();
        assert_eq!(c.read_string(NODE, LABEL, 0).unwrap(), label);
    }
    // Writing mAs sets the time for the present current: 20 mAs at 100 mA is 200 ms.
    c.write_u16(NODE, SET, 2, 1000).unwrap();
    c.write_u32(NODE, SET, 4, 20_000).unwrap();
    assert_eq!(c.read_u32(NODE, SET, 3).unwrap(), 200_000);
}

#[test]
fn sdo_block_transfers_both_ways_with_crc() {
    let bench = bench(&CanSimConfig::default());
    let mut c = client(&bench);
    // The node takes 4 segments per block: 60 bytes are 9 segments in 3 blocks.
    for label in ["", "chest", "PA chest 1.8 m, grid", &"0123456789".repeat(6)] {
        c.sdo_block_download(NODE, LABEL, 0, label.as_bytes())
            .unwrap();
        assert_eq!(c.read_string(NODE, LABEL, 0).unwrap(), label);
        // Read back by block upload, in blocks of 2 and of 127 segments.
        for block_size in [2, 127] {
            let back = c.sdo_block_upload(NODE, LABEL, 0, block_size).unwrap();
            assert_eq!(back, label.as_bytes());
        }
    }
    let name = c.sdo_block_upload(NODE, 0x1008, 0, 3).unwrap();
    assert_eq!(name, b"qbench simulated X-ray generator");
    // The node's refusal at the end of a block download (a label above 64 bytes) is an abort.
    let err = c
        .sdo_block_download(NODE, LABEL, 0, &[b'x'; 65])
        .unwrap_err();
    assert!(
        matches!(err, CanOpenError::SdoAborted { .. })
            && err.to_string().contains("block download"),
        "{err}"
    );
    // The conversation goes on: ordinary SDO after block transfers.
    assert_eq!(c.read_u32(NODE, 0x1018, 4).unwrap(), 4_100_001);
    let err = c.sdo_block_upload(NODE, 0x6000, 0, 8).unwrap_err();
    assert!(err.to_string().contains("06020000h"), "{err}");
}

#[test]
fn sdo_aborts_from_the_node_are_decoded() {
    let bench = bench(&CanSimConfig::default());
    let mut c = client(&bench);
    let err = c.write_u16(NODE, SET, 1, 1600).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 5 aborted the SDO download of 2000h sub 1: 06090031h: value of parameter written too high"
    );
    let err = c.read_u32(NODE, 0x3000, 0).unwrap_err();
    assert!(err.to_string().contains("object does not exist"), "{err}");
    let err = c.write_u16(NODE, STATUSWORD, 0, 1).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
    let err = c.sdo_download(NODE, LABEL, 0, &[b'y'; 65]).unwrap_err();
    assert!(err.to_string().contains("too high"), "{err}");
    // The node is still fine afterwards.
    assert_eq!(c.read_u16(NODE, SET, 1).unwrap(), 700);
}

#[test]
fn an_exposure_reports_its_actual_values_by_sdo_and_tpdo() {
    let mut config = CanSimConfig::default();
    config.xray_generator.kv_error = 0.02;
    config.xray_generator.time_error = -0.01;
    let bench = bench(&config);
    let mut c = client(&bench);
    let signal = |name: &str, sub: u8, offset: u16, scale: f64, unit: &str| PdoSignal {
        name: name.into(),
        index: 0x2012,
        subindex: sub,
        bit_offset: offset,
        bit_length: 16,
        signed: false,
        scale,
        offset: 0.0,
        unit: unit.into(),
    };
    c.add_pdo_mapping(PdoMapping {
        cob_id: 0x185,
        signals: vec![
            signal("actual_kv", 1, 0, 0.01, "kV"),
            signal("actual_ma", 2, 16, 0.1, "mA"),
            signal("actual_time", 3, 32, 0.1, "ms"),
            signal("exposures", 4, 48, 1.0, ""),
        ],
    })
    .unwrap();
    c.watch_heartbeat(NODE, Duration::from_millis(350)).unwrap();
    c.nmt(NmtCommand::Start, NODE).unwrap();
    c.wait_for_state(NODE, NmtState::Operational, Duration::from_millis(600))
        .unwrap();
    c.write_u16(NODE, SET, 1, 800).unwrap(); // 80 kV
    c.write_u16(NODE, SET, 2, 2000).unwrap(); // 200 mA
    c.write_u32(NODE, SET, 3, 100_000).unwrap(); // 100 ms
    c.write_u16(NODE, CONTROLWORD, 0, 1).unwrap();
    c.write_u16(NODE, CONTROLWORD, 0, 2).unwrap();
    let values = c.await_pdo(0x185, Duration::from_secs(2)).unwrap();
    let get = |n: &str| values.iter().find(|(k, _)| k == n).map(|(_, q)| q.value);
    let close = |n: &str, want: f64| {
        let v = get(n).unwrap_or(f64::NAN);
        assert!((v - want).abs() < 1e-9, "{n}: {v}, expected {want}");
    };
    close("actual_kv", 81.6);
    close("actual_ma", 200.0);
    close("actual_time", 99.0);
    close("exposures", 1.0);
    assert_eq!(c.latest("actual_kv").map(|q| q.unit.symbol()), Some("kV"));
    assert_eq!(c.read_u32(NODE, ACTUAL, 1).unwrap(), 81_600);
    assert_eq!(c.read_u32(NODE, ACTUAL, 5).unwrap(), 1);
    let exposures = bench.exposures();
    assert_eq!(exposures.len(), 1);
    // 50 µGy/mAs · 19.8 mAs · (81.6/80)² at 1 m.
    let expected = 50.0 * 19.8 * (81.6f64 / 80.0).powi(2);
    assert!((exposures[0].air_kerma_ugy_at_1m - expected).abs() < 1e-6);
    c.check_heartbeats().unwrap();
}

#[test]
fn expose_without_prepare_is_refused_with_an_emergency() {
    let bench = bench(&CanSimConfig::default());
    let mut c = client(&bench);
    c.nmt(NmtCommand::Start, NODE).unwrap();
    c.wait_for_state(NODE, NmtState::Operational, Duration::from_millis(600))
        .unwrap();
    let err = c.write_u16(NODE, CONTROLWORD, 0, 2).unwrap_err();
    assert!(
        err.to_string()
            .contains("because of the present device state"),
        "{err}"
    );
    c.poll(Duration::from_millis(50)).unwrap();
    let emcy = c.drain_emergencies();
    assert_eq!(emcy.len(), 1, "{emcy:?}");
    assert_eq!(
        (emcy[0].node, emcy[0].code, emcy[0].register),
        (NODE, 0xFF01, 0x81)
    );
    assert_eq!(c.read_u16(NODE, STATUSWORD, 0).unwrap() & 0x80, 0x80);
    // Idle resets the fault, with an "error reset" emergency.
    c.write_u16(NODE, CONTROLWORD, 0, 0).unwrap();
    c.poll(Duration::from_millis(50)).unwrap();
    assert_eq!(c.drain_emergencies()[0].code, 0x0000);
    assert!(bench.exposures().is_empty());
}

#[test]
fn a_node_that_stops_its_heartbeat_is_lost_within_its_timeout() {
    let mut config = CanSimConfig::default();
    config.xray_generator.stop_heartbeat_after_exposures = Some(1);
    let bench = bench(&config);
    let mut c = client(&bench);
    let timeout = Duration::from_millis(300);
    c.watch_heartbeat(NODE, timeout).unwrap();
    c.nmt(NmtCommand::Start, NODE).unwrap();
    c.write_u32(NODE, SET, 3, 10_000).unwrap();
    c.write_u16(NODE, CONTROLWORD, 0, 1).unwrap();
    c.write_u16(NODE, CONTROLWORD, 0, 2).unwrap();
    let start = Instant::now();
    let err = c.poll(Duration::from_secs(3)).unwrap_err();
    let waited = start.elapsed();
    assert!(
        matches!(err, CanOpenError::NodeLost { node: NODE, .. }),
        "{err}"
    );
    assert_eq!(err.node(), Some(NODE));
    assert!(
        err.to_string().starts_with("node 5 lost: no heartbeat for"),
        "{err}"
    );
    // Lost within the heartbeat timeout plus one heartbeat period and some slack.
    assert!(waited < timeout + Duration::from_millis(250), "{waited:?}");
}

#[test]
fn a_garbled_adapter_line_is_a_typed_error() {
    let mut config = CanSimConfig::default();
    // The adapter's answers to C, S6, O are lines 1 to 3; frames and heartbeats follow.
    config.adapter.garble_line = Some(6);
    let bench = bench(&config);
    let mut bus = slcan(&bench);
    let start = Instant::now();
    let err = loop {
        match bus.receive(Duration::from_millis(500)) {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, CanError::Garbled { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("garbled line from the CAN adapter: `tQ!~`"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    // The line after the garbled one reads normally again.
    assert!(bus.receive(Duration::from_millis(500)).is_ok());
}

#[test]
fn an_adapter_that_disappears_is_a_typed_error() {
    let mut bench = bench(&CanSimConfig::default());
    let mut c = client(&bench);
    c.read_u16(NODE, SET, 1).unwrap();
    assert!(bench.unplug_adapter());
    assert!(bench.port().is_none());
    let start = Instant::now();
    let err = c.read_u16(NODE, SET, 1).unwrap_err();
    match &err {
        CanOpenError::Bus(e) => assert!(e.is_disconnected(), "{e}"),
        other => panic!("expected a lost adapter, got {other}"),
    }
    assert!(start.elapsed() < Duration::from_millis(500));
}

#[test]
fn an_adapter_that_disappears_mid_transfer_is_a_typed_error() {
    let mut config = CanSimConfig::default();
    config.adapter.disappear_after_frames = Some(3);
    let bench = bench(&config);
    let mut bus = slcan(&bench);
    let f = CanFrame::data(CanId::Standard(0x100), &[1]).unwrap();
    let t = Duration::from_millis(300);
    let mut result = Ok(());
    for _ in 0..10 {
        result = bus.send(&f, t).and_then(|()| bus.flush(t));
        if result.is_err() {
            break;
        }
    }
    let err = result.unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    assert!(
        err.to_string().ends_with("the CAN adapter is gone"),
        "{err}"
    );
}

#[test]
fn frames_cross_the_adapter_both_ways() {
    let bench = bench(&CanSimConfig::default());
    let mut bus = slcan(&bench);
    let mut peer = bench.bus().endpoint();
    let t = Duration::from_millis(500);
    let out = CanFrame::data(CanId::Extended(0x1234_5678), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    bus.send(&out, t).unwrap();
    let got = loop {
        let f = peer.receive(t).unwrap();
        if f.id() == out.id() {
            break f;
        }
    };
    assert_eq!(got, out);
    let back = CanFrame::remote(CanId::Standard(0x321), 4).unwrap();
    peer.send(&back, t).unwrap();
    let got = loop {
        let f = bus.receive(t).unwrap();
        if f.id() == back.id() {
            break f;
        }
    };
    assert_eq!(got, back);
    assert_eq!(bus.version().unwrap(), "1013");
    assert!(bus.status().unwrap().is_clear());
}

mod driver {
    use super::*;
    use qbench::can::canopen::xray_generator::XrayGeneratorDriver;
    use qbench::driver::{Driver, DriverErrorKind};
    use qbench::link::LinkErrorKind;
    use qbench::units::parse_quantity;

    fn open(bench: &SimCanBench) -> XrayGeneratorDriver {
        XrayGeneratorDriver::open(
            client(bench),
            NODE,
            Duration::from_millis(300),
            Duration::from_millis(500),
            &std::collections::BTreeMap::new(),
        )
        .expect("the generator goes operational")
    }

    fn q(text: &str) -> qbench::units::Quantity {
        parse_quantity(text).expect("a quantity literal")
    }

    #[test]
    fn sets_exposes_and_reads_the_actual_values() {
        let mut config = CanSimConfig::default();
        config.xray_generator.kv_error = 0.02;
        let bench = bench(&config);
        let mut g = open(&bench);
        let id = g.identify().unwrap();
        assert_eq!(id.model, "qbench simulated X-ray generator");
        assert_eq!(id.serial, "4100001");
        let back = g.set("tube_voltage", &q("80 kV")).unwrap();
        assert_eq!((back.value, back.unit.symbol()), (80.0, "kV"));
        g.set("tube_current", &q("0.2 A")).unwrap();
        let t = g.set("exposure_time", &q("0.1 s")).unwrap();
        assert_eq!((t.value, t.unit.symbol()), (100.0, "ms"));
        g.act("prepare").unwrap();
        g.act("expose").unwrap();
        let kv = g.read("actual_tube_voltage").unwrap();
        assert!((kv.value - 81.6).abs() < 1e-9, "{kv:?}");
        let mas = g.read("actual_current_time_product").unwrap();
        assert!((mas.value - 20.0).abs() < 1e-9, "{mas:?}");
        assert_eq!(g.read("exposure_count").unwrap().value, 1.0);
        // Out of range: the node's abort, decoded, as an instrument refusal.
        let err = g.set("tube_voltage", &q("200 kV")).unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::InstrumentRefused { .. }),
            "{err}"
        );
        assert!(g.set("tube_voltage", &q("80 mA")).is_err());
        // Expose without prepare: refused, and the EMCY is there for the journal.
        let err = g.act("expose").unwrap_err();
        assert!(err.to_string().contains("present device state"), "{err}");
        g.make_safe().unwrap();
        assert_eq!(g.drain_emergencies().first().map(|e| e.code), Some(0xFF01));
    }

    fn open_with(
        bench: &SimCanBench,
        options: &[(&str, &str)],
    ) -> Result<XrayGeneratorDriver, qbench::driver::DriverError> {
        let options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        XrayGeneratorDriver::open(
            client(bench),
            NODE,
            Duration::from_millis(300),
            Duration::from_millis(500),
            &options,
        )
    }

    #[test]
    fn pdos_declared_in_the_options_set_by_rpdo_and_read_from_the_latest_tpdo() {
        let mut config = CanSimConfig::default();
        config.xray_generator.kv_error = 0.02;
        let bench = bench(&config);
        let mut g = open_with(
            &bench,
            &[
                // Placed by the node's own TPDO1 mapping, read over SDO at opening.
                (
                    "tpdo.actual_tube_voltage",
                    "TPDO1 2012h.1 scale=0.01 unit=kV",
                ),
                // Declared bits, no SDO needed.
                ("tpdo.exposure_count", "185h 48:16"),
                ("rpdo.tube_voltage", "RPDO1 0:16 2000h.1 scale=0.1 unit=kV"),
                ("rpdo.tube_current", "RPDO1 16:16 2000h.2 scale=0.1 unit=mA"),
            ],
        )
        .expect("opens with its PDOs");
        // Sent by RPDO1 (kV and mA together), read back over SDO.
        let back = g.set("tube_voltage", &q("80 kV")).unwrap();
        assert_eq!((back.value, back.unit.symbol()), (80.0, "kV"));
        let back = g.set("tube_current", &q("0.2 A")).unwrap();
        assert_eq!((back.value, back.unit.symbol()), (200.0, "mA"));
        assert_eq!(
            g.read("tube_voltage")
                .err()
                .map(|e| e.to_string().contains("unsupported")),
            Some(true)
        );
        // The RPDO kept the voltage sent before: both settings hold.
        g.set("exposure_time", &q("10 ms")).unwrap();
        for n in 1..=2 {
            g.act("prepare").unwrap();
            g.act("expose").unwrap();
            let kv = g.read("actual_tube_voltage").unwrap();
            assert!((kv.value - 81.6).abs() < 1e-9, "{kv:?}");
            assert_eq!(g.read("exposure_count").unwrap().value, f64::from(n));
            let sdo = g.read("actual_tube_current").unwrap();
            assert!((sdo.value - 200.0).abs() < 1e-9, "{sdo:?}");
        }
        // A value that does not fit the RPDO's 16 bits is refused before anything is sent.
        let err = g.set("tube_current", &q("7 A")).unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::OutOfRange { .. }),
            "{err}"
        );
        // One the node refuses (above 150 kV) comes back as it was, with an EMCY 6320h.
        let back = g.set("tube_voltage", &q("160 kV")).unwrap();
        assert_eq!(back.value, 80.0);
        g.act("idle").unwrap();
        assert!(g.drain_emergencies().iter().any(|e| e.code == 0x6320));
    }

    #[test]
    fn a_tpdo_entry_the_node_does_not_map_is_refused_at_opening() {
        let bench = bench(&CanSimConfig::default());
        let err = open_with(&bench, &[("tpdo.exposure_count", "TPDO1 2010h.1")])
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains(
                "node 5 does not map 2010h.1 in TPDO1 (it maps 2012h.1, 2012h.2, 2012h.3, 2012h.4)"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_lost_generator_is_a_disconnected_link_naming_the_node() {
        let mut config = CanSimConfig::default();
        config.xray_generator.stop_heartbeat_after_exposures = Some(1);
        let bench = bench(&config);
        let mut g = open(&bench);
        g.set("exposure_time", &q("10 ms")).unwrap();
        g.act("prepare").unwrap();
        // The node falls silent as the exposure ends: the loss shows while the driver waits
        // for the end of the exposure, or at the next read.
        let start = Instant::now();
        let err = match g.act("expose") {
            Err(e) => e,
            Ok(()) => loop {
                match g.read("exposure_count") {
                    Ok(_) => assert!(start.elapsed() < Duration::from_secs(2)),
                    Err(e) => break e,
                }
            },
        };
        let link = err.link_error().expect("a link error");
        assert_eq!(link.kind, LinkErrorKind::Disconnected, "{err}");
        assert_eq!(link.port, "CAN node 5");
        assert!(link.detail.starts_with("node 5 lost"), "{}", link.detail);
    }
}
