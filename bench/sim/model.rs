//! The shared physical model: a ventilator in volume or pressure control ventilating a
//! test lung.
//!
//! Time is simulated: real time elapsed since the bench started, multiplied by the time
//! scale. While the ventilator runs, breaths follow one another at the set rate; a change of
//! any setting (ventilator or lung) starts a new *segment* at that instant, whose breaths are
//! numbered from 0. Every value of breath `k` of segment `s` is drawn from a random generator
//! seeded by (seed, s, k, stream), so the ventilator's and the analyzer's threads compute the
//! same breath without sharing anything but the current settings, and a rerun with the same
//! seed gives the same numbers.
//!
//! For breath k, with N(0, sd) a fresh draw per breath, pressures in hPa (= mbar) and the
//! settings' cmH2O converted to hPa:
//! - PEEP `PEEP + peep_error + N(0, peep_noise_sd)`; FiO2 `set + fio2_error + N(0,
//!   fio2_noise_sd)`, within 20.9..100 % (a blender of air and oxygen can give no other);
//!   rate `rate·(1+rate_error)` (no breath-to-breath jitter: breaths keep a fixed period).
//! - Volume control: delivered volume `V = Vset·(1+volume_error) + N(0, volume_noise_sd)` at a
//!   constant flow V/Ti; plateau `PEEP + V/C`; peak `PEEP + V/C + R·V/Ti`.
//! - Pressure control: the ventilator holds `Pinsp = PEEPset + ΔPset·(1+pressure_error) +
//!   pressure_offset + N(0, pressure_noise_sd)` during Ti (its target is absolute, so a PEEP
//!   error does not move it). Peak and plateau (the airway pressure at the end of
//!   inspiration) are both `Pinsp`. The lung is driven by `ΔP = Pinsp − PEEP`: the flow
//!   decays as `ΔP/R·e^(−t/τ)` with τ = R·C, and the lung takes `V = C·ΔP·(1 − e^(−Ti/τ))`.
//!
//! Units: C in mL/hPa and R in hPa/(L/s) make R·C a time in ms, hence the `/1000` in τ.

use super::config::VentilatorConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// hPa per cmH2O.
pub(crate) const HPA_PER_CMH2O: f64 = 0.980_665;

/// Oxygen in room air, %: the least an air–oxygen blender can deliver.
pub(crate) const ROOM_AIR_O2: f64 = 20.9;

/// How the ventilator controls the inspiration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Volume control: a set volume at constant flow.
    #[default]
    VolumeControl,
    /// Pressure control: a set pressure above PEEP held for the inspiratory time.
    PressureControl,
}

impl Mode {
    /// The word on the service port (`VC`, `PC`).
    pub(crate) fn wire(self) -> &'static str {
        match self {
            Mode::VolumeControl => "VC",
            Mode::PressureControl => "PC",
        }
    }

    /// The mode with this word.
    pub(crate) fn from_wire(word: &str) -> Option<Mode> {
        [Mode::VolumeControl, Mode::PressureControl]
            .into_iter()
            .find(|m| m.wire() == word)
    }
}

/// What the ventilator is set to, in its units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct VentSettings {
    /// Ventilation mode.
    pub(crate) mode: Mode,
    /// Tidal volume (volume control), mL.
    pub(crate) vt: f64,
    /// Inspiratory pressure above PEEP (pressure control), cmH2O.
    pub(crate) pinsp: f64,
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
            mode: Mode::VolumeControl,
            vt: 500.0,
            pinsp: 15.0,
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
    /// How the inspiration was controlled.
    pub(crate) mode: Mode,
    /// Pressure above PEEP held during inspiration in pressure control, hPa (0 in volume
    /// control, where the pressure follows the flow).
    pub(crate) drive: f64,
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
    /// Time constant of the lung, R·C, s.
    pub(crate) fn tau(&self) -> f64 {
        (self.lung.r * self.lung.c / 1000.0).max(1e-6)
    }

    /// Flow into the lung at `t` s after the breath started, L/s (negative while expiring).
    pub(crate) fn flow_at(&self, t: f64) -> f64 {
        let tau = self.tau();
        if t < self.ti {
            match self.mode {
                Mode::VolumeControl => self.volume / 1000.0 / self.ti,
                // ΔP/R, written as C·ΔP/τ so that a lung without resistance stays finite.
                Mode::PressureControl => {
                    self.lung.c * self.drive / 1000.0 / tau * (-t.max(0.0) / tau).exp()
                }
            }
        } else {
            -(self.volume / 1000.0 / tau) * (-(t - self.ti) / tau).exp()
        }
    }

    /// Volume inspired so far at `t` s into the inspiration, mL.
    pub(crate) fn volume_at(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.ti);
        match self.mode {
            Mode::VolumeControl => self.volume * t / self.ti,
            Mode::PressureControl => self.lung.c * self.drive * (1.0 - (-t / self.tau()).exp()),
        }
    }

    /// Airway pressure at `t` s after the breath started, hPa.
    pub(crate) fn pressure_at(&self, t: f64) -> f64 {
        if t >= self.ti {
            return self.peep;
        }
        match self.mode {
            Mode::VolumeControl => {
                self.peep
                    + self.lung.r * self.flow_at(t)
                    + self.volume_at(t) / self.lung.c.max(1e-6)
            }
            Mode::PressureControl => self.peak,
        }
    }

    /// The highest inspiratory flow of the breath, L/s.
    pub(crate) fn peak_inspiratory_flow(&self) -> f64 {
        self.flow_at(0.0)
    }

    /// Mean airway pressure over the whole breath, hPa.
    pub(crate) fn mean_pressure(&self) -> f64 {
        let during = match self.mode {
            Mode::VolumeControl => {
                self.peep
                    + self.lung.r * self.flow_at(0.0)
                    + self.volume / (2.0 * self.lung.c.max(1e-6))
            }
            Mode::PressureControl => self.peak,
        };
        (during * self.ti + self.peep * (self.period - self.ti)) / self.period
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
        let e = &self.errors;
        let period = self.period(&vent);
        // A breath cannot inspire for longer than it lasts.
        let ti = vent.ti.clamp(1e-3, 0.95 * period);
        let mut breath = Breath {
            segment: segment.id,
            index: k,
            start: segment.start + k as f64 * period,
            ti,
            period,
            mode: vent.mode,
            drive: 0.0,
            volume: 0.0,
            peep: 0.0,
            plateau: 0.0,
            peak: 0.0,
            fio2: 0.0,
            lung: segment.lung,
        };
        // The draws come in a fixed order, and a zero standard deviation draws nothing, so
        // adding a kind of noise never changes the values of the others.
        let mut rng = breath.rng(self.seed, 0);
        let volume_noise = normal(&mut rng, e.volume_noise_sd);
        let pressure_noise = normal(&mut rng, e.pressure_noise_sd);
        let peep_noise = normal(&mut rng, e.peep_noise_sd);
        let fio2_noise = normal(&mut rng, e.fio2_noise_sd);
        breath.peep = (vent.peep + e.peep_error + peep_noise).max(0.0) * HPA_PER_CMH2O;
        breath.fio2 = (vent.fio2 + e.fio2_error + fio2_noise).clamp(ROOM_AIR_O2, 100.0);
        let c = segment.lung.c.max(1e-6);
        match vent.mode {
            Mode::VolumeControl => {
                breath.volume = (vent.vt * (1.0 + e.volume_error) + volume_noise).max(0.0);
                breath.plateau = breath.peep + breath.volume / c;
                breath.peak = breath.plateau + segment.lung.r * breath.flow_at(0.0);
            }
            Mode::PressureControl => {
                // The inspiratory target is absolute (set PEEP + ΔP): the inspiratory valve
                // does not know the expiratory valve's error, so a PEEP error changes the
                // lung's driving pressure and not the peak.
                let above_set_peep =
                    vent.pinsp * (1.0 + e.pressure_error) + e.pressure_offset + pressure_noise;
                let peak = ((vent.peep + above_set_peep) * HPA_PER_CMH2O).max(breath.peep);
                breath.drive = peak - breath.peep;
                breath.volume = breath.volume_at(ti);
                breath.plateau = peak;
                breath.peak = peak;
            }
        }
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
        self.snapshot_at(self.now())
    }

    /// What the breathing looks like at simulated time `now` (a streaming instrument samples
    /// instants just past, under the current settings).
    pub(crate) fn snapshot_at(&self, now: f64) -> Snapshot {
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

    fn segment(vent: VentSettings, lung: LungSettings) -> Segment {
        Segment {
            id: 1,
            start: 0.0,
            vent,
            lung,
        }
    }

    fn pressure_control(pinsp: f64, peep: f64, rate: f64, ti: f64) -> VentSettings {
        VentSettings {
            mode: Mode::PressureControl,
            pinsp,
            peep,
            rate,
            ti,
            ..VentSettings::default()
        }
    }

    #[test]
    fn pressure_control_volume_follows_the_lung_time_constant() {
        let m = model(VentilatorConfig::default(), 1.0);
        let lung = LungSettings { c: 50.0, r: 5.0 };
        let b = m.breath(&segment(pressure_control(10.0, 5.0, 20.0, 1.0), lung), 0);
        // τ = R·C = 5 hPa/(L/s) · 50 mL/hPa = 0.25 s; ΔP = 10 cmH2O = 9.80665 hPa.
        assert!((b.tau() - 0.25).abs() < 1e-12);
        let expected = 50.0 * 9.806_65 * (1.0 - (-4.0f64).exp());
        assert!((b.volume - expected).abs() < 1e-9, "{}", b.volume);
        assert!((b.volume - 481.35).abs() < 0.01, "{}", b.volume);
        assert!((b.peak - 15.0 * HPA_PER_CMH2O).abs() < 1e-9);
        assert_eq!(b.plateau, b.peak);
        assert!((b.peep - 5.0 * HPA_PER_CMH2O).abs() < 1e-9);
        // The flow starts at ΔP/R, and integrates to the delivered volume.
        assert!((b.peak_inspiratory_flow() - 9.806_65 / 5.0).abs() < 1e-9);
        let steps = 100_000;
        let dt = b.ti / steps as f64;
        let integral: f64 = (0..steps)
            .map(|i| b.flow_at((i as f64 + 0.5) * dt) * dt * 1000.0)
            .sum();
        assert!(
            (integral - b.volume).abs() < 0.01,
            "{integral} vs {}",
            b.volume
        );
        // The ventilator holds PEEP + ΔP while inspiring, PEEP after.
        assert_eq!(b.pressure_at(0.5), b.peak);
        assert_eq!(b.pressure_at(1.5), b.peep);
        assert!(b.flow_at(1.5) < 0.0);
        // A slow lung (τ = 1 s) does not fill in Ti = 1 s.
        let slow = m.breath(
            &segment(
                pressure_control(10.0, 5.0, 20.0, 1.0),
                LungSettings { c: 20.0, r: 50.0 },
            ),
            0,
        );
        let expected = 20.0 * 9.806_65 * (1.0 - (-1.0f64).exp());
        assert!((slow.volume - expected).abs() < 1e-9, "{}", slow.volume);
    }

    #[test]
    fn iso_pressure_control_rows_deliver_about_their_expected_volume() {
        // (expected Vt mL, C, R, Ti s, ΔP hPa) of rows 1, 4, 7 of the pressure-control table:
        // its Vt column is the nominal volume C·ΔP; the lung takes 98 %, 92 % and 86 % of it
        // in Ti (e^(−Ti/τ) with τ = 0.25, 0.4 and 0.5 s). A slip of units would be far off.
        let m = model(VentilatorConfig::default(), 1.0);
        for (vt, c, r, ti, dp) in [
            (500.0, 50.0, 5.0, 1.0, 10.0),
            (500.0, 20.0, 20.0, 1.0, 25.0),
            (300.0, 10.0, 50.0, 1.0, 30.0),
        ] {
            let vent = pressure_control(dp / HPA_PER_CMH2O, 5.0, 20.0, ti);
            let b = m.breath(&segment(vent, LungSettings { c, r }), 0);
            assert!(
                (b.volume - vt).abs() / vt < 0.15,
                "row (C {c}, R {r}): {} mL",
                b.volume
            );
        }
    }

    #[test]
    fn pressure_and_peep_errors_shift_the_delivered_pressures() {
        let errors = VentilatorConfig {
            pressure_error: 0.1,
            pressure_offset: 1.0,
            peep_error: 0.5,
            volume_error: 0.5,
            ..Default::default()
        };
        let m = model(errors, 1.0);
        let lung = LungSettings { c: 20.0, r: 20.0 };
        let b = m.breath(&segment(pressure_control(10.0, 5.0, 20.0, 1.0), lung), 3);
        // Pinsp = 5 + 10·1.1 + 1 = 17 cmH2O; the PEEP is 5.5 cmH2O, so the lung is driven
        // by 11.5 cmH2O: the PEEP error does not move the peak.
        assert!((b.peak - 17.0 * HPA_PER_CMH2O).abs() < 1e-9);
        assert!((b.peep - 5.5 * HPA_PER_CMH2O).abs() < 1e-9);
        assert!((b.drive - 11.5 * HPA_PER_CMH2O).abs() < 1e-9);
        // The lung takes the driving pressure; the volume error is a volume-control one.
        let tau: f64 = 0.4;
        let expected = 20.0 * 11.5 * HPA_PER_CMH2O * (1.0 - (-1.0 / tau).exp());
        assert!((b.volume - expected).abs() < 1e-9);
        // In volume control the pressure error does nothing, the PEEP error still acts.
        let vc = m.breath(&segment(VentSettings::default(), lung), 3);
        assert_eq!(vc.volume, 750.0);
        assert!((vc.plateau - (5.5 * HPA_PER_CMH2O + 750.0 / 20.0)).abs() < 1e-9);
    }

    #[test]
    fn noise_is_drawn_per_breath_around_the_systematic_error() {
        let errors = VentilatorConfig {
            pressure_noise_sd: 0.5,
            peep_noise_sd: 0.2,
            fio2_noise_sd: 1.0,
            peep_error: -1.0,
            fio2_error: 2.0,
            ..Default::default()
        };
        let m = model(errors, 1.0);
        let mut vent = pressure_control(20.0, 10.0, 20.0, 1.0);
        vent.fio2 = 40.0;
        let seg = segment(vent, LungSettings { c: 50.0, r: 5.0 });
        let breaths: Vec<Breath> = (0..2000).map(|k| m.breath(&seg, k)).collect();
        let stats = |f: &dyn Fn(&Breath) -> f64| {
            let v: Vec<f64> = breaths.iter().map(f).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
            (mean, var.sqrt())
        };
        let (mean, sd) = stats(&|b| b.peak / HPA_PER_CMH2O);
        assert!(
            (mean - 30.0).abs() < 0.05 && (sd - 0.5).abs() < 0.05,
            "{mean} {sd}"
        );
        let (mean, sd) = stats(&|b| b.peep / HPA_PER_CMH2O);
        assert!(
            (mean - 9.0).abs() < 0.02 && (sd - 0.2).abs() < 0.02,
            "{mean} {sd}"
        );
        let (mean, sd) = stats(&|b| b.fio2);
        assert!(
            (mean - 42.0).abs() < 0.1 && (sd - 1.0).abs() < 0.1,
            "{mean} {sd}"
        );
        // The same breath is the same breath, whoever computes it.
        assert_eq!(m.breath(&seg, 7), breaths[7]);
    }

    #[test]
    fn rate_error_stretches_the_period_and_fio2_stays_physical() {
        let errors = VentilatorConfig {
            rate_error: 0.05,
            fio2_error: 5.0,
            ..Default::default()
        };
        let m = model(errors, 1.0);
        let mut vent = VentSettings {
            rate: 20.0,
            fio2: 100.0,
            ..VentSettings::default()
        };
        let lung = LungSettings { c: 50.0, r: 5.0 };
        let b = m.breath(&segment(vent, lung), 2);
        assert!((60.0 / b.period - 21.0).abs() < 1e-9);
        assert!((b.start - 2.0 * 60.0 / 21.0).abs() < 1e-9);
        // No blender delivers more than pure oxygen, nor less than air.
        assert_eq!(b.fio2, 100.0);
        let m = model(
            VentilatorConfig {
                fio2_error: -5.0,
                ..Default::default()
            },
            1.0,
        );
        vent.fio2 = 21.0;
        assert_eq!(m.breath(&segment(vent, lung), 0).fio2, ROOM_AIR_O2);
    }

    #[test]
    fn a_lung_without_resistance_fills_at_once_and_holds_the_peak() {
        // The case the property test below once shrank to: R = 0 makes τ vanish, and the
        // airway pressure must still be the peak exactly, with a finite flow.
        let m = model(
            VentilatorConfig {
                peep_error: 7.8,
                ..Default::default()
            },
            1.0,
        );
        let vent = pressure_control(27.8, 0.6, 1.0, 0.1);
        let b = m.breath(&segment(vent, LungSettings { c: 0.5, r: 0.0 }), 55);
        assert!((b.volume - 0.5 * b.drive).abs() < 1e-9);
        assert_eq!(b.pressure_at(0.05), b.peak);
        assert!(b.flow_at(0.0).is_finite() && b.flow_at(0.05) >= 0.0);
    }

    proptest::proptest! {
        #[test]
        fn pressure_control_breaths_are_physical(
            c in 0.5f64..200.0,
            r in 0.0f64..500.0,
            pinsp in 0.0f64..80.0,
            peep in 0.0f64..50.0,
            ti in 0.1f64..10.0,
            rate in 1.0f64..100.0,
            peep_error in -10.0f64..10.0,
            k in 0u64..1000,
        ) {
            let errors = VentilatorConfig {
                peep_error,
                pressure_noise_sd: 1.0,
                ..Default::default()
            };
            let m = model(errors, 1.0);
            let b = m.breath(&segment(pressure_control(pinsp, peep, rate, ti), LungSettings { c, r }), k);
            // The lung never takes more than C·ΔP, nor less than nothing.
            proptest::prop_assert!(b.drive >= 0.0);
            proptest::prop_assert!(b.volume >= 0.0 && b.volume <= c * b.drive + 1e-9);
            proptest::prop_assert_eq!(b.peak, b.plateau);
            proptest::prop_assert!((b.peak - b.peep - b.drive).abs() < 1e-9);
            proptest::prop_assert!(b.ti <= 0.95 * b.period + 1e-12);
            // Gas flows in while inspiring, the pressure is held, and the volume grows.
            let mut inspired = 0.0;
            for i in 0..=10 {
                let t = b.ti * f64::from(i) / 10.0;
                let v = b.volume_at(t);
                proptest::prop_assert!(v + 1e-9 >= inspired);
                inspired = v;
                if t < b.ti {
                    proptest::prop_assert!(b.flow_at(t) >= 0.0 && b.flow_at(t).is_finite());
                    proptest::prop_assert_eq!(b.pressure_at(t), b.peak);
                }
            }
            proptest::prop_assert!((inspired - b.volume).abs() < 1e-9);
            proptest::prop_assert!(b.flow_at(b.ti + 0.01) <= 0.0);
        }
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
