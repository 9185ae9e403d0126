//! Summary statistics of repeated measurements: mean, standard deviation, coefficient of
//! variation, extremes and percentiles.
//!
//! Numerical method: sums use Neumaier's compensated summation, and the standard deviation is
//! computed in two passes (mean first, then the sum of squared deviations from it, with the
//! "corrected two-pass" term that removes the residual error of the mean). This keeps full
//! precision on data with a large offset and a small spread, such as the NIST StRD NumAcc
//! data sets, where the one-pass textbook formula loses every digit.

use super::error::{AnalysisError, check_finite};
use serde::{Deserialize, Serialize};

/// A sum with a running compensation term (Neumaier's variant of Kahan summation).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    /// Adds one term.
    pub(crate) fn add(&mut self, value: f64) {
        let t = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - t) + value;
        } else {
            self.compensation += (value - t) + self.sum;
        }
        self.sum = t;
    }

    /// The compensated total.
    pub(crate) fn total(self) -> f64 {
        self.sum + self.compensation
    }
}

/// The compensated sum of `values`.
pub(crate) fn sum<I: IntoIterator<Item = f64>>(values: I) -> f64 {
    let mut s = CompensatedSum::default();
    for v in values {
        s.add(v);
    }
    s.total()
}

/// The arithmetic mean of finite `values`, computed with compensated summation and one
/// refinement step (the mean of the deviations from the first estimate is added back).
pub fn mean(values: &[f64]) -> Result<f64, AnalysisError> {
    check_finite("a mean", values)?;
    Ok(mean_unchecked(values))
}

fn mean_unchecked(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let first = sum(values.iter().copied()) / n;
    // The refinement removes the rounding left in `first`; on well-scaled data it is zero.
    first + sum(values.iter().map(|v| v - first)) / n
}

/// Summary statistics of a sample of at least two finite values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The number of values.
    pub n: usize,
    /// The arithmetic mean.
    pub mean: f64,
    /// The sample standard deviation, with denominator n − 1.
    pub std_dev: f64,
    /// The coefficient of variation, `std_dev / |mean|`, as a ratio (0.01 is 1 %); `None` when
    /// the mean is zero (or so close to it that the ratio overflows).
    pub cv: Option<f64>,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The standard deviation of the mean (standard error), `std_dev / √n`.
    pub std_error_of_mean: f64,
}

impl Summary {
    /// Summarises `values`: at least two values, all finite.
    pub fn of(values: &[f64]) -> Result<Summary, AnalysisError> {
        check_finite("a summary", values)?;
        if values.len() < 2 {
            return Err(AnalysisError::TooFewPoints {
                what: "a standard deviation",
                needed: 2,
                got: values.len(),
            });
        }
        let n = values.len();
        let mean = mean_unchecked(values);
        let std_dev = (sum_of_squared_deviations(values, mean) / (n - 1) as f64).sqrt();
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in values {
            min = min.min(v);
            max = max.max(v);
        }
        if !(mean.is_finite() && std_dev.is_finite()) {
            return Err(AnalysisError::invalid(
                "data for a summary",
                "the values are too large to summarise without overflow",
            ));
        }
        Ok(Summary {
            n,
            mean,
            std_dev,
            cv: Some(std_dev / mean.abs()).filter(|cv| cv.is_finite()),
            min,
            max,
            std_error_of_mean: std_dev / (n as f64).sqrt(),
        })
    }

    /// The sample variance (denominator n − 1).
    pub fn variance(&self) -> f64 {
        self.std_dev * self.std_dev
    }

    /// The range, `max − min`.
    pub fn range(&self) -> f64 {
        self.max - self.min
    }
}

/// Σ (xᵢ − m)² with the corrected two-pass term −(Σ (xᵢ − m))² / n.
pub(crate) fn sum_of_squared_deviations(values: &[f64], mean: f64) -> f64 {
    let n = values.len() as f64;
    let mut squares = CompensatedSum::default();
    let mut plain = CompensatedSum::default();
    for &v in values {
        let d = v - mean;
        squares.add(d * d);
        plain.add(d);
    }
    let correction = plain.total();
    let sum = squares.total() - correction * correction / n;
    // Rounding can leave a tiny negative sum for constant data; `max` is not used because
    // it would turn the NaN of an overflow into 0.
    if sum < 0.0 { 0.0 } else { sum }
}

/// The `p`-th percentile (0 ≤ p ≤ 100) of finite `values`.
///
/// Method: linear interpolation between order statistics, Hyndman and Fan's type 7 (the
/// default of R and of spreadsheet `PERCENTILE`): with the values sorted as x₁ ≤ … ≤ xₙ and
/// h = (n − 1)·p/100, the result is x₍⌊h⌋+1₎ + (h − ⌊h⌋)·(x₍⌊h⌋+2₎ − x₍⌊h⌋+1₎).
pub fn percentile(values: &[f64], p: f64) -> Result<f64, AnalysisError> {
    Ok(percentiles(values, &[p])?[0])
}

/// Several percentiles of the same values (type 7, see [`percentile`]), sorting only once.
pub fn percentiles(values: &[f64], ps: &[f64]) -> Result<Vec<f64>, AnalysisError> {
    check_finite("a percentile", values)?;
    if let Some(p) = ps.iter().find(|p| !(0.0..=100.0).contains(*p)) {
        return Err(AnalysisError::invalid(
            "percentile",
            format!("{p} is outside 0 to 100"),
        ));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len() - 1;
    Ok(ps
        .iter()
        .map(|p| {
            let h = last as f64 * p / 100.0;
            let lower = (h.floor() as usize).min(last);
            let upper = (lower + 1).min(last);
            let fraction = h - lower as f64;
            sorted[lower] + fraction * (sorted[upper] - sorted[lower])
        })
        .collect())
}

/// The median (the 50th percentile, type 7).
pub fn median(values: &[f64]) -> Result<f64, AnalysisError> {
    percentile(values, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
    }

    #[test]
    fn summary_of_a_small_sample() {
        let s = Summary::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(s.n, 8);
        assert_eq!(s.mean, 5.0);
        // Σ(x − 5)² = 32, so s² = 32/7.
        assert!(close(s.std_dev, (32.0f64 / 7.0).sqrt(), 1e-15));
        assert!(close(s.cv.unwrap(), s.std_dev / 5.0, 1e-15));
        assert!(close(s.std_error_of_mean, s.std_dev / 8f64.sqrt(), 1e-15));
        assert_eq!((s.min, s.max, s.range()), (2.0, 9.0, 7.0));
    }

    #[test]
    fn summary_refuses_bad_input() {
        assert!(matches!(Summary::of(&[]), Err(AnalysisError::Empty { .. })));
        assert!(matches!(
            Summary::of(&[1.0]),
            Err(AnalysisError::TooFewPoints { .. })
        ));
        assert!(matches!(
            Summary::of(&[1.0, f64::INFINITY]),
            Err(AnalysisError::NonFinite { index: 2, .. })
        ));
        assert!(mean(&[f64::NAN]).is_err());
        assert!(Summary::of(&[1e308, -1e308]).is_err());
    }

    #[test]
    fn cv_is_none_for_a_zero_mean() {
        assert_eq!(Summary::of(&[-1.0, 1.0]).unwrap().cv, None);
    }

    #[test]
    fn large_offset_small_spread_keeps_its_digits() {
        // 1e9 + {1, 2, 3}: the one-pass formula loses everything here.
        let s = Summary::of(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]).unwrap();
        assert_eq!(s.mean, 1e9 + 2.0);
        assert_eq!(s.std_dev, 1.0);
    }

    #[test]
    fn percentiles_interpolate_linearly() {
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&v, 0.0).unwrap(), 15.0);
        assert_eq!(percentile(&v, 100.0).unwrap(), 50.0);
        assert_eq!(median(&v).unwrap(), 35.0);
        // h = 4 · 0.4 = 1.6: 20 + 0.6 · 15 = 29.
        assert!(close(percentile(&v, 40.0).unwrap(), 29.0, 1e-15));
        assert_eq!(
            percentiles(&[3.0, 1.0, 2.0, 4.0], &[50.0]).unwrap(),
            vec![2.5]
        );
        assert_eq!(percentile(&[7.0], 30.0).unwrap(), 7.0);
        assert!(percentile(&v, 101.0).is_err());
        assert!(percentile(&v, f64::NAN).is_err());
        assert!(percentile(&[], 50.0).is_err());
    }

    proptest! {
        #[test]
        fn statistics_do_not_depend_on_order(
            mut values in prop::collection::vec(-1e6f64..1e6, 2..60),
            seed in any::<u64>(),
        ) {
            let before = Summary::of(&values).unwrap();
            // A deterministic shuffle driven by the seed.
            let mut state = seed | 1;
            for i in (1..values.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                values.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let after = Summary::of(&values).unwrap();
            let scale = before.mean.abs().max(before.std_dev).max(1.0);
            prop_assert!((before.mean - after.mean).abs() <= 1e-12 * scale);
            prop_assert!((before.std_dev - after.std_dev).abs() <= 1e-12 * scale);
            prop_assert_eq!(before.min, after.min);
            prop_assert_eq!(before.max, after.max);
            prop_assert_eq!(percentile(&values, 37.0).unwrap(),
                percentile(&values.iter().rev().copied().collect::<Vec<_>>(), 37.0).unwrap());
        }

        #[test]
        fn shifting_does_not_change_the_standard_deviation(
            values in prop::collection::vec(-1e3f64..1e3, 2..60),
            shift in -1e6f64..1e6,
        ) {
            let plain = Summary::of(&values).unwrap();
            let shifted: Vec<f64> = values.iter().map(|v| v + shift).collect();
            let moved = Summary::of(&shifted).unwrap();
            // The shifted values themselves carry a rounding of about ulp(shift).
            let tolerance = 1e-9 * (plain.std_dev + 1.0) + 4.0 * f64::EPSILON * shift.abs();
            prop_assert!((plain.std_dev - moved.std_dev).abs() <= tolerance,
                "{} vs {}", plain.std_dev, moved.std_dev);
        }
    }
}
