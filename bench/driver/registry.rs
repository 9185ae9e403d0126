//! The registry: the only place that knows every driver.

use super::{
    Driver, DriverError, DriverSpec, common, imt_flow_analyzer, modbus_generic, modbus_room_sensor,
    profile, scpi_dosimeter, scpi_generic, scpi_pressure_meter, test_lung_service,
    ventilator_service,
};
use crate::link::ByteLink;
use std::collections::BTreeMap;

/// Every built-in driver's specification.
pub static DRIVERS: &[DriverSpec] = &[
    imt_flow_analyzer::SPEC,
    ventilator_service::SPEC,
    test_lung_service::SPEC,
    scpi_pressure_meter::SPEC,
    scpi_dosimeter::SPEC,
    scpi_generic::SPEC,
    profile::SPEC,
    modbus_room_sensor::SPEC,
    modbus_generic::SPEC,
    crate::can::canopen::xray_generator::SPEC,
    crate::can::dbc_device::SPEC,
    crate::can::canopen::flat_panel_detector::SPEC,
];

/// The specification of the driver called `name`.
pub fn spec_of(name: &str) -> Option<&'static DriverSpec> {
    DRIVERS.iter().find(|d| d.name == name)
}

/// Opens the driver called `name` on `link` with the fixture's `options`.
///
/// Unknown drivers are `Unsupported`; unknown options are `BadOption` naming the known ones.
/// Some drivers talk to the instrument while opening (the analyzer writes its gas standard).
pub fn open_driver(
    name: &str,
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    match name {
        "imt-flowanalyser" => imt_flow_analyzer::open(link, options),
        "qbench-ventilator" => ventilator_service::open(link, options),
        "qbench-test-lung" => test_lung_service::open(link, options),
        "qbench-pressure-meter" => scpi_pressure_meter::open(link, options),
        scpi_dosimeter::NAME => scpi_dosimeter::open(link, options),
        "scpi" => scpi_generic::open(link, options),
        "profile" => profile::open(link, options),
        "qbench-room-sensor" => modbus_room_sensor::open(link, options),
        "modbus" => modbus_generic::open(link, options),
        crate::can::canopen::xray_generator::NAME
        | crate::can::canopen::flat_panel_detector::NAME
        | crate::can::dbc_device::NAME => Err(common::unsupported(
            "registry",
            format!(
                "driver `{name}` over a byte link: it drives a CAN device, reached with `link: {{ can: ... }}`"
            ),
        )),
        other => {
            let known: Vec<&str> = DRIVERS.iter().map(|d| d.name).collect();
            Err(common::unsupported(
                "registry",
                format!("driver `{other}` (known: {})", known.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;

    /// Drivers that cannot open without an option naming their description.
    const NEED_OPTIONS: &[(&str, &str, &str)] = &[(
        "profile",
        "profile",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/profiles/qbench-thermohygrometer.yaml"
        ),
    )];

    #[test]
    fn every_spec_is_openable_and_named_once() {
        for spec in DRIVERS {
            assert_eq!(spec_of(spec.name).map(|s| s.kind), Some(spec.kind));
            let mut options = BTreeMap::new();
            if let Some((_, k, v)) = NEED_OPTIONS.iter().find(|(d, _, _)| *d == spec.name) {
                options.insert(k.to_string(), v.to_string());
            }
            let (link, _) = FakeLink::new(&[]);
            let opened = open_driver(spec.name, Box::new(link), &options);
            if [
                crate::can::canopen::xray_generator::NAME,
                crate::can::canopen::flat_panel_detector::NAME,
                crate::can::dbc_device::NAME,
            ]
            .contains(&spec.name)
            {
                // A CAN device is opened through its CAN link, never over a byte link.
                let err = opened.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(err.contains("link: { can:"), "{err}");
            } else {
                assert!(opened.is_ok(), "{}", spec.name);
            }
            for q in spec.quantities {
                assert!(crate::units::parse_unit(q.unit).is_ok(), "{}", q.unit);
            }
            for s in spec.settings {
                assert!(crate::units::parse_unit(s.unit).is_ok(), "{}", s.unit);
            }
        }
        assert_eq!(
            spec_of("imt-flowanalyser").map(|s| s.kind),
            Some("flow_analyzer")
        );
    }

    #[test]
    fn unknown_driver_names_the_known_ones() {
        let (link, _) = FakeLink::new(&[]);
        let err = open_driver("fluke-vt900", Box::new(link), &BTreeMap::new())
            .err()
            .expect("fails");
        assert!(err.to_string().contains("qbench-ventilator"), "{err}");
    }
}
