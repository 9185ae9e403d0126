//! Modbus from arbitrary bytes: RTU frames and their CRC, request and response PDUs, MBAP
//! headers, frame lengths and register values. What parses encodes back to the same bytes.
#![no_main]
use qbench::protocol::modbus::{self, DataType, Request, Response, WordOrder};

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if let Ok((unit, pdu)) = modbus::parse_rtu(bytes) {
        assert_eq!(
            modbus::rtu_frame(unit, pdu),
            bytes,
            "an RTU frame re-frames alike"
        );
    }
    let _ = modbus::rtu_request_len(bytes);
    if let Ok(head) = <&[u8; 3]>::try_from(bytes.get(..3).unwrap_or_default()) {
        let _ = modbus::rtu_response_len(head);
    }
    let _ = modbus::parse_mbap(bytes);
    if let Ok(request) = Request::parse(bytes) {
        let encoded = request.encode();
        assert_eq!(Request::parse(&encoded).ok(), Some(request.clone()));
        // Any bytes as the answer to it.
        if let Some(answer) = bytes.get(1..)
            && let Ok(response) = Response::parse(&request, answer)
        {
            let again = response.encode(&request);
            assert_eq!(Response::parse(&request, &again).ok(), Some(response));
        }
    }
    let registers: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    for data_type in ["u16", "i16", "u32", "i32", "f32"]
        .iter()
        .filter_map(|n| DataType::from_name(n))
    {
        for order in [WordOrder::HighFirst, WordOrder::LowFirst] {
            let span = usize::from(data_type.registers());
            if let Some(regs) = registers.get(..span)
                && let Ok(value) = modbus::decode_value(data_type, order, regs)
                && value.is_finite()
            {
                let back = modbus::encode_value(data_type, order, value);
                assert_eq!(back.ok().as_deref(), Some(regs), "{data_type} {value}");
            }
        }
    }
});
