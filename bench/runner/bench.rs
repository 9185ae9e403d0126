//! Opening the bench: the simulated devices if the fixture uses them, every link, every
//! driver, and the identity and calibration checks that come before anything moves.

use super::RunError;
use crate::driver::{Driver, open_driver, spec_of};
use crate::fixture::{Fixture, InstrumentConfig, SIM_PORT_PREFIX};
use crate::journal::InstrumentReady;
use crate::link::SerialLink;
use crate::procedure::Procedure;
use crate::sim::SimBench;
use std::collections::BTreeMap;

/// One open instrument.
pub struct Instrument {
    /// The driver speaking to it.
    pub driver: Box<dyn Driver>,
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

/// Checks that `fixture` provides every role of `procedure` with a driver of the right kind.
pub fn check_roles(procedure: &Procedure, fixture: &Fixture) -> Result<(), RunError> {
    for (role, needed) in &procedure.roles {
        let Some(config) = fixture.instruments.get(role) else {
            return Err(RunError::RoleNotProvided {
                role: role.clone(),
                reason: format!("fixture `{}` binds no instrument to it", fixture.name),
            });
        };
        let Some(spec) = spec_of(&config.driver) else {
            return Err(RunError::RoleNotProvided {
                role: role.clone(),
                reason: format!("unknown driver `{}`", config.driver),
            });
        };
        if spec.kind != needed.kind {
            return Err(RunError::RoleNotProvided {
                role: role.clone(),
                reason: format!(
                    "the procedure needs a {} but driver `{}` drives a {}",
                    needed.kind, spec.name, spec.kind
                ),
            });
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
) -> Result<(Bench, Vec<InstrumentReady>), RunError> {
    let simulator = match &fixture.simulation {
        Some(config) => {
            Some(SimBench::start(config, fixture.time_scale).map_err(RunError::Simulator)?)
        }
        None => None,
    };
    let mut bench = Bench {
        instruments: BTreeMap::new(),
        simulator,
    };
    let mut ready = Vec::new();
    for role in procedure.roles.keys() {
        let Some(config) = fixture.instruments.get(role) else {
            return Err(RunError::RoleNotProvided {
                role: role.clone(),
                reason: "not bound".into(),
            });
        };
        let (instrument, info) = open_instrument(role, config, bench.simulator.as_ref())?;
        check_identity(role, config, &info)?;
        if let Some(due) = config.calibration_due {
            if due < today && !allow_expired_calibration {
                return Err(RunError::CalibrationExpired {
                    role: role.clone(),
                    due: due.to_string(),
                });
            }
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
) -> Result<(Instrument, InstrumentReady), RunError> {
    let mut settings = config.link.clone();
    if let Some(device) = settings.port.strip_prefix(SIM_PORT_PREFIX) {
        let path =
            simulator
                .and_then(|s| s.port(device))
                .ok_or_else(|| RunError::RoleNotProvided {
                    role: role.to_string(),
                    reason: format!("the simulated bench has no device `{device}`"),
                })?;
        settings.port = path.display().to_string();
    }
    let link = SerialLink::open(&settings).map_err(|source| RunError::Link {
        role: role.to_string(),
        port: config.link.port.clone(),
        source,
    })?;
    let fail = |action: &str| {
        let action = action.to_string();
        move |source| RunError::Instrument {
            role: role.to_string(),
            driver: config.driver.clone(),
            action,
            source,
        }
    };
    let mut driver = open_driver(&config.driver, Box::new(link), &config.options)
        .map_err(fail("opening the driver"))?;
    let identity = driver.identify().map_err(fail("asking its identity"))?;
    let info = InstrumentReady {
        role: role.to_string(),
        driver: config.driver.clone(),
        link: if config.link.port.starts_with(SIM_PORT_PREFIX) {
            format!("{} (simulated, {})", config.link.port, settings.port)
        } else {
            config.link.port.clone()
        },
        identity,
        calibration_certificate: config.calibration_certificate.clone(),
        calibration_due: config.calibration_due.map(|d| d.to_string()),
        accuracy: config.accuracy.clone(),
    };
    Ok((
        Instrument {
            driver,
            config: config.clone(),
        },
        info,
    ))
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
        if let Some(want) = want {
            if want != got {
                return Err(RunError::IdentityMismatch {
                    role: role.to_string(),
                    field,
                    expected: want.clone(),
                    found: got.clone(),
                });
            }
        }
    }
    Ok(())
}
