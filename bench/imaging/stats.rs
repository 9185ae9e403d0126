//! Statistics of regions of interest: mean, standard deviation, signal-to-noise ratio; dark
//! offset and dark noise; running statistics for series of frames.
//!
//! Numerical method: a ROI's sums are taken about its first pixel (a shift that keeps the
//! sum of squares small when the signal sits far above zero), in `f64`, with the sample
//! standard deviation (n − 1).

use super::error::ImagingError;
use super::frame::{Frame, Pixel, Roi};
use serde::{Deserialize, Serialize};

/// The statistics of the pixels of one region of interest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiStats {
    /// The region.
    pub roi: Roi,
    /// The number of pixels.
    pub n: usize,
    /// The mean pixel value.
    pub mean: f64,
    /// The sample standard deviation of the pixel values (0 for a single pixel).
    pub std_dev: f64,
    /// mean / standard deviation; `None` when the standard deviation is zero.
    pub snr: Option<f64>,
}

/// Sums of a block of pixels about a shift, merged across rows and threads.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Moments {
    pub(crate) n: usize,
    pub(crate) shift: f64,
    pub(crate) sum: f64,
    pub(crate) sum_sq: f64,
}

impl Moments {
    /// Adds one row of pixels (the shift must have been set).
    #[inline]
    pub(crate) fn add_row<T: Pixel>(&mut self, row: &[T]) {
        let k = self.shift;
        let (mut s, mut s2) = (0.0, 0.0);
        for &p in row {
            let d = p.to_f64() - k;
            s += d;
            s2 += d * d;
        }
        self.n += row.len();
        self.sum += s;
        self.sum_sq += s2;
    }

    pub(crate) fn mean(&self) -> f64 {
        self.shift + self.sum / self.n as f64
    }

    pub(crate) fn variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0)).max(0.0)
    }
}

/// The statistics of `roi` in `frame` (which must contain it).
pub fn roi_stats<T: Pixel>(frame: &Frame<T>, roi: &Roi) -> Result<RoiStats, ImagingError> {
    frame.check_roi(roi)?;
    Ok(roi_stats_unchecked(frame, roi))
}

pub(crate) fn roi_stats_unchecked<T: Pixel>(frame: &Frame<T>, roi: &Roi) -> RoiStats {
    let mut m = Moments {
        shift: frame.roi_row(roi, 0)[0].to_f64(),
        ..Moments::default()
    };
    for y in 0..roi.height {
        m.add_row(frame.roi_row(roi, y));
    }
    let (mean, std_dev) = (m.mean(), m.variance().sqrt());
    RoiStats {
        roi: *roi,
        n: m.n,
        mean,
        std_dev,
        snr: (std_dev > 0.0).then(|| mean / std_dev),
    }
}

/// The five ROIs of `size × size` commonly used for multiple-ROI checks: the centre, then
/// the centres of the four quadrants (upper left, upper right, lower left, lower right).
pub fn five_rois(width: usize, height: usize, size: usize) -> Result<Vec<Roi>, ImagingError> {
    let centres = [
        (width / 2, height / 2),
        (width / 4, height / 4),
        (3 * width / 4, height / 4),
        (width / 4, 3 * height / 4),
        (3 * width / 4, 3 * height / 4),
    ];
    centres
        .iter()
        .map(|&(cx, cy)| {
            Roi::centred(cx, cy, size, size)
                .filter(|r| size > 0 && r.x + r.width <= width && r.y + r.height <= height)
                .ok_or_else(|| {
                    ImagingError::invalid(
                        "ROI size",
                        format!("{size}-pixel ROIs do not fit at the quadrant centres of a {width}×{height} frame"),
                    )
                })
        })
        .collect()
}

/// The statistics of several ROIs of one frame, in the order given.
pub fn multi_roi_stats<T: Pixel>(
    frame: &Frame<T>,
    rois: &[Roi],
) -> Result<Vec<RoiStats>, ImagingError> {
    rois.iter().map(|r| roi_stats(frame, r)).collect()
}

/// The dark offset and dark noise of a frame acquired without exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DarkStats {
    /// The region analysed.
    pub roi: Roi,
    /// The offset: the mean pixel value.
    pub offset: f64,
    /// The total dark noise: the standard deviation of the pixel values (fixed pattern
    /// and temporal noise together).
    pub noise: f64,
}

/// The dark offset and noise of `roi` of a dark frame.
pub fn dark_stats<T: Pixel>(frame: &Frame<T>, roi: &Roi) -> Result<DarkStats, ImagingError> {
    let s = roi_stats(frame, roi)?;
    Ok(DarkStats {
        roi: s.roi,
        offset: s.mean,
        noise: s.std_dev,
    })
}

/// Running mean and variance of a stream of values (Welford's method): one value at a time,
/// nothing kept but three numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunningStats {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
}

impl RunningStats {
    /// Adds one value.
    pub fn push(&mut self, value: f64) {
        self.n += 1;
        if self.n == 1 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        let delta = value - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (value - self.mean);
    }

    /// The number of values.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The mean (0 before any value).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The sample variance (n − 1); 0 with fewer than two values.
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }

    /// The sample standard deviation.
    pub fn std_dev(&self) -> f64 {
        self.variance().sqrt()
    }

    /// The smallest value (0 before any value).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// The largest value (0 before any value).
    pub fn max(&self) -> f64 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stats_of_a_known_block() {
        let f = Frame::new(3, 2, vec![1u16, 2, 3, 4, 5, 6]).unwrap();
        let s = roi_stats(&f, &Roi::new(0, 0, 3, 2)).unwrap();
        assert_eq!(s.n, 6);
        assert!((s.mean - 3.5).abs() < 1e-12);
        assert!((s.std_dev - 3.5f64.sqrt()).abs() < 1e-12);
        let s = roi_stats(&f, &Roi::new(1, 1, 2, 1)).unwrap();
        assert!((s.mean - 5.5).abs() < 1e-12);
        assert!(roi_stats(&f, &Roi::new(2, 1, 2, 1)).is_err());
        let flat = Frame::filled(4, 4, 7u16).unwrap();
        assert_eq!(roi_stats(&flat, &flat.full_roi()).unwrap().snr, None);
    }

    #[test]
    fn five_rois_sit_at_the_quadrant_centres() {
        let r = five_rois(100, 100, 10).unwrap();
        assert_eq!(r[0], Roi::new(45, 45, 10, 10));
        assert_eq!(r[4], Roi::new(70, 70, 10, 10));
        assert!(five_rois(10, 10, 8).is_err());
    }

    #[test]
    fn running_stats_match_the_two_pass_values() {
        let mut r = RunningStats::default();
        for v in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            r.push(v);
        }
        assert_eq!(r.count(), 8);
        assert!((r.mean() - 5.0).abs() < 1e-12);
        assert!((r.variance() - 32.0 / 7.0).abs() < 1e-12);
        assert_eq!((r.min(), r.max()), (2.0, 9.0));
    }

    proptest! {
        #[test]
        fn sd_is_invariant_to_a_constant(
            pixels in proptest::collection::vec(0u16..30000, 16..64),
            offset in 0u16..30000,
        ) {
            let w = 4;
            let h = pixels.len() / w;
            let pixels = pixels[..w * h].to_vec();
            let shifted: Vec<u16> = pixels.iter().map(|p| p + offset).collect();
            let a = Frame::new(w, h, pixels).unwrap();
            let b = Frame::new(w, h, shifted).unwrap();
            let sa = roi_stats(&a, &a.full_roi()).unwrap();
            let sb = roi_stats(&b, &b.full_roi()).unwrap();
            prop_assert!((sa.std_dev - sb.std_dev).abs() <= 1e-9 * (1.0 + sa.std_dev));
            prop_assert!((sb.mean - sa.mean - f64::from(offset)).abs() <= 1e-9 * sb.mean.max(1.0));
        }
    }
}
