//! The procedure validator on arbitrary text: it must never panic or hang.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = qbench::procedure::parse_procedure(std::path::Path::new("fuzz.yaml"), text);
});
