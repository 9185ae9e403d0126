//! The simulated automatic X-ray collimator: a device described by a DBC file
//! (`fixtures/dbc/qbench_collimator.dbc`), in the spirit of CiA 412-2 (a command with the
//! target field, a status with the state and the actual field) but without CANopen.
//!
//! It receives `CollimatorCommand` (page 0: target width and height in mm, command 0 hold,
//! 1 move to the target, 2 close; page 1: added copper filtration in mm and the lamp time)
//! and sends `CollimatorStatus` every `status_ms` (real time), pages 0 and 1 alternately:
//! the actual field and the state (0 idle, 1 moving, 2 in position), the housing temperature
//! and the filtration. The blades move at `speed_mm_per_s` (bench time) toward the target
//! times `1 + size_error`. Fault: after `silent_after_commands` commands it falls silent.
//!
//! It encodes and decodes with the same [`DbcDatabase`] code as the `dbc` driver, from the
//! same file, so what it sends is exactly what the driver reads.

use super::config::CollimatorConfig;
use crate::can::CanBus;
use crate::can::dbc::DbcDatabase;
use crate::can::memory::MemoryEndpoint;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The collimator's DBC file, as shipped.
pub const DBC: &str = include_str!("../../../fixtures/dbc/qbench_collimator.dbc");

/// The longest the device waits before checking its stop flag.
const POLL: Duration = Duration::from_millis(10);

/// A blade position within this of its goal, mm, is in position.
const IN_POSITION_MM: f64 = 0.05;

/// The simulated collimator's state.
pub(crate) struct Collimator {
    config: CollimatorConfig,
    time_scale: f64,
    db: DbcDatabase,
    /// Commanded field, mm.
    target: (f64, f64),
    /// Actual field, mm.
    actual: (f64, f64),
    command: u8,
    filter_mm: f64,
    commands: u64,
    counter: u8,
    page: u8,
}

impl Collimator {
    /// A collimator with `config`, its blades fully open (`open_mm` square).
    pub(crate) fn new(config: &CollimatorConfig, time_scale: f64) -> Result<Collimator, String> {
        let db = DbcDatabase::parse(DBC).map_err(|e| e.to_string())?;
        Ok(Collimator {
            config: config.clone(),
            time_scale,
            db,
            target: (config.open_mm, config.open_mm),
            actual: (config.open_mm, config.open_mm),
            command: 0,
            filter_mm: 0.0,
            commands: 0,
            counter: 0,
            page: 0,
        })
    }

    fn goal(&self) -> Option<(f64, f64)> {
        let k = 1.0 + self.config.size_error;
        match self.command {
            1 => Some((self.target.0 * k, self.target.1 * k)),
            2 => Some((0.0, 0.0)),
            _ => None,
        }
    }

    fn state(&self) -> u8 {
        match self.goal() {
            None => 0,
            Some((w, h)) => {
                let far = (self.actual.0 - w).abs() > IN_POSITION_MM
                    || (self.actual.1 - h).abs() > IN_POSITION_MM;
                if far {
                    1
                } else if self.command == 1 {
                    2
                } else {
                    0
                }
            }
        }
    }

    /// Moves the blades for `dt` of real time.
    fn advance(&mut self, dt: Duration) {
        let Some((w, h)) = self.goal() else {
            return;
        };
        let step = self.config.speed_mm_per_s * dt.as_secs_f64() * self.time_scale;
        let toward = |from: f64, to: f64| {
            if (to - from).abs() <= step {
                to
            } else {
                from + step * (to - from).signum()
            }
        };
        self.actual = (toward(self.actual.0, w), toward(self.actual.1, h));
    }

    fn handle(&mut self, frame: &crate::can::CanFrame) {
        let Ok(Some(m)) = self.db.decode(frame) else {
            return;
        };
        if m.name != "CollimatorCommand" {
            return;
        }
        self.commands += 1;
        let value = |name: &str| m.signal(name).map(|s| s.value);
        if let (Some(w), Some(h), Some(c)) = (
            value("TargetWidth"),
            value("TargetHeight"),
            value("Command"),
        ) {
            self.target = (w, h);
            self.command = c as u8;
        }
        if let Some(f) = value("FilterCu") {
            self.filter_mm = f;
        }
    }

    fn status(&mut self) -> Option<crate::can::CanFrame> {
        self.counter = self.counter.wrapping_add(1);
        let counter = f64::from(self.counter);
        let frame = if self.page == 0 {
            let state = f64::from(self.state());
            self.db.encode(
                "CollimatorStatus",
                &[
                    ("ActualWidth", self.actual.0.clamp(0.0, 500.0)),
                    ("ActualHeight", self.actual.1.clamp(0.0, 500.0)),
                    ("State", state),
                    ("Counter", counter),
                ],
            )
        } else {
            self.db.encode(
                "CollimatorStatus",
                &[
                    ("HousingTemp", self.config.housing_temperature_c),
                    ("ActualFilterCu", self.filter_mm),
                    ("Counter", counter),
                ],
            )
        };
        self.page = 1 - self.page;
        frame.ok()
    }

    /// Serves the bus until `stop` is set.
    pub(crate) fn run(mut self, mut endpoint: MemoryEndpoint, stop: &AtomicBool) {
        let period = Duration::from_millis(self.config.status_ms.max(1));
        let mut last = Instant::now();
        let mut next_status = last;
        while !stop.load(Ordering::Relaxed) {
            let silent = self
                .config
                .silent_after_commands
                .is_some_and(|n| self.commands >= n);
            let now = Instant::now();
            self.advance(now - last);
            last = now;
            if now >= next_status && !silent {
                if let Some(frame) = self.status() {
                    endpoint.post(&frame);
                }
                next_status = now + period;
            }
            let wait = POLL.min(next_status.saturating_duration_since(now));
            if let Ok(frame) = endpoint.receive(wait) {
                self.handle(&frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::memory::MemoryBus;

    fn field(db: &DbcDatabase, w: f64, h: f64, command: f64) -> crate::can::CanFrame {
        db.encode(
            "CollimatorCommand",
            &[
                ("TargetWidth", w),
                ("TargetHeight", h),
                ("Command", command),
            ],
        )
        .unwrap()
    }

    #[test]
    fn moves_to_the_target_with_its_error_and_reports_in_position() {
        let config = CollimatorConfig {
            size_error: 0.01,
            speed_mm_per_s: 2000.0,
            ..CollimatorConfig::default()
        };
        let mut c = Collimator::new(&config, 1.0).unwrap();
        let db = DbcDatabase::parse(DBC).unwrap();
        c.handle(&field(&db, 200.0, 100.0, 1.0));
        assert_eq!(c.state(), 1);
        c.advance(Duration::from_millis(500));
        assert_eq!(c.state(), 2);
        assert!((c.actual.0 - 202.0).abs() < 1e-9 && (c.actual.1 - 101.0).abs() < 1e-9);
        let status = c.status().unwrap();
        let d = db.decode(&status).unwrap().unwrap();
        assert!((d.signal("ActualWidth").unwrap().value - 202.0).abs() < 0.051);
        assert_eq!(d.signal("State").unwrap().value, 2.0);
        let page1 = db.decode(&c.status().unwrap()).unwrap().unwrap();
        assert!((page1.signal("HousingTemp").unwrap().value - 31.5).abs() < 0.051);
        c.handle(&field(&db, 200.0, 100.0, 2.0));
        c.advance(Duration::from_secs(1));
        assert_eq!((c.actual, c.state()), ((0.0, 0.0), 0));
    }

    #[test]
    fn falls_silent_after_the_configured_commands() {
        let config = CollimatorConfig {
            status_ms: 5,
            silent_after_commands: Some(1),
            ..CollimatorConfig::default()
        };
        let bus = MemoryBus::new("test");
        let mut host = bus.endpoint();
        let c = Collimator::new(&config, 1.0).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (endpoint, flag) = (bus.endpoint(), std::sync::Arc::clone(&stop));
        let thread = std::thread::spawn(move || c.run(endpoint, &flag));
        assert!(host.receive(Duration::from_millis(200)).is_ok());
        let db = DbcDatabase::parse(DBC).unwrap();
        host.send(&field(&db, 10.0, 10.0, 0.0), Duration::from_millis(50))
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        while host.receive(Duration::from_millis(1)).is_ok() {}
        assert!(host.receive(Duration::from_millis(50)).is_err());
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
    }
}
