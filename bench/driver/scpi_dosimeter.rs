//! Driver `qbench-dosimeter`: a reference X-ray dosimeter (a solid-state "X-ray multimeter")
//! speaking SCPI, measuring one exposure per arming. The command set is documented in
//! `docs/xray-bench.md`.
//!
//! | quantity        | query         | unit  | meaning                                     |
//! |-----------------|---------------|-------|---------------------------------------------|
//! | `air_kerma`     | `FETC:KERM?`  | µGy   | air kerma of the measured exposure          |
//! | `kvp`           | `FETC:KVP?`   | kV    | peak tube voltage, measured non-invasively  |
//! | `exposure_time` | `FETC:TIME?`  | ms    | irradiation time                            |
//! | `dose_rate`     | `FETC:RATE?`  | µGy/s | mean air-kerma rate over the exposure        |
//!
//! Action `arm` sends `INIT`: the next exposure is measured; `disarm` sends `ABOR`. Every
//! quantity belongs to the measurement of the last armed exposure, so a procedure arms the
//! dosimeter, exposes, and then reads as many of them as it needs. A read while the
//! dosimeter is still armed waits for the exposure as long as the instrument's trigger
//! timeout (option `trigger_timeout`, sent as `TRIG:TIM` when first arming; 10 s unless
//! stated) plus the link's timeout; an exposure it did not see is the error "no exposure
//! measured", never a number.
//!
//! Answers carry unit suffixes (`UGY`, `KV`, `MS`, `UGY/S`); the driver converts them and
//! refuses a unit of another dimension. Options: `retries`, `reset` (as the pressure
//! meter's), `trigger_timeout`.

use super::common::{Options, convert, unit, unsupported};
use super::scpi_client::ScpiClient;
use super::scpi_pressure_meter::retries;
use super::{
    Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity,
    QuantitySpec,
};
use crate::link::ByteLink;
use crate::protocol::scpi::format_nr3;
use crate::units::Quantity;
use std::collections::BTreeMap;
use std::time::Duration;

/// The driver's name in fixtures.
pub(crate) const NAME: &str = "qbench-dosimeter";

/// (quantity, query, the unit the driver reports in).
const QUERIES: &[(&str, &str, &str)] = &[
    ("air_kerma", "FETC:KERM?", "µGy"),
    ("kvp", "FETC:KVP?", "kV"),
    ("exposure_time", "FETC:TIME?", "ms"),
    ("dose_rate", "FETC:RATE?", "µGy/s"),
];

/// What `qbench-dosimeter` offers.
pub(crate) const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "dosimeter",
    settings: &[],
    actions: &["arm", "disarm"],
    quantities: &[
        QuantitySpec {
            name: "air_kerma",
            unit: "µGy",
            description: "air kerma of the last measured exposure",
        },
        QuantitySpec {
            name: "kvp",
            unit: "kV",
            description: "peak tube voltage of the last measured exposure (non-invasive)",
        },
        QuantitySpec {
            name: "exposure_time",
            unit: "ms",
            description: "irradiation time of the last measured exposure",
        },
        QuantitySpec {
            name: "dose_rate",
            unit: "µGy/s",
            description: "mean air-kerma rate of the last measured exposure",
        },
    ],
    events: &[],
};

/// The trigger timeout unless the fixture states one.
const DEFAULT_TRIGGER_TIMEOUT: Duration = Duration::from_secs(10);

/// A SCPI reference dosimeter.
pub(crate) struct Dosimeter {
    client: ScpiClient,
    trigger_timeout: Duration,
    /// Whether `TRIG:TIM` was sent (on the first arming, so that opening stays silent).
    timeout_sent: bool,
}

/// Opens the driver; sends `*RST` only with `reset: true`.
pub(crate) fn open(
    link: Box<dyn ByteLink>,
    options: &BTreeMap<String, String>,
) -> Result<Box<dyn Driver>, DriverError> {
    let options = Options::new(NAME, options, &["retries", "reset", "trigger_timeout"])?;
    let retries = retries(NAME, options.text("retries"))?;
    let trigger_timeout = options.duration("trigger_timeout", DEFAULT_TRIGGER_TIMEOUT)?;
    let mut client = ScpiClient::new(NAME, link, retries);
    if options.flag("reset", false)? {
        client.reset()?;
    }
    Ok(Box::new(Dosimeter {
        client,
        trigger_timeout,
        timeout_sent: false,
    }))
}

impl Driver for Dosimeter {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        self.client.identify()
    }

    fn set(&mut self, name: &str, _value: &Quantity) -> Result<Quantity, DriverError> {
        Err(unsupported(
            NAME,
            format!("setting `{name}` (the dosimeter has none; its trigger timeout is an option)"),
        ))
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        match action {
            "arm" => {
                if !self.timeout_sent {
                    let seconds = format_nr3(self.trigger_timeout.as_secs_f64());
                    self.client.command(&format!("TRIG:TIM {seconds}"))?;
                    self.timeout_sent = true;
                }
                self.client.command("INIT")
            }
            "disarm" => self.client.command("ABOR"),
            other => Err(unsupported(
                NAME,
                format!("action `{other}` (known: arm, disarm)"),
            )),
        }
    }

    fn read(&mut self, quantity: &str) -> Result<Quantity, DriverError> {
        let Some((_, query, reported)) = QUERIES.iter().find(|(q, ..)| *q == quantity) else {
            let known: Vec<&str> = QUERIES.iter().map(|(q, ..)| *q).collect();
            return Err(unsupported(
                NAME,
                format!("quantity `{quantity}` (known: {})", known.join(", ")),
            ));
        };
        let waited = self.trigger_timeout;
        let reading = self
            .client
            .query_number_waiting(query, quantity, waited)
            .map_err(|e| match e.kind {
                // The instrument answers not-a-number when its trigger timed out: it saw no
                // exposure (its queue says so, and is noted).
                DriverErrorKind::NotDefined { .. } => DriverError::new(
                    NAME,
                    DriverErrorKind::NoEvent {
                        event: "exposure measured (armed, the dosimeter saw none)".into(),
                        waited_ms: waited.as_millis(),
                    },
                ),
                _ => e,
            })?;
        let Some(answered) = reading.unit else {
            return Err(super::common::protocol(
                NAME,
                format!("a {quantity} with its unit suffix"),
                format_nr3(reading.value).as_bytes(),
            ));
        };
        let answered = Quantity::new(reading.value, unit(NAME, answered)?);
        let value = convert(NAME, quantity, &answered, reported)?;
        Ok(Quantity::new(value, unit(NAME, reported)?))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(unsupported(
            NAME,
            format!("event {event:?} (arm it and read instead)"),
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        // A dosimeter has no hazardous state; leaving it armed harms nothing.
        Ok(())
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.client.take_notes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;

    const OK: &str = "0,\"No error\"";

    #[test]
    fn arms_once_with_its_trigger_timeout_and_reads_each_quantity_in_its_unit() {
        let (link, log) = FakeLink::new(&[
            OK,
            OK,
            OK,
            "+1.25000E+02 UGY",
            OK,
            "+8.10000E+01 KV",
            OK,
            "+1.00000E-01 S",
            OK,
            "+1.25000E+00 MGY/S",
            OK,
            OK,
        ]);
        let options: BTreeMap<String, String> =
            [("trigger_timeout".to_string(), "2 s".to_string())].into();
        let mut d = open(Box::new(link), &options).unwrap();
        d.act("arm").unwrap();
        let kerma = d.read("air_kerma").unwrap();
        assert_eq!((kerma.value, kerma.unit.symbol()), (125.0, "µGy"));
        assert_eq!(d.read("kvp").unwrap().value, 81.0);
        let t = d.read("exposure_time").unwrap();
        assert_eq!((t.value, t.unit.symbol()), (100.0, "ms"));
        let rate = d.read("dose_rate").unwrap();
        assert_eq!((rate.value, rate.unit.symbol()), (1250.0, "µGy/s"));
        d.act("disarm").unwrap();
        let sent = log.sent();
        assert_eq!(sent[1], "*CLS\n");
        assert_eq!(sent[2], "TRIG:TIM +2.00000E+00\n");
        assert_eq!(sent[4], "INIT\n");
        assert!(sent.contains(&"FETC:RATE?\n".to_string()));
        assert_eq!(sent.iter().filter(|s| s.starts_with("TRIG")).count(), 1);
        assert_eq!(sent[sent.len() - 2], "ABOR\n");
    }

    #[test]
    fn a_missed_exposure_is_no_event_and_bad_answers_are_refused() {
        let (link, _) = FakeLink::new(&[
            OK,
            "9.91E37",
            "-230,\"Data corrupt or stale; no exposure within the trigger timeout\"",
            OK,
            "+2.0E+01 CEL",
            OK,
            "12.5",
            OK,
        ]);
        let mut d = open(Box::new(link), &BTreeMap::new()).unwrap();
        let err = d.read("air_kerma").unwrap_err();
        assert!(matches!(err.kind, DriverErrorKind::NoEvent { .. }), "{err}");
        assert!(err.to_string().contains("exposure"), "{err}");
        assert!(
            d.take_notes().iter().any(|n| n.contains("trigger timeout")),
            "the instrument's reason is noted"
        );
        let err = d.read("kvp").unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::BadValue { .. }),
            "{err}"
        );
        let err = d.read("kvp").unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::Protocol { .. }),
            "{err}"
        );
        assert!(
            d.read("dose")
                .unwrap_err()
                .to_string()
                .contains("air_kerma")
        );
        assert!(d.act("expose").is_err());
        let bad: BTreeMap<String, String> =
            [("trigger_timeout".to_string(), "2 mL".to_string())].into();
        let (link, _) = FakeLink::new(&[]);
        assert!(open(Box::new(link), &bad).is_err());
    }
}
