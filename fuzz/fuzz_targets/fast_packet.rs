//! IMT fast-data packets: every packet of the right length decodes or is refused.
#![no_main]
use qbench::protocol::imt;

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    for packet in bytes.chunks_exact(imt::FAST_PACKET_LEN) {
        if let Ok(packet) = <&[u8; imt::FAST_PACKET_LEN]>::try_from(packet) {
            let _ = imt::decode_fast_packet(packet);
        }
    }
});
