//! Driver `imt-flowanalyser`: IMT Analytics gas-flow analyzers (FlowAnalyser PF-300, CITREX)
//! over RS-232.
//!
//! Reads are `%RM#<id>` scaled by the model's divider; the answer must echo the request's
//! operation and id, a lone `?` is a refusal, and the raw value -2147483648 is `NotDefined`.
//! A breath is awaited by polling the breath phase (measurement 8) every `poll_interval`
//! and returning on the inspiration→expiration edge, after which measurements such as Vti
//! describe the breath just ended.
//!
//! Options: `model` (`PF-300`, `PF-300 PRO`, `CITREX`; PF-300 unless stated), `gas_standard`
//! (a name from [`GAS_STANDARDS`](crate::protocol::imt::GAS_STANDARDS), written to setting 3
//! at open and read back), `poll_interval` (a time quantity, `10 ms` unless stated).

use super::common::{Options, bad_option, protocol, unit, unsupported};
use super::{
    Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity,
    QuantitySpec,
};
use crate::link::ByteLink;
use crate::protocol::imt::{self, Answer, Frame, Model, Operation};
use crate::units::Quantity;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NAME: &str = "imt-flowanalyser";

/// Measurement ids and units of the quantities this driver reads.
const MEASUREMENTS: &[(&str, u32, &str, &str)] = &[
    ("high_flow", 0, "L/min", "flow in the high-flow channel"),
    ("oxygen", 9, "%", "oxygen concentration"),
    (
        "inspiration_time",
        19,
        "s",
        "inspiration time of the last breath",
    ),
    (
        "expiration_time",
        20,
        "s",
        "expiration time of the last breath",
    ),
    ("breath_rate", 22, "/min", "breath rate"),
    (
        "inspired_volume",
        23,
        "mL",
        "inspired tidal volume (Vti) of the last breath",
    ),
    (
        "expired_volume",
        24,
        "mL",
        "expired tidal volume (Vte) of the last breath",
    ),
    (
        "inspiratory_minute_volume",
        25,
        "L/min",
        "inspiratory minute volume",
    ),
    (
        "peak_pressure",
        27,
        "mbar",
        "peak pressure of the last breath",
    ),
    (
        "mean_pressure",
        28,
        "mbar",
        "mean pressure of the last breath",
    ),
    (
        "peep",
        29,
        "mbar",
        "positive end-expiratory pressure of the last breath",
    ),
    (
        "plateau_pressure",
        41,
        "mbar",
        "plateau pressure of the last breath",
    ),
    (
        "compliance",
        42,
        "mL/mbar",
        "compliance computed by the analyzer",
    ),
];

/// What `imt-flowanalyser` offers.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "flow_analyzer",
    settings: &[],
    actions: &[],
    quantities: &[
        QuantitySpec {
            name: "high_flow",
            unit: "L/min",
            description: "flow in the high-flow channel",
        },
        QuantitySpec {
            name: "oxygen",
            unit: "%",
            description: "oxygen concentration",
        },
        QuantitySpec {
            name: "inspiration_time",
            unit: "s",
            description: "inspiration time of the last breath",
        },
        QuantitySpec {
            name: "expiration_time",
            unit: "s",
            description: "expiration time of the last breath",
        },
        QuantitySpec {
            name: "breath_rate",
            unit: "/min",
            description: "breath rate",
        },
        QuantitySpec {
            name: "inspired_volume",
            unit: "mL",
            description: "inspired tidal volume (Vti) of the last breath",
        },
        QuantitySpec {
            name: "expired_volume",
            unit: "mL",
            description: "expired tidal volume (Vte) of the last breath",
        },
        QuantitySpec {
            name: "inspiratory_minute_volume",
            unit: "L/min",
            description: "inspiratory minute volume",
        },
        QuantitySpec {
            name: "peak_pressure",
            unit: "mbar",
            description: "peak pressure of the last breath",
        },
        QuantitySpec {
            name: "mean_pressure",
            unit: "mbar",
            description: "mean pressure of the last breath",
        },
        QuantitySpec {
            name: "peep",
            unit: "mbar",
            description: "positive end-expiratory pressure of the last breath",
        },
        QuantitySpec {
            name: "plateau_pressure",
            unit: "mbar",
            description: "plateau pressure of the last breath",
        },
        QuantitySpec {
            name: "compliance",
            unit: "mL/mbar",
            description: "compliance computed by the analyzer",
        },
    ],
    events: &[DeviceEvent::Breath],
};

const OPTIONS: &[&str] = &["model", "gas_standard", "poll_interval", "retries"];

/// The breath-phase measurement: bit 0 is 1 during inspiration.
const BREATH_PHASE: u32 = 8;

/// An IMT analyzer on its RS-232 port.
pub(crate) struct ImtFlowAnalyzer {
    link: Box<dyn ByteLink>,
    model: Model,
    poll_interval: Duration,
    timeout: Duration,
    /// Set after a timeout or garbage; the next request first discards stale input.
    resync: bool,
    /// Retries of a read after a transient fault.
    retries: u32,
    /// What happened that the journal should know (retries).
    notes: Vec<String>,
}

/// Opens the driver on `link`; writes and checks the gas standard if the option is given.
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let options = Options::new(NAME, options, OPTIONS)?;
    let model = match options.text("model") {
        None => Model::Pf300,
        Some(name) => Model::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Model::ALL.iter().map(|m| m.name()).collect();
            bad_option(
                NAME,
                "model",
                format!("unknown model `{name}` (known: {})", known.join(", ")),
            )
        })?,
    };
    let gas_standard = match options.text("gas_standard") {
        None => None,
        Some(name) => Some(imt::gas_standard_code(name).ok_or_else(|| {
            let known: Vec<&str> = imt::GAS_STANDARDS.iter().map(|(_, n, _)| *n).collect();
            bad_option(
                NAME,
                "gas_standard",
                format!(
                    "unknown gas standard `{name}` (known: {})",
                    known.join(", ")
                ),
            )
        })?),
    };
    let poll_interval = options.duration("poll_interval", Duration::from_millis(10))?;
    let timeout = link.command_timeout();
    let retries = super::scpi_pressure_meter::retries(NAME, options.text("retries"))?;
    let mut driver = ImtFlowAnalyzer {
        link,
        model,
        poll_interval,
        timeout,
        resync: false,
        retries,
        notes: Vec::new(),
    };
    if let Some(code) = gas_standard {
        driver.write_setting(imt::SETTING_GAS_STANDARD, code)?;
        let back = driver.value_of(&Frame::new(
            Operation::ReadSetting,
            imt::SETTING_GAS_STANDARD,
        ))?;
        if back != code {
            return Err(refused(format!("%RS#3${back} after writing %WS#3${code}")));
        }
    }
    Ok(Box::new(driver))
}

fn refused(reply: impl Into<String>) -> DriverError {
    DriverError::new(
        NAME,
        DriverErrorKind::InstrumentRefused {
            reply: reply.into(),
        },
    )
}

impl ImtFlowAnalyzer {
    /// Sends `request` and returns the echoed answer frame.
    fn exchange(&mut self, request: &Frame) -> Result<Frame, DriverError> {
        let link_err = |e| DriverError::new(NAME, DriverErrorKind::Link(e));
        if self.resync {
            self.link.discard_input().map_err(link_err)?;
            self.resync = false;
        }
        self.link.send(&request.encode()).map_err(link_err)?;
        let line = match self.link.receive_until(imt::TERMINATOR, self.timeout) {
            Ok(line) => line,
            Err(e) => {
                self.resync = true;
                return Err(link_err(e));
            }
        };
        match imt::parse_answer(&line, request) {
            Ok(Answer::Frame(frame)) => Ok(frame),
            Ok(Answer::Invalid) => Err(refused(format!("? (to {request})"))),
            Err(e) => {
                self.resync = true;
                Err(protocol(
                    NAME,
                    format!("an answer to `{request}` ({e})"),
                    &line,
                ))
            }
        }
    }

    /// The single raw value of the answer to `request`. Reads (never writes) are asked again
    /// up to `retries` times after a transient fault (a timeout, a garbled answer); each retry
    /// is noted, so the journal says what was recovered from.
    fn value_of(&mut self, request: &Frame) -> Result<i64, DriverError> {
        let retriable =
            request.operation != Operation::WriteSetting && request.operation != Operation::Command;
        let mut attempt = 0;
        loop {
            match self.value_once(request) {
                Err(e) if retriable && attempt < self.retries && super::retry::is_transient(&e) => {
                    attempt += 1;
                    self.notes
                        .push(format!("retry {attempt} of `{request}` after: {e}"));
                    std::thread::sleep(super::retry::pause_before(attempt));
                }
                Ok(v) if attempt > 0 => {
                    self.notes
                        .push(format!("`{request}` succeeded after {attempt} retries"));
                    return Ok(v);
                }
                other => return other,
            }
        }
    }

    /// One exchange of `request` and its single raw value.
    fn value_once(&mut self, request: &Frame) -> Result<i64, DriverError> {
        let frame = self.exchange(request)?;
        frame.single_value().map_err(|e| {
            protocol(
                NAME,
                format!("one value in the answer to `{request}` ({e})"),
                frame.to_string().as_bytes(),
            )
        })
    }

    /// Writes a setting and checks the read-back echo (a differing echo means it failed).
    fn write_setting(&mut self, id: u32, value: i64) -> Result<(), DriverError> {
        let request = Frame::with_value(Operation::WriteSetting, id, value);
        let back = self.value_of(&request)?;
        if back != value {
            return Err(refused(format!("%WS#{id}${back} (wrote {value})")));
        }
        Ok(())
    }

    /// Reads measurement `id` as a raw value, `NotDefined` for the sentinel.
    fn raw_measurement(&mut self, id: u32, quantity: &str) -> Result<i64, DriverError> {
        let raw = self.value_of(&Frame::new(Operation::ReadMeasurement, id))?;
        if raw == imt::NOT_DEFINED {
            return Err(DriverError::new(
                NAME,
                DriverErrorKind::NotDefined {
                    quantity: quantity.to_string(),
                },
            ));
        }
        Ok(raw)
    }

    fn info(&mut self, id: u32) -> Result<i64, DriverError> {
        self.value_of(&Frame::new(Operation::ReadInfo, id))
    }
}

impl Driver for ImtFlowAnalyzer {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let hardware = self.info(1)?;
        let (major, minor, release) = (self.info(2)?, self.info(3)?, self.info(4)?);
        let serial = self.info(8)?;
        Ok(Identity {
            manufacturer: "IMT Analytics".into(),
            model: self.model.name().into(),
            serial: serial.to_string(),
            firmware: format!("{major}.{minor}.{release} (hardware {hardware})"),
        })
    }

    fn set(&mut self, name: &str, _value: &Quantity) -> Result<Quantity, DriverError> {
        Err(unsupported(
            NAME,
            format!("setting `{name}` (the analyzer takes its settings as fixture options)"),
        ))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("action `{action}` (none offered)"),
        ))
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some(&(_, id, symbol, _)) = MEASUREMENTS.iter().find(|m| m.0 == quantity) else {
            let known: Vec<&str> = MEASUREMENTS.iter().map(|m| m.0).collect();
            return Err(unsupported(
                NAME,
                format!("quantity `{quantity}` (known: {})", known.join(", ")),
            ));
        };
        let divider = self.model.divider(id).ok_or_else(|| {
            unsupported(
                NAME,
                format!("measurement {id} on the {}", self.model.name()),
            )
        })?;
        let raw = self.raw_measurement(id, quantity)?;
        let value = imt::scale(raw, divider).map_err(|_| {
            DriverError::new(
                NAME,
                DriverErrorKind::NotDefined {
                    quantity: quantity.to_string(),
                },
            )
        })?;
        Ok(Quantity::new(value, unit(NAME, symbol)?))
    }

    fn await_event(&mut self, event: DeviceEvent, timeout: Duration) -> Result<(), DriverError> {
        match event {
            DeviceEvent::Breath => {}
        }
        let start = Instant::now();
        let deadline = start + timeout;
        // Only an inspiration seen during this call counts, so a breath whose end was
        // already reported is never reported again.
        let mut seen_inspiration = false;
        loop {
            let phase = self.raw_measurement(BREATH_PHASE, "breath phase")?;
            let inspiring = phase & 1 == 1;
            if inspiring {
                seen_inspiration = true;
            } else if seen_inspiration {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::new(
                    NAME,
                    DriverErrorKind::NoEvent {
                        event: "breath".into(),
                        waited_ms: (now - start).as_millis(),
                    },
                ));
            }
            std::thread::sleep(self.poll_interval.min(deadline - now));
        }
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        Ok(())
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        let code = self.value_of(&Frame::new(
            Operation::ReadSetting,
            imt::SETTING_GAS_STANDARD,
        ))?;
        let value = imt::gas_standard_name(code)
            .map(str::to_string)
            .unwrap_or_else(|| format!("unknown gas standard {code}"));
        Ok(vec![Condition {
            name: "gas_standard".into(),
            value,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;
    use crate::link::LinkErrorKind;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn driver(
        replies: &[&str],
        pairs: &[(&str, &str)],
    ) -> (Box<dyn Driver>, crate::driver::fake_link::FakeLog) {
        let (link, log) = FakeLink::new(replies);
        (open(Box::new(link), &options(pairs)).expect("opens"), log)
    }

    #[test]
    fn reads_scaled_by_the_model_divider() {
        let (mut d, log) = driver(&["%RM#23$512", "%RM#27$153"], &[]);
        let v = d.read("inspired_volume").unwrap();
        assert_eq!((v.value, v.unit.symbol()), (512.0, "mL"));
        assert_eq!(d.read("peak_pressure").unwrap().value, 15.3);
        assert_eq!(log.sent(), vec!["%RM#23\r", "%RM#27\r"]);
        let (mut d, _) = driver(&["%RM#23$5123"], &[("model", "CITREX")]);
        assert_eq!(d.read("inspired_volume").unwrap().value, 512.3);
    }

    #[test]
    fn not_defined_is_an_instrument_error() {
        let (mut d, _) = driver(&["%RM#23$-2147483648"], &[]);
        let err = d.read("inspired_volume").unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::NotDefined { .. }),
            "{err}"
        );
    }

    #[test]
    fn question_mark_is_a_refusal_and_wrong_echo_a_protocol_error() {
        let (mut d, _) = driver(&["?", "%RM#24$500", "%RM#23"], &[]);
        assert!(matches!(
            d.read("inspired_volume").unwrap_err().kind,
            DriverErrorKind::InstrumentRefused { .. }
        ));
        assert!(matches!(
            d.read("inspired_volume").unwrap_err().kind,
            DriverErrorKind::Protocol { .. }
        ));
        assert!(matches!(
            d.read("inspired_volume").unwrap_err().kind,
            DriverErrorKind::Protocol { .. }
        ));
    }

    #[test]
    fn gas_standard_is_written_at_open_and_read_back() {
        let (mut d, log) = driver(
            &["%WS#3$2", "%RS#3$2", "%RS#3$2"],
            &[("gas_standard", "BTPS")],
        );
        assert_eq!(log.sent(), vec!["%WS#3$2\r", "%RS#3\r"]);
        let c = d.conditions().unwrap();
        assert_eq!(
            c,
            vec![Condition {
                name: "gas_standard".into(),
                value: "BTPS".into()
            }]
        );
    }

    #[test]
    fn a_refused_gas_standard_write_fails_the_open() {
        let (link, _) = FakeLink::new(&["%WS#3$0"]);
        let err = open(Box::new(link), &options(&[("gas_standard", "btps")]))
            .err()
            .expect("fails");
        assert!(
            matches!(err.kind, DriverErrorKind::InstrumentRefused { .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_options_name_the_known_values() {
        let (link, _) = FakeLink::new(&[]);
        let err = open(Box::new(link), &options(&[("model", "PF-9")]))
            .err()
            .expect("fails");
        assert!(err.to_string().contains("CITREX"), "{err}");
        let (link, _) = FakeLink::new(&[]);
        let err = open(Box::new(link), &options(&[("gas_standard", "XTP")]))
            .err()
            .expect("fails");
        assert!(err.to_string().contains("BTPS"), "{err}");
        let (link, _) = FakeLink::new(&[]);
        let err = open(Box::new(link), &options(&[("poll_interval", "3 mL")]))
            .err()
            .expect("fails");
        assert!(matches!(err.kind, DriverErrorKind::BadOption { .. }));
    }

    #[test]
    fn identity_comes_from_system_information() {
        let (mut d, log) = driver(
            &["%RI#1$3", "%RI#2$1", "%RI#3$13", "%RI#4$0", "%RI#8$300123"],
            &[],
        );
        let id = d.identify().unwrap();
        assert_eq!(id.serial, "300123");
        assert_eq!(id.firmware, "1.13.0 (hardware 3)");
        assert_eq!(log.sent().len(), 5);
    }

    #[test]
    fn await_breath_returns_on_the_inspiration_to_expiration_edge() {
        let phases = [
            "%RM#8$0", "%RM#8$1", "%RM#8$1", "%RM#8$0", "%RM#8$0", "%RM#8$1", "%RM#8$0",
        ];
        let (mut d, log) = driver(&phases, &[("poll_interval", "1 us")]);
        d.await_event(DeviceEvent::Breath, Duration::from_secs(1))
            .unwrap();
        assert_eq!(log.sent().len(), 4);
        // The next call must see a new inspiration, not the end of the same breath.
        d.await_event(DeviceEvent::Breath, Duration::from_secs(1))
            .unwrap();
        assert_eq!(log.sent().len(), 7);
    }

    #[test]
    fn await_breath_times_out_without_breaths() {
        let (mut d, _) = driver(&["%RM#8$0"; 200], &[("poll_interval", "1 ms")]);
        let err = d
            .await_event(DeviceEvent::Breath, Duration::from_millis(20))
            .unwrap_err();
        assert!(matches!(err.kind, DriverErrorKind::NoEvent { .. }), "{err}");
    }

    #[test]
    fn link_timeouts_propagate() {
        let (link, _) = FakeLink::new(&[]);
        let link = link.then_fail(LinkErrorKind::Timeout);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        assert!(
            d.read("oxygen")
                .unwrap_err()
                .link_error()
                .is_some_and(|e| e.is_timeout())
        );
    }
}
