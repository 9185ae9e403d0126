//! The noise power spectrum (NPS) of flat fields, accumulated ROI by ROI over a series of
//! frames (IEC 62220-1-1 method).
//!
//! For each frame, square ROIs of `roi_size` pixels (256) stepped by `step` pixels (128)
//! tile the analysis region (the central 125 mm × 125 mm). Each ROI has a 2-D polynomial
//! trend removed by least squares (planar or quadratic, [`Detrend`]) and its 2-D FFT taken;
//! the squared moduli are summed over every ROI of every frame, and
//!
//! NPS(u, v) = Δx·Δy / (M·N²) · Σ |FFT2(ROI)|²  (M ROIs of N × N pixels, pitch Δx × Δy in mm)
//!
//! in pixel value² · mm², at frequencies u = k / (N·Δx) cycles/mm. The normalised NPS is
//! NNPS = NPS / S², S the mean signal of the ROIs less a known offset (zero for
//! offset-corrected, linearised data). The 1-D results are the radial average (bins of one
//! frequency step) and the horizontal and vertical cuts averaged over the `axis_lines` rows
//! or columns either side of the axis, the axis itself excluded (it carries the row and
//! column correlated noise that IEC 62220-1-1 keeps out of the 1-D spectra).
//!
//! Nothing of a frame is kept after [`NpsAccumulator::add_frame`]: only the N × N sum of
//! squared moduli. The FFT is planned once, in [`NpsAccumulator::new`], and ROIs are
//! transformed in parallel, one working buffer per thread.

use super::error::ImagingError;
use super::frame::{Frame, Pixel, PixelPitch, Roi};
use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The polynomial trend removed from each ROI before its FFT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detrend {
    /// a + b·x + c·y.
    Planar,
    /// a + b·x + c·y + d·x² + e·x·y + f·y².
    Quadratic,
}

impl Detrend {
    fn terms(self) -> usize {
        match self {
            Detrend::Planar => 3,
            Detrend::Quadratic => 6,
        }
    }
}

/// The part of the frame the ROIs tile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NpsRegion {
    /// A central region of this size in mm (clamped to the frame): 125 × 125 per IEC.
    CentralMm {
        /// The width, mm.
        width_mm: f64,
        /// The height, mm.
        height_mm: f64,
    },
    /// An explicit region.
    Pixels(Roi),
    /// The whole frame.
    Full,
}

/// How the NPS is measured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NpsConfig {
    /// The detector's pixel pitch.
    pub pitch: PixelPitch,
    /// The side of each ROI, pixels (256 per IEC; even, at least 8).
    pub roi_size: usize,
    /// The step between ROIs, pixels (128 per IEC: half-overlapping ROIs).
    pub step: usize,
    /// The region the ROIs tile.
    pub region: NpsRegion,
    /// The trend removed from each ROI.
    pub detrend: Detrend,
    /// The value subtracted from the mean signal before normalising (the offset of data
    /// that are not offset-corrected; 0 otherwise).
    pub signal_offset: f64,
    /// The rows (or columns) either side of an axis averaged into its 1-D cut (7 per IEC).
    pub axis_lines: usize,
}

impl NpsConfig {
    /// The IEC 62220-1-1 geometry: 256-pixel ROIs stepped by 128 over the central
    /// 125 mm × 125 mm, planar detrending, cuts over 7 lines either side of the axes.
    pub fn iec(pitch: PixelPitch) -> NpsConfig {
        NpsConfig {
            pitch,
            roi_size: 256,
            step: 128,
            region: NpsRegion::CentralMm {
                width_mm: 125.0,
                height_mm: 125.0,
            },
            detrend: Detrend::Planar,
            signal_offset: 0.0,
            axis_lines: 7,
        }
    }
}

/// One point of a 1-D spectrum.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NpsPoint {
    /// The spatial frequency, cycles/mm.
    pub frequency: f64,
    /// The NPS, pixel value² · mm².
    pub nps: f64,
    /// The normalised NPS, mm²; `None` when the mean signal less the offset is not positive.
    pub nnps: Option<f64>,
}

/// A noise power spectrum, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NpsResult {
    /// The geometry and method.
    pub config: NpsConfig,
    /// The region the ROIs tiled, pixels.
    pub region: Roi,
    /// The number of frames.
    pub frames: usize,
    /// The number of ROIs over every frame (M).
    pub rois: usize,
    /// The mean signal of the ROIs (before detrending).
    pub mean_signal: f64,
    /// The variance recovered by integrating the 2-D NPS (the mean detrended ROI
    /// variance), pixel value².
    pub variance: f64,
    /// The radial average, from 0 to the Nyquist frequency.
    pub radial: Vec<NpsPoint>,
    /// The cut along the horizontal frequency axis (u), from 0 to Nyquist.
    pub horizontal: Vec<NpsPoint>,
    /// The cut along the vertical frequency axis (v), from 0 to Nyquist.
    pub vertical: Vec<NpsPoint>,
}

/// The least-squares fit of a 2-D polynomial over an N × N ROI, prepared once.
struct Detrender {
    terms: usize,
    /// Normalised coordinate of each column (and row): (i − (N − 1)/2) / (N/2).
    coord: Vec<f64>,
    /// The inverse of the Gram matrix of the basis, terms × terms.
    inverse: Vec<f64>,
}

impl Detrender {
    fn new(n: usize, detrend: Detrend) -> Detrender {
        let terms = detrend.terms();
        let half = n as f64 / 2.0;
        let centre = (n as f64 - 1.0) / 2.0;
        let coord: Vec<f64> = (0..n).map(|i| (i as f64 - centre) / half).collect();
        let mut gram = vec![0.0; terms * terms];
        let mut phi = [0.0; 6];
        for &v in &coord {
            for &u in &coord {
                basis(u, v, &mut phi);
                for i in 0..terms {
                    for j in 0..terms {
                        gram[i * terms + j] += phi[i] * phi[j];
                    }
                }
            }
        }
        Detrender {
            terms,
            inverse: invert(&gram, terms),
            coord,
        }
    }

    /// Removes the fitted trend from `roi` (N × N) and returns the ROI's mean before
    /// removal.
    fn apply(&self, roi: &mut [f64]) -> f64 {
        let n = self.coord.len();
        let mut p = [0.0; 6];
        for (row, &v) in roi.chunks_exact(n).zip(&self.coord) {
            let (mut r0, mut r1, mut r2) = (0.0, 0.0, 0.0);
            for (&z, &u) in row.iter().zip(&self.coord) {
                r0 += z;
                r1 += z * u;
                r2 += z * u * u;
            }
            p[0] += r0;
            p[1] += r1;
            p[2] += r0 * v;
            p[3] += r2;
            p[4] += r1 * v;
            p[5] += r0 * v * v;
        }
        let t = self.terms;
        let mut c = [0.0; 6];
        for (i, ci) in c.iter_mut().enumerate().take(t) {
            *ci = (0..t).map(|j| self.inverse[i * t + j] * p[j]).sum();
        }
        for (row, &v) in roi.chunks_exact_mut(n).zip(&self.coord) {
            let a = c[0] + c[2] * v + c[5] * v * v;
            let b = c[1] + c[4] * v;
            for (z, &u) in row.iter_mut().zip(&self.coord) {
                *z -= a + b * u + c[3] * u * u;
            }
        }
        p[0] / (n * n) as f64
    }
}

fn basis(u: f64, v: f64, phi: &mut [f64; 6]) {
    *phi = [1.0, u, v, u * u, u * v, v * v];
}

/// The inverse of a small symmetric positive-definite matrix by Gauss–Jordan elimination
/// with partial pivoting.
fn invert(m: &[f64], n: usize) -> Vec<f64> {
    let mut a = m.to_vec();
    let mut inv: Vec<f64> = (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        for k in 0..n {
            a.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let d = a[col * n + col];
        for k in 0..n {
            a[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for row in (0..n).filter(|&r| r != col) {
            let f = a[row * n + col];
            for k in 0..n {
                a[row * n + k] -= f * a[col * n + k];
                inv[row * n + k] -= f * inv[col * n + k];
            }
        }
    }
    inv
}

/// Per-thread working memory and partial sums.
struct Work {
    first: Vec<f64>,
    second: Vec<f64>,
    buf: Vec<Complex<f64>>,
    tmp: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    power: Vec<f64>,
    sum_means: f64,
    rois: usize,
}

/// Accumulates the NPS over a series of frames, ROI by ROI.
pub struct NpsAccumulator {
    config: NpsConfig,
    width: usize,
    height: usize,
    region: Roi,
    origins: Vec<(usize, usize)>,
    fft: Arc<dyn Fft<f64>>,
    detrender: Detrender,
    /// Σ|FFT2|² of the packed ROI pairs, transposed: index kx·N + ky. The power of the
    /// ROIs themselves is its symmetric part, see [`NpsAccumulator::power`].
    power: Vec<f64>,
    sum_means: f64,
    rois: usize,
    frames: usize,
}

impl NpsAccumulator {
    /// Prepares the accumulation for frames of `width × height` pixels: places the ROIs,
    /// plans the FFT and the detrending fit.
    pub fn new(
        config: NpsConfig,
        width: usize,
        height: usize,
    ) -> Result<NpsAccumulator, ImagingError> {
        config.pitch.check()?;
        let n = config.roi_size;
        if n < 8 || !n.is_multiple_of(2) {
            return Err(ImagingError::invalid(
                "NPS ROI size",
                format!("{n} is not an even number of at least 8 pixels"),
            ));
        }
        if config.step == 0 {
            return Err(ImagingError::invalid("NPS ROI step", "it is zero"));
        }
        let region = match config.region {
            NpsRegion::Full => Roi::new(0, 0, width, height),
            NpsRegion::Pixels(roi) => roi,
            NpsRegion::CentralMm {
                width_mm,
                height_mm,
            } => {
                if !(width_mm > 0.0 && height_mm > 0.0) {
                    return Err(ImagingError::invalid(
                        "NPS region",
                        format!("{width_mm} mm × {height_mm} mm is not positive"),
                    ));
                }
                Roi::central(
                    width,
                    height,
                    config.pitch.pixels_x(width_mm),
                    config.pitch.pixels_y(height_mm),
                )
            }
        };
        let inside = |start: usize, span: usize, limit: usize| {
            start.checked_add(span).is_some_and(|end| end <= limit)
        };
        if !inside(region.x, region.width, width) || !inside(region.y, region.height, height) {
            return Err(ImagingError::RoiOutside {
                roi: region,
                width,
                height,
            });
        }
        let starts = |origin: usize, span: usize| -> Vec<usize> {
            if span < n {
                return Vec::new();
            }
            (0..=(span - n) / config.step)
                .map(|k| origin + k * config.step)
                .collect()
        };
        let xs = starts(region.x, region.width);
        let ys = starts(region.y, region.height);
        let origins: Vec<(usize, usize)> = ys
            .iter()
            .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
            .collect();
        if origins.is_empty() {
            return Err(ImagingError::invalid(
                "NPS region",
                format!("no {n}-pixel ROI fits in the region {region}"),
            ));
        }
        let fft = FftPlanner::new().plan_fft_forward(n);
        Ok(NpsAccumulator {
            config,
            width,
            height,
            region,
            origins,
            fft,
            detrender: Detrender::new(n, config.detrend),
            power: vec![0.0; n * n],
            sum_means: 0.0,
            rois: 0,
            frames: 0,
        })
    }

    /// The number of ROIs taken from each frame.
    pub fn rois_per_frame(&self) -> usize {
        self.origins.len()
    }

    /// Adds every ROI of one flat frame.
    pub fn add_frame<T: Pixel>(&mut self, frame: &Frame<T>) -> Result<(), ImagingError> {
        if frame.width() != self.width || frame.height() != self.height {
            return Err(ImagingError::SizeMismatch {
                what: "the NPS",
                expected_width: self.width,
                expected_height: self.height,
                width: frame.width(),
                height: frame.height(),
            });
        }
        let n = self.config.roi_size;
        let threads = rayon::current_num_threads().max(1);
        // Whole pairs of ROIs per thread: two real ROIs share one complex FFT.
        let chunk = self.origins.len().div_ceil(2).div_ceil(threads) * 2;
        let (fft, detrender) = (&self.fft, &self.detrender);
        let parts: Vec<Work> = self
            .origins
            .par_chunks(chunk)
            .map(|origins| {
                let mut work = Work {
                    first: vec![0.0; n * n],
                    second: vec![0.0; n * n],
                    buf: vec![Complex::default(); n * n],
                    tmp: vec![Complex::default(); n * n],
                    scratch: vec![Complex::default(); fft.get_inplace_scratch_len()],
                    power: vec![0.0; n * n],
                    sum_means: 0.0,
                    rois: 0,
                };
                for pair in origins.chunks(2) {
                    let roi = |&(x, y): &(usize, usize)| Roi::new(x, y, n, n);
                    let second = pair.get(1).map(roi);
                    roi_power(
                        frame,
                        roi(&pair[0]),
                        second,
                        fft.as_ref(),
                        detrender,
                        &mut work,
                    );
                }
                work
            })
            .collect();
        for part in parts {
            for (a, b) in self.power.iter_mut().zip(&part.power) {
                *a += b;
            }
            self.sum_means += part.sum_means;
            self.rois += part.rois;
        }
        self.frames += 1;
        Ok(())
    }

    /// Σ|FFT2(ROI)|² over every ROI at (ky, kx), indices taken modulo N.
    ///
    /// Two real ROIs a and b are transformed together as z = a + i·b. Then
    /// A(k) = (Z(k) + Z*(−k)) / 2 and B(k) = (Z(k) − Z*(−k)) / 2i, so that
    /// |A(k)|² + |B(k)|² = (|Z(k)|² + |Z(−k)|²) / 2: the sum over ROIs is the symmetric part
    /// of the accumulated |Z|², and this holds for a lone ROI (b = 0) as well.
    fn power(&self, ky: i64, kx: i64) -> f64 {
        let n = self.config.roi_size as i64;
        let at = |ky: i64, kx: i64| self.power[(kx.rem_euclid(n) * n + ky.rem_euclid(n)) as usize];
        0.5 * (at(ky, kx) + at(-ky, -kx))
    }

    /// The 2-D NPS so far, N × N with zero frequency at (N/2, N/2) (row = v, column = u),
    /// pixel value² · mm².
    pub fn spectrum_2d(&self) -> Result<Frame<f64>, ImagingError> {
        let n = self.config.roi_size;
        let scale = self.scale()?;
        Frame::new(
            n,
            n,
            (0..n * n)
                .map(|i| {
                    let (row, col) = (i / n, i % n);
                    let half = (n / 2) as i64;
                    self.power(row as i64 - half, col as i64 - half) * scale
                })
                .collect(),
        )
    }

    fn scale(&self) -> Result<f64, ImagingError> {
        if self.rois == 0 {
            return Err(ImagingError::TooFew {
                what: "a noise power spectrum (frames)",
                needed: 1,
                got: 0,
            });
        }
        let n = self.config.roi_size as f64;
        Ok(self.config.pitch.x_mm * self.config.pitch.y_mm / (self.rois as f64 * n * n))
    }

    /// The NPS of the frames added so far, with its 1-D averages.
    pub fn result(&self) -> Result<NpsResult, ImagingError> {
        let scale = self.scale()?;
        let n = self.config.roi_size;
        let (dx, dy) = (self.config.pitch.x_mm, self.config.pitch.y_mm);
        let (du, dv) = (1.0 / (n as f64 * dx), 1.0 / (n as f64 * dy));
        let nps = |ky: i64, kx: i64| self.power(ky, kx) * scale;
        let mean_signal = self.sum_means / self.rois as f64;
        let norm = mean_signal - self.config.signal_offset;
        let point = |frequency: f64, value: f64| NpsPoint {
            frequency,
            nps: value,
            nnps: (norm > 0.0).then(|| value / (norm * norm)),
        };
        let half = (n / 2) as i64;
        let lines = (self.config.axis_lines as i64).clamp(1, half - 1);
        let cut = |along_u: bool| -> Vec<NpsPoint> {
            (0..=half)
                .map(|k| {
                    let mut sum = 0.0;
                    let mut count = 0.0;
                    for off in (1..=lines).flat_map(|l| [l, -l]) {
                        for kk in [k, -k] {
                            sum += if along_u { nps(off, kk) } else { nps(kk, off) };
                            count += 1.0;
                        }
                    }
                    let f = k as f64 * if along_u { du } else { dv };
                    point(f, sum / count)
                })
                .collect()
        };
        let step = du.min(dv);
        let bins = half as usize + 1;
        let (mut sums, mut counts) = (vec![0.0; bins], vec![0usize; bins]);
        let mut total = 0.0;
        for ky in -half..half {
            for kx in -half..half {
                let v = nps(ky, kx);
                total += v;
                let f = ((kx as f64 * du).powi(2) + (ky as f64 * dv).powi(2)).sqrt();
                let bin = (f / step).round() as usize;
                if bin < bins {
                    sums[bin] += v;
                    counts[bin] += 1;
                }
            }
        }
        let radial = (0..bins)
            .filter(|&b| counts[b] > 0)
            .map(|b| point(b as f64 * step, sums[b] / counts[b] as f64))
            .collect();
        Ok(NpsResult {
            config: self.config,
            region: self.region,
            frames: self.frames,
            rois: self.rois,
            mean_signal,
            variance: total * du * dv,
            radial,
            horizontal: cut(true),
            vertical: cut(false),
        })
    }
}

/// Copies `roi` of `frame` into `out` (N × N).
fn load<T: Pixel>(frame: &Frame<T>, roi: &Roi, out: &mut [f64]) {
    for (y, dst) in out.chunks_exact_mut(roi.width).enumerate() {
        for (d, s) in dst.iter_mut().zip(frame.roi_row(roi, y)) {
            *d = s.to_f64();
        }
    }
}

/// Detrends one or two ROIs, transforms them together (the first as the real part, the
/// second as the imaginary part) and adds the squared moduli to `work`.
fn roi_power<T: Pixel>(
    frame: &Frame<T>,
    first: Roi,
    second: Option<Roi>,
    fft: &dyn Fft<f64>,
    detrender: &Detrender,
    work: &mut Work,
) {
    let n = first.width;
    load(frame, &first, &mut work.first);
    work.sum_means += detrender.apply(&mut work.first);
    work.rois += 1;
    match second {
        Some(roi) => {
            load(frame, &roi, &mut work.second);
            work.sum_means += detrender.apply(&mut work.second);
            work.rois += 1;
        }
        None => work.second.fill(0.0),
    }
    for ((z, &a), &b) in work.buf.iter_mut().zip(&work.first).zip(&work.second) {
        *z = Complex::new(a, b);
    }
    // Rows, then a transpose, then rows again: tmp[kx·N + ky] = FFT2(ROI)(ky, kx).
    fft.process_with_scratch(&mut work.buf, &mut work.scratch);
    const B: usize = 16;
    for by in (0..n).step_by(B) {
        for bx in (0..n).step_by(B) {
            for y in by..(by + B).min(n) {
                for x in bx..(bx + B).min(n) {
                    work.tmp[x * n + y] = work.buf[y * n + x];
                }
            }
        }
    }
    fft.process_with_scratch(&mut work.tmp, &mut work.scratch);
    for (p, z) in work.power.iter_mut().zip(&work.tmp) {
        *p += z.norm_sqr();
    }
}

/// The NPS of a single frame (a convenience over [`NpsAccumulator`]).
pub fn nps<T: Pixel>(frame: &Frame<T>, config: &NpsConfig) -> Result<NpsResult, ImagingError> {
    let mut acc = NpsAccumulator::new(*config, frame.width(), frame.height())?;
    acc.add_frame(frame)?;
    acc.result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, Normal};

    fn config(roi: usize, step: usize) -> NpsConfig {
        NpsConfig {
            roi_size: roi,
            step,
            region: NpsRegion::Full,
            ..NpsConfig::iec(PixelPitch::square(0.1))
        }
    }

    #[test]
    fn white_noise_has_a_flat_spectrum_of_sigma_squared_dx_dy() {
        let sigma = 20.0;
        let mut rng = StdRng::seed_from_u64(3);
        let normal = Normal::new(1000.0, sigma).unwrap();
        let frame = Frame::from_fn(256, 256, |_, _| normal.sample(&mut rng) as f32).unwrap();
        let r = nps(&frame, &config(64, 32)).unwrap();
        assert_eq!(r.rois, 49);
        let expected = sigma * sigma * 0.01;
        assert!(
            (r.variance / (sigma * sigma) - 1.0).abs() < 0.05,
            "{}",
            r.variance
        );
        for p in r.radial.iter().skip(3) {
            assert!((p.nps / expected - 1.0).abs() < 0.25, "{p:?} vs {expected}");
        }
        for p in r.horizontal.iter().chain(&r.vertical).skip(1) {
            assert!((p.nps / expected - 1.0).abs() < 0.3, "{p:?} vs {expected}");
        }
        assert!((r.radial.last().unwrap().frequency - 5.0).abs() < 1e-9);
        let nnps = r.radial[10].nnps.unwrap();
        assert!((nnps - r.radial[10].nps / (r.mean_signal * r.mean_signal)).abs() < 1e-15);
    }

    #[test]
    fn a_quadratic_trend_is_removed_entirely() {
        let frame = Frame::from_fn(64, 64, |x, y| {
            let (x, y) = (x as f64, y as f64);
            500.0 + 3.0 * x - 2.0 * y + 0.05 * x * x + 0.02 * x * y - 0.03 * y * y
        })
        .unwrap();
        let c = NpsConfig {
            detrend: Detrend::Quadratic,
            ..config(32, 16)
        };
        let r = nps(&frame, &c).unwrap();
        assert!(r.variance < 1e-18, "{}", r.variance);
        let planar = nps(&frame, &config(32, 16)).unwrap();
        assert!(planar.variance > 1.0);
    }

    #[test]
    fn packed_pairs_give_the_power_of_each_roi() {
        // Three 8 × 8 ROIs (a pair and a lone one) against a direct DFT of each.
        let mut rng = StdRng::seed_from_u64(9);
        let normal = Normal::new(100.0, 7.0).unwrap();
        let frame = Frame::from_fn(24, 8, |x, y| normal.sample(&mut rng) + (x * y) as f64).unwrap();
        let mut acc = NpsAccumulator::new(config(8, 8), 24, 8).unwrap();
        acc.add_frame(&frame).unwrap();
        assert_eq!(acc.rois, 3);
        let n = 8usize;
        let mut reference = vec![0.0; n * n];
        for k in 0..3 {
            let mut roi = vec![0.0; n * n];
            load(&frame, &Roi::new(8 * k, 0, n, n), &mut roi);
            acc.detrender.apply(&mut roi);
            for ky in 0..n {
                for kx in 0..n {
                    let mut z = Complex::new(0.0, 0.0);
                    for y in 0..n {
                        for x in 0..n {
                            let phase =
                                -std::f64::consts::TAU * ((kx * x + ky * y) as f64) / n as f64;
                            z += Complex::from_polar(roi[y * n + x], phase);
                        }
                    }
                    reference[ky * n + kx] += z.norm_sqr();
                }
            }
        }
        for ky in 0..n {
            for kx in 0..n {
                let got = acc.power(ky as i64, kx as i64);
                let want = reference[ky * n + kx];
                assert!(
                    (got - want).abs() <= 1e-9 * (1.0 + want),
                    "({ky}, {kx}): {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn geometry_is_checked() {
        let f = Frame::filled(64, 64, 0u16).unwrap();
        assert!(nps(&f, &config(6, 3)).is_err());
        assert!(nps(&f, &config(128, 64)).is_err());
        assert!(nps(&f, &config(32, 0)).is_err());
        let acc = NpsAccumulator::new(config(32, 16), 64, 64).unwrap();
        assert_eq!(acc.rois_per_frame(), 9);
        assert!(acc.result().is_err());
    }

    proptest! {
        #[test]
        fn a_constant_image_has_zero_nps(value in 0u16..=u16::MAX, planar in any::<bool>()) {
            let f = Frame::filled(48, 40, value).unwrap();
            let c = NpsConfig {
                detrend: if planar { Detrend::Planar } else { Detrend::Quadratic },
                ..config(16, 8)
            };
            let r = nps(&f, &c).unwrap();
            let tol = 1e-20 * (1.0 + f64::from(value).powi(2));
            prop_assert!(r.variance.abs() <= tol, "{}", r.variance);
            for p in r.radial.iter().chain(&r.horizontal).chain(&r.vertical) {
                prop_assert!(p.nps.abs() <= tol, "{:?}", p);
            }
        }
    }
}
