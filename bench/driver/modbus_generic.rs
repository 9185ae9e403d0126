//! Driver `modbus`: any Modbus device, its registers and coils named in the fixture.
//!
//! | option              | meaning                                                         |
//! |---------------------|-----------------------------------------------------------------|
//! | `read.<quantity>`   | a point: `<table> <address> [<type>] [order=…] [scale=…] [offset=…] [unit=…]` |
//! | `write.<setting>`   | a holding register or coil point the setting is written to      |
//! | `action.<name>`     | `coil <address> on` or `coil <address> off`                     |
//! | `unit_id`           | the device's unit identifier (1 unless stated)                   |
//! | `framing`           | `rtu` (serial lines, default) or `tcp` (Ethernet devices)         |
//! | `retries`           | reads asked again after a timeout or a bad frame (0)             |
//!
//! Tables are `input`, `holding`, `coil`, `discrete`; types `u16` (default), `i16`, `u32`,
//! `i32`, `f32`; word orders `high_first` (default) or `low_first`. The physical value is
//! raw × scale + offset, in `unit`. Identity: Modbus has no standard one, so `identify`
//! returns the `identity.*` options (`identity.model`, `identity.serial`), or, with
//! `read.serial_number`, the serial read from the device.

use super::common::{bad_option, convert, unit, unsupported};
use super::modbus_client::{Framing, ModbusClient, Point, Table};
use super::scpi_pressure_meter::retries;
use super::{Condition, DeviceEvent, Driver, DriverError, DriverSpec, Identity};
use crate::link::ByteLink;
use crate::units::{Quantity, Unit};
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "modbus";

/// What `modbus` offers without its fixture: nothing fixed.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "modbus_device",
    settings: &[],
    actions: &[],
    quantities: &[],
    events: &[],
};

/// A Modbus device described by fixture options.
pub(crate) struct ModbusGeneric {
    client: ModbusClient,
    reads: BTreeMap<String, Point>,
    writes: BTreeMap<String, Point>,
    actions: BTreeMap<String, (Point, bool)>,
    identity: Identity,
}

/// Opens the driver, checking every option (sends nothing).
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let mut reads = BTreeMap::new();
    let mut writes = BTreeMap::new();
    let mut actions = BTreeMap::new();
    let mut identity = Identity::default();
    for (key, value) in options {
        let bad = |reason: String| bad_option(NAME, key, reason);
        if let Some(name) = key.strip_prefix("read.") {
            reads.insert(name.to_string(), Point::parse(value).map_err(bad)?);
        } else if let Some(name) = key.strip_prefix("write.") {
            let p = Point::parse(value).map_err(bad)?;
            if !matches!(p.table, Table::Holding | Table::Coil) {
                return Err(bad("only holding registers and coils can be written".into()));
            }
            writes.insert(name.to_string(), p);
        } else if let Some(name) = key.strip_prefix("action.") {
            let (point, state) = value
                .rsplit_once(' ')
                .and_then(|(p, s)| Some((Point::parse(p).ok()?, matches!(s, "on" | "1" | "true"))))
                .filter(|(p, _)| p.table == Table::Coil)
                .ok_or_else(|| bad(format!("`{value}` is not `coil <address> on|off`")))?;
            actions.insert(name.to_string(), (point, state));
        } else if let Some(field) = key.strip_prefix("identity.") {
            match field {
                "manufacturer" => identity.manufacturer = value.clone(),
                "model" => identity.model = value.clone(),
                "serial" => identity.serial = value.clone(),
                "firmware" => identity.firmware = value.clone(),
                _ => {
                    return Err(bad(
                        "identity fields: manufacturer, model, serial, firmware".into(),
                    ));
                }
            }
        } else if !matches!(key.as_str(), "unit_id" | "framing" | "retries") {
            return Err(bad(
                "unknown option (known: read.<q>, write.<s>, action.<a>, identity.<field>, unit_id, framing, retries)".into(),
            ));
        }
    }
    let unit_id = match options.get("unit_id") {
        None => 1,
        Some(t) => t
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|u| (1..=247).contains(u))
            .ok_or_else(|| {
                bad_option(
                    NAME,
                    "unit_id",
                    format!("`{t}` is not a unit from 1 to 247"),
                )
            })?,
    };
    let framing = Framing::from_option(NAME, options.get("framing").map(|s| s.trim()))?;
    let retries = retries(NAME, options.get("retries").map(|s| s.trim()))?;
    Ok(Box::new(ModbusGeneric {
        client: ModbusClient::new(NAME, link, unit_id, framing, retries),
        reads,
        writes,
        actions,
        identity,
    }))
}

fn unit_of(p: &Point) -> Result<Unit, DriverError> {
    if p.unit.is_empty() {
        Ok(Unit::one())
    } else {
        unit(NAME, &p.unit)
    }
}

impl Driver for ModbusGeneric {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let mut identity = self.identity.clone();
        if let Some(p) = self.reads.get("serial_number").cloned() {
            identity.serial = format!("{}", self.client.read_point(&p)?);
        }
        Ok(identity)
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let Some(p) = self.writes.get(name).cloned() else {
            let known: Vec<&str> = self.writes.keys().map(String::as_str).collect();
            return Err(unsupported(
                NAME,
                format!("setting `{name}` (the fixture names: {})", known.join(", ")),
            ));
        };
        let v = if p.unit.is_empty() {
            value.value
        } else {
            convert(NAME, name, value, &p.unit)?
        };
        let back = self.client.write_point(name, &p, v)?;
        Ok(Quantity::new(back, unit_of(&p)?))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        let Some((p, on)) = self.actions.get(action).cloned() else {
            let known: Vec<&str> = self.actions.keys().map(String::as_str).collect();
            return Err(unsupported(
                NAME,
                format!(
                    "action `{action}` (the fixture names: {})",
                    known.join(", ")
                ),
            ));
        };
        self.client
            .write_point(action, &p, f64::from(u8::from(on)))
            .map(|_| ())
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some(p) = self.reads.get(quantity).cloned() else {
            let known: Vec<&str> = self.reads.keys().map(String::as_str).collect();
            return Err(unsupported(
                NAME,
                format!(
                    "quantity `{quantity}` (the fixture names: {})",
                    known.join(", ")
                ),
            ));
        };
        let v = self.client.read_point(&p)?;
        Ok(Quantity::new(v, unit_of(&p)?))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(NAME, format!("event {event:?}")))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        match self.actions.get("safe").cloned() {
            Some(_) => self.act("safe"),
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
