//! Journals from arbitrary text: reading and chain checking never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let dir = std::env::temp_dir().join(format!("qbench-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("journal.jsonl");
    if std::fs::write(&path, text).is_ok() {
        let _ = qbench::journal::read_journal(&path);
    }
});
