//! Quantity literals and unit expressions from arbitrary text (`12.5 mL/hPa`, `2 %`).
#![no_main]
use qbench::units::{parse_quantity, parse_unit};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = parse_unit(text);
    if let Ok(q) = parse_quantity(text) {
        let _ = q.si_value();
        let _ = q.to_unit(&q.unit);
    }
});
