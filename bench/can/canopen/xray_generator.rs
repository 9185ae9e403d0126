//! A [`Driver`] for a CANopen X-ray generator with the object dictionary of qbench's
//! simulated generator (`docs/can.md`): set kV, mA, exposure time or mAs; prepare, expose,
//! idle; read the actual values of the last exposure.
//!
//! PDOs declared in the fixture's options (`pdo_options.rs`) add quantities read from the
//! latest transmit PDO, and send settings in a receive PDO instead of by SDO (each read back
//! over SDO): `tpdo.pdo_tube_voltage: "TPDO1 2012h.1 scale=0.01 unit=kV"`, `rpdo.tube_voltage:
//! "RPDO1 0:16 2000h.1 scale=0.1 unit=kV"`. A TPDO entry naming only its object is placed by
//! the node's own mapping, read over SDO (1800h/1A00h) when the driver opens.
//!
//! Until the driver stage has a CAN error kind, CANopen errors are mapped onto the existing
//! [`DriverErrorKind`]s: a lost node or adapter is a disconnected link named after the node,
//! an unanswered SDO a link timeout, an SDO abort the instrument refusing (with the abort's
//! meaning), a protocol breach a protocol error.

use super::pdo::write_bits;
use super::pdo_options::{PdoEntry, PdoOptions, PdoRef, pdo_options};
use super::{CanOpenClient, CanOpenError, Emergency, NmtCommand, NmtState, PdoMapping, PdoSignal};
use crate::can::CanError;
use crate::driver::{
    Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity,
    QuantitySpec, SettingSpec,
};
use crate::link::{LinkError, LinkErrorKind};
use crate::units::Quantity;
use std::collections::BTreeMap;
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
    /// Quantities read from transmit PDOs, by name: the PDO's COB-ID.
    tpdo: BTreeMap<String, u16>,
    /// Settings sent in receive PDOs, by name.
    rpdo: BTreeMap<String, PdoEntry>,
    /// The raw value last sent (or read at opening) of each RPDO entry, by setting.
    rpdo_raw: BTreeMap<String, u64>,
}

impl XrayGeneratorDriver {
    /// Takes the generator on `node` into operation: watches its heartbeat (lost after
    /// `heartbeat_timeout` of silence), starts it and waits until it reports operational;
    /// then sets up the PDOs `options` declare (see the module documentation).
    pub fn open(
        mut client: CanOpenClient,
        node: u8,
        heartbeat_timeout: Duration,
        command_timeout: Duration,
        options: &BTreeMap<String, String>,
    ) -> Result<XrayGeneratorDriver, DriverError> {
        let pdos = check_options(options).map_err(|problems| {
            let first = problems.first();
            crate::driver::DriverError::new(
                NAME,
                DriverErrorKind::BadOption {
                    option: first.map_or(String::new(), |p| p.option.clone()),
                    reason: first.map_or(String::new(), |p| p.message.clone()),
                },
            )
        })?;
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
        let mut driver = XrayGeneratorDriver {
            client,
            node,
            command_timeout,
            tpdo: BTreeMap::new(),
            rpdo: BTreeMap::new(),
            rpdo_raw: BTreeMap::new(),
        };
        driver.set_up_pdos(pdos)?;
        Ok(driver)
    }

    /// Declares the TPDO mappings to the client (placing entries by the node's own mapping
    /// where they name only an object) and reads the present value of every RPDO entry.
    fn set_up_pdos(&mut self, pdos: PdoOptions) -> Result<(), DriverError> {
        let node = self.node;
        let mut read: BTreeMap<u8, PdoMapping> = BTreeMap::new();
        let mut mappings: BTreeMap<u16, Vec<PdoSignal>> = BTreeMap::new();
        for e in pdos.tpdo {
            let (bit_offset, bit_length) = match (e.bits, e.object, e.pdo) {
                (Some(bits), ..) => bits,
                (None, Some((index, subindex)), PdoRef::Tpdo(n)) => {
                    if let std::collections::btree_map::Entry::Vacant(slot) = read.entry(n) {
                        let m = self
                            .client
                            .read_tpdo_mapping(node, n)
                            .map_err(|err| map(node, err))?;
                        slot.insert(m);
                    }
                    let m = &read[&n];
                    let found = m
                        .signals
                        .iter()
                        .find(|s| s.index == index && s.subindex == subindex);
                    let Some(s) = found else {
                        let mapped: Vec<String> =
                            m.signals.iter().map(|s| s.name.replace('_', ".")).collect();
                        return Err(DriverError::new(
                            NAME,
                            DriverErrorKind::BadOption {
                                option: format!("tpdo.{}", e.name),
                                reason: format!(
                                    "node {node} does not map {index:04X}h.{subindex} in TPDO{n} (it maps {})",
                                    mapped.join(", ")
                                ),
                            },
                        ));
                    };
                    (s.bit_offset, s.bit_length)
                }
                _ => unreachable_entry(&e)?,
            };
            let (index, subindex) = e.object.unwrap_or((0, 0));
            mappings.entry(e.cob_id(node)).or_default().push(PdoSignal {
                name: e.name.clone(),
                index,
                subindex,
                bit_offset,
                bit_length,
                signed: e.signed,
                scale: e.scale,
                offset: e.offset,
                unit: e.unit.clone(),
            });
            let cob_id = e.cob_id(node);
            self.tpdo.insert(e.name, cob_id);
        }
        for (cob_id, signals) in mappings {
            self.client
                .add_pdo_mapping(PdoMapping { cob_id, signals })
                .map_err(|err| map(node, err))?;
        }
        for e in pdos.rpdo {
            let (index, sub) = e.object.unwrap_or((0, 0));
            let bytes = self
                .client
                .sdo_upload(node, index, sub)
                .map_err(|err| map(node, err))?;
            self.rpdo_raw.insert(e.name.clone(), little_endian(&bytes));
            self.rpdo.insert(e.name.clone(), e);
        }
        Ok(())
    }

    /// Sends `name` in its receive PDO (with the other settings of that PDO as last sent)
    /// and reads the object back over SDO.
    fn set_by_rpdo(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let Some(e) = self.rpdo.get(name).cloned() else {
            return Err(unsupported(format!("setting `{name}` by RPDO")));
        };
        let unit = quantity(0.0, &e.unit)?.unit;
        let v = value.to_unit(&unit).map_err(|err| {
            DriverError::new(
                NAME,
                DriverErrorKind::BadValue {
                    name: name.to_string(),
                    source: Box::new(err),
                },
            )
        })?;
        let (_, bits) = e.bits.unwrap_or((0, 64));
        let raw = ((v.value - e.offset) / e.scale).round();
        let (lo, hi) = if e.signed {
            (
                -(2f64.powi(i32::from(bits) - 1)),
                2f64.powi(i32::from(bits) - 1) - 1.0,
            )
        } else {
            (0.0, 2f64.powi(i32::from(bits)) - 1.0)
        };
        if !(lo..=hi).contains(&raw) {
            return Err(DriverError::new(
                NAME,
                DriverErrorKind::OutOfRange {
                    name: name.to_string(),
                    value: format!("{} {}", v.value, e.unit),
                    range: format!(
                        "{} to {} {} ({bits} bits of RPDO {:03X}h)",
                        lo * e.scale + e.offset,
                        hi * e.scale + e.offset,
                        e.unit,
                        e.cob_id(self.node)
                    ),
                },
            ));
        }
        self.rpdo_raw.insert(name.to_string(), raw as i64 as u64);
        let cob_id = e.cob_id(self.node);
        let same: Vec<&PdoEntry> = self
            .rpdo
            .values()
            .filter(|x| x.cob_id(self.node) == cob_id)
            .collect();
        let end = same
            .iter()
            .filter_map(|x| x.bits)
            .map(|(o, b)| usize::from(o) + usize::from(b))
            .max()
            .unwrap_or(0);
        let mut data = vec![0u8; end.div_ceil(8)];
        for x in same {
            if let (Some((o, b)), Some(raw)) = (x.bits, self.rpdo_raw.get(&x.name)) {
                write_bits(&mut data, usize::from(o), usize::from(b), *raw);
            }
        }
        let (n, (index, sub)) = (self.node, e.object.unwrap_or((0, 0)));
        self.client
            .send_pdo(cob_id, &data)
            .map_err(|err| map(n, err))?;
        // The SDO request follows the PDO on the bus, so the node has processed it.
        let back = self
            .client
            .sdo_upload(n, index, sub)
            .map_err(|err| map(n, err))?;
        let raw = little_endian(&back);
        let value = if e.signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
            (raw | (u64::MAX << bits)) as i64 as f64
        } else {
            raw as f64
        };
        quantity(value * e.scale + e.offset, &e.unit)
    }

    /// The latest value of a quantity carried in a TPDO; waits for one PDO if none came yet.
    fn read_tpdo(&mut self, name: &str, cob_id: u16) -> Result<Quantity, DriverError> {
        let n = self.node;
        self.client.check_heartbeats().map_err(|e| map(n, e))?;
        if self.client.latest(name).is_none() {
            self.client
                .await_pdo(cob_id, self.command_timeout)
                .map_err(|e| map(n, e))?;
        }
        self.client.latest(name).cloned().ok_or_else(|| {
            DriverError::new(
                NAME,
                DriverErrorKind::NotDefined {
                    quantity: name.to_string(),
                },
            )
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

/// Checks the fixture options (PDO entries of the driver's settings and quantities, `emcy`).
pub fn check_options(
    options: &BTreeMap<String, String>,
) -> Result<PdoOptions, Vec<crate::can::dbc_device::OptionProblem>> {
    let settings: Vec<(&str, &str)> = SPEC.settings.iter().map(|s| (s.name, s.unit)).collect();
    let quantities: Vec<(&str, &str)> = SPEC.quantities.iter().map(|q| (q.name, q.unit)).collect();
    pdo_options(options, &settings, &quantities)
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

/// An unsigned little-endian number of up to 8 bytes.
fn little_endian(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

/// An entry the options parser would have refused (a TPDO entry without bits, by COB-ID).
fn unreachable_entry(e: &PdoEntry) -> Result<(u16, u8), DriverError> {
    Err(DriverError::new(
        NAME,
        DriverErrorKind::BadOption {
            option: format!("tpdo.{}", e.name),
            reason: "give the bits (`0:16`)".into(),
        },
    ))
}

fn unsupported(what: String) -> DriverError {
    DriverError::new(NAME, DriverErrorKind::Unsupported { what })
}

/// `value` in the unit `symbol` of this driver's table.
fn quantity(value: f64, symbol: &str) -> Result<Quantity, DriverError> {
    Ok(Quantity::new(
        value,
        crate::driver::common::unit(NAME, symbol)?,
    ))
}

impl Driver for XrayGeneratorDriver {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let n = self.node;
        self.client.identity(n).map_err(|e| map(n, e))
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        if self.rpdo.contains_key(name) {
            return self.set_by_rpdo(name, value);
        }
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
        if let Some(cob_id) = self.tpdo.get(name).copied() {
            return self.read_tpdo(name, cob_id);
        }
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

    /// EMCY messages the node sent since last asked: the runner journals each as an event.
    fn take_emergencies(&mut self) -> Vec<Emergency> {
        self.client.drain_emergencies()
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }
}
