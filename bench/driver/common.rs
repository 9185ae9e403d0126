//! Helpers shared by the drivers: option checking, unit conversion, and the line-protocol
//! conversation used by every qbench service port.

use super::{DriverError, DriverErrorKind};
use crate::link::ByteLink;
use crate::protocol::line_ascii::{self, Reply, Request};
use crate::units::{Quantity, Unit, parse_quantity, parse_unit};
use std::collections::BTreeMap;
use std::time::Duration;

/// A driver's fixture options, checked against the names it knows.
pub(crate) struct Options<'a> {
    driver: &'static str,
    options: &'a BTreeMap<String, String>,
}

impl<'a> Options<'a> {
    /// Refuses any option not in `known`, naming the known ones.
    pub(crate) fn new(
        driver: &'static str,
        options: &'a BTreeMap<String, String>,
        known: &[&str],
    ) -> Result<Self, DriverError> {
        if let Some(unknown) = options.keys().find(|k| !known.contains(&k.as_str())) {
            let reason = if known.is_empty() {
                "this driver takes no options".to_string()
            } else {
                format!("unknown option (known: {})", known.join(", "))
            };
            return Err(bad_option(driver, unknown, reason));
        }
        Ok(Options { driver, options })
    }

    /// The raw text of an option.
    pub(crate) fn text(&self, name: &str) -> Option<&'a str> {
        self.options.get(name).map(|s| s.trim())
    }

    /// A boolean option (`true`/`false`, `yes`/`no`, `on`/`off`).
    pub(crate) fn flag(&self, name: &str, default: bool) -> Result<bool, DriverError> {
        match self.text(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "yes" | "on" | "1") => Ok(true),
            Some("false" | "no" | "off" | "0") => Ok(false),
            Some(other) => Err(bad_option(
                self.driver,
                name,
                format!("`{other}` is not a boolean (true or false)"),
            )),
        }
    }

    /// A duration option written as a quantity literal (`200 us`, `10 ms`).
    pub(crate) fn duration(&self, name: &str, default: Duration) -> Result<Duration, DriverError> {
        let Some(text) = self.text(name) else {
            return Ok(default);
        };
        let bad = |reason: String| bad_option(self.driver, name, reason);
        let q = parse_quantity(text).map_err(|e| bad(e.to_string()))?;
        let seconds = q
            .to_unit(&Unit::new("s", 1.0, time_dimension()))
            .map_err(|e| bad(e.to_string()))?;
        if !(seconds.value > 0.0 && seconds.value <= 60.0) {
            return Err(bad(format!("`{text}` is not between 0 and 60 s")));
        }
        Ok(Duration::from_secs_f64(seconds.value))
    }
}

fn time_dimension() -> crate::units::Dimension {
    crate::units::Dimension([0, 0, 1, 0, 0, 0])
}

/// A `BadOption` error.
pub(crate) fn bad_option(driver: &str, option: &str, reason: impl Into<String>) -> DriverError {
    DriverError::new(
        driver,
        DriverErrorKind::BadOption {
            option: option.to_string(),
            reason: reason.into(),
        },
    )
}

/// An `Unsupported` error.
pub(crate) fn unsupported(driver: &str, what: impl Into<String>) -> DriverError {
    DriverError::new(driver, DriverErrorKind::Unsupported { what: what.into() })
}

/// A `Protocol` error.
pub(crate) fn protocol(driver: &str, expected: impl Into<String>, received: &[u8]) -> DriverError {
    DriverError::new(
        driver,
        DriverErrorKind::Protocol {
            expected: expected.into(),
            received: String::from_utf8_lossy(received).into_owned(),
        },
    )
}

/// The unit with `symbol`, which the driver's own table provides.
pub(crate) fn unit(driver: &str, symbol: &str) -> Result<Unit, DriverError> {
    parse_unit(symbol).map_err(|e| unsupported(driver, format!("unit `{symbol}`: {e}")))
}

/// `value` in the instrument's unit `symbol`, or `BadValue` naming both units.
pub(crate) fn convert(
    driver: &str,
    name: &str,
    value: &Quantity,
    symbol: &str,
) -> Result<f64, DriverError> {
    let target = unit(driver, symbol)?;
    let converted = value.to_unit(&target).map_err(|source| {
        DriverError::new(
            driver,
            DriverErrorKind::BadValue {
                name: name.to_string(),
                source: Box::new(source),
            },
        )
    })?;
    Ok(round_significant(converted.value, 9))
}

/// `v` rounded to `digits` significant digits.
///
/// Unit conversion leaves binary noise (0.5 L is 500.00000000000006 mL); no instrument
/// resolves nine digits, and the noise would otherwise reach the wire.
pub(crate) fn round_significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let magnitude = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(digits - 1 - magnitude);
    let rounded = (v * scale).round() / scale;
    if rounded.is_finite() { rounded } else { v }
}

/// One conversation over a qbench service port: request, one reply line, checked.
pub(crate) struct LineClient {
    pub(crate) driver: &'static str,
    link: Box<dyn ByteLink>,
    checksum: bool,
    timeout: Duration,
    /// Set after a timeout or garbage: stale bytes may follow, so the next request first
    /// discards input. Not done on every request, to spare a system call per query.
    resync: bool,
}

impl LineClient {
    pub(crate) fn new(driver: &'static str, link: Box<dyn ByteLink>, checksum: bool) -> Self {
        let timeout = link.command_timeout();
        LineClient {
            driver,
            link,
            checksum,
            timeout,
            resync: false,
        }
    }

    /// Sends `request` and returns its reply; an `ERR` reply is `InstrumentRefused`.
    pub(crate) fn exchange(&mut self, request: &Request) -> Result<Reply, DriverError> {
        let link_err = |e| DriverError::new(self.driver, DriverErrorKind::Link(e));
        if self.resync {
            self.link.discard_input().map_err(link_err)?;
            self.resync = false;
        }
        self.link
            .send(&request.encode(self.checksum))
            .map_err(link_err)?;
        let line = match self
            .link
            .receive_until(line_ascii::TERMINATOR, self.timeout)
        {
            Ok(line) => line,
            Err(e) => {
                self.resync = true;
                return Err(DriverError::new(self.driver, DriverErrorKind::Link(e)));
            }
        };
        match line_ascii::parse_reply(&line, self.checksum) {
            Ok(Reply::Err { code, text }) => Err(DriverError::new(
                self.driver,
                DriverErrorKind::InstrumentRefused {
                    reply: format!("ERR {code} {text}"),
                },
            )),
            Ok(reply) => Ok(reply),
            Err(e) => {
                self.resync = true;
                Err(protocol(
                    self.driver,
                    format!("a reply to `{}` ({e})", request.body()),
                    &line,
                ))
            }
        }
    }

    /// Sends `request` and expects `STATE <state>`.
    pub(crate) fn expect_state(
        &mut self,
        request: &Request,
        state: &str,
    ) -> Result<(), DriverError> {
        match self.exchange(request)? {
            Reply::State(s) if s == state => Ok(()),
            other => Err(protocol(
                self.driver,
                format!("`STATE {state}`"),
                other.body().as_bytes(),
            )),
        }
    }

    /// `ID?` as an [`Identity`](super::Identity).
    pub(crate) fn identify(&mut self) -> Result<super::Identity, DriverError> {
        match self.exchange(&Request::Identify)? {
            Reply::Identity {
                maker,
                model,
                serial,
                firmware,
            } => Ok(super::Identity {
                manufacturer: maker,
                model,
                serial,
                firmware,
            }),
            other => Err(protocol(
                self.driver,
                "`ID maker,model,serial,firmware`",
                other.body().as_bytes(),
            )),
        }
    }

    /// `SET <param> <value>` and the value the device reports in force.
    pub(crate) fn set_number(&mut self, param: &str, value: f64) -> Result<f64, DriverError> {
        let request = Request::Set {
            param: param.to_string(),
            value: line_ascii::Value::Number(value),
        };
        match self.exchange(&request)? {
            Reply::Ok {
                param: p,
                value: line_ascii::Value::Number(v),
            } if p == param => Ok(v),
            other => Err(protocol(
                self.driver,
                format!("`OK {param} <number>`"),
                other.body().as_bytes(),
            )),
        }
    }

    /// `GET <param>` as a number.
    pub(crate) fn get_number(&mut self, param: &str) -> Result<f64, DriverError> {
        match self.exchange(&Request::Get {
            param: param.to_string(),
        })? {
            Reply::Val {
                param: p,
                value: line_ascii::Value::Number(v),
            } if p == param => Ok(v),
            other => Err(protocol(
                self.driver,
                format!("`VAL {param} <number>`"),
                other.body().as_bytes(),
            )),
        }
    }
}

/// Where a named setting or quantity goes on a line-protocol device.
pub(crate) struct Parameter {
    /// The name in procedures.
    pub(crate) name: &'static str,
    /// The parameter on the wire.
    pub(crate) wire: &'static str,
    /// The unit the device works in.
    pub(crate) unit: &'static str,
}

/// The parameter called `name`, or `Unsupported` listing the known ones.
pub(crate) fn find_parameter<'p>(
    driver: &str,
    table: &'p [Parameter],
    kind: &str,
    name: &str,
) -> Result<&'p Parameter, DriverError> {
    table.iter().find(|p| p.name == name).ok_or_else(|| {
        let known: Vec<&str> = table.iter().map(|p| p.name).collect();
        unsupported(
            driver,
            format!("{kind} `{name}` (known: {})", known.join(", ")),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn unknown_options_name_the_known_ones() {
        let o = opts(&[("modle", "PF-300")]);
        let err = Options::new("d", &o, &["model", "checksum"])
            .err()
            .expect("refused");
        assert!(err.to_string().contains("model, checksum"), "{err}");
    }

    #[test]
    fn rounding_strips_conversion_noise() {
        assert_eq!(round_significant(500.00000000000006, 9), 500.0);
        assert_eq!(round_significant(0.123456789123, 9), 0.123456789);
        assert_eq!(round_significant(-2.5, 9), -2.5);
        assert_eq!(round_significant(0.0, 9), 0.0);
    }

    #[test]
    fn parses_flags_and_durations() {
        let o = opts(&[
            ("checksum", "true"),
            ("poll_interval", "200 us"),
            ("bad", "5 mL"),
        ]);
        let options = Options::new("d", &o, &["checksum", "poll_interval", "bad"]).unwrap();
        assert!(options.flag("checksum", false).unwrap());
        let d = options.duration("poll_interval", Duration::ZERO).unwrap();
        assert_eq!(d, Duration::from_micros(200));
        assert!(options.duration("bad", Duration::ZERO).is_err());
        assert_eq!(
            options
                .duration("absent", Duration::from_millis(3))
                .unwrap(),
            Duration::from_millis(3)
        );
    }
}
