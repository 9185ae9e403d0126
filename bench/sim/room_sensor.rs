//! The simulated room-condition sensor: Modbus RTU on its pty (Modbus TCP when also served
//! over TCP), reporting the ambient conditions a flow qualification records.
//!
//! | table             | address | content                                              |
//! |-------------------|---------|------------------------------------------------------|
//! | input registers   | 0–1     | temperature, °C, f32, high word first                 |
//! |                   | 2–3     | relative humidity, %, f32                             |
//! |                   | 4–5     | barometric pressure, hPa, f32                         |
//! |                   | 10      | temperature, 0.01 °C, i16                             |
//! |                   | 11      | relative humidity, 0.01 %, u16                        |
//! |                   | 12      | barometric pressure, 0.1 hPa, u16                     |
//! |                   | 20–21   | serial number, u32, low word first (as many devices)  |
//! |                   | 22      | firmware version × 100                                |
//! | holding registers | 0       | averaging, samples, 1–100 (1 at power-up)             |
//! | coils             | 0       | sensor heater (off at power-up)                       |
//! | discrete inputs   | 0       | sensor healthy (always on)                            |
//!
//! Anything else is answered with the exception the specification gives (illegal function,
//! data address or data value). Frames with a wrong CRC or for another unit are ignored, as
//! on a real RS-485 line; broadcast writes (unit 0) act without an answer.

use super::config::RoomSensorConfig;
use super::framed::FramedDevice;
use crate::protocol::modbus::{
    self, DataType, ExceptionCode, Request, Response, WordOrder, encode_value,
};

/// How requests are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Modbus RTU: unit, PDU, CRC.
    Rtu,
    /// Modbus TCP: MBAP header and PDU.
    Tcp,
}

/// The simulated room-condition sensor.
pub(crate) struct RoomSensor {
    config: RoomSensorConfig,
    framing: Framing,
    averaging: u16,
    heater: bool,
}

impl RoomSensor {
    pub(crate) fn new(config: RoomSensorConfig, framing: Framing) -> Self {
        RoomSensor {
            config,
            framing,
            averaging: 1,
            heater: false,
        }
    }

    fn input_registers(&self) -> Vec<(u16, u16)> {
        let c = &self.config;
        let mut map = Vec::new();
        let mut put = |start: u16, regs: Vec<u16>| {
            for (i, r) in regs.into_iter().enumerate() {
                map.push((start + i as u16, r));
            }
        };
        let f = |v: f64| encode_value(DataType::F32, WordOrder::HighFirst, v).unwrap_or_default();
        put(0, f(c.temperature));
        put(2, f(c.humidity));
        put(4, f(c.pressure));
        let scaled = |t, v: f64| encode_value(t, WordOrder::HighFirst, v).unwrap_or(vec![0]);
        put(10, scaled(DataType::I16, c.temperature * 100.0));
        put(11, scaled(DataType::U16, c.humidity * 100.0));
        put(12, scaled(DataType::U16, c.pressure * 10.0));
        put(
            20,
            encode_value(DataType::U32, WordOrder::LowFirst, f64::from(c.serial))
                .unwrap_or_default(),
        );
        put(22, vec![100]);
        map
    }

    fn respond(&mut self, request: &Request) -> Response {
        let read = |map: &[(u16, u16)], address: u16, count: u16| -> Response {
            let values: Option<Vec<u16>> = (0..count)
                .map(|i| {
                    let a = address.checked_add(i)?;
                    map.iter().find(|(k, _)| *k == a).map(|(_, v)| *v)
                })
                .collect();
            match values {
                Some(v) => Response::Registers(v),
                None => Response::Exception(ExceptionCode::IllegalDataAddress),
            }
        };
        match request {
            Request::ReadInputRegisters { address, count } => {
                read(&self.input_registers(), *address, *count)
            }
            Request::ReadHoldingRegisters { address, count } => {
                read(&[(0, self.averaging)], *address, *count)
            }
            Request::ReadCoils {
                address: 0,
                count: 1,
            } => Response::Bits(vec![self.heater]),
            Request::ReadDiscreteInputs {
                address: 0,
                count: 1,
            } => Response::Bits(vec![true]),
            Request::ReadCoils { .. } | Request::ReadDiscreteInputs { .. } => {
                Response::Exception(ExceptionCode::IllegalDataAddress)
            }
            Request::WriteSingleCoil { address: 0, value } => {
                self.heater = *value;
                Response::Written {
                    address: 0,
                    value: if *value { 0xFF00 } else { 0 },
                }
            }
            Request::WriteSingleCoil { .. } => {
                Response::Exception(ExceptionCode::IllegalDataAddress)
            }
            Request::WriteSingleRegister { address: 0, value } => {
                if (1..=100).contains(value) {
                    self.averaging = *value;
                    Response::Written {
                        address: 0,
                        value: *value,
                    }
                } else {
                    Response::Exception(ExceptionCode::IllegalDataValue)
                }
            }
            Request::WriteMultipleRegisters { address: 0, values } if values.len() == 1 => {
                if (1..=100).contains(&values[0]) {
                    self.averaging = values[0];
                    Response::Written {
                        address: 0,
                        value: 1,
                    }
                } else {
                    Response::Exception(ExceptionCode::IllegalDataValue)
                }
            }
            Request::WriteSingleRegister { .. } | Request::WriteMultipleRegisters { .. } => {
                Response::Exception(ExceptionCode::IllegalDataAddress)
            }
        }
    }

    /// The answer PDU to a request PDU (an exception for anything it cannot decode).
    fn answer_pdu(&mut self, pdu: &[u8]) -> Vec<u8> {
        match Request::parse(pdu) {
            Ok(request) => self.respond(&request).encode(&request),
            Err(e) => {
                let function = pdu.first().copied().unwrap_or(0) & 0x7F;
                let code = match e {
                    modbus::ModbusError::UnsupportedFunction(_) => ExceptionCode::IllegalFunction,
                    _ => ExceptionCode::IllegalDataValue,
                };
                vec![function | 0x80, code.byte()]
            }
        }
    }
}

impl FramedDevice for RoomSensor {
    fn next_request(&self, pending: &[u8]) -> Option<(usize, usize)> {
        match self.framing {
            Framing::Rtu => modbus::rtu_request_len(pending).map(|n| (n, n)),
            Framing::Tcp => {
                let header = pending.get(..modbus::MBAP_LEN)?;
                match modbus::parse_mbap(header) {
                    Ok(m) => {
                        let n = modbus::MBAP_LEN + m.pdu_len;
                        (pending.len() >= n).then_some((n, n))
                    }
                    // A broken header: drop what arrived, as a server closes such streams.
                    Err(_) => Some((pending.len(), pending.len())),
                }
            }
        }
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        match self.framing {
            Framing::Rtu => {
                let (unit, pdu) = modbus::parse_rtu(request).ok()?;
                if unit != self.config.unit_id && unit != 0 {
                    return None;
                }
                let answer = self.answer_pdu(pdu);
                (unit != 0).then(|| modbus::rtu_frame(unit, &answer))
            }
            Framing::Tcp => {
                let mbap = modbus::parse_mbap(request.get(..modbus::MBAP_LEN)?).ok()?;
                let pdu = request.get(modbus::MBAP_LEN..)?;
                let answer = self.answer_pdu(pdu);
                Some(modbus::tcp_frame(mbap.transaction, mbap.unit, &answer))
            }
        }
    }

    fn keeps_terminator(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::modbus::{decode_value, parse_rtu, rtu_frame};

    fn ask(s: &mut RoomSensor, unit: u8, req: &Request) -> Option<Response> {
        let answer = s.answer(&rtu_frame(unit, &req.encode()))?;
        let (_, pdu) = parse_rtu(&answer).ok()?;
        Response::parse(req, pdu).ok()
    }

    #[test]
    fn serves_its_register_map() {
        let mut s = RoomSensor::new(RoomSensorConfig::default(), Framing::Rtu);
        let req = Request::ReadInputRegisters {
            address: 0,
            count: 6,
        };
        let Some(Response::Registers(regs)) = ask(&mut s, 1, &req) else {
            panic!("registers expected");
        };
        let p = decode_value(DataType::F32, WordOrder::HighFirst, &regs[4..6]).unwrap();
        assert!((p - 1013.25).abs() < 1e-3);
        let req = Request::ReadInputRegisters {
            address: 10,
            count: 1,
        };
        assert_eq!(ask(&mut s, 1, &req), Some(Response::Registers(vec![2200])));
        let req = Request::ReadInputRegisters {
            address: 5,
            count: 2,
        };
        assert_eq!(
            ask(&mut s, 1, &req),
            Some(Response::Exception(ExceptionCode::IllegalDataAddress))
        );
        let req = Request::WriteSingleRegister {
            address: 0,
            value: 500,
        };
        assert_eq!(
            ask(&mut s, 1, &req),
            Some(Response::Exception(ExceptionCode::IllegalDataValue))
        );
        assert_eq!(
            ask(&mut s, 2, &req),
            None,
            "another unit's frame is ignored"
        );
        let mut bad = rtu_frame(1, &req.encode());
        bad[2] ^= 1;
        assert_eq!(s.answer(&bad), None, "a frame with a bad crc is ignored");
        let unknown = rtu_frame(1, &[0x2B, 0x0E, 0x01, 0x00]);
        let answer = s.answer(&unknown).unwrap();
        assert_eq!(parse_rtu(&answer).unwrap().1, &[0xAB, 0x01]);
    }
}
