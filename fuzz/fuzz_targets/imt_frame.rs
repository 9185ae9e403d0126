//! IMT analyzer answers and fast-data packets from arbitrary bytes.
#![no_main]
use qbench::protocol::imt::{self, Frame, Operation};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let request = Frame::new(Operation::ReadMeasurement, 23);
    let _ = imt::parse_answer(bytes, &request);
    if let Ok(packet) = <&[u8; imt::FAST_PACKET_LEN]>::try_from(bytes) {
        let _ = imt::decode_fast_packet(packet);
    }
});
