//! Device-profile answer patterns and command templates from arbitrary text, patterns matched
//! against arbitrary answers, and framed lines unframed.
#![no_main]
use qbench::protocol::profile::{self, Checksum, Pattern, Template};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    for checksum in [Checksum::None, Checksum::XorHex] {
        let _ = profile::unframe(bytes, checksum);
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    // The first line is a pattern or template, the rest an answer to match.
    let (spec, answer) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(pattern) = Pattern::parse(spec) {
        let _ = pattern.fields().count();
        let _ = pattern.matches(answer);
    }
    if let Ok(template) = Template::parse(spec) {
        let rendered = template.render(12.5);
        let _ = template.takes_value();
        let _ = rendered.len();
    }
    let _ = profile::parse_profile(std::path::Path::new("fuzz.yaml"), text);
});
