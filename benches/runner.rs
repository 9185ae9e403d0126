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

/// Runs of the in-memory figures (10,000 steps each); the best and the median are printed.
const MEMORY_RUNS: usize = 7;

/// Runs of the on-disk figures (10,000 fdatasyncs each).
const DISK_RUNS: usize = 5;

/// Durable appends of each reference probe after each on-disk run.
const PROBE_SYNCS: usize = 1000;

/// `cargo bench --bench runner [memory|disk]`: both parts, or only the one named (to profile
/// one under callgrind without the other's fdatasyncs).
///
/// Each figure is given as wall-clock time and as this thread's CPU time (from the scheduler):
/// on a machine shared with other work the wall-clock time also counts the waits for a core,
/// the CPU time does not.
fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let procedure = procedure();
    println!("runner: {STEPS} measure-and-check steps (each: 1 sample, 1 check, 1 set point)");
    if runs("memory") {
        memory(&procedure);
    }
    if runs("disk") {
        disk(&procedure);
    }
}

/// Prints the best and the median of per-step figures in µs, wall-clock and CPU.
fn per_step(what: &str, wall: Vec<f64>, cpu: Vec<f64>, target: &str) {
    let (best, median) = common::best_and_median(wall);
    common::figure(&format!("{what}: best"), best, "µs", target);
    common::figure(&format!("{what}: median"), median, "µs", target);
    let (best, median) = common::best_and_median(cpu);
    common::figure(&format!("{what}: CPU, best"), best, "µs", target);
    common::figure(&format!("{what}: CPU, median"), median, "µs", target);
}

/// µs per step of a duration spent on [`STEPS`] steps.
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6 / STEPS as f64
}

/// The journal alone, then the runner with the journal in memory.
fn memory(procedure: &qbench::procedure::Procedure) {
    let value = Quantity::new(30.0, parse_unit("L/min").expect("unit"));
    let (mut entry_wall, mut entry_cpu) = (Vec::new(), Vec::new());
    let (mut step_wall, mut step_cpu) = (Vec::new(), Vec::new());
    let mut entries = 0;
    let mut bytes = 0;
    for _ in 0..MEMORY_RUNS {
        // The journal alone: one sample entry appended (serialised, hashed, time-stamped).
        let mut journal = MemoryJournal::default();
        let (_, wall, cpu) = common::time_cpu(|| {
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
        entry_wall.push(us(wall));
        entry_cpu.push(us(cpu));

        let mut memory = MemoryJournal::default();
        let (verdict, wall, cpu) =
            common::time_cpu(|| qbench::runner::run_in_process(procedure, drivers(), &mut memory));
        assert!(
            matches!(verdict, Ok(qbench::analysis::Verdict::Pass)),
            "{verdict:?}"
        );
        step_wall.push(us(wall));
        step_cpu.push(us(cpu));
        entries = memory.entries().len();
        bytes = memory.text().len();
    }
    per_step(
        "one journal entry appended, in memory",
        entry_wall,
        entry_cpu,
        "-",
    );
    per_step("per step, journal in memory", step_wall, step_cpu, "≤ 5 µs");
    println!(
        "  {entries} journal entries, {} bytes per step, {MEMORY_RUNS} runs",
        bytes / STEPS
    );
}

/// One reference probe: `count` appends of `line` to a new file at `path`, each one `write`
/// and one `fdatasync`; wall-clock and CPU µs per append.
fn durable_appends(path: &Path, line: &[u8], count: usize) -> (f64, f64) {
    use std::io::Write;
    let file = std::fs::File::create(path).expect("probe");
    let (_, wall, cpu) = common::time_cpu(|| {
        for _ in 0..count {
            let mut f = &file;
            f.write_all(line).expect("probe write");
            file.sync_data().expect("probe fdatasync");
        }
    });
    let per = |d: Duration| d.as_secs_f64() * 1e6 / count as f64;
    (per(wall), per(cpu))
}

/// The runner with the journal on disk, against durable appends alone on the same disk.
///
/// Two references, each measured right after every run: the 2-byte append the target was
/// first measured with, and the like-for-like one, a line as long as what the journal writes
/// per step (a step is one `write` of its lines and one `fdatasync`). The second is the fair
/// reference: appending ~1.3 kB per sync copies more and allocates a new block every third
/// sync, where 2 bytes per sync stay in one block for 2,000 syncs. Both are printed.
///
/// "Beyond" is best minus best and median minus median: on a shared disk one run's fdatasyncs
/// and the next probe's can differ by more than the whole difference sought, so differences
/// run by run mean little. The CPU figures (this thread's, from the scheduler) do not count
/// the wait for the disk, only the work: the same subtraction on them says what a step adds
/// to one durable append, whatever the disk's latency.
fn disk(procedure: &qbench::procedure::Procedure) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (mut step_wall, mut step_cpu) = (Vec::new(), Vec::new());
    let (mut short, mut alike) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    let mut step_bytes = 0;
    for run in 0..DISK_RUNS {
        let path = dir.path().join(format!("journal-{run}.jsonl"));
        let mut disk = JournalWriter::create(&path).expect("journal");
        let (verdict, wall, cpu) =
            common::time_cpu(|| qbench::runner::run_in_process(procedure, drivers(), &mut disk));
        assert!(
            matches!(verdict, Ok(qbench::analysis::Verdict::Pass)),
            "{verdict:?}"
        );
        step_wall.push(us(wall));
        step_cpu.push(us(cpu));
        drop(disk);
        let bytes = std::fs::metadata(&path).expect("journal").len() as usize;
        step_bytes = bytes / STEPS;
        let mut line = vec![b'x'; step_bytes.max(1)];
        if let Some(last) = line.last_mut() {
            *last = b'\n';
        }
        // The two probes alternate in order from run to run.
        let probe = |figures: &mut (Vec<f64>, Vec<f64>), name: String, line: &[u8]| {
            let (wall, cpu) = durable_appends(&dir.path().join(name), line, PROBE_SYNCS);
            figures.0.push(wall);
            figures.1.push(cpu);
        };
        let alike_name = format!("probe-{step_bytes}-{run}");
        if run % 2 == 0 {
            probe(&mut short, format!("probe-2-{run}"), b"x\n");
            probe(&mut alike, alike_name, &line);
        } else {
            probe(&mut alike, alike_name, &line);
            probe(&mut short, format!("probe-2-{run}"), b"x\n");
        }
    }
    let step = (
        common::best_and_median(step_wall.clone()),
        common::best_and_median(step_cpu.clone()),
    );
    per_step(
        "per step, durable journal on disk",
        step_wall,
        step_cpu,
        "≤ one fdatasync + 20 µs",
    );
    for (what, (wall, cpu)) in [("2-byte", short), (&*format!("{step_bytes}-byte"), alike)] {
        let reference = (
            common::best_and_median(wall.clone()),
            common::best_and_median(cpu.clone()),
        );
        per_step(
            &format!("one durable {what} append"),
            wall,
            cpu,
            "reference",
        );
        let label = format!("per step beyond one durable {what} append");
        for (kind, (s, r)) in [
            ("", (step.0, reference.0)),
            ("CPU, ", (step.1, reference.1)),
        ] {
            common::figure(&format!("{label}: {kind}best"), s.0 - r.0, "µs", "≤ 20 µs");
            common::figure(
                &format!("{label}: {kind}median"),
                s.1 - r.1,
                "µs",
                "≤ 20 µs",
            );
        }
    }
    println!(
        "  {DISK_RUNS} runs of {step_bytes} bytes per step, each followed by {PROBE_SYNCS} durable appends of each probe (a new file each)"
    );
}
