//! Runner overhead per step: 10,000 trivial measure-and-check steps against an in-process
//! instrument, with the journal in memory and then on disk with its durability guarantee.

mod common;

use qbench::driver::{Condition, DeviceEvent, Driver, DriverError, Identity};
use qbench::journal::{JournalWriter, MemoryJournal};
use qbench::procedure::parse_procedure;
use qbench::units::{Quantity, parse_unit};
use std::path::Path;
use std::time::Duration;

/// An instrument inside the process: every reading is the same flow.
struct Constant(Quantity);

impl Driver for Constant {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        Ok(Identity::default())
    }
    fn set(&mut self, _name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        Ok(value.clone())
    }
    fn act(&mut self, _action: &str) -> Result<(), DriverError> {
        Ok(())
    }
    fn read(&mut self, _quantity: &str) -> Result<Quantity, DriverError> {
        Ok(self.0.clone())
    }
    fn await_event(&mut self, _event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Ok(())
    }
    fn make_safe(&mut self) -> Result<(), DriverError> {
        Ok(())
    }
    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }
}

const STEPS: usize = 10_000;

fn procedure() -> qbench::procedure::Procedure {
    let text = format!(
        "id: overhead\ntitle: Runner overhead\nversion: 1.0.0\nstandard: none\nclause: n/a\nroles:\n  meter: {{ kind: flow_analyzer }}\nsteps:\n  - sweep:\n      name: steps\n      over: k\n      range: {{ from: 1, to: {STEPS}, step: 1 }}\n      steps:\n        - measure: {{ id: flow, role: meter, quantity: high_flow, samples: 1, timeout: 10 s }}\n        - check: {{ id: flow_in_range, title: Flow in range, value: mean(flow), min: 0 L/min, max: 100 L/min }}\n"
    );
    match parse_procedure(Path::new("overhead.yaml"), &text) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn drivers() -> Vec<(String, Box<dyn Driver>)> {
    let flow = Quantity::new(30.0, parse_unit("L/min").expect("unit"));
    vec![(
        "meter".to_string(),
        Box::new(Constant(flow)) as Box<dyn Driver>,
    )]
}

fn main() {
    let procedure = procedure();
    println!("runner: {STEPS} measure-and-check steps (each: 1 sample, 1 check, 1 set point)");

    // The journal alone: one sample entry appended (serialised, hashed, time-stamped).
    let mut journal = MemoryJournal::default();
    let value = Quantity::new(30.0, parse_unit("L/min").expect("unit"));
    let (_, elapsed) = common::time(|| {
        for index in 0..STEPS {
            let event = qbench::journal::RunEvent::Sample {
                measurement: "flow".into(),
                role: "meter".into(),
                quantity: "high_flow".into(),
                set_point: Some(index),
                index: 0,
                value: value.clone(),
            };
            let _ = qbench::journal::JournalSink::append(&mut journal, event);
        }
    });
    common::figure(
        "one journal entry appended, in memory",
        elapsed.as_secs_f64() * 1e6 / STEPS as f64,
        "µs",
        "-",
    );

    let mut memory = MemoryJournal::default();
    let (verdict, elapsed) =
        common::time(|| qbench::runner::run_in_process(&procedure, drivers(), &mut memory));
    assert!(
        matches!(verdict, Ok(qbench::analysis::Verdict::Pass)),
        "{verdict:?}"
    );
    let per_step = elapsed.as_secs_f64() * 1e6 / STEPS as f64;
    common::figure("per step, journal in memory", per_step, "µs", "≤ 5 µs");
    println!("  {} journal entries", memory.entries().len());

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("journal.jsonl");
    let mut disk = JournalWriter::create(&path).expect("journal");
    let (verdict, elapsed) =
        common::time(|| qbench::runner::run_in_process(&procedure, drivers(), &mut disk));
    assert!(
        matches!(verdict, Ok(qbench::analysis::Verdict::Pass)),
        "{verdict:?}"
    );
    let per_step = elapsed.as_secs_f64() * 1e6 / STEPS as f64;
    // One fdatasync on this disk, for comparison with the target.
    let probe = dir.path().join("probe");
    let file = std::fs::File::create(&probe).expect("probe");
    let (_, sync) = common::time(|| {
        for _ in 0..50 {
            use std::io::Write;
            let mut f = &file;
            let _ = f.write_all(b"x\n");
            let _ = file.sync_data();
        }
    });
    let sync_us = sync.as_secs_f64() * 1e6 / 50.0;
    common::figure(
        "per step, durable journal on disk",
        per_step,
        "µs",
        "≤ one fdatasync + 20 µs",
    );
    common::figure("one fdatasync on this disk", sync_us, "µs", "reference");
    common::figure(
        "per step beyond one fdatasync",
        per_step - sync_us,
        "µs",
        "≤ 20 µs",
    );
}
