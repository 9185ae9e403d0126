//! Driver `qbench-pressure-meter`: a reference pressure meter speaking SCPI, used beside the
//! flow analyzer as a second pressure reference in pressure and PEEP qualifications.
//!
//! | quantity           | query               | meaning                                   |
//! |--------------------|---------------------|-------------------------------------------|
//! | `pressure`         | `MEAS:PRES?`        | airway pressure now (gauge)               |
//! | `peak_pressure`    | `MEAS:PRES:PEAK?`   | highest pressure of the last breath       |
//! | `plateau_pressure` | `MEAS:PRES:PLAT?`   | end-inspiratory pressure of the last breath |
//! | `peep`             | `MEAS:PRES:PEEP?`   | end-expiratory pressure                   |
//!
//! Answers carry a unit suffix (`+1.23450E+01 MBAR`); the driver converts them to hPa and
//! refuses an answer in a unit of another dimension. A bare number is taken in the unit of
//! the `unit` option (mbar unless stated). Action `zero` sends `SENS:PRES:ZERO` (the port
//! must be open to the atmosphere). Options: `retries` (queries asked again after a timeout
//! or a garbled answer, 0 unless stated), `reset` (`*RST` when opening, false unless stated),
//! `unit`. Every command is followed by draining the error queue (see `scpi_client.rs`).

use super::common::{Options, bad_option, convert, unit, unsupported};
use super::scpi_client::ScpiClient;
use super::{Condition, DeviceEvent, Driver, DriverError, DriverSpec, Identity, QuantitySpec};
use crate::link::ByteLink;
use crate::units::{Quantity, parse_unit};
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "qbench-pressure-meter";

/// The unit the driver reports in.
const UNIT: &str = "hPa";

const QUERIES: &[(&str, &str)] = &[
    ("pressure", "MEAS:PRES?"),
    ("peak_pressure", "MEAS:PRES:PEAK?"),
    ("plateau_pressure", "MEAS:PRES:PLAT?"),
    ("peep", "MEAS:PRES:PEEP?"),
];

/// What `qbench-pressure-meter` offers.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "pressure_meter",
    settings: &[],
    actions: &["zero"],
    quantities: &[
        QuantitySpec {
            name: "pressure",
            unit: UNIT,
            description: "airway pressure now (gauge)",
        },
        QuantitySpec {
            name: "peak_pressure",
            unit: UNIT,
            description: "peak pressure of the last breath",
        },
        QuantitySpec {
            name: "plateau_pressure",
            unit: UNIT,
            description: "plateau pressure of the last breath",
        },
        QuantitySpec {
            name: "peep",
            unit: UNIT,
            description: "positive end-expiratory pressure",
        },
    ],
    events: &[],
};

/// A SCPI reference pressure meter.
pub(crate) struct PressureMeter {
    client: ScpiClient,
    /// Unit of bare numbers.
    bare_unit: &'static str,
}

/// Opens the driver; sends `*RST` only with `reset: true`.
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let options = Options::new(NAME, options, &["retries", "reset", "unit"])?;
    let retries = retries(NAME, options.text("retries"))?;
    let bare_unit = match options.text("unit") {
        None => "mbar",
        Some(text) => match crate::protocol::scpi::unit_of_suffix(text).or_else(|| {
            ["hPa", "mbar", "Pa", "kPa", "cmH2O"]
                .into_iter()
                .find(|u| *u == text)
        }) {
            Some(u) if parse_unit(u).is_ok_and(|u| u.dimension() == pressure_dim()) => u,
            _ => {
                return Err(bad_option(
                    NAME,
                    "unit",
                    format!("`{text}` is not a pressure unit (hPa, mbar, Pa, kPa, cmH2O)"),
                ));
            }
        },
    };
    let mut client = ScpiClient::new(NAME, link, retries);
    if options.flag("reset", false)? {
        client.reset()?;
    }
    Ok(Box::new(PressureMeter { client, bare_unit }))
}

fn pressure_dim() -> crate::units::Dimension {
    crate::units::Dimension([-1, 1, -2, 0, 0, 0])
}

/// The `retries` option: a small count.
pub(crate) fn retries(driver: &'static str, text: Option<&str>) -> Result<u32, DriverError> {
    match text {
        None => Ok(0),
        Some(t) => match t.parse::<u32>() {
            Ok(n) if n <= 10 => Ok(n),
            _ => Err(bad_option(
                driver,
                "retries",
                format!("`{t}` is not a count from 0 to 10"),
            )),
        },
    }
}

impl Driver for PressureMeter {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        self.client.identify()
    }

    fn set(&mut self, name: &str, _value: &Quantity) -> Result<Quantity, DriverError> {
        Err(unsupported(
            NAME,
            format!("setting `{name}` (a pressure meter has none)"),
        ))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        match action {
            "zero" => self.client.command("SENS:PRES:ZERO"),
            other => Err(unsupported(NAME, format!("action `{other}` (known: zero)"))),
        }
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some((_, query)) = QUERIES.iter().find(|(q, _)| *q == quantity) else {
            let known: Vec<&str> = QUERIES.iter().map(|(q, _)| *q).collect();
            return Err(unsupported(
                NAME,
                format!("quantity `{quantity}` (known: {})", known.join(", ")),
            ));
        };
        let reading = self.client.query_number(query, quantity)?;
        let answered = Quantity::new(
            reading.value,
            unit(NAME, reading.unit.unwrap_or(self.bare_unit))?,
        );
        let value = convert(NAME, quantity, &answered, UNIT)?;
        Ok(Quantity::new(value, unit(NAME, UNIT)?))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("event {event:?} (a pressure meter signals none)"),
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(vec![Condition {
            name: "pressure_reference".into(),
            value: "gauge (relative to ambient)".into(),
        }])
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.client.take_notes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::DriverErrorKind;
    use crate::driver::fake_link::FakeLink;

    const OK: &str = "0,\"No error\"";

    #[test]
    fn converts_answers_with_units_to_hpa() {
        let (link, log) = FakeLink::new(&[OK, "+1.00000E+01 CMH2O", OK, "12.5", OK]);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        let p = d.read("pressure").unwrap();
        assert!((p.value - 9.80665).abs() < 1e-9, "{p}");
        assert_eq!(p.unit.symbol(), "hPa");
        assert_eq!(d.read("peep").unwrap().value, 12.5);
        assert!(log.sent().contains(&"MEAS:PRES:PEEP?\n".to_string()));
    }

    #[test]
    fn refuses_a_unit_of_another_dimension_and_unknown_quantities() {
        let (link, _) = FakeLink::new(&[OK, "+2.0E+01 CEL", OK]);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        let err = d.read("pressure").unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::BadValue { .. }),
            "{err}"
        );
        let err = d.read("flow").unwrap_err();
        assert!(err.to_string().contains("peak_pressure"), "{err}");
        let bad: BTreeMap<String, String> = [("unit".to_string(), "mL".to_string())].into();
        let (link, _) = FakeLink::new(&[]);
        assert!(open(Box::new(link), &bad).is_err());
    }
}
