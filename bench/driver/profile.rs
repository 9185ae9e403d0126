//! Driver `profile`: any simple line-based ASCII instrument described by a device profile
//! (`fixtures/profiles/*.yaml`, see `protocol/profile.rs`), used from procedures without Rust.
//!
//! Options: `profile` (the profile's path, relative to the directory qbench runs in;
//! required), `retries` (identity and quantity queries asked again after a timeout, a wrong
//! checksum or an answer that does not fit its pattern, 0 unless stated; commands are never
//! repeated). Each retry is noted ([`Driver::take_notes`]).
//!
//! An answer matching the profile's `error` pattern is `InstrumentRefused`; one that fits
//! neither is a protocol error naming the pattern expected. A setting's argument is
//! converted to the profile's unit and checked against `min`/`max` before it is sent.

use super::common::{bad_option, unsupported};
use super::retry::{is_transient, pause_before};
use super::scpi_pressure_meter::retries;
use super::{Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity};
use crate::link::ByteLink;
use crate::procedure::ValidationError;
use crate::protocol::profile::{self, Captures, Exchange, Pattern, Profile, parse_profile};
use crate::units::Quantity;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const NAME: &str = "profile";

/// What `profile` offers without its profile: nothing fixed; the profile names it all.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "profile",
    settings: &[],
    actions: &[],
    quantities: &[],
    events: &[],
};

/// Reads and validates the device profile at `path`.
pub fn load_profile(path: &Path) -> Result<Profile, ValidationError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ValidationError::new(
            path.to_path_buf(),
            String::new(),
            vec![crate::procedure::Diagnostic {
                line: 0,
                column: 0,
                message: format!("cannot read the profile: {e}"),
            }],
        )
    })?;
    parse_profile(path, &text)
}

/// An instrument driven by its profile.
pub(crate) struct ProfileDriver {
    /// `profile:<profile name>`, naming the instrument in errors.
    driver: String,
    profile: Profile,
    link: Box<dyn ByteLink>,
    timeout: Duration,
    retries: u32,
    notes: Vec<String>,
    resync: bool,
}

/// Opens the driver: loads and validates the profile (sends nothing).
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    if let Some(unknown) = options
        .keys()
        .find(|k| !matches!(k.as_str(), "profile" | "retries"))
    {
        return Err(bad_option(
            NAME,
            unknown,
            "unknown option (known: profile, retries)",
        ));
    }
    let path = options.get("profile").ok_or_else(|| {
        bad_option(
            NAME,
            "profile",
            "required: the path of a device profile (fixtures/profiles/x.yaml)",
        )
    })?;
    let profile = load_profile(Path::new(path.trim()))
        .map_err(|e| bad_option(NAME, "profile", format!("invalid profile\n{e}")))?;
    let retries = retries(NAME, options.get("retries").map(|s| s.trim()))?;
    Ok(Box::new(ProfileDriver::new(profile, link, retries)))
}

impl ProfileDriver {
    pub(crate) fn new(profile: Profile, link: Box<dyn ByteLink>, retries: u32) -> Self {
        let timeout = link.command_timeout();
        ProfileDriver {
            driver: format!("{NAME}:{}", profile.name),
            profile,
            link,
            timeout,
            retries,
            notes: Vec::new(),
            resync: false,
        }
    }

    fn fail(&self, kind: DriverErrorKind) -> DriverError {
        DriverError::new(&self.driver, kind)
    }

    /// Sends `message` and matches the answer against `expect` (no answer awaited when the
    /// exchange expects none).
    fn exchange_once(
        &mut self,
        message: &str,
        expect: Option<&Pattern>,
    ) -> Result<Captures, DriverError> {
        if self.resync {
            self.link
                .discard_input()
                .map_err(|e| self.fail(DriverErrorKind::Link(e)))?;
            self.resync = false;
        }
        let bytes = profile::frame(message, self.profile.terminator, self.profile.checksum);
        self.link
            .send(&bytes)
            .map_err(|e| self.fail(DriverErrorKind::Link(e)))?;
        let Some(expect) = expect else {
            return Ok(Captures::default());
        };
        let line = match self
            .link
            .receive_until(self.profile.terminator.last(), self.timeout)
        {
            Ok(line) => line,
            Err(e) => {
                self.resync = true;
                return Err(self.fail(DriverErrorKind::Link(e)));
            }
        };
        let protocol_error = |expected: String| DriverErrorKind::Protocol {
            expected,
            received: String::from_utf8_lossy(&line).into_owned(),
        };
        let text = match profile::unframe(&line, self.profile.checksum) {
            Ok(text) => text,
            Err(e) => {
                self.resync = true;
                return Err(self.fail(protocol_error(format!(
                    "an answer to `{message}` with a valid checksum ({e})"
                ))));
            }
        };
        if let Some(error) = &self.profile.error
            && error.matches(&text).is_some()
        {
            return Err(self.fail(DriverErrorKind::InstrumentRefused { reply: text }));
        }
        match expect.matches(&text) {
            Some(c) => Ok(c),
            None => {
                self.resync = true;
                Err(self.fail(protocol_error(format!(
                    "an answer to `{message}` matching `{}`",
                    expect.source()
                ))))
            }
        }
    }

    /// A query: retried after transient failures, each retry noted.
    fn query(&mut self, exchange: &Exchange) -> Result<Captures, DriverError> {
        let message = exchange.send.render(0.0);
        let mut attempt = 0;
        loop {
            match self.exchange_once(&message, exchange.expect.as_ref()) {
                Err(e) if attempt < self.retries && is_transient(&e) => {
                    attempt += 1;
                    std::thread::sleep(pause_before(attempt));
                    self.notes.push(format!(
                        "retry {attempt} of `{message}` after: {}",
                        crate::runner::error_chain(&e)
                    ));
                }
                Err(e) => return Err(e),
                Ok(c) => {
                    if attempt > 0 {
                        self.notes
                            .push(format!("`{message}` succeeded after {attempt} retries"));
                    }
                    return Ok(c);
                }
            }
        }
    }

    fn known(&self, what: &str, names: Vec<&String>) -> DriverError {
        let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
        unsupported(
            &self.driver,
            format!(
                "{what} (the profile names: {})",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            ),
        )
    }
}

impl Driver for ProfileDriver {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let exchange = self.profile.identity.clone();
        let c = self.query(&exchange)?;
        let field = |n: &str| c.texts.get(n).cloned().unwrap_or_default();
        Ok(Identity {
            manufacturer: field("manufacturer"),
            model: field("model"),
            serial: field("serial"),
            firmware: field("firmware"),
        })
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let Some(def) = self.profile.settings.get(name).cloned() else {
            return Err(self.known(
                &format!("setting `{name}`"),
                self.profile.settings.keys().collect(),
            ));
        };
        let converted = value.to_unit(&def.unit).map_err(|source| {
            self.fail(DriverErrorKind::BadValue {
                name: name.to_string(),
                source: Box::new(source),
            })
        })?;
        let v = super::common::round_significant(converted.value, 9);
        let below = def
            .min
            .as_ref()
            .is_some_and(|m| converted.si_value() < m.si_value() * (1.0 - 1e-12));
        let above = def
            .max
            .as_ref()
            .is_some_and(|m| converted.si_value() > m.si_value() * (1.0 + 1e-12));
        if below || above {
            let show =
                |q: &Option<Quantity>| q.as_ref().map_or("…".to_string(), ToString::to_string);
            return Err(self.fail(DriverErrorKind::OutOfRange {
                name: name.to_string(),
                value: value.to_string(),
                range: format!("{} to {}", show(&def.min), show(&def.max)),
            }));
        }
        let message = def.exchange.send.render(v);
        let c = self.exchange_once(&message, def.exchange.expect.as_ref())?;
        let back = c.numbers.get("value").copied().unwrap_or(v);
        Ok(Quantity::new(back, def.unit.clone()))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        let Some(exchange) = self.profile.actions.get(action).cloned() else {
            return Err(self.known(
                &format!("action `{action}`"),
                self.profile.actions.keys().collect(),
            ));
        };
        let message = exchange.send.render(0.0);
        self.exchange_once(&message, exchange.expect.as_ref())
            .map(|_| ())
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some(def) = self.profile.quantities.get(quantity).cloned() else {
            return Err(self.known(
                &format!("quantity `{quantity}`"),
                self.profile.quantities.keys().collect(),
            ));
        };
        let c = self.query(&def.exchange)?;
        def.value(&c).ok_or_else(|| {
            self.fail(DriverErrorKind::NotDefined {
                quantity: quantity.to_string(),
            })
        })
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(
            &self.driver,
            format!("event {event:?} (profiles describe none)"),
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        match self.profile.actions.get("safe").cloned() {
            Some(_) => self.act("safe"),
            None => Ok(()),
        }
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;
    use crate::link::LinkErrorKind;
    use crate::units::parse_quantity;

    const PROFILE: &str = "profile: th\nkind: thermohygrometer\nline: { terminator: cr, checksum: xor_hex }\nidentity: { query: I, response: \"ID {manufacturer:word} {model:word} {serial:word} {firmware:text}\" }\nerror: \"ERR {message:text}\"\nquantities:\n  temperature: { query: T, response: \"T={value} C\", unit: °C }\n  humidity_fraction: { query: H, response: \"H={value} %RH\", unit: \"1\", scale: 0.01 }\nsettings:\n  averaging_time: { command: \"AVG {value:int}\", response: \"AVG={value} s\", unit: s, min: 1 s, max: 60 s }\nactions:\n  hold: { command: HOLD, response: OK }\n";

    fn with_sum(body: &str) -> String {
        format!("{body}*{}", profile::xor_hex(body.as_bytes()))
    }

    fn driver(
        replies: &[String],
        retries: u32,
    ) -> (Box<dyn Driver>, crate::driver::fake_link::FakeLog) {
        let replies: Vec<&str> = replies.iter().map(String::as_str).collect();
        let (link, log) = FakeLink::new(&replies);
        let profile = parse_profile(Path::new("th.yaml"), PROFILE).unwrap();
        (
            Box::new(ProfileDriver::new(profile, Box::new(link), retries)),
            log,
        )
    }

    #[test]
    fn runs_the_profile() {
        let replies = [
            with_sum("ID qbench TH-1 TH-7 1.0"),
            with_sum("T=21.50 C"),
            with_sum("H=40.0 %RH"),
            with_sum("AVG=10 s"),
            with_sum("OK"),
        ];
        let (mut d, log) = driver(&replies, 0);
        let id = d.identify().unwrap();
        assert_eq!((id.model.as_str(), id.serial.as_str()), ("TH-1", "TH-7"));
        assert_eq!(d.read("temperature").unwrap().value, 21.5);
        assert!((d.read("humidity_fraction").unwrap().value - 0.4).abs() < 1e-12);
        let back = d
            .set("averaging_time", &parse_quantity("10000 ms").unwrap())
            .unwrap();
        assert_eq!((back.value, back.unit.symbol()), (10.0, "s"));
        d.act("hold").unwrap();
        assert_eq!(log.sent()[0], "I*49\r");
        assert_eq!(log.sent()[3], format!("{}\r", with_sum("AVG 10")));
    }

    #[test]
    fn refusals_ranges_checksums_and_patterns_are_typed_errors() {
        let replies = [
            with_sum("ERR range"),
            "T=1 C*00".to_string(),
            with_sum("Q=1"),
        ];
        let (mut d, log) = driver(&replies, 0);
        let err = d
            .set("averaging_time", &parse_quantity("2 min").unwrap())
            .unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::OutOfRange { .. }),
            "{err}"
        );
        assert!(
            log.sent().is_empty(),
            "nothing is sent for an out-of-range value"
        );
        let err = d
            .set("averaging_time", &parse_quantity("5 s").unwrap())
            .unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::InstrumentRefused { .. }),
            "{err}"
        );
        let err = d.read("temperature").unwrap_err();
        assert!(err.to_string().contains("profile:th"), "{err}");
        assert!(format!("{:?}", err.kind).contains("checksum"), "{err:?}");
        let err = d.read("temperature").unwrap_err();
        assert!(format!("{:?}", err.kind).contains("T={value} C"), "{err:?}");
        let err = d.read("pressure").unwrap_err();
        assert!(
            err.to_string().contains("humidity_fraction, temperature"),
            "{err}"
        );
    }

    #[test]
    fn retries_recover_and_are_noted() {
        let (link, _) = FakeLink::new(&[]);
        let link = link
            .then_fail(LinkErrorKind::Timeout)
            .then_reply(&with_sum("T=20.00 C"));
        let profile = parse_profile(Path::new("th.yaml"), PROFILE).unwrap();
        let mut d = ProfileDriver::new(profile, Box::new(link), 1);
        assert_eq!(d.read("temperature").unwrap().value, 20.0);
        let notes = d.take_notes();
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn options_are_checked() {
        let (link, _) = FakeLink::new(&[]);
        assert!(open(Box::new(link), &BTreeMap::new()).is_err());
        let (link, _) = FakeLink::new(&[]);
        let o: BTreeMap<String, String> =
            [("profile".to_string(), "/nonexistent.yaml".to_string())].into();
        let err = open(Box::new(link), &o).err().expect("refused");
        assert!(err.to_string().contains("bad option `profile`"), "{err}");
    }
}
