//! The simulated ventilator: qbench's line protocol on its service port.
//!
//! Parameters `VT` (mL, 5..2500, 1 mL resolution), `PINSP` (cmH2O above PEEP, 0..80, 0.1),
//! `RATE` (/min, 1..100, 0.1), `TI` (s, 0.1..10, 0.01), `PEEP` (cmH2O, 0..50, 0.1), `FIO2`
//! (%, 21..100, 1) and `MODE` (`VC` volume control, `PC` pressure control; `VC` at power-up).
//! `VT` acts in volume control and `PINSP` in pressure control; both can be set in either
//! mode. A `SET` answers `OK` with the value rounded to the resolution, which is what the
//! model uses. `RUN` and `STANDBY` change the model and answer the new `STATE`.

use super::model::{Mode, Model, VentSettings};
use super::serve::Device;
use crate::protocol::line_ascii::{self, ErrorCode, LineError, Reply, Request, Value};
use std::sync::Arc;

/// A ventilator parameter: name, range, resolution, and where it lives in the settings.
struct Param {
    wire: &'static str,
    min: f64,
    max: f64,
    step: f64,
    field: fn(&mut VentSettings) -> &mut f64,
}

const PARAMS: &[Param] = &[
    Param {
        wire: "VT",
        min: 5.0,
        max: 2500.0,
        step: 1.0,
        field: |s| &mut s.vt,
    },
    Param {
        wire: "PINSP",
        min: 0.0,
        max: 80.0,
        step: 0.1,
        field: |s| &mut s.pinsp,
    },
    Param {
        wire: "RATE",
        min: 1.0,
        max: 100.0,
        step: 0.1,
        field: |s| &mut s.rate,
    },
    Param {
        wire: "TI",
        min: 0.1,
        max: 10.0,
        step: 0.01,
        field: |s| &mut s.ti,
    },
    Param {
        wire: "PEEP",
        min: 0.0,
        max: 50.0,
        step: 0.1,
        field: |s| &mut s.peep,
    },
    Param {
        wire: "FIO2",
        min: 21.0,
        max: 100.0,
        step: 1.0,
        field: |s| &mut s.fio2,
    },
];

/// The simulated ventilator.
pub(crate) struct Ventilator {
    model: Arc<Model>,
    serial: String,
}

impl Ventilator {
    pub(crate) fn new(model: Arc<Model>, serial: String) -> Self {
        Ventilator { model, serial }
    }

    fn state(&self) -> Reply {
        Reply::State(
            if self.model.is_running() {
                "RUNNING"
            } else {
                "STANDBY"
            }
            .into(),
        )
    }

    fn reply(&mut self, request: Request) -> Reply {
        match request {
            Request::Identify => Reply::Identity {
                maker: "qbench".into(),
                model: "SIM-VENT".into(),
                serial: self.serial.clone(),
                firmware: env!("CARGO_PKG_VERSION").into(),
            },
            Request::Run => {
                self.model.set_running(true);
                self.state()
            }
            Request::Standby => {
                self.model.set_running(false);
                self.state()
            }
            Request::State => self.state(),
            Request::Get { param } if param == "MODE" => Reply::Val {
                param,
                value: Value::Word(self.model.vent().mode.wire().into()),
            },
            Request::Get { param } => match PARAMS.iter().find(|p| p.wire == param) {
                Some(p) => {
                    let mut settings = self.model.vent();
                    let value = *(p.field)(&mut settings);
                    Reply::Val {
                        param,
                        value: Value::Number(value),
                    }
                }
                None => unknown_parameter(&param),
            },
            Request::Set { param, value } if param == "MODE" => {
                let mode = match &value {
                    Value::Word(w) => Mode::from_wire(w),
                    Value::Number(_) => None,
                };
                match mode {
                    Some(mode) => {
                        let settings = self.model.set_vent(|s| s.mode = mode);
                        Reply::Ok {
                            param,
                            value: Value::Word(settings.mode.wire().into()),
                        }
                    }
                    None => Reply::error(
                        ErrorCode::BadValue,
                        format!("MODE {value} not supported (VC, PC)"),
                    ),
                }
            }
            Request::Set { param, value } => {
                let Some(p) = PARAMS.iter().find(|p| p.wire == param) else {
                    return unknown_parameter(&param);
                };
                let Some(v) = value.as_number() else {
                    return Reply::error(ErrorCode::BadValue, format!("{param} takes a number"));
                };
                if !(p.min..=p.max).contains(&v) {
                    return Reply::error(
                        ErrorCode::OutOfRange,
                        format!("{param} out of range {}..{}", p.min, p.max),
                    );
                }
                let rounded = round_to(v, p.step);
                let settings = self.model.set_vent(|s| *(p.field)(s) = rounded);
                let mut settings = settings;
                Reply::Ok {
                    param,
                    value: Value::Number(*(p.field)(&mut settings)),
                }
            }
        }
    }
}

/// `v` rounded to a multiple of `step`, without binary noise in the decimal text.
pub(crate) fn round_to(v: f64, step: f64) -> f64 {
    let decimals = (-step.log10()).ceil().max(0.0) as i32;
    let scale = 10f64.powi(decimals);
    ((v / step).round() * step * scale).round() / scale
}

fn unknown_parameter(param: &str) -> Reply {
    Reply::error(
        ErrorCode::UnknownParameter,
        format!("unknown parameter {param}"),
    )
}

/// The reply to a line that does not parse: checksum errors are told apart.
pub(crate) fn reply_to_bad_line(err: &LineError) -> Reply {
    match err {
        LineError::Checksum { .. } => Reply::error(ErrorCode::BadChecksum, "checksum mismatch"),
        _ => Reply::error(ErrorCode::UnknownCommand, "unknown command"),
    }
}

impl Device for Ventilator {
    fn terminator(&self) -> u8 {
        line_ascii::TERMINATOR
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        Some(match Request::parse(request) {
            Ok((request, checksum)) => self.reply(request).encode(checksum),
            Err(e) => reply_to_bad_line(&e).encode(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::VentilatorConfig;
    use crate::sim::model::LungSettings;

    fn vent() -> Ventilator {
        let model = Model::new(
            1,
            VentilatorConfig::default(),
            LungSettings { c: 50.0, r: 5.0 },
            1.0,
        );
        Ventilator::new(Arc::new(model), "V1".into())
    }

    fn ask(v: &mut Ventilator, line: &str) -> String {
        let bytes = v.answer(line.as_bytes()).expect("answers");
        String::from_utf8(bytes).expect("ascii")
    }

    #[test]
    fn answers_the_protocol() {
        let mut v = vent();
        assert!(ask(&mut v, "ID?").starts_with("ID qbench,SIM-VENT,V1,"));
        assert_eq!(ask(&mut v, "SET VT 432.4"), "OK VT 432\n");
        assert_eq!(ask(&mut v, "SET TI 0.8"), "OK TI 0.8\n");
        assert_eq!(ask(&mut v, "GET VT"), "VAL VT 432\n");
        assert_eq!(
            ask(&mut v, "SET VT 9000"),
            "ERR 4 VT out of range 5..2500\n"
        );
        assert_eq!(ask(&mut v, "SET XX 1"), "ERR 2 unknown parameter XX\n");
        assert_eq!(ask(&mut v, "GET MODE"), "VAL MODE VC\n");
        assert_eq!(ask(&mut v, "SET MODE PC"), "OK MODE PC\n");
        assert_eq!(ask(&mut v, "GET MODE"), "VAL MODE PC\n");
        assert_eq!(
            ask(&mut v, "SET MODE PS"),
            "ERR 3 MODE PS not supported (VC, PC)\n"
        );
        assert_eq!(
            ask(&mut v, "SET MODE 1"),
            "ERR 3 MODE 1 not supported (VC, PC)\n"
        );
        assert_eq!(ask(&mut v, "SET PINSP 15.04"), "OK PINSP 15\n");
        assert_eq!(ask(&mut v, "GET PINSP"), "VAL PINSP 15\n");
        assert_eq!(
            ask(&mut v, "SET PINSP 81"),
            "ERR 4 PINSP out of range 0..80\n"
        );
        assert_eq!(ask(&mut v, "SET MODE VC"), "OK MODE VC\n");
        assert_eq!(ask(&mut v, "STATE?"), "STATE STANDBY\n");
        assert_eq!(ask(&mut v, "RUN"), "STATE RUNNING\n");
        assert_eq!(ask(&mut v, "STANDBY\r"), "STATE STANDBY\n");
        assert_eq!(ask(&mut v, "hello"), "ERR 1 unknown command\n");
        assert_eq!(ask(&mut v, "RUN*00"), "ERR 5 checksum mismatch\n");
        assert_eq!(ask(&mut v, "STATE?*68"), "STATE STANDBY*20\n");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_requests_get_an_answer(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let mut v = vent();
            let answer = v.answer(&bytes).expect("always answers");
            proptest::prop_assert!(line_ascii::Reply::parse(&answer).is_ok());
        }

        #[test]
        fn any_accepted_value_reads_back_parsable(value in -100.0f64..3000.0) {
            let mut v = vent();
            let answer = v.answer(format!("SET VT {value}").as_bytes()).expect("answers");
            proptest::prop_assert!(line_ascii::Reply::parse(&answer).is_ok());
        }
    }

    #[test]
    fn rounding_gives_clean_decimals() {
        assert_eq!(round_to(0.8, 0.01), 0.8);
        assert_eq!(round_to(12.34, 0.1), 12.3);
        assert_eq!(round_to(432.6, 1.0), 433.0);
    }
}
