//! The RS-232 protocol of IMT Analytics gas-flow analyzers (FlowAnalyser PF-300, CITREX).
//!
//! A frame is ASCII: `%`, a two-letter operation, `#`, a numeric id, then zero or more
//! `$`-prefixed integer values, and a carriage return. The host sends `%RM#23` and the
//! analyzer echoes the operation and id with the value: `%RM#23$512`. An invalid frame is
//! answered with a lone `?`. Values are integers; the physical value is the integer divided
//! by the divider of the measurement's resolution, which depends on the model
//! ([`Model::divider`]). The integer [`NOT_DEFINED`] means the sensor is not working or not
//! calibrated: [`scale`] turns it into an error, never a number.
//!
//! Also here: gas-standard names for setting 3 and the 9-byte fast-data packet decoder.

use std::fmt;

/// The byte that ends every frame, in both directions.
pub const TERMINATOR: u8 = b'\r';

/// The raw value meaning "not defined": an instrument error, never a number.
pub const NOT_DEFINED: i64 = -2_147_483_648;

/// The most values a command frame may carry.
pub const MAX_VALUES: usize = 10;

/// The operation a frame performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `CM`: execute a command.
    Command,
    /// `WS`: write a setting.
    WriteSetting,
    /// `RS`: read a setting.
    ReadSetting,
    /// `RM`: read a measurement.
    ReadMeasurement,
    /// `RI`: read system information.
    ReadInfo,
    /// `ST`: read a state.
    ReadState,
}

impl Operation {
    /// All operations.
    pub const ALL: [Operation; 6] = [
        Operation::Command,
        Operation::WriteSetting,
        Operation::ReadSetting,
        Operation::ReadMeasurement,
        Operation::ReadInfo,
        Operation::ReadState,
    ];

    /// The two letters on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Operation::Command => "CM",
            Operation::WriteSetting => "WS",
            Operation::ReadSetting => "RS",
            Operation::ReadMeasurement => "RM",
            Operation::ReadInfo => "RI",
            Operation::ReadState => "ST",
        }
    }

    /// The operation with these two letters.
    pub fn from_code(code: &[u8]) -> Option<Operation> {
        Operation::ALL
            .into_iter()
            .find(|op| op.code().as_bytes() == code)
    }
}

/// One frame, request or answer, without its terminator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// What the frame does.
    pub operation: Operation,
    /// Which command, setting, measurement, information or state.
    pub id: u32,
    /// The `$` values, in order.
    pub values: Vec<i64>,
}

impl Frame {
    /// A frame without values (`%RM#23`).
    pub fn new(operation: Operation, id: u32) -> Frame {
        Frame {
            operation,
            id,
            values: Vec::new(),
        }
    }

    /// A frame with one value (`%WS#3$2`).
    pub fn with_value(operation: Operation, id: u32, value: i64) -> Frame {
        Frame {
            operation,
            id,
            values: vec![value],
        }
    }

    /// The bytes on the wire, terminator included.
    ///
    /// Written digit by digit into one buffer sized for the frame (no formatter, no string
    /// per value): it is on every query's path, on both ends of the line.
    pub fn encode(&self) -> Vec<u8> {
        // `%`, two letters, `#`, the id, `$` and up to 20 characters per value, terminator.
        let mut out = Vec::with_capacity(4 + 10 + 21 * self.values.len() + 1);
        out.push(b'%');
        out.extend_from_slice(self.operation.code().as_bytes());
        out.push(b'#');
        push_decimal(&mut out, i64::from(self.id));
        for v in &self.values {
            out.push(b'$');
            push_decimal(&mut out, *v);
        }
        out.push(TERMINATOR);
        out
    }

    /// Parses one frame; `line` may or may not end with the terminator.
    pub fn parse(line: &[u8]) -> Result<Frame, ImtError> {
        let line = line.strip_suffix(&[TERMINATOR]).unwrap_or(line);
        let malformed = |reason: &'static str| ImtError::Malformed {
            line: lossy(line),
            reason,
        };
        let rest = line
            .strip_prefix(b"%")
            .ok_or_else(|| malformed("does not start with `%`"))?;
        if rest.len() < 3 || rest[2] != b'#' {
            return Err(malformed("no two-letter operation followed by `#`"));
        }
        let operation =
            Operation::from_code(&rest[..2]).ok_or_else(|| malformed("unknown operation"))?;
        let mut fields = rest[3..].split(|&b| b == b'$');
        let id_text = fields.next().unwrap_or_default();
        let id = parse_unsigned(id_text).ok_or_else(|| malformed("the id is not a number"))?;
        let mut values = Vec::new();
        for field in fields {
            if values.len() == MAX_VALUES {
                return Err(malformed("more than 10 values"));
            }
            values.push(parse_signed(field).ok_or_else(|| malformed("a value is not an integer"))?);
        }
        Ok(Frame {
            operation,
            id,
            values,
        })
    }

    /// The single value of an answer, or an error naming what was expected.
    pub fn single_value(&self) -> Result<i64, ImtError> {
        match self.values.as_slice() {
            [v] => Ok(*v),
            _ => Err(ImtError::Malformed {
                line: self.to_string(),
                reason: "expected exactly one value",
            }),
        }
    }
}

/// Appends `v` in decimal (`-` before a negative value, no leading zeros).
fn push_decimal(out: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 20];
    let mut rest = v.unsigned_abs();
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[start..]);
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.encode();
        f.write_str(&String::from_utf8_lossy(&bytes[..bytes.len() - 1]))
    }
}

/// An analyzer's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The echoed frame, with the value(s) if any.
    Frame(Frame),
    /// The lone `?`: the analyzer refused the request as invalid.
    Invalid,
}

/// Parses the answer to `request`, checking that it echoes the request's operation and id.
pub fn parse_answer(line: &[u8], request: &Frame) -> Result<Answer, ImtError> {
    let trimmed = line.strip_suffix(&[TERMINATOR]).unwrap_or(line);
    if trimmed == b"?" {
        return Ok(Answer::Invalid);
    }
    let frame = Frame::parse(trimmed)?;
    if frame.operation != request.operation || frame.id != request.id {
        return Err(ImtError::Mismatch {
            expected: echo_of(request),
            received: lossy(trimmed),
        });
    }
    Ok(Answer::Frame(frame))
}

/// What an answer to `request` starts with (`%RM#23`).
pub fn echo_of(request: &Frame) -> String {
    format!("%{}#{}", request.operation.code(), request.id)
}

/// The bytes of the lone `?` answer, terminator included.
pub fn encode_invalid() -> Vec<u8> {
    vec![b'?', TERMINATOR]
}

/// Errors decoding IMT frames.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImtError {
    /// The bytes are not a frame.
    #[error("malformed frame `{line}`: {reason}")]
    Malformed {
        /// The line as received (lossy UTF-8).
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A well-formed answer to some other request.
    #[error("expected an answer to `{expected}`, received `{received}`")]
    Mismatch {
        /// The echo the answer should start with.
        expected: String,
        /// What came back.
        received: String,
    },
    /// The raw value [`NOT_DEFINED`]: the sensor is not working or not calibrated.
    #[error("the value is not defined (sensor not working or not calibrated)")]
    NotDefined,
    /// A fast-data packet whose 8-bit sum is not zero.
    #[error("fast-data packet checksum mismatch (sum {sum:#04x})")]
    Checksum {
        /// The 8-bit sum of the packet's bytes.
        sum: u8,
    },
}

/// Analyzer models, whose dividers differ for some measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// FlowAnalyser PF-300.
    Pf300,
    /// FlowAnalyser PF-300 PRO: high flow in 0.01 L/min.
    Pf300Pro,
    /// CITREX H4/H5: tidal volumes in 0.1 mL.
    Citrex,
}

impl Model {
    /// All models.
    pub const ALL: [Model; 3] = [Model::Pf300, Model::Pf300Pro, Model::Citrex];

    /// The name fixtures use (`PF-300`, `PF-300 PRO`, `CITREX`).
    pub fn name(self) -> &'static str {
        match self {
            Model::Pf300 => "PF-300",
            Model::Pf300Pro => "PF-300 PRO",
            Model::Citrex => "CITREX",
        }
    }

    /// The model with this name, ignoring case and the hyphen (`pf300` is `PF-300`).
    pub fn from_name(name: &str) -> Option<Model> {
        let norm = |s: &str| {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_uppercase()
        };
        let wanted = norm(name);
        Model::ALL.into_iter().find(|m| norm(m.name()) == wanted)
    }

    /// The divider of measurement `id` (raw integer / divider = value), if the id is known.
    ///
    /// From the maker's table of resolutions; where the reference gives none (minute
    /// volumes, peak flows) 0.01 L/min and 0.1 L/min are assumed (confirm with the manual of
    /// the instrument in use).
    pub fn divider(self, id: u32) -> Option<u32> {
        let base = match id {
            0 => 10,
            1 => 100,
            2 => 1000,
            3 | 4 => 100,
            5 | 6 => 10,
            7 | 8 => 1,
            9 => 10,
            10 => 1,
            11 | 12 => 10,
            13 | 14 => 1,
            19 | 20 => 100,
            21 | 22 => 10,
            23 | 24 => 1,
            25 | 26 => 100,
            27..=32 => 10,
            41 | 42 => 10,
            _ => return None,
        };
        Some(match (self, id) {
            (Model::Pf300Pro, 0) => 100,
            (Model::Citrex, 23 | 24) => 10,
            _ => base,
        })
    }
}

/// The physical value of a raw integer, or [`ImtError::NotDefined`].
pub fn scale(raw: i64, divider: u32) -> Result<f64, ImtError> {
    if raw == NOT_DEFINED {
        return Err(ImtError::NotDefined);
    }
    Ok(raw as f64 / f64::from(divider.max(1)))
}

/// The raw integer a physical value is sent as (rounded to the resolution).
pub fn to_raw(value: f64, divider: u32) -> i64 {
    let raw = (value * f64::from(divider.max(1))).round();
    // Keep clear of NOT_DEFINED: a huge negative value saturates one above it.
    raw.clamp((NOT_DEFINED + 1) as f64, i32::MAX as f64) as i64
}

/// Gas standards of setting 3, by code, with the short names fixtures use.
pub const GAS_STANDARDS: &[(i64, &str, &str)] = &[
    (0, "ATP", "ambient temperature and pressure, humid"),
    (1, "STP", "21.1 °C, 1013.25 mbar"),
    (2, "BTPS", "body temperature and pressure, saturated"),
    (3, "BTPD", "body temperature and pressure, dry"),
    (4, "STPD0", "0 °C, 1013.25 mbar, dry"),
    (5, "20/981", "20 °C, 981 mbar, dry"),
    (6, "15/1013", "15 °C, 1013 mbar, dry"),
    (7, "20/1013", "20 °C, 1013 mbar, dry"),
    (8, "25/991", "25 °C, 991 mbar, dry"),
    (9, "AP21", "ambient pressure, 21 °C, dry"),
    (10, "STPH", "standard temperature and pressure, humid"),
    (11, "ATPD", "ambient temperature and pressure, dry"),
    (12, "ATPS", "ambient temperature and pressure, saturated"),
];

/// The setting that holds the gas standard.
pub const SETTING_GAS_STANDARD: u32 = 3;

/// The code of a gas-standard name (case-insensitive).
pub fn gas_standard_code(name: &str) -> Option<i64> {
    GAS_STANDARDS
        .iter()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(c, _, _)| *c)
}

/// The short name of a gas-standard code.
pub fn gas_standard_name(code: i64) -> Option<&'static str> {
    GAS_STANDARDS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
}

/// The length of one fast-data packet.
pub const FAST_PACKET_LEN: usize = 9;

/// One fast-data packet (streamed every 5 ms after `%CM#64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastPacket {
    /// Time since streaming started, in 5 ms units (24 bits).
    pub timestamp: u32,
    /// The three streamed raw values (measurement ids chosen by settings 64, 65, 66).
    pub values: [u16; 3],
}

/// Decodes a fast-data packet: bytes 1–3 a big-endian time stamp, then three big-endian
/// 16-bit words; valid when the 8-bit sum of all nine bytes is zero.
///
/// The reference folds the checksum into the last word, so the third value's low byte
/// carries the checksum adjustment; confirm against a real instrument before relying on it.
pub fn decode_fast_packet(bytes: &[u8; FAST_PACKET_LEN]) -> Result<FastPacket, ImtError> {
    let sum = bytes.iter().fold(0u8, |acc, b| acc.wrapping_add(*b));
    if sum != 0 {
        return Err(ImtError::Checksum { sum });
    }
    let word = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
    Ok(FastPacket {
        timestamp: u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
        values: [word(3), word(5), word(7)],
    })
}

/// Encodes a packet, adjusting the last byte so the 8-bit sum is zero (for simulators and
/// tests); the last byte of `values[2]` is replaced.
pub fn encode_fast_packet(packet: &FastPacket) -> [u8; FAST_PACKET_LEN] {
    let t = packet.timestamp.to_be_bytes();
    let mut out = [0u8; FAST_PACKET_LEN];
    out[..3].copy_from_slice(&t[1..]);
    for (i, v) in packet.values.iter().enumerate() {
        out[3 + 2 * i..5 + 2 * i].copy_from_slice(&v.to_be_bytes());
    }
    let partial = out[..8].iter().fold(0u8, |acc, b| acc.wrapping_add(*b));
    out[8] = partial.wrapping_neg();
    out
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_unsigned(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn parse_signed(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_extreme_values() {
        let frame = Frame {
            operation: Operation::Command,
            id: u32::MAX,
            values: vec![0, -1, 10, i64::MIN, i64::MAX],
        };
        assert_eq!(
            frame.encode(),
            b"%CM#4294967295$0$-1$10$-9223372036854775808$9223372036854775807\r"
        );
    }

    #[test]
    fn encodes_requests() {
        assert_eq!(
            Frame::new(Operation::ReadMeasurement, 23).encode(),
            b"%RM#23\r"
        );
        assert_eq!(
            Frame::with_value(Operation::WriteSetting, 3, 2).encode(),
            b"%WS#3$2\r"
        );
        let cmd = Frame {
            operation: Operation::Command,
            id: 5,
            values: vec![1],
        };
        assert_eq!(cmd.encode(), b"%CM#5$1\r");
    }

    #[test]
    fn parses_answers_and_checks_the_echo() {
        let req = Frame::new(Operation::ReadMeasurement, 23);
        let ans = parse_answer(b"%RM#23$512\r", &req).unwrap();
        assert_eq!(
            ans,
            Answer::Frame(Frame::with_value(Operation::ReadMeasurement, 23, 512))
        );
        assert_eq!(parse_answer(b"?", &req).unwrap(), Answer::Invalid);
        let err = parse_answer(b"%RM#24$512", &req).unwrap_err();
        assert!(matches!(err, ImtError::Mismatch { .. }), "{err}");
        let err = parse_answer(b"%RS#23$1", &req).unwrap_err();
        assert!(err.to_string().contains("%RM#23"), "{err}");
        assert!(parse_answer(b"garbage", &req).is_err());
        assert!(parse_answer(b"%RM#23$12a", &req).is_err());
        assert!(parse_answer(b"", &req).is_err());
    }

    #[test]
    fn not_defined_is_an_error_never_a_number() {
        assert_eq!(scale(NOT_DEFINED, 10), Err(ImtError::NotDefined));
        assert_eq!(scale(5123, 10), Ok(512.3));
        assert_eq!(scale(-15, 10), Ok(-1.5));
        assert_eq!(to_raw(-1e300, 10), NOT_DEFINED + 1);
    }

    #[test]
    fn dividers_depend_on_the_model() {
        assert_eq!(Model::Pf300.divider(23), Some(1));
        assert_eq!(Model::Citrex.divider(23), Some(10));
        assert_eq!(Model::Pf300.divider(0), Some(10));
        assert_eq!(Model::Pf300Pro.divider(0), Some(100));
        assert_eq!(Model::Pf300.divider(19), Some(100));
        assert_eq!(Model::Pf300.divider(99), None);
        assert_eq!(Model::from_name("pf300"), Some(Model::Pf300));
        assert_eq!(Model::from_name("PF-300 PRO"), Some(Model::Pf300Pro));
        assert_eq!(Model::from_name("Citrex"), Some(Model::Citrex));
        assert_eq!(Model::from_name("PF-400"), None);
    }

    #[test]
    fn gas_standard_names_round_trip() {
        assert_eq!(gas_standard_code("btps"), Some(2));
        assert_eq!(gas_standard_name(2), Some("BTPS"));
        for (code, name, _) in GAS_STANDARDS {
            assert_eq!(gas_standard_code(name), Some(*code));
        }
        assert_eq!(gas_standard_code("STPX"), None);
    }

    #[test]
    fn fast_packets_check_their_sum() {
        let p = FastPacket {
            timestamp: 0x01_02_03,
            values: [100, 200, 0x1200],
        };
        let bytes = encode_fast_packet(&p);
        let back = decode_fast_packet(&bytes).unwrap();
        assert_eq!(back.timestamp, 0x01_02_03);
        assert_eq!(&back.values[..2], &[100, 200]);
        let mut bad = bytes;
        bad[4] ^= 1;
        assert!(matches!(
            decode_fast_packet(&bad),
            Err(ImtError::Checksum { .. })
        ));
    }

    fn operation() -> impl Strategy<Value = Operation> {
        prop::sample::select(Operation::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn frames_round_trip(op in operation(), id in 0u32..100_000,
                             values in prop::collection::vec(any::<i32>(), 0..=MAX_VALUES)) {
            let frame = Frame { operation: op, id, values: values.into_iter().map(i64::from).collect() };
            let bytes = frame.encode();
            prop_assert_eq!(Frame::parse(&bytes).unwrap(), frame.clone());
            prop_assert_eq!(parse_answer(&bytes, &Frame::new(op, id)).unwrap(), Answer::Frame(frame));
        }

        #[test]
        fn frames_encode_as_formatted_text(op in operation(), id: u32,
                                           values in prop::collection::vec(any::<i64>(), 0..=MAX_VALUES)) {
            let mut text = format!("%{}#{}", op.code(), id);
            for v in &values {
                text.push_str(&format!("${v}"));
            }
            text.push('\r');
            let frame = Frame { operation: op, id, values };
            prop_assert_eq!(String::from_utf8(frame.encode()).unwrap(), text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Frame::parse(&bytes);
            let _ = parse_answer(&bytes, &Frame::new(Operation::ReadMeasurement, 23));
            let mut packet = [0u8; FAST_PACKET_LEN];
            for (p, b) in packet.iter_mut().zip(&bytes) { *p = *b; }
            let _ = decode_fast_packet(&packet);
        }

        #[test]
        fn scaling_round_trips(raw in -2_000_000_000i64..2_000_000_000, div in prop::sample::select(vec![1u32, 10, 100, 1000])) {
            let v = scale(raw, div).unwrap();
            prop_assert_eq!(to_raw(v, div), raw);
        }

        #[test]
        fn fast_packets_round_trip(ts in 0u32..0x100_0000, a: u16, b: u16, c: u8) {
            let p = FastPacket { timestamp: ts, values: [a, b, u16::from(c) << 8] };
            let back = decode_fast_packet(&encode_fast_packet(&p)).unwrap();
            prop_assert_eq!(back.timestamp, ts);
            prop_assert_eq!(back.values[0], a);
            prop_assert_eq!(back.values[1], b);
            prop_assert_eq!(back.values[2] >> 8, u16::from(c));
        }
    }
}
