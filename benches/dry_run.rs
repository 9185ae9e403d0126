//! Dry runs on the simulated bench: the full ventilator volume-accuracy qualification (all 21
//! test conditions) at increasing time scales, and resident memory over long simulated runs,
//! beside the live heap (bytes allocated and not freed, counted by a global allocator) that
//! tells what the program holds from what the allocator keeps.

mod common;

use qbench::runner::{self, AssumeYes, RunOutcome, RunRequest, Silent, StopRequest};
use std::path::{Path, PathBuf};

fn request(dir: &Path, procedure: &Path, time_scale: u32) -> RunRequest {
    let fixture = std::fs::read_to_string("fixtures/sim.yaml")
        .expect("fixtures/sim.yaml (run from the repository root)");
    let fixture = fixture.replace("time_scale: 200", &format!("time_scale: {time_scale}"));
    let fixture_path = dir.join(format!("sim-{time_scale}.yaml"));
    std::fs::write(&fixture_path, fixture).expect("write fixture");
    RunRequest {
        procedure: procedure.to_path_buf(),
        fixture: fixture_path,
        runs_root: dir.join("runs"),
        out: None,
        dut_serial: "bench".into(),
        operator: "bench".into(),
        host: "bench".into(),
        overrides: Vec::new(),
        allow_expired_calibration: false,
        templates: None,
        step_limit: runner::DEFAULT_STEP_LIMIT,
        environment: Default::default(),
    }
}

/// Counts live heap, so that resident memory can be told apart from what is allocated.
#[global_allocator]
static HEAP: common::CountingAllocator = common::CountingAllocator::new();

fn run(request: RunRequest) -> (RunOutcome, f64) {
    let prepared = runner::prepare(request).expect("valid");
    let stop = StopRequest::new();
    let (outcome, elapsed) =
        common::time(|| runner::execute(&prepared, &mut Silent, &mut AssumeYes, &stop));
    (outcome.expect("recorded"), elapsed.as_secs_f64())
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let volume = PathBuf::from("procedures/ventilator-volume-accuracy.yaml");
    println!(
        "dry run: {} (21 test conditions, 5 + 25 breaths each)",
        volume.display()
    );
    for scale in [200, 500, 1000] {
        let (outcome, seconds) = run(request(dir.path(), &volume, scale));
        let verdict = outcome.verdict;
        common::figure(
            &format!("wall time at time scale {scale} ({verdict})"),
            seconds,
            "s",
            "≤ 10 s",
        );
    }

    // Long runs: a ventilator measured breath after breath for 1 h, then 8 h, of bench time.
    let long = |hours: u32| {
        let rows = hours * 48; // 48 rows of 25 breaths at 20 /min = 1 h
        let text = std::fs::read_to_string(&volume).expect("procedure");
        let start = text.find("      table:").expect("table");
        let end = text.find("      steps:").expect("steps");
        let sweep = format!("      over: k\n      range: {{ from: 1, to: {rows}, step: 1 }}\n");
        let body = text[..start].to_string() + &sweep + &text[end..];
        let body = body
            .replace(
                "values: { compliance: compliance, resistance: resistance }",
                "values: { compliance: 50 mL/hPa, resistance: 5 hPa/(L/s) }",
            )
            .replace("tidal_volume: volume", "tidal_volume: 500 mL")
            .replace("rate: rate", "rate: 20 /min")
            .replace(
                "inspiratory_time: inspiratory_time",
                "inspiratory_time: 1 s",
            )
            .replace("peep: peep", "peep: 5 cmH2O")
            .replace("fio2: fio2", "fio2: 30 %")
            .replace("/ rate +", "/ (20 /min) +")
            .replace("target: volume", "target: 500 mL")
            .replace("tolerance_relative * volume", "tolerance_relative * 500 mL")
            .replace(
                "when: volume > applies_above",
                "when: 500 mL > applies_above",
            );
        let path = dir.path().join(format!("long-{hours}h.yaml"));
        std::fs::write(&path, body).expect("write procedure");
        path
    };
    println!("memory over long runs (time scale 500; resident, and live heap counted):");
    for hours in [1, 8] {
        let procedure = long(hours);
        let sampler = Sampler::start();
        HEAP.reset_peak();
        let (outcome, seconds) = run(request(dir.path(), &procedure, 500));
        let samples = sampler.stop();
        let peak = HEAP.peak_mib();
        let verdict = outcome.verdict;
        let journal = std::fs::metadata(&outcome.journal).map_or(f64::NAN, |m| m.len() as f64);
        println!(
            "{hours} h run ({verdict}, {seconds:.0} s wall, journal {:.1} MiB on disk):",
            journal / 1048576.0
        );
        if hours == 8 {
            // During the run, before the end-of-run fold and report: bench time runs at a
            // steady pace, so a fraction of the wall time is that fraction of the 8 hours.
            for bench_hours in [1, 4, 7] {
                let (resident, live) =
                    Sampler::at(&samples, seconds * f64::from(bench_hours) / 8.0);
                common::figure(
                    &format!("  resident at about {bench_hours} h of bench time"),
                    resident,
                    "MiB",
                    "flat",
                );
                common::figure(
                    &format!("  live heap at about {bench_hours} h of bench time"),
                    live,
                    "MiB",
                    "flat",
                );
            }
        }
        drop(outcome);
        common::figure(
            &format!("  resident after the {hours} h run (report included)"),
            common::resident_mib(),
            "MiB",
            "flat",
        );
        common::figure(
            &format!("  live heap after the {hours} h run"),
            HEAP.live_mib(),
            "MiB",
            "flat",
        );
        common::figure(
            &format!("  peak live heap during the {hours} h run (fold, report)"),
            peak,
            "MiB",
            "flat",
        );
    }

    // The same 8 h run by the `qbench` binary, as users run it: its resident memory, read
    // from /proc while it runs.
    let procedure = long(8);
    let fixture = dir.path().join("sim-500.yaml");
    let out = dir.path().join("binary-8h");
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qbench"))
        .arg("run")
        .arg(&procedure)
        .arg("--fixture")
        .arg(&fixture)
        .arg("--out")
        .arg(&out)
        .arg("--yes")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("qbench runs");
    let (mut samples, mut peak) = (Vec::new(), f64::NAN);
    let status = loop {
        if let Some(status) = child.try_wait().expect("qbench's status") {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(1800) {
            let _ = child.kill();
            panic!("`qbench run` took more than 30 minutes");
        }
        if let Some(resident) = common::status_mib(child.id(), "VmRSS:") {
            samples.push((started.elapsed().as_secs_f64(), resident, f64::NAN));
        }
        peak = common::status_mib(child.id(), "VmHWM:").unwrap_or(peak);
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let seconds = started.elapsed().as_secs_f64();
    println!("8 h run by `qbench run` ({status}, {seconds:.0} s wall):");
    for bench_hours in [1, 4, 7] {
        common::figure(
            &format!("  resident at about {bench_hours} h of bench time"),
            Sampler::at(&samples, seconds * f64::from(bench_hours) / 8.0).0,
            "MiB",
            "flat",
        );
    }
    common::figure(
        "  peak resident (fold and report included)",
        peak,
        "MiB",
        "flat",
    );
}

/// Samples this process's resident memory and live heap every 50 ms on a thread of its own.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(f64, f64, f64)>>,
}

impl Sampler {
    fn start() -> Sampler {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                // The live heap of the run: this sampler's own growing buffer left out.
                let own = (samples.capacity() * std::mem::size_of::<(f64, f64, f64)>()) as f64;
                samples.push((
                    started.elapsed().as_secs_f64(),
                    common::resident_mib(),
                    HEAP.live_mib() - own / 1048576.0,
                ));
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            samples
        });
        Sampler { stop, thread }
    }

    /// (seconds since start, resident MiB, live heap MiB).
    fn stop(self) -> Vec<(f64, f64, f64)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("sampler thread")
    }

    /// The resident memory and live heap (MiB) sampled nearest to `seconds` after the start.
    fn at(samples: &[(f64, f64, f64)], seconds: f64) -> (f64, f64) {
        samples
            .iter()
            .min_by(|a, b| (a.0 - seconds).abs().total_cmp(&(b.0 - seconds).abs()))
            .map_or((f64::NAN, f64::NAN), |s| (s.1, s.2))
    }
}
