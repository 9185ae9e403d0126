//! The X-ray generator qualifications, run by the real binary on the simulated X-ray bench:
//! the CANopen generator behind the slcan adapter and the SCPI dosimeter measuring its
//! exposures, each on a real pseudo-terminal.

use crate::util::{Dir, Output};
use qbench::analysis::Verdict;
use qbench::journal::{RunEvent, read_journal};
use qbench::record::{Record, read_record};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURE: &str = "fixtures/sim-xray.yaml";

/// The X-ray fixture with `from` replaced by `to`, written as `name`.
fn fixture_variant(dir: &Dir, name: &str, from: &str, to: &str) -> String {
    let text = dir.read(FIXTURE);
    assert!(text.contains(from), "{FIXTURE} no longer contains `{from}`");
    dir.write(name, &text.replacen(from, to, 1));
    name.to_string()
}

fn run(dir: &Dir, procedure: &str, fixture: &str, out: &str) -> Output {
    dir.qbench(&[
        "run",
        procedure,
        "--fixture",
        fixture,
        "--yes",
        "--json",
        "--out",
        out,
    ])
}

fn record_of(dir: &Dir, run: &str) -> Record {
    read_record(&dir.path().join(run).join("record.json")).expect("record")
}

#[test]
fn every_generator_qualification_passes_on_the_simulated_bench() {
    let dir = Dir::new();
    for (procedure, checks, samples) in [
        ("procedures/xray-output-reproducibility.yaml", 1, 10),
        ("procedures/xray-output-linearity.yaml", 2, 9),
        ("procedures/xray-kvp-accuracy.yaml", 4, 12),
        ("procedures/xray-exposure-time-accuracy.yaml", 4, 12),
    ] {
        let name = procedure.trim_start_matches("procedures/");
        let out = run(&dir, procedure, FIXTURE, name);
        assert_eq!(out.code, 0, "{procedure}\n{}\n{}", out.stdout, out.stderr);
        let record = record_of(&dir, name);
        assert_eq!(record.verdict, Some(Verdict::Pass), "{procedure}");
        assert_eq!(record.checks.len(), checks, "{procedure}");
        let taken: usize = record.measurements.iter().map(|m| m.samples.len()).sum();
        assert_eq!(taken, samples, "{procedure}: one sample per exposure");
        assert!(
            record.measurements.iter().all(|m| m.role == "dosimeter"),
            "{procedure}"
        );
        // The operator's set-up is recorded: the dosimeter placed, the distance entered.
        let prompts: Vec<&str> = record
            .events
            .iter()
            .filter(|e| e.kind == "prompt")
            .map(|e| e.text.as_str())
            .collect();
        assert!(
            prompts
                .iter()
                .any(|p| p.contains("centre of the X-ray beam")),
            "{procedure}: {prompts:?}"
        );
        assert!(
            prompts
                .iter()
                .any(|p| p.contains("Source–dosimeter distance")),
            "{procedure}: {prompts:?}"
        );
        // Every exposure the generator made was measured by the armed dosimeter.
        let exposures = record
            .events
            .iter()
            .filter(|e| e.kind == "command" && e.text == "expose")
            .count();
        assert_eq!(exposures, samples, "{procedure}");
    }
    // The kVp and time checks carry the dosimeter's stated accuracy in their budgets.
    let record = record_of(&dir, "xray-kvp-accuracy.yaml");
    let budget = record.checks[0].uncertainty.as_ref().expect("a budget");
    assert!(
        budget
            .rows
            .iter()
            .any(|r| r.contribution.name.contains("accuracy of dosimeter")),
        "{budget:?}"
    );
    let time = record_of(&dir, "xray-exposure-time-accuracy.yaml");
    assert!(!time.checks[0].applicable, "20 ms is below 50 ms");
}

#[test]
fn a_generator_output_cv_of_8_percent_fails_reproducibility() {
    let dir = Dir::new();
    let fixture = fixture_variant(
        &dir,
        "fixtures/cv.yaml",
        "output_cv: 0.01",
        "output_cv: 0.08",
    );
    let out = run(
        &dir,
        "procedures/xray-output-reproducibility.yaml",
        &fixture,
        "run",
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("output_reproducibility") && out.stdout.contains("FAIL"),
        "{}",
        out.stdout
    );
    let record = record_of(&dir, "run");
    let check = &record.checks[0];
    assert_eq!(
        (check.id.as_str(), check.verdict),
        ("output_reproducibility", Verdict::Fail)
    );
    let cv = check.value.as_ref().expect("a value").value;
    assert!(cv > 0.05, "cv {cv}");
}

#[test]
fn an_output_not_linear_with_mas_fails_linearity_between_the_settings() {
    let dir = Dir::new();
    // Output × (mAs)^0.5: X grows by √2 from one setting to the next (twice the mA), a
    // coefficient of (√2 − 1) / (√2 + 1) = 0.17.
    let fixture = fixture_variant(
        &dir,
        "fixtures/nonlinear.yaml",
        "output_cv: 0.01",
        "output_cv: 0.01, mas_nonlinearity: 0.5",
    );
    let out = run(
        &dir,
        "procedures/xray-output-linearity.yaml",
        &fixture,
        "run",
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let record = record_of(&dir, "run");
    for check in &record.checks {
        assert_eq!(check.verdict, Verdict::Fail, "{}", check.id);
        let coefficient = check.value.as_ref().expect("a value").value;
        assert!((coefficient - 0.172).abs() < 0.02, "{coefficient}");
    }
}

#[test]
fn a_missed_exposure_is_an_instrument_error_naming_the_dosimeter() {
    let dir = Dir::new();
    let fixture = fixture_variant(
        &dir,
        "fixtures/miss.yaml",
        "dosimeter: { distance_m: 1.0,",
        "dosimeter: { miss_exposures: [4], distance_m: 1.0,",
    );
    let started = Instant::now();
    let out = run(
        &dir,
        "procedures/xray-output-reproducibility.yaml",
        &fixture,
        "run",
    );
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let error = out.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("dosimeter") && error.contains("exposure"),
        "{error}"
    );
    // The dosimeter waited its trigger timeout (2 s in the fixture), not forever.
    assert!(started.elapsed() < Duration::from_secs(30));
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    let samples: Vec<usize> = journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Sample { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(
        samples,
        [0, 1, 2],
        "the three exposures before are recorded"
    );
    // The instrument's own reason reached the journal, and the generator was made safe.
    let notes: Vec<String> = journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::InstrumentNote { role, note } if role == "dosimeter" => Some(note.clone()),
            _ => None,
        })
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("trigger timeout")),
        "{notes:?}"
    );
}

/// `qbench sim` serving the X-ray bench in the background (killed when dropped), and the
/// ports it printed.
struct Served {
    _sim: crate::util::Background,
    can_adapter: String,
    dosimeter: String,
}

fn serve(dir: &Dir) -> Served {
    let sim = dir.spawn(&["sim", "--fixture", FIXTURE]);
    Served {
        can_adapter: sim.served_port("can_adapter"),
        dosimeter: sim.served_port("dosimeter"),
        _sim: sim,
    }
}

/// Runs `qbench run` with `input` on its standard input, as an operator typing.
fn run_with_input(dir: &Dir, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qbench");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).expect("type the answers");
    }
    let out = child.wait_with_output().expect("qbench ends");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Serves the X-ray bench with `qbench sim` and writes `fixtures/real.yaml`, the same
/// instruments reached through their real ports: to qbench, a real bench.
fn serve_real_bench(dir: &Dir) -> Served {
    let served = serve(dir);
    let text = dir.read(FIXTURE);
    let simulation = text.find("\nsimulation:").expect("a simulation section");
    // The flat-panel detector (the last instrument) is left out: these procedures do not
    // use it, and `qbench sim` does not serve its image channel.
    let end = text
        .find("  detector:\n    driver: canopen-flat-panel-detector")
        .map_or(simulation, |d| d.min(simulation));
    let real = text[..end]
        .replace("sim:can_adapter", &served.can_adapter)
        .replace("sim:dosimeter", &served.dosimeter);
    dir.write("fixtures/real.yaml", &real);
    served
}

#[test]
fn a_real_exposure_needs_a_person_and_yes_does_not_give_it() {
    let dir = Dir::new();
    let served = serve_real_bench(&dir);
    let procedure = "procedures/xray-output-reproducibility.yaml";
    let out = dir.qbench(&[
        "run",
        procedure,
        "--fixture",
        "fixtures/real.yaml",
        "--set",
        "exposures=2",
        "--yes",
        "--json",
        "--out",
        "unattended",
    ]);
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let error = out.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("X-RAY EXPOSURE") && error.contains("--yes"),
        "{error}"
    );
    let record = record_of(&dir, "unattended");
    assert!(
        record.measurements.iter().all(|m| m.samples.is_empty()),
        "nothing was exposed"
    );

    // A person answers: the set-up, the distance, then each exposure. The same bench: the
    // adapter's channel was left by the first run, whose last answers come late.
    let out = run_with_input(
        &dir,
        &[
            "run",
            procedure,
            "--fixture",
            "fixtures/real.yaml",
            "--set",
            "exposures=2",
            "--json",
            "--out",
            "attended",
        ],
        "yes\n100 cm\nyes\nyes\n",
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let journal =
        read_journal(&dir.path().join("attended/journal.jsonl")).expect("journal verifies");
    let confirmations: Vec<bool> = journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::Prompt(p) if p.message.contains("X-RAY EXPOSURE") => Some(p.automatic),
            _ => None,
        })
        .collect();
    assert_eq!(
        confirmations,
        [false, false],
        "one per exposure, by a person"
    );
    drop(served);
}
