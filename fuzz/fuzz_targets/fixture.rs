//! The fixture validator on arbitrary text: it must never panic or hang.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = qbench::fixture::parse_fixture(std::path::Path::new("fuzz.yaml"), text);
});
