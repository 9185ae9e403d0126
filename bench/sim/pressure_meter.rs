//! The simulated reference pressure meter: SCPI over LF-terminated lines, measuring the
//! airway pressure of the shared model (see `airway.rs`).
//!
//! | message                  | answer / effect                                           |
//! |--------------------------|-----------------------------------------------------------|
//! | `*IDN?`                  | `qbench,SIM-PM,<serial>,<version>`                         |
//! | `*RST`, `*CLS`           | zero offset restored / error queue cleared                 |
//! | `*OPC?`                  | `1`                                                        |
//! | `SYSTem:ERRor[:NEXT]?`   | the oldest queued error, or `0,"No error"`                 |
//! | `MEASure:PRESsure?`      | airway pressure now (`+1.23450E+01 MBAR`)                  |
//! | `MEASure:PRESsure:PEAK?` | peak of the last breath (9.91E37 and error -230 before one) |
//! | `MEASure:PRESsure:PLATeau?` | plateau of the last breath                             |
//! | `MEASure:PRESsure:PEEP?` | PEEP (9.91E37 and error -230 in standby)                   |
//! | `SENSe:PRESsure:ZERO`    | removes the offset; error -221 while ventilating           |
//!
//! Anything else queues -113 "Undefined header" and gets no answer, as IEEE 488.2 requires;
//! parameters given to a header that takes none queue -108. The queue holds 10 entries; an
//! eleventh becomes -350 "Queue overflow".

use super::airway;
use super::config::PressureMeterConfig;
use super::framed::{FramedDevice, split_line};
use super::model::{Model, normal};
use crate::protocol::scpi::{self, format_nr3, header_matches, split_header};
use crate::units::{Quantity, parse_unit};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::VecDeque;
use std::sync::Arc;

const QUEUE: usize = 10;

/// The simulated pressure meter.
pub(crate) struct PressureMeter {
    model: Arc<Model>,
    config: PressureMeterConfig,
    offset: f64,
    errors: VecDeque<(i32, &'static str)>,
    rng: StdRng,
    /// The unit of answers: factor from hPa and the suffix.
    unit: (f64, String),
}

impl PressureMeter {
    pub(crate) fn new(model: Arc<Model>, config: PressureMeterConfig) -> Self {
        let rng = StdRng::seed_from_u64(model.seed() ^ 0x5052_4553_5355_5245);
        let unit = answer_unit(&config.unit).unwrap_or((1.0, "MBAR".into()));
        PressureMeter {
            model,
            offset: config.offset,
            config,
            errors: VecDeque::new(),
            rng,
            unit,
        }
    }

    fn push_error(&mut self, code: i32, text: &'static str) {
        if self.errors.len() + 1 >= QUEUE {
            if self.errors.len() < QUEUE {
                self.errors.push_back((-350, "Queue overflow"));
            }
            return;
        }
        self.errors.push_back((code, text));
    }

    fn reading(&mut self, hpa: Option<f64>, why: &'static str) -> Vec<u8> {
        match hpa {
            Some(p) => {
                let noise = normal(&mut self.rng, self.config.noise_sd);
                let measured = p * (1.0 + self.config.gain_error) + self.offset + noise;
                let (factor, suffix) = &self.unit;
                format!("{} {suffix}\n", format_nr3(measured * factor)).into_bytes()
            }
            None => {
                self.push_error(-230, why);
                b"9.91E37\n".to_vec()
            }
        }
    }
}

/// The factor from hPa to the unit a suffix names, and the suffix in upper case.
pub(crate) fn answer_unit(suffix: &str) -> Option<(f64, String)> {
    let symbol = scpi::unit_of_suffix(suffix)?;
    let unit = parse_unit(symbol).ok()?;
    let hpa = parse_unit("hPa").ok()?;
    let one = Quantity::new(1.0, hpa).to_unit(&unit).ok()?;
    Some((one.value, suffix.to_ascii_uppercase()))
}

impl FramedDevice for PressureMeter {
    fn next_request(&self, pending: &[u8]) -> Option<(usize, usize)> {
        split_line(pending, scpi::TERMINATOR)
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(request);
        let (header, params) = split_header(text.trim_end_matches('\r'));
        if header.is_empty() {
            return None;
        }
        let is = |spec: &str| header_matches(spec, header);
        let takes_no_parameters = [
            "*IDN?",
            "*RST",
            "*CLS",
            "*OPC?",
            "SYSTem:ERRor?",
            "SYSTem:ERRor:NEXT?",
            "MEASure:PRESsure?",
            "MEASure:PRESsure:PEAK?",
            "MEASure:PRESsure:PLATeau?",
            "MEASure:PRESsure:PEEP?",
            "SENSe:PRESsure:ZERO",
        ];
        if !params.is_empty() && takes_no_parameters.iter().any(|s| is(s)) {
            self.push_error(-108, "Parameter not allowed");
            return None;
        }
        let snapshot = self.model.snapshot();
        if is("*IDN?") {
            Some(
                format!(
                    "qbench,SIM-PM,{},{}\n",
                    self.config.serial,
                    env!("CARGO_PKG_VERSION")
                )
                .into_bytes(),
            )
        } else if is("*RST") {
            self.offset = self.config.offset;
            None
        } else if is("*CLS") {
            self.errors.clear();
            None
        } else if is("*OPC?") {
            Some(b"1\n".to_vec())
        } else if is("SYSTem:ERRor?") || is("SYSTem:ERRor:NEXT?") {
            let (code, text) = self.errors.pop_front().unwrap_or((0, "No error"));
            Some(format!("{code},\"{text}\"\n").into_bytes())
        } else if is("MEASure:PRESsure?") {
            Some(self.reading(Some(airway::pressure_now(&snapshot)), ""))
        } else if is("MEASure:PRESsure:PEAK?") {
            Some(self.reading(
                airway::last_peak(&snapshot),
                "Data corrupt or stale; no breath yet",
            ))
        } else if is("MEASure:PRESsure:PLATeau?") {
            Some(self.reading(
                airway::last_plateau(&snapshot),
                "Data corrupt or stale; no breath yet",
            ))
        } else if is("MEASure:PRESsure:PEEP?") {
            Some(self.reading(
                airway::peep(&snapshot),
                "Data corrupt or stale; not ventilating",
            ))
        } else if is("SENSe:PRESsure:ZERO") {
            if self.model.is_running() {
                self.push_error(
                    -221,
                    "Settings conflict; zero needs the port open to ambient",
                );
            } else {
                self.offset = 0.0;
            }
            None
        } else {
            self.push_error(-113, "Undefined header");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::VentilatorConfig;
    use crate::sim::model::LungSettings;

    fn meter(config: PressureMeterConfig) -> (Arc<Model>, PressureMeter) {
        let model = Arc::new(Model::new(
            3,
            VentilatorConfig::default(),
            LungSettings { c: 50.0, r: 5.0 },
            1000.0,
        ));
        (Arc::clone(&model), PressureMeter::new(model, config))
    }

    fn ask(m: &mut PressureMeter, text: &str) -> Option<String> {
        m.answer(text.as_bytes())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    #[test]
    fn answers_identity_readings_and_keeps_an_error_queue() {
        let (model, mut m) = meter(PressureMeterConfig {
            offset: 0.5,
            ..Default::default()
        });
        assert!(
            ask(&mut m, "*IDN?")
                .unwrap()
                .starts_with("qbench,SIM-PM,SIM-PM-0001,")
        );
        assert_eq!(
            ask(&mut m, "meas:pres?").as_deref(),
            Some("+5.00000E-01 MBAR\n")
        );
        assert_eq!(ask(&mut m, "MEAS:PRES:PEAK?").as_deref(), Some("9.91E37\n"));
        assert_eq!(ask(&mut m, "FOO:BAR"), None);
        assert_eq!(ask(&mut m, "*IDN? 3"), None);
        assert!(ask(&mut m, "SYST:ERR?").unwrap().starts_with("-230,"));
        assert_eq!(
            ask(&mut m, "SYST:ERR?").as_deref(),
            Some("-113,\"Undefined header\"\n")
        );
        assert_eq!(
            ask(&mut m, "SYSTEM:ERROR:NEXT?").as_deref(),
            Some("-108,\"Parameter not allowed\"\n")
        );
        assert_eq!(
            ask(&mut m, "SYST:ERR?").as_deref(),
            Some("0,\"No error\"\n")
        );
        assert_eq!(ask(&mut m, "SENS:PRES:ZERO"), None);
        assert_eq!(
            ask(&mut m, "MEAS:PRES?").as_deref(),
            Some("+0.00000E+00 MBAR\n")
        );
        model.set_running(true);
        assert_eq!(ask(&mut m, "SENS:PRES:ZERO"), None);
        assert!(ask(&mut m, "SYST:ERR?").unwrap().starts_with("-221,"));
    }

    #[test]
    fn the_queue_overflows_into_one_entry() {
        let (_, mut m) = meter(PressureMeterConfig::default());
        for _ in 0..20 {
            ask(&mut m, "NOPE");
        }
        let mut codes = Vec::new();
        loop {
            let e = ask(&mut m, "SYST:ERR?").unwrap();
            let entry = scpi::parse_error_entry(e.trim_end().as_bytes()).unwrap();
            if entry.is_no_error() {
                break;
            }
            codes.push(entry.code);
        }
        assert_eq!(codes.len(), QUEUE);
        assert_eq!(codes.last(), Some(&-350));
    }

    #[test]
    fn answers_in_the_configured_unit() {
        let (_, mut m) = meter(PressureMeterConfig {
            offset: 1.0,
            unit: "PA".into(),
            ..Default::default()
        });
        assert_eq!(
            ask(&mut m, "MEAS:PRES?").as_deref(),
            Some("+1.00000E+02 PA\n")
        );
    }
}
