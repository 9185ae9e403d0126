//! Driver `qbench-room-sensor`: a room-condition sensor on Modbus (RTU on a serial line, TCP
//! on Ethernet), giving the ambient conditions a flow qualification records beside its
//! results and uses to state volumes at reference conditions.
//!
//! Quantities `temperature` (°C), `humidity` (%), `barometric_pressure` (hPa), read as f32
//! input registers 0–1, 2–3, 4–5 (high word first), or with `registers: scaled` from the
//! scaled integers 10, 11, 12 (0.01 °C, 0.01 %, 0.1 hPa). Setting `averaging` (samples, holding
//! register 0). Actions `heater_on`, `heater_off` (coil 0). Identity: serial number from
//! input registers 20–21 (u32, low word first), firmware from 22 (× 100).
//! Options: `unit_id` (1), `framing` (`rtu` or `tcp`), `registers` (`float` or `scaled`),
//! `retries` (0).

use super::common::{Options, bad_option, convert, unit, unsupported};
use super::modbus_client::{Framing, ModbusClient, Point, Table};
use super::scpi_pressure_meter::retries;
use super::{
    Condition, DeviceEvent, Driver, DriverError, DriverSpec, Identity, QuantitySpec, SettingSpec,
};
use crate::link::ByteLink;
use crate::protocol::modbus::{DataType, WordOrder, decode_value};
use crate::units::Quantity;
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "qbench-room-sensor";

/// What `qbench-room-sensor` offers.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "room_conditions",
    settings: &[SettingSpec {
        name: "averaging",
        unit: "1",
        description: "samples averaged per reading (1 to 100)",
    }],
    actions: &["heater_on", "heater_off"],
    quantities: &[
        QuantitySpec {
            name: "temperature",
            unit: "°C",
            description: "room temperature",
        },
        QuantitySpec {
            name: "humidity",
            unit: "%",
            description: "relative humidity",
        },
        QuantitySpec {
            name: "barometric_pressure",
            unit: "hPa",
            description: "barometric (absolute) pressure",
        },
    ],
    events: &[],
};

fn point(table: Table, address: u16, data_type: DataType, scale: f64, unit: &str) -> Point {
    Point {
        table,
        address,
        data_type,
        order: WordOrder::HighFirst,
        scale,
        offset: 0.0,
        unit: unit.into(),
    }
}

/// A Modbus room-condition sensor.
pub(crate) struct RoomSensor {
    client: ModbusClient,
    points: Vec<(&'static str, Point)>,
}

/// Opens the driver (sends nothing).
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let options = Options::new(
        NAME,
        options,
        &["unit_id", "framing", "registers", "retries"],
    )?;
    let unit_id = match options.text("unit_id") {
        None => 1,
        Some(t) => t
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
    let framing = Framing::from_option(NAME, options.text("framing"))?;
    let points = match options.text("registers") {
        None | Some("float") => vec![
            (
                "temperature",
                point(Table::Input, 0, DataType::F32, 1.0, "°C"),
            ),
            ("humidity", point(Table::Input, 2, DataType::F32, 1.0, "%")),
            (
                "barometric_pressure",
                point(Table::Input, 4, DataType::F32, 1.0, "hPa"),
            ),
        ],
        Some("scaled") => vec![
            (
                "temperature",
                point(Table::Input, 10, DataType::I16, 0.01, "°C"),
            ),
            (
                "humidity",
                point(Table::Input, 11, DataType::U16, 0.01, "%"),
            ),
            (
                "barometric_pressure",
                point(Table::Input, 12, DataType::U16, 0.1, "hPa"),
            ),
        ],
        Some(other) => {
            return Err(bad_option(
                NAME,
                "registers",
                format!("`{other}` (expected float or scaled)"),
            ));
        }
    };
    let retries = retries(NAME, options.text("retries"))?;
    Ok(Box::new(RoomSensor {
        client: ModbusClient::new(NAME, link, unit_id, framing, retries),
        points,
    }))
}

impl Driver for RoomSensor {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let regs = self.client.read_registers(Table::Input, 20, 3)?;
        let serial = decode_value(DataType::U32, WordOrder::LowFirst, &regs[..2]).unwrap_or(0.0);
        Ok(Identity {
            manufacturer: "qbench".into(),
            model: "SIM-ROOM".into(),
            serial: format!("{serial}"),
            firmware: format!("{:.2}", f64::from(regs[2]) / 100.0),
        })
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        if name != "averaging" {
            return Err(unsupported(
                NAME,
                format!("setting `{name}` (known: averaging)"),
            ));
        }
        let v = convert(NAME, name, value, "1")?;
        let p = point(Table::Holding, 0, DataType::U16, 1.0, "1");
        let back = self.client.write_point(name, &p, v)?;
        Ok(Quantity::new(back, unit(NAME, "1")?))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        let on = match action {
            "heater_on" => 1.0,
            "heater_off" => 0.0,
            other => {
                return Err(unsupported(
                    NAME,
                    format!("action `{other}` (known: heater_on, heater_off)"),
                ));
            }
        };
        let p = point(Table::Coil, 0, DataType::U16, 1.0, "1");
        self.client.write_point(action, &p, on).map(|_| ())
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some((_, p)) = self.points.iter().find(|(n, _)| *n == quantity).cloned() else {
            return Err(unsupported(
                NAME,
                format!(
                    "quantity `{quantity}` (known: temperature, humidity, barometric_pressure)"
                ),
            ));
        };
        let v = self.client.read_point(&p)?;
        Ok(Quantity::new(v, unit(NAME, &p.unit)?))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("event {event:?} (the sensor signals none)"),
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.client.take_notes()
    }
}
