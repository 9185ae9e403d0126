//! Modbus application frames (PDUs), their RTU and TCP framings, and register conversions.
//!
//! qbench writes this codec itself rather than using tokio-modbus: links are blocking with a
//! deadline on every read (no async runtime in the core), the simulated room sensor must
//! decode requests with the very code the driver encodes them with, and the subset a bench
//! needs is small: function codes 1 (read coils), 2 (read discrete inputs), 3 (read holding
//! registers), 4 (read input registers), 5 (write single coil), 6 (write single register)
//! and 16 (write multiple registers), plus exception answers.
//!
//! - **RTU** (serial): `unit, PDU, CRC-16/MODBUS` (CRC low byte first). A response's length
//!   follows from its first three bytes ([`rtu_response_len`]), so a reader needs no timing.
//! - **TCP**: the MBAP header `transaction, protocol 0, length, unit` before the PDU.
//!
//! Registers are 16-bit big-endian words. 32-bit values span two registers, in the order a
//! device documents ([`WordOrder`]). Every parser takes arbitrary bytes and returns an error
//! rather than panicking.

use std::fmt;

/// A Modbus exception code, as a device answers a request it refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionCode {
    /// 1: the function code is not supported.
    IllegalFunction,
    /// 2: the address (or address + count) is not valid.
    IllegalDataAddress,
    /// 3: a value in the request is not valid.
    IllegalDataValue,
    /// 4: an unrecoverable error in the device.
    ServerDeviceFailure,
    /// 5: accepted, will take long.
    Acknowledge,
    /// 6: busy with a long command.
    ServerDeviceBusy,
    /// 8: memory parity error.
    MemoryParityError,
    /// 10: a gateway has no path to the target.
    GatewayPathUnavailable,
    /// 11: a gateway's target did not answer.
    GatewayTargetFailedToRespond,
    /// Any other code.
    Other(u8),
}

impl ExceptionCode {
    /// The code from its byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::IllegalFunction,
            2 => Self::IllegalDataAddress,
            3 => Self::IllegalDataValue,
            4 => Self::ServerDeviceFailure,
            5 => Self::Acknowledge,
            6 => Self::ServerDeviceBusy,
            8 => Self::MemoryParityError,
            10 => Self::GatewayPathUnavailable,
            11 => Self::GatewayTargetFailedToRespond,
            other => Self::Other(other),
        }
    }

    /// Its byte.
    pub fn byte(self) -> u8 {
        match self {
            Self::IllegalFunction => 1,
            Self::IllegalDataAddress => 2,
            Self::IllegalDataValue => 3,
            Self::ServerDeviceFailure => 4,
            Self::Acknowledge => 5,
            Self::ServerDeviceBusy => 6,
            Self::MemoryParityError => 8,
            Self::GatewayPathUnavailable => 10,
            Self::GatewayTargetFailedToRespond => 11,
            Self::Other(b) => b,
        }
    }

    /// The name the Modbus specification gives it.
    pub fn name(self) -> &'static str {
        match self {
            Self::IllegalFunction => "illegal function",
            Self::IllegalDataAddress => "illegal data address",
            Self::IllegalDataValue => "illegal data value",
            Self::ServerDeviceFailure => "server device failure",
            Self::Acknowledge => "acknowledge",
            Self::ServerDeviceBusy => "server device busy",
            Self::MemoryParityError => "memory parity error",
            Self::GatewayPathUnavailable => "gateway path unavailable",
            Self::GatewayTargetFailedToRespond => "gateway target device failed to respond",
            Self::Other(_) => "unknown exception",
        }
    }
}

impl fmt::Display for ExceptionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exception {} ({})", self.byte(), self.name())
    }
}

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModbusError {
    /// Fewer bytes than the frame needs.
    #[error("frame too short ({len} bytes)")]
    Short {
        /// Bytes received.
        len: usize,
    },
    /// The CRC does not match the frame's bytes.
    #[error("crc mismatch: computed {computed:#06x}, frame carries {carried:#06x}")]
    Crc {
        /// CRC of the bytes received.
        computed: u16,
        /// CRC the frame carries.
        carried: u16,
    },
    /// The answer is for another function than the request's.
    #[error("answer to function {received}, expected {expected}")]
    UnexpectedFunction {
        /// The request's function.
        expected: u8,
        /// The answer's function.
        received: u8,
    },
    /// The answer comes from another unit, or for another transaction.
    #[error("answer from unit {received}, expected {expected}")]
    UnexpectedUnit {
        /// The unit asked.
        expected: u8,
        /// The unit in the answer.
        received: u8,
    },
    /// The TCP answer carries another transaction identifier or protocol.
    #[error("mbap header mismatch: {0}")]
    Mbap(String),
    /// The frame's content does not fit its function (byte count, echo, coil value).
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The function code is not one qbench speaks.
    #[error("unsupported function code {0}")]
    UnsupportedFunction(u8),
    /// A value does not fit the register type.
    #[error("{value} does not fit a {data_type} register value")]
    OutOfRange {
        /// The value.
        value: f64,
        /// The type.
        data_type: DataType,
    },
}

/// A request PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// 1: read `count` coils from `address`.
    ReadCoils {
        /// First address.
        address: u16,
        /// How many (1..=2000).
        count: u16,
    },
    /// 2: read `count` discrete inputs.
    ReadDiscreteInputs {
        /// First address.
        address: u16,
        /// How many (1..=2000).
        count: u16,
    },
    /// 3: read `count` holding registers.
    ReadHoldingRegisters {
        /// First address.
        address: u16,
        /// How many (1..=125).
        count: u16,
    },
    /// 4: read `count` input registers.
    ReadInputRegisters {
        /// First address.
        address: u16,
        /// How many (1..=125).
        count: u16,
    },
    /// 5: write one coil.
    WriteSingleCoil {
        /// Address.
        address: u16,
        /// On or off.
        value: bool,
    },
    /// 6: write one holding register.
    WriteSingleRegister {
        /// Address.
        address: u16,
        /// Value.
        value: u16,
    },
    /// 16: write consecutive holding registers.
    WriteMultipleRegisters {
        /// First address.
        address: u16,
        /// Values (1..=123).
        values: Vec<u16>,
    },
}

impl Request {
    /// The function code.
    pub fn function(&self) -> u8 {
        match self {
            Request::ReadCoils { .. } => 1,
            Request::ReadDiscreteInputs { .. } => 2,
            Request::ReadHoldingRegisters { .. } => 3,
            Request::ReadInputRegisters { .. } => 4,
            Request::WriteSingleCoil { .. } => 5,
            Request::WriteSingleRegister { .. } => 6,
            Request::WriteMultipleRegisters { .. } => 16,
        }
    }

    /// The PDU bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut pdu = vec![self.function()];
        let word = |pdu: &mut Vec<u8>, w: u16| pdu.extend_from_slice(&w.to_be_bytes());
        match self {
            Request::ReadCoils { address, count }
            | Request::ReadDiscreteInputs { address, count }
            | Request::ReadHoldingRegisters { address, count }
            | Request::ReadInputRegisters { address, count } => {
                word(&mut pdu, *address);
                word(&mut pdu, *count);
            }
            Request::WriteSingleCoil { address, value } => {
                word(&mut pdu, *address);
                word(&mut pdu, if *value { 0xFF00 } else { 0x0000 });
            }
            Request::WriteSingleRegister { address, value } => {
                word(&mut pdu, *address);
                word(&mut pdu, *value);
            }
            Request::WriteMultipleRegisters { address, values } => {
                word(&mut pdu, *address);
                word(&mut pdu, values.len() as u16);
                pdu.push((values.len() * 2) as u8);
                for v in values {
                    word(&mut pdu, *v);
                }
            }
        }
        pdu
    }

    /// Decodes a request PDU (the simulated devices' side).
    pub fn parse(pdu: &[u8]) -> Result<Request, ModbusError> {
        let short = || ModbusError::Short { len: pdu.len() };
        let function = *pdu.first().ok_or_else(short)?;
        let word = |i: usize| -> Result<u16, ModbusError> {
            match (pdu.get(i), pdu.get(i + 1)) {
                (Some(&a), Some(&b)) => Ok(u16::from_be_bytes([a, b])),
                _ => Err(short()),
            }
        };
        let exact = |len: usize| {
            if pdu.len() == len {
                Ok(())
            } else {
                Err(ModbusError::Malformed(format!(
                    "function {function} takes {len} bytes, got {}",
                    pdu.len()
                )))
            }
        };
        if !matches!(function, 1..=6 | 16) {
            return Err(ModbusError::UnsupportedFunction(function));
        }
        let (address, second) = (word(1)?, word(3)?);
        let request = match function {
            1..=4 => {
                exact(5)?;
                let max = if function <= 2 { 2000 } else { 125 };
                if second == 0 || second > max {
                    return Err(ModbusError::Malformed(format!(
                        "count {second} outside 1..={max}"
                    )));
                }
                match function {
                    1 => Request::ReadCoils {
                        address,
                        count: second,
                    },
                    2 => Request::ReadDiscreteInputs {
                        address,
                        count: second,
                    },
                    3 => Request::ReadHoldingRegisters {
                        address,
                        count: second,
                    },
                    _ => Request::ReadInputRegisters {
                        address,
                        count: second,
                    },
                }
            }
            5 => {
                exact(5)?;
                let value = match second {
                    0xFF00 => true,
                    0x0000 => false,
                    other => {
                        return Err(ModbusError::Malformed(format!(
                            "coil value {other:#06x} (expected 0xff00 or 0x0000)"
                        )));
                    }
                };
                Request::WriteSingleCoil { address, value }
            }
            6 => {
                exact(5)?;
                Request::WriteSingleRegister {
                    address,
                    value: second,
                }
            }
            16 => {
                let bytes = *pdu.get(5).ok_or_else(short)? as usize;
                if second == 0 || second > 123 || bytes != second as usize * 2 {
                    return Err(ModbusError::Malformed(format!(
                        "{second} registers in {bytes} bytes"
                    )));
                }
                exact(6 + bytes)?;
                let values = (0..second as usize)
                    .map(|i| word(6 + 2 * i))
                    .collect::<Result<_, _>>()?;
                Request::WriteMultipleRegisters { address, values }
            }
            other => return Err(ModbusError::UnsupportedFunction(other)),
        };
        Ok(request)
    }
}

/// A response PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Coils or discrete inputs (exactly as many as asked).
    Bits(Vec<bool>),
    /// Registers.
    Registers(Vec<u16>),
    /// Echo of a write of one coil or register, or address and count of a multiple write.
    Written {
        /// Address.
        address: u16,
        /// The value (single writes) or the count (multiple writes).
        value: u16,
    },
    /// The device refused.
    Exception(ExceptionCode),
}

impl Response {
    /// The PDU bytes answering `request`.
    pub fn encode(&self, request: &Request) -> Vec<u8> {
        let function = request.function();
        match self {
            Response::Exception(code) => vec![function | 0x80, code.byte()],
            Response::Bits(bits) => {
                let mut bytes = vec![0u8; bits.len().div_ceil(8)];
                for (i, b) in bits.iter().enumerate() {
                    if *b {
                        bytes[i / 8] |= 1 << (i % 8);
                    }
                }
                let mut pdu = vec![function, bytes.len() as u8];
                pdu.extend_from_slice(&bytes);
                pdu
            }
            Response::Registers(regs) => {
                let mut pdu = vec![function, (regs.len() * 2) as u8];
                for r in regs {
                    pdu.extend_from_slice(&r.to_be_bytes());
                }
                pdu
            }
            Response::Written { address, value } => {
                let mut pdu = vec![function];
                pdu.extend_from_slice(&address.to_be_bytes());
                pdu.extend_from_slice(&value.to_be_bytes());
                pdu
            }
        }
    }

    /// Decodes the response PDU to `request`, checking it answers that request.
    pub fn parse(request: &Request, pdu: &[u8]) -> Result<Response, ModbusError> {
        let function = request.function();
        let received = *pdu.first().ok_or(ModbusError::Short { len: 0 })?;
        if received == function | 0x80 {
            let code = *pdu.get(1).ok_or(ModbusError::Short { len: pdu.len() })?;
            return Ok(Response::Exception(ExceptionCode::from_byte(code)));
        }
        if received != function {
            return Err(ModbusError::UnexpectedFunction {
                expected: function,
                received,
            });
        }
        let malformed = |what: String| ModbusError::Malformed(what);
        match request {
            Request::ReadCoils { count, .. } | Request::ReadDiscreteInputs { count, .. } => {
                let n = *count as usize;
                let bytes = pdu.get(2..).unwrap_or_default();
                if pdu.get(1).map(|&b| b as usize) != Some(n.div_ceil(8))
                    || bytes.len() != n.div_ceil(8)
                {
                    return Err(malformed(format!(
                        "{} data bytes for {n} bits",
                        bytes.len()
                    )));
                }
                Ok(Response::Bits(
                    (0..n).map(|i| bytes[i / 8] & (1 << (i % 8)) != 0).collect(),
                ))
            }
            Request::ReadHoldingRegisters { count, .. }
            | Request::ReadInputRegisters { count, .. } => {
                let n = *count as usize;
                let bytes = pdu.get(2..).unwrap_or_default();
                if pdu.get(1).map(|&b| b as usize) != Some(2 * n) || bytes.len() != 2 * n {
                    return Err(malformed(format!(
                        "{} data bytes for {n} registers",
                        bytes.len()
                    )));
                }
                Ok(Response::Registers(
                    bytes
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect(),
                ))
            }
            Request::WriteSingleCoil { .. }
            | Request::WriteSingleRegister { .. }
            | Request::WriteMultipleRegisters { .. } => {
                if pdu.len() != 5 {
                    return Err(ModbusError::Short { len: pdu.len() });
                }
                let address = u16::from_be_bytes([pdu[1], pdu[2]]);
                let value = u16::from_be_bytes([pdu[3], pdu[4]]);
                let echo_ok = match request {
                    Request::WriteMultipleRegisters { address: a, values } => {
                        address == *a && value as usize == values.len()
                    }
                    // A single write is answered with an exact echo of the request.
                    _ => pdu == request.encode().as_slice(),
                };
                if !echo_ok {
                    return Err(malformed("the echo differs from the request".into()));
                }
                Ok(Response::Written { address, value })
            }
        }
    }
}

/// CRC-16/MODBUS of `bytes` (polynomial 0xA001 reflected, initial value 0xFFFF).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// An RTU frame: unit, PDU, CRC (low byte first).
pub fn rtu_frame(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(pdu.len() + 3);
    frame.push(unit);
    frame.extend_from_slice(pdu);
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// Checks an RTU frame's CRC and splits it into unit and PDU.
pub fn parse_rtu(frame: &[u8]) -> Result<(u8, &[u8]), ModbusError> {
    if frame.len() < 4 {
        return Err(ModbusError::Short { len: frame.len() });
    }
    let (body, crc) = frame.split_at(frame.len() - 2);
    let carried = u16::from_le_bytes([crc[0], crc[1]]);
    let computed = crc16(body);
    if carried != computed {
        return Err(ModbusError::Crc { computed, carried });
    }
    Ok((body[0], &body[1..]))
}

/// The total length of an RTU response whose first three bytes are `head` (unit, function,
/// and the byte count or the first address byte).
pub fn rtu_response_len(head: &[u8; 3]) -> Result<usize, ModbusError> {
    let function = head[1];
    if function & 0x80 != 0 {
        return Ok(5);
    }
    match function {
        1..=4 => Ok(3 + head[2] as usize + 2),
        5 | 6 | 16 => Ok(8),
        other => Err(ModbusError::UnsupportedFunction(other)),
    }
}

/// The length of the first RTU request in `pending` if it is complete (the simulated
/// devices' side); `Some(pending.len())` for an unknown function, so the whole chunk is
/// judged (and refused) as one frame.
pub fn rtu_request_len(pending: &[u8]) -> Option<usize> {
    let function = *pending.get(1)?;
    let len = match function {
        1..=6 => 8,
        16 => 9 + *pending.get(6)? as usize,
        _ => pending.len(),
    };
    (pending.len() >= len).then_some(len)
}

/// Length of the MBAP header.
pub const MBAP_LEN: usize = 7;

/// A Modbus TCP frame: MBAP header (transaction, protocol 0, length, unit) and the PDU.
pub fn tcp_frame(transaction: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(MBAP_LEN + pdu.len());
    frame.extend_from_slice(&transaction.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
    frame.push(unit);
    frame.extend_from_slice(pdu);
    frame
}

/// A decoded MBAP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mbap {
    /// Transaction identifier.
    pub transaction: u16,
    /// Bytes that follow the header (the PDU).
    pub pdu_len: usize,
    /// Unit identifier.
    pub unit: u8,
}

/// Decodes an MBAP header; the protocol must be 0 and the PDU 1 to 253 bytes.
pub fn parse_mbap(header: &[u8]) -> Result<Mbap, ModbusError> {
    let [t0, t1, p0, p1, l0, l1, unit] =
        <[u8; MBAP_LEN]>::try_from(header).map_err(|_| ModbusError::Short { len: header.len() })?;
    if [p0, p1] != [0, 0] {
        return Err(ModbusError::Mbap(format!(
            "protocol {} (expected 0)",
            u16::from_be_bytes([p0, p1])
        )));
    }
    let length = u16::from_be_bytes([l0, l1]) as usize;
    if !(2..=254).contains(&length) {
        return Err(ModbusError::Mbap(format!(
            "length {length} outside 2..=254"
        )));
    }
    Ok(Mbap {
        transaction: u16::from_be_bytes([t0, t1]),
        pdu_len: length - 1,
        unit,
    })
}

/// How a value is laid out in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// One register, unsigned.
    U16,
    /// One register, two's complement.
    I16,
    /// Two registers, unsigned.
    U32,
    /// Two registers, two's complement.
    I32,
    /// Two registers, IEEE-754 single precision.
    F32,
}

impl DataType {
    /// Registers the type spans.
    pub fn registers(self) -> u16 {
        match self {
            DataType::U16 | DataType::I16 => 1,
            _ => 2,
        }
    }

    /// The type named `u16`, `i16`, `u32`, `i32`, `f32` (or `float`).
    pub fn from_name(name: &str) -> Option<DataType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "u16" | "uint16" => DataType::U16,
            "i16" | "int16" => DataType::I16,
            "u32" | "uint32" => DataType::U32,
            "i32" | "int32" => DataType::I32,
            "f32" | "float" | "float32" => DataType::F32,
            _ => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::F32 => "f32",
        })
    }
}

/// Which register of a 32-bit value comes first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WordOrder {
    /// High word first (`ABCD`), as the Modbus specification's big-endian spirit suggests.
    #[default]
    HighFirst,
    /// Low word first (`CDAB`), as many devices do.
    LowFirst,
}

impl WordOrder {
    /// `high_first`/`abcd` or `low_first`/`cdab`.
    pub fn from_name(name: &str) -> Option<WordOrder> {
        match name.to_ascii_lowercase().as_str() {
            "high_first" | "abcd" | "big" => Some(WordOrder::HighFirst),
            "low_first" | "cdab" | "little" => Some(WordOrder::LowFirst),
            _ => None,
        }
    }
}

/// The value `registers` hold as `data_type` (they must be exactly as many as it spans).
pub fn decode_value(
    data_type: DataType,
    order: WordOrder,
    registers: &[u16],
) -> Result<f64, ModbusError> {
    if registers.len() != data_type.registers() as usize {
        return Err(ModbusError::Malformed(format!(
            "{} registers for a {data_type}",
            registers.len()
        )));
    }
    let word32 = || match order {
        WordOrder::HighFirst => (u32::from(registers[0]) << 16) | u32::from(registers[1]),
        WordOrder::LowFirst => (u32::from(registers[1]) << 16) | u32::from(registers[0]),
    };
    Ok(match data_type {
        DataType::U16 => f64::from(registers[0]),
        DataType::I16 => f64::from(registers[0] as i16),
        DataType::U32 => f64::from(word32()),
        DataType::I32 => f64::from(word32() as i32),
        DataType::F32 => f64::from(f32::from_bits(word32())),
    })
}

/// The registers holding `value` as `data_type`; integers are rounded, and a value out of
/// the type's range is an error rather than a wrapped number.
pub fn encode_value(
    data_type: DataType,
    order: WordOrder,
    value: f64,
) -> Result<Vec<u16>, ModbusError> {
    let out_of_range = || ModbusError::OutOfRange { value, data_type };
    if !value.is_finite() {
        return Err(out_of_range());
    }
    let r = value.round();
    let bits: u32 = match data_type {
        DataType::U16 if (0.0..=65535.0).contains(&r) => return Ok(vec![r as u16]),
        DataType::I16 if (-32768.0..=32767.0).contains(&r) => return Ok(vec![r as i16 as u16]),
        DataType::U32 if (0.0..=4_294_967_295.0).contains(&r) => r as u32,
        DataType::I32 if (-2_147_483_648.0..=2_147_483_647.0).contains(&r) => r as i32 as u32,
        DataType::F32 if value.abs() <= f64::from(f32::MAX) => (value as f32).to_bits(),
        _ => return Err(out_of_range()),
    };
    let (high, low) = ((bits >> 16) as u16, bits as u16);
    Ok(match order {
        WordOrder::HighFirst => vec![high, low],
        WordOrder::LowFirst => vec![low, high],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_matches_the_specification_example() {
        // Read 2 holding registers from 0x006B on unit 0x11... the classic example frame.
        let frame = rtu_frame(0x11, &[0x03, 0x00, 0x6B, 0x00, 0x03]);
        assert_eq!(frame, vec![0x11, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x76, 0x87]);
        assert!(parse_rtu(&frame).is_ok());
        let mut bad = frame.clone();
        bad[3] ^= 0x10;
        assert!(matches!(parse_rtu(&bad), Err(ModbusError::Crc { .. })));
    }

    #[test]
    fn exceptions_are_named() {
        let req = Request::ReadInputRegisters {
            address: 9,
            count: 1,
        };
        let pdu = Response::Exception(ExceptionCode::IllegalDataAddress).encode(&req);
        assert_eq!(pdu, vec![0x84, 0x02]);
        let r = Response::parse(&req, &pdu).unwrap();
        assert_eq!(r, Response::Exception(ExceptionCode::IllegalDataAddress));
        assert_eq!(
            ExceptionCode::IllegalDataAddress.to_string(),
            "exception 2 (illegal data address)"
        );
        let frame = rtu_frame(1, &pdu);
        assert_eq!(
            rtu_response_len(&[frame[0], frame[1], frame[2]]).unwrap(),
            5
        );
    }

    #[test]
    fn word_orders_and_types() {
        let regs = encode_value(DataType::F32, WordOrder::HighFirst, 1.5).unwrap();
        assert_eq!(regs, vec![0x3FC0, 0x0000]);
        let regs = encode_value(DataType::F32, WordOrder::LowFirst, 1.5).unwrap();
        assert_eq!(regs, vec![0x0000, 0x3FC0]);
        assert_eq!(
            decode_value(DataType::I16, WordOrder::HighFirst, &[0xFFFF]).unwrap(),
            -1.0
        );
        assert_eq!(
            decode_value(DataType::U32, WordOrder::LowFirst, &[0x0001, 0x0002]).unwrap(),
            f64::from(0x0002_0001u32)
        );
        assert!(encode_value(DataType::U16, WordOrder::HighFirst, 70000.0).is_err());
        assert!(encode_value(DataType::I16, WordOrder::HighFirst, f64::NAN).is_err());
        assert!(decode_value(DataType::F32, WordOrder::HighFirst, &[1]).is_err());
    }

    #[test]
    fn tcp_frames_carry_their_length() {
        let frame = tcp_frame(7, 1, &[0x04, 0x00, 0x00, 0x00, 0x02]);
        let mbap = parse_mbap(&frame[..MBAP_LEN]).unwrap();
        assert_eq!(
            mbap,
            Mbap {
                transaction: 7,
                pdu_len: 5,
                unit: 1
            }
        );
        let mut bad = frame.clone();
        bad[2] = 1;
        assert!(parse_mbap(&bad[..MBAP_LEN]).is_err());
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            (any::<u16>(), 1u16..=2000)
                .prop_map(|(address, count)| Request::ReadCoils { address, count }),
            (any::<u16>(), 1u16..=2000)
                .prop_map(|(address, count)| Request::ReadDiscreteInputs { address, count }),
            (any::<u16>(), 1u16..=125)
                .prop_map(|(address, count)| Request::ReadHoldingRegisters { address, count }),
            (any::<u16>(), 1u16..=125)
                .prop_map(|(address, count)| Request::ReadInputRegisters { address, count }),
            (any::<u16>(), any::<bool>())
                .prop_map(|(address, value)| Request::WriteSingleCoil { address, value }),
            (any::<u16>(), any::<u16>())
                .prop_map(|(address, value)| Request::WriteSingleRegister { address, value }),
            (any::<u16>(), prop::collection::vec(any::<u16>(), 1..=123))
                .prop_map(|(address, values)| Request::WriteMultipleRegisters { address, values }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip_through_rtu(req in request(), unit in 1u8..=247) {
            let frame = rtu_frame(unit, &req.encode());
            prop_assert_eq!(rtu_request_len(&frame), Some(frame.len()));
            let (u, pdu) = parse_rtu(&frame).unwrap();
            prop_assert_eq!(u, unit);
            prop_assert_eq!(Request::parse(pdu).unwrap(), req);
        }

        #[test]
        fn register_answers_round_trip(regs in prop::collection::vec(any::<u16>(), 1..=125), unit in 1u8..=247) {
            let req = Request::ReadHoldingRegisters { address: 0, count: regs.len() as u16 };
            let resp = Response::Registers(regs);
            let frame = rtu_frame(unit, &resp.encode(&req));
            let head = [frame[0], frame[1], frame[2]];
            prop_assert_eq!(rtu_response_len(&head).unwrap(), frame.len());
            let (_, pdu) = parse_rtu(&frame).unwrap();
            prop_assert_eq!(Response::parse(&req, pdu).unwrap(), resp);
        }

        #[test]
        fn bit_answers_round_trip(bits in prop::collection::vec(any::<bool>(), 1..=200)) {
            let req = Request::ReadCoils { address: 3, count: bits.len() as u16 };
            let resp = Response::Bits(bits);
            prop_assert_eq!(Response::parse(&req, &resp.encode(&req)).unwrap(), resp);
        }

        #[test]
        fn any_single_bit_flip_is_caught_by_the_crc(req in request(), bit in any::<prop::sample::Index>()) {
            let mut frame = rtu_frame(1, &req.encode());
            let i = bit.index(frame.len() * 8);
            frame[i / 8] ^= 1 << (i % 8);
            prop_assert!(parse_rtu(&frame).is_err());
        }

        #[test]
        fn integers_round_trip(v in any::<i32>(), low_first in any::<bool>()) {
            let order = if low_first { WordOrder::LowFirst } else { WordOrder::HighFirst };
            let regs = encode_value(DataType::I32, order, f64::from(v)).unwrap();
            prop_assert_eq!(decode_value(DataType::I32, order, &regs).unwrap(), f64::from(v));
            let u = v as u32;
            let regs = encode_value(DataType::U32, order, f64::from(u)).unwrap();
            prop_assert_eq!(decode_value(DataType::U32, order, &regs).unwrap(), f64::from(u));
            let s = v as i16;
            let regs = encode_value(DataType::I16, order, f64::from(s)).unwrap();
            prop_assert_eq!(decode_value(DataType::I16, order, &regs).unwrap(), f64::from(s));
        }

        #[test]
        fn floats_round_trip_at_single_precision(v in any::<f32>().prop_filter("finite", |v| v.is_finite()), low_first in any::<bool>()) {
            let order = if low_first { WordOrder::LowFirst } else { WordOrder::HighFirst };
            let regs = encode_value(DataType::F32, order, f64::from(v)).unwrap();
            prop_assert_eq!(decode_value(DataType::F32, order, &regs).unwrap(), f64::from(v));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), req in request()) {
            let _ = parse_rtu(&bytes);
            let _ = Request::parse(&bytes);
            let _ = Response::parse(&req, &bytes);
            let _ = parse_mbap(&bytes);
            let _ = rtu_request_len(&bytes);
            if bytes.len() >= 3 {
                let _ = rtu_response_len(&[bytes[0], bytes[1], bytes[2]]);
            }
        }
    }
}
