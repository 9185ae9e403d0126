//! Records for the report tests, folded from journals written through [`MemoryJournal`] as a
//! run would write them, with the time stamps then fixed so that output is reproducible.

use crate::analysis::Verdict;
use crate::driver::{Condition, Identity};
use crate::journal::{
    CheckOutcome, Entry, InstrumentReady, JournalSink, LimitRecord, MemoryJournal, PromptAnswer,
    RunEvent, RunHeader, SoftwareInfo, SourceFile,
};
use crate::record::Record;
use crate::units::{Quantity, parse_quantity};
use std::collections::BTreeMap;

/// A head hash for records built here (a memory journal does not expose its own).
pub(crate) const HEAD: &str = "5f2b0c7e9a1d4c3b8e6f0a2d4b6c8e0f1a3c5e7f9b1d3f5a7c9e1b3d5f7a9c1e";

pub(crate) fn q(text: &str) -> Quantity {
    parse_quantity(text).unwrap()
}

/// Fixed, increasing time stamps: one second per entry from 2026-11-23T09:00:00Z.
fn fix_times(entries: &mut [Entry]) {
    for e in entries {
        let s = e.seq;
        e.utc = format!(
            "2026-11-23T{:02}:{:02}:{:02}.000000Z",
            9 + s / 3600,
            (s / 60) % 60,
            s % 60
        );
        e.mono_s = s as f64 * 0.5;
    }
}

/// Folds `events` into a record the way a run does: through a journal.
pub(crate) fn record_of(events: Vec<RunEvent>) -> Record {
    let mut journal = MemoryJournal::default();
    for event in events {
        journal.append(event).unwrap();
    }
    let mut entries = journal.entries().to_vec();
    fix_times(&mut entries);
    Record::from_entries(&entries, HEAD).unwrap()
}

pub(crate) fn header(dut_serial: &str) -> RunEvent {
    let mut parameters = BTreeMap::new();
    parameters.insert("settle_breaths".to_string(), q("5 1"));
    parameters.insert("tolerance_fixed".to_string(), q("4 mL"));
    RunEvent::RunStarted(Box::new(RunHeader {
        format: 1,
        run_id: "run-0001".into(),
        procedure: SourceFile {
            path: "procedures/vent-volume.yaml".into(),
            sha256: "a".repeat(64),
            text: "id: VENT-VOL-01\n".into(),
        },
        procedure_id: "VENT-VOL-01".into(),
        procedure_version: "1.2".into(),
        title: "Delivered tidal volume accuracy".into(),
        standard: "ISO 80601-2-12:2020".into(),
        clause: "201.12.1.101".into(),
        fixture: SourceFile {
            path: "fixtures/sim.yaml".into(),
            sha256: "b".repeat(64),
            text: "name: sim\n".into(),
        },
        fixture_name: "simulated bench".into(),
        simulated: true,
        time_scale: 20.0,
        software: SoftwareInfo {
            name: "qbench".into(),
            version: "0.1.0".into(),
            git_commit: None,
        },
        host: "bench-01".into(),
        operator: "A. Tester".into(),
        dut_serial: dut_serial.into(),
        parameters,
        overrides: vec!["tolerance_fixed=4 mL".into()],
        environment: BTreeMap::new(),
        allow_expired_calibration: false,
    }))
}

pub(crate) fn instruments(manufacturer: &str) -> Vec<RunEvent> {
    vec![
        RunEvent::InstrumentReady(Box::new(InstrumentReady {
            role: "dut".into(),
            driver: "sim-ventilator".into(),
            link: "/dev/pts/3 @ 19200 8N1".into(),
            identity: Identity {
                manufacturer: manufacturer.into(),
                model: "SimVent 1".into(),
                serial: "SV-0042".into(),
                firmware: "2.4.1".into(),
            },
            calibration_certificate: None,
            calibration_due: None,
            accuracy: None,
        })),
        RunEvent::InstrumentReady(Box::new(InstrumentReady {
            role: "flow_reference".into(),
            driver: "imt-flowanalyser".into(),
            link: "/dev/pts/4 @ 115200 8N1".into(),
            identity: Identity {
                manufacturer: "IMT Analytics".into(),
                model: "PF-300".into(),
                serial: "PF-1234".into(),
                firmware: "4.2.0".into(),
            },
            calibration_certificate: Some("CAL-2026-0117".into()),
            calibration_due: Some("2027-01-17".into()),
            accuracy: Some("±(1.75 % + 0.5 mL)".into()),
        })),
        RunEvent::Condition {
            role: "flow_reference".into(),
            condition: Condition {
                name: "gas_standard".into(),
                value: "BTPS".into(),
            },
        },
    ]
}

pub(crate) fn set_point(index: usize, label: &str, volume: &str) -> RunEvent {
    let mut bindings = BTreeMap::new();
    bindings.insert("tidal_volume".to_string(), q(volume));
    bindings.insert("compliance".to_string(), q("50 mL/hPa"));
    bindings.insert("resistance".to_string(), q("5 hPa/(L/s)"));
    bindings.insert("rate".to_string(), q("15 /min"));
    RunEvent::SetPoint {
        sweep: "volumes".into(),
        index,
        label: label.into(),
        bindings,
    }
}

pub(crate) fn command(volume: &str) -> RunEvent {
    RunEvent::Command {
        role: "dut".into(),
        command: "tidal_volume".into(),
        value: Some(q(volume)),
        readback: Some(q(volume)),
    }
}

pub(crate) fn samples(set_point: usize, values: &[f64]) -> Vec<RunEvent> {
    values
        .iter()
        .enumerate()
        .map(|(index, v)| RunEvent::Sample {
            measurement: "delivered_volume".into(),
            role: "flow_reference".into(),
            quantity: "inspired_volume".into(),
            set_point: Some(set_point),
            index,
            value: Quantity::new(*v, q("1 mL").unit),
        })
        .collect()
}

/// An outcome of `volume_accuracy` at a set point: mean against target ± (4 mL + 3 %).
pub(crate) fn check(set_point: usize, target: f64, values: &[f64], applicable: bool) -> RunEvent {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let half = 4.0 + 0.03 * target;
    let (low, high) = (target - half, target + half);
    let verdict = if !applicable || (low..=high).contains(&mean) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let note = if !applicable {
        Some("when: compliance < 20 mL/hPa".to_string())
    } else if verdict == Verdict::Fail {
        Some(format!("mean {mean} mL is above {high} mL"))
    } else {
        None
    };
    RunEvent::Check(Box::new(CheckOutcome {
        id: "volume_accuracy".into(),
        title: "Delivered volume within ±(4 mL + 3 %) of the set volume".into(),
        set_point: Some(set_point),
        measurement: "delivered_volume".into(),
        statistic: "mean".into(),
        samples: values.len(),
        value: applicable.then(|| Quantity::new(mean, q("1 mL").unit)),
        target: Some(q(&format!("{target} mL"))),
        limit: Some(LimitRecord {
            low: Some(low),
            high: Some(high),
            unit: "mL".into(),
            description: format!("{target} mL ± (4 mL + 3 %)"),
        }),
        applicable,
        verdict,
        note,
        attempt: None,
        superseded: false,
        uncertainty: None,
        decision: None,
    }))
}

fn teardown(verdict: Verdict, reason: Option<&str>) -> Vec<RunEvent> {
    vec![
        RunEvent::SafeState {
            role: "dut".into(),
            ok: true,
            message: None,
        },
        RunEvent::RunEnded {
            verdict,
            reason: reason.map(str::to_string),
        },
    ]
}

/// A run over two set points that passes.
pub(crate) fn passing_record() -> Record {
    let mut events = vec![header("VT-2026-0001")];
    events.extend(instruments("SimMed"));
    events.push(RunEvent::Prompt(PromptAnswer {
        message: "Connect the test lung to the patient port".into(),
        answer: "ok".into(),
        automatic: true,
        value: None,
    }));
    let rows = [
        (0, "row 1", 500.0, [501.5, 502.5, 502.0]),
        (1, "row 2", 300.0, [298.0, 299.0, 300.0]),
    ];
    for (i, label, target, values) in rows {
        events.push(set_point(i, label, &format!("{target} mL")));
        events.push(command(&format!("{target} mL")));
        events.extend(samples(i, &values));
    }
    for (i, _, target, values) in rows {
        events.push(check(i, target, &values, true));
    }
    events.extend(teardown(Verdict::Pass, None));
    record_of(events)
}

/// A run over four set points: row 2 fails, row 4 does not apply. Outcomes are journaled out
/// of set-point order.
pub(crate) fn failing_record() -> Record {
    let mut events = vec![header("VT-2026-0002")];
    events.extend(instruments("SimMed"));
    let rows = [
        (0, "row 1", 500.0, vec![501.0, 499.0]),
        (1, "row 2", 300.0, vec![330.0, 331.0]),
        (2, "row 3", 200.0, vec![201.0, 202.0]),
        (3, "row 4", 100.0, vec![]),
    ];
    for (i, label, target, values) in &rows {
        events.push(set_point(*i, label, &format!("{target} mL")));
        events.push(command(&format!("{target} mL")));
        events.extend(samples(*i, values));
    }
    for i in [0, 2, 1, 3] {
        let (sp, _, target, values) = &rows[i];
        events.push(check(
            *sp,
            *target,
            if values.is_empty() { &[0.0] } else { values },
            i != 3,
        ));
    }
    events.extend(teardown(Verdict::Fail, None));
    record_of(events)
}

/// A passing run during which the reference sent an emergency message and then reset it.
pub(crate) fn emergency_record() -> Record {
    let mut events = vec![header("VT-2026-0005")];
    events.extend(instruments("SimMed"));
    events.push(set_point(0, "row 1", "500 mL"));
    events.push(command("500 mL"));
    for (code, class, register) in [(0x4210, "temperature, device", 0x09), (0, "error reset", 0)] {
        events.push(RunEvent::Emergency {
            role: "flow_reference".into(),
            node: 5,
            code,
            class: class.into(),
            register,
            manufacturer: "00 01 02 03 04".into(),
        });
    }
    events.extend(samples(0, &[501.0, 502.0]));
    events.push(check(0, 500.0, &[501.0, 502.0], true));
    events.extend(teardown(Verdict::Pass, None));
    record_of(events)
}

/// A run whose journal stops after the first set point (the bench crashed).
pub(crate) fn interrupted_record() -> Record {
    let mut events = vec![header("VT-2026-0003")];
    events.extend(instruments("SimMed"));
    events.push(set_point(0, "row 1", "500 mL"));
    events.push(command("500 mL"));
    events.extend(samples(0, &[501.0, 502.0]));
    events.push(check(0, 500.0, &[501.0, 502.0], true));
    events.push(RunEvent::Error {
        role: Some("flow_reference".into()),
        message: "no answer to `VOL?` within 2 s".into(),
    });
    record_of(events)
}

/// A run stopped by an instrument error after the first set point, with `verdict` (ERROR or
/// ABORTED) and a reason.
pub(crate) fn stopped_record(verdict: Verdict, reason: &str) -> Record {
    let mut events = vec![header("VT-2026-0004")];
    events.extend(instruments("SimMed"));
    events.push(set_point(0, "row 1", "500 mL"));
    events.push(command("500 mL"));
    events.extend(samples(0, &[501.0, 502.0]));
    events.push(check(0, 500.0, &[501.0, 502.0], true));
    events.push(RunEvent::Error {
        role: Some("flow_reference".into()),
        message: "no answer to `VOL?` within 2 s".into(),
    });
    events.extend(teardown(verdict, Some(reason)));
    record_of(events)
}

/// A failing run whose device, labels and messages carry markup.
pub(crate) fn hostile_record() -> Record {
    const EVIL: &str = "<script>alert(1)</script>";
    let mut events = vec![header(EVIL)];
    events.extend(instruments(EVIL));
    events.push(set_point(0, EVIL, "500 mL"));
    events.extend(samples(0, &[600.0]));
    events.push(check(0, 500.0, &[600.0], true));
    events.push(RunEvent::Error {
        role: Some(EVIL.into()),
        message: format!("device said {EVIL} & \"quit\""),
    });
    events.extend(teardown(Verdict::Fail, Some(EVIL)));
    record_of(events)
}

/// A record with `set_points × per_point` samples, built from entries directly (hashing
/// 100 000 journal lines would dominate the test's time).
pub(crate) fn large_record(set_points: usize, per_point: usize) -> Record {
    let mut events = vec![header("VT-2026-9999")];
    events.extend(instruments("SimMed"));
    for i in 0..set_points {
        let target = 100.0 + i as f64;
        events.push(set_point(
            i,
            &format!("row {}", i + 1),
            &format!("{target} mL"),
        ));
        let values: Vec<f64> = (0..per_point)
            .map(|k| target + (k % 7) as f64 * 0.1 - 0.3)
            .collect();
        events.extend(samples(i, &values));
        events.push(check(i, target, &values, true));
    }
    events.extend(teardown(Verdict::Pass, None));
    let mut entries: Vec<Entry> = events
        .into_iter()
        .enumerate()
        .map(|(seq, event)| Entry {
            seq: seq as u64,
            prev: String::new(),
            utc: String::new(),
            mono_s: 0.0,
            event,
        })
        .collect();
    fix_times(&mut entries);
    Record::from_entries(&entries, HEAD).unwrap()
}
