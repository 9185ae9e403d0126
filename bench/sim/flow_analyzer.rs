//! The simulated flow analyzer: an IMT FlowAnalyser/CITREX on RS-232.
//!
//! It measures the shared model's breaths through its own errors: a measured volume is
//! `V·(1+gain_error) + N(0, volume_noise_sd)`; peak, plateau and PEEP carry
//! `N(0, pressure_noise_sd)`, the breath rate `N(0, rate_noise_sd)` and the oxygen
//! concentration `N(0, oxygen_noise_sd)`. Each is drawn per breath and per measurement (so
//! every read of one breath's Vti gives the same number). Breath values (Vti, Vte,
//! pressures, times, rate, oxygen) describe the last breath whose inspiration has ended;
//! before the first one they are "not defined" (-2147483648), as on a real analyzer that has
//! seen no breath, except oxygen, which then reads the gas of the breath in progress, or
//! room air (20.9 %) before the ventilator ever ran.
//! Measurement 8 reports the phase now. Settings are stored and echoed (setting 3, the gas standard, takes
//! 0..=12; the simulator has no gas physics, so it changes no number). Commands are
//! acknowledged.
//!
//! Fast data: after `%CM#64` it streams a 9-byte packet for every 5 ms of simulated time
//! (so `time_scale` times faster in real time), until `%CM#65`, whose echo follows the last
//! packet. Each packet carries the measurements that settings 64, 65 and 66 name, sampled
//! from the model at the packet's own instant, as raw 16-bit integers (two's complement,
//! scaled by the model's dividers); the checksum takes the last byte, as the protocol's
//! reference describes. `fast_data:` faults corrupt checksums (seeded) or send garbage.
//!
//! Fault: with `stop_answering_after_queries: N`, requests after the N-th are read and logged
//! but never answered.

use super::config::FlowAnalyzerConfig;
use super::model::{Breath, Model, Phase, ROOM_AIR_O2, Snapshot, normal};
use super::serve::Device;
use crate::protocol::imt::{self, FastPacket, Frame, Operation};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Simulated time between two fast-data packets, s.
const FAST_DATA_PERIOD: f64 = 0.005;

/// The most packets sent in one turn of the serving loop (36 kB): after a stall the rest
/// follow in the next turns, late but never skipped, as from a real analyzer whose reader
/// fell behind.
const MAX_PACKETS_PER_TURN: u64 = 4000;

/// The garbage `garbage_after_packets` sends.
const GARBAGE: [u8; 5] = [0xFF, 0x13, 0x37, 0x00, 0x42];

/// A fast-data stream in progress.
struct Stream {
    /// Simulated time of packet 0, s.
    start: f64,
    /// The next packet's time stamp (5 ms units).
    next: u64,
    /// Packets corrupted so far.
    corrupted: u64,
    /// Draws deciding which packets are corrupted.
    rng: StdRng,
}

/// Noise streams of the analyzer (the ventilator's own draw is stream 0).
const STREAM_VTI: u64 = 1;
const STREAM_VTE: u64 = 2;
const STREAM_PEAK: u64 = 3;
const STREAM_PLATEAU: u64 = 4;
const STREAM_PEEP: u64 = 5;
const STREAM_RATE: u64 = 6;
const STREAM_OXYGEN: u64 = 7;

/// The simulated analyzer.
pub(crate) struct FlowAnalyzer {
    model: Arc<Model>,
    imt_model: imt::Model,
    config: FlowAnalyzerConfig,
    settings: BTreeMap<u32, i64>,
    queries: u64,
    /// Inspired-volume readings answered so far (for `stop_answering_after_breaths`).
    breaths_read: u64,
    /// The breath whose values it keeps reporting once stuck (`stuck_after_breaths`).
    stuck: Option<Breath>,
    /// The fast-data stream, while one runs.
    stream: Option<Stream>,
    /// Streams started so far (each draws its own corruptions).
    streams: u64,
}

impl FlowAnalyzer {
    pub(crate) fn new(
        model: Arc<Model>,
        imt_model: imt::Model,
        config: FlowAnalyzerConfig,
    ) -> Self {
        let settings = (1..=21).chain(64..=66).map(|id| (id, 0)).collect();
        FlowAnalyzer {
            model,
            imt_model,
            config,
            settings,
            queries: 0,
            breaths_read: 0,
            stuck: None,
            stream: None,
            streams: 0,
        }
    }

    /// Starts (`%CM#64`) or stops (`%CM#65`) the fast-data stream.
    fn command(&mut self, id: u32) {
        match id {
            64 => {
                self.streams += 1;
                self.stream = Some(Stream {
                    start: self.model.now(),
                    next: 0,
                    corrupted: 0,
                    rng: StdRng::seed_from_u64(
                        self.model.seed() ^ 0xFA57_DA7A ^ self.streams.rotate_left(32),
                    ),
                });
            }
            65 => self.stream = None,
            _ => {}
        }
    }

    /// The packets of the stream that fell due since the last call, as bytes.
    fn due_packets(&mut self) -> Vec<u8> {
        let Some(mut stream) = self.stream.take() else {
            return Vec::new();
        };
        let now = self.model.now();
        let due = ((now - stream.start) / FAST_DATA_PERIOD).floor().max(0.0) as u64 + 1;
        let due = due.min(stream.next + MAX_PACKETS_PER_TURN);
        let ids: Vec<u32> = (64..=66)
            .map(|s| self.settings.get(&s).copied().unwrap_or(0) as u32)
            .collect();
        let faults = self.config.fast_data.clone();
        let mut out = Vec::with_capacity(((due.saturating_sub(stream.next)) as usize) * 9);
        while stream.next < due {
            let tick = stream.next;
            let snapshot = self
                .model
                .snapshot_at(stream.start + tick as f64 * FAST_DATA_PERIOD);
            let mut values = [0u16; 3];
            for (slot, id) in values.iter_mut().zip(&ids) {
                let divider = self.imt_model.divider(*id).unwrap_or(1);
                let raw = self
                    .measurement(*id, &snapshot)
                    .map_or(0, |v| imt::to_raw(v, divider));
                *slot = raw.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16 as u16;
            }
            let packet = FastPacket {
                timestamp: (tick & 0x00FF_FFFF) as u32,
                values,
            };
            let mut bytes = imt::encode_fast_packet(&packet);
            let eligible = faults.corrupt_count.is_none_or(|n| stream.corrupted < n);
            let drawn = if faults.corrupt_fraction > 0.0 {
                rand::RngExt::random_bool(&mut stream.rng, faults.corrupt_fraction.min(1.0))
            } else {
                faults.corrupt_count.is_some()
            };
            if eligible && drawn {
                bytes[imt::FAST_PACKET_LEN - 1] ^= 0x5A;
                stream.corrupted += 1;
            }
            out.extend_from_slice(&bytes);
            stream.next += 1;
            if faults.garbage_after_packets == Some(stream.next) {
                out.extend_from_slice(&GARBAGE);
            }
        }
        self.stream = Some(stream);
        out
    }

    fn measured_volume(&self, breath: &Breath, stream: u64) -> f64 {
        let mut rng = breath.rng(self.model.seed(), stream);
        breath.volume * (1.0 + self.config.gain_error)
            + normal(&mut rng, self.config.volume_noise_sd)
    }

    /// `value` of `breath` as measured, with the analyzer's noise of standard deviation `sd`
    /// from its own `stream`.
    fn measured(&self, breath: &Breath, value: f64, stream: u64, sd: f64) -> f64 {
        let mut rng = breath.rng(self.model.seed(), stream);
        value + normal(&mut rng, sd)
    }

    /// The physical value of measurement `id` now; `None` when not defined.
    fn measurement(&self, id: u32, s: &Snapshot) -> Option<f64> {
        // A stuck analyzer reports the same breath again and again: a plausible value that a
        // bench must catch by its spread, not by an error.
        let last = self.stuck.or(s.last_completed);
        let running = s.current.filter(|_| s.phase != Phase::Standby);
        // Instantaneous flow (L/min), pressure (mbar) and inspired volume (mL) now.
        let instant = running.map(|b| {
            let t = s.now - b.start;
            let volume = if t < b.ti { b.volume_at(t) } else { 0.0 };
            (b.flow_at(t) * 60.0, b.pressure_at(t), volume)
        });
        let breath = |f: &dyn Fn(&Breath) -> f64| last.as_ref().map(f);
        match id {
            0 => Some(instant.map_or(0.0, |i| i.0)),
            1 | 2 | 3 | 5 | 7 | 13 => Some(0.0),
            4 => Some(instant.map_or(0.0, |i| i.1)),
            6 => Some(instant.map_or(0.0, |i| i.2)),
            8 => Some(if s.phase == Phase::Inspiration {
                1.0
            } else {
                0.0
            }),
            9 => Some(last.or(running).map_or(ROOM_AIR_O2, |b| {
                self.measured(&b, b.fio2, STREAM_OXYGEN, self.config.oxygen_noise_sd)
            })),
            10 => Some(0.0),
            11 => Some(22.0),
            12 => Some(3.0),
            14 => Some(1013.0),
            19 => breath(&|b| b.ti),
            20 => breath(&|b| b.period - b.ti),
            21 => breath(&|b| {
                let te = b.period - b.ti;
                if b.ti > te { b.ti / te } else { -te / b.ti }
            }),
            22 => breath(&|b| {
                self.measured(b, 60.0 / b.period, STREAM_RATE, self.config.rate_noise_sd)
            }),
            23 => breath(&|b| self.measured_volume(b, STREAM_VTI)),
            24 => breath(&|b| self.measured_volume(b, STREAM_VTE)),
            25 => breath(&|b| self.measured_volume(b, STREAM_VTI) / 1000.0 * 60.0 / b.period),
            26 => breath(&|b| self.measured_volume(b, STREAM_VTE) / 1000.0 * 60.0 / b.period),
            27 => breath(&|b| self.measured(b, b.peak, STREAM_PEAK, self.config.pressure_noise_sd)),
            28 => breath(&|b| b.mean_pressure()),
            29 => breath(&|b| self.measured(b, b.peep, STREAM_PEEP, self.config.pressure_noise_sd)),
            30 => breath(&|b| 100.0 * b.ti / b.period),
            31 => breath(&|b| b.peak_inspiratory_flow() * 60.0),
            32 => breath(&|b| b.volume / 1000.0 / b.tau() * 60.0),
            41 => breath(&|b| {
                self.measured(b, b.plateau, STREAM_PLATEAU, self.config.pressure_noise_sd)
            }),
            42 => breath(&|b| {
                let v = self.measured_volume(b, STREAM_VTI);
                v / (b.plateau - b.peep).max(1e-6)
            }),
            _ => None,
        }
    }

    fn reply(&mut self, frame: &Frame) -> Option<Frame> {
        let id = frame.id;
        let op = frame.operation;
        let value = |v: i64| Some(Frame::with_value(op, id, v));
        match (op, frame.values.as_slice()) {
            (Operation::ReadMeasurement, []) => {
                let divider = self.imt_model.divider(id)?;
                let snapshot = self.model.snapshot();
                if id == 23
                    && self.stuck.is_none()
                    && self
                        .config
                        .stuck_after_breaths
                        .is_some_and(|n| self.breaths_read >= n)
                {
                    self.stuck = snapshot.last_completed;
                }
                match self.measurement(id, &snapshot) {
                    Some(v) => value(imt::to_raw(v, divider)),
                    None => value(imt::NOT_DEFINED),
                }
            }
            (Operation::ReadSetting, []) => self.settings.get(&id).copied().and_then(value),
            (Operation::WriteSetting, [v]) => {
                let current = self.settings.get_mut(&id)?;
                let valid = id != imt::SETTING_GAS_STANDARD || imt::gas_standard_name(*v).is_some();
                if valid {
                    *current = *v;
                }
                // The echo is the value in force: a refused write echoes the old one.
                let in_force = *current;
                value(in_force)
            }
            (Operation::ReadInfo, []) => match id {
                1 => value(3),
                2 => value(1),
                3 => value(13),
                4 => value(0),
                5 => value(1),
                6 => value(1),
                7 => value(2026),
                8 => value(i64::from(self.config.serial)),
                _ => None,
            },
            (Operation::ReadState, []) if id == 1 => value(0),
            (Operation::Command, values) if values.len() <= imt::MAX_VALUES => {
                let known = matches!(id, 1..=5 | 64 | 65);
                if known {
                    self.command(id);
                }
                known.then(|| Frame::new(op, id))
            }
            _ => None,
        }
    }
}

impl Device for FlowAnalyzer {
    fn terminator(&self) -> u8 {
        imt::TERMINATOR
    }

    fn answer(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        self.queries += 1;
        let silent_after_breaths = self
            .config
            .stop_answering_after_breaths
            .is_some_and(|n| self.breaths_read >= n);
        if silent_after_breaths
            || self
                .config
                .stop_answering_after_queries
                .is_some_and(|n| self.queries > n)
        {
            return None;
        }
        // Stray line feeds (a terminal's CR LF) are not part of the frame.
        let request = request.strip_prefix(b"\n").unwrap_or(request);
        if request.starts_with(b"%RM#23") && !request[6..].first().is_some_and(u8::is_ascii_digit) {
            self.breaths_read += 1;
        }
        let answer = Frame::parse(request)
            .ok()
            .and_then(|frame| self.reply(&frame));
        Some(answer.map_or_else(imt::encode_invalid, |frame| frame.encode()))
    }

    fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    fn unsolicited(&mut self) -> Option<Vec<u8>> {
        let bytes = self.due_packets();
        (!bytes.is_empty()).then_some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::VentilatorConfig;
    use crate::sim::model::LungSettings;

    fn analyzer(config: FlowAnalyzerConfig) -> (FlowAnalyzer, Arc<Model>) {
        let model = Arc::new(Model::new(
            9,
            VentilatorConfig::default(),
            LungSettings { c: 50.0, r: 5.0 },
            1000.0,
        ));
        (
            FlowAnalyzer::new(Arc::clone(&model), imt::Model::Pf300, config),
            model,
        )
    }

    fn ask(a: &mut FlowAnalyzer, line: &str) -> Option<String> {
        a.answer(line.as_bytes())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    #[test]
    fn answers_frames_and_refuses_bad_ones() {
        let (mut a, _) = analyzer(FlowAnalyzerConfig::default());
        assert_eq!(ask(&mut a, "%RI#8").as_deref(), Some("%RI#8$300001\r"));
        assert_eq!(ask(&mut a, "%WS#3$2").as_deref(), Some("%WS#3$2\r"));
        assert_eq!(ask(&mut a, "%WS#3$99").as_deref(), Some("%WS#3$2\r"));
        assert_eq!(ask(&mut a, "%RS#3").as_deref(), Some("%RS#3$2\r"));
        assert_eq!(ask(&mut a, "%RM#99").as_deref(), Some("?\r"));
        assert_eq!(ask(&mut a, "hello").as_deref(), Some("?\r"));
        assert_eq!(ask(&mut a, "%CM#64").as_deref(), Some("%CM#64\r"));
        assert_eq!(ask(&mut a, "%ST#1").as_deref(), Some("%ST#1$0\r"));
    }

    #[test]
    fn breath_values_are_not_defined_before_the_first_breath() {
        let (mut a, model) = analyzer(FlowAnalyzerConfig::default());
        assert_eq!(
            ask(&mut a, "%RM#23").as_deref(),
            Some("%RM#23$-2147483648\r")
        );
        assert_eq!(ask(&mut a, "%RM#8").as_deref(), Some("%RM#8$0\r"));
        model.set_running(true);
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(ask(&mut a, "%RM#23").as_deref(), Some("%RM#23$500\r"));
        assert_eq!(ask(&mut a, "%RM#41").as_deref(), Some("%RM#41$149\r"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_requests_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let (mut a, model) = analyzer(FlowAnalyzerConfig::default());
            model.set_running(true);
            let _ = a.answer(&bytes);
        }
    }

    #[test]
    fn streams_fast_data_between_start_and_stop() {
        let config = FlowAnalyzerConfig {
            fast_data: crate::sim::config::FastDataFaults {
                corrupt_count: Some(2),
                ..Default::default()
            },
            ..Default::default()
        };
        let (mut a, model) = analyzer(config);
        model.set_running(true);
        assert!(a.unsolicited().is_none(), "no stream before %CM#64");
        assert_eq!(ask(&mut a, "%WS#64$0").as_deref(), Some("%WS#64$0\r"));
        assert_eq!(ask(&mut a, "%WS#65$4").as_deref(), Some("%WS#65$4\r"));
        assert_eq!(ask(&mut a, "%CM#64").as_deref(), Some("%CM#64\r"));
        assert!(a.is_streaming());
        // 1000 × faster: 10 ms real is 10 s simulated, 2000 packets.
        std::thread::sleep(std::time::Duration::from_millis(10));
        let bytes = a.unsolicited().expect("packets due");
        assert_eq!(bytes.len() % imt::FAST_PACKET_LEN, 0);
        let packets: Vec<_> = bytes.chunks(imt::FAST_PACKET_LEN).collect();
        assert!(packets.len() >= 2000, "{}", packets.len());
        let decoded: Vec<_> = packets
            .iter()
            .filter_map(|p| imt::decode_fast_packet((*p).try_into().ok()?).ok())
            .collect();
        assert_eq!(decoded.len(), packets.len() - 2, "two corrupted");
        assert_eq!(decoded[0].timestamp, 2);
        // Inspiration of a volume-controlled breath: 500 mL over 1 s is 30 L/min (raw 300).
        let flows: Vec<i16> = decoded.iter().map(|p| p.values[0] as i16).collect();
        assert!(flows.contains(&300), "{:?}", &flows[..20]);
        assert!(flows.iter().any(|f| *f < 0), "expiration flows back");
        assert_eq!(ask(&mut a, "%CM#65").as_deref(), Some("%CM#65\r"));
        assert!(a.unsolicited().is_none(), "no stream after %CM#65");
    }

    #[test]
    fn stops_answering_after_the_configured_number_of_queries() {
        let config = FlowAnalyzerConfig {
            stop_answering_after_queries: Some(2),
            ..Default::default()
        };
        let (mut a, _) = analyzer(config);
        assert!(ask(&mut a, "%RI#1").is_some());
        assert!(ask(&mut a, "%RI#1").is_some());
        assert!(ask(&mut a, "%RI#1").is_none());
    }
}
