//! Opening the bench: the simulated devices if the fixture uses them, every link, every
//! driver, and the identity and calibration checks that come before anything moves.

use super::{RunError, error_chain};
use crate::driver::{Driver, Identity, open_driver};
use crate::fixture::{Fixture, InstrumentConfig, MANUAL_DRIVER, SIM_PORT_PREFIX};
use crate::journal::InstrumentReady;
use crate::link::LinkSettings;
use crate::procedure::Procedure;
use crate::sim::SimBench;
use std::collections::BTreeMap;
use std::path::Path;

/// How qbench reaches an instrument.
pub enum Handle {
    /// Through its driver.
    Driver(Box<dyn Driver>),
    /// Through the operator: commands become instructions, readings become entries.
    Manual,
}

/// One open instrument.
pub struct Instrument {
    /// How to reach it.
    pub handle: Handle,
    /// The fixture's declaration.
    pub config: InstrumentConfig,
}

/// The open bench: instruments by role, and the simulated devices behind them, if any.
pub struct Bench {
    /// Instruments by role, in role order.
    pub instruments: BTreeMap<String, Instrument>,
    /// The simulated bench; dropped (stopped) after the instruments.
    pub simulator: Option<SimBench>,
}

/// Checks that `fixture` provides every role of `procedure`: an instrument of the right kind,
/// offering every capability the role needs.
pub fn check_roles(procedure: &Procedure, fixture: &Fixture) -> Result<(), RunError> {
    for (role, needed) in &procedure.roles {
        let not_provided = |reason: String| RunError::RoleNotProvided {
            role: role.clone(),
            reason,
        };
        let Some(config) = fixture.instruments.get(role) else {
            return Err(not_provided(format!(
                "fixture `{}` binds no instrument to it",
                fixture.name
            )));
        };
        if config.kind != needed.kind {
            return Err(not_provided(format!(
                "the procedure needs a {} but the fixture binds a {} (driver `{}`)",
                needed.kind, config.kind, config.driver
            )));
        }
        if config.driver == MANUAL_DRIVER {
            if needed.capabilities.iter().any(|c| c == "breath") {
                return Err(not_provided(
                    "it must signal breaths, which an instrument operated by hand cannot".into(),
                ));
            }
            continue;
        }
        // What the driver offers as configured (a profile's commands, a SCPI or Modbus
        // instrument's declared points, or a built-in driver's specification).
        let offered =
            crate::driver::capabilities(&config.driver, &config.options, Some(&config.kind))
                .map_err(|e| {
                    not_provided(format!("driver `{}`: {}", config.driver, error_chain(&e)))
                })?
                .names();
        if let Some(missing) = needed.capabilities.iter().find(|c| !offered.contains(c)) {
            return Err(not_provided(format!(
                "driver `{}` does not offer `{missing}` (it offers: {})",
                config.driver,
                offered.join(", ")
            )));
        }
    }
    Ok(())
}

/// Opens every instrument the procedure needs, identifies it and checks its identity and
/// calibration against the fixture. Returns the bench and what to journal for each.
pub fn open_bench(
    procedure: &Procedure,
    fixture: &Fixture,
    allow_expired_calibration: bool,
    today: chrono::NaiveDate,
    run_dir: &Path,
) -> Result<(Bench, Vec<InstrumentReady>), RunError> {
    let simulator = match &fixture.simulation {
        Some(config) => {
            let sim = SimBench::start(config, fixture.time_scale).map_err(RunError::Simulator)?;
            // Requests go to the run directory as they arrive, not into memory.
            sim.log_to(&run_dir.join(super::SIMULATOR_LOG_FILE))?;
            Some(sim)
        }
        None => None,
    };
    let mut bench = Bench {
        instruments: BTreeMap::new(),
        simulator,
    };
    let mut ready = Vec::new();
    let mut buses = CanBuses::new();
    for role in procedure.roles.keys() {
        let Some(config) = fixture.instruments.get(role) else {
            return Err(RunError::RoleNotProvided {
                role: role.clone(),
                reason: "not bound".into(),
            });
        };
        let (instrument, info) =
            open_instrument(role, config, bench.simulator.as_ref(), run_dir, &mut buses)?;
        check_identity(role, config, &info)?;
        if let Some(due) = config.calibration_due
            && due < today
            && !allow_expired_calibration
        {
            return Err(RunError::CalibrationExpired {
                role: role.clone(),
                due: due.to_string(),
            });
        }
        bench.instruments.insert(role.clone(), instrument);
        ready.push(info);
    }
    Ok((bench, ready))
}

fn open_instrument(
    role: &str,
    config: &InstrumentConfig,
    simulator: Option<&SimBench>,
    run_dir: &Path,
    buses: &mut CanBuses,
) -> Result<(Instrument, InstrumentReady), RunError> {
    let ready = |identity: Identity, link: String| InstrumentReady {
        role: role.to_string(),
        driver: config.driver.clone(),
        link,
        identity,
        calibration_certificate: config.calibration_certificate.clone(),
        calibration_due: config.calibration_due.map(|d| d.to_string()),
        accuracy: config.accuracy.describe(),
    };
    if let Some(can) = &config.can {
        let log = run_dir.join(format!("can-{role}.log"));
        let (driver, link_text) = open_can_device(role, config, can, simulator, Some(&log), buses)?;
        let mut driver = driver;
        let identity = driver.identify().map_err(|source| RunError::Instrument {
            role: role.to_string(),
            driver: config.driver.clone(),
            action: "asking its identity".into(),
            source: Box::new(source),
        })?;
        let instrument = Instrument {
            handle: Handle::Driver(driver),
            config: config.clone(),
        };
        return Ok((instrument, ready(identity, link_text)));
    }
    let Some(declared) = config.link_settings() else {
        // A manual instrument is who the fixture says it is: there is nobody to ask.
        let identity = Identity {
            manufacturer: config.identity.manufacturer.clone().unwrap_or_default(),
            model: config.identity.model.clone().unwrap_or_default(),
            serial: config.identity.serial.clone().unwrap_or_default(),
            firmware: String::new(),
        };
        let info = ready(identity, "operated by hand".into());
        return Ok((
            Instrument {
                handle: Handle::Manual,
                config: config.clone(),
            },
            info,
        ));
    };
    let settings = crate::sim::resolve_link(&declared, simulator).map_err(|reason| {
        RunError::RoleNotProvided {
            role: role.to_string(),
            reason,
        }
    })?;
    let link = crate::link::open_link(&settings).map_err(|source| RunError::Link {
        role: role.to_string(),
        port: declared.describe(),
        source: Box::new(source),
    })?;
    let fail = |action: &str| {
        let action = action.to_string();
        move |source| RunError::Instrument {
            role: role.to_string(),
            driver: config.driver.clone(),
            action,
            source: Box::new(source),
        }
    };
    let mut driver =
        open_driver(&config.driver, link, &config.options).map_err(fail("opening the driver"))?;
    let identity = driver.identify().map_err(fail("asking its identity"))?;
    let (declared_name, actual_name) = (link_name(&declared), link_name(&settings));
    let link_text = if actual_name == declared_name {
        declared_name
    } else {
        format!("{declared_name} (simulated, {actual_name})")
    };
    Ok((
        Instrument {
            handle: Handle::Driver(driver),
            config: config.clone(),
        },
        ready(identity, link_text),
    ))
}

/// The CAN buses opened so far, by adapter port: roles whose devices sit behind the same
/// adapter share its bus (`can::shared`), with the bit rate and role that opened it.
pub type CanBuses = BTreeMap<String, (crate::can::shared::SharedBus, u32, String)>;

/// Opens again the link and driver of an instrument whose link was lost, asks its identity
/// and checks it against the fixture (`reconnect.rs`). A CANopen node or an instrument
/// operated by hand is not reopened.
pub(super) fn reopen_instrument(
    role: &str,
    config: &InstrumentConfig,
    simulator: Option<&SimBench>,
) -> Result<(Box<dyn Driver>, InstrumentReady), RunError> {
    if config.can.is_some() || config.link_settings().is_none() {
        return Err(RunError::RoleNotProvided {
            role: role.to_string(),
            reason: "only an instrument on a serial or TCP link is reopened during a run".into(),
        });
    }
    // The run directory and the buses only serve CAN devices, excluded above.
    let (instrument, info) = open_instrument(
        role,
        config,
        simulator,
        Path::new("."),
        &mut CanBuses::new(),
    )?;
    check_identity(role, config, &info)?;
    match instrument.handle {
        Handle::Driver(driver) => Ok((driver, info)),
        Handle::Manual => Err(RunError::RoleNotProvided {
            role: role.to_string(),
            reason: "an instrument operated by hand has no link".into(),
        }),
    }
}

/// Opens a CANopen node behind a serial-line CAN adapter: the adapter's line, the slcan bus
/// at the fixture's bit rate, a CANopen client watching the node's heartbeat, the driver.
/// With `log`, every frame on the bus is also written there in candump format (a run keeps
/// `can-<role>.log` beside its journal; `can::candump::ReplayBus` plays it back).
pub fn open_can_node(
    role: &str,
    config: &InstrumentConfig,
    can: &crate::fixture::CanLinkSettings,
    simulator: Option<&SimBench>,
    log: Option<&Path>,
) -> Result<(Box<dyn Driver>, String), RunError> {
    open_can_device(role, config, can, simulator, log, &mut CanBuses::new())
}

/// [`open_can_node`] (or a DBC-described device) on the bus of `buses` its adapter already
/// carries, if another role opened it: each role's log then holds what it sent and every
/// frame received.
fn open_can_device(
    role: &str,
    config: &InstrumentConfig,
    can: &crate::fixture::CanLinkSettings,
    simulator: Option<&SimBench>,
    log: Option<&Path>,
    buses: &mut CanBuses,
) -> Result<(Box<dyn Driver>, String), RunError> {
    use crate::can::canopen::{CanOpenClient, flat_panel_detector, xray_generator};
    use crate::can::dbc_device;
    use crate::can::slcan::{SlcanBus, SlcanSettings};
    use std::time::Duration;
    let can_drivers = [
        xray_generator::NAME,
        flat_panel_detector::NAME,
        dbc_device::NAME,
    ];
    if !can_drivers.contains(&config.driver.as_str()) {
        return Err(RunError::RoleNotProvided {
            role: role.to_string(),
            reason: format!(
                "driver `{}` is not reached over CAN (CAN drivers: {})",
                config.driver,
                can_drivers.join(", ")
            ),
        });
    }
    // A detector's image channel is opened first: a fixture naming no usable one is refused
    // before the bus is touched.
    let images = if config.driver == flat_panel_detector::NAME {
        Some(super::detector::open_image_source(role, config, simulator)?)
    } else {
        None
    };
    let declared = LinkSettings::Serial(can.adapter.clone());
    let settings = crate::sim::resolve_link(&declared, simulator).map_err(|reason| {
        RunError::RoleNotProvided {
            role: role.to_string(),
            reason,
        }
    })?;
    let bus = match buses.get(&can.adapter.port) {
        Some((_, bit_rate, first)) if *bit_rate != can.bit_rate => {
            return Err(RunError::RoleNotProvided {
                role: role.to_string(),
                reason: format!(
                    "it shares adapter {} with role `{first}`, at {} bit/s, not {bit_rate} bit/s",
                    can.adapter.port, can.bit_rate
                ),
            });
        }
        Some((shared, ..)) => shared.endpoint(),
        None => {
            let link = crate::link::open_link(&settings).map_err(|source| RunError::Link {
                role: role.to_string(),
                port: declared.describe(),
                source: Box::new(source),
            })?;
            let bus_settings = SlcanSettings {
                bit_rate: can.bit_rate,
                ..SlcanSettings::default()
            };
            let bus = SlcanBus::open(link, &bus_settings).map_err(|source| RunError::CanBus {
                role: role.to_string(),
                source: Box::new(source),
            })?;
            let shared = crate::can::shared::SharedBus::new(Box::new(bus));
            let endpoint = shared.endpoint();
            buses.insert(
                can.adapter.port.clone(),
                (shared, can.bit_rate, role.to_string()),
            );
            endpoint
        }
    };
    let bus: Box<dyn crate::can::CanBus> = match log {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| RunError::RunDirectory {
                path: path.to_path_buf(),
                source,
            })?;
            let out = Box::new(std::io::LineWriter::new(file));
            let interface = format!("slcan-{role}");
            Box::new(crate::can::candump::Recorder::new(bus, interface, out))
        }
        None => Box::new(bus),
    };
    let (declared_name, actual_name) = (link_name(&declared), link_name(&settings));
    let adapter = if actual_name == declared_name {
        declared_name
    } else {
        format!("{declared_name} (simulated, {actual_name})")
    };
    if config.driver == dbc_device::NAME {
        return open_dbc_device(role, config, bus, adapter);
    }
    let (heartbeat, command) = (
        Duration::from_millis(can.heartbeat_timeout_ms),
        Duration::from_millis(can.sdo_timeout_ms),
    );
    let client = CanOpenClient::new(bus, command);
    let driver: Result<Box<dyn Driver>, _> = match images {
        // Frames and analysis artefacts go to `images/` in the run directory, beside the
        // CAN log.
        Some(images) => flat_panel_detector::FlatPanelDetectorDriver::open(
            client,
            can.node_id,
            heartbeat,
            command,
            images,
            &config.options,
            log.and_then(Path::parent)
                .map(|dir| (dir.join("images"), role.to_string())),
        )
        .map(|d| Box::new(d) as Box<dyn Driver>),
        None => xray_generator::XrayGeneratorDriver::open(
            client,
            can.node_id,
            heartbeat,
            command,
            &config.options,
        )
        .map(|d| Box::new(d) as Box<dyn Driver>),
    };
    let driver = driver.map_err(|source| RunError::Instrument {
        role: role.to_string(),
        driver: config.driver.clone(),
        action: format!("starting CANopen node {}", can.node_id),
        source: Box::new(source),
    })?;
    Ok((
        driver,
        format!("CANopen node {} via slcan adapter {adapter}", can.node_id),
    ))
}

/// Opens a DBC-described device on an open bus: its options checked against its DBC file,
/// then one frame of every status message awaited.
fn open_dbc_device(
    role: &str,
    config: &InstrumentConfig,
    bus: Box<dyn crate::can::CanBus>,
    adapter: String,
) -> Result<(Box<dyn Driver>, String), RunError> {
    use crate::can::dbc_device::{DbcDevice, configure};
    let fail = |action: String| {
        move |source| RunError::Instrument {
            role: role.to_string(),
            driver: config.driver.clone(),
            action,
            source: Box::new(source),
        }
    };
    let device_config =
        configure(&config.options).map_err(|problems| RunError::RoleNotProvided {
            role: role.to_string(),
            reason: problems
                .iter()
                .map(|p| format!("option `{}`: {}", p.option, p.message))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
    let file = device_config.path.display().to_string();
    let status = device_config.status.join(", ");
    let identity = Identity {
        manufacturer: config.identity.manufacturer.clone().unwrap_or_default(),
        model: config.identity.model.clone().unwrap_or_default(),
        serial: config.identity.serial.clone().unwrap_or_default(),
        firmware: String::new(),
    };
    let device = DbcDevice::open(bus, device_config, identity)
        .map_err(fail(format!("waiting for its status ({status})")))?;
    Ok((
        Box::new(device),
        format!("DBC device ({file}) via slcan adapter {adapter}"),
    ))
}

/// How a link is named in the journal: a serial port's path, a TCP link's address (a
/// simulated device's `sim:<device>` as written).
fn link_name(settings: &LinkSettings) -> String {
    match settings {
        LinkSettings::Serial(serial) => serial.port.clone(),
        LinkSettings::Tcp(tcp) if tcp.host.starts_with(SIM_PORT_PREFIX) => tcp.host.clone(),
        LinkSettings::Tcp(tcp) => tcp.describe(),
    }
}

fn check_identity(
    role: &str,
    config: &InstrumentConfig,
    info: &InstrumentReady,
) -> Result<(), RunError> {
    let expected = &config.identity;
    let pairs = [
        (
            "manufacturer",
            &expected.manufacturer,
            &info.identity.manufacturer,
        ),
        ("model", &expected.model, &info.identity.model),
        ("serial", &expected.serial, &info.identity.serial),
    ];
    for (field, want, got) in pairs {
        if let Some(want) = want
            && want != got
        {
            return Err(RunError::IdentityMismatch {
                role: role.to_string(),
                field,
                expected: want.clone(),
                found: got.clone(),
            });
        }
    }
    Ok(())
}
