//! IMT analyzer answers and fast-data packets from arbitrary bytes; any frame that parses
//! encodes back to bytes that parse to the same frame.
#![no_main]
use qbench::protocol::imt::{self, Frame, Operation};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let request = Frame::new(Operation::ReadMeasurement, 23);
    let _ = imt::parse_answer(bytes, &request);
    if let Ok(frame) = Frame::parse(bytes) {
        assert_eq!(Frame::parse(&frame.encode()), Ok(frame));
    }
    if let Ok(packet) = <&[u8; imt::FAST_PACKET_LEN]>::try_from(bytes) {
        let _ = imt::decode_fast_packet(packet);
    }
});
