//! The simulated CANopen X-ray generator: an object dictionary for kV, mA, exposure time and
//! mAs, a controlword to prepare and expose, actual values and an exposure counter readable
//! by SDO and sent in TPDO1 after each exposure, a heartbeat, and EMCY on a fault.
//!
//! The object dictionary is documented in `docs/can.md`. Exposures last their (actual)
//! exposure time divided by the bench's time scale; heartbeats run in real time, since they
//! are about the bus and not about the physics.

use super::config::XrayGeneratorConfig;
use super::node::{Access, ObjectDictionary, SdoServer, SdoTarget};
use crate::can::canopen::{
    Emergency, NmtCommand, NmtState, RPDO_BASE, SDO_RX_BASE, SDO_TX_BASE, SdoAbort, TPDO_BASE,
    heartbeat_frame,
};
use crate::can::memory::MemoryEndpoint;
use crate::can::{CanBus, CanFrame, CanId};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set values: 1 kV (0.1 kV), 2 mA (0.1 mA), 3 time (µs), 4 mAs (µAs).
pub const SET: u16 = 0x2000;
/// Controlword: 0 idle (and fault reset), 1 prepare, 2 expose.
pub const CONTROLWORD: u16 = 0x2001;
/// Statusword: bit 0 prepared, bit 1 exposing, bit 2 exposed since the last prepare,
/// bit 7 fault.
pub const STATUSWORD: u16 = 0x2002;
/// A free text (up to 64 bytes) stored with the next exposure, such as a study label.
pub const LABEL: u16 = 0x2003;
/// Actual values of the last exposure: 1 kV (V), 2 mA (µA), 3 time (µs), 4 mAs (µAs),
/// 5 exposure counter.
pub const ACTUAL: u16 = 0x2010;
/// The last fault's EMCY code (0 for none).
pub const LAST_FAULT: u16 = 0x2011;
/// The values TPDO1 maps: 1 kV (0.01 kV), 2 mA (0.1 mA), 3 time (0.1 ms), 4 counter; each
/// 16 bits.
pub const PDO_VALUES: u16 = 0x2012;

/// EMCY code of an exposure requested without preparation (device specific).
pub const EMCY_NOT_PREPARED: u16 = 0xFF01;

/// Statusword bits.
const PREPARED: u64 = 0x01;
const EXPOSING: u64 = 0x02;
const EXPOSED: u64 = 0x04;
const FAULT: u64 = 0x80;

/// One exposure the generator made, with the physics behind it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exposure {
    /// 1-based exposure count.
    pub counter: u64,
    /// Set tube voltage, kV.
    pub set_kv: f64,
    /// Set tube current, mA.
    pub set_ma: f64,
    /// Set exposure time, ms.
    pub set_time_ms: f64,
    /// Actual tube voltage, kV.
    pub kv: f64,
    /// Actual tube current, mA.
    pub ma: f64,
    /// Actual exposure time, ms.
    pub time_ms: f64,
    /// Actual current-time product, mAs.
    pub mas: f64,
    /// Air kerma at 1 m from the focal spot, µGy (divide by d² for another distance).
    pub air_kerma_ugy_at_1m: f64,
    /// The label (object 2003h) at the time.
    pub label: String,
}

pub(crate) struct XrayGenerator {
    config: XrayGeneratorConfig,
    od: ObjectDictionary,
    state: NmtState,
    rng: StdRng,
    time_scale: f64,
    exposure_end: Option<Instant>,
    pending: Option<Exposure>,
    exposures: Arc<Mutex<Vec<Exposure>>>,
    out: Vec<CanFrame>,
    silent: bool,
}

fn dictionary(config: &XrayGeneratorConfig) -> ObjectDictionary {
    let mut od = ObjectDictionary::with_identity(
        "qbench simulated X-ray generator",
        0x0000_0412,
        config.heartbeat_ms,
        config.serial,
    );
    let node = u64::from(config.node_id);
    od.number(0x1800, 0, Access::Ro, 1, 2, None);
    od.number(
        0x1800,
        1,
        Access::Ro,
        4,
        u64::from(TPDO_BASE[0]) + node,
        None,
    );
    // RPDO1 (200h + node): 2000h sub 1 and 2, set kV and mA, 16 bits each.
    od.number(0x1400, 0, Access::Ro, 1, 2, None);
    od.number(
        0x1400,
        1,
        Access::Ro,
        4,
        u64::from(RPDO_BASE[0]) + node,
        None,
    );
    od.number(0x1600, 0, Access::Ro, 1, 2, None);
    for sub in 1..=2u8 {
        let entry = (u64::from(SET) << 16) | (u64::from(sub) << 8) | 16;
        od.number(0x1600, sub, Access::Ro, 4, entry, None);
    }
    od.number(0x1A00, 0, Access::Ro, 1, 4, None);
    for sub in 1..=4u8 {
        let entry = (u64::from(PDO_VALUES) << 16) | (u64::from(sub) << 8) | 16;
        od.number(0x1A00, sub, Access::Ro, 4, entry, None);
    }
    // 40 to 150 kV, 0.1 to 1000 mA, 1 ms to 10 s, 0.1 to 1000 mAs.
    od.number(SET, 1, Access::Rw, 2, 700, Some((400, 1500)));
    od.number(SET, 2, Access::Rw, 2, 1000, Some((1, 10_000)));
    od.number(SET, 3, Access::Rw, 4, 100_000, Some((1_000, 10_000_000)));
    od.number(SET, 4, Access::Rw, 4, 10_000, Some((100, 1_000_000)));
    od.number(CONTROLWORD, 0, Access::Rw, 2, 0, Some((0, 2)));
    od.number(STATUSWORD, 0, Access::Ro, 2, 0, None);
    od.string(LABEL, 0, Access::Rw, "");
    for sub in 1..=5 {
        od.number(ACTUAL, sub, Access::Ro, 4, 0, None);
    }
    od.number(LAST_FAULT, 0, Access::Ro, 2, 0, None);
    for sub in 1..=4 {
        od.number(PDO_VALUES, sub, Access::Ro, 2, 0, None);
    }
    od
}

impl XrayGenerator {
    pub(crate) fn new(
        config: &XrayGeneratorConfig,
        seed: u64,
        time_scale: f64,
        exposures: Arc<Mutex<Vec<Exposure>>>,
    ) -> XrayGenerator {
        XrayGenerator {
            od: dictionary(config),
            config: config.clone(),
            state: NmtState::BootUp,
            rng: StdRng::seed_from_u64(seed ^ 0x5852_4159),
            time_scale,
            exposure_end: None,
            pending: None,
            exposures,
            out: Vec::new(),
            silent: false,
        }
    }

    fn node(&self) -> u8 {
        self.config.node_id
    }

    fn status(&mut self, set: u64, clear: u64) {
        let s = self.od.get(STATUSWORD, 0);
        self.od.set(STATUSWORD, 0, (s | set) & !clear);
    }

    /// RPDO1: set kV and mA (2000h sub 1 and 2) at once. A PDO of the wrong length is EMCY
    /// 8210h (PDO not processed due to length error); a value out of range is EMCY 6320h
    /// (parameter error) and leaves both settings as they were.
    fn receive_rpdo(&mut self, data: &[u8]) {
        let len = data.len() as u8;
        let [kv0, kv1, ma0, ma1] = data else {
            self.emergency(0x8210, 0x11, [len, 0, 0, 0, 0]);
            return;
        };
        let before = (self.od.get(SET, 1), self.od.get(SET, 2));
        let written = self
            .od
            .write(SET, 1, &[*kv0, *kv1])
            .and_then(|()| self.od.write(SET, 2, &[*ma0, *ma1]));
        if written.is_err() {
            self.od.set(SET, 1, before.0);
            self.od.set(SET, 2, before.1);
            self.emergency(0x6320, 0x01, [*kv0, *kv1, *ma0, *ma1, 0]);
        }
    }

    fn emergency(&mut self, code: u16, register: u8, manufacturer: [u8; 5]) {
        self.od.set(0x1001, 0, u64::from(register));
        self.od.set(LAST_FAULT, 0, u64::from(code));
        self.out.push(
            Emergency {
                node: self.node(),
                code,
                register,
                manufacturer,
            }
            .frame(),
        );
    }

    fn boot(&mut self) {
        let exposures = Arc::clone(&self.exposures);
        let counter = self.od.get(ACTUAL, 5);
        self.od = dictionary(&self.config);
        // The counter survives a reset, as a tube's exposure counter does.
        self.od.set(ACTUAL, 5, counter);
        self.exposures = exposures;
        self.exposure_end = None;
        self.pending = None;
        self.out
            .push(heartbeat_frame(self.node(), NmtState::BootUp));
        self.state = NmtState::PreOperational;
    }

    fn noise(&mut self, sd: f64) -> f64 {
        match Normal::new(0.0, sd) {
            Ok(n) if sd > 0.0 => n.sample(&mut self.rng),
            _ => 0.0,
        }
    }

    fn controlword(&mut self, word: u64) -> Result<(), SdoAbort> {
        let status = self.od.get(STATUSWORD, 0);
        match word {
            0 => {
                // Idle: end any preparation and reset a fault; an exposure under way is cut
                // short now (its actual time is what it lasted), as the safe state requires.
                if let (Some(end), Some(e)) = (self.exposure_end, self.pending.as_mut()) {
                    let left = end.saturating_duration_since(Instant::now()).as_secs_f64();
                    let cut_ms = (left * self.time_scale * 1000.0).min(e.time_ms);
                    let ratio = if e.time_ms > 0.0 {
                        (e.time_ms - cut_ms) / e.time_ms
                    } else {
                        0.0
                    };
                    e.time_ms -= cut_ms;
                    e.mas *= ratio;
                    e.air_kerma_ugy_at_1m *= ratio;
                    self.finish_exposure();
                }
                self.status(0, PREPARED | FAULT);
                if status & FAULT != 0 {
                    self.emergency(0x0000, 0, [0; 5]);
                }
                Ok(())
            }
            1 => {
                if status & (FAULT | EXPOSING) != 0 {
                    return Err(SdoAbort::DEVICE_STATE);
                }
                self.status(PREPARED, EXPOSED);
                Ok(())
            }
            _ => {
                if self.state != NmtState::Operational || status & EXPOSING != 0 {
                    return Err(SdoAbort::DEVICE_STATE);
                }
                if status & PREPARED == 0 {
                    self.status(FAULT, 0);
                    self.emergency(EMCY_NOT_PREPARED, 0x81, [word as u8, 0, 0, 0, 0]);
                    return Err(SdoAbort::DEVICE_STATE);
                }
                self.start_exposure();
                Ok(())
            }
        }
    }

    fn start_exposure(&mut self) {
        let c = self.config.clone();
        let set_kv = self.od.get(SET, 1) as f64 / 10.0;
        let set_ma = self.od.get(SET, 2) as f64 / 10.0;
        let set_time_ms = self.od.get(SET, 3) as f64 / 1000.0;
        let kv = set_kv * (1.0 + c.kv_error);
        let ma = set_ma * (1.0 + c.ma_error);
        let time_ms = set_time_ms * (1.0 + c.time_error);
        let mas = ma * time_ms / 1000.0;
        let noise = self.noise(c.output_cv);
        let nonlinearity = (mas / 10.0).max(0.0).powf(c.mas_nonlinearity);
        let air_kerma =
            c.output_ugy_per_mas * mas * nonlinearity * (kv / 80.0).powi(2) * (1.0 + noise);
        let label = String::from_utf8_lossy(&self.od.read(LABEL, 0).unwrap_or_default()).into();
        self.pending = Some(Exposure {
            counter: self.od.get(ACTUAL, 5) + 1,
            set_kv,
            set_ma,
            set_time_ms,
            kv,
            ma,
            time_ms,
            mas,
            air_kerma_ugy_at_1m: air_kerma.max(0.0),
            label,
        });
        let real = Duration::from_secs_f64((time_ms / 1000.0 / self.time_scale).max(0.0));
        self.exposure_end = Some(Instant::now() + real);
        self.status(EXPOSING, PREPARED);
    }

    fn finish_exposure(&mut self) {
        self.exposure_end = None;
        let Some(e) = self.pending.take() else {
            return;
        };
        let round = |v: f64| v.round().max(0.0) as u64;
        self.od.set(ACTUAL, 1, round(e.kv * 1000.0));
        self.od.set(ACTUAL, 2, round(e.ma * 1000.0));
        self.od.set(ACTUAL, 3, round(e.time_ms * 1000.0));
        self.od.set(ACTUAL, 4, round(e.mas * 1000.0));
        self.od.set(ACTUAL, 5, e.counter);
        let pdo = [
            round(e.kv * 100.0).min(0xFFFF),
            round(e.ma * 10.0).min(0xFFFF),
            round(e.time_ms * 10.0).min(0xFFFF),
            e.counter & 0xFFFF,
        ];
        let mut data = [0u8; 8];
        for (sub, v) in pdo.iter().enumerate() {
            self.od.set(PDO_VALUES, sub as u8 + 1, *v);
            data[2 * sub..2 * sub + 2].copy_from_slice(&(*v as u16).to_le_bytes());
        }
        self.status(EXPOSED, EXPOSING);
        if self.state == NmtState::Operational {
            let id = CanId::Standard(TPDO_BASE[0] + u16::from(self.node()));
            self.out.push(CanFrame::raw_classic(id, &data));
        }
        let counter = e.counter;
        if let Ok(mut log) = self.exposures.lock() {
            log.push(e);
        }
        if self
            .config
            .stop_heartbeat_after_exposures
            .is_some_and(|n| counter >= n)
        {
            self.silent = true;
        }
    }

    fn handle(&mut self, frame: &CanFrame, server: &mut SdoServer) {
        if let Some((command, target)) = NmtCommand::parse(frame) {
            if target == 0 || target == self.node() {
                match command {
                    NmtCommand::Start => self.state = NmtState::Operational,
                    NmtCommand::Stop => self.state = NmtState::Stopped,
                    NmtCommand::EnterPreOperational => self.state = NmtState::PreOperational,
                    NmtCommand::ResetNode | NmtCommand::ResetCommunication => {
                        *server = SdoServer::new();
                        self.boot();
                    }
                }
            }
            return;
        }
        if frame.id() == CanId::Standard(RPDO_BASE[0] + u16::from(self.node())) {
            // PDOs are processed in operational only (CiA 301 §7.3.2).
            if self.state == NmtState::Operational && !frame.is_remote() {
                self.receive_rpdo(frame.data_bytes());
            }
            return;
        }
        let sdo = CanId::Standard(SDO_RX_BASE + u16::from(self.node()));
        if frame.id() != sdo || self.state == NmtState::Stopped {
            return;
        }
        let id = CanId::Standard(SDO_TX_BASE + u16::from(self.node()));
        for response in server.handle_frame(frame.data_bytes(), self) {
            self.out.push(CanFrame::raw_classic(id, &response));
        }
    }

    /// Serves the node on `endpoint` until `stop` is set.
    pub(crate) fn run(mut self, mut endpoint: MemoryEndpoint, stop: &AtomicBool) {
        let mut server = SdoServer::new();
        self.boot();
        let mut next_heartbeat = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            for frame in self.out.drain(..) {
                endpoint.post(&frame);
            }
            let now = Instant::now();
            let period = Duration::from_millis(self.od.get(0x1017, 0));
            if self.silent {
                // A lost node: it neither beats nor answers; drain the bus so nothing piles up.
                let _ = endpoint.receive(POLL);
                continue;
            }
            if !period.is_zero() && now >= next_heartbeat {
                endpoint.post(&heartbeat_frame(self.node(), self.state));
                next_heartbeat = now + period;
            }
            if self.exposure_end.is_some_and(|end| now >= end) {
                self.finish_exposure();
                continue;
            }
            let mut wait = POLL;
            if !period.is_zero() {
                wait = wait.min(next_heartbeat.saturating_duration_since(now));
            }
            if let Some(end) = self.exposure_end {
                wait = wait.min(end.saturating_duration_since(now));
            }
            if let Ok(frame) = endpoint.receive(wait) {
                self.handle(&frame, &mut server);
            }
        }
    }
}

/// The longest a node waits before checking its stop flag.
const POLL: Duration = Duration::from_millis(20);

impl SdoTarget for XrayGenerator {
    fn sdo_read(&mut self, index: u16, sub: u8) -> Result<Vec<u8>, SdoAbort> {
        if index == SET && sub == 4 {
            // mAs is derived from the set current and time.
            let mas_micro = self.od.get(SET, 2) * self.od.get(SET, 3) / 10_000;
            return Ok((mas_micro as u32).to_le_bytes().to_vec());
        }
        self.od.read(index, sub)
    }

    fn sdo_write(&mut self, index: u16, sub: u8, data: &[u8]) -> Result<(), SdoAbort> {
        if index == LABEL && data.len() > 64 {
            return Err(SdoAbort(0x0607_0012));
        }
        self.od.write(index, sub, data)?;
        match (index, sub) {
            (CONTROLWORD, 0) => {
                let word = self.od.get(CONTROLWORD, 0);
                self.controlword(word)
            }
            (SET, 4) => {
                // Setting mAs sets the time for the present current: t = mAs / mA.
                let mas_micro = self.od.get(SET, 4);
                let ma_tenth = self.od.get(SET, 2).max(1);
                let time_us = (mas_micro * 10_000 / ma_tenth).clamp(1_000, 10_000_000);
                self.od.set(SET, 3, time_us);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
