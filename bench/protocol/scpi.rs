//! SCPI / IEEE 488.2 messages over a byte stream: pure parsing of what instruments answer.
//!
//! A program message is one line of printable ASCII ended by LF. Headers are mnemonics
//! separated by `:`, each accepted in its short form (the upper-case part of `MEASure`, so
//! `MEAS`) or its long form (`MEASURE`), in any case; a query ends with `?`. Answers are one
//! line each. Instruments keep an error queue read with `SYST:ERR?`, one entry per query
//! (`-113,"Undefined header"`), `0,"No error"` when it is empty.
//!
//! This module parses the answers qbench relies on: `*IDN?` identities
//! ([`parse_identity`]), error-queue entries ([`parse_error_entry`]), numbers with an
//! optional unit suffix ([`parse_number`]: `+1.2345E+01 MBAR`, `12.5`, `-3`), and matches
//! headers against their specification ([`header_matches`]). Every parser takes arbitrary
//! bytes and returns an error rather than panicking.

/// The byte that ends every program message and every answer.
pub const TERMINATOR: u8 = b'\n';

/// The longest message either side accepts, terminator excluded.
pub const MAX_MESSAGE: usize = 512;

/// SCPI's "not a number" (9.91E37) and the overflow value (9.9E37) start here: anything this
/// large is a marker, never a measurement.
const NOT_A_NUMBER_THRESHOLD: f64 = 9.8e37;

/// Why an answer could not be parsed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScpiError {
    /// The answer is empty.
    #[error("empty answer")]
    Empty,
    /// The answer holds bytes that are not printable ASCII.
    #[error("the answer is not printable ascii")]
    NotPrintable,
    /// The answer is not a decimal number.
    #[error("`{text}` is not a number")]
    NotANumber {
        /// The answer.
        text: String,
    },
    /// The instrument answered SCPI's not-a-number or overflow marker (9.9E37, 9.91E37).
    #[error("the instrument answered {text}: no valid measurement (overflow or not a number)")]
    Undefined {
        /// The answer.
        text: String,
    },
    /// The unit suffix is not one qbench knows.
    #[error("unknown unit suffix `{suffix}`")]
    UnknownUnit {
        /// The suffix as received.
        suffix: String,
    },
    /// An `*IDN?` answer without its four comma-separated fields.
    #[error("an identity has 4 comma-separated fields, this one has {fields}")]
    Identity {
        /// How many fields it had.
        fields: usize,
    },
    /// A `SYST:ERR?` answer that is not `<code>,"<text>"`.
    #[error("`{text}` is not an error-queue entry (expected <code>,\"<text>\")")]
    ErrorEntry {
        /// The answer.
        text: String,
    },
    /// A program message that cannot be sent (control characters, too long).
    #[error("`{text}` cannot be sent: {reason}")]
    BadMessage {
        /// The message.
        text: String,
        /// Why.
        reason: &'static str,
    },
}

/// A program message ready for the wire: `text` and the terminator.
pub fn encode(text: &str) -> Result<Vec<u8>, ScpiError> {
    let bad = |reason| ScpiError::BadMessage {
        text: text.to_string(),
        reason,
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    if text.len() > MAX_MESSAGE {
        return Err(bad("it is too long"));
    }
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(bad("only printable ascii can be sent"));
    }
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(TERMINATOR);
    Ok(bytes)
}

/// Whether a program message is a query (expects an answer).
pub fn is_query(text: &str) -> bool {
    text.trim_end().ends_with('?')
}

/// An answer as text, without a trailing CR and surrounding spaces.
pub fn answer_text(bytes: &[u8]) -> Result<&str, ScpiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ScpiError::NotPrintable)?;
    let text = text.trim_end_matches('\r').trim();
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(ScpiError::NotPrintable);
    }
    if text.is_empty() {
        return Err(ScpiError::Empty);
    }
    Ok(text)
}

/// An `*IDN?` answer: maker, model, serial number, firmware.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityAnswer {
    /// Maker.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Serial number (`0` when the instrument has none).
    pub serial: String,
    /// Firmware version.
    pub firmware: String,
}

/// Parses an `*IDN?` answer (`MAKER,MODEL,SERIAL,FIRMWARE`, fields trimmed).
pub fn parse_identity(bytes: &[u8]) -> Result<IdentityAnswer, ScpiError> {
    let text = answer_text(bytes)?;
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    match fields.as_slice() {
        [manufacturer, model, serial, firmware] => Ok(IdentityAnswer {
            manufacturer: manufacturer.to_string(),
            model: model.to_string(),
            serial: serial.to_string(),
            firmware: firmware.to_string(),
        }),
        other => Err(ScpiError::Identity {
            fields: other.len(),
        }),
    }
}

/// One entry of an instrument's error queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorEntry {
    /// The code: 0 for "no error", negative for the standard SCPI errors, positive for the
    /// maker's own.
    pub code: i32,
    /// The text, without its quotes.
    pub message: String,
}

impl ErrorEntry {
    /// Whether this is the "queue empty" entry.
    pub fn is_no_error(&self) -> bool {
        self.code == 0
    }
}

impl std::fmt::Display for ErrorEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},\"{}\"", self.code, self.message)
    }
}

/// Parses a `SYST:ERR?` answer (`-113,"Undefined header"`, `+0,"No error"`, or a bare code).
pub fn parse_error_entry(bytes: &[u8]) -> Result<ErrorEntry, ScpiError> {
    let text = answer_text(bytes)?;
    let bad = || ScpiError::ErrorEntry {
        text: text.to_string(),
    };
    let (code, rest) = match text.split_once(',') {
        Some((code, rest)) => (code.trim(), Some(rest.trim())),
        None => (text, None),
    };
    let code: i32 = code
        .strip_prefix('+')
        .unwrap_or(code)
        .parse()
        .map_err(|_| bad())?;
    let message = match rest {
        None => String::new(),
        Some(r) => {
            let inner = r
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .ok_or_else(bad)?;
            // IEEE 488.2 strings double an embedded quote.
            inner.replace("\"\"", "\"")
        }
    };
    Ok(ErrorEntry { code, message })
}

/// A number an instrument answered, with the unit it named, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The value.
    pub value: f64,
    /// The qbench unit symbol of the suffix (`mbar` for `MBAR`), if the answer had one.
    pub unit: Option<&'static str>,
}

/// SCPI unit suffixes and their qbench symbols. Suffixes are case-insensitive on the wire,
/// and SCPI's `M` prefix is milli, so `MBAR` is millibar and `MA` milliampere.
pub const UNIT_SUFFIXES: &[(&str, &str)] = &[
    ("PA", "Pa"),
    ("HPA", "hPa"),
    ("KPA", "kPa"),
    ("MBAR", "mbar"),
    ("BAR", "bar"),
    ("CMH2O", "cmH2O"),
    ("MMHG", "mmHg"),
    ("CEL", "°C"),
    ("K", "K"),
    ("PCT", "%"),
    ("V", "V"),
    ("KV", "kV"),
    ("A", "A"),
    ("MA", "mA"),
    ("S", "s"),
    ("MS", "ms"),
    ("HZ", "Hz"),
    ("L", "L"),
    ("ML", "mL"),
    ("L/MIN", "L/min"),
    ("GY", "Gy"),
    ("MGY", "mGy"),
    ("UGY", "µGy"),
    ("UGY/S", "µGy/s"),
    ("MGY/S", "mGy/s"),
];

/// The qbench unit symbol of a SCPI unit suffix (any case).
pub fn unit_of_suffix(suffix: &str) -> Option<&'static str> {
    let upper = suffix.trim().to_ascii_uppercase();
    UNIT_SUFFIXES
        .iter()
        .find(|(s, _)| *s == upper)
        .map(|(_, symbol)| *symbol)
}

/// The SCPI suffix for a qbench unit symbol, for sending values with units.
pub fn suffix_of_unit(symbol: &str) -> Option<&'static str> {
    UNIT_SUFFIXES
        .iter()
        .find(|(_, s)| *s == symbol)
        .map(|(suffix, _)| *suffix)
}

/// Parses a numeric answer: NR1, NR2 or NR3 (`12`, `-1.5`, `+1.2345E+01`), optionally
/// followed by a unit suffix with or without a space (`+1.2345E+01 MBAR`, `21.5CEL`).
///
/// SCPI's not-a-number and overflow markers (9.91E37, 9.9E37) and `NAN`/`INF` are
/// [`ScpiError::Undefined`]: an instrument error, never a number.
pub fn parse_number(bytes: &[u8]) -> Result<Reading, ScpiError> {
    let text = answer_text(bytes)?;
    let upper = text.to_ascii_uppercase();
    if matches!(upper.as_str(), "NAN" | "INF" | "+INF" | "-INF" | "NINF") {
        return Err(ScpiError::Undefined {
            text: text.to_string(),
        });
    }
    let end = number_end(text);
    if end == 0 {
        return Err(ScpiError::NotANumber {
            text: text.to_string(),
        });
    }
    let value: f64 = text[..end].parse().map_err(|_| ScpiError::NotANumber {
        text: text.to_string(),
    })?;
    if !value.is_finite() || value.abs() >= NOT_A_NUMBER_THRESHOLD {
        return Err(ScpiError::Undefined {
            text: text.to_string(),
        });
    }
    let suffix = text[end..].trim();
    let unit = if suffix.is_empty() {
        None
    } else {
        Some(
            unit_of_suffix(suffix).ok_or_else(|| ScpiError::UnknownUnit {
                suffix: suffix.to_string(),
            })?,
        )
    };
    Ok(Reading { value, unit })
}

/// Formats a value as an NR3 number (`+1.23450E+01`), as instruments answer.
pub fn format_nr3(value: f64) -> String {
    let text = format!("{value:+.5E}");
    // Rust writes `1.2E1`; SCPI instruments write a signed, two-digit exponent.
    match text.split_once('E') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}E{sign}{digits:0>2}")
        }
        None => text,
    }
}

/// Length of the longest prefix of `text` that is a decimal number.
fn number_end(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return 0;
    }
    let mantissa_end = i;
    if i < b.len() && (b[i] == b'E' || b[i] == b'e') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > start {
            return j;
        }
    }
    mantissa_end
}

/// Whether `input` (a header as received, without parameters) matches `spec`, a header
/// written with its short form in upper case (`MEASure:PRESsure:PEAK?`).
///
/// Each mnemonic matches its short form or its long form, in any case; a leading `:` is
/// ignored; common commands (`*IDN?`) match exactly, in any case.
pub fn header_matches(spec: &str, input: &str) -> bool {
    let spec = spec.trim().trim_start_matches(':');
    let input = input.trim().trim_start_matches(':');
    let (spec_query, spec) = match spec.strip_suffix('?') {
        Some(s) => (true, s),
        None => (false, spec),
    };
    let (input_query, input) = match input.strip_suffix('?') {
        Some(s) => (true, s),
        None => (false, input),
    };
    if spec_query != input_query {
        return false;
    }
    let specs: Vec<&str> = spec.split(':').collect();
    let inputs: Vec<&str> = input.split(':').collect();
    specs.len() == inputs.len()
        && specs.iter().zip(&inputs).all(|(s, i)| {
            let short: String = s
                .chars()
                .filter(|c| !c.is_ascii_lowercase())
                .collect::<String>();
            i.eq_ignore_ascii_case(&short) || i.eq_ignore_ascii_case(s)
        })
}

/// Splits a program message into its header and its parameter text (`SOUR:PRES 5` gives
/// `SOUR:PRES` and `5`).
pub fn split_header(message: &str) -> (&str, &str) {
    let message = message.trim();
    match message.split_once(char::is_whitespace) {
        Some((header, rest)) => (header, rest.trim()),
        None => (message, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_numbers_with_and_without_units() {
        let r = parse_number(b"+1.2345E+01 MBAR\r").unwrap();
        assert_eq!((r.value, r.unit), (12.345, Some("mbar")));
        let r = parse_number(b"21.5CEL").unwrap();
        assert_eq!((r.value, r.unit), (21.5, Some("°C")));
        assert_eq!(
            parse_number(b"-3").unwrap(),
            Reading {
                value: -3.0,
                unit: None
            }
        );
        assert_eq!(parse_number(b" 0.5 ").unwrap().value, 0.5);
        assert!(matches!(
            parse_number(b"9.91E37"),
            Err(ScpiError::Undefined { .. })
        ));
        assert!(matches!(
            parse_number(b"+9.9E+37 MBAR"),
            Err(ScpiError::Undefined { .. })
        ));
        assert!(matches!(
            parse_number(b"NAN"),
            Err(ScpiError::Undefined { .. })
        ));
        assert!(matches!(
            parse_number(b"12 FURLONG"),
            Err(ScpiError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_number(b"abc"),
            Err(ScpiError::NotANumber { .. })
        ));
        assert!(matches!(parse_number(b""), Err(ScpiError::Empty)));
        assert!(matches!(
            parse_number(b"\x01\x02"),
            Err(ScpiError::NotPrintable)
        ));
    }

    #[test]
    fn formats_nr3_as_instruments_do() {
        assert_eq!(format_nr3(12.345), "+1.23450E+01");
        assert_eq!(format_nr3(-0.001), "-1.00000E-03");
        assert_eq!(format_nr3(0.0), "+0.00000E+00");
    }

    #[test]
    fn parses_identities_and_error_entries() {
        let id = parse_identity(b"qbench, SIM-PM ,PM-0001,0.1.0\r").unwrap();
        assert_eq!(id.model, "SIM-PM");
        assert_eq!(id.serial, "PM-0001");
        assert!(matches!(
            parse_identity(b"a,b"),
            Err(ScpiError::Identity { fields: 2 })
        ));
        let e = parse_error_entry(b"-113,\"Undefined header\"").unwrap();
        assert_eq!((e.code, e.message.as_str()), (-113, "Undefined header"));
        assert!(parse_error_entry(b"+0,\"No error\"").unwrap().is_no_error());
        assert_eq!(parse_error_entry(b"0").unwrap().code, 0);
        let e = parse_error_entry(b"-222,\"say \"\"hi\"\"\"").unwrap();
        assert_eq!(e.message, "say \"hi\"");
        assert!(parse_error_entry(b"oops").is_err());
        assert!(parse_error_entry(b"-1,unquoted").is_err());
    }

    #[test]
    fn headers_match_short_and_long_forms() {
        let spec = "MEASure:PRESsure:PEAK?";
        assert!(header_matches(spec, "MEAS:PRES:PEAK?"));
        assert!(header_matches(spec, ":measure:pressure:peak?"));
        assert!(header_matches(spec, "Meas:Pressure:PEAK?"));
        assert!(!header_matches(spec, "MEAS:PRES:PEAK"));
        assert!(!header_matches(spec, "MEA:PRES:PEAK?"));
        assert!(!header_matches(spec, "MEAS:PRES?"));
        assert!(header_matches("*IDN?", "*idn?"));
        assert_eq!(split_header("SOUR:PRES  5.5 "), ("SOUR:PRES", "5.5"));
        assert_eq!(split_header("*RST"), ("*RST", ""));
    }

    #[test]
    fn encodes_printable_messages_only() {
        assert_eq!(encode("*IDN?").unwrap(), b"*IDN?\n");
        assert!(encode("A\nB").is_err());
        assert!(encode("").is_err());
        assert!(is_query("SYST:ERR?") && !is_query("*RST"));
    }

    proptest! {
        #[test]
        fn nr3_numbers_round_trip_with_any_known_suffix(
            value in -1e30f64..1e30,
            suffix in proptest::sample::select(UNIT_SUFFIXES.iter().map(|(s, _)| *s).collect::<Vec<_>>()),
            space in any::<bool>(),
            lower in any::<bool>(),
        ) {
            let suffix = if lower { suffix.to_ascii_lowercase() } else { suffix.to_string() };
            let text = format!("{}{}{}", format_nr3(value), if space { " " } else { "" }, suffix);
            let r = parse_number(text.as_bytes()).unwrap();
            let tolerance = value.abs() * 1e-5 + 1e-300;
            prop_assert!((r.value - value).abs() <= tolerance, "{} -> {}", text, r.value);
            prop_assert_eq!(r.unit, unit_of_suffix(&suffix));
        }

        #[test]
        fn plain_decimals_parse_exactly(value in any::<i64>(), frac in 0u32..1000) {
            let text = format!("{value}.{frac:03}");
            let expected: f64 = text.parse().unwrap();
            prop_assert_eq!(parse_number(text.as_bytes()).unwrap().value, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse_number(&bytes);
            let _ = parse_identity(&bytes);
            let _ = parse_error_entry(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            let _ = header_matches("MEASure:PRESsure?", &text);
            let _ = split_header(&text);
            let _ = encode(&text);
        }
    }
}
