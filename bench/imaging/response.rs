//! The detector's response: the conversion function (mean pixel value against air kerma)
//! and lag (the signal left in a dark frame after an exposure).
//!
//! The fit is [`analysis::LinearFit`](crate::analysis::LinearFit) (PV = a·K + b by ordinary
//! least squares): this module only collects the points and names the figures a detector
//! qualification checks.

use super::error::ImagingError;
use super::frame::{Frame, Pixel, Roi};
use super::stats::roi_stats;
use crate::analysis::LinearFit;
use serde::{Deserialize, Serialize};

/// The fewest air-kerma levels a conversion function is fitted on (IEC 62220-1-1 practice
/// and the detector qualification ask for at least five).
pub const MIN_KERMA_LEVELS: usize = 5;

/// One point of the conversion function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionPoint {
    /// The air kerma at the detector surface, µGy.
    pub air_kerma_ugy: f64,
    /// The mean pixel value of the central ROI at that kerma.
    pub mean_pixel_value: f64,
}

/// A linear conversion function PV = slope · K + intercept and its deviations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversionFunction {
    /// The points fitted, in the order given.
    pub points: Vec<ConversionPoint>,
    /// The slope, pixel value per µGy.
    pub slope: f64,
    /// The intercept, pixel value (the offset seen by the fit).
    pub intercept: f64,
    /// The coefficient of determination.
    pub r_squared: f64,
    /// The largest |residual| / fitted value over the points, as a ratio (0.02 is 2 %).
    pub max_rel_deviation: f64,
    /// The air kerma at which that largest relative deviation occurs, µGy.
    pub max_rel_deviation_at_ugy: f64,
    /// The largest |residual|, pixel value.
    pub max_abs_deviation: f64,
    /// The whole fit (standard errors, residuals).
    pub fit: LinearFit,
}

/// Fits the conversion function to at least [`MIN_KERMA_LEVELS`] points.
pub fn conversion_function(points: &[ConversionPoint]) -> Result<ConversionFunction, ImagingError> {
    if points.len() < MIN_KERMA_LEVELS {
        return Err(ImagingError::TooFew {
            what: "a conversion function (air-kerma levels)",
            needed: MIN_KERMA_LEVELS,
            got: points.len(),
        });
    }
    let x: Vec<f64> = points.iter().map(|p| p.air_kerma_ugy).collect();
    let y: Vec<f64> = points.iter().map(|p| p.mean_pixel_value).collect();
    let fit = LinearFit::new(&x, &y).map_err(|source| ImagingError::Analysis {
        what: "the conversion function",
        source,
    })?;
    let lin = fit.linearity();
    Ok(ConversionFunction {
        points: points.to_vec(),
        slope: fit.slope,
        intercept: fit.intercept,
        r_squared: fit.r_squared,
        max_rel_deviation: lin.max_rel_deviation.unwrap_or(0.0),
        max_rel_deviation_at_ugy: lin.x_at_max_rel.unwrap_or(x[0]),
        max_abs_deviation: lin.max_abs_deviation,
        fit,
    })
}

/// Lag: the residual signal in a dark frame acquired after an exposure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lag {
    /// The region measured.
    pub roi: Roi,
    /// The mean of the dark frame before the exposure (the offset).
    pub dark_before: f64,
    /// The mean of the exposed frame.
    pub exposed: f64,
    /// The mean of the dark frame after the exposure.
    pub dark_after: f64,
    /// (dark after − dark before) / (exposed − dark before), as a ratio (0.01 is 1 %).
    pub fraction: f64,
}

/// The lag of `roi` from a dark frame before an exposure, the exposed frame, and the first
/// dark frame after it.
pub fn lag<T: Pixel>(
    dark_before: &Frame<T>,
    exposed: &Frame<T>,
    dark_after: &Frame<T>,
    roi: &Roi,
) -> Result<Lag, ImagingError> {
    let before = roi_stats(dark_before, roi)?.mean;
    let exposed = roi_stats(exposed, roi)?.mean;
    let after = roi_stats(dark_after, roi)?.mean;
    let signal = exposed - before;
    if signal.is_nan() || signal <= 0.0 {
        return Err(ImagingError::invalid(
            "exposed frame",
            format!("its mean {exposed} is not above the dark frame's {before}"),
        ));
    }
    Ok(Lag {
        roi: *roi,
        dark_before: before,
        exposed,
        dark_after: after,
        fraction: (after - before) / signal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_response_fits_exactly() {
        let points: Vec<ConversionPoint> = [0.5, 1.0, 2.5, 5.0, 10.0, 20.0]
            .iter()
            .map(|&k| ConversionPoint {
                air_kerma_ugy: k,
                mean_pixel_value: 100.0 + 1500.0 * k,
            })
            .collect();
        let c = conversion_function(&points).unwrap();
        assert!((c.slope - 1500.0).abs() < 1e-9);
        assert!((c.intercept - 100.0).abs() < 1e-7);
        assert!((c.r_squared - 1.0).abs() < 1e-12);
        assert!(c.max_rel_deviation < 1e-12);
        assert!(conversion_function(&points[..4]).is_err());
    }

    #[test]
    fn lag_of_a_known_fraction() {
        let before = Frame::filled(10, 10, 100u16).unwrap();
        let exposed = Frame::filled(10, 10, 10_100u16).unwrap();
        let after = Frame::filled(10, 10, 130u16).unwrap();
        let l = lag(&before, &exposed, &after, &Roi::new(2, 2, 6, 6)).unwrap();
        assert!((l.fraction - 0.003).abs() < 1e-12);
        assert!(lag(&before, &before, &after, &Roi::new(2, 2, 6, 6)).is_err());
    }
}
