//! slcan (Lawicel) lines from arbitrary bytes: frames, commands and replies. A frame that
//! parses encodes back to a line that parses to the same frame.
#![no_main]
use qbench::protocol::slcan;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = slcan::parse_command(bytes);
    let _ = slcan::parse_reply(bytes);
    if let Ok((frame, timestamp)) = slcan::parse_frame(bytes) {
        let mut line = Vec::new();
        slcan::encode_frame_into(&frame, timestamp, &mut line);
        let again = slcan::parse_frame(&line).expect("an encoded frame parses");
        assert_eq!(again, (frame, timestamp));
    }
});
