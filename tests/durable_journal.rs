//! The durable journal under `kill -9`: every entry that records the world and was
//! acknowledged (shown on the console, which happens only after the journal's `append`
//! returned) is in the journal, with every entry acknowledged before it; the journal verifies.
//!
//! Derived entries (set points entered, checks) are held in memory until the next entry that
//! records the world (see `JournalWriter`), so a kill may lose the last few of them: only
//! those acknowledged after the last world entry, never one before it.

use crate::util::Dir;
use qbench::journal::{RunEvent, read_journal};
use std::time::Duration;

/// A sweep whose every set point journals: the set point (derived), an operator's answer
/// (world: `--yes` confirms it), and a check (derived). No instrument is touched, so the set
/// points follow each other as fast as the journal allows.
const PROCEDURE: &str = "id: durable\ntitle: Journal under kill -9\nversion: 1.0.0\nstandard: none\nclause: n/a\nroles:\n  flow_reference: { kind: flow_analyzer }\nsteps:\n  - sweep:\n      name: points\n      over: k\n      range: { from: 1, to: 10000, step: 1 }\n      steps:\n        - prompt: { confirm: Point reached }\n        - check: { id: k_in_range, title: k in range, value: k * 1 L/min, min: 0 L/min, max: 1000000 L/min }\n";

/// What the console shows for an entry, reduced to its kind; `None` for other lines.
fn console_kind(line: &str) -> Option<&'static str> {
    let line = line.trim_start();
    if line.starts_with("set point ") {
        Some("set_point")
    } else if line.starts_with("prompt: Point reached") {
        Some("prompt")
    } else if line.starts_with("check k_in_range") {
        Some("check")
    } else {
        None
    }
}

/// The same kinds, from the journal.
fn journal_kind(event: &RunEvent) -> Option<&'static str> {
    match event {
        RunEvent::SetPoint { .. } => Some("set_point"),
        RunEvent::Prompt(p) if p.message == "Point reached" => Some("prompt"),
        RunEvent::Check(c) if c.id == "k_in_range" => Some("check"),
        _ => None,
    }
}

/// Runs the sweep, kills it once the journal holds `lines` entries, and checks what the
/// console acknowledged against the journal.
fn kill_after(lines: usize) {
    let dir = Dir::new();
    dir.write("durable.yaml", PROCEDURE);
    let run = dir.spawn(&["run", "durable.yaml", "--yes", "--out", "run"]);
    assert!(
        dir.wait_for_lines("run/journal.jsonl", lines, Duration::from_secs(30)),
        "the run started"
    );
    run.signal("KILL");
    let killed = run.finish(Duration::from_secs(10));
    assert_ne!(killed.code, 0, "killed: {}", killed.stderr);

    let shown: Vec<&str> = killed.stdout.lines().filter_map(console_kind).collect();
    let journal = read_journal(&dir.path().join("run/journal.jsonl"))
        .expect("the journal of a killed run verifies");
    let kept: Vec<&str> = journal
        .entries
        .iter()
        .filter_map(|e| journal_kind(&e.event))
        .collect();
    let last_world = shown.iter().rposition(|k| *k == "prompt");
    let must_keep = last_world.map_or(0, |i| i + 1);
    assert!(
        must_keep > 0,
        "lines {lines}: the console showed no answer before the kill:\n{}",
        killed.stdout
    );
    // Everything shown up to the last world entry shown is in the journal, in order.
    let held = kept
        .iter()
        .zip(&shown[..must_keep])
        .take_while(|(k, s)| k == s)
        .count();
    assert_eq!(
        held, must_keep,
        "lines {lines}: of the {must_keep} entries acknowledged up to the last answer, the journal holds the first {held}"
    );
    // And the journal holds nothing the console did not show, but the one entry in flight.
    assert!(
        kept.len() <= shown.len() + 1,
        "lines {lines}: journal {} entries, console {}",
        kept.len(),
        shown.len()
    );
}

#[test]
fn kill_9_at_random_points_loses_no_acknowledged_world_entry() {
    let mut state = 0x5eed_u64;
    for _ in 0..12 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        kill_after(20 + (state >> 33) as usize % 600);
    }
}
