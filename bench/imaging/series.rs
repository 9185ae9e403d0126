//! Streaming analysis of a series of frames: each frame is folded into accumulators and can
//! be dropped before the next one arrives, so a series of any length costs the memory of a
//! few frames at most.
//!
//! - [`FrameSeries`]: the per-pixel mean frame (for dark and flat maps), the temporal noise,
//!   and optionally a per-pixel temporal noise map (for noisy-pixel detection).
//! - [`RoiSeries`]: running statistics of chosen ROIs across frames.
//! - [`FlatSeries`]: the full analysis of a series of flat frames, frame by frame: central
//!   and multiple ROIs, TG-150 uniformity, and the NPS accumulated ROI by ROI.

use super::error::ImagingError;
use super::frame::RoiGrid;
use super::frame::{Frame, PixelPitch, Roi};
use super::nps::{NpsAccumulator, NpsConfig, NpsResult};
use super::stats::{RoiStats, RunningStats, five_rois, roi_stats};
use super::uniformity::{Uniformity, UniformityConfig, uniformity_on_grid};
use serde::{Deserialize, Serialize};

/// Per-pixel sums of a series of 16-bit frames.
///
/// Memory: a `u32` sum per pixel (two frames' worth), the previous frame (one), and with a
/// noise map a `u64` sum of squares per pixel (four more). Exact integer sums: no rounding,
/// whatever the number of frames (up to 65 537).
#[derive(Clone, Debug)]
pub struct FrameSeries {
    width: usize,
    height: usize,
    frames: usize,
    sum: Vec<u32>,
    sum_sq: Option<Vec<u64>>,
    previous: Option<Vec<u16>>,
    differences: RunningStats,
}

impl FrameSeries {
    /// An empty series of `width × height` frames; `noise_map` keeps per-pixel sums of
    /// squares so that [`FrameSeries::noise_map`] is available.
    pub fn new(width: usize, height: usize, noise_map: bool) -> FrameSeries {
        let len = width * height;
        FrameSeries {
            width,
            height,
            frames: 0,
            sum: vec![0; len],
            sum_sq: noise_map.then(|| vec![0; len]),
            previous: None,
            differences: RunningStats::default(),
        }
    }

    /// Adds one frame.
    pub fn add(&mut self, frame: &Frame<u16>) -> Result<(), ImagingError> {
        if frame.width() != self.width || frame.height() != self.height {
            return Err(ImagingError::SizeMismatch {
                what: "a frame series",
                expected_width: self.width,
                expected_height: self.height,
                width: frame.width(),
                height: frame.height(),
            });
        }
        if self.frames == u16::MAX as usize + 1 {
            return Err(ImagingError::invalid(
                "frame series",
                "more than 65 537 frames overflow the per-pixel sums",
            ));
        }
        for (s, &p) in self.sum.iter_mut().zip(frame.pixels()) {
            *s += u32::from(p);
        }
        if let Some(sq) = &mut self.sum_sq {
            for (s, &p) in sq.iter_mut().zip(frame.pixels()) {
                *s += u64::from(p) * u64::from(p);
            }
        }
        // Temporal noise from successive differences: the fixed pattern cancels, and
        // var(a − b) = 2σ² for two independent frames.
        match &mut self.previous {
            Some(prev) => {
                let (mut s, mut s2) = (0.0f64, 0.0f64);
                for (q, &p) in prev.iter_mut().zip(frame.pixels()) {
                    let d = f64::from(p) - f64::from(*q);
                    s += d;
                    s2 += d * d;
                    *q = p;
                }
                let n = prev.len() as f64;
                let var = ((s2 - s * s / n) / (n - 1.0).max(1.0)).max(0.0);
                self.differences.push(var / 2.0);
            }
            None => self.previous = Some(frame.pixels().to_vec()),
        }
        self.frames += 1;
        Ok(())
    }

    /// The number of frames added.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The per-pixel mean frame.
    pub fn mean(&self) -> Result<Frame<f32>, ImagingError> {
        let n = self.need(1)? as f64;
        Frame::new(
            self.width,
            self.height,
            self.sum
                .iter()
                .map(|&s| (f64::from(s) / n) as f32)
                .collect(),
        )
    }

    /// The temporal noise (standard deviation of one pixel over time, pooled over the
    /// frame), from the differences of successive frames; needs two frames.
    pub fn temporal_noise(&self) -> Result<f64, ImagingError> {
        self.need(2)?;
        Ok(self.differences.mean().sqrt())
    }

    /// The per-pixel temporal standard deviation (n − 1), when the series keeps a noise
    /// map; needs two frames.
    pub fn noise_map(&self) -> Result<Option<Frame<f32>>, ImagingError> {
        let n = self.need(2)? as f64;
        let Some(sq) = &self.sum_sq else {
            return Ok(None);
        };
        let pixels = self
            .sum
            .iter()
            .zip(sq)
            .map(|(&s, &s2)| {
                let s = f64::from(s);
                (((s2 as f64 - s * s / n) / (n - 1.0)).max(0.0).sqrt()) as f32
            })
            .collect();
        Frame::new(self.width, self.height, pixels).map(Some)
    }

    /// The dark offset and noise of `roi` over a series of dark frames: the offset and the
    /// fixed-pattern noise from the mean frame, the temporal noise from successive frames.
    /// Needs two frames.
    pub fn dark_stats(&self, roi: &Roi) -> Result<DarkSeriesStats, ImagingError> {
        let temporal = self.temporal_noise()?;
        let mean = self.mean()?;
        let s = roi_stats(&mean, roi)?;
        // The mean frame still holds σ²/n of temporal noise: remove it from the spread.
        let residual = temporal * temporal / self.frames as f64;
        Ok(DarkSeriesStats {
            roi: *roi,
            frames: self.frames,
            offset: s.mean,
            temporal_noise: temporal,
            fixed_pattern_noise: (s.std_dev * s.std_dev - residual).max(0.0).sqrt(),
        })
    }

    fn need(&self, needed: usize) -> Result<usize, ImagingError> {
        if self.frames < needed {
            Err(ImagingError::TooFew {
                what: "a frame series (frames)",
                needed,
                got: self.frames,
            })
        } else {
            Ok(self.frames)
        }
    }
}

/// The dark offset and noise of a series of dark frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DarkSeriesStats {
    /// The region analysed.
    pub roi: Roi,
    /// The number of dark frames.
    pub frames: usize,
    /// The offset: the ROI mean of the mean dark frame.
    pub offset: f64,
    /// The temporal dark noise (one pixel over time, pooled over the whole frame).
    pub temporal_noise: f64,
    /// The fixed-pattern dark noise: the pixel-to-pixel spread of the offset in the ROI.
    pub fixed_pattern_noise: f64,
}

/// One ROI's statistics over a series of frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiSeriesStats {
    /// The region.
    pub roi: Roi,
    /// The number of frames.
    pub frames: u64,
    /// The mean over frames of the ROI mean.
    pub mean: f64,
    /// The standard deviation over frames of the ROI mean (frame-to-frame stability).
    pub mean_std_dev: f64,
    /// The mean over frames of the ROI's pixel standard deviation (the noise).
    pub noise: f64,
    /// mean / noise; `None` when the noise is zero.
    pub snr: Option<f64>,
}

/// Running statistics of fixed ROIs over a series of frames.
#[derive(Clone, Debug)]
pub struct RoiSeries {
    rois: Vec<Roi>,
    means: Vec<RunningStats>,
    noises: Vec<RunningStats>,
}

impl RoiSeries {
    /// Follows `rois` over the frames to come.
    pub fn new(rois: Vec<Roi>) -> RoiSeries {
        let n = rois.len();
        RoiSeries {
            rois,
            means: vec![RunningStats::default(); n],
            noises: vec![RunningStats::default(); n],
        }
    }

    /// Adds one frame, returning each ROI's statistics in it.
    pub fn add<T: super::Pixel>(
        &mut self,
        frame: &Frame<T>,
    ) -> Result<Vec<RoiStats>, ImagingError> {
        let stats = self
            .rois
            .iter()
            .map(|r| roi_stats(frame, r))
            .collect::<Result<Vec<_>, _>>()?;
        for ((s, m), n) in stats.iter().zip(&mut self.means).zip(&mut self.noises) {
            m.push(s.mean);
            n.push(s.std_dev);
        }
        Ok(stats)
    }

    /// Each ROI's statistics over the frames so far, in the order given.
    pub fn result(&self) -> Vec<RoiSeriesStats> {
        self.rois
            .iter()
            .zip(&self.means)
            .zip(&self.noises)
            .map(|((roi, m), n)| RoiSeriesStats {
                roi: *roi,
                frames: m.count(),
                mean: m.mean(),
                mean_std_dev: m.std_dev(),
                noise: n.mean(),
                snr: (n.mean() > 0.0).then(|| m.mean() / n.mean()),
            })
            .collect()
    }
}

/// What the analysis of a series of flat frames measures, and where.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlatSeriesConfig {
    /// The detector's pixel pitch.
    pub pitch: PixelPitch,
    /// The side of the central and quadrant ROIs, mm.
    pub roi_mm: f64,
    /// The uniformity geometry.
    pub uniformity: UniformityConfig,
    /// The NPS geometry.
    pub nps: NpsConfig,
}

impl FlatSeriesConfig {
    /// The standard geometry: 10 mm ROIs, TG-150 uniformity, IEC 62220-1-1 NPS.
    pub fn standard(pitch: PixelPitch) -> FlatSeriesConfig {
        FlatSeriesConfig {
            pitch,
            roi_mm: 10.0,
            uniformity: UniformityConfig::tg150(pitch),
            nps: NpsConfig::iec(pitch),
        }
    }
}

/// The analysis of one flat frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlatFrameAnalysis {
    /// The central ROI then the four quadrant ROIs.
    pub rois: Vec<RoiStats>,
    /// TG-150 uniformity.
    pub uniformity: Uniformity,
}

/// The analysis of a series of flat frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlatSeriesResult {
    /// The number of frames.
    pub frames: usize,
    /// The central and quadrant ROIs over the series.
    pub rois: Vec<RoiSeriesStats>,
    /// The worst local and global signal non-uniformity over the frames.
    pub worst_signal_uniformity: (f64, f64),
    /// The NPS over every ROI of every frame.
    pub nps: NpsResult,
}

/// The full, streaming analysis of a series of flat frames of one size.
pub struct FlatSeries {
    grid: RoiGrid,
    rois: RoiSeries,
    nps: NpsAccumulator,
    worst: (f64, f64),
    frames: usize,
}

impl FlatSeries {
    /// Prepares the analysis of `width × height` frames: ROI grid, NPS plan.
    pub fn new(
        config: &FlatSeriesConfig,
        width: usize,
        height: usize,
    ) -> Result<FlatSeries, ImagingError> {
        config.pitch.check()?;
        let roi = config.pitch.pixels_x(config.roi_mm);
        Ok(FlatSeries {
            grid: config.uniformity.grid(width, height)?,
            rois: RoiSeries::new(five_rois(width, height, roi)?),
            nps: NpsAccumulator::new(config.nps, width, height)?,
            worst: (0.0, 0.0),
            frames: 0,
        })
    }

    /// Analyses one frame and folds it into the series; the frame can be dropped after.
    pub fn add<T: super::Pixel>(
        &mut self,
        frame: &Frame<T>,
    ) -> Result<FlatFrameAnalysis, ImagingError> {
        // Uniformity and the NPS are independent: run them side by side.
        let (grid, nps) = (&self.grid, &mut self.nps);
        let (uniformity, added) =
            rayon::join(|| uniformity_on_grid(frame, grid), || nps.add_frame(frame));
        added?;
        let uniformity = uniformity?;
        let rois = self.rois.add(frame)?;
        self.worst.0 = self.worst.0.max(uniformity.signal.local);
        self.worst.1 = self.worst.1.max(uniformity.signal.global);
        self.frames += 1;
        Ok(FlatFrameAnalysis { rois, uniformity })
    }

    /// The results over the frames so far.
    pub fn result(&self) -> Result<FlatSeriesResult, ImagingError> {
        Ok(FlatSeriesResult {
            frames: self.frames,
            rois: self.rois.result(),
            worst_signal_uniformity: self.worst,
            nps: self.nps.result()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_temporal_noise_of_a_series() {
        let mut s = FrameSeries::new(4, 4, true);
        assert!(s.mean().is_err());
        for v in [10u16, 12, 14] {
            let f = Frame::from_fn(4, 4, |x, _| v + x as u16 + if x == 0 { v } else { 0 }).unwrap();
            s.add(&f).unwrap();
        }
        let m = s.mean().unwrap();
        assert!((m.pixels()[1] - 13.0).abs() < 1e-6);
        assert!((m.pixels()[0] - 24.0).abs() < 1e-6);
        let noise = s.noise_map().unwrap().unwrap();
        assert!((noise.pixels()[1] - 2.0).abs() < 1e-6);
        assert!((noise.pixels()[0] - 4.0).abs() < 1e-6);
        assert!(s.add(&Frame::filled(4, 5, 0).unwrap()).is_err());
    }

    #[test]
    fn roi_series_follows_means_across_frames() {
        let mut s = RoiSeries::new(vec![Roi::new(0, 0, 2, 2)]);
        for v in [100u16, 110, 120] {
            s.add(&Frame::filled(4, 4, v).unwrap()).unwrap();
        }
        let r = &s.result()[0];
        assert_eq!(r.frames, 3);
        assert!((r.mean - 110.0).abs() < 1e-12);
        assert!((r.mean_std_dev - 10.0).abs() < 1e-12);
        assert_eq!(r.snr, None);
    }
}
