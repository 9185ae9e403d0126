//! The simulated active test lung: qbench's line protocol, parameters `C` (mL/hPa,
//! 0.5..200, 0.1 resolution) and `R` (hPa/(L/s), 0..500, 0.1). Setting either changes the
//! shared model, so the next breath meets the new lung.

use super::model::{LungSettings, Model};
use super::serve::Device;
use super::ventilator::{reply_to_bad_line, round_to};
use crate::protocol::line_ascii::{self, ErrorCode, Reply, Request, Value};
use std::sync::Arc;

struct Param {
    wire: &'static str,
    min: f64,
    max: f64,
    field: fn(&mut LungSettings) -> &mut f64,
}

const PARAMS: &[Param] = &[
    Param {
        wire: "C",
        min: 0.5,
        max: 200.0,
        field: |l| &mut l.c,
    },
    Param {
        wire: "R",
        min: 0.0,
        max: 500.0,
        field: |l| &mut l.r,
    },
];

/// The simulated test lung.
pub(crate) struct TestLung {
    model: Arc<Model>,
    serial: String,
}

impl TestLung {
    pub(crate) fn new(model: Arc<Model>, serial: String) -> Self {
        TestLung { model, serial }
    }

    fn reply(&mut self, request: Request) -> Reply {
        match request {
            Request::Identify => Reply::Identity {
                maker: "qbench".into(),
                model: "SIM-LUNG".into(),
                serial: self.serial.clone(),
                firmware: env!("CARGO_PKG_VERSION").into(),
            },
            Request::State => Reply::State("READY".into()),
            Request::Run | Request::Standby => Reply::error(
                ErrorCode::UnknownCommand,
                "a test lung neither runs nor stands by",
            ),
            Request::Get { param } => match PARAMS.iter().find(|p| p.wire == param) {
                Some(p) => {
                    let mut lung = self.model.lung();
                    Reply::Val {
                        param,
                        value: Value::Number(*(p.field)(&mut lung)),
                    }
                }
                None => Reply::error(
                    ErrorCode::UnknownParameter,
                    format!("unknown parameter {param}"),
                ),
            },
            Request::Set { param, value } => {
                let Some(p) = PARAMS.iter().find(|p| p.wire == param) else {
                    return Reply::error(
                        ErrorCode::UnknownParameter,
                        format!("unknown parameter {param}"),
                    );
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
                let rounded = round_to(v, 0.1);
                let mut lung = self.model.set_lung(|l| *(p.field)(l) = rounded);
                Reply::Ok {
                    param,
                    value: Value::Number(*(p.field)(&mut lung)),
                }
            }
        }
    }
}

impl Device for TestLung {
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

    #[test]
    fn settings_change_the_shared_model() {
        let model = Arc::new(Model::new(
            1,
            VentilatorConfig::default(),
            LungSettings { c: 50.0, r: 5.0 },
            1.0,
        ));
        let mut lung = TestLung::new(Arc::clone(&model), "L1".into());
        assert_eq!(lung.answer(b"SET C 20").as_deref(), Some(&b"OK C 20\n"[..]));
        assert_eq!(
            lung.answer(b"SET R 50.04").as_deref(),
            Some(&b"OK R 50\n"[..])
        );
        assert_eq!(model.lung(), LungSettings { c: 20.0, r: 50.0 });
        assert_eq!(
            lung.answer(b"SET C 0").as_deref(),
            Some(&b"ERR 4 C out of range 0.5..200\n"[..])
        );
        assert_eq!(lung.answer(b"GET R").as_deref(), Some(&b"VAL R 50\n"[..]));
    }
}
