//! Dry runs on the simulated bench: the full ventilator volume-accuracy qualification (all 21
//! test conditions) at increasing time scales, and resident memory over long simulated runs.

mod common;

use qbench::runner::{self, AssumeYes, RunRequest, Silent, StopRequest};
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

fn run(request: RunRequest) -> (String, f64) {
    let prepared = runner::prepare(request).expect("valid");
    let stop = StopRequest::new();
    let (outcome, elapsed) =
        common::time(|| runner::execute(&prepared, &mut Silent, &mut AssumeYes, &stop));
    let outcome = outcome.expect("recorded");
    (outcome.verdict.to_string(), elapsed.as_secs_f64())
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let volume = PathBuf::from("procedures/ventilator-volume-accuracy.yaml");
    println!(
        "dry run: {} (21 test conditions, 5 + 25 breaths each)",
        volume.display()
    );
    for scale in [200, 500, 1000] {
        let (verdict, seconds) = run(request(dir.path(), &volume, scale));
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
    println!("memory over long runs (time scale 500):");
    for hours in [1, 8] {
        let procedure = long(hours);
        let (verdict, seconds) = run(request(dir.path(), &procedure, 500));
        common::figure(
            &format!("resident memory after {hours} h of bench time ({verdict}, {seconds:.0} s)"),
            common::resident_mib(),
            "MiB",
            "flat",
        );
    }
}
