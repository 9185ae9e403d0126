//! CANopen SDO frames from arbitrary bytes: requests and responses, and the segments a
//! segmented transfer splits data into. What decodes encodes back to the same frame.
#![no_main]
use qbench::can::canopen::sdo::{self, SdoRequest, SdoResponse};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok(request) = SdoRequest::decode(bytes) {
        let again = SdoRequest::decode(&request.encode());
        assert_eq!(again.ok(), Some(request));
    }
    if let Ok(response) = SdoResponse::decode(bytes) {
        let again = SdoResponse::decode(&response.encode());
        assert_eq!(again.ok(), Some(response));
    }
    let joined: Vec<u8> = sdo::segments(bytes)
        .flat_map(|(_, chunk, _)| chunk.iter().copied())
        .collect();
    assert_eq!(joined, bytes, "segments put back together are the data");
    assert_eq!(sdo::segments(bytes).filter(|(_, _, last)| *last).count(), 1);
});
