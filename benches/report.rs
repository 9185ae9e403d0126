//! Report rendering: the HTML report (and CSV) of a record with 100,000 samples.

mod common;

use qbench::analysis::Verdict;
use qbench::journal::{JournalSink, MemoryJournal, RunEvent, RunHeader, SoftwareInfo, SourceFile};
use qbench::record::Record;
use qbench::units::parse_quantity;
use std::collections::BTreeMap;

const SET_POINTS: usize = 100;
const SAMPLES_PER_SET_POINT: usize = 1000;

fn record() -> Record {
    let mut journal = MemoryJournal::default();
    let source = |path: &str| SourceFile {
        path: path.into(),
        sha256: "0".repeat(64),
        text: String::new(),
    };
    let header = RunHeader {
        format: 1,
        run_id: "bench".into(),
        procedure: source("p.yaml"),
        procedure_id: "bench".into(),
        procedure_version: "1".into(),
        title: "Report benchmark".into(),
        standard: "none".into(),
        clause: "n/a".into(),
        fixture: source("f.yaml"),
        fixture_name: "sim".into(),
        simulated: true,
        time_scale: 1.0,
        software: SoftwareInfo {
            name: "qbench".into(),
            version: "bench".into(),
            git_commit: None,
        },
        host: "bench".into(),
        operator: "bench".into(),
        dut_serial: "bench".into(),
        parameters: BTreeMap::new(),
        overrides: Vec::new(),
        environment: BTreeMap::new(),
        allow_expired_calibration: false,
    };
    let mut push = |event| {
        journal.append(event).expect("append");
    };
    push(RunEvent::RunStarted(Box::new(header)));
    for sp in 0..SET_POINTS {
        let mut bindings = BTreeMap::new();
        bindings.insert(
            "volume".to_string(),
            parse_quantity(&format!("{} mL", 100 + sp)).expect("q"),
        );
        push(RunEvent::SetPoint {
            sweep: "volumes".into(),
            index: sp,
            label: format!("row {}", sp + 1),
            bindings,
        });
        for i in 0..SAMPLES_PER_SET_POINT {
            let value = parse_quantity(&format!("{} mL", 100.0 + sp as f64 + (i % 7) as f64 * 0.1))
                .expect("q");
            push(RunEvent::Sample {
                measurement: "vt".into(),
                role: "flow_reference".into(),
                quantity: "inspired_volume".into(),
                set_point: Some(sp),
                index: i,
                value,
            });
        }
    }
    push(RunEvent::RunEnded {
        verdict: Verdict::Pass,
        reason: None,
    });
    Record::from_entries(journal.entries(), "0").expect("record")
}

fn main() {
    let (record, fold) = common::time(record);
    println!("report: a record of {} samples", record.sample_count());
    common::figure(
        "fold the journal into the record",
        fold.as_secs_f64() * 1e3,
        "ms",
        "-",
    );
    let (html, elapsed) = common::time(|| qbench::report::render_html(&record, None));
    let html = html.expect("html");
    common::figure(
        "render the HTML report",
        elapsed.as_secs_f64(),
        "s",
        "≤ 1 s",
    );
    println!("  {} bytes of HTML", html.len());
    let (csv, elapsed) = common::time(|| qbench::report::render_csv(&record));
    common::figure(
        "render the CSV of raw samples",
        elapsed.as_secs_f64(),
        "s",
        "-",
    );
    println!("  {} bytes of CSV", csv.len());
}
