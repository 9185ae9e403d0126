//! qbench's line protocol for device service ports (the ventilator and the active test lung).
//!
//! Every message is one line of printable ASCII ended by LF (a CR before the LF is ignored).
//! Words are separated by single spaces; parameter names and keywords are upper case.
//! A line may end with an NMEA-style checksum: `*` and two upper-case hexadecimal digits, the
//! XOR of every byte before the `*`. A sender adds it when checksums are on (a driver option);
//! a receiver verifies it whenever it is present, and a device answers with a checksum exactly
//! when the request carried one.
//!
//! | request             | meaning                        | reply                             |
//! |---------------------|--------------------------------|-----------------------------------|
//! | `ID?`               | identify                       | `ID maker,model,serial,firmware`  |
//! | `SET <P> <value>`   | set parameter P                | `OK <P> <value now in force>`     |
//! | `GET <P>`           | read parameter P               | `VAL <P> <value>`                 |
//! | `RUN`               | start ventilating              | `STATE RUNNING`                   |
//! | `STANDBY`           | stop ventilating (safe state)  | `STATE STANDBY`                   |
//! | `STATE?`            | read the state                 | `STATE <state>`                   |
//!
//! Any request may instead be answered `ERR <code> <text>` ([`ErrorCode`]). Values are decimal
//! numbers (`500`, `0.8`, `-1.5`) in the parameter's fixed unit, or an upper-case word
//! (`SET MODE PC`). Ventilator parameters: `VT` (mL), `PINSP` (cmH2O above PEEP), `RATE`
//! (/min), `TI` (s), `PEEP` (cmH2O), `FIO2` (%), `MODE` (`VC` volume control, `PC` pressure
//! control). Test-lung parameters: `C` (mL/hPa), `R` (hPa/(L/s)).
//! `docs/ventilator-service-port.md` is the full description for device makers.

use std::fmt;

/// The byte that ends every line.
pub const TERMINATOR: u8 = b'\n';

/// The longest line either side accepts, terminator excluded.
pub const MAX_LINE: usize = 200;

/// A parameter value: a number in the parameter's unit, or a word.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A finite decimal number.
    Number(f64),
    /// An upper-case word such as `VC`.
    Word(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{}` on f64 prints the shortest text that reads back to the same number.
            Value::Number(v) => write!(f, "{v}"),
            Value::Word(w) => f.write_str(w),
        }
    }
}

impl Value {
    /// The number, if this is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(*v),
            Value::Word(_) => None,
        }
    }
}

/// A request from a driver to a device.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `ID?`
    Identify,
    /// `SET <param> <value>`
    Set {
        /// Parameter name (`VT`).
        param: String,
        /// New value.
        value: Value,
    },
    /// `GET <param>`
    Get {
        /// Parameter name.
        param: String,
    },
    /// `RUN`
    Run,
    /// `STANDBY`
    Standby,
    /// `STATE?`
    State,
}

/// Error codes of `ERR` replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 1: the line is not a request this device knows.
    UnknownCommand,
    /// 2: the parameter is not one of this device's.
    UnknownParameter,
    /// 3: the value does not read as a value of this parameter.
    BadValue,
    /// 4: the value is outside the device's range.
    OutOfRange,
    /// 5: the request's checksum does not match.
    BadChecksum,
    /// 6: the request is not allowed in the current state.
    NotAllowed,
}

impl ErrorCode {
    /// The number on the wire.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::UnknownCommand => 1,
            ErrorCode::UnknownParameter => 2,
            ErrorCode::BadValue => 3,
            ErrorCode::OutOfRange => 4,
            ErrorCode::BadChecksum => 5,
            ErrorCode::NotAllowed => 6,
        }
    }
}

/// A reply from a device to a driver.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `ID maker,model,serial,firmware`
    Identity {
        /// Maker.
        maker: String,
        /// Model.
        model: String,
        /// Serial number.
        serial: String,
        /// Firmware version.
        firmware: String,
    },
    /// `OK <param> <value>`: a SET was applied; the value now in force.
    Ok {
        /// Parameter name.
        param: String,
        /// Value in force.
        value: Value,
    },
    /// `VAL <param> <value>`: the answer to GET.
    Val {
        /// Parameter name.
        param: String,
        /// Current value.
        value: Value,
    },
    /// `STATE <state>` (`RUNNING`, `STANDBY`).
    State(String),
    /// `ERR <code> <text>`
    Err {
        /// Error number ([`ErrorCode::code`]).
        code: u16,
        /// Explanation for people.
        text: String,
    },
}

/// Errors decoding a line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not a message of this protocol.
    #[error("malformed line `{line}`: {reason}")]
    Malformed {
        /// The line as received (lossy UTF-8).
        line: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The checksum after `*` does not match the line.
    #[error("checksum mismatch in `{line}`: computed {computed:02X}")]
    Checksum {
        /// The line as received.
        line: String,
        /// The checksum of the bytes before `*`.
        computed: u8,
    },
    /// Checksums are required and the line has none.
    #[error("missing checksum in `{line}`")]
    MissingChecksum {
        /// The line as received.
        line: String,
    },
}

/// The XOR of `bytes`.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Frames a message body: appends `*HH` when `with_checksum`, then LF.
pub fn frame(body: &str, with_checksum: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(body.as_bytes());
    if with_checksum {
        out.extend_from_slice(format!("*{:02X}", checksum(body.as_bytes())).as_bytes());
    }
    out.push(TERMINATOR);
    out
}

/// Removes the terminator (and a CR) and checks a checksum if present.
///
/// Returns the body as text and whether it carried a checksum.
pub fn unframe(line: &[u8]) -> Result<(&str, bool), LineError> {
    let line = line.strip_suffix(&[TERMINATOR]).unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let malformed = |reason| LineError::Malformed {
        line: lossy(line),
        reason,
    };
    if line.len() > MAX_LINE {
        return Err(malformed("longer than 200 bytes"));
    }
    if !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(malformed("not printable ASCII"));
    }
    let (body, had) = match line.iter().rposition(|&b| b == b'*') {
        Some(star) => {
            let hex = &line[star + 1..];
            let given = (hex.len() == 2)
                .then(|| std::str::from_utf8(hex).ok())
                .flatten()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| malformed("`*` not followed by two hexadecimal digits"))?;
            let computed = checksum(&line[..star]);
            if given != computed {
                return Err(LineError::Checksum {
                    line: lossy(line),
                    computed,
                });
            }
            (&line[..star], true)
        }
        None => (line, false),
    };
    // Printable ASCII is valid UTF-8.
    let text = std::str::from_utf8(body).map_err(|_| malformed("not ASCII"))?;
    Ok((text, had))
}

impl Request {
    /// The request's text, without checksum or terminator.
    pub fn body(&self) -> String {
        match self {
            Request::Identify => "ID?".into(),
            Request::Set { param, value } => format!("SET {param} {value}"),
            Request::Get { param } => format!("GET {param}"),
            Request::Run => "RUN".into(),
            Request::Standby => "STANDBY".into(),
            Request::State => "STATE?".into(),
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self, with_checksum: bool) -> Vec<u8> {
        frame(&self.body(), with_checksum)
    }

    /// Parses a request line; also returns whether it carried a checksum.
    pub fn parse(line: &[u8]) -> Result<(Request, bool), LineError> {
        let (text, had) = unframe(line)?;
        let malformed = |reason| LineError::Malformed {
            line: text.to_string(),
            reason,
        };
        let words: Vec<&str> = text.split(' ').collect();
        let request = match words.as_slice() {
            ["ID?"] => Request::Identify,
            ["RUN"] => Request::Run,
            ["STANDBY"] => Request::Standby,
            ["STATE?"] => Request::State,
            ["GET", p] => Request::Get {
                param: param(p).ok_or_else(|| malformed("bad parameter"))?,
            },
            ["SET", p, v] => Request::Set {
                param: param(p).ok_or_else(|| malformed("bad parameter"))?,
                value: value(v).ok_or_else(|| malformed("bad value"))?,
            },
            _ => return Err(malformed("unknown request")),
        };
        Ok((request, had))
    }
}

impl Reply {
    /// The reply's text, without checksum or terminator.
    pub fn body(&self) -> String {
        match self {
            Reply::Identity {
                maker,
                model,
                serial,
                firmware,
            } => {
                format!("ID {maker},{model},{serial},{firmware}")
            }
            Reply::Ok { param, value } => format!("OK {param} {value}"),
            Reply::Val { param, value } => format!("VAL {param} {value}"),
            Reply::State(s) => format!("STATE {s}"),
            Reply::Err { code, text } => format!("ERR {code} {text}"),
        }
    }

    /// An `ERR` reply.
    pub fn error(code: ErrorCode, text: impl Into<String>) -> Reply {
        Reply::Err {
            code: code.code(),
            text: text.into(),
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self, with_checksum: bool) -> Vec<u8> {
        frame(&self.body(), with_checksum)
    }

    /// Parses a reply line; also returns whether it carried a checksum.
    pub fn parse(line: &[u8]) -> Result<(Reply, bool), LineError> {
        let (text, had) = unframe(line)?;
        let malformed = |reason| LineError::Malformed {
            line: text.to_string(),
            reason,
        };
        let (head, rest) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match head {
            "ID" => {
                let fields: Vec<&str> = rest.split(',').collect();
                match fields.as_slice() {
                    [maker, model, serial, firmware] => Reply::Identity {
                        maker: maker.to_string(),
                        model: model.to_string(),
                        serial: serial.to_string(),
                        firmware: firmware.to_string(),
                    },
                    _ => return Err(malformed("identity without four comma-separated fields")),
                }
            }
            "OK" | "VAL" => {
                let (p, v) = rest.split_once(' ').ok_or_else(|| malformed("no value"))?;
                let param = param(p).ok_or_else(|| malformed("bad parameter"))?;
                let value = value(v).ok_or_else(|| malformed("bad value"))?;
                if head == "OK" {
                    Reply::Ok { param, value }
                } else {
                    Reply::Val { param, value }
                }
            }
            "STATE" if word(rest) => Reply::State(rest.to_string()),
            "ERR" => {
                let (c, t) = rest.split_once(' ').unwrap_or((rest, ""));
                let code = c
                    .parse()
                    .ok()
                    .filter(|_| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| malformed("error code is not a number"))?;
                Reply::Err {
                    code,
                    text: t.to_string(),
                }
            }
            _ => return Err(malformed("unknown reply")),
        };
        Ok((reply, had))
    }
}

/// Parses a reply and, when `require_checksum`, refuses a line without one.
pub fn parse_reply(line: &[u8], require_checksum: bool) -> Result<Reply, LineError> {
    let (reply, had) = Reply::parse(line)?;
    if require_checksum && !had {
        return Err(LineError::MissingChecksum { line: lossy(line) });
    }
    Ok(reply)
}

fn word(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn param(text: &str) -> Option<String> {
    (word(text) && text.as_bytes()[0].is_ascii_uppercase()).then(|| text.to_string())
}

fn value(text: &str) -> Option<Value> {
    let first = *text.as_bytes().first()?;
    if first.is_ascii_uppercase() {
        return word(text).then(|| Value::Word(text.to_string()));
    }
    // Only plain decimals: no `inf`, `NaN` or exponents, which a device might not read.
    if !text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Value::Number)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(p: &str, v: f64) -> Request {
        Request::Set {
            param: p.into(),
            value: Value::Number(v),
        }
    }

    #[test]
    fn encodes_requests_with_and_without_checksum() {
        assert_eq!(set("VT", 500.0).encode(false), b"SET VT 500\n");
        assert_eq!(Request::Identify.encode(false), b"ID?\n");
        let with = Request::Run.encode(true);
        // R ^ U ^ N = 0x52 ^ 0x55 ^ 0x4E = 0x49.
        assert_eq!(with, b"RUN*49\n");
        assert_eq!(Request::parse(&with).unwrap(), (Request::Run, true));
    }

    #[test]
    fn parses_replies() {
        let (r, _) = Reply::parse(b"ID qbench,SIM-VENT,SN1,1.0\r\n").unwrap();
        assert_eq!(
            r,
            Reply::Identity {
                maker: "qbench".into(),
                model: "SIM-VENT".into(),
                serial: "SN1".into(),
                firmware: "1.0".into()
            }
        );
        assert_eq!(
            Reply::parse(b"OK TI 0.8\n").unwrap().0,
            Reply::Ok {
                param: "TI".into(),
                value: Value::Number(0.8)
            }
        );
        assert_eq!(
            Reply::parse(b"VAL MODE VC\n").unwrap().0,
            Reply::Val {
                param: "MODE".into(),
                value: Value::Word("VC".into())
            }
        );
        assert_eq!(
            Reply::parse(b"STATE RUNNING").unwrap().0,
            Reply::State("RUNNING".into())
        );
        assert_eq!(
            Reply::parse(b"ERR 4 VT out of range 5..2500").unwrap().0,
            Reply::Err {
                code: 4,
                text: "VT out of range 5..2500".into()
            }
        );
    }

    #[test]
    fn refuses_bad_lines() {
        assert!(Reply::parse(b"HELLO").is_err());
        assert!(Reply::parse(b"OK VT five").is_err());
        assert!(Reply::parse(b"OK VT inf").is_err());
        assert!(Reply::parse(b"ERR x y").is_err());
        assert!(Reply::parse(b"STATE\xff").is_err());
        assert!(matches!(
            Reply::parse(b"STATE RUNNING*00"),
            Err(LineError::Checksum { .. })
        ));
        assert!(matches!(
            parse_reply(b"STATE RUNNING", true),
            Err(LineError::MissingChecksum { .. })
        ));
        assert!(Request::parse(b"SET VT").is_err());
        assert!(Request::parse(b"set VT 5").is_err());
    }

    fn param_name() -> impl Strategy<Value = String> {
        "[A-Z][A-Z0-9_]{0,6}"
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            (-1e6f64..1e6).prop_map(Value::Number),
            "[A-Z][A-Z0-9]{0,5}".prop_map(Value::Word),
        ]
    }

    fn any_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            Just(Request::Identify),
            Just(Request::Run),
            Just(Request::Standby),
            Just(Request::State),
            param_name().prop_map(|param| Request::Get { param }),
            (param_name(), any_value()).prop_map(|(param, value)| Request::Set { param, value }),
        ]
    }

    fn field() -> impl Strategy<Value = String> {
        "[A-Za-z0-9 ._-]{0,12}"
    }

    fn any_reply() -> impl Strategy<Value = Reply> {
        prop_oneof![
            (field(), field(), field(), field()).prop_map(|(maker, model, serial, firmware)| {
                Reply::Identity {
                    maker,
                    model,
                    serial,
                    firmware,
                }
            }),
            (param_name(), any_value()).prop_map(|(param, value)| Reply::Ok { param, value }),
            (param_name(), any_value()).prop_map(|(param, value)| Reply::Val { param, value }),
            "[A-Z]{1,10}".prop_map(Reply::State),
            (any::<u16>(), "[ -~&&[^*]]{0,30}").prop_map(|(code, text)| Reply::Err { code, text }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(req in any_request(), ck: bool) {
            prop_assert_eq!(Request::parse(&req.encode(ck)).unwrap(), (req, ck));
        }

        #[test]
        fn replies_round_trip(reply in any_reply(), ck: bool) {
            prop_assert_eq!(Reply::parse(&reply.encode(ck)).unwrap(), (reply, ck));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = Request::parse(&bytes);
            let _ = Reply::parse(&bytes);
            let _ = parse_reply(&bytes, true);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[ -~]{0,40}") {
            let _ = Request::parse(text.as_bytes());
            let _ = Reply::parse(text.as_bytes());
        }
    }
}
