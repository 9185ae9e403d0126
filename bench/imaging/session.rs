//! The analysis of the frames a detector driver acquires during a run, frame by frame.
//!
//! An [`AcquisitionSession`] is handed each frame once, with whether it is dark (no
//! exposure) or exposed, and keeps only accumulators: per-pixel sums of the dark and of the
//! exposed frames (for the offset, the noise, the defect criteria and uniformity), per-pixel
//! sums of squares of the dark frames (the noisy-pixel criterion), the NPS accumulated ROI
//! by ROI, and the central-ROI means the lag needs. Memory does not grow with the number of
//! frames: about 20 bytes per pixel (the sums, and the previous frame of each series for
//! the temporal noise), some ten 16-bit frames' worth; each frame can be dropped once added.
//!
//! Per-frame figures (central ROI mean, noise, SNR) describe the last frame; series figures
//! describe every frame added since [`AcquisitionSession::reset`]. Like the rest of this
//! stage it does no I/O and decides no verdict.

use super::defects::{DefectThresholds, Defects, detect_defects};
use super::error::ImagingError;
use super::frame::{Frame, PixelPitch, Roi};
use super::nps::{NpsAccumulator, NpsConfig, NpsResult};
use super::series::{DarkSeriesStats, FrameSeries};
use super::stats::{RoiStats, roi_stats};
use super::uniformity::{Uniformity, UniformityConfig, uniformity};
use serde::{Deserialize, Serialize};

/// Whether a frame was exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Acquired with no exposure: offset and dark noise.
    Dark,
    /// Acquired during an exposure.
    Exposed,
}

/// What an acquisition session measures, and where.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// The detector's pixel pitch.
    pub pitch: PixelPitch,
    /// The side of the central ROI, mm.
    pub roi_mm: f64,
    /// The defect criteria.
    pub thresholds: DefectThresholds,
}

impl SessionConfig {
    /// A 10 mm central ROI, the default defect thresholds.
    pub fn standard(pitch: PixelPitch) -> SessionConfig {
        SessionConfig {
            pitch,
            roi_mm: 10.0,
            thresholds: DefectThresholds::default(),
        }
    }
}

/// The figures of one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameFigures {
    /// Dark or exposed.
    pub kind: FrameKind,
    /// The central ROI's statistics.
    pub central: RoiStats,
}

/// The lag bookkeeping: dark before, exposed, dark after (central ROI means).
#[derive(Clone, Copy, Debug, Default)]
struct LagState {
    before: Option<f64>,
    exposed: Option<f64>,
    last: Option<f64>,
}

/// The streaming analysis of the frames of one detector during a run.
pub struct AcquisitionSession {
    config: SessionConfig,
    width: usize,
    height: usize,
    central: Roi,
    last: Option<FrameFigures>,
    dark: FrameSeries,
    exposed: FrameSeries,
    nps: Option<NpsAccumulator>,
    /// Why the NPS cannot be measured on these frames (too small for its ROIs), if so.
    nps_unavailable: Option<String>,
    lag: LagState,
}

impl AcquisitionSession {
    /// A session for `width × height` frames.
    pub fn new(
        config: SessionConfig,
        width: usize,
        height: usize,
    ) -> Result<AcquisitionSession, ImagingError> {
        config.pitch.check()?;
        if !(config.roi_mm.is_finite() && config.roi_mm > 0.0) {
            return Err(ImagingError::invalid(
                "central ROI",
                format!("{} mm is not positive", config.roi_mm),
            ));
        }
        let side = config.pitch.pixels_x(config.roi_mm).max(2);
        Ok(AcquisitionSession {
            central: Roi::central(width, height, side, side),
            config,
            width,
            height,
            last: None,
            dark: FrameSeries::new(width, height, true),
            exposed: FrameSeries::new(width, height, false),
            nps: None,
            nps_unavailable: None,
            lag: LagState::default(),
        })
    }

    /// The central ROI.
    pub fn central_roi(&self) -> Roi {
        self.central
    }

    /// Forgets every series (the last frame's figures stay).
    pub fn reset(&mut self) {
        self.dark = FrameSeries::new(self.width, self.height, true);
        self.exposed = FrameSeries::new(self.width, self.height, false);
        self.nps = None;
        self.nps_unavailable = None;
        self.lag = LagState::default();
    }

    /// Analyses one frame and folds it into the series of its kind.
    pub fn add(
        &mut self,
        frame: &Frame<u16>,
        kind: FrameKind,
    ) -> Result<&FrameFigures, ImagingError> {
        let central = roi_stats(frame, &self.central)?;
        let mean = central.mean;
        match kind {
            FrameKind::Dark => {
                self.dark.add(frame)?;
                match (self.lag.before, self.lag.exposed) {
                    (Some(before), Some(exposed)) if exposed > before => {
                        self.lag.last = Some((mean - before) / (exposed - before));
                        self.lag.before = Some(mean);
                        self.lag.exposed = None;
                    }
                    _ => self.lag.before = Some(mean),
                }
            }
            FrameKind::Exposed => {
                self.exposed.add(frame)?;
                if self.nps.is_none() && self.nps_unavailable.is_none() {
                    // NNPS normalises by the signal above the offset: the dark frames so
                    // far give it (0 without any, for offset-corrected data). Frames too
                    // small for the IEC ROIs still serve every other figure.
                    let mut config = NpsConfig::iec(self.config.pitch);
                    config.signal_offset = self.dark_offset_so_far()?;
                    match NpsAccumulator::new(config, self.width, self.height) {
                        Ok(nps) => self.nps = Some(nps),
                        Err(e) => self.nps_unavailable = Some(e.to_string()),
                    }
                }
                if let Some(nps) = self.nps.as_mut() {
                    nps.add_frame(frame)?;
                }
                self.lag.exposed = self.lag.before.map(|_| mean);
            }
        }
        Ok(self.last.insert(FrameFigures { kind, central }))
    }

    fn dark_offset_so_far(&self) -> Result<f64, ImagingError> {
        if self.dark.frames() == 0 {
            return Ok(0.0);
        }
        Ok(roi_stats(&self.dark.mean()?, &self.central)?.mean)
    }

    /// The figures of the last frame.
    pub fn last(&self) -> Option<&FrameFigures> {
        self.last.as_ref()
    }

    /// The numbers of dark and exposed frames in the series.
    pub fn frames(&self) -> (usize, usize) {
        (self.dark.frames(), self.exposed.frames())
    }

    /// Offset, temporal and fixed-pattern noise of the dark series (two frames at least).
    pub fn dark_stats(&self) -> Result<DarkSeriesStats, ImagingError> {
        self.dark.dark_stats(&self.central)
    }

    /// The mean exposed frame less the mean dark frame (the mean exposed frame alone when
    /// there is no dark frame).
    pub fn signal_frame(&self) -> Result<Frame<f32>, ImagingError> {
        let mut signal = self.exposed.mean()?;
        if self.dark.frames() > 0 {
            let dark = self.dark.mean()?;
            for (s, d) in signal.pixels_mut().iter_mut().zip(dark.pixels()) {
                *s -= d;
            }
        }
        Ok(signal)
    }

    /// TG-150 uniformity of the offset-corrected mean exposed frame.
    pub fn uniformity(&self) -> Result<Uniformity, ImagingError> {
        uniformity(
            &self.signal_frame()?,
            &UniformityConfig::tg150(self.config.pitch),
        )
    }

    /// The TG-150 ROIs of the offset-corrected mean exposed frame with their statistics, row
    /// by row (the uniformity map).
    pub fn uniformity_map(&self) -> Result<(usize, Vec<RoiStats>), ImagingError> {
        let signal = self.signal_frame()?;
        let grid = UniformityConfig::tg150(self.config.pitch).grid(self.width, self.height)?;
        let stats = grid
            .rois
            .iter()
            .map(|roi| roi_stats(&signal, roi))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((grid.columns, stats))
    }

    /// Defective pixels and lines, from the mean exposed frame, the mean dark frame and,
    /// with two dark frames or more, the temporal noise of each pixel in the dark frames
    /// (where a noisy pixel's excess is not hidden by quantum noise).
    pub fn defects(&self) -> Result<Defects, ImagingError> {
        let flat = self.exposed.mean()?;
        let dark = self.dark.mean()?;
        let noise = if self.dark.frames() >= 2 {
            self.dark.noise_map()?
        } else {
            None
        };
        detect_defects(&flat, &dark, noise.as_ref(), &self.config.thresholds)
    }

    /// The lag of the last dark–exposed–dark sequence, as a ratio.
    pub fn lag(&self) -> Result<f64, ImagingError> {
        self.lag.last.ok_or(ImagingError::TooFew {
            what: "lag (a dark frame, an exposed frame, then a dark frame)",
            needed: 3,
            got: 0,
        })
    }

    /// The NPS of the exposed frames.
    pub fn nps(&self) -> Result<NpsResult, ImagingError> {
        if let Some(why) = &self.nps_unavailable {
            return Err(ImagingError::invalid("noise power spectrum", why.clone()));
        }
        match &self.nps {
            Some(nps) => nps.result(),
            None => Err(ImagingError::TooFew {
                what: "a noise power spectrum (exposed frames)",
                needed: 1,
                got: 0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::detector_image::{DetectorImageConfig, DetectorImageModel};

    fn model(config: DetectorImageConfig) -> DetectorImageModel {
        DetectorImageModel::new(DetectorImageConfig {
            width: 320,
            height: 320,
            ..config
        })
        .unwrap()
    }

    fn session() -> AcquisitionSession {
        AcquisitionSession::new(SessionConfig::standard(PixelPitch::square(0.25)), 320, 320)
            .unwrap()
    }

    #[test]
    fn dark_series_offset_and_noise_and_exposed_signal() {
        let mut m = model(DetectorImageConfig::default());
        let mut s = session();
        for _ in 0..4 {
            s.add(&m.acquire(0.0), FrameKind::Dark).unwrap();
        }
        let d = s.dark_stats().unwrap();
        assert!((d.offset - 1000.0).abs() < 5.0, "{d:?}");
        assert!((d.temporal_noise - 5.0).abs() < 0.5, "{d:?}");
        let f = s.add(&m.acquire(10.0), FrameKind::Exposed).unwrap();
        assert!((f.central.mean - 11_000.0).abs() < 150.0, "{f:?}");
        assert_eq!(s.frames(), (4, 1));
        let u = s.uniformity().unwrap();
        assert!(u.signal.global < 0.05, "{u:?}");
        s.reset();
        assert_eq!(s.frames(), (0, 0));
        assert!(s.dark_stats().is_err());
    }

    #[test]
    fn a_dead_column_is_found_and_lag_is_measured() {
        let mut m = model(DetectorImageConfig {
            lag: 0.03,
            defects: crate::sim::detector_image::DefectConfig {
                dead_columns: vec![40],
                ..Default::default()
            },
            ..DetectorImageConfig::default()
        });
        let mut s = session();
        assert!(s.lag().is_err());
        s.add(&m.acquire(0.0), FrameKind::Dark).unwrap();
        s.add(&m.acquire(0.0), FrameKind::Dark).unwrap();
        s.add(&m.acquire(10.0), FrameKind::Exposed).unwrap();
        s.add(&m.acquire(0.0), FrameKind::Dark).unwrap();
        let lag = s.lag().unwrap();
        assert!((lag - 0.03).abs() < 0.002, "{lag}");
        s.add(&m.acquire(10.0), FrameKind::Exposed).unwrap();
        let d = s.defects().unwrap();
        assert_eq!(d.report.columns, vec![40]);
        assert!(d.report.rows.is_empty());
        let nps = s.nps().unwrap();
        assert_eq!(nps.frames, 2);
        let (columns, map) = s.uniformity_map().unwrap();
        assert_eq!(map.len() % columns, 0);
    }

    #[test]
    fn frames_too_small_for_the_nps_still_give_every_other_figure() {
        let mut m = DetectorImageModel::new(DetectorImageConfig {
            width: 128,
            height: 128,
            ..DetectorImageConfig::default()
        })
        .unwrap();
        let mut s =
            AcquisitionSession::new(SessionConfig::standard(PixelPitch::square(0.5)), 128, 128)
                .unwrap();
        s.add(&m.acquire(0.0), FrameKind::Dark).unwrap();
        s.add(&m.acquire(10.0), FrameKind::Exposed).unwrap();
        assert!(s.uniformity().is_ok());
        let e = s.nps().unwrap_err().to_string();
        assert!(e.contains("256"), "{e}");
    }
}
