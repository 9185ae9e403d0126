//! Whole runs of the flat-panel detector qualifications on the simulated X-ray bench, through
//! the real binary: the CANopen detector behind its own slcan adapter on a pty, its frames on
//! a loopback TCP image channel (or dropped as TIFF files), the generator and the dosimeter
//! sharing one physical model.

use crate::util::Dir;
use qbench::journal::{RunEvent, read_journal};
use sha2::{Digest, Sha256};

/// The shipped X-ray fixture with a smaller detector (384 × 384: fast, yet room for the
/// TG-150 grid and the NPS ROIs), plus `extra` lines in the detector's simulation section
/// (faults) and `image_extra` in its image model. The integration window stays the
/// procedures' own: shorter ones miss exposures when the machine is loaded.
fn small_fixture(dir: &Dir, name: &str, extra: &str, image_extra: &str) -> String {
    let mut text = dir.read("fixtures/sim-xray.yaml").replace(
        "width: 512\n        height: 512",
        "width: 384\n        height: 384",
    );
    if !extra.is_empty() {
        text = text.replace(
            "      distance_m: 1.5\n",
            &format!("      distance_m: 1.5\n      {extra}\n"),
        );
    }
    if !image_extra.is_empty() {
        text = text.replace(
            "        lag: 0.002\n",
            &format!("        lag: 0.002\n        {image_extra}\n"),
        );
    }
    let path = format!("fixtures/{name}.yaml");
    dir.write(&path, &text);
    path
}

fn run(dir: &Dir, procedure: &str, fixture: &str) -> crate::util::Output {
    dir.run_unattended(&format!("procedures/{procedure}.yaml"), fixture)
}

/// The frames and artefacts the journal notes, as (path in the run directory, SHA-256).
fn stored_files(dir: &Dir) -> Vec<(String, String)> {
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal verifies");
    journal
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            RunEvent::InstrumentNote { note, .. } => {
                let (_, rest) = note.split_once(" stored as ")?;
                let (path, sha) = rest.split_once(" sha256 ")?;
                Some((path.to_string(), sha.to_string()))
            }
            _ => None,
        })
        .collect()
}

fn check_verdict(dir: &Dir, id: &str) -> String {
    let record = dir.record();
    record
        .checks
        .iter()
        .filter(|c| c.id == id)
        .map(|c| format!("{:?}", c.verdict).to_uppercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn every_detector_procedure_passes_and_every_frame_is_stored_with_its_hash() {
    for procedure in [
        "detector-conversion-function",
        "detector-flat-field",
        "detector-lag",
    ] {
        let dir = Dir::new();
        let fixture = small_fixture(&dir, "small", "", "");
        let out = run(&dir, procedure, &fixture);
        assert_eq!(out.code, 0, "{procedure}\n{}\n{}", out.stdout, out.stderr);
        let stored = stored_files(&dir);
        let frames = stored.iter().filter(|(p, _)| p.ends_with(".tiff")).count();
        assert!(frames >= 6, "{procedure}: {frames} frames stored");
        // Every stored file is there and is what the journal says: each figure can be
        // recomputed from the raw frames.
        for (path, sha) in &stored {
            let bytes = std::fs::read(dir.path().join("run").join(path)).expect("stored file");
            assert_eq!(&hex::encode(Sha256::digest(&bytes)), sha, "{path}");
        }
        // Pixel values carry their unit, digital numbers, into the record.
        let record = dir.record();
        for m in &record.measurements {
            let expected = match m.quantity.as_str() {
                "mean_pixel_value" | "dark_offset" | "dark_noise" | "dark_fixed_pattern_noise" => {
                    "DN"
                }
                "nps_variance" => "DN^2",
                _ => continue,
            };
            assert_eq!(m.unit, expected, "{procedure}: {}", m.id);
        }
        if procedure == "detector-flat-field" {
            for artefact in ["nps.csv", "uniformity-map.csv", "defect-map.tiff"] {
                assert!(
                    stored.iter().any(|(p, _)| p.ends_with(artefact)),
                    "{artefact} not stored"
                );
            }
            let frame = qbench::imaging::read_tiff(
                &dir.path().join("run/images/detector-frame-000001.tiff"),
            )
            .expect("a 16-bit TIFF");
            assert_eq!((frame.width(), frame.height()), (384, 384));
            // The report draws each artefact inline; an altered file is named, not drawn.
            let report = dir.read("run/report.html");
            assert_eq!(
                report.matches("<figure>").count(),
                4,
                "flat field, maps, NPS"
            );
            assert!(report.contains("data:image/png;base64,"));
            assert!(report.contains("<title>Noise power spectrum</title>"));
            dir.write(
                "run/images/detector-nps.csv",
                "curve,frequency_per_mm,nps,nnps_mm2\n",
            );
            let out = dir.qbench(&["report", "run", "--format", "html", "-o", "again.html"]);
            assert_eq!(out.code, 0, "{}", out.stderr);
            let again = dir.read("again.html");
            assert!(
                again.contains("does not match its recorded SHA-256"),
                "{again}"
            );
            assert!(!again.contains("<title>Noise power spectrum</title>"));
        }
        if procedure == "detector-conversion-function" {
            let report = dir.read("run/report.html");
            assert!(report.contains("<title>Conversion function and residuals</title>"));
        }
    }
}

#[test]
fn a_response_non_linearity_beyond_the_limit_fails_the_linearity_check() {
    let dir = Dir::new();
    let fixture = small_fixture(&dir, "nonlinear", "", "nonlinearity: 0.5");
    let out = run(&dir, "detector-conversion-function", &fixture);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(check_verdict(&dir, "conversion_deviation"), "FAIL");
}

#[test]
fn a_dead_column_fails_the_defect_check() {
    let dir = Dir::new();
    let fixture = small_fixture(&dir, "dead", "", "");
    let text = dir.read(&fixture).replace(
        "defects: { dead_pixels: 3,",
        "defects: { dead_columns: [100], dead_pixels: 3,",
    );
    dir.write(&fixture, &text);
    let out = run(&dir, "detector-flat-field", &fixture);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(check_verdict(&dir, "defective_lines"), "FAIL");
    assert_eq!(check_verdict(&dir, "defective_pixels"), "FAIL");
    assert_eq!(check_verdict(&dir, "dark_noise"), "PASS");
}

fn assert_instrument_error(out: &crate::util::Output, words: &[&str]) {
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    let error = out.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("detector"), "{error}");
    for w in words {
        assert!(error.contains(w), "`{w}` not in: {error}");
    }
}

#[test]
fn a_corrupted_or_truncated_frame_is_an_instrument_error_naming_the_detector() {
    let dir = Dir::new();
    let fixture = small_fixture(&dir, "corrupt", "corrupt_frames: [2]", "");
    let out = run(&dir, "detector-conversion-function", &fixture);
    assert_instrument_error(&out, &["frame 2 corrupted"]);
    // The point before the bad frame is recorded.
    let journal = read_journal(&dir.path().join("run/journal.jsonl")).expect("journal");
    let samples = journal
        .entries
        .iter()
        .filter(|e| matches!(e.event, RunEvent::Sample { .. }))
        .count();
    assert_eq!(samples, 2, "the first level's kerma and pixel value");

    let dir = Dir::new();
    let fixture = small_fixture(&dir, "truncated", "truncate_frames: [3]", "");
    let out = run(&dir, "detector-conversion-function", &fixture);
    assert_instrument_error(&out, &["frame 3", "truncated"]);
}

#[test]
fn frames_dropped_as_tiff_files_in_a_folder_are_read_as_well() {
    let dir = Dir::new();
    let folder = dir.path().join("vendor-images");
    let tiff = format!("tiff_folder: {}", folder.display());
    let path = small_fixture(&dir, "folder", &tiff, "");
    let text = dir.read(&path).replace(
        "image_tcp: \"sim:flat_panel_detector\"",
        "image_folder: \"sim:flat_panel_detector\"",
    );
    dir.write(&path, &text);
    let out = run(&dir, "detector-conversion-function", &path);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(folder.join("frame-000006.tiff").exists());

    // A file cut short is an instrument error too.
    let dir = Dir::new();
    let folder = dir.path().join("vendor-images");
    let tiff = format!(
        "tiff_folder: {}\n      truncate_frames: [1]",
        folder.display()
    );
    let path = small_fixture(&dir, "folder", &tiff, "");
    let text = dir.read(&path).replace(
        "image_tcp: \"sim:flat_panel_detector\"",
        "image_folder: \"sim:flat_panel_detector\"",
    );
    dir.write(&path, &text);
    let out = run(&dir, "detector-conversion-function", &path);
    assert_instrument_error(&out, &["frame 1", "TIFF"]);
}
