//! Signal uniformity by the AAPM TG-150 method.
//!
//! A border is dropped, the rest of the frame is tiled with square ROIs, and each ROI gives a
//! signal (its mean), a noise (its standard deviation) and an SNR (their ratio). For each of
//! the three metrics over the grid of ROIs:
//!
//! - local non-uniformity = max over ROIs of |m(ROI) − mean of m over its 4 neighbours| /
//!   overall mean of m (an ROI on the edge of the grid has 2 or 3 neighbours, and the mean is
//!   taken over those it has);
//! - global non-uniformity = (max m − min m) / overall mean of m.
//!
//! TG-150 uses a 10 mm border and 10 mm ROIs; [`UniformityConfig`] converts millimetres to
//! pixels with the detector's pixel pitch. The ROIs are analysed in parallel.

use super::error::ImagingError;
use super::frame::{Frame, Pixel, PixelPitch, RoiGrid};
use super::stats::roi_stats_unchecked;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Where and how large the uniformity ROIs are.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct UniformityConfig {
    /// The detector's pixel pitch.
    pub pitch: PixelPitch,
    /// The border dropped on each side, mm (TG-150: 10).
    pub border_mm: f64,
    /// The side of each square ROI, mm (TG-150: 10).
    pub roi_mm: f64,
}

impl UniformityConfig {
    /// The TG-150 geometry (10 mm border, 10 mm ROIs) for a pixel pitch.
    pub fn tg150(pitch: PixelPitch) -> UniformityConfig {
        UniformityConfig {
            pitch,
            border_mm: 10.0,
            roi_mm: 10.0,
        }
    }

    /// The grid of ROIs this geometry gives on a `width × height` frame.
    pub fn grid(&self, width: usize, height: usize) -> Result<RoiGrid, ImagingError> {
        self.pitch.check()?;
        if !(self.border_mm >= 0.0 && self.roi_mm > 0.0 && self.border_mm.is_finite()) {
            return Err(ImagingError::invalid(
                "uniformity geometry",
                format!(
                    "border {} mm and ROI {} mm must be non-negative and positive",
                    self.border_mm, self.roi_mm
                ),
            ));
        }
        // ROIs are square in pixels; on non-square pixels the x pitch sets their size.
        let roi = self.pitch.pixels_x(self.roi_mm);
        let border = (self.border_mm / self.pitch.x_mm.min(self.pitch.y_mm)).round() as usize;
        RoiGrid::tile(width, height, border, roi)
    }
}

/// The local and global non-uniformity of one metric over the grid of ROIs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UniformityMetric {
    /// The mean of the metric over every ROI.
    pub overall_mean: f64,
    /// The smallest value over the ROIs.
    pub min: f64,
    /// The largest value over the ROIs.
    pub max: f64,
    /// The local non-uniformity, as a ratio (0.01 is 1 %).
    pub local: f64,
    /// The (row, column) of the ROI where the local non-uniformity is largest.
    pub local_at: (usize, usize),
    /// The global non-uniformity (max − min) / overall mean, as a ratio.
    pub global: f64,
    /// The metric for every ROI, row by row (a map for a report).
    pub map: Vec<f64>,
}

/// The uniformity of one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Uniformity {
    /// The number of ROI rows.
    pub rows: usize,
    /// The number of ROI columns.
    pub columns: usize,
    /// The side of the ROIs, pixels.
    pub roi_size: usize,
    /// The border dropped, pixels.
    pub border: usize,
    /// Uniformity of the signal (ROI means).
    pub signal: UniformityMetric,
    /// Uniformity of the noise (ROI standard deviations); `None` when the mean noise is zero.
    pub noise: Option<UniformityMetric>,
    /// Uniformity of the SNR; `None` when some ROI has no noise (its SNR is undefined).
    pub snr: Option<UniformityMetric>,
}

/// The TG-150 uniformity of `frame` with the geometry of `config`.
pub fn uniformity<T: Pixel>(
    frame: &Frame<T>,
    config: &UniformityConfig,
) -> Result<Uniformity, ImagingError> {
    let grid = config.grid(frame.width(), frame.height())?;
    uniformity_on_grid(frame, &grid)
}

/// The TG-150 uniformity of `frame` over an explicit grid of ROIs.
pub fn uniformity_on_grid<T: Pixel>(
    frame: &Frame<T>,
    grid: &RoiGrid,
) -> Result<Uniformity, ImagingError> {
    for roi in &grid.rois {
        frame.check_roi(roi)?;
    }
    if grid.rois.len() != grid.rows * grid.columns || grid.rois.is_empty() {
        return Err(ImagingError::invalid(
            "ROI grid",
            "its ROI count is not rows × columns",
        ));
    }
    let stats: Vec<(f64, f64)> = grid
        .rois
        .par_iter()
        .map(|roi| {
            let s = roi_stats_unchecked(frame, roi);
            (s.mean, s.std_dev)
        })
        .collect();
    let signal: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let noise: Vec<f64> = stats.iter().map(|s| s.1).collect();
    let snr: Option<Vec<f64>> = stats
        .iter()
        .map(|&(m, s)| (s > 0.0).then(|| m / s))
        .collect();
    let signal = metric(signal, grid.rows, grid.columns).ok_or_else(|| {
        ImagingError::invalid(
            "flat frame",
            "its mean signal over the ROIs is not positive",
        )
    })?;
    Ok(Uniformity {
        rows: grid.rows,
        columns: grid.columns,
        roi_size: grid.roi_size,
        border: grid.border,
        signal,
        noise: metric(noise, grid.rows, grid.columns),
        snr: snr.and_then(|v| metric(v, grid.rows, grid.columns)),
    })
}

/// Local and global non-uniformity of `map` (rows × columns); `None` when the overall mean
/// is not positive.
pub(crate) fn metric(map: Vec<f64>, rows: usize, columns: usize) -> Option<UniformityMetric> {
    let overall_mean = map.iter().sum::<f64>() / map.len() as f64;
    if !(overall_mean > 0.0 && overall_mean.is_finite()) {
        return None;
    }
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut worst, mut local_at) = (0.0f64, (0, 0));
    for r in 0..rows {
        for c in 0..columns {
            let v = map[r * columns + c];
            min = min.min(v);
            max = max.max(v);
            let mut neighbours = Vec::with_capacity(4);
            if r > 0 {
                neighbours.push(map[(r - 1) * columns + c]);
            }
            if r + 1 < rows {
                neighbours.push(map[(r + 1) * columns + c]);
            }
            if c > 0 {
                neighbours.push(map[r * columns + c - 1]);
            }
            if c + 1 < columns {
                neighbours.push(map[r * columns + c + 1]);
            }
            if neighbours.is_empty() {
                continue;
            }
            let around = neighbours.iter().sum::<f64>() / neighbours.len() as f64;
            let d = (v - around).abs();
            if d > worst {
                worst = d;
                local_at = (r, c);
            }
        }
    }
    Some(UniformityMetric {
        overall_mean,
        min,
        max,
        local: worst / overall_mean,
        local_at,
        global: (max - min) / overall_mean,
        map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn signal_uniformity_does_not_depend_on_the_scale(
            values in proptest::collection::vec(100.0f32..1000.0, 48),
            scale in 0.1f32..100.0,
        ) {
            // 48 pixels as a 12 × 4 frame of 2-pixel ROIs (6 × 2 grid).
            let a = Frame::new(12, 4, values.clone()).unwrap();
            let b = Frame::new(12, 4, values.iter().map(|v| v * scale).collect()).unwrap();
            let grid = RoiGrid::tile(12, 4, 0, 2).unwrap();
            let ua = uniformity_on_grid(&a, &grid).unwrap();
            let ub = uniformity_on_grid(&b, &grid).unwrap();
            prop_assert!((ua.signal.global - ub.signal.global).abs() < 1e-5);
            prop_assert!((ua.signal.local - ub.signal.local).abs() < 1e-5);
        }
    }

    #[test]
    fn a_uniform_frame_has_zero_non_uniformity() {
        let f = Frame::filled(120, 100, 1000u16).unwrap();
        let config = UniformityConfig {
            pitch: PixelPitch::square(0.5),
            border_mm: 5.0,
            roi_mm: 10.0,
        };
        let u = uniformity(&f, &config).unwrap();
        assert_eq!((u.rows, u.columns, u.roi_size, u.border), (4, 5, 20, 10));
        assert_eq!(u.signal.local, 0.0);
        assert_eq!(u.signal.global, 0.0);
        assert!(u.noise.is_none() && u.snr.is_none());
    }

    #[test]
    fn one_bright_roi_sets_the_local_figure() {
        // 3 × 3 values; the centre is 110 and every other 100.
        let mut map = vec![100.0; 9];
        map[4] = 110.0;
        let m = metric(map, 3, 3).unwrap();
        let mean = (8.0 * 100.0 + 110.0) / 9.0;
        assert!((m.local - 10.0 / mean).abs() < 1e-12);
        assert_eq!(m.local_at, (1, 1));
        assert!((m.global - 10.0 / mean).abs() < 1e-12);
    }
}
