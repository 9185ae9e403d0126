//! The simulated reference dosimeter: a solid-state X-ray multimeter speaking SCPI over
//! LF-terminated lines, measuring the exposures of the simulated X-ray generator (the same
//! physical model: `sim::can::Exposure`).
//!
//! It measures single shots: `INIT` arms it, the next exposure the generator makes is
//! measured (air kerma at the dosimeter's distance, non-invasive kVp, exposure time, dose
//! rate) and it returns to idle. An exposure made while it is not armed is not measured.
//! `FETCh` queries answer the latest measurement; while armed without one they wait (the
//! answer is deferred) until an exposure is measured or the trigger timeout passes, after
//! which they answer SCPI's not-a-number `9.91E37` and queue -230. A message received while
//! a fetch waits interrupts it (-410 "Query INTERRUPTED", as IEEE 488.2 requires).
//!
//! | message                      | answer / effect                                        |
//! |------------------------------|--------------------------------------------------------|
//! | `*IDN?`                      | `qbench,SIM-DOSE,<serial>,<version>`                   |
//! | `*RST`                       | idle, data cleared, trigger timeout 10 s               |
//! | `*CLS`, `*OPC?`              | error queue cleared / `1`                              |
//! | `SYSTem:ERRor[:NEXT]?`       | the oldest queued error, or `0,"No error"`             |
//! | `INITiate[:IMMediate]`       | arms for the next exposure; the previous data is cleared |
//! | `ABORt`                      | back to idle without measuring                         |
//! | `INITiate:STATe?`            | `IDLE`, `ARMED` or `DONE` (a measurement is available) |
//! | `TRIGger:TIMeout <s>` / `?`  | how long a fetch waits while armed, 0.1 to 3600 s       |
//! | `FETCh:KERMa?`               | air kerma, `UGY`                                       |
//! | `FETCh:KVP?`                 | kVp, `KV`                                              |
//! | `FETCh:TIME?`                | exposure time, `MS`                                    |
//! | `FETCh:RATE?`                | mean dose rate over the exposure, `UGY/S`              |
//! | `FETCh:COUNt?`               | measurements made since power-on                       |
//!
//! Each reading carries the instrument's own errors from its configuration: a systematic
//! error and a noise drawn per measurement (seeded), so repeated fetches of one measurement
//! agree. The trigger timeout is real time: it is the instrument's own clock.

use super::can::Exposure;
use super::config::FaultConfig;
use super::framed::{FramedDevice, split_line};
use super::model::normal;
use crate::protocol::scpi::{self, format_nr3, header_matches, split_header};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const QUEUE: usize = 10;

/// The trigger timeout after power-on and `*RST`.
const DEFAULT_TRIGGER_TIMEOUT: Duration = Duration::from_secs(10);

/// The simulated dosimeter's position, errors and faults (`simulation: { dosimeter: ... }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DosimeterConfig {
    /// Distance from the focal spot to the detector, m (1 unless stated): air kerma falls
    /// with its square.
    pub distance_m: f64,
    /// Systematic error of air kerma (and so of dose rate), as a fraction (0.01 is +1 %).
    pub kerma_error: f64,
    /// Relative standard deviation of each air-kerma reading (0.002 unless stated).
    pub kerma_noise: f64,
    /// Systematic error of kVp, as a fraction.
    pub kvp_error: f64,
    /// Standard deviation of each kVp reading, kV (0.2 unless stated).
    pub kvp_noise_sd: f64,
    /// Systematic error of exposure time, as a fraction.
    pub time_error: f64,
    /// Standard deviation of each exposure-time reading, ms (0.05 unless stated).
    pub time_noise_sd: f64,
    /// Fault: exposures of the generator (its 1-based counter) that the dosimeter misses
    /// even when armed, as if its trigger did not fire (none unless stated).
    pub miss_exposures: Vec<u64>,
    /// Serial number it reports.
    pub serial: String,
    /// Faults injected into its answers (none unless stated).
    pub fault: Option<FaultConfig>,
}

impl Default for DosimeterConfig {
    fn default() -> Self {
        DosimeterConfig {
            distance_m: 1.0,
            kerma_error: 0.0,
            kerma_noise: 0.002,
            kvp_error: 0.0,
            kvp_noise_sd: 0.2,
            time_error: 0.0,
            time_noise_sd: 0.05,
            miss_exposures: Vec::new(),
            serial: "SIM-DOSE-0001".into(),
            fault: None,
        }
    }
}

impl DosimeterConfig {
    /// The first field out of its domain, with the reason.
    pub(crate) fn invalid(&self) -> Option<(&'static str, String)> {
        let checks = [
            (
                "dosimeter.distance_m",
                self.distance_m,
                self.distance_m > 0.0,
            ),
            (
                "dosimeter.kerma_error",
                self.kerma_error,
                self.kerma_error > -1.0,
            ),
            (
                "dosimeter.kerma_noise",
                self.kerma_noise,
                self.kerma_noise >= 0.0,
            ),
            ("dosimeter.kvp_error", self.kvp_error, self.kvp_error > -1.0),
            (
                "dosimeter.kvp_noise_sd",
                self.kvp_noise_sd,
                self.kvp_noise_sd >= 0.0,
            ),
            (
                "dosimeter.time_error",
                self.time_error,
                self.time_error > -1.0,
            ),
            (
                "dosimeter.time_noise_sd",
                self.time_noise_sd,
                self.time_noise_sd >= 0.0,
            ),
        ];
        checks
            .into_iter()
            .find(|(_, v, ok)| !(v.is_finite() && *ok))
            .map(|(field, v, _)| (field, format!("{v} is out of its domain")))
    }
}

/// One measured exposure.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Measurement {
    kerma_ugy: f64,
    kvp: f64,
    time_ms: f64,
}

impl Measurement {
    fn rate_ugy_per_s(&self) -> f64 {
        if self.time_ms > 0.0 {
            self.kerma_ugy / (self.time_ms / 1000.0)
        } else {
            0.0
        }
    }
}

/// What a fetch answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Field {
    Kerma,
    Kvp,
    Time,
    Rate,
}

/// The simulated dosimeter.
pub(crate) struct Dosimeter {
    config: DosimeterConfig,
    exposures: Arc<Mutex<Vec<Exposure>>>,
    /// Exposures already looked at (measured, missed or made while idle).
    seen: usize,
    armed: bool,
    latest: Option<Measurement>,
    count: u64,
    trigger_timeout: Duration,
    /// A fetch waiting for an exposure, and until when.
    waiting: Option<(Field, Instant)>,
    errors: VecDeque<(i32, &'static str)>,
    rng: StdRng,
}

impl Dosimeter {
    pub(crate) fn new(
        config: DosimeterConfig,
        exposures: Arc<Mutex<Vec<Exposure>>>,
        seed: u64,
    ) -> Self {
        let seen = exposures.lock().map(|e| e.len()).unwrap_or(0);
        Dosimeter {
            config,
            exposures,
            seen,
            armed: false,
            latest: None,
            count: 0,
            trigger_timeout: DEFAULT_TRIGGER_TIMEOUT,
            waiting: None,
            errors: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x444F_5345_4D45_5445),
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

    /// Looks at the exposures made since last time: while armed, the first one not missed
    /// is measured and the dosimeter returns to idle; the others pass unmeasured.
    fn update(&mut self) {
        let new: Vec<Exposure> = match self.exposures.lock() {
            Ok(e) => e
                .get(self.seen..)
                .map(<[Exposure]>::to_vec)
                .unwrap_or_default(),
            Err(p) => p
                .into_inner()
                .get(self.seen..)
                .map(<[Exposure]>::to_vec)
                .unwrap_or_default(),
        };
        self.seen += new.len();
        for exposure in new {
            if !self.armed || self.config.miss_exposures.contains(&exposure.counter) {
                continue;
            }
            self.latest = Some(self.measure(&exposure));
            self.count += 1;
            self.armed = false;
        }
    }

    fn measure(&mut self, e: &Exposure) -> Measurement {
        let c = self.config.clone();
        let d2 = c.distance_m * c.distance_m;
        let kerma = e.air_kerma_ugy_at_1m / d2
            * (1.0 + c.kerma_error)
            * (1.0 + normal(&mut self.rng, c.kerma_noise));
        let kvp = e.kv * (1.0 + c.kvp_error) + normal(&mut self.rng, c.kvp_noise_sd);
        let time = e.time_ms * (1.0 + c.time_error) + normal(&mut self.rng, c.time_noise_sd);
        Measurement {
            kerma_ugy: kerma.max(0.0),
            kvp: kvp.max(0.0),
            time_ms: time.max(0.0),
        }
    }

    fn reading(m: &Measurement, field: Field) -> Vec<u8> {
        let (value, suffix) = match field {
            Field::Kerma => (m.kerma_ugy, "UGY"),
            Field::Kvp => (m.kvp, "KV"),
            Field::Time => (m.time_ms, "MS"),
            Field::Rate => (m.rate_ugy_per_s(), "UGY/S"),
        };
        format!("{} {suffix}\n", format_nr3(value)).into_bytes()
    }

    fn fetch(&mut self, field: Field) -> Option<Vec<u8>> {
        self.update();
        if let Some(m) = self.latest {
            return Some(Self::reading(&m, field));
        }
        if self.armed {
            self.waiting = Some((field, Instant::now() + self.trigger_timeout));
            return None;
        }
        self.push_error(-230, "Data corrupt or stale; no measurement, INIT first");
        Some(b"9.91E37\n".to_vec())
    }

    fn state(&mut self) -> &'static str {
        self.update();
        match (self.armed, self.latest.is_some()) {
            (true, _) => "ARMED",
            (false, true) => "DONE",
            (false, false) => "IDLE",
        }
    }
}

impl FramedDevice for Dosimeter {
    fn next_request(&self, pending: &[u8]) -> Option<(usize, usize)> {
        split_line(pending, scpi::TERMINATOR)
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(request);
        let (header, params) = split_header(text.trim_end_matches('\r'));
        if header.is_empty() {
            return None;
        }
        if self.waiting.take().is_some() {
            self.push_error(-410, "Query INTERRUPTED");
        }
        let is = |spec: &str| header_matches(spec, header);
        let takes_parameters = is("TRIGger:TIMeout");
        if !params.is_empty() && !takes_parameters {
            self.push_error(-108, "Parameter not allowed");
            return None;
        }
        let fields = [
            ("FETCh:KERMa?", Field::Kerma),
            ("FETCh:KVP?", Field::Kvp),
            ("FETCh:TIME?", Field::Time),
            ("FETCh:RATE?", Field::Rate),
        ];
        if let Some((_, field)) = fields.iter().find(|(spec, _)| is(spec)) {
            return self.fetch(*field);
        }
        if is("*IDN?") {
            Some(
                format!(
                    "qbench,SIM-DOSE,{},{}\n",
                    self.config.serial,
                    env!("CARGO_PKG_VERSION")
                )
                .into_bytes(),
            )
        } else if is("*RST") {
            self.update();
            self.armed = false;
            self.latest = None;
            self.trigger_timeout = DEFAULT_TRIGGER_TIMEOUT;
            None
        } else if is("*CLS") {
            self.errors.clear();
            None
        } else if is("*OPC?") {
            Some(b"1\n".to_vec())
        } else if is("SYSTem:ERRor?") || is("SYSTem:ERRor:NEXT?") {
            let (code, text) = self.errors.pop_front().unwrap_or((0, "No error"));
            Some(format!("{code},\"{text}\"\n").into_bytes())
        } else if is("INITiate") || is("INITiate:IMMediate") {
            // Exposures already made are not this measurement's.
            self.update();
            self.armed = true;
            self.latest = None;
            None
        } else if is("ABORt") {
            self.update();
            self.armed = false;
            None
        } else if is("INITiate:STATe?") {
            Some(format!("{}\n", self.state()).into_bytes())
        } else if is("FETCh:COUNt?") {
            self.update();
            Some(format!("{}\n", self.count).into_bytes())
        } else if is("TRIGger:TIMeout?") {
            Some(format!("{}\n", format_nr3(self.trigger_timeout.as_secs_f64())).into_bytes())
        } else if is("TRIGger:TIMeout") {
            match scpi::parse_number(params.as_bytes()) {
                Ok(r) if (0.1..=3600.0).contains(&r.value) && r.unit.is_none_or(|u| u == "s") => {
                    self.trigger_timeout = Duration::from_secs_f64(r.value);
                }
                Ok(_) => self.push_error(-222, "Data out of range"),
                Err(_) => self.push_error(-104, "Data type error"),
            }
            None
        } else {
            self.push_error(-113, "Undefined header");
            None
        }
    }

    fn poll_deferred(&mut self) -> Option<Vec<u8>> {
        let (field, deadline) = self.waiting?;
        self.update();
        if let Some(m) = self.latest {
            self.waiting = None;
            return Some(Self::reading(&m, field));
        }
        if Instant::now() >= deadline {
            self.waiting = None;
            self.armed = false;
            self.push_error(
                -230,
                "Data corrupt or stale; no exposure within the trigger timeout",
            );
            return Some(b"9.91E37\n".to_vec());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(counter: u64, kv: f64, time_ms: f64, kerma: f64) -> Exposure {
        Exposure {
            counter,
            set_kv: kv,
            set_ma: 100.0,
            set_time_ms: time_ms,
            kv,
            ma: 100.0,
            time_ms,
            mas: 100.0 * time_ms / 1000.0,
            air_kerma_ugy_at_1m: kerma,
            label: String::new(),
        }
    }

    fn quiet() -> DosimeterConfig {
        DosimeterConfig {
            kerma_noise: 0.0,
            kvp_noise_sd: 0.0,
            time_noise_sd: 0.0,
            ..Default::default()
        }
    }

    fn ask(d: &mut Dosimeter, text: &str) -> Option<String> {
        d.answer(text.as_bytes())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn number(answer: Option<String>) -> f64 {
        let a = answer.expect("an answer");
        scpi::parse_number(a.trim_end().as_bytes())
            .expect("a number")
            .value
    }

    #[test]
    fn measures_the_next_exposure_once_armed_at_its_distance() {
        let log = Arc::new(Mutex::new(vec![exposure(1, 80.0, 100.0, 400.0)]));
        let config = DosimeterConfig {
            distance_m: 2.0,
            kerma_error: 0.01,
            ..quiet()
        };
        let mut d = Dosimeter::new(config, Arc::clone(&log), 1);
        assert!(
            ask(&mut d, "*IDN?")
                .unwrap()
                .starts_with("qbench,SIM-DOSE,SIM-DOSE-0001,")
        );
        // Not armed: no data, an error, no wait.
        assert_eq!(ask(&mut d, "FETC:KERM?").as_deref(), Some("9.91E37\n"));
        assert!(ask(&mut d, "SYST:ERR?").unwrap().starts_with("-230,"));
        // An exposure while idle is not measured.
        log.lock().unwrap().push(exposure(2, 80.0, 100.0, 400.0));
        assert_eq!(ask(&mut d, "INIT:STAT?").as_deref(), Some("IDLE\n"));
        assert_eq!(ask(&mut d, "INIT"), None);
        assert_eq!(ask(&mut d, "INIT:STAT?").as_deref(), Some("ARMED\n"));
        log.lock().unwrap().push(exposure(3, 81.0, 99.0, 400.0));
        let kerma = number(ask(&mut d, "FETCH:KERMA?"));
        assert!((kerma - 101.0).abs() < 1e-9, "{kerma}");
        assert_eq!(number(ask(&mut d, "FETC:KVP?")), 81.0);
        assert_eq!(number(ask(&mut d, "fetc:time?")), 99.0);
        let rate = number(ask(&mut d, "FETC:RATE?"));
        assert!((rate - 101.0 / 0.099).abs() < 0.01, "{rate}");
        assert_eq!(ask(&mut d, "INIT:STAT?").as_deref(), Some("DONE\n"));
        assert_eq!(ask(&mut d, "FETC:COUN?").as_deref(), Some("1\n"));
        // A second exposure after the measurement is not measured: single shot.
        log.lock().unwrap().push(exposure(4, 80.0, 100.0, 800.0));
        assert!((number(ask(&mut d, "FETC:KERM?")) - 101.0).abs() < 1e-9);
        assert_eq!(
            ask(&mut d, "SYST:ERR?").as_deref(),
            Some("0,\"No error\"\n")
        );
    }

    #[test]
    fn a_fetch_while_armed_waits_for_the_exposure_or_the_timeout() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let config = DosimeterConfig {
            miss_exposures: vec![1],
            ..quiet()
        };
        let mut d = Dosimeter::new(config, Arc::clone(&log), 1);
        assert_eq!(ask(&mut d, "TRIG:TIM 0.2"), None);
        assert_eq!(number(ask(&mut d, "TRIG:TIM?")), 0.2);
        ask(&mut d, "INIT");
        assert_eq!(ask(&mut d, "FETC:KERM?"), None, "the answer is deferred");
        assert_eq!(d.poll_deferred(), None);
        // The first exposure is missed (fault); the second is measured.
        log.lock().unwrap().push(exposure(1, 80.0, 100.0, 400.0));
        assert_eq!(d.poll_deferred(), None);
        log.lock().unwrap().push(exposure(2, 80.0, 100.0, 300.0));
        let answer = d.poll_deferred().expect("answered once measured");
        assert!(String::from_utf8_lossy(&answer).starts_with("+3.00000E+02 UGY"));
        // Armed again, nothing comes: the fetch answers not-a-number after the timeout.
        ask(&mut d, "INIT");
        assert_eq!(ask(&mut d, "FETC:TIME?"), None);
        let start = Instant::now();
        let answer = loop {
            if let Some(a) = d.poll_deferred() {
                break a;
            }
            assert!(start.elapsed() < Duration::from_secs(2), "never answered");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(start.elapsed() >= Duration::from_millis(150));
        assert_eq!(answer, b"9.91E37\n");
        assert!(
            ask(&mut d, "SYST:ERR?")
                .unwrap()
                .contains("trigger timeout")
        );
        assert_eq!(ask(&mut d, "INIT:STAT?").as_deref(), Some("IDLE\n"));
    }

    #[test]
    fn a_message_interrupts_a_waiting_fetch_and_bad_messages_queue_errors() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut d = Dosimeter::new(quiet(), log, 1);
        ask(&mut d, "INIT");
        assert_eq!(ask(&mut d, "FETC:KVP?"), None);
        assert!(ask(&mut d, "SYST:ERR?").unwrap().starts_with("-410,"));
        assert_eq!(d.poll_deferred(), None, "the interrupted fetch is dropped");
        assert_eq!(ask(&mut d, "TRIG:TIM 9000"), None);
        assert_eq!(ask(&mut d, "TRIG:TIM abc"), None);
        assert_eq!(ask(&mut d, "*IDN? 1"), None);
        assert_eq!(ask(&mut d, "MEAS:VOLT?"), None);
        let codes: Vec<String> = (0..4).map(|_| ask(&mut d, "SYST:ERR?").unwrap()).collect();
        assert!(codes[0].starts_with("-222,"), "{codes:?}");
        assert!(codes[1].starts_with("-104,"), "{codes:?}");
        assert!(codes[2].starts_with("-108,"), "{codes:?}");
        assert!(codes[3].starts_with("-113,"), "{codes:?}");
    }

    /// Over the real pty, through the real driver: a read while armed waits for the exposure
    /// the generator makes meanwhile, and the answer comes when it is measured.
    #[test]
    fn the_driver_waits_for_an_exposure_made_while_it_reads() {
        use crate::can::canopen::{CanOpenClient, NmtCommand, NmtState};
        use crate::driver::open_driver;
        use crate::link::{SerialLink, SerialSettings};
        use crate::sim::can::xray_generator as g;
        use crate::sim::{SimBench, SimConfig};
        let mut config = SimConfig::default();
        config.dosimeter.distance_m = 2.0;
        let bench = SimBench::start(&config, 1.0).expect("bench starts");
        let port = bench
            .port("dosimeter")
            .expect("served")
            .display()
            .to_string();
        let mut settings = SerialSettings::new(port);
        settings.timeout_ms = 500;
        let link = SerialLink::open(&settings).expect("open the pty");
        let options = [("trigger_timeout".to_string(), "3 s".to_string())].into();
        let mut dosimeter = open_driver("qbench-dosimeter", Box::new(link), &options).unwrap();
        assert_eq!(dosimeter.identify().unwrap().serial, "SIM-DOSE-0001");
        let mut can = CanOpenClient::new(
            Box::new(bench.can().bus().endpoint()),
            Duration::from_millis(300),
        );
        can.nmt(NmtCommand::Start, 5).unwrap();
        can.wait_for_state(5, NmtState::Operational, Duration::from_millis(500))
            .unwrap();
        dosimeter.act("arm").unwrap();
        let generator = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            can.write_u16(5, g::CONTROLWORD, 0, 1).unwrap();
            can.write_u16(5, g::CONTROLWORD, 0, 2).unwrap();
            can
        });
        let start = Instant::now();
        let kerma = dosimeter
            .read("air_kerma")
            .expect("the exposure is measured");
        assert!(start.elapsed() >= Duration::from_millis(300), "it waited");
        let _can = generator.join().unwrap();
        // 50 µGy/mAs · 10 mAs at 70 kV and 2 m: 500 · (70/80)² / 4.
        let expected = 500.0 * (70.0f64 / 80.0).powi(2) / 4.0;
        assert!((kerma.value - expected).abs() < 0.02 * expected, "{kerma}");
        let time = dosimeter.read("exposure_time").unwrap();
        assert!((time.value - 100.0).abs() < 1.0, "{time}");
        assert!(dosimeter.take_notes().is_empty());
    }

    proptest::proptest! {
        /// Any sequence of messages, known or not, with exposures in between: no panic, and
        /// every answer is one line; a measurement, once made, is what every fetch answers.
        #[test]
        fn any_conversation_keeps_the_instrument_consistent(
            steps in proptest::collection::vec(
                (0usize..14, "[ -~]{0,12}", proptest::bool::ANY),
                1..40,
            ),
        ) {
            const MESSAGES: [&str; 13] = [
                "*IDN?", "*RST", "*CLS", "INIT", "ABOR", "INIT:STAT?", "FETC:KERM?",
                "FETC:KVP?", "FETC:TIME?", "FETC:RATE?", "FETC:COUN?", "SYST:ERR?",
                "TRIG:TIM 0.1",
            ];
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut d = Dosimeter::new(quiet(), Arc::clone(&log), 5);
            let mut counter = 0;
            for (pick, noise, expose) in steps {
                let message = MESSAGES.get(pick).map_or(noise, |m| m.to_string());
                if let Some(answer) = d.answer(message.as_bytes()) {
                    proptest::prop_assert_eq!(answer.iter().filter(|b| **b == b'\n').count(), 1);
                    proptest::prop_assert_eq!(answer.last(), Some(&b'\n'));
                }
                if expose {
                    counter += 1;
                    log.lock().unwrap().push(exposure(counter, 80.0, 100.0, 400.0));
                }
                if let Some(m) = d.latest {
                    proptest::prop_assert_eq!(m.kerma_ugy, 400.0);
                    let kvp = d.answer(b"FETC:KVP?");
                    proptest::prop_assert_eq!(kvp, Some(b"+8.00000E+01 KV\n".to_vec()));
                }
            }
        }
    }

    #[test]
    fn noise_is_drawn_per_measurement_and_configuration_is_checked() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut d = Dosimeter::new(DosimeterConfig::default(), Arc::clone(&log), 3);
        let mut kermas = Vec::new();
        for n in 1..=5 {
            ask(&mut d, "INIT");
            log.lock().unwrap().push(exposure(n, 80.0, 100.0, 500.0));
            let k = number(ask(&mut d, "FETC:KERM?"));
            assert_eq!(number(ask(&mut d, "FETC:KERM?")), k, "one measurement");
            kermas.push(k);
        }
        kermas.dedup();
        assert_eq!(kermas.len(), 5, "{kermas:?}");
        assert!(
            kermas.iter().all(|k| (k - 500.0).abs() < 10.0),
            "{kermas:?}"
        );
        assert!(DosimeterConfig::default().invalid().is_none());
        let bad = DosimeterConfig {
            distance_m: 0.0,
            ..Default::default()
        };
        assert_eq!(bad.invalid().map(|(f, _)| f), Some("dosimeter.distance_m"));
    }
}
