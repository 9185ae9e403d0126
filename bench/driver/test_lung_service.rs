//! Driver `qbench-test-lung`: an active test lung's service port, in qbench's line protocol.
//!
//! Two settings, compliance `C` in mL/hPa and resistance `R` in hPa/(L/s), each sent with
//! `SET` and read back from the `OK` echo. The lung has no hazardous state, so `make_safe`
//! sends nothing. Option: `checksum`, as for the ventilator.

use super::common::{LineClient, Options, Parameter, convert, find_parameter, unit, unsupported};
use super::{
    Condition, DeviceEvent, Driver, DriverError, DriverSpec, Identity, QuantitySpec, SettingSpec,
};
use crate::link::ByteLink;
use crate::units::Quantity;
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "qbench-test-lung";

const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "compliance",
        wire: "C",
        unit: "mL/hPa",
    },
    Parameter {
        name: "resistance",
        wire: "R",
        unit: "hPa/(L/s)",
    },
];

/// What `qbench-test-lung` offers.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "test_lung",
    settings: &[
        SettingSpec {
            name: "compliance",
            unit: "mL/hPa",
            description: "lung compliance",
        },
        SettingSpec {
            name: "resistance",
            unit: "hPa/(L/s)",
            description: "airway resistance",
        },
    ],
    actions: &[],
    quantities: &[
        QuantitySpec {
            name: "compliance",
            unit: "mL/hPa",
            description: "compliance in force",
        },
        QuantitySpec {
            name: "resistance",
            unit: "hPa/(L/s)",
            description: "resistance in force",
        },
    ],
    events: &[],
};

/// An active test lung behind its service port.
pub(crate) struct TestLungService {
    client: LineClient,
}

/// Opens the driver on `link` (sends nothing).
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let options = Options::new(NAME, options, &["checksum"])?;
    let checksum = options.flag("checksum", false)?;
    Ok(Box::new(TestLungService {
        client: LineClient::new(NAME, link, checksum),
    }))
}

impl Driver for TestLungService {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        self.client.identify()
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let p = find_parameter(NAME, PARAMETERS, "setting", name)?;
        let v = convert(NAME, name, value, p.unit)?;
        let back = self.client.set_number(p.wire, v)?;
        Ok(Quantity::new(back, unit(NAME, p.unit)?))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("action `{action}` (the test lung has none)"),
        ))
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let p = find_parameter(NAME, PARAMETERS, "quantity", quantity)?;
        let v = self.client.get_number(p.wire)?;
        Ok(Quantity::new(v, unit(NAME, p.unit)?))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("event {event:?} (the test lung signals none)"),
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::DriverErrorKind;
    use crate::driver::fake_link::FakeLink;
    use crate::units::parse_quantity;

    #[test]
    fn converts_compliance_and_resistance_to_the_lung_units() {
        let (link, log) = FakeLink::new(&["OK C 20", "OK R 20", "VAL C 20"]);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        // 0.02 L/hPa is 20 mL/hPa; 2 kPa/(L/s) is 20 hPa/(L/s).
        let c = d
            .set("compliance", &parse_quantity("0.02 L/hPa").unwrap())
            .unwrap();
        assert_eq!((c.value, c.unit.symbol()), (20.0, "mL/hPa"));
        d.set("resistance", &parse_quantity("2 kPa/(L/s)").unwrap())
            .unwrap();
        assert_eq!(d.read("compliance").unwrap().value, 20.0);
        assert_eq!(log.sent(), vec!["SET C 20\n", "SET R 20\n", "GET C\n"]);
    }

    #[test]
    fn refuses_unknown_settings_and_wrong_dimensions() {
        let (link, _) = FakeLink::new(&[]);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        let err = d
            .set("elastance", &parse_quantity("1 hPa/mL").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("compliance, resistance"), "{err}");
        let err = d
            .set("compliance", &parse_quantity("1 hPa").unwrap())
            .unwrap_err();
        assert!(matches!(err.kind, DriverErrorKind::BadValue { .. }));
        assert!(d.make_safe().is_ok());
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let (link, _) = FakeLink::new(&["\u{1}\u{2}zz"]);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        let err = d
            .set("compliance", &parse_quantity("20 mL/hPa").unwrap())
            .unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::Protocol { .. }),
            "{err}"
        );
    }
}
