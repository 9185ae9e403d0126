//! SCPI answers from arbitrary bytes: numbers with unit suffixes, identities, error-queue
//! entries and headers; a number formatted as instruments answer reads back as itself.
#![no_main]
use qbench::protocol::scpi;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = scpi::parse_number(bytes);
    let _ = scpi::answer_text(bytes);
    let _ = scpi::parse_identity(bytes);
    let _ = scpi::parse_error_entry(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = scpi::encode(text);
        let _ = scpi::is_query(text);
        let (header, rest) = scpi::split_header(text);
        let _ = scpi::header_matches(header, rest);
        let _ = scpi::header_matches(rest, header);
        let _ = scpi::unit_of_suffix(text);
    }
    if let Ok(raw) = <[u8; 8]>::try_from(bytes) {
        let value = f64::from_le_bytes(raw);
        let nr3 = scpi::format_nr3(value);
        if let Ok(reading) = scpi::parse_number(nr3.as_bytes()) {
            let tolerance = value.abs() * 1e-5;
            assert!(
                (reading.value - value).abs() <= tolerance,
                "{value} as {nr3}"
            );
        }
    }
});
