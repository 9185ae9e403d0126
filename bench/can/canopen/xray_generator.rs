//! A [`Driver`] for a CANopen X-ray generator with the object dictionary of qbench's
//! simulated generator (`docs/can.md`): set kV, mA, exposure time or mAs; prepare, expose,
//! idle; read the actual values of the last exposure.
//!
//! Until the driver stage has a CAN error kind, CANopen errors are mapped onto the existing
//! [`DriverErrorKind`]s: a lost node or adapter is a disconnected link named after the node,
//! an unanswered SDO a link timeout, an SDO abort the instrument refusing (with the abort's
//! meaning), a protocol breach a protocol error.

use super::{CanOpenClient, CanOpenError, Emergency, NmtCommand, NmtState};
use crate::can::CanError;
use crate::driver::{
    Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity,
    QuantitySpec, SettingSpec,
};
use crate::link::{LinkError, LinkErrorKind};
use crate::units::{Quantity, parse_unit};
use std::time::{Duration, Instant};

/// The driver's name in fixtures.
pub const NAME: &str = "canopen-xray-generator";

/// What the driver offers.
pub const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "xray_generator",
    settings: &[
        SettingSpec {
            name: "tube_voltage",
            unit: "kV",
            description: "tube voltage, 40 to 150 kV in 0.1 kV steps",
        },
        SettingSpec {
            name: "tube_current",
            unit: "mA",
            description: "tube current, 0.1 to 1000 mA in 0.1 mA steps",
        },
        SettingSpec {
            name: "exposure_time",
            unit: "ms",
            description: "exposure time, 1 ms to 10 s in 1 µs steps",
        },
        SettingSpec {
            name: "current_time_product",
            unit: "mAs",
            description: "current-time product; sets the time for the present current",
        },
    ],
    actions: &["prepare", "expose", "idle"],
    quantities: &[
        QuantitySpec {
            name: "actual_tube_voltage",
            unit: "kV",
            description: "tube voltage of the last exposure",
        },
        QuantitySpec {
            name: "actual_tube_current",
            unit: "mA",
            description: "tube current of the last exposure",
        },
        QuantitySpec {
            name: "actual_exposure_time",
            unit: "ms",
            description: "duration of the last exposure",
        },
        QuantitySpec {
            name: "actual_current_time_product",
            unit: "mAs",
            description: "current-time product of the last exposure",
        },
        QuantitySpec {
            name: "exposure_count",
            unit: "",
            description: "exposures since the tube was installed",
        },
    ],
    events: &[],
};

/// (setting, subindex of 2000h, bytes, raw units per instrument unit).
const SETTINGS: [(&str, u8, usize, f64); 4] = [
    ("tube_voltage", 1, 2, 10.0),
    ("tube_current", 2, 2, 10.0),
    ("exposure_time", 3, 4, 1000.0),
    ("current_time_product", 4, 4, 1000.0),
];

/// (quantity, subindex of 2010h, raw units per instrument unit).
const ACTUALS: [(&str, u8, f64); 5] = [
    ("actual_tube_voltage", 1, 1000.0),
    ("actual_tube_current", 2, 1000.0),
    ("actual_exposure_time", 3, 1000.0),
    ("actual_current_time_product", 4, 1000.0),
    ("exposure_count", 5, 1.0),
];

/// A CANopen X-ray generator on one node.
pub struct XrayGeneratorDriver {
    client: CanOpenClient,
    node: u8,
    command_timeout: Duration,
}

impl XrayGeneratorDriver {
    /// Takes the generator on `node` into operation: watches its heartbeat (lost after
    /// `heartbeat_timeout` of silence), starts it and waits until it reports operational.
    pub fn open(
        mut client: CanOpenClient,
        node: u8,
        heartbeat_timeout: Duration,
        command_timeout: Duration,
    ) -> Result<XrayGeneratorDriver, DriverError> {
        client
            .watch_heartbeat(node, heartbeat_timeout)
            .map_err(|e| map(node, e))?;
        client
            .nmt(NmtCommand::Start, node)
            .map_err(|e| map(node, e))?;
        client
            .wait_for_state(
                node,
                NmtState::Operational,
                heartbeat_timeout + command_timeout,
            )
            .map_err(|e| map(node, e))?;
        Ok(XrayGeneratorDriver {
            client,
            node,
            command_timeout,
        })
    }

    /// EMCY messages received since the last call, for the journal.
    pub fn drain_emergencies(&mut self) -> Vec<Emergency> {
        self.client.drain_emergencies()
    }

    fn err(&self, e: CanOpenError) -> DriverError {
        map(self.node, e)
    }

    fn controlword(&mut self, word: u16) -> Result<(), DriverError> {
        self.client
            .write_u16(self.node, 0x2001, 0, word)
            .map_err(|e| self.err(e))
    }

    fn statusword(&mut self) -> Result<u16, DriverError> {
        self.client
            .read_u16(self.node, 0x2002, 0)
            .map_err(|e| self.err(e))
    }
}

/// Maps a CANopen error onto the driver stage's kinds (see the module documentation).
pub fn map(node: u8, e: CanOpenError) -> DriverError {
    let port = format!("CAN node {node}");
    let link = |kind, detail: String| DriverErrorKind::Link(LinkError::new(kind, &port, detail));
    let kind = match &e {
        CanOpenError::Bus(CanError::Timeout { .. }) | CanOpenError::SdoTimeout { .. } => {
            link(LinkErrorKind::Timeout, e.to_string())
        }
        CanOpenError::Bus(bus) if bus.is_disconnected() => {
            link(LinkErrorKind::Disconnected, bus.to_string())
        }
        CanOpenError::NodeLost { .. } | CanOpenError::StateTimeout { .. } => {
            link(LinkErrorKind::Disconnected, e.to_string())
        }
        CanOpenError::Bus(bus) => link(LinkErrorKind::Io, bus.to_string()),
        CanOpenError::SdoAborted { .. } => DriverErrorKind::InstrumentRefused {
            reply: e.to_string(),
        },
        _ => DriverErrorKind::Protocol {
            expected: "a CANopen answer".into(),
            received: e.to_string(),
        },
    };
    DriverError::new(NAME, kind)
}

fn unsupported(what: String) -> DriverError {
    DriverError::new(NAME, DriverErrorKind::Unsupported { what })
}

fn quantity(value: f64, unit: &str) -> Result<Quantity, DriverError> {
    let unit = parse_unit(unit).map_err(|e| {
        DriverError::new(
            NAME,
            DriverErrorKind::BadValue {
                name: unit.to_string(),
                source: Box::new(e),
            },
        )
    })?;
    Ok(Quantity::new(value, unit))
}

impl Driver for XrayGeneratorDriver {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let n = self.node;
        let c = &mut self.client;
        let ident = (|| {
            Ok::<_, CanOpenError>(Identity {
                manufacturer: format!("vendor {:08X}h", c.read_u32(n, 0x1018, 1)?),
                model: c.read_string(n, 0x1008, 0)?,
                serial: c.read_u32(n, 0x1018, 4)?.to_string(),
                firmware: c.read_string(n, 0x100A, 0)?,
            })
        })();
        ident.map_err(|e| map(n, e))
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let Some((_, sub, bytes, per_unit)) = SETTINGS.iter().find(|(s, ..)| *s == name) else {
            return Err(unsupported(format!("setting `{name}`")));
        };
        let spec = SPEC
            .settings
            .iter()
            .find(|s| s.name == name)
            .map_or("", |s| s.unit);
        let target = quantity(0.0, spec)?.unit;
        let v = value.to_unit(&target).map_err(|e| {
            DriverError::new(
                NAME,
                DriverErrorKind::BadValue {
                    name: name.to_string(),
                    source: Box::new(e),
                },
            )
        })?;
        let raw = (v.value * per_unit).round();
        if !(0.0..=f64::from(u32::MAX)).contains(&raw) {
            return Err(self.err(CanOpenError::SdoAborted {
                node: self.node,
                direction: "download",
                object: super::sdo::ObjectAddress {
                    index: 0x2000,
                    subindex: *sub,
                },
                abort: super::SdoAbort::TOO_HIGH,
            }));
        }
        let (n, c) = (self.node, &mut self.client);
        let back = if *bytes == 2 {
            c.write_u16(n, 0x2000, *sub, raw as u16)
                .and_then(|()| c.read_u16(n, 0x2000, *sub).map(f64::from))
        } else {
            c.write_u32(n, 0x2000, *sub, raw as u32)
                .and_then(|()| c.read_u32(n, 0x2000, *sub).map(f64::from))
        }
        .map_err(|e| map(n, e))?;
        quantity(back / per_unit, spec)
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        match action {
            "prepare" => self.controlword(1),
            "idle" => self.controlword(0),
            "expose" => {
                // Expose and wait for the end: the set time (simulated benches run faster)
                // plus the command timeout for the node to report it.
                let time_us = self
                    .client
                    .read_u32(self.node, 0x2000, 3)
                    .map_err(|e| self.err(e))?;
                self.controlword(2)?;
                let deadline = Instant::now()
                    + Duration::from_micros(u64::from(time_us))
                    + self.command_timeout;
                loop {
                    if self.statusword()? & 0x04 != 0 {
                        return Ok(());
                    }
                    if Instant::now() >= deadline {
                        return Err(DriverError::new(
                            NAME,
                            DriverErrorKind::NoEvent {
                                event: "end of exposure".into(),
                                waited_ms: (Duration::from_micros(u64::from(time_us))
                                    + self.command_timeout)
                                    .as_millis(),
                            },
                        ));
                    }
                    self.client
                        .poll(Duration::from_millis(2))
                        .map_err(|e| map(self.node, e))?;
                }
            }
            other => Err(unsupported(format!(
                "action `{other}` (known: prepare, expose, idle)"
            ))),
        }
    }

    fn read(&mut self, name: &str) -> Result<Quantity, DriverError> {
        let Some((_, sub, per_unit)) = ACTUALS.iter().find(|(q, ..)| *q == name) else {
            return Err(unsupported(format!("quantity `{name}`")));
        };
        let raw = self
            .client
            .read_u32(self.node, 0x2010, *sub)
            .map_err(|e| self.err(e))?;
        let unit = SPEC
            .quantities
            .iter()
            .find(|q| q.name == name)
            .map_or("", |q| q.unit);
        quantity(f64::from(raw) / per_unit, unit)
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(format!("event {event:?}")))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        // Idle ends any preparation; pre-operational stops PDOs. A node that cannot be
        // reached is reported: the operator must know the generator may not be safe.
        self.controlword(0)?;
        self.client
            .nmt(NmtCommand::EnterPreOperational, self.node)
            .map_err(|e| self.err(e))
    }

    /// EMCY messages the node sent since last asked: the runner journals them.
    fn take_notes(&mut self) -> Vec<String> {
        self.client
            .drain_emergencies()
            .iter()
            .map(|e| format!("EMCY {e}"))
            .collect()
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }
}
