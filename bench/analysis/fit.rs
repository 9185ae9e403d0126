//! Straight-line fits by ordinary least squares, deviation from linearity, and the coefficient
//! of linearity used for X-ray output between adjacent settings.
//!
//! Numerical method: the data are centred on their (compensated) means first, and every sum
//! is taken over the centred values, Sxx = Σ(x − x̄)², Sxy = Σ(x − x̄)(y − ȳ), with
//! compensated summation. The normal equations on raw sums (Σx², Σxy) are never formed: they
//! cancel catastrophically when x has a large offset. Residuals are computed from the centred
//! values too, rᵢ = (yᵢ − ȳ) − b·(xᵢ − x̄).

use super::error::{AnalysisError, check_finite};
use super::stats::{CompensatedSum, mean};
use super::student::coverage_factor;
use serde::{Deserialize, Serialize};

/// The result of fitting y = intercept + slope·x to paired data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearFit {
    /// The number of points.
    pub n: usize,
    /// The slope b.
    pub slope: f64,
    /// The intercept a (the fitted y at x = 0).
    pub intercept: f64,
    /// The standard error of the slope.
    pub slope_std_error: f64,
    /// The standard error of the intercept.
    pub intercept_std_error: f64,
    /// The residual standard deviation s = √(Σrᵢ² / (n − 2)).
    pub residual_std_dev: f64,
    /// The coefficient of determination R² = 1 − Σrᵢ² / Σ(yᵢ − ȳ)²; 1 when y is constant
    /// (the line then explains all of the, zero, variation).
    pub r_squared: f64,
    /// The mean of x.
    pub x_mean: f64,
    /// The mean of y.
    pub y_mean: f64,
    /// Σ(xᵢ − x̄)², needed for confidence bands.
    pub sxx: f64,
    /// The x values, in input order.
    pub x: Vec<f64>,
    /// The residuals yᵢ − (a + b·xᵢ), in input order.
    pub residuals: Vec<f64>,
}

/// The largest deviations of the data from the fitted line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linearity {
    /// The largest |residual|, in the unit of y.
    pub max_abs_deviation: f64,
    /// The x at which the largest |residual| occurs.
    pub x_at_max_abs: f64,
    /// The largest |residual| / |fitted value|, as a ratio (0.02 is 2 %), over the points
    /// whose fitted value is not zero; `None` when every fitted value is zero.
    pub max_rel_deviation: Option<f64>,
    /// The x at which the largest relative deviation occurs.
    pub x_at_max_rel: Option<f64>,
}

impl LinearFit {
    /// Fits a straight line to `x` and `y`: at least three points (so that the residual
    /// standard deviation has a degree of freedom), finite values, x not constant.
    pub fn new(x: &[f64], y: &[f64]) -> Result<LinearFit, AnalysisError> {
        if x.len() != y.len() {
            return Err(AnalysisError::LengthMismatch {
                x_len: x.len(),
                y_len: y.len(),
            });
        }
        check_finite("a linear fit's x", x)?;
        check_finite("a linear fit's y", y)?;
        let n = x.len();
        if n < 3 {
            return Err(AnalysisError::TooFewPoints {
                what: "a linear fit",
                needed: 3,
                got: n,
            });
        }
        if x.iter().all(|&v| v == x[0]) {
            return Err(AnalysisError::ConstantX { value: x[0] });
        }
        let x_mean = mean(x)?;
        let y_mean = mean(y)?;
        let (mut sxx, mut sxy, mut syy) = (
            CompensatedSum::default(),
            CompensatedSum::default(),
            CompensatedSum::default(),
        );
        for (&xi, &yi) in x.iter().zip(y) {
            let (dx, dy) = (xi - x_mean, yi - y_mean);
            sxx.add(dx * dx);
            sxy.add(dx * dy);
            syy.add(dy * dy);
        }
        let (sxx, sxy, syy) = (sxx.total(), sxy.total(), syy.total());
        if !(sxx.is_finite() && sxy.is_finite() && syy.is_finite()) {
            return Err(too_large("a linear fit"));
        }
        if sxx <= 0.0 {
            return Err(AnalysisError::ConstantX { value: x_mean });
        }
        let slope = sxy / sxx;
        let intercept = y_mean - slope * x_mean;
        let residuals: Vec<f64> = x
            .iter()
            .zip(y)
            .map(|(&xi, &yi)| (yi - y_mean) - slope * (xi - x_mean))
            .collect();
        let mut sse = CompensatedSum::default();
        for r in &residuals {
            sse.add(r * r);
        }
        let sse = sse.total();
        let dof = (n - 2) as f64;
        let residual_std_dev = (sse / dof).sqrt();
        let slope_std_error = residual_std_dev / sxx.sqrt();
        let intercept_std_error =
            residual_std_dev * (1.0 / n as f64 + x_mean * x_mean / sxx).sqrt();
        let r_squared = if syy > 0.0 {
            (1.0 - sse / syy).clamp(0.0, 1.0)
        } else {
            1.0
        };
        if !(slope.is_finite() && intercept.is_finite() && residual_std_dev.is_finite()) {
            return Err(too_large("a linear fit"));
        }
        Ok(LinearFit {
            n,
            slope,
            intercept,
            slope_std_error,
            intercept_std_error,
            residual_std_dev,
            r_squared,
            x_mean,
            y_mean,
            sxx,
            x: x.to_vec(),
            residuals,
        })
    }

    /// The residual degrees of freedom, n − 2.
    pub fn degrees_of_freedom(&self) -> usize {
        self.n - 2
    }

    /// The fitted value a + b·x.
    pub fn predict(&self, x: f64) -> f64 {
        // Centred form: the same rounding as the residuals.
        self.y_mean + self.slope * (x - self.x_mean)
    }

    /// The half-width of the two-sided confidence interval of the fitted line (the mean
    /// response) at `x`, for a coverage probability `p` such as 0.95:
    /// t₍₁₊ₚ₎/₂,ₙ₋₂ · s · √(1/n + (x − x̄)²/Sxx).
    pub fn confidence_half_width(&self, x: f64, p: f64) -> Result<f64, AnalysisError> {
        let t = coverage_factor(p, self.degrees_of_freedom() as f64)?;
        let d = x - self.x_mean;
        Ok(t * self.residual_std_dev * (1.0 / self.n as f64 + d * d / self.sxx).sqrt())
    }

    /// The half-width of the two-sided prediction interval of one new observation at `x`:
    /// t · s · √(1 + 1/n + (x − x̄)²/Sxx).
    pub fn prediction_half_width(&self, x: f64, p: f64) -> Result<f64, AnalysisError> {
        let t = coverage_factor(p, self.degrees_of_freedom() as f64)?;
        let d = x - self.x_mean;
        Ok(t * self.residual_std_dev * (1.0 + 1.0 / self.n as f64 + d * d / self.sxx).sqrt())
    }

    /// The largest deviations from linearity, absolute and relative to the fitted value.
    pub fn linearity(&self) -> Linearity {
        let mut max_abs = (0.0, self.x[0]);
        let mut max_rel: Option<(f64, f64)> = None;
        for (&xi, &r) in self.x.iter().zip(&self.residuals) {
            if r.abs() > max_abs.0 {
                max_abs = (r.abs(), xi);
            }
            let fitted = self.predict(xi);
            if fitted != 0.0 {
                let rel = r.abs() / fitted.abs();
                if rel.is_finite() && max_rel.is_none_or(|(m, _)| rel > m) {
                    max_rel = Some((rel, xi));
                }
            }
        }
        Linearity {
            max_abs_deviation: max_abs.0,
            x_at_max_abs: max_abs.1,
            max_rel_deviation: max_rel.map(|(m, _)| m),
            x_at_max_rel: max_rel.map(|(_, x)| x),
        }
    }
}

/// The result of fitting y = slope·x, a straight line through the origin, to paired data
/// (a response proportional to its cause, such as air kerma to current-time product).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProportionalFit {
    /// The number of points.
    pub n: usize,
    /// The slope b = Σxᵢyᵢ / Σxᵢ².
    pub slope: f64,
    /// The standard error of the slope, s / √Σxᵢ².
    pub slope_std_error: f64,
    /// The residual standard deviation s = √(Σrᵢ² / (n − 1)).
    pub residual_std_dev: f64,
    /// The uncentred coefficient of determination 1 − Σrᵢ² / Σyᵢ², the usual (and NIST's)
    /// figure for a model without intercept; 1 when every y is zero.
    pub r_squared: f64,
    /// The x values, in input order.
    pub x: Vec<f64>,
    /// The residuals yᵢ − b·xᵢ, in input order.
    pub residuals: Vec<f64>,
}

impl ProportionalFit {
    /// Fits y = b·x to `x` and `y`: at least two points, finite values, not every x zero.
    pub fn new(x: &[f64], y: &[f64]) -> Result<ProportionalFit, AnalysisError> {
        if x.len() != y.len() {
            return Err(AnalysisError::LengthMismatch {
                x_len: x.len(),
                y_len: y.len(),
            });
        }
        check_finite("a proportional fit's x", x)?;
        check_finite("a proportional fit's y", y)?;
        let n = x.len();
        if n < 2 {
            return Err(AnalysisError::TooFewPoints {
                what: "a proportional fit",
                needed: 2,
                got: n,
            });
        }
        let (mut sxx, mut sxy, mut syy) = (
            CompensatedSum::default(),
            CompensatedSum::default(),
            CompensatedSum::default(),
        );
        for (&xi, &yi) in x.iter().zip(y) {
            sxx.add(xi * xi);
            sxy.add(xi * yi);
            syy.add(yi * yi);
        }
        let (sxx, sxy, syy) = (sxx.total(), sxy.total(), syy.total());
        if sxx <= 0.0 {
            return Err(AnalysisError::invalid(
                "data for a proportional fit",
                "every x value is zero: the slope is undefined",
            ));
        }
        let slope = sxy / sxx;
        let residuals: Vec<f64> = x.iter().zip(y).map(|(&xi, &yi)| yi - slope * xi).collect();
        let mut sse = CompensatedSum::default();
        for r in &residuals {
            sse.add(r * r);
        }
        let sse = sse.total();
        let residual_std_dev = (sse / (n - 1) as f64).sqrt();
        if !(slope.is_finite() && residual_std_dev.is_finite() && sxx.is_finite()) {
            return Err(too_large("a proportional fit"));
        }
        Ok(ProportionalFit {
            n,
            slope,
            slope_std_error: residual_std_dev / sxx.sqrt(),
            residual_std_dev,
            r_squared: if syy > 0.0 {
                (1.0 - sse / syy).clamp(0.0, 1.0)
            } else {
                1.0
            },
            x: x.to_vec(),
            residuals,
        })
    }
}

fn too_large(what: &'static str) -> AnalysisError {
    AnalysisError::invalid(
        "data",
        format!("the values are too large for {what} without overflow"),
    )
}

/// The coefficient of linearity of two adjacent outputs, |x₁ − x₂| / (x₁ + x₂), as a ratio.
///
/// Used for X-ray tube output (air kerma per mAs) between adjacent current or current-time
/// settings; both outputs must be finite and positive.
pub fn coefficient_of_linearity(x1: f64, x2: f64) -> Result<f64, AnalysisError> {
    check_finite("a coefficient of linearity", &[x1, x2])?;
    if x1 <= 0.0 || x2 <= 0.0 {
        return Err(AnalysisError::invalid(
            "outputs for a coefficient of linearity",
            format!("{x1} and {x2} must both be positive"),
        ));
    }
    Ok((x1 - x2).abs() / (x1 + x2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_fit() {
        // x = 1..5, y = 2.1, 3.9, 6.2, 7.8, 10.1: Sxx = 10, Sxy = 19.9, b = 1.99,
        // a = 6.02 − 1.99·3 = 0.05.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [2.1, 3.9, 6.2, 7.8, 10.1];
        let fit = LinearFit::new(&x, &y).unwrap();
        assert!((fit.slope - 1.99).abs() < 1e-13);
        assert!((fit.intercept - 0.05).abs() < 1e-13);
        // Residuals: 0.06, −0.13, 0.18, −0.21, 0.10; SSE = 0.107.
        let expected = [0.06, -0.13, 0.18, -0.21, 0.10];
        for (r, e) in fit.residuals.iter().zip(expected) {
            assert!((r - e).abs() < 1e-13, "{r} vs {e}");
        }
        let s = (0.107f64 / 3.0).sqrt();
        assert!((fit.residual_std_dev - s).abs() < 1e-13);
        assert!((fit.slope_std_error - s / 10f64.sqrt()).abs() < 1e-13);
        assert!((fit.intercept_std_error - s * (0.2f64 + 9.0 / 10.0).sqrt()).abs() < 1e-13);
        // Syy = Σ(y − 6.02)² = 39.708, R² = 1 − 0.107/39.708.
        assert!((fit.r_squared - (1.0 - 0.107 / 39.708)).abs() < 1e-13);
        let lin = fit.linearity();
        assert!((lin.max_abs_deviation - 0.21).abs() < 1e-13);
        assert_eq!(lin.x_at_max_abs, 4.0);
        // Relative: |r|/ŷ is 0.029, 0.032, 0.030, 0.026, 0.010: largest at x = 2.
        let rel2 = 0.13 / 4.03;
        assert!((lin.max_rel_deviation.unwrap() - rel2).abs() < 1e-13);
        assert_eq!(lin.x_at_max_rel, Some(2.0));
        // Confidence band at the mean: t(0.975, 3) · s / √5.
        let half = fit.confidence_half_width(3.0, 0.95).unwrap();
        assert!((half - 3.182_446_305 * s / 5f64.sqrt()).abs() < 1e-8);
        let wider = fit.confidence_half_width(5.0, 0.95).unwrap();
        assert!(wider > half);
        assert!(fit.prediction_half_width(3.0, 0.95).unwrap() > half);
    }

    #[test]
    fn refuses_degenerate_data() {
        assert!(matches!(
            LinearFit::new(&[1.0, 2.0], &[1.0, 2.0]),
            Err(AnalysisError::TooFewPoints {
                needed: 3,
                got: 2,
                ..
            })
        ));
        assert!(matches!(
            LinearFit::new(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]),
            Err(AnalysisError::ConstantX { .. })
        ));
        assert!(matches!(
            LinearFit::new(&[1.0, 2.0, 3.0], &[1.0, 2.0]),
            Err(AnalysisError::LengthMismatch { .. })
        ));
        assert!(LinearFit::new(&[1.0, 2.0, f64::NAN], &[1.0, 2.0, 3.0]).is_err());
        let huge = LinearFit::new(&[-1e300, 0.0, 1e300], &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(huge.to_string().contains("too large"), "{huge}");
    }

    #[test]
    fn constant_y_gives_a_flat_line() {
        let fit = LinearFit::new(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]).unwrap();
        assert_eq!((fit.slope, fit.intercept, fit.r_squared), (0.0, 4.0, 1.0));
    }

    #[test]
    fn hand_computed_proportional_fit() {
        // x = 1, 2, 3; y = 2, 4, 7: Σxy = 31, Σx² = 14, b = 31/14; residuals
        // 2 − 31/14, 4 − 62/14, 7 − 93/14 = −3/14, −6/14, 5/14; SSE = 70/196.
        let fit = ProportionalFit::new(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]).unwrap();
        assert!((fit.slope - 31.0 / 14.0).abs() < 1e-15);
        let s = (70.0f64 / 196.0 / 2.0).sqrt();
        assert!((fit.residual_std_dev - s).abs() < 1e-15);
        assert!((fit.slope_std_error - s / 14f64.sqrt()).abs() < 1e-15);
        assert!((fit.r_squared - (1.0 - 70.0 / 196.0 / 69.0)).abs() < 1e-15);
        assert!((fit.residuals[1] + 6.0 / 14.0).abs() < 1e-15);
        assert!(ProportionalFit::new(&[0.0, 0.0], &[1.0, 2.0]).is_err());
        assert!(ProportionalFit::new(&[1.0], &[1.0]).is_err());
    }

    #[test]
    fn coefficient_of_linearity_of_adjacent_settings() {
        assert!((coefficient_of_linearity(10.0, 9.0).unwrap() - 1.0 / 19.0).abs() < 1e-15);
        assert_eq!(coefficient_of_linearity(5.0, 5.0).unwrap(), 0.0);
        assert!(coefficient_of_linearity(0.0, 1.0).is_err());
        assert!(coefficient_of_linearity(f64::NAN, 1.0).is_err());
    }

    proptest! {
        #[test]
        fn exactly_linear_data_recovers_the_line(
            a in -1e3f64..1e3,
            b in -1e2f64..1e2,
            x0 in -1e3f64..1e3,
            step in 0.1f64..10.0,
            n in 3usize..40,
        ) {
            let x: Vec<f64> = (0..n).map(|i| x0 + step * i as f64).collect();
            let y: Vec<f64> = x.iter().map(|xi| a + b * xi).collect();
            let fit = LinearFit::new(&x, &y).unwrap();
            let scale = a.abs() + b.abs() * (x0.abs() + step * n as f64) + 1.0;
            prop_assert!((fit.slope - b).abs() <= 1e-9 * (b.abs() + scale / step));
            prop_assert!((fit.intercept - a).abs() <= 1e-9 * scale * (1.0 + x0.abs() / step));
            for r in &fit.residuals {
                prop_assert!(r.abs() <= 1e-10 * scale);
            }
        }

        #[test]
        fn shifting_the_data_does_not_change_slope_or_residuals(
            points in prop::collection::vec((-100f64..100.0, -100f64..100.0), 3..30),
            dx in -1e5f64..1e5,
            dy in -1e5f64..1e5,
        ) {
            let x: Vec<f64> = points.iter().map(|p| p.0).collect();
            let y: Vec<f64> = points.iter().map(|p| p.1).collect();
            prop_assume!(x.iter().any(|v| (v - x[0]).abs() > 1e-3));
            let plain = LinearFit::new(&x, &y).unwrap();
            let xs: Vec<f64> = x.iter().map(|v| v + dx).collect();
            let ys: Vec<f64> = y.iter().map(|v| v + dy).collect();
            let moved = LinearFit::new(&xs, &ys).unwrap();
            // The shifted inputs carry a rounding δ of about ulp(1e5)/2 ≈ 7e-12 each, which
            // moves the slope by at most δ(1 + |b|)·√n/√Sxx and a residual by n·δ(1 + |b|).
            let carried = 1e-9 * (1.0 + plain.slope.abs());
            let n = x.len() as f64;
            prop_assert!(
                (plain.slope - moved.slope).abs() <= carried * n.sqrt() / plain.sxx.sqrt(),
                "{} vs {}", plain.slope, moved.slope
            );
            for (r, s) in plain.residuals.iter().zip(&moved.residuals) {
                prop_assert!((r - s).abs() <= carried * n);
            }
        }
    }
}
