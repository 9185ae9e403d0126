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
//! at open and read back), `poll_interval` (a time quantity, `10 ms` unless stated),
//! `breath_trigger` (the flow above which an inspiration starts in a waveform capture,
//! `0.5 L/min` unless stated).
//!
//! Waveforms ([`Driver::capture`]): the driver writes settings 64 and 65 (fast-data values 1
//! and 2 are the high flow, measurement 0, and the pressure, measurement 4; value 3 carries
//! the checksum in its low byte, so it is not used), starts the stream with `%CM#64`, feeds
//! the bytes to the resynchronising [`FastDataDecoder`] until it has the duration or the
//! breaths asked for, then stops the stream with `%CM#65` and reads up to its echo. Packets
//! that fail their checksum are counted and never used. A breath capture starts at the first
//! inspiration (the flow rising above `breath_trigger`) and ends just before the inspiration
//! after the last breath.

use super::common::{Options, bad_option, protocol, unit, unsupported};
use super::{
    CaptureLength, CaptureRequest, Condition, DeviceEvent, Driver, DriverError, DriverErrorKind,
    DriverSpec, Identity, QuantitySpec, StreamCounts, Waveform, WaveformChannel,
    inspiration_starts,
};
use crate::link::ByteLink;
use crate::protocol::fast_data::FastDataDecoder;
use crate::protocol::imt::{self, Answer, FastPacket, Frame, Model, Operation};
use crate::units::{Quantity, Unit};
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

const OPTIONS: &[&str] = &[
    "model",
    "gas_standard",
    "poll_interval",
    "retries",
    "breath_trigger",
];

/// Fast-data period, s.
const FAST_PERIOD_S: f64 = 0.005;

/// Measurement ids streamed as fast-data values 1 and 2, with the waveform quantity each is.
const STREAMED: [(u32, &str, &str); 2] = [(0, "flow", "L/min"), (4, "pressure", "mbar")];

/// The setting naming fast-data value 1 (65 and 66 name values 2 and 3).
const SETTING_FAST_VALUE_1: u32 = 64;

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
    /// Flow above which an inspiration starts, L/min.
    breath_trigger: f64,
    /// The unit of each of [`MEASUREMENTS`], in its order, parsed once at open (a read is on
    /// the query/answer path).
    units: Vec<Unit>,
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
    let breath_trigger = match options.text("breath_trigger") {
        None => 0.5,
        Some(text) => crate::units::parse_quantity(text)
            .ok()
            .and_then(|q| {
                let lpm = crate::units::parse_unit("L/min").ok()?;
                q.to_unit(&lpm).ok()
            })
            .map(|q| q.value)
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                bad_option(
                    NAME,
                    "breath_trigger",
                    format!("`{text}` is not a flow (write `0.5 L/min`)"),
                )
            })?,
    };
    let units = MEASUREMENTS
        .iter()
        .map(|&(_, _, symbol, _)| unit(NAME, symbol))
        .collect::<Result<Vec<Unit>, DriverError>>()?;
    let mut driver = ImtFlowAnalyzer {
        units,
        link,
        model,
        poll_interval,
        timeout,
        resync: false,
        retries,
        notes: Vec::new(),
        breath_trigger,
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

    /// Streams fast data until `request` is satisfied or its timeout passes; the stream is
    /// stopped whatever happens.
    fn capture_stream(&mut self, request: &CaptureRequest) -> Result<Waveform, DriverError> {
        for (slot, (id, _, _)) in STREAMED.iter().enumerate() {
            self.write_setting(SETTING_FAST_VALUE_1 + slot as u32, i64::from(*id))?;
        }
        let start = Instant::now();
        let deadline = start + request.timeout;
        self.exchange(&Frame::new(Operation::Command, 64))?;
        let result = self.read_stream(request, start, deadline);
        let stopped = self.stop_stream();
        let waveform = result?;
        stopped?;
        Ok(waveform)
    }

    /// Reads and decodes packets until the capture is complete.
    fn read_stream(
        &mut self,
        request: &CaptureRequest,
        start: Instant,
        deadline: Instant,
    ) -> Result<Waveform, DriverError> {
        let link_err = |e| DriverError::new(NAME, DriverErrorKind::Link(e));
        let dividers = STREAMED.map(|(id, _, _)| f64::from(self.model.divider(id).unwrap_or(1)));
        let mut decoder = FastDataDecoder::new();
        let mut packets: Vec<FastPacket> = Vec::new();
        let mut collector = Collector::new(request.length, self.breath_trigger);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(DriverError::new(
                    NAME,
                    DriverErrorKind::NoEvent {
                        event: collector.describe(),
                        waited_ms: (now - start).as_millis(),
                    },
                ));
            }
            let wait = self.timeout.min(deadline - now);
            let bytes = match self.link.receive_exact(imt::FAST_PACKET_LEN, wait) {
                Ok(bytes) => bytes,
                // Cut short by the capture's deadline, not the link's: the loop says so.
                Err(e) if e.is_timeout() && wait < self.timeout => continue,
                Err(e) => {
                    self.resync = true;
                    return Err(link_err(e));
                }
            };
            packets.clear();
            decoder.push(&bytes, &mut packets);
            for p in &packets {
                let flow = f64::from(p.values[0] as i16) / dividers[0];
                let pressure = f64::from(p.values[1] as i16) / dividers[1];
                collector.add(p.timestamp, flow, pressure);
            }
            if collector.is_complete() {
                // Bytes still buffered begin the packets after the capture: not garbage.
                let c = decoder.counts();
                let counts = StreamCounts {
                    received: c.packets,
                    rejected: c.rejected,
                    missing: c.missing,
                    discarded_bytes: c.discarded_bytes,
                };
                if counts.rejected > 0 || counts.discarded_bytes > 0 {
                    self.notes.push(format!(
                        "fast data: {} packets failed their checksum and were not used, {} bytes of garbage skipped",
                        counts.rejected, counts.discarded_bytes
                    ));
                }
                return Ok(collector.into_waveform(&request.quantities, counts));
            }
        }
    }

    /// Sends `%CM#65` and reads up to its echo, which follows the last packet; on failure the
    /// next request starts by discarding stale input.
    fn stop_stream(&mut self) -> Result<(), DriverError> {
        let link_err = |e| DriverError::new(NAME, DriverErrorKind::Link(e));
        let stop = Frame::new(Operation::Command, 65);
        self.link.send(&stop.encode()).map_err(link_err)?;
        let echo = imt::echo_of(&stop);
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.link.receive_until(imt::TERMINATOR, left) {
                // Packet bytes may hold a carriage return: the echo ends whatever came before.
                Ok(line) if line.ends_with(echo.as_bytes()) => return Ok(()),
                Ok(_) if !left.is_zero() => {}
                Ok(_) => {
                    self.resync = true;
                    return Err(protocol(
                        NAME,
                        format!("`{echo}` ending the fast data"),
                        b"",
                    ));
                }
                Err(e) => {
                    self.resync = true;
                    return Err(link_err(e));
                }
            }
        }
    }
}

/// Gathers decoded samples until the capture's length is reached.
struct Collector {
    length: CaptureLength,
    trigger: f64,
    /// Time stamps, flows (L/min) and pressures (mbar) kept so far.
    stamps: Vec<u32>,
    flow: Vec<f64>,
    pressure: Vec<f64>,
    /// The flow of the previous sample (for breath starts before the capture begins).
    previous_flow: Option<f64>,
    /// Inspiration starts seen since the capture began.
    starts: usize,
    complete: bool,
}

impl Collector {
    fn new(length: CaptureLength, trigger: f64) -> Collector {
        Collector {
            length,
            trigger,
            stamps: Vec::new(),
            flow: Vec::new(),
            pressure: Vec::new(),
            previous_flow: None,
            starts: 0,
            complete: false,
        }
    }

    fn add(&mut self, stamp: u32, flow: f64, pressure: f64) {
        if self.complete {
            return;
        }
        let rising = self
            .previous_flow
            .is_some_and(|p| inspiration_starts(&[p, flow], self.trigger) == [1]);
        self.previous_flow = Some(flow);
        match self.length {
            CaptureLength::Duration(d) => {
                let elapsed = self.stamps.first().map_or(0.0, |first| {
                    f64::from(stamp.wrapping_sub(*first)) * FAST_PERIOD_S
                });
                if elapsed >= d.as_secs_f64() {
                    self.complete = true;
                    return;
                }
            }
            CaptureLength::Breaths(n) => {
                if rising {
                    self.starts += 1;
                }
                if self.starts == 0 {
                    return;
                }
                if self.starts > n {
                    self.complete = true;
                    return;
                }
            }
        }
        self.stamps.push(stamp);
        self.flow.push(flow);
        self.pressure.push(pressure);
    }

    fn is_complete(&self) -> bool {
        self.complete
    }

    fn describe(&self) -> String {
        match self.length {
            CaptureLength::Duration(d) => format!(
                "complete fast-data capture of {} s (had {} samples)",
                d.as_secs_f64(),
                self.stamps.len()
            ),
            CaptureLength::Breaths(n) => format!(
                "complete capture of {n} breaths in the fast data (saw {} inspirations)",
                self.starts
            ),
        }
    }

    fn into_waveform(self, quantities: &[String], counts: StreamCounts) -> Waveform {
        let first = self.stamps.first().copied().unwrap_or(0);
        let ticks = self
            .stamps
            .iter()
            .map(|s| s.wrapping_sub(first) & 0x00FF_FFFF)
            .collect();
        let mut flow = Some(self.flow);
        let mut pressure = Some(self.pressure);
        let channels = quantities
            .iter()
            .filter_map(|q| {
                let (_, name, unit) = STREAMED.iter().find(|(_, n, _)| n == q)?;
                let values = if *name == "flow" {
                    flow.take()?
                } else {
                    pressure.take()?
                };
                Some(WaveformChannel {
                    quantity: name.to_string(),
                    unit: unit.to_string(),
                    values,
                })
            })
            .collect();
        let breaths = match self.length {
            CaptureLength::Breaths(_) => self.starts.saturating_sub(1),
            CaptureLength::Duration(_) => 0,
        };
        Waveform {
            period_s: FAST_PERIOD_S,
            ticks,
            channels,
            breaths,
            counts,
        }
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
        let Some(index) = MEASUREMENTS.iter().position(|m| m.0 == quantity) else {
            let known: Vec<&str> = MEASUREMENTS.iter().map(|m| m.0).collect();
            return Err(unsupported(
                NAME,
                format!("quantity `{quantity}` (known: {})", known.join(", ")),
            ));
        };
        let id = MEASUREMENTS[index].1;
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
        Ok(Quantity::new(value, self.units[index].clone()))
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

    fn capture(&mut self, request: &CaptureRequest) -> Result<Waveform, DriverError> {
        if let Some(q) = request
            .quantities
            .iter()
            .find(|q| !STREAMED.iter().any(|(_, n, _)| n == *q))
        {
            return Err(unsupported(
                NAME,
                format!("waveform quantity `{q}` (known: flow, pressure)"),
            ));
        }
        self.capture_stream(request)
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
