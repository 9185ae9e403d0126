//! The Modbus conversation shared by the Modbus drivers, over any byte link: RTU framing on
//! serial lines (and on serial device servers), TCP framing (MBAP) on Ethernet devices.
//!
//! One request, one answer, within the link's timeout for the whole answer: an RTU answer is
//! read as its first three bytes, which give its length, then the rest. A wrong CRC, an
//! answer from another unit or for another transaction, or bytes that make no frame are
//! protocol errors naming the instrument and what was expected; the input is then discarded
//! before the next request so one bad frame does not shift every later one. An exception
//! answer is `InstrumentRefused` with the exception's name.
//!
//! Reads are retried after a timeout or a bad frame, up to the `retries` option, each retry
//! noted; writes are never repeated.

use super::common::bad_option;
use super::retry::{is_transient, pause_before};
use super::{DriverError, DriverErrorKind};
use crate::link::ByteLink;
use crate::protocol::modbus::{
    self, DataType, ModbusError, Request, Response, WordOrder, decode_value, encode_value,
};
use std::time::{Duration, Instant};

/// How frames are wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Unit, PDU, CRC-16 (serial lines).
    Rtu,
    /// MBAP header, PDU (Ethernet).
    Tcp,
}

impl Framing {
    /// The `framing` option: `rtu` (default) or `tcp`.
    pub(crate) fn from_option(driver: &str, text: Option<&str>) -> Result<Framing, DriverError> {
        match text.map(str::to_ascii_lowercase).as_deref() {
            None | Some("rtu") => Ok(Framing::Rtu),
            Some("tcp") => Ok(Framing::Tcp),
            Some(other) => Err(bad_option(
                driver,
                "framing",
                format!("`{other}` (expected rtu or tcp)"),
            )),
        }
    }
}

/// Where a value lives in a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// Read-only 16-bit registers (function 4).
    Input,
    /// Read/write 16-bit registers (functions 3, 6, 16).
    Holding,
    /// Read/write bits (functions 1, 5).
    Coil,
    /// Read-only bits (function 2).
    Discrete,
}

/// One value of a device: its table, address, layout, scaling and unit.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Point {
    pub(crate) table: Table,
    pub(crate) address: u16,
    pub(crate) data_type: DataType,
    pub(crate) order: WordOrder,
    /// Physical value = raw × scale + offset.
    pub(crate) scale: f64,
    pub(crate) offset: f64,
    pub(crate) unit: String,
}

impl Point {
    /// Parses `"<table> <address> [<type>] [order=high_first|low_first] [scale=<x>]
    /// [offset=<x>] [unit=<symbol>]"` (`input 0 f32 unit=°C`, `holding 0x10 i16 scale=0.1
    /// unit=hPa`, `coil 3`).
    pub(crate) fn parse(text: &str) -> Result<Point, String> {
        let mut words = text.split_whitespace();
        let table = match words.next() {
            Some("input") => Table::Input,
            Some("holding") => Table::Holding,
            Some("coil") => Table::Coil,
            Some("discrete") => Table::Discrete,
            other => {
                return Err(format!(
                    "`{}` is not a table (input, holding, coil, discrete)",
                    other.unwrap_or("")
                ));
            }
        };
        let address_text = words.next().ok_or("an address must follow the table")?;
        let address = match address_text.strip_prefix("0x") {
            Some(hex) => u16::from_str_radix(hex, 16),
            None => address_text.parse(),
        }
        .map_err(|_| format!("`{address_text}` is not an address from 0 to 65535"))?;
        let mut point = Point {
            table,
            address,
            data_type: DataType::U16,
            order: WordOrder::HighFirst,
            scale: 1.0,
            offset: 0.0,
            unit: String::new(),
        };
        for word in words {
            if let Some(t) = DataType::from_name(word) {
                point.data_type = t;
                continue;
            }
            let Some((key, value)) = word.split_once('=') else {
                return Err(format!(
                    "`{word}` is not a type (u16, i16, u32, i32, f32) nor key=value"
                ));
            };
            match key {
                "order" => {
                    point.order = WordOrder::from_name(value).ok_or_else(|| {
                        format!("`{value}` is not a word order (high_first, low_first)")
                    })?;
                }
                "scale" | "offset" => {
                    let v: f64 = value
                        .parse()
                        .ok()
                        .filter(|v: &f64| v.is_finite())
                        .ok_or_else(|| format!("{key} `{value}` is not a number"))?;
                    if key == "scale" {
                        if v == 0.0 {
                            return Err("scale cannot be 0".into());
                        }
                        point.scale = v;
                    } else {
                        point.offset = v;
                    }
                }
                "unit" => {
                    crate::units::parse_unit(value).map_err(|e| e.to_string())?;
                    point.unit = value.to_string();
                }
                other => {
                    return Err(format!(
                        "unknown key `{other}` (order, scale, offset, unit)"
                    ));
                }
            }
        }
        if matches!(table, Table::Coil | Table::Discrete) && point.data_type != DataType::U16 {
            return Err("coils and discrete inputs are bits: they take no type".into());
        }
        Ok(point)
    }
}

/// A Modbus conversation with one unit.
pub(crate) struct ModbusClient {
    driver: String,
    link: Box<dyn ByteLink>,
    unit: u8,
    framing: Framing,
    timeout: Duration,
    transaction: u16,
    retries: u32,
    notes: Vec<String>,
    resync: bool,
}

impl ModbusClient {
    pub(crate) fn new(
        driver: impl Into<String>,
        link: Box<dyn ByteLink>,
        unit: u8,
        framing: Framing,
        retries: u32,
    ) -> Self {
        let timeout = link.command_timeout();
        ModbusClient {
            driver: driver.into(),
            link,
            unit,
            framing,
            timeout,
            transaction: 0,
            retries,
            notes: Vec::new(),
            resync: false,
        }
    }

    /// Notes taken since the last call.
    pub(crate) fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn fail(&self, kind: DriverErrorKind) -> DriverError {
        DriverError::new(&self.driver, kind)
    }

    fn bad_frame(&mut self, request: &Request, frame: &[u8], e: &ModbusError) -> DriverError {
        self.resync = true;
        self.fail(DriverErrorKind::Protocol {
            expected: format!(
                "a Modbus answer from unit {} to function {} ({e})",
                self.unit,
                request.function()
            ),
            received: hex::encode(frame),
        })
    }

    fn receive(&mut self, count: usize, deadline: Instant) -> Result<Vec<u8>, DriverError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.link.receive_exact(count, remaining).map_err(|mut e| {
            self.resync = true;
            if e.is_timeout() {
                // The link counts from this read; the operator set the whole answer's timeout.
                e.detail = e.detail.replacen(
                    &format!("within {} ms", remaining.as_millis()),
                    &format!("within {} ms", self.timeout.as_millis()),
                    1,
                );
            }
            self.fail(DriverErrorKind::Link(e))
        })
    }

    /// One request and its answer, without retry.
    fn call_once(&mut self, request: &Request) -> Result<Response, DriverError> {
        if self.resync {
            self.link
                .discard_input()
                .map_err(|e| self.fail(DriverErrorKind::Link(e)))?;
            self.resync = false;
        }
        let pdu = request.encode();
        let frame = match self.framing {
            Framing::Rtu => modbus::rtu_frame(self.unit, &pdu),
            Framing::Tcp => {
                self.transaction = self.transaction.wrapping_add(1);
                modbus::tcp_frame(self.transaction, self.unit, &pdu)
            }
        };
        self.link
            .send(&frame)
            .map_err(|e| self.fail(DriverErrorKind::Link(e)))?;
        let deadline = Instant::now() + self.timeout;
        let (unit, answer) = match self.framing {
            Framing::Rtu => {
                let mut head = self.receive(3, deadline)?;
                let len = match modbus::rtu_response_len(&[head[0], head[1], head[2]]) {
                    Ok(len) => len,
                    Err(e) => return Err(self.bad_frame(request, &head, &e)),
                };
                head.extend(self.receive(len - 3, deadline)?);
                match modbus::parse_rtu(&head) {
                    Ok((unit, pdu)) => (unit, pdu.to_vec()),
                    Err(e) => return Err(self.bad_frame(request, &head, &e)),
                }
            }
            Framing::Tcp => {
                let header = self.receive(modbus::MBAP_LEN, deadline)?;
                let mbap = match modbus::parse_mbap(&header) {
                    Ok(m) => m,
                    Err(e) => return Err(self.bad_frame(request, &header, &e)),
                };
                if mbap.transaction != self.transaction {
                    let e = ModbusError::Mbap(format!(
                        "transaction {} (expected {})",
                        mbap.transaction, self.transaction
                    ));
                    return Err(self.bad_frame(request, &header, &e));
                }
                (mbap.unit, self.receive(mbap.pdu_len, deadline)?)
            }
        };
        if unit != self.unit {
            let e = ModbusError::UnexpectedUnit {
                expected: self.unit,
                received: unit,
            };
            return Err(self.bad_frame(request, &answer, &e));
        }
        match Response::parse(request, &answer) {
            Ok(Response::Exception(code)) => Err(self.fail(DriverErrorKind::InstrumentRefused {
                reply: format!("modbus {code} to {}", describe(request)),
            })),
            Ok(response) => Ok(response),
            Err(e) => Err(self.bad_frame(request, &answer, &e)),
        }
    }

    /// A request, retried when it only reads and the failure may be transient.
    pub(crate) fn call(&mut self, request: &Request) -> Result<Response, DriverError> {
        let reads = matches!(
            request,
            Request::ReadCoils { .. }
                | Request::ReadDiscreteInputs { .. }
                | Request::ReadHoldingRegisters { .. }
                | Request::ReadInputRegisters { .. }
        );
        let mut attempt = 0;
        loop {
            match self.call_once(request) {
                Err(e) if reads && attempt < self.retries && is_transient(&e) => {
                    attempt += 1;
                    std::thread::sleep(pause_before(attempt));
                    self.notes.push(format!(
                        "retry {attempt} of {} after: {}",
                        describe(request),
                        crate::runner::error_chain(&e)
                    ));
                }
                Err(e) => return Err(e),
                Ok(r) => {
                    if attempt > 0 {
                        self.notes.push(format!(
                            "{} succeeded after {attempt} retries",
                            describe(request)
                        ));
                    }
                    return Ok(r);
                }
            }
        }
    }

    /// Reads `count` registers of `table` from `address`.
    pub(crate) fn read_registers(
        &mut self,
        table: Table,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, DriverError> {
        let request = match table {
            Table::Holding => Request::ReadHoldingRegisters { address, count },
            _ => Request::ReadInputRegisters { address, count },
        };
        match self.call(&request)? {
            Response::Registers(r) => Ok(r),
            other => Err(self.fail(DriverErrorKind::Protocol {
                expected: "registers".into(),
                received: format!("{other:?}"),
            })),
        }
    }

    /// Reads a point's physical value (raw × scale + offset); a bit reads as 0 or 1.
    pub(crate) fn read_point(&mut self, point: &Point) -> Result<f64, DriverError> {
        let raw = match point.table {
            Table::Coil | Table::Discrete => {
                let request = if point.table == Table::Coil {
                    Request::ReadCoils {
                        address: point.address,
                        count: 1,
                    }
                } else {
                    Request::ReadDiscreteInputs {
                        address: point.address,
                        count: 1,
                    }
                };
                match self.call(&request)? {
                    Response::Bits(b) if b.len() == 1 => f64::from(u8::from(b[0])),
                    other => {
                        return Err(self.fail(DriverErrorKind::Protocol {
                            expected: "one bit".into(),
                            received: format!("{other:?}"),
                        }));
                    }
                }
            }
            table => {
                let regs =
                    self.read_registers(table, point.address, point.data_type.registers())?;
                decode_value(point.data_type, point.order, &regs).map_err(|e| {
                    self.fail(DriverErrorKind::Protocol {
                        expected: format!("a {}", point.data_type),
                        received: e.to_string(),
                    })
                })?
            }
        };
        Ok(raw * point.scale + point.offset)
    }

    /// Writes a point's physical value; returns the value the device echoed, in the same
    /// terms.
    pub(crate) fn write_point(
        &mut self,
        name: &str,
        point: &Point,
        value: f64,
    ) -> Result<f64, DriverError> {
        let raw = (value - point.offset) / point.scale;
        let (request, expected_echo) = match point.table {
            Table::Coil => {
                let on = raw != 0.0;
                (
                    Request::WriteSingleCoil {
                        address: point.address,
                        value: on,
                    },
                    f64::from(u8::from(on)),
                )
            }
            Table::Holding => {
                let regs = encode_value(point.data_type, point.order, raw).map_err(|e| {
                    self.fail(DriverErrorKind::OutOfRange {
                        name: name.to_string(),
                        value: value.to_string(),
                        range: e.to_string(),
                    })
                })?;
                let echo = decode_value(point.data_type, point.order, &regs).unwrap_or(raw);
                let request = if regs.len() == 1 {
                    Request::WriteSingleRegister {
                        address: point.address,
                        value: regs[0],
                    }
                } else {
                    Request::WriteMultipleRegisters {
                        address: point.address,
                        values: regs,
                    }
                };
                (request, echo)
            }
            _ => {
                return Err(super::common::unsupported(
                    &self.driver,
                    format!("writing `{name}`: input registers and discrete inputs are read-only"),
                ));
            }
        };
        self.call(&request)?;
        Ok(expected_echo * point.scale + point.offset)
    }
}

/// `read input registers 0..1`, for messages.
fn describe(request: &Request) -> String {
    let range = |a: &u16, n: u16| format!("{a}..{}", u32::from(*a) + u32::from(n.max(1)) - 1);
    match request {
        Request::ReadCoils { address, count } => format!("read coils {}", range(address, *count)),
        Request::ReadDiscreteInputs { address, count } => {
            format!("read discrete inputs {}", range(address, *count))
        }
        Request::ReadHoldingRegisters { address, count } => {
            format!("read holding registers {}", range(address, *count))
        }
        Request::ReadInputRegisters { address, count } => {
            format!("read input registers {}", range(address, *count))
        }
        Request::WriteSingleCoil { address, .. } => format!("write coil {address}"),
        Request::WriteSingleRegister { address, .. } => format!("write holding register {address}"),
        Request::WriteMultipleRegisters { address, values } => {
            format!(
                "write holding registers {}",
                range(address, values.len() as u16)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;
    use crate::protocol::modbus::{ExceptionCode, rtu_frame, tcp_frame};

    #[test]
    fn points_parse_with_their_layout() {
        let p = Point::parse("input 0x10 f32 order=low_first scale=0.5 unit=hPa").unwrap();
        assert_eq!(
            (p.table, p.address, p.data_type, p.order),
            (Table::Input, 16, DataType::F32, WordOrder::LowFirst)
        );
        assert_eq!((p.scale, p.unit.as_str()), (0.5, "hPa"));
        assert!(Point::parse("inputs 0").is_err());
        assert!(Point::parse("input 70000").is_err());
        assert!(Point::parse("coil 1 f32").is_err());
        assert!(Point::parse("holding 1 unit=furlong").is_err());
    }

    #[test]
    fn reads_a_float_over_rtu_and_names_exceptions() {
        let req = Request::ReadInputRegisters {
            address: 0,
            count: 2,
        };
        let ok = rtu_frame(1, &Response::Registers(vec![0x41B0, 0x0000]).encode(&req));
        let refused = rtu_frame(
            1,
            &Response::Exception(ExceptionCode::IllegalDataAddress).encode(&req),
        );
        let (link, log) = FakeLink::binary(&[&ok, &refused]);
        let mut c = ModbusClient::new("m", Box::new(link), 1, Framing::Rtu, 0);
        let point = Point::parse("input 0 f32").unwrap();
        assert_eq!(c.read_point(&point).unwrap(), 22.0);
        assert_eq!(log.sent_bytes()[0], rtu_frame(1, &req.encode()));
        let err = c.read_point(&point).unwrap_err();
        assert!(err.to_string().contains("illegal data address"), "{err}");
        assert!(
            err.to_string().contains("read input registers 0..1"),
            "{err}"
        );
    }

    #[test]
    fn a_crc_error_is_a_protocol_error_and_a_retry_recovers() {
        let req = Request::ReadHoldingRegisters {
            address: 0,
            count: 1,
        };
        let good = rtu_frame(1, &Response::Registers(vec![7]).encode(&req));
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xFF;
        let (link, _) = FakeLink::binary(&[&bad, &good]);
        let mut c = ModbusClient::new("m", Box::new(link), 1, Framing::Rtu, 0);
        let err = c.read_registers(Table::Holding, 0, 1).unwrap_err();
        assert!(
            format!("{:?}", err.kind).contains("crc mismatch"),
            "{err:?}"
        );
        let (link, _) = FakeLink::binary(&[&bad, &good]);
        let mut c = ModbusClient::new("m", Box::new(link), 1, Framing::Rtu, 1);
        assert_eq!(c.read_registers(Table::Holding, 0, 1).unwrap(), vec![7]);
        assert_eq!(c.take_notes().len(), 2);
    }

    #[test]
    fn tcp_checks_the_transaction() {
        let req = Request::ReadInputRegisters {
            address: 12,
            count: 1,
        };
        let answer = Response::Registers(vec![10132]).encode(&req);
        let right = tcp_frame(1, 1, &answer);
        let wrong = tcp_frame(9, 1, &answer);
        let (link, _) = FakeLink::binary(&[&right, &wrong]);
        let mut c = ModbusClient::new("m", Box::new(link), 1, Framing::Tcp, 0);
        let point = Point::parse("input 12 u16 scale=0.1 unit=hPa").unwrap();
        assert!((c.read_point(&point).unwrap() - 1013.2).abs() < 1e-9);
        assert!(c.read_point(&point).is_err());
    }
}
