//! `qbench validate`: shipped files validate; mistakes are located.

use crate::util::Dir;

#[test]
fn every_shipped_procedure_and_fixture_validates() {
    let dir = Dir::new();
    let yaml_in = |folder: &str| -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir.path().join(folder))
            .expect("folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .map(|p| {
                p.strip_prefix(dir.path())
                    .expect("relative")
                    .display()
                    .to_string()
            })
            .collect();
        files.sort();
        files
    };
    let (procedures, fixtures) = (yaml_in("procedures"), yaml_in("fixtures"));
    assert!(procedures.len() >= 4 && fixtures.len() >= 3);
    // Every fixture alone (the X-ray bench provides no ventilator roles), then every
    // procedure against the bench it is written for.
    for fixture in &fixtures {
        let out = dir.qbench(&["validate", fixture]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
    // The ventilator bench for the ventilator procedures, the X-ray bench for the others.
    let (ventilator, xray): (Vec<&String>, Vec<&String>) = procedures
        .iter()
        .partition(|p| dir.read(p).contains("kind: ventilator"));
    for (fixture, group) in [
        ("fixtures/sim.yaml", ventilator),
        ("fixtures/sim-xray.yaml", xray),
    ] {
        let mut args = vec!["validate", fixture];
        args.extend(group.iter().map(|p| p.as_str()));
        let out = dir.qbench(&args);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    }
}

/// Applies `edit` to the shipped volume procedure and validates the result.
fn validate_edit(from: &str, to: &str) -> (i32, String) {
    let dir = Dir::new();
    let text = dir.read("procedures/ventilator-volume-accuracy.yaml");
    assert!(
        text.contains(from),
        "the procedure no longer contains `{from}`"
    );
    dir.write("broken.yaml", &text.replacen(from, to, 1));
    let out = dir.qbench(&["validate", "broken.yaml", "fixtures/sim.yaml"]);
    (out.code, out.stdout)
}

fn line_of(needle: &str) -> usize {
    let text = std::fs::read_to_string(
        crate::util::repo().join("procedures/ventilator-volume-accuracy.yaml"),
    )
    .expect("procedure");
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .expect("needle in procedure")
}

#[test]
fn mistakes_are_reported_with_line_column_and_caret() {
    let cases: &[(&str, &str, &str, &str)] = &[
        // (text replaced, replacement, line containing it, expected message fragment)
        (
            "values: { compliance: compliance",
            "values: { compliance: complianse",
            "values: { compliance: compliance",
            "unknown name `complianse`",
        ),
        (
            "role: flow_reference\n            quantity",
            "role: flow_refrence\n            quantity",
            "quantity: inspired_volume",
            "did you mean `flow_reference`",
        ),
        (
            "quantity: inspired_volume",
            "quantity: inspired_volum",
            "quantity: inspired_volume",
            "did you mean `inspired_volume`",
        ),
        (
            "tolerance: tolerance_absolute + tolerance_relative * volume",
            "tolerance: tolerance_absolute + peep",
            "tolerance: tolerance_absolute",
            "mixes volume and pressure",
        ),
        (
            "default: 4 mL",
            "default: 4 furlongs",
            "default: 4 mL",
            "unknown unit",
        ),
        (
            "when: volume > applies_above",
            "when: volume + applies_above",
            "when: volume",
            "must be a condition",
        ),
    ];
    for (from, to, needle, message) in cases {
        let (code, stdout) = validate_edit(from, to);
        assert_eq!(code, 2, "{from} → {to}:\n{stdout}");
        let line = if from.starts_with("role: flow_reference") {
            line_of(needle) - 1
        } else {
            line_of(needle)
        };
        assert!(
            stdout.contains(&format!("broken.yaml:{line}:")),
            "{from} → {to}: expected line {line}:\n{stdout}"
        );
        assert!(
            stdout.contains(message),
            "{from} → {to}: expected `{message}`:\n{stdout}"
        );
        assert!(
            stdout.contains('^'),
            "a caret points at the mistake:\n{stdout}"
        );
    }
}

#[test]
fn an_unknown_key_gets_a_suggestion() {
    let (code, stdout) = validate_edit("change_note:", "chnage_note:");
    assert_eq!(code, 2);
    assert!(
        stdout.contains(&format!("broken.yaml:{}:", line_of("change_note:"))),
        "{stdout}"
    );
    assert!(stdout.contains("did you mean `change_note`"), "{stdout}");
}

#[test]
fn several_mistakes_are_reported_at_once() {
    let dir = Dir::new();
    let text = dir.read("procedures/ventilator-volume-accuracy.yaml");
    let broken = text
        .replacen(
            "values: { compliance: compliance",
            "values: { compliance: complianse",
            1,
        )
        .replacen("quantity: inspired_volume", "quantity: inspired_volum", 1);
    dir.write("broken.yaml", &broken);
    let out = dir.qbench(&["validate", "broken.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("complianse") && out.stdout.contains("inspired_volum"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("2 errors"), "{}", out.stdout);
}
