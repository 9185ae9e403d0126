//! The shared physical model: a volume-controlled ventilator ventilating a test lung.
//!
//! Time is simulated: real time elapsed since the bench started, multiplied by the time
//! scale. While the ventilator runs, breaths follow one another at the set rate; a change of
//! any setting (ventilator or lung) starts a new *segment* at that instant, whose breaths are
//! numbered from 0. Every value of breath `k` of segment `s` is drawn from a random generator
//! seeded by (seed, s, k, stream), so the ventilator's and the analyzer's threads compute the
//! same breath without sharing anything but the current settings, and a rerun with the same
//! seed gives the same numbers.
//!
//! For breath k: delivered volume `V = Vset·(1+volume_error) + N(0, volume_noise_sd)`;
//! plateau `PEEP + V/C`; peak `PEEP + V/C + R·V/Ti`; rate `rate·(1+rate_error)`;
//! FiO2 `set + fio2_error`. Pressures are in hPa (= mbar); PEEP is set in cmH2O.

use super::config::VentilatorConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// hPa per cmH2O.
const HPA_PER_CMH2O: f64 = 0.980_665;

/// What the ventilator is set to, in its units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct VentSettings {
    /// Tidal volume, mL.
    pub(crate) vt: f64,
    /// Rate, /min.
    pub(crate) rate: f64,
    /// Inspiratory time, s.
    pub(crate) ti: f64,
    /// PEEP, cmH2O.
    pub(crate) peep: f64,
    /// FiO2, %.
    pub(crate) fio2: f64,
}

impl Default for VentSettings {
    fn default() -> Self {
        VentSettings {
            vt: 500.0,
            rate: 15.0,
            ti: 1.0,
            peep: 5.0,
            fio2: 21.0,
        }
    }
}

/// The test lung's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LungSettings {
    /// Compliance, mL/hPa.
    pub(crate) c: f64,
    /// Resistance, hPa/(L/s).
    pub(crate) r: f64,
}

/// One breath, as delivered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Breath {
    /// Segment the breath belongs to.
    pub(crate) segment: u64,
    /// Its number in the segment.
    pub(crate) index: u64,
    /// Simulated start time, s.
    pub(crate) start: f64,
    /// Inspiratory time, s.
    pub(crate) ti: f64,
    /// Breath period, s.
    pub(crate) period: f64,
    /// Delivered volume, mL.
    pub(crate) volume: f64,
    /// PEEP, hPa.
    pub(crate) peep: f64,
    /// Plateau pressure, hPa.
    pub(crate) plateau: f64,
    /// Peak pressure, hPa.
    pub(crate) peak: f64,
    /// Delivered FiO2, %.
    pub(crate) fio2: f64,
    /// Lung compliance and resistance during the breath.
    pub(crate) lung: LungSettings,
}

impl Breath {
    /// Inspiratory flow, L/s (constant in volume control).
    pub(crate) fn inspiratory_flow(&self) -> f64 {
        self.volume / 1000.0 / self.ti
    }

    /// Time constant of passive expiration, s.
    pub(crate) fn tau(&self) -> f64 {
        (self.lung.r * self.lung.c / 1000.0).max(1e-6)
    }

    /// A deterministic generator for this breath and `stream` (one per consumer of noise).
    pub(crate) fn rng(&self, seed: u64, stream: u64) -> StdRng {
        StdRng::seed_from_u64(mix(&[seed, self.segment, self.index, stream]))
    }
}

/// Where the breathing is at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Phase {
    /// The ventilator is in standby: no breaths.
    Standby,
    /// Gas flows into the lung.
    Inspiration,
    /// The lung empties.
    Expiration,
}

/// What an instrument can see at one instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    /// Simulated time, s.
    pub(crate) now: f64,
    /// The phase now.
    pub(crate) phase: Phase,
    /// The breath in progress, if running.
    pub(crate) current: Option<Breath>,
    /// The last breath whose inspiration has ended.
    pub(crate) last_completed: Option<Breath>,
}

struct Segment {
    id: u64,
    start: f64,
    vent: VentSettings,
    lung: LungSettings,
}

struct State {
    running: bool,
    vent: VentSettings,
    lung: LungSettings,
    segment: Segment,
    next_segment: u64,
    /// The last completed breath of earlier segments, so readings survive a settings change.
    carried: Option<Breath>,
}

/// The model shared by the simulated devices.
pub(crate) struct Model {
    seed: u64,
    errors: VentilatorConfig,
    time_scale: f64,
    epoch: Instant,
    state: Mutex<State>,
}

impl Model {
    pub(crate) fn new(
        seed: u64,
        errors: VentilatorConfig,
        lung: LungSettings,
        time_scale: f64,
    ) -> Self {
        let vent = VentSettings::default();
        Model {
            seed,
            errors,
            time_scale,
            epoch: Instant::now(),
            state: Mutex::new(State {
                running: false,
                vent,
                lung,
                segment: Segment {
                    id: 0,
                    start: 0.0,
                    vent,
                    lung,
                },
                next_segment: 1,
                carried: None,
            }),
        }
    }

    /// The seed every draw derives from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Simulated seconds since the bench started.
    pub(crate) fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * self.time_scale
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A device thread that panicked mid-update leaves plain numbers behind: keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The ventilator's settings.
    pub(crate) fn vent(&self) -> VentSettings {
        self.lock().vent
    }

    /// The lung's settings.
    pub(crate) fn lung(&self) -> LungSettings {
        self.lock().lung
    }

    /// Whether the ventilator is running.
    pub(crate) fn is_running(&self) -> bool {
        self.lock().running
    }

    /// Changes the ventilator's settings; a new segment starts now.
    pub(crate) fn set_vent(&self, change: impl FnOnce(&mut VentSettings)) -> VentSettings {
        let now = self.now();
        let mut state = self.lock();
        change(&mut state.vent);
        self.restart(&mut state, now);
        state.vent
    }

    /// Changes the lung's settings; a new segment starts now.
    pub(crate) fn set_lung(&self, change: impl FnOnce(&mut LungSettings)) -> LungSettings {
        let now = self.now();
        let mut state = self.lock();
        change(&mut state.lung);
        self.restart(&mut state, now);
        state.lung
    }

    /// Starts or stops ventilation.
    pub(crate) fn set_running(&self, running: bool) {
        let now = self.now();
        let mut state = self.lock();
        if state.running != running {
            self.restart(&mut state, now);
            state.running = running;
        }
    }

    fn restart(&self, state: &mut State, now: f64) {
        if state.running
            && let Some(last) = self.last_completed_in(&state.segment, now)
        {
            state.carried = Some(last);
        }
        state.segment = Segment {
            id: state.next_segment,
            start: now,
            vent: state.vent,
            lung: state.lung,
        };
        state.next_segment += 1;
    }

    fn period(&self, vent: &VentSettings) -> f64 {
        let rate = (vent.rate * (1.0 + self.errors.rate_error)).max(1e-3);
        60.0 / rate
    }

    /// Breath `k` of `segment`.
    fn breath(&self, segment: &Segment, k: u64) -> Breath {
        let vent = segment.vent;
        let period = self.period(&vent);
        // A breath cannot inspire for longer than it lasts.
        let ti = vent.ti.clamp(1e-3, 0.95 * period);
        let mut breath = Breath {
            segment: segment.id,
            index: k,
            start: segment.start + k as f64 * period,
            ti,
            period,
            volume: 0.0,
            peep: vent.peep * HPA_PER_CMH2O,
            plateau: 0.0,
            peak: 0.0,
            fio2: (vent.fio2 + self.errors.fio2_error).clamp(0.0, 100.0),
            lung: segment.lung,
        };
        let mut rng = breath.rng(self.seed, 0);
        let noise = normal(&mut rng, self.errors.volume_noise_sd);
        breath.volume = (vent.vt * (1.0 + self.errors.volume_error) + noise).max(0.0);
        let c = segment.lung.c.max(1e-6);
        breath.plateau = breath.peep + breath.volume / c;
        breath.peak = breath.plateau + segment.lung.r * breath.inspiratory_flow();
        breath
    }

    fn last_completed_in(&self, segment: &Segment, now: f64) -> Option<Breath> {
        let elapsed = now - segment.start;
        if elapsed < 0.0 {
            return None;
        }
        let period = self.period(&segment.vent);
        let k = (elapsed / period).floor() as u64;
        let b = self.breath(segment, k);
        if now >= b.start + b.ti {
            Some(b)
        } else if k > 0 {
            Some(self.breath(segment, k - 1))
        } else {
            None
        }
    }

    /// What the breathing looks like now.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let now = self.now();
        let state = self.lock();
        if !state.running {
            return Snapshot {
                now,
                phase: Phase::Standby,
                current: None,
                last_completed: state.carried,
            };
        }
        let seg = &state.segment;
        let period = self.period(&seg.vent);
        let k = ((now - seg.start).max(0.0) / period).floor() as u64;
        let current = self.breath(seg, k);
        let phase = if now < current.start + current.ti {
            Phase::Inspiration
        } else {
            Phase::Expiration
        };
        let last_completed = self.last_completed_in(seg, now).or(state.carried);
        Snapshot {
            now,
            phase,
            current: Some(current),
            last_completed,
        }
    }
}

/// A draw from N(0, sd); zero when sd is zero (or invalid, which validation prevents).
pub(crate) fn normal(rng: &mut StdRng, sd: f64) -> f64 {
    match Normal::new(0.0, sd) {
        Ok(dist) if sd > 0.0 => dist.sample(rng),
        _ => 0.0,
    }
}

/// Mixes words into one seed (SplitMix64 steps), so nearby inputs give unrelated seeds.
fn mix(words: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for w in words {
        h ^= *w;
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(errors: VentilatorConfig, time_scale: f64) -> Model {
        Model::new(42, errors, LungSettings { c: 50.0, r: 5.0 }, time_scale)
    }

    #[test]
    fn breath_values_follow_the_lung_equation() {
        let m = model(VentilatorConfig::default(), 1.0);
        let seg = Segment {
            id: 3,
            start: 0.0,
            vent: VentSettings::default(),
            lung: m.lung(),
        };
        let b = m.breath(&seg, 0);
        assert_eq!(b.volume, 500.0);
        assert!((b.plateau - (5.0 * HPA_PER_CMH2O + 10.0)).abs() < 1e-9);
        // R·V/Ti = 5 hPa/(L/s) · 0.5 L / 1 s.
        assert!((b.peak - b.plateau - 2.5).abs() < 1e-9);
        assert_eq!(b.period, 4.0);
    }

    #[test]
    fn breaths_are_deterministic_and_noisy_per_index() {
        let errors = VentilatorConfig {
            volume_noise_sd: 10.0,
            volume_error: 0.1,
            ..Default::default()
        };
        let m = model(errors.clone(), 1.0);
        let seg = Segment {
            id: 1,
            start: 0.0,
            vent: VentSettings::default(),
            lung: m.lung(),
        };
        let again = model(errors, 1.0);
        assert_eq!(m.breath(&seg, 5), again.breath(&seg, 5));
        assert_ne!(m.breath(&seg, 5).volume, m.breath(&seg, 6).volume);
        let mean: f64 = (0..400).map(|k| m.breath(&seg, k).volume).sum::<f64>() / 400.0;
        assert!((mean - 550.0).abs() < 3.0, "mean {mean}");
    }

    #[test]
    fn standby_has_no_breaths_and_running_does() {
        let m = model(VentilatorConfig::default(), 1000.0);
        assert_eq!(m.snapshot().phase, Phase::Standby);
        assert!(m.snapshot().last_completed.is_none());
        m.set_running(true);
        assert_ne!(m.snapshot().phase, Phase::Standby);
        std::thread::sleep(std::time::Duration::from_millis(10));
        let s = m.snapshot();
        assert!(s.last_completed.is_some(), "{s:?}");
        m.set_running(false);
        let s = m.snapshot();
        assert_eq!(s.phase, Phase::Standby);
        assert!(s.last_completed.is_some(), "the last breath stays readable");
    }
}
