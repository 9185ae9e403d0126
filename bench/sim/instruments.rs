//! The reference instruments added to the simulated bench for links and protocols: a SCPI
//! pressure meter, a Modbus RTU room-condition sensor and an ASCII thermo-hygrometer that only
//! a device profile describes. Each is served on its own pty, and also on a loopback TCP port
//! when the configuration lists it under `tcp:` (as a serial device server would; the room
//! sensor speaks Modbus TCP there).
//!
//! [`resolve_link`] turns a fixture's `sim:<device>` link into the real pty path or TCP
//! address, for the runner and for `qbench probe`.

use super::config::SimConfig;
use super::framed::{DeviceFactory, Endpoint, Faults, FramedDevice, Schedule};
use super::model::Model;
use super::pressure_meter::{PressureMeter, answer_unit};
use super::room_sensor::{Framing, RoomSensor};
use super::serve::Log;
use super::thermohygrometer::Thermohygrometer;
use super::unplug::PortDir;
use super::{SimBench, SimError};
use crate::fixture::SIM_PORT_PREFIX;
use crate::link::LinkSettings;
use std::sync::Arc;
use std::time::Instant;

/// The devices that can also be served over TCP.
pub const TCP_DEVICES: [&str; 3] = ["pressure_meter", "room_sensor", "thermohygrometer"];

/// Checks the sections of these instruments.
pub(crate) fn validate(config: &SimConfig) -> Result<(), SimError> {
    if answer_unit(&config.pressure_meter.unit).is_none_or(|(f, _)| !f.is_finite()) {
        return Err(SimError::BadConfig {
            field: "pressure_meter.unit",
            reason: format!(
                "`{}` is not a pressure unit suffix (MBAR, HPA, PA, KPA, CMH2O)",
                config.pressure_meter.unit
            ),
        });
    }
    let checks = [
        (
            "pressure_meter.gain_error",
            config.pressure_meter.gain_error > -1.0,
        ),
        (
            "pressure_meter.noise_sd",
            config.pressure_meter.noise_sd >= 0.0,
        ),
        (
            "room_sensor.humidity",
            (0.0..=100.0).contains(&config.room_sensor.humidity),
        ),
        ("room_sensor.pressure", config.room_sensor.pressure > 0.0),
        (
            "room_sensor.unit_id",
            (1..=247).contains(&config.room_sensor.unit_id),
        ),
        (
            "thermohygrometer.humidity",
            (0.0..=100.0).contains(&config.thermohygrometer.humidity),
        ),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(SimError::BadConfig {
            field,
            reason: "out of its domain (see docs/simulated-bench.md)".into(),
        });
    }
    if let Some(unknown) = config
        .tcp
        .iter()
        .find(|d| !TCP_DEVICES.contains(&d.as_str()))
    {
        return Err(SimError::BadConfig {
            field: "tcp",
            reason: format!(
                "`{unknown}` cannot be served over TCP (known: {})",
                TCP_DEVICES.join(", ")
            ),
        });
    }
    Ok(())
}

/// Starts every instrument on its pty, and on TCP when asked.
pub(crate) fn spawn(
    config: &SimConfig,
    model: &Arc<Model>,
    log: &Log,
    epoch: Instant,
    ports: &PortDir,
    schedule: &Schedule,
) -> Result<Vec<(&'static str, Endpoint)>, SimError> {
    let mut endpoints = Vec::new();
    for (i, name) in TCP_DEVICES.into_iter().enumerate() {
        let fault = fault_of(name, config);
        // Each device draws its random faults from its own stream of the bench's seed.
        let seed = config.seed ^ (0x04 + i as u64);
        let faults = || Faults::seeded(fault.clone(), seed).with_schedule(schedule.clone());
        let device = make(name, config, model, Framing::Rtu);
        endpoints.push((
            name,
            Endpoint::spawn_pty(
                name,
                device,
                faults(),
                Arc::clone(log),
                epoch,
                ports.port(name),
            )?,
        ));
        if config.tcp.iter().any(|d| d == name) {
            let config = config.clone();
            let model = Arc::clone(model);
            let factory: DeviceFactory =
                Box::new(move || make(name, &config, &model, Framing::Tcp));
            endpoints.push((
                name,
                Endpoint::spawn_tcp(name, factory, faults(), Arc::clone(log), epoch)?,
            ));
        }
    }
    Ok(endpoints)
}

fn fault_of(name: &str, config: &SimConfig) -> Option<super::config::FaultConfig> {
    match name {
        "pressure_meter" => config.pressure_meter.fault.clone(),
        "room_sensor" => config.room_sensor.fault.clone(),
        _ => config.thermohygrometer.fault.clone(),
    }
}

fn make(
    name: &str,
    config: &SimConfig,
    model: &Arc<Model>,
    framing: Framing,
) -> Box<dyn FramedDevice> {
    match name {
        "pressure_meter" => Box::new(PressureMeter::new(
            Arc::clone(model),
            config.pressure_meter.clone(),
        )),
        "room_sensor" => Box::new(RoomSensor::new(config.room_sensor.clone(), framing)),
        _ => Box::new(Thermohygrometer::new(config.thermohygrometer.clone())),
    }
}

/// A fixture's link with a `sim:<device>` port or host replaced by where the simulated
/// bench serves that device. Other links are returned unchanged. The error says, in a
/// sentence, why the device cannot be reached.
pub fn resolve_link(
    settings: &LinkSettings,
    bench: Option<&SimBench>,
) -> Result<LinkSettings, String> {
    match settings {
        LinkSettings::Serial(serial) => {
            let Some(device) = serial.port.strip_prefix(SIM_PORT_PREFIX) else {
                return Ok(settings.clone());
            };
            let bench = bench.ok_or("the fixture has no `simulation:` section to serve it")?;
            let path = bench
                .port(device)
                .ok_or_else(|| format!("the simulated bench has no device `{device}`"))?;
            let mut resolved = serial.clone();
            resolved.port = path.display().to_string();
            Ok(LinkSettings::Serial(resolved))
        }
        LinkSettings::Tcp(tcp) => {
            let Some(device) = tcp.host.strip_prefix(SIM_PORT_PREFIX) else {
                return Ok(settings.clone());
            };
            let bench = bench.ok_or("the fixture has no `simulation:` section to serve it")?;
            let address = bench.tcp_address(device).ok_or_else(|| {
                format!(
                    "the simulated bench serves no device `{device}` over TCP (list it under `simulation: {{ tcp: [{device}] }}`)"
                )
            })?;
            let mut resolved = tcp.clone();
            resolved.host = address.ip().to_string();
            resolved.port = address.port();
            Ok(LinkSettings::Tcp(resolved))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{SerialSettings, TcpSettings};

    #[test]
    fn resolves_simulated_links_and_says_why_it_cannot() {
        let config = SimConfig {
            tcp: vec!["pressure_meter".into()],
            ..Default::default()
        };
        let bench = SimBench::start(&config, 100.0).expect("bench starts");
        let serial = LinkSettings::Serial(SerialSettings::new("sim:room_sensor"));
        match resolve_link(&serial, Some(&bench)) {
            // The device's stable path, a link to its pseudo-terminal (see `unplug.rs`).
            Ok(LinkSettings::Serial(s)) => assert!(
                std::fs::read_link(&s.port).is_ok_and(|pty| pty.starts_with("/dev/")),
                "{}",
                s.port
            ),
            other => panic!("{other:?}"),
        }
        let tcp = LinkSettings::Tcp(TcpSettings::new("sim:pressure_meter", 0));
        match resolve_link(&tcp, Some(&bench)) {
            Ok(LinkSettings::Tcp(t)) => assert!(t.host == "127.0.0.1" && t.port != 0, "{t:?}"),
            other => panic!("{other:?}"),
        }
        let not_served = LinkSettings::Tcp(TcpSettings::new("sim:room_sensor", 0));
        let reason = resolve_link(&not_served, Some(&bench)).unwrap_err();
        assert!(reason.contains("tcp: [room_sensor]"), "{reason}");
        let reason = resolve_link(&serial, None).unwrap_err();
        assert!(reason.contains("no `simulation:`"), "{reason}");
        let real = LinkSettings::Serial(SerialSettings::new("/dev/ttyUSB0"));
        assert_eq!(resolve_link(&real, None), Ok(real.clone()));
    }

    #[test]
    fn refuses_unknown_tcp_devices_and_bad_units() {
        let config = SimConfig {
            tcp: vec!["ventilator".into()],
            ..Default::default()
        };
        assert!(matches!(
            validate(&config),
            Err(SimError::BadConfig { field: "tcp", .. })
        ));
        let mut config = SimConfig::default();
        config.pressure_meter.unit = "FURLONG".into();
        assert!(matches!(
            validate(&config),
            Err(SimError::BadConfig {
                field: "pressure_meter.unit",
                ..
            })
        ));
        let mut config = SimConfig::default();
        config.room_sensor.unit_id = 0;
        assert!(validate(&config).is_err());
    }

    #[test]
    fn configuration_sections_read_quantities_and_faults() {
        let yaml = "tcp: [room_sensor]\npressure_meter: { offset: 0.2 kPa, unit: PA, fault: { kind: late_answer, after_requests: 2 } }\nroom_sensor: { temperature: 20.5, pressure: 1000 mbar }\nthermohygrometer: { humidity: 55 % }\n";
        let c: SimConfig = serde_saphyr::from_str(yaml).expect("valid");
        assert!((c.pressure_meter.offset - 2.0).abs() < 1e-9);
        let fault = c.pressure_meter.fault.expect("a fault");
        assert_eq!(
            (fault.kind, fault.after_requests, fault.delay_ms),
            (crate::sim::FaultKind::LateAnswer, 2, 500)
        );
        assert_eq!(c.room_sensor.pressure, 1000.0);
        assert_eq!(c.thermohygrometer.humidity, 55.0);
        assert!(
            serde_saphyr::from_str::<SimConfig>("room_sensor: { fault: { kind: fire } }\n")
                .is_err()
        );
    }
}
