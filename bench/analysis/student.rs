//! Coverage factors from Student's t distribution (JCGM 100, annex G).

use super::error::AnalysisError;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Degrees of freedom above which Student's t is replaced by the normal distribution: the
/// difference in a 95 % coverage factor is below 1e-7 there, and statrs' incomplete-beta
/// inversion is less accurate than its normal quantile for huge ν.
const NORMAL_ABOVE: f64 = 1e7;

/// The two-sided coverage factor k for a coverage probability `p` (0 < p < 1) and `dof`
/// degrees of freedom (≥ 1, or infinite): the (1 + p)/2 quantile of Student's t.
///
/// Non-integer degrees of freedom (from Welch–Satterthwaite) are truncated to the next lower
/// integer, as JCGM 100 G.6.4 allows; this errs on the side of a larger k.
pub fn coverage_factor(p: f64, dof: f64) -> Result<f64, AnalysisError> {
    if !(p > 0.0 && p < 1.0) {
        return Err(AnalysisError::invalid(
            "coverage probability",
            format!("{p} is not strictly between 0 and 1"),
        ));
    }
    if dof.is_nan() || dof * (1.0 + 1e-12) < 1.0 {
        return Err(AnalysisError::invalid(
            "degrees of freedom",
            format!("{dof} is below 1; a coverage factor needs at least one degree of freedom"),
        ));
    }
    let quantile = 0.5 * (1.0 + p);
    let k = if dof >= NORMAL_ABOVE {
        Normal::standard().inverse_cdf(quantile)
    } else {
        // Welch–Satterthwaite can land a hair below an integer it equals exactly (one
        // type-A input alone gives ν_eff = ν up to rounding); allow for that before truncating.
        let t = StudentsT::new(0.0, 1.0, (dof * (1.0 + 1e-12)).floor())
            .map_err(|e| AnalysisError::invalid("degrees of freedom", e.to_string()))?;
        t.inverse_cdf(quantile)
    };
    if k.is_finite() && k > 0.0 {
        Ok(k)
    } else {
        Err(AnalysisError::invalid(
            "coverage factor",
            format!("no finite Student t quantile for p = {p}, ν = {dof}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_t_table_values() {
        // Two-sided 95 % points of Student's t (JCGM 100 table G.2 and standard tables).
        let cases = [
            (1.0, 12.706_204_736),
            (2.0, 4.302_652_730),
            (5.0, 2.570_581_836),
            (10.0, 2.228_138_852),
            (16.0, 2.119_905_299),
            (30.0, 2.042_272_456),
            (f64::INFINITY, 1.959_963_985),
        ];
        for (dof, expected) in cases {
            let k = coverage_factor(0.95, dof).unwrap();
            assert!((k - expected).abs() < 1e-8, "ν = {dof}: {k} vs {expected}");
        }
        // 95.45 % with infinite ν is the familiar k = 2.
        assert!((coverage_factor(0.9545, f64::INFINITY).unwrap() - 2.0).abs() < 1e-3);
    }

    #[test]
    fn truncates_fractional_degrees_of_freedom() {
        assert_eq!(
            coverage_factor(0.95, 10.9).unwrap(),
            coverage_factor(0.95, 10.0).unwrap()
        );
    }

    #[test]
    fn refuses_bad_parameters() {
        assert!(coverage_factor(1.0, 5.0).is_err());
        assert!(coverage_factor(0.0, 5.0).is_err());
        assert!(coverage_factor(f64::NAN, 5.0).is_err());
        assert!(coverage_factor(0.95, 0.5).is_err());
        assert!(coverage_factor(0.95, f64::NAN).is_err());
    }
}
