//! Driver `qbench-ventilator`: a ventilator's service port speaking qbench's line protocol.
//!
//! Settings are sent as `SET <P> <v>` in the ventilator's units and the value it reports in
//! force is returned; `start` is `RUN`, `standby` and the safe state are `STANDBY`, and each
//! must be answered with the matching `STATE`. Option: `checksum` (`true` adds `*HH` to every
//! request and requires it on every reply).
//!
//! The ventilation mode is a word, not a quantity, so it is chosen by an action rather than
//! a setting: `volume_control` sends `SET MODE VC` and `pressure_control` sends
//! `SET MODE PC`, and each must be echoed `OK MODE <mode>`. A procedure chooses the mode
//! before it starts ventilation; `tidal_volume` acts in volume control and
//! `inspiratory_pressure` (above PEEP) in pressure control.

use super::common::protocol;
use super::common::{LineClient, Options, Parameter, convert, find_parameter, unit, unsupported};
use super::{
    Condition, DeviceEvent, Driver, DriverError, DriverSpec, Identity, QuantitySpec, SettingSpec,
};
use crate::link::ByteLink;
use crate::protocol::line_ascii::{Reply, Request, Value};
use crate::units::Quantity;
use std::collections::BTreeMap;
use std::time::Duration;

const NAME: &str = "qbench-ventilator";

const PARAMETERS: &[Parameter] = &[
    Parameter {
        name: "tidal_volume",
        wire: "VT",
        unit: "mL",
    },
    Parameter {
        name: "inspiratory_pressure",
        wire: "PINSP",
        unit: "cmH2O",
    },
    Parameter {
        name: "rate",
        wire: "RATE",
        unit: "/min",
    },
    Parameter {
        name: "inspiratory_time",
        wire: "TI",
        unit: "s",
    },
    Parameter {
        name: "peep",
        wire: "PEEP",
        unit: "cmH2O",
    },
    Parameter {
        name: "fio2",
        wire: "FIO2",
        unit: "%",
    },
];

/// What `qbench-ventilator` offers.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "ventilator",
    settings: &[
        SettingSpec {
            name: "tidal_volume",
            unit: "mL",
            description: "set tidal volume (volume control)",
        },
        SettingSpec {
            name: "inspiratory_pressure",
            unit: "cmH2O",
            description: "set inspiratory pressure above PEEP (pressure control)",
        },
        SettingSpec {
            name: "rate",
            unit: "/min",
            description: "set breath rate",
        },
        SettingSpec {
            name: "inspiratory_time",
            unit: "s",
            description: "set inspiratory time",
        },
        SettingSpec {
            name: "peep",
            unit: "cmH2O",
            description: "set positive end-expiratory pressure",
        },
        SettingSpec {
            name: "fio2",
            unit: "%",
            description: "set fraction of inspired oxygen",
        },
    ],
    actions: &["start", "standby", "volume_control", "pressure_control"],
    quantities: &[
        QuantitySpec {
            name: "tidal_volume",
            unit: "mL",
            description: "tidal volume in force, as the ventilator reports it",
        },
        QuantitySpec {
            name: "inspiratory_pressure",
            unit: "cmH2O",
            description: "inspiratory pressure above PEEP in force",
        },
        QuantitySpec {
            name: "rate",
            unit: "/min",
            description: "breath rate in force",
        },
        QuantitySpec {
            name: "inspiratory_time",
            unit: "s",
            description: "inspiratory time in force",
        },
        QuantitySpec {
            name: "peep",
            unit: "cmH2O",
            description: "PEEP in force",
        },
        QuantitySpec {
            name: "fio2",
            unit: "%",
            description: "FiO2 in force",
        },
    ],
    events: &[],
};

/// The options this driver accepts.
const OPTIONS: &[&str] = &["checksum"];

/// A ventilator behind its service port.
pub(crate) struct VentilatorService {
    client: LineClient,
}

/// Opens the driver on `link` (sends nothing).
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let options = Options::new(NAME, options, OPTIONS)?;
    let checksum = options.flag("checksum", false)?;
    Ok(Box::new(VentilatorService {
        client: LineClient::new(NAME, link, checksum),
    }))
}

impl VentilatorService {
    /// `SET MODE <mode>`, checking that the ventilator reports that mode in force.
    fn set_mode(&mut self, mode: &str) -> Result<(), DriverError> {
        let request = Request::Set {
            param: "MODE".into(),
            value: Value::Word(mode.into()),
        };
        match self.client.exchange(&request)? {
            Reply::Ok {
                param,
                value: Value::Word(w),
            } if param == "MODE" && w == mode => Ok(()),
            other => Err(protocol(
                NAME,
                format!("`OK MODE {mode}`"),
                other.body().as_bytes(),
            )),
        }
    }
}

impl Driver for VentilatorService {
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
        match action {
            "start" => self.client.expect_state(&Request::Run, "RUNNING"),
            "standby" => self.client.expect_state(&Request::Standby, "STANDBY"),
            "volume_control" => self.set_mode("VC"),
            "pressure_control" => self.set_mode("PC"),
            other => Err(unsupported(
                NAME,
                format!("action `{other}` (known: {})", SPEC.actions.join(", ")),
            )),
        }
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let p = find_parameter(NAME, PARAMETERS, "quantity", quantity)?;
        let v = self.client.get_number(p.wire)?;
        Ok(Quantity::new(v, unit(NAME, p.unit)?))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("event {event:?} (the ventilator signals none; await it on the flow analyzer)"),
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        // Standby stops gas delivery: the one safe state of a ventilator on a test lung.
        self.client.expect_state(&Request::Standby, "STANDBY")
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
    use crate::link::LinkErrorKind;
    use crate::units::parse_quantity;

    fn driver(
        replies: &[&str],
        options: &[(&str, &str)],
    ) -> (Box<dyn Driver>, crate::driver::fake_link::FakeLog) {
        let (link, log) = FakeLink::new(replies);
        let options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (open(Box::new(link), &options).expect("opens"), log)
    }

    #[test]
    fn sets_in_the_ventilator_unit_and_returns_the_readback() {
        let (mut d, log) = driver(&["OK VT 500", "OK PEEP 5.1"], &[]);
        let back = d
            .set("tidal_volume", &parse_quantity("0.5 L").unwrap())
            .unwrap();
        assert_eq!((back.value, back.unit.symbol()), (500.0, "mL"));
        let back = d.set("peep", &parse_quantity("5 cmH2O").unwrap()).unwrap();
        assert_eq!(back.value, 5.1);
        assert_eq!(log.sent(), vec!["SET VT 500\n", "SET PEEP 5\n"]);
    }

    #[test]
    fn refuses_a_unit_of_another_dimension_naming_both() {
        let (mut d, log) = driver(&[], &[]);
        let err = d
            .set("tidal_volume", &parse_quantity("5 hPa").unwrap())
            .unwrap_err();
        assert!(matches!(err.kind, DriverErrorKind::BadValue { .. }));
        let chain = format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(|e| e.to_string())
                .unwrap_or_default()
        );
        assert!(chain.contains("hPa") && chain.contains("mL"), "{chain}");
        assert!(log.sent().is_empty());
    }

    #[test]
    fn checks_the_echo() {
        let (mut d, _) = driver(&["OK RATE 500"], &[]);
        let err = d
            .set("tidal_volume", &parse_quantity("500 mL").unwrap())
            .unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::Protocol { .. }),
            "{err}"
        );
    }

    #[test]
    fn err_replies_are_refusals() {
        let (mut d, _) = driver(&["ERR 4 VT out of range 5..2500"], &[]);
        let err = d
            .set("tidal_volume", &parse_quantity("9000 mL").unwrap())
            .unwrap_err();
        match err.kind {
            DriverErrorKind::InstrumentRefused { reply } => assert!(reply.contains("out of range")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn start_standby_and_make_safe_check_the_state() {
        let (mut d, log) = driver(&["STATE RUNNING", "STATE STANDBY", "STATE RUNNING"], &[]);
        d.act("start").unwrap();
        d.act("standby").unwrap();
        let err = d.make_safe().unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::Protocol { .. }),
            "{err}"
        );
        assert_eq!(log.sent(), vec!["RUN\n", "STANDBY\n", "STANDBY\n"]);
        assert!(matches!(
            d.act("explode").unwrap_err().kind,
            DriverErrorKind::Unsupported { .. }
        ));
    }

    #[test]
    fn modes_are_actions_checked_against_the_echo() {
        let (mut d, log) = driver(&["OK MODE PC", "OK MODE VC", "OK MODE VC"], &[]);
        d.act("pressure_control").unwrap();
        d.act("volume_control").unwrap();
        // A ventilator that stays in volume control did not switch.
        let err = d.act("pressure_control").unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::Protocol { .. }),
            "{err}"
        );
        assert_eq!(
            log.sent(),
            vec!["SET MODE PC\n", "SET MODE VC\n", "SET MODE PC\n"]
        );
        let (mut d, _) = driver(&["ERR 3 MODE PC not supported (VC)"], &[]);
        assert!(matches!(
            d.act("pressure_control").unwrap_err().kind,
            DriverErrorKind::InstrumentRefused { .. }
        ));
    }

    #[test]
    fn sets_the_inspiratory_pressure_in_cmh2o() {
        let (mut d, log) = driver(&["OK PINSP 15.3", "VAL PINSP 15.3"], &[]);
        let back = d
            .set("inspiratory_pressure", &parse_quantity("15 hPa").unwrap())
            .unwrap();
        assert_eq!((back.value, back.unit.symbol()), (15.3, "cmH2O"));
        assert_eq!(d.read("inspiratory_pressure").unwrap().value, 15.3);
        // 15 hPa is 15.2957 cmH2O (nine significant digits on the wire).
        assert_eq!(log.sent(), vec!["SET PINSP 15.2957432\n", "GET PINSP\n"]);
    }

    #[test]
    fn checksum_option_signs_requests_and_requires_signed_replies() {
        let (mut d, log) = driver(
            &["STATE RUNNING*30", "STATE RUNNING"],
            &[("checksum", "true")],
        );
        assert!(d.act("start").is_ok());
        assert_eq!(log.sent(), vec!["RUN*49\n"]);
        assert!(matches!(
            d.act("start").unwrap_err().kind,
            DriverErrorKind::Protocol { .. }
        ));
    }

    #[test]
    fn identifies_and_reports_link_failures() {
        let (link, _) = FakeLink::new(&["ID qbench,SIM-VENT,V1,1.2"]);
        let link = link.then_fail(LinkErrorKind::Disconnected);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        let id = d.identify().unwrap();
        assert_eq!(
            (id.manufacturer.as_str(), id.serial.as_str()),
            ("qbench", "V1")
        );
        let err = d.identify().unwrap_err();
        assert!(err.link_error().is_some_and(|e| e.is_disconnected()));
    }

    #[test]
    fn unknown_options_are_refused() {
        let (link, _) = FakeLink::new(&[]);
        let options = [("speed".to_string(), "1".to_string())]
            .into_iter()
            .collect();
        assert!(matches!(
            open(Box::new(link), &options).err().map(|e| e.kind),
            Some(DriverErrorKind::BadOption { .. })
        ));
    }
}
