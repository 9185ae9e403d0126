//! Flat-field (gain and offset) correction from a dark frame and a flat frame.
//!
//! corrected = (raw − dark) · gain, with gain = mean(flat − dark) / (flat − dark) per pixel,
//! so that the corrected flat frame is uniform at the mean of its offset-corrected signal. The
//! dark and flat frames are usually averages of several frames (see
//! [`FrameSeries`](super::FrameSeries)). A pixel whose flat signal is not above its dark value
//! cannot be corrected: its gain is set to 0 (its corrected value is 0) and it is counted.

use super::error::ImagingError;
use super::frame::{Frame, Pixel};
use serde::{Deserialize, Serialize};

/// A flat-field correction: a dark (offset) map and a gain map.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatFieldCorrection {
    dark: Frame<f32>,
    gain: Frame<f32>,
    summary: FlatFieldSummary,
}

/// What a flat-field correction was built from, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlatFieldSummary {
    /// The mean offset-corrected signal of the flat frame: the level corrected frames of
    /// the same exposure sit at.
    pub target: f64,
    /// The number of pixels whose flat signal is not above their dark value (gain 0).
    pub uncorrectable_pixels: usize,
    /// The smallest and largest gain applied (over correctable pixels).
    pub gain_range: (f64, f64),
}

impl FlatFieldCorrection {
    /// Builds the correction from a dark frame and a flat frame of the same size.
    pub fn new<D: Pixel, F: Pixel>(
        dark: &Frame<D>,
        flat: &Frame<F>,
    ) -> Result<FlatFieldCorrection, ImagingError> {
        dark.check_same_size(flat, "a flat-field correction")?;
        let (mut sum, mut good) = (0.0f64, 0usize);
        for (d, f) in dark.pixels().iter().zip(flat.pixels()) {
            let s = f.to_f64() - d.to_f64();
            if s > 0.0 {
                sum += s;
                good += 1;
            }
        }
        if good == 0 {
            return Err(ImagingError::invalid(
                "flat frame",
                "no pixel of the flat frame is above the dark frame",
            ));
        }
        let target = sum / good as f64;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        let gains: Vec<f32> = dark
            .pixels()
            .iter()
            .zip(flat.pixels())
            .map(|(d, f)| {
                let s = f.to_f64() - d.to_f64();
                if s > 0.0 {
                    let g = target / s;
                    lo = lo.min(g);
                    hi = hi.max(g);
                    g as f32
                } else {
                    0.0
                }
            })
            .collect();
        let gain = Frame::new(dark.width(), dark.height(), gains)?;
        Ok(FlatFieldCorrection {
            dark: dark.to_f32(),
            gain,
            summary: FlatFieldSummary {
                target,
                uncorrectable_pixels: dark.pixels().len() - good,
                gain_range: (lo, hi),
            },
        })
    }

    /// Corrects a raw frame of the same size.
    pub fn correct<T: Pixel>(&self, raw: &Frame<T>) -> Result<Frame<f32>, ImagingError> {
        self.dark
            .check_same_size(raw, "flat-field correction of a frame")?;
        let pixels = raw
            .pixels()
            .iter()
            .zip(self.dark.pixels())
            .zip(self.gain.pixels())
            .map(|((r, d), g)| (r.to_f64() as f32 - d) * g)
            .collect();
        Frame::new(raw.width(), raw.height(), pixels)
    }

    /// The gain map (0 where a pixel cannot be corrected).
    pub fn gain(&self) -> &Frame<f32> {
        &self.gain
    }

    /// The dark map.
    pub fn dark(&self) -> &Frame<f32> {
        &self.dark
    }

    /// What the correction was built from.
    pub fn summary(&self) -> &FlatFieldSummary {
        &self.summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gain_and_offset_pattern_is_removed() {
        let dark = Frame::from_fn(8, 4, |x, _| 100 + x as u16).unwrap();
        let gain = |x: usize, y: usize| 1.0 + 0.05 * x as f64 - 0.03 * y as f64;
        let flat =
            Frame::from_fn(8, 4, |x, y| (100.0 + x as f64 + 1000.0 * gain(x, y)) as u16).unwrap();
        let raw =
            Frame::from_fn(8, 4, |x, y| (100.0 + x as f64 + 500.0 * gain(x, y)) as u16).unwrap();
        let c = FlatFieldCorrection::new(&dark, &flat).unwrap();
        let out = c.correct(&raw).unwrap();
        let target = c.summary().target;
        for v in out.pixels() {
            assert!(
                (f64::from(*v) - target / 2.0).abs() < 1.0,
                "{v} vs {}",
                target / 2.0
            );
        }
        assert_eq!(c.summary().uncorrectable_pixels, 0);
    }

    #[test]
    fn dead_pixels_get_zero_gain_and_sizes_must_match() {
        let dark = Frame::filled(4, 4, 100u16).unwrap();
        let mut flat = Frame::filled(4, 4, 1100u16).unwrap();
        flat.pixels_mut()[5] = 100;
        let c = FlatFieldCorrection::new(&dark, &flat).unwrap();
        assert_eq!(c.summary().uncorrectable_pixels, 1);
        assert_eq!(c.gain().pixels()[5], 0.0);
        let other = Frame::filled(4, 5, 0u16).unwrap();
        assert!(c.correct(&other).is_err());
        assert!(FlatFieldCorrection::new(&dark, &dark).is_err());
    }
}
