//! Airway pressure as a pressure meter at the test lung's port sees it, computed from the
//! shared model's snapshot (read-only: this file adds no state to the model).
//!
//! While ventilating, the pressure is the model's own curve of the breath in progress
//! (`Breath::pressure_at`: resistive plus elastic part in volume control, the held target in
//! pressure control, PEEP during expiration). In standby the port is open to the room: 0 hPa
//! gauge.

use super::model::{Phase, Snapshot};

/// Airway pressure now, hPa gauge: the model's pressure curve of the breath in progress.
pub(crate) fn pressure_now(s: &Snapshot) -> f64 {
    match (s.phase, s.current) {
        (Phase::Standby, _) | (_, None) => 0.0,
        (_, Some(b)) => b.pressure_at(s.now - b.start),
    }
}

/// Peak pressure of the last completed inspiration, hPa; `None` before any breath.
pub(crate) fn last_peak(s: &Snapshot) -> Option<f64> {
    s.last_completed.map(|b| b.peak)
}

/// Plateau pressure of the last completed inspiration, hPa.
pub(crate) fn last_plateau(s: &Snapshot) -> Option<f64> {
    s.last_completed.map(|b| b.plateau)
}

/// End-expiratory pressure, hPa: the set PEEP while ventilating; `None` in standby.
pub(crate) fn peep(s: &Snapshot) -> Option<f64> {
    match s.phase {
        Phase::Standby => None,
        _ => s.current.or(s.last_completed).map(|b| b.peep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::VentilatorConfig;
    use crate::sim::model::{LungSettings, Model};

    #[test]
    fn standby_is_ambient_and_ventilation_stays_between_peep_and_peak() {
        let m = Model::new(
            1,
            VentilatorConfig::default(),
            LungSettings { c: 50.0, r: 5.0 },
            1000.0,
        );
        let s = m.snapshot();
        assert_eq!(pressure_now(&s), 0.0);
        assert!(peep(&s).is_none() && last_peak(&s).is_none());
        m.set_running(true);
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..50 {
            let s = m.snapshot();
            let p = pressure_now(&s);
            let b = s.current.expect("running");
            assert!(
                p >= b.peep - 1e-9 && p <= b.peak + 1e-9,
                "{p} outside [{}, {}]",
                b.peep,
                b.peak
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let s = m.snapshot();
        assert!(last_peak(&s).is_some_and(|p| p > last_plateau(&s).unwrap_or(0.0)));
        assert!(peep(&s).is_some_and(|p| (p - 5.0 * 0.980665).abs() < 1e-9));
    }
}
