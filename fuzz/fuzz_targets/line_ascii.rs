//! The service-port line protocol: requests and replies from arbitrary bytes.
#![no_main]
use qbench::protocol::line_ascii::{Request, parse_reply};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = parse_reply(bytes, false);
    let _ = parse_reply(bytes, true);
    let _ = Request::parse(bytes);
});
