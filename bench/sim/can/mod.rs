//! The simulated CAN bench: a simulated slcan adapter on a real pseudo-terminal, and behind
//! it a simulated bus with simulated CANopen nodes (the X-ray generator first) and, when
//! configured, a DBC-described collimator (`collimator.rs`).
//!
//! A host opens the adapter's pty ([`SimCanBench::port`]) exactly as it opens a CANable on
//! `/dev/ttyACM0`, and runs the same slcan and CANopen code it runs on hardware. The bus is
//! an in-process [`MemoryBus`]; tests and benchmarks may join it directly
//! ([`SimCanBench::bus`]). The generator's exposures, with the air kerma each produced, are
//! kept for the simulated dosimeter and detector ([`SimCanBench::exposures`]).
//!
//! Faults: a garbled adapter line, an adapter that disappears (after N frames, or on
//! [`SimCanBench::unplug_adapter`]), a generator that falls silent after N exposures. This
//! module never prints and never reads the environment.
//!
//! Main types: [`SimCanBench`], [`CanSimConfig`], [`Exposure`].

mod adapter;
mod block;
mod collimator;
mod config;
pub mod flat_panel;
mod node;
pub mod xray_generator;

pub use config::{CanAdapterConfig, CanSimConfig, CollimatorConfig, XrayGeneratorConfig};
pub use flat_panel::{FlatPanelSimConfig, ImageChannel};
pub use xray_generator::Exposure;

use super::SimError;
use crate::can::memory::MemoryBus;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A running simulated CAN bench.
pub struct SimCanBench {
    bus: MemoryBus,
    adapter: adapter::AdapterEndpoint,
    nodes_stop: Arc<AtomicBool>,
    nodes: Vec<JoinHandle<()>>,
    exposures: Arc<Mutex<Vec<Exposure>>>,
    /// The flat-panel detector and the adapter a host reaches it through, when configured.
    detector: Option<(flat_panel::SimFlatPanel, adapter::AdapterEndpoint)>,
}

impl SimCanBench {
    /// Starts the adapter and the nodes. `seed` drives every random draw; `time_scale` is how
    /// many simulated seconds pass per real second (exposure times shrink with it).
    pub fn start(
        config: &CanSimConfig,
        seed: u64,
        time_scale: f64,
    ) -> Result<SimCanBench, SimError> {
        validate(config, time_scale)?;
        let bus = MemoryBus::new("simulated CAN bus");
        let exposures = Arc::new(Mutex::new(Vec::new()));
        let nodes_stop = Arc::new(AtomicBool::new(false));
        let generator = xray_generator::XrayGenerator::new(
            &config.xray_generator,
            seed,
            time_scale,
            Arc::clone(&exposures),
        );
        let endpoint = bus.endpoint();
        let flag = Arc::clone(&nodes_stop);
        let thread = std::thread::Builder::new()
            .name("sim-xray-generator".into())
            .spawn(move || generator.run(endpoint, &flag))
            .map_err(|source| SimError::Thread {
                device: "xray_generator",
                source,
            })?;
        let mut nodes = vec![thread];
        if let Some(c) = &config.collimator {
            let collimator = collimator::Collimator::new(c, time_scale).map_err(|reason| {
                SimError::BadConfig {
                    field: "can.collimator",
                    reason,
                }
            })?;
            let (endpoint, flag) = (bus.endpoint(), Arc::clone(&nodes_stop));
            let spawned = std::thread::Builder::new()
                .name("sim-collimator".into())
                .spawn(move || collimator.run(endpoint, &flag));
            match spawned {
                Ok(t) => nodes.push(t),
                Err(source) => {
                    nodes_stop.store(true, Ordering::Relaxed);
                    return Err(SimError::Thread {
                        device: "collimator",
                        source,
                    });
                }
            }
        }
        let adapter = adapter::AdapterEndpoint::spawn(&config.adapter, &bus)?;
        let detector = match &config.flat_panel_detector {
            Some(c) => Some((
                flat_panel::SimFlatPanel::start(
                    c,
                    bus.endpoint(),
                    Arc::clone(&exposures),
                    time_scale,
                )?,
                adapter::AdapterEndpoint::spawn(&CanAdapterConfig::default(), &bus)?,
            )),
            None => None,
        };
        Ok(SimCanBench {
            bus,
            adapter,
            nodes_stop,
            nodes,
            exposures,
            detector,
        })
    }

    /// The pty path of the slcan adapter, while it is plugged in.
    pub fn port(&self) -> Option<&Path> {
        self.adapter
            .is_connected()
            .then_some(self.adapter.path.as_path())
    }

    /// The pty path of the flat-panel detector's own slcan adapter (on the same bus), when
    /// the detector is configured.
    pub fn detector_port(&self) -> Option<&Path> {
        self.detector
            .as_ref()
            .filter(|(_, a)| a.is_connected())
            .map(|(_, a)| a.path.as_path())
    }

    /// Where the flat-panel detector delivers its frames, when it is configured.
    pub fn image_channel(&self) -> Option<&ImageChannel> {
        self.detector.as_ref().map(|(d, _)| &d.channel)
    }

    /// The simulated bus, to join it directly (tests, benchmarks, other simulated devices).
    pub fn bus(&self) -> &MemoryBus {
        &self.bus
    }

    /// Every exposure the generator made, oldest first.
    pub fn exposures(&self) -> Vec<Exposure> {
        self.exposures
            .lock()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The generator's exposure log itself, shared with the simulated instruments that
    /// measure the same exposures (the dosimeter).
    pub(crate) fn exposure_log(&self) -> Arc<Mutex<Vec<Exposure>>> {
        Arc::clone(&self.exposures)
    }

    /// Pulls the adapter out: its pty closes and the host sees it disappear. Returns whether
    /// it was plugged in.
    pub fn unplug_adapter(&mut self) -> bool {
        let was = self.adapter.is_connected();
        self.adapter.stop();
        was
    }
}

impl Drop for SimCanBench {
    fn drop(&mut self) {
        self.adapter.stop();
        if let Some((_, adapter)) = self.detector.as_mut() {
            adapter.stop();
        }
        self.nodes_stop.store(true, Ordering::Relaxed);
        for thread in self.nodes.drain(..) {
            let _ = thread.join();
        }
    }
}

fn validate(config: &CanSimConfig, time_scale: f64) -> Result<(), SimError> {
    let bad = |field: &'static str, reason: String| Err(SimError::BadConfig { field, reason });
    if !(time_scale.is_finite() && time_scale > 0.0 && time_scale <= 10_000.0) {
        return bad("time_scale", format!("{time_scale} is not in (0, 10000]"));
    }
    let g = &config.xray_generator;
    if !(1..=127).contains(&g.node_id) {
        return bad(
            "can.xray_generator.node_id",
            format!("{} is not in 1 to 127", g.node_id),
        );
    }
    for (field, v) in [
        ("can.xray_generator.kv_error", g.kv_error),
        ("can.xray_generator.ma_error", g.ma_error),
        ("can.xray_generator.time_error", g.time_error),
    ] {
        if !(v.is_finite() && v > -1.0) {
            return bad(field, format!("{v} is not above -1"));
        }
    }
    if !(g.output_cv.is_finite() && g.output_cv >= 0.0) {
        return bad(
            "can.xray_generator.output_cv",
            format!("{} is not non-negative", g.output_cv),
        );
    }
    if !(g.mas_nonlinearity.is_finite() && g.mas_nonlinearity.abs() <= 1.0) {
        return bad(
            "can.xray_generator.mas_nonlinearity",
            format!("{} is not within ±1", g.mas_nonlinearity),
        );
    }
    if let Some(c) = &config.collimator
        && !(c.speed_mm_per_s.is_finite()
            && c.speed_mm_per_s > 0.0
            && c.size_error.is_finite()
            && c.size_error > -1.0
            && (0.0..=500.0).contains(&c.open_mm))
    {
        return bad(
            "can.collimator",
            "speed_mm_per_s must be positive, size_error above -1, open_mm 0 to 500".into(),
        );
    }
    if !(g.output_ugy_per_mas.is_finite() && g.output_ugy_per_mas > 0.0) {
        return bad(
            "can.xray_generator.output_ugy_per_mas",
            format!("{} is not positive", g.output_ugy_per_mas),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::CanBus;
    use crate::can::canopen::{CanOpenClient, NmtCommand, NmtState};
    use std::time::{Duration, Instant};

    #[test]
    fn bad_configurations_are_refused() {
        let mut c = CanSimConfig::default();
        c.xray_generator.node_id = 0;
        assert!(matches!(
            SimCanBench::start(&c, 0, 1.0),
            Err(SimError::BadConfig {
                field: "can.xray_generator.node_id",
                ..
            })
        ));
        let mut c = CanSimConfig::default();
        c.xray_generator.kv_error = -1.0;
        assert!(SimCanBench::start(&c, 0, 1.0).is_err());
        assert!(SimCanBench::start(&CanSimConfig::default(), 0, 0.0).is_err());
    }

    #[test]
    fn the_generator_boots_and_beats_on_the_bus() {
        let bench = SimCanBench::start(&CanSimConfig::default(), 0, 1.0).unwrap();
        let mut c =
            CanOpenClient::new(Box::new(bench.bus().endpoint()), Duration::from_millis(200));
        c.wait_for_state(5, NmtState::PreOperational, Duration::from_millis(500))
            .unwrap();
        c.nmt(NmtCommand::Start, 5).unwrap();
        c.wait_for_state(5, NmtState::Operational, Duration::from_millis(500))
            .unwrap();
        assert!(c.describe().contains("simulated CAN bus"));
        let mapping = c.read_tpdo_mapping(5, 1).unwrap();
        assert_eq!(mapping.cob_id, 0x185);
        let layout: Vec<_> = mapping
            .signals
            .iter()
            .map(|s| (s.name.as_str(), s.bit_offset, s.bit_length))
            .collect();
        assert_eq!(
            layout,
            [
                ("2012h_1", 0, 16),
                ("2012h_2", 16, 16),
                ("2012h_3", 32, 16),
                ("2012h_4", 48, 16)
            ]
        );
        c.add_pdo_mapping(mapping).unwrap();
        let start = Instant::now();
        drop(c);
        drop(bench);
        assert!(start.elapsed() < Duration::from_millis(300));
    }

    #[test]
    fn heartbeats_queued_unread_are_not_a_lost_node() {
        let bench = SimCanBench::start(&CanSimConfig::default(), 0, 1.0).unwrap();
        let mut c =
            CanOpenClient::new(Box::new(bench.bus().endpoint()), Duration::from_millis(300));
        c.watch_heartbeat(5, Duration::from_millis(250)).unwrap();
        // The caller leaves the bus alone for longer than the heartbeat timeout; the node
        // kept beating, and its heartbeats wait in the queue.
        std::thread::sleep(Duration::from_millis(600));
        c.check_heartbeats().unwrap();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(c.read_u16(5, xray_generator::SET, 1).unwrap(), 700);
        assert!(c.heartbeats()[0].silent_for < Duration::from_millis(250));
    }

    #[test]
    fn idle_cuts_an_exposure_short() {
        let bench = SimCanBench::start(&CanSimConfig::default(), 0, 1.0).unwrap();
        let mut c =
            CanOpenClient::new(Box::new(bench.bus().endpoint()), Duration::from_millis(300));
        c.nmt(NmtCommand::Start, 5).unwrap();
        c.wait_for_state(5, NmtState::Operational, Duration::from_millis(500))
            .unwrap();
        c.write_u32(5, xray_generator::SET, 3, 5_000_000).unwrap();
        c.write_u16(5, xray_generator::CONTROLWORD, 0, 1).unwrap();
        c.write_u16(5, xray_generator::CONTROLWORD, 0, 2).unwrap();
        c.poll(Duration::from_millis(50)).unwrap();
        c.write_u16(5, xray_generator::CONTROLWORD, 0, 0).unwrap();
        let e = bench.exposures();
        assert_eq!(e.len(), 1);
        assert!(e[0].time_ms > 10.0 && e[0].time_ms < 1000.0, "{:?}", e[0]);
        assert!((e[0].mas - e[0].ma * e[0].time_ms / 1000.0).abs() < 1e-6);
        assert_eq!(
            c.read_u16(5, xray_generator::STATUSWORD, 0).unwrap() & 0x02,
            0
        );
    }

    #[test]
    fn reproducibility_noise_varies_the_output_not_the_settings() {
        let mut config = CanSimConfig::default();
        config.xray_generator.output_cv = 0.05;
        let bench = SimCanBench::start(&config, 7, 100.0).unwrap();
        let mut c =
            CanOpenClient::new(Box::new(bench.bus().endpoint()), Duration::from_millis(300));
        c.nmt(NmtCommand::Start, 5).unwrap();
        c.wait_for_state(5, NmtState::Operational, Duration::from_millis(500))
            .unwrap();
        for _ in 0..3 {
            c.write_u16(5, xray_generator::CONTROLWORD, 0, 1).unwrap();
            c.write_u16(5, xray_generator::CONTROLWORD, 0, 2).unwrap();
            let deadline = Instant::now() + Duration::from_secs(1);
            while c.read_u16(5, xray_generator::STATUSWORD, 0).unwrap() & 0x04 == 0 {
                assert!(Instant::now() < deadline, "exposure did not end");
            }
        }
        let e = bench.exposures();
        assert_eq!(e.len(), 3);
        assert!(
            e.iter()
                .all(|x| (x.kv - 70.0).abs() < 1e-9 && (x.mas - 10.0).abs() < 1e-9)
        );
        assert!(e[0].air_kerma_ugy_at_1m != e[1].air_kerma_ugy_at_1m);
        let _ = bench.bus().endpoint().describe();
    }
}
