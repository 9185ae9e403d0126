//! The image model of the simulated flat-panel detector: a pure, seeded generator of 16-bit
//! frames (serving them over a link is not this module's job).
//!
//! For pixel (x, y) of a frame exposed to air kerma K (µGy):
//!
//! 1. the mean number of absorbed quanta is q̄ = (K + lag · K_prev) · `quanta_per_ugy` · g(x, y),
//!    K_prev the kerma of the previous frame and g the pixel's gain;
//! 2. the quanta counted are drawn from Poisson(q̄) (quantum noise);
//! 3. the ideal value P = q · `adu_per_quantum` is compressed by the response non-linearity,
//!    P · (1 − β · P / 65535) with β = `nonlinearity`;
//! 4. the pixel's offset o(x, y) and Gaussian electronic noise of σ = `electronic_noise` are
//!    added, and the value is rounded and clipped to 0..=65535 (saturation).
//!
//! So with uniform gain, no non-linearity and no saturation, a flat field has mean
//! o + K·`quanta_per_ugy`·`adu_per_quantum` and variance
//! `adu_per_quantum`² · K · `quanta_per_ugy` + `electronic_noise`².
//!
//! The gain map is g(x, y) = (1 + `gain_ramp` · (2x/(w − 1) − 1)) · (1 + `gain_sd` · z) and
//! the offset map o(x, y) = `offset` + `offset_sd` · z', z and z' standard normal, both
//! computed from a hash of (seed, x, y) rather than stored: a 3072 × 3072 model costs no
//! memory beyond its defect list. Defects ([`DefectConfig`]) are placed at seeded random
//! positions, listed by [`DetectorImageModel::defects`]: a dead pixel, row or column has no
//! signal (offset and electronic noise only), a hot pixel adds `hot_level` to every frame,
//! a noisy pixel has ten times the electronic noise. Rows are generated in parallel, each
//! from its own seeded generator, so a frame depends on the seed and the frame number only.

use super::SimError;
use crate::imaging::{DefectKind, Frame};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Poisson};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The largest frame side the model accepts.
pub const MAX_SIDE: usize = 8192;

/// How many defects of each kind the model injects, and where its dead lines are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefectConfig {
    /// Isolated dead pixels, at random positions.
    pub dead_pixels: usize,
    /// Isolated hot pixels, at random positions.
    pub hot_pixels: usize,
    /// Isolated noisy pixels, at random positions.
    pub noisy_pixels: usize,
    /// Dead columns, by index.
    pub dead_columns: Vec<usize>,
    /// Dead rows, by index.
    pub dead_rows: Vec<usize>,
    /// What a hot pixel adds to every frame, pixel value.
    pub hot_level: f64,
}

impl Default for DefectConfig {
    /// No defects; a hot pixel would add 8000.
    fn default() -> DefectConfig {
        DefectConfig {
            dead_pixels: 0,
            hot_pixels: 0,
            noisy_pixels: 0,
            dead_columns: Vec::new(),
            dead_rows: Vec::new(),
            hot_level: 8000.0,
        }
    }
}

/// The parameters of the image model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorImageConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// Frame width, pixels.
    pub width: usize,
    /// Frame height, pixels.
    pub height: usize,
    /// Mean dark offset, pixel value.
    pub offset: f64,
    /// Pixel-to-pixel standard deviation of the offset, pixel value.
    pub offset_sd: f64,
    /// Pixel-to-pixel relative standard deviation of the gain.
    pub gain_sd: f64,
    /// Relative gain ramp from left (−) to right (+) edge.
    pub gain_ramp: f64,
    /// Mean quanta absorbed per pixel per µGy.
    pub quanta_per_ugy: f64,
    /// Pixel value per absorbed quantum.
    pub adu_per_quantum: f64,
    /// Standard deviation of the electronic noise, pixel value.
    pub electronic_noise: f64,
    /// Response non-linearity β (0 is linear).
    pub nonlinearity: f64,
    /// Fraction of the previous frame's kerma that reappears in the next frame.
    pub lag: f64,
    /// The defects.
    pub defects: DefectConfig,
}

impl Default for DetectorImageConfig {
    /// A 512 × 512 detector, offset 1000 ± 20, gain ± 2 %, 1000 quanta/µGy, 1 per quantum,
    /// electronic noise 5, linear, no lag, no defects.
    fn default() -> DetectorImageConfig {
        DetectorImageConfig {
            seed: 1,
            width: 512,
            height: 512,
            offset: 1000.0,
            offset_sd: 20.0,
            gain_sd: 0.02,
            gain_ramp: 0.0,
            quanta_per_ugy: 1000.0,
            adu_per_quantum: 1.0,
            electronic_noise: 5.0,
            nonlinearity: 0.0,
            lag: 0.0,
            defects: DefectConfig::default(),
        }
    }
}

/// One injected defect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InjectedDefect {
    /// The row.
    pub y: usize,
    /// The column.
    pub x: usize,
    /// Its kind.
    pub kind: InjectedKind,
}

/// The kind of an injected pixel defect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectedKind {
    /// No signal.
    Dead,
    /// A high value in every frame.
    Hot,
    /// Ten times the electronic noise.
    Noisy,
}

impl InjectedKind {
    /// The defect kind an analysis reports for it.
    pub fn defect_kind(self) -> DefectKind {
        match self {
            InjectedKind::Dead => DefectKind::Dead,
            InjectedKind::Hot => DefectKind::Hot,
            InjectedKind::Noisy => DefectKind::Noisy,
        }
    }
}

/// The seeded image model of a flat-panel detector.
#[derive(Clone, Debug)]
pub struct DetectorImageModel {
    config: DetectorImageConfig,
    defects: Vec<InjectedDefect>,
    by_row: BTreeMap<usize, Vec<(usize, InjectedKind)>>,
    dead_columns: BTreeSet<usize>,
    dead_rows: BTreeSet<usize>,
    frame_number: u64,
    previous_kerma: f64,
}

fn bad(field: &'static str, reason: String) -> SimError {
    SimError::BadConfig { field, reason }
}

impl DetectorImageModel {
    /// A model from its parameters, with its defects placed.
    pub fn new(config: DetectorImageConfig) -> Result<DetectorImageModel, SimError> {
        let c = &config;
        for (field, side) in [("detector.width", c.width), ("detector.height", c.height)] {
            if !(4..=MAX_SIDE).contains(&side) {
                return Err(bad(
                    field,
                    format!("{side} is not in 4..={MAX_SIDE} pixels"),
                ));
            }
        }
        for (field, v, ok) in [
            (
                "detector.offset",
                c.offset,
                (0.0..=65535.0).contains(&c.offset),
            ),
            ("detector.offset_sd", c.offset_sd, c.offset_sd >= 0.0),
            (
                "detector.gain_sd",
                c.gain_sd,
                (0.0..0.5).contains(&c.gain_sd),
            ),
            (
                "detector.gain_ramp",
                c.gain_ramp,
                (0.0..1.0).contains(&c.gain_ramp.abs()),
            ),
            (
                "detector.quanta_per_ugy",
                c.quanta_per_ugy,
                c.quanta_per_ugy >= 0.0,
            ),
            (
                "detector.adu_per_quantum",
                c.adu_per_quantum,
                c.adu_per_quantum >= 0.0,
            ),
            (
                "detector.electronic_noise",
                c.electronic_noise,
                c.electronic_noise >= 0.0,
            ),
            (
                "detector.nonlinearity",
                c.nonlinearity,
                (0.0..=1.0).contains(&c.nonlinearity.abs()),
            ),
            ("detector.lag", c.lag, (0.0..1.0).contains(&c.lag)),
            (
                "detector.defects.hot_level",
                c.defects.hot_level,
                c.defects.hot_level >= 0.0,
            ),
        ] {
            if !(v.is_finite() && ok) {
                return Err(bad(field, format!("{v} is out of range")));
            }
        }
        let d = &c.defects;
        if let Some(&x) = d.dead_columns.iter().find(|&&x| x >= c.width) {
            return Err(bad(
                "detector.defects.dead_columns",
                format!("column {x} is outside the frame"),
            ));
        }
        if let Some(&y) = d.dead_rows.iter().find(|&&y| y >= c.height) {
            return Err(bad(
                "detector.defects.dead_rows",
                format!("row {y} is outside the frame"),
            ));
        }
        let dead_columns: BTreeSet<usize> = d.dead_columns.iter().copied().collect();
        let dead_rows: BTreeSet<usize> = d.dead_rows.iter().copied().collect();
        let wanted = d.dead_pixels + d.hot_pixels + d.noisy_pixels;
        let free_area = (c.width - dead_columns.len()) * (c.height - dead_rows.len());
        // Sparse enough that random placement with a free neighbourhood ends quickly.
        if wanted.saturating_mul(16) > free_area {
            return Err(bad(
                "detector.defects",
                format!("{wanted} isolated defects do not fit sparsely in the frame"),
            ));
        }
        let mut rng = StdRng::seed_from_u64(mix(&[c.seed, 0xDEFEC7]));
        let mut taken = BTreeSet::new();
        let mut defects = Vec::with_capacity(wanted);
        for (kind, count) in [
            (InjectedKind::Dead, d.dead_pixels),
            (InjectedKind::Hot, d.hot_pixels),
            (InjectedKind::Noisy, d.noisy_pixels),
        ] {
            let mut placed = 0;
            let mut attempts = 0usize;
            while placed < count {
                attempts += 1;
                if attempts > 1000 + 100 * count {
                    return Err(bad(
                        "detector.defects",
                        format!("cannot place {count} isolated {kind:?} pixels"),
                    ));
                }
                use rand::RngExt;
                let x = rng.random_range(0..c.width);
                let y = rng.random_range(0..c.height);
                // Isolated: not on a dead line, and no other defect among its 8 neighbours.
                let crowded = dead_columns.contains(&x)
                    || dead_rows.contains(&y)
                    || (x.saturating_sub(1)..=x + 1).any(|xx| {
                        (y.saturating_sub(1)..=y + 1).any(|yy| taken.contains(&(xx, yy)))
                    });
                if !crowded {
                    taken.insert((x, y));
                    defects.push(InjectedDefect { y, x, kind });
                    placed += 1;
                }
            }
        }
        defects.sort();
        let mut by_row: BTreeMap<usize, Vec<(usize, InjectedKind)>> = BTreeMap::new();
        for d in &defects {
            by_row.entry(d.y).or_default().push((d.x, d.kind));
        }
        Ok(DetectorImageModel {
            config,
            defects,
            by_row,
            dead_columns,
            dead_rows,
            frame_number: 0,
            previous_kerma: 0.0,
        })
    }

    /// The parameters.
    pub fn config(&self) -> &DetectorImageConfig {
        &self.config
    }

    /// The isolated defects injected, row by row.
    pub fn defects(&self) -> &[InjectedDefect] {
        &self.defects
    }

    /// The gain of pixel (x, y).
    pub fn gain(&self, x: usize, y: usize) -> f64 {
        let c = &self.config;
        let ramp = 1.0 + c.gain_ramp * (2.0 * x as f64 / (c.width - 1) as f64 - 1.0);
        (ramp * (1.0 + c.gain_sd * hashed_normal(c.seed, 1, x, y))).max(0.0)
    }

    /// The dark offset of pixel (x, y).
    pub fn offset(&self, x: usize, y: usize) -> f64 {
        let c = &self.config;
        c.offset + c.offset_sd * hashed_normal(c.seed, 2, x, y)
    }

    /// The number of frames acquired so far.
    pub fn frames_acquired(&self) -> u64 {
        self.frame_number
    }

    /// Acquires the next frame, exposed to `air_kerma_ugy` µGy (0 for a dark frame;
    /// negative or non-finite kerma is taken as 0).
    pub fn acquire(&mut self, air_kerma_ugy: f64) -> Frame<u16> {
        let kerma = if air_kerma_ugy.is_finite() {
            air_kerma_ugy.max(0.0)
        } else {
            0.0
        };
        let c = &self.config;
        let effective = kerma + c.lag * self.previous_kerma;
        let (w, h) = (c.width, c.height);
        let frame_seed = mix(&[c.seed, 3, self.frame_number]);
        let mut pixels = vec![0u16; w * h];
        pixels.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            self.fill_row(y, row, effective, frame_seed);
        });
        self.frame_number += 1;
        self.previous_kerma = kerma;
        // The size was validated in `new`, and the buffer is exactly width × height.
        Frame::from_raw(w, h, pixels)
    }

    fn fill_row(&self, y: usize, row: &mut [u16], kerma: f64, frame_seed: u64) {
        let c = &self.config;
        let mut rng = StdRng::seed_from_u64(mix(&[frame_seed, y as u64]));
        let electronic = Normal::new(0.0, c.electronic_noise).ok();
        let noisy = Normal::new(0.0, 10.0 * c.electronic_noise).ok();
        let row_dead = self.dead_rows.contains(&y);
        let specials = self.by_row.get(&y);
        for (x, out) in row.iter_mut().enumerate() {
            let kind = specials.and_then(|s| s.iter().find(|(sx, _)| *sx == x).map(|s| s.1));
            let dead =
                row_dead || kind == Some(InjectedKind::Dead) || self.dead_columns.contains(&x);
            let mut value = self.offset(x, y);
            if !dead {
                let mean_quanta = kerma * c.quanta_per_ugy * self.gain(x, y);
                let quanta = if mean_quanta > 0.0 {
                    Poisson::new(mean_quanta).map_or(mean_quanta, |p| p.sample(&mut rng))
                } else {
                    0.0
                };
                let ideal = quanta * c.adu_per_quantum;
                value += ideal * (1.0 - c.nonlinearity * ideal / 65535.0);
            }
            if kind == Some(InjectedKind::Hot) {
                value += c.defects.hot_level;
            }
            let noise = if kind == Some(InjectedKind::Noisy) {
                &noisy
            } else {
                &electronic
            };
            if let Some(n) = noise {
                value += n.sample(&mut rng);
            }
            *out = value.round().clamp(0.0, 65535.0) as u16;
        }
    }

    /// The expected mean value of pixel (x, y) at `air_kerma_ugy` for a defect-free pixel,
    /// without lag and before saturation.
    pub fn expected(&self, x: usize, y: usize, air_kerma_ugy: f64) -> f64 {
        let c = &self.config;
        let ideal = air_kerma_ugy * c.quanta_per_ugy * self.gain(x, y) * c.adu_per_quantum;
        self.offset(x, y) + ideal * (1.0 - c.nonlinearity * ideal / 65535.0)
    }
}

/// A standard normal value from a hash of (seed, stream, x, y) (Box–Muller).
fn hashed_normal(seed: u64, stream: u64, x: usize, y: usize) -> f64 {
    let h = mix(&[seed, stream, ((y as u64) << 32) | x as u64]);
    let h2 = mix(&[h]);
    let u1 = ((h >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (h2 >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// SplitMix64 over a list of words.
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
    use crate::imaging::{Roi, roi_stats};

    fn plain(width: usize, height: usize) -> DetectorImageConfig {
        DetectorImageConfig {
            width,
            height,
            offset_sd: 0.0,
            gain_sd: 0.0,
            ..DetectorImageConfig::default()
        }
    }

    #[test]
    fn same_seed_same_frames() {
        let config = DetectorImageConfig {
            width: 64,
            height: 48,
            ..Default::default()
        };
        let mut a = DetectorImageModel::new(config.clone()).unwrap();
        let mut b = DetectorImageModel::new(config).unwrap();
        assert_eq!(a.acquire(2.0), b.acquire(2.0));
        let (f1, f2) = (a.acquire(2.0), b.acquire(2.0));
        assert_eq!(f1, f2);
        assert_ne!(f1, a.acquire(2.0));
    }

    #[test]
    fn flat_field_has_the_poisson_plus_gaussian_variance() {
        let mut m = DetectorImageModel::new(plain(128, 128)).unwrap();
        let f = m.acquire(4.0);
        let s = roi_stats(&f, &f.full_roi()).unwrap();
        // Mean 1000 + 4000; variance 4000 + 25 (+ 1/12 of rounding).
        assert!((s.mean - 5000.0).abs() < 2.0, "{}", s.mean);
        let var = s.std_dev * s.std_dev;
        let expected = 4000.0 + 25.0 + 1.0 / 12.0;
        assert!((var / expected - 1.0).abs() < 0.05, "{var} vs {expected}");
        let dark = m.acquire(0.0);
        let d = roi_stats(&dark, &dark.full_roi()).unwrap();
        assert!(
            (d.mean - 1000.0).abs() < 0.2 && (d.std_dev - 5.0).abs() < 0.2,
            "{d:?}"
        );
    }

    #[test]
    fn saturates_lags_and_bends() {
        let mut m = DetectorImageModel::new(DetectorImageConfig {
            lag: 0.02,
            ..plain(32, 32)
        })
        .unwrap();
        let sat = m.acquire(1000.0);
        assert!(sat.pixels().iter().all(|&p| p == 65535));
        let _ = m.acquire(10.0);
        let after = m.acquire(0.0);
        let s = roi_stats(&after, &Roi::new(0, 0, 32, 32)).unwrap();
        assert!((s.mean - 1200.0).abs() < 2.0, "{}", s.mean);
        let bent = DetectorImageModel::new(DetectorImageConfig {
            nonlinearity: 0.1,
            ..plain(8, 8)
        })
        .unwrap();
        let e = bent.expected(0, 0, 30.0) - 1000.0;
        assert!((e - 30_000.0 * (1.0 - 0.1 * 30_000.0 / 65535.0)).abs() < 1e-9);
    }

    #[test]
    fn defects_are_placed_as_asked() {
        let config = DetectorImageConfig {
            width: 100,
            height: 80,
            defects: DefectConfig {
                dead_pixels: 3,
                hot_pixels: 4,
                noisy_pixels: 2,
                dead_columns: vec![17],
                dead_rows: vec![60],
                hot_level: 5000.0,
            },
            ..plain(100, 80)
        };
        let mut m = DetectorImageModel::new(config).unwrap();
        assert_eq!(m.defects().len(), 9);
        let f = m.acquire(5.0);
        for d in m.defects() {
            let v = f64::from(f.get(d.x, d.y).unwrap());
            match d.kind {
                InjectedKind::Dead => assert!(v < 1100.0, "{d:?} {v}"),
                InjectedKind::Hot => assert!(v > 10_000.0, "{d:?} {v}"),
                InjectedKind::Noisy => {}
            }
        }
        assert!((0..80).all(|y| f.get(17, y).unwrap() < 1100));
        assert!((0..100).all(|x| f.get(x, 60).unwrap() < 1100));
        let bad = DetectorImageConfig {
            defects: DefectConfig {
                dead_columns: vec![100],
                ..DefectConfig::default()
            },
            ..plain(100, 80)
        };
        assert!(DetectorImageModel::new(bad).is_err());
        assert!(DetectorImageModel::new(plain(2, 80)).is_err());
    }
}
