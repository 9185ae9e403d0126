//! Driver `scpi`: any SCPI / IEEE 488.2 instrument, its commands named in the fixture.
//!
//! The fixture maps procedure names to SCPI messages with options:
//!
//! | option              | meaning                                                        |
//! |---------------------|----------------------------------------------------------------|
//! | `read.<quantity>`   | the query answering `<quantity>` (`MEAS:PRES?`)                 |
//! | `set.<setting>`     | the command setting it, `{value}` standing for the number       |
//! | `readback.<setting>`| a query answering the value in force (else the sent value)      |
//! | `unit.<name>`       | unit of a setting or quantity: values are sent in it, bare      |
//! |                     | answers are taken in it, answers with a suffix are converted    |
//! | `action.<name>`     | the command performing an action (`INIT`, `OUTP ON`)            |
//! | `safe`              | the command bringing the instrument to its safe state           |
//! | `retries`, `reset`  | as for every SCPI driver (see `scpi_client.rs`)                 |
//!
//! Identity comes from `*IDN?`. Every message is followed by draining `SYST:ERR?`; any
//! entry fails the step and reaches the journal through [`Driver::take_notes`].

use super::common::{bad_option, convert, round_significant, unit, unsupported};
use super::scpi_client::ScpiClient;
use super::scpi_pressure_meter::retries;
use super::{Condition, DeviceEvent, Driver, DriverError, DriverSpec, Identity};
use crate::link::ByteLink;
use crate::units::{Quantity, parse_unit};
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "scpi";

/// What `scpi` offers without its fixture: nothing fixed; the options name it all.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "scpi_instrument",
    settings: &[],
    actions: &[],
    quantities: &[],
    events: &[],
};

/// A SCPI instrument described by fixture options.
pub(crate) struct ScpiGeneric {
    client: ScpiClient,
    options: BTreeMap<String, String>,
}

/// Opens the driver, checking every option name and unit.
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    for (key, value) in options {
        let known_prefix = ["read.", "set.", "readback.", "unit.", "action."]
            .iter()
            .any(|p| key.starts_with(p) && key.len() > p.len());
        if !(known_prefix || matches!(key.as_str(), "safe" | "retries" | "reset")) {
            return Err(bad_option(
                NAME,
                key,
                "unknown option (known: read.<quantity>, set.<setting>, readback.<setting>, unit.<name>, action.<name>, safe, retries, reset)",
            ));
        }
        if let Some(name) = key.strip_prefix("unit.")
            && let Err(e) = parse_unit(value)
        {
            return Err(bad_option(NAME, key, format!("unit of `{name}`: {e}")));
        }
        if key.starts_with("set.") && !value.contains("{value}") {
            return Err(bad_option(
                NAME,
                key,
                "a setting's command must contain `{value}` where the number goes",
            ));
        }
    }
    let retries = retries(NAME, options.get("retries").map(|s| s.trim()))?;
    let reset = match options.get("reset").map(|s| s.trim()) {
        None | Some("false" | "no" | "off") => false,
        Some("true" | "yes" | "on") => true,
        Some(other) => {
            return Err(bad_option(
                NAME,
                "reset",
                format!("`{other}` is not a boolean (true or false)"),
            ));
        }
    };
    let mut client = ScpiClient::new(NAME, link, retries);
    if reset {
        client.reset()?;
    }
    Ok(Box::new(ScpiGeneric {
        client,
        options: options.clone(),
    }))
}

impl ScpiGeneric {
    fn option(&self, kind: &str, name: &str) -> Result<&str, DriverError> {
        let prefix = format!("{kind}.");
        self.options
            .get(&format!("{prefix}{name}"))
            .map(String::as_str)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .options
                    .keys()
                    .filter_map(|k| k.strip_prefix(prefix.as_str()))
                    .collect();
                let kind_word = match kind {
                    "read" => "quantity",
                    "set" => "setting",
                    other => other,
                };
                unsupported(
                    NAME,
                    format!(
                        "{kind_word} `{name}` (the fixture names: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })
    }

    fn unit_of(&self, name: &str) -> Option<&str> {
        self.options
            .get(&format!("unit.{name}"))
            .map(String::as_str)
    }

    fn read_query(&mut self, query: &str, name: &str) -> Result<Quantity, DriverError> {
        let reading = self.client.query_number(query, name)?;
        let declared = self.unit_of(name).map(str::to_string);
        match (reading.unit, declared) {
            (Some(answered), Some(declared)) => {
                let q = Quantity::new(reading.value, unit(NAME, answered)?);
                let v = convert(NAME, name, &q, &declared)?;
                Ok(Quantity::new(v, unit(NAME, &declared)?))
            }
            (Some(answered), None) => Ok(Quantity::new(reading.value, unit(NAME, answered)?)),
            (None, Some(declared)) => Ok(Quantity::new(reading.value, unit(NAME, &declared)?)),
            (None, None) => Ok(Quantity::new(reading.value, crate::units::Unit::one())),
        }
    }
}

impl Driver for ScpiGeneric {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        self.client.identify()
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let template = self.option("set", name)?.to_string();
        let (number, in_unit) = match self.unit_of(name).map(str::to_string) {
            Some(u) => (convert(NAME, name, value, &u)?, unit(NAME, &u)?),
            None => (round_significant(value.value, 9), value.unit.clone()),
        };
        let message = template.replace("{value}", &number.to_string());
        self.client.command(&message)?;
        match self.options.get(&format!("readback.{name}")).cloned() {
            Some(query) => self.read_query(&query, name),
            None => Ok(Quantity::new(number, in_unit)),
        }
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        let message = self.option("action", action)?.to_string();
        self.client.command(&message)
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let query = self.option("read", quantity)?.to_string();
        self.read_query(&query, quantity)
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(NAME, format!("event {event:?}")))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        match self.options.get("safe").cloned() {
            Some(message) => self.client.command(&message),
            None => Ok(()),
        }
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.client.take_notes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;
    use crate::units::parse_quantity;

    const OK: &str = "0,\"No error\"";

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_sets_and_acts_as_the_fixture_names() {
        let (link, log) = FakeLink::new(&[OK, "+2.00000E+00 KPA", OK, OK, "4.5", OK, OK]);
        let o = options(&[
            ("read.pressure", "MEAS:PRES?"),
            ("unit.pressure", "hPa"),
            ("set.target", "SOUR:PRES {value}"),
            ("unit.target", "hPa"),
            ("readback.target", "SOUR:PRES?"),
            ("action.vent", "SOUR:VENT"),
        ]);
        let mut d = open(Box::new(link), &o).unwrap();
        assert_eq!(d.read("pressure").unwrap().value, 20.0);
        let back = d
            .set("target", &parse_quantity("0.45 kPa").unwrap())
            .unwrap();
        assert_eq!((back.value, back.unit.symbol()), (4.5, "hPa"));
        d.act("vent").unwrap();
        let sent = log.sent();
        assert!(sent.contains(&"SOUR:PRES 4.5\n".to_string()), "{sent:?}");
        assert!(sent.contains(&"SOUR:VENT\n".to_string()), "{sent:?}");
        let err = d.read("flow").unwrap_err();
        assert!(err.to_string().contains("pressure"), "{err}");
    }

    #[test]
    fn refuses_unknown_options_bad_units_and_templates_without_value() {
        let (link, _) = FakeLink::new(&[]);
        assert!(open(Box::new(link), &options(&[("raed.x", "A?")])).is_err());
        let (link, _) = FakeLink::new(&[]);
        assert!(open(Box::new(link), &options(&[("unit.x", "furlong")])).is_err());
        let (link, _) = FakeLink::new(&[]);
        assert!(open(Box::new(link), &options(&[("set.x", "SOUR:PRES")])).is_err());
    }
}
