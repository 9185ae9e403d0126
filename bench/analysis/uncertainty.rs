//! Measurement uncertainty per JCGM 100 (the GUM): contributions, the combined standard
//! uncertainty, Welch–Satterthwaite effective degrees of freedom, the coverage factor from
//! Student's t, and the expanded uncertainty.
//!
//! The model is the GUM's first-order one for independent inputs:
//! u_c = √Σ(cᵢ·uᵢ)², ν_eff = u_c⁴ / Σ((cᵢ·uᵢ)⁴/νᵢ), k = t₍₁₊ₚ₎/₂(ν_eff), U = k·u_c.
//! Correlated inputs are not modelled. Every type here serializes, so an
//! [`UncertaintyBudget`] can be stored in the run record as it is.

use super::accuracy::AccuracySpec;
use super::error::{AnalysisError, check_finite};
use super::stats::Summary;
use super::student::coverage_factor;
use crate::units::{Quantity, Unit};
use serde::{Deserialize, Serialize};

/// The coverage probability used when a procedure does not state one.
pub const DEFAULT_COVERAGE_PROBABILITY: f64 = 0.95;

/// How a standard uncertainty was evaluated (JCGM 100 §4.2 and §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationType {
    /// Type A: statistical analysis of a series of observations.
    TypeA,
    /// Type B: other means (specifications, certificates, resolution, experience).
    TypeB,
}

/// The probability distribution assumed for an input quantity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Distribution {
    /// Normal, with the stated value being an expanded uncertainty at coverage factor `k`
    /// (a calibration certificate's "U = 0.2 mL, k = 2"); a type-A evaluation is Normal with
    /// k = 1.
    Normal {
        /// The coverage factor of the stated value.
        k: f64,
    },
    /// Rectangular (uniform) between ± the half-width: u = a/√3.
    Rectangular,
    /// Triangular (symmetric) between ± the half-width: u = a/√6.
    Triangular,
    /// U-shaped (arcsine) between ± the half-width, such as a sinusoidal fluctuation: u = a/√2.
    UShaped,
}

impl Distribution {
    /// The divisor that turns the stated value (half-width or expanded uncertainty) into a
    /// standard uncertainty.
    pub fn divisor(self) -> f64 {
        match self {
            Distribution::Normal { k } => k,
            Distribution::Rectangular => 3f64.sqrt(),
            Distribution::Triangular => 6f64.sqrt(),
            Distribution::UShaped => 2f64.sqrt(),
        }
    }
}

/// One line of an uncertainty budget: an input quantity and its standard uncertainty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    /// What the input is ("reference analyzer accuracy", "repeatability").
    pub name: String,
    /// How the standard uncertainty was evaluated.
    pub kind: EvaluationType,
    /// The distribution assumed.
    pub distribution: Distribution,
    /// The input's estimate (a mean, a reading), when there is one.
    pub value: Option<f64>,
    /// The stated half-width (rectangular, triangular, U-shaped) or expanded uncertainty
    /// (normal), in `unit`, before division by the distribution's divisor.
    pub half_width: Option<f64>,
    /// The standard uncertainty uᵢ, in `unit`.
    pub standard_uncertainty: f64,
    /// The unit of `value`, `half_width` and `standard_uncertainty`.
    pub unit: Unit,
    /// The sensitivity coefficient cᵢ = ∂y/∂xᵢ, in output unit per `unit`.
    pub sensitivity: f64,
    /// The degrees of freedom νᵢ; infinite for a type-B estimate taken as exactly known
    /// (written `"inf"` in JSON).
    #[serde(with = "super::float_serde::float")]
    pub degrees_of_freedom: f64,
}

impl Contribution {
    /// A type-A contribution from repeated observations: the value is their mean, the standard
    /// uncertainty the standard deviation of the mean s/√n, with ν = n − 1.
    pub fn type_a(
        name: impl Into<String>,
        observations: &[f64],
        unit: Unit,
    ) -> Result<Contribution, AnalysisError> {
        let summary = Summary::of(observations)?;
        Ok(Contribution {
            name: name.into(),
            kind: EvaluationType::TypeA,
            distribution: Distribution::Normal { k: 1.0 },
            value: Some(summary.mean),
            half_width: None,
            standard_uncertainty: summary.std_error_of_mean,
            unit,
            sensitivity: 1.0,
            degrees_of_freedom: (summary.n - 1) as f64,
        })
    }

    /// A type-B contribution from a stated half-width (or, for [`Distribution::Normal`], an
    /// expanded uncertainty with its k), taken as exactly known (ν infinite).
    pub fn type_b(
        name: impl Into<String>,
        half_width: f64,
        distribution: Distribution,
        unit: Unit,
    ) -> Result<Contribution, AnalysisError> {
        if !(half_width.is_finite() && half_width >= 0.0) {
            return Err(AnalysisError::invalid(
                "half-width",
                format!("{half_width} is not a finite, non-negative number"),
            ));
        }
        let divisor = distribution.divisor();
        if !(divisor.is_finite() && divisor > 0.0) {
            return Err(AnalysisError::invalid(
                "coverage factor",
                format!("{divisor} is not a finite, positive number"),
            ));
        }
        Ok(Contribution {
            name: name.into(),
            kind: EvaluationType::TypeB,
            distribution,
            value: None,
            half_width: Some(half_width),
            standard_uncertainty: half_width / divisor,
            unit,
            sensitivity: 1.0,
            degrees_of_freedom: f64::INFINITY,
        })
    }

    /// A type-B contribution from an instrument's resolution (the smallest step of its
    /// display): rectangular with half-width resolution/2 (JCGM 100 F.2.2.1).
    pub fn from_resolution(
        name: impl Into<String>,
        resolution: &Quantity,
    ) -> Result<Contribution, AnalysisError> {
        Contribution::type_b(
            name,
            resolution.value / 2.0,
            Distribution::Rectangular,
            resolution.unit.clone(),
        )
    }

    /// A type-B contribution from an accuracy specification at `reading`: rectangular with
    /// the specification's half-width there, in the reading's unit (JCGM 100 4.3.7).
    pub fn from_accuracy(
        name: impl Into<String>,
        spec: &AccuracySpec,
        reading: &Quantity,
    ) -> Result<Contribution, AnalysisError> {
        let half_width = spec.half_width(reading)?;
        let mut c = Contribution::type_b(
            name,
            half_width.value,
            Distribution::Rectangular,
            half_width.unit,
        )?;
        c.value = Some(reading.value);
        Ok(c)
    }

    /// A type-A contribution evaluated elsewhere: a standard uncertainty with its degrees of
    /// freedom, such as a pooled standard deviation from earlier runs or the residual
    /// standard deviation of a fit (ν = points − parameters).
    pub fn type_a_evaluated(
        name: impl Into<String>,
        standard_uncertainty: f64,
        degrees_of_freedom: f64,
        unit: Unit,
    ) -> Result<Contribution, AnalysisError> {
        let c = Contribution {
            name: name.into(),
            kind: EvaluationType::TypeA,
            distribution: Distribution::Normal { k: 1.0 },
            value: None,
            half_width: None,
            standard_uncertainty,
            unit,
            sensitivity: 1.0,
            degrees_of_freedom,
        };
        c.check()?;
        Ok(c)
    }

    /// This contribution with sensitivity coefficient `c`.
    pub fn with_sensitivity(mut self, c: f64) -> Contribution {
        self.sensitivity = c;
        self
    }

    /// This contribution with `dof` degrees of freedom (for a type-B estimate whose own
    /// reliability is limited, JCGM 100 G.4.2).
    pub fn with_degrees_of_freedom(mut self, dof: f64) -> Contribution {
        self.degrees_of_freedom = dof;
        self
    }

    /// This contribution's share of the output's standard uncertainty, |cᵢ|·uᵢ.
    pub fn uncertainty_contribution(&self) -> f64 {
        (self.sensitivity * self.standard_uncertainty).abs()
    }

    fn check(&self) -> Result<(), AnalysisError> {
        let u = self.standard_uncertainty;
        if !(u.is_finite() && u >= 0.0) {
            return Err(AnalysisError::invalid(
                "standard uncertainty",
                format!("`{}`: {u} is not a finite, non-negative number", self.name),
            ));
        }
        if !self.sensitivity.is_finite() {
            return Err(AnalysisError::invalid(
                "sensitivity coefficient",
                format!("`{}`: {} is not finite", self.name, self.sensitivity),
            ));
        }
        if self.degrees_of_freedom.is_nan() || self.degrees_of_freedom < 1.0 {
            return Err(AnalysisError::invalid(
                "degrees of freedom",
                format!("`{}`: {} is below 1", self.name, self.degrees_of_freedom),
            ));
        }
        Ok(())
    }
}

/// One evaluated line of a budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetRow {
    /// The input.
    pub contribution: Contribution,
    /// |cᵢ|·uᵢ, in the output's unit.
    pub uncertainty_contribution: f64,
    /// (cᵢ·uᵢ)² / u_c², the fraction of the combined variance (0 to 1).
    pub variance_share: f64,
}

/// An evaluated uncertainty budget: the table that goes into the run record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UncertaintyBudget {
    /// The lines of the budget, in the order given.
    pub rows: Vec<BudgetRow>,
    /// The combined standard uncertainty u_c, in the output's unit.
    pub combined_standard_uncertainty: f64,
    /// The Welch–Satterthwaite effective degrees of freedom; infinite when every input is.
    #[serde(with = "super::float_serde::float")]
    pub effective_degrees_of_freedom: f64,
    /// The coverage probability p (0.95 for 95 %).
    pub coverage_probability: f64,
    /// The coverage factor k, Student's t at (1 + p)/2 and ⌊ν_eff⌋.
    pub coverage_factor: f64,
    /// The expanded uncertainty U = k·u_c.
    pub expanded_uncertainty: f64,
}

impl UncertaintyBudget {
    /// Evaluates `contributions` at [`DEFAULT_COVERAGE_PROBABILITY`].
    pub fn evaluate(contributions: Vec<Contribution>) -> Result<UncertaintyBudget, AnalysisError> {
        UncertaintyBudget::evaluate_at(contributions, DEFAULT_COVERAGE_PROBABILITY)
    }

    /// Evaluates `contributions` at coverage probability `p` (0 < p < 1).
    pub fn evaluate_at(
        contributions: Vec<Contribution>,
        p: f64,
    ) -> Result<UncertaintyBudget, AnalysisError> {
        if contributions.is_empty() {
            return Err(AnalysisError::Empty {
                what: "an uncertainty budget",
            });
        }
        for c in &contributions {
            c.check()?;
        }
        let parts: Vec<f64> = contributions
            .iter()
            .map(Contribution::uncertainty_contribution)
            .collect();
        check_finite("an uncertainty budget", &parts)?;
        // Scale by the largest part before squaring so that tiny or huge uncertainties
        // neither underflow nor overflow.
        let scale = parts.iter().fold(0.0f64, |m, p| m.max(*p));
        let (combined, nu_eff) = if scale == 0.0 {
            (0.0, f64::INFINITY)
        } else {
            let scaled: Vec<f64> = parts.iter().map(|p| p / scale).collect();
            let variance = super::stats::sum(scaled.iter().map(|s| s * s));
            let denominator = super::stats::sum(
                scaled
                    .iter()
                    .zip(&contributions)
                    .map(|(s, c)| s.powi(4) / c.degrees_of_freedom),
            );
            let nu = if denominator > 0.0 {
                variance * variance / denominator
            } else {
                f64::INFINITY
            };
            (scale * variance.sqrt(), nu)
        };
        let k = coverage_factor(p, nu_eff)?;
        let combined_sq = combined * combined;
        let rows = contributions
            .into_iter()
            .zip(parts)
            .map(|(contribution, part)| BudgetRow {
                contribution,
                uncertainty_contribution: part,
                variance_share: if combined_sq > 0.0 {
                    part * part / combined_sq
                } else {
                    0.0
                },
            })
            .collect();
        Ok(UncertaintyBudget {
            rows,
            combined_standard_uncertainty: combined,
            effective_degrees_of_freedom: nu_eff,
            coverage_probability: p,
            coverage_factor: k,
            expanded_uncertainty: k * combined,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::accuracy::parse_accuracy;
    use crate::units::{parse_quantity, parse_unit};

    fn unit(symbol: &str) -> Unit {
        parse_unit(symbol).unwrap()
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn distributions_divide_by_the_gum_divisors() {
        let ml = unit("mL");
        let r = Contribution::type_b("r", 3.0, Distribution::Rectangular, ml.clone()).unwrap();
        assert!(close(r.standard_uncertainty, 3.0 / 3f64.sqrt(), 1e-15));
        let t = Contribution::type_b("t", 6.0, Distribution::Triangular, ml.clone()).unwrap();
        assert!(close(t.standard_uncertainty, 6.0 / 6f64.sqrt(), 1e-15));
        let u = Contribution::type_b("u", 2.0, Distribution::UShaped, ml.clone()).unwrap();
        assert!(close(u.standard_uncertainty, 2f64.sqrt(), 1e-15));
        let n = Contribution::type_b("n", 0.2, Distribution::Normal { k: 2.0 }, ml).unwrap();
        assert!(close(n.standard_uncertainty, 0.1, 1e-15));
        assert!(n.degrees_of_freedom.is_infinite());
    }

    #[test]
    fn type_a_is_the_standard_deviation_of_the_mean() {
        let c = Contribution::type_a("repeats", &[10.0, 11.0, 12.0, 13.0], unit("mL")).unwrap();
        // s = √(5/3), u = s/2, ν = 3.
        assert!(close(
            c.standard_uncertainty,
            (5.0f64 / 3.0).sqrt() / 2.0,
            1e-15
        ));
        assert_eq!(c.degrees_of_freedom, 3.0);
        assert_eq!(c.value, Some(11.5));
        assert_eq!(c.kind, EvaluationType::TypeA);
        assert!(Contribution::type_a("one", &[1.0], unit("mL")).is_err());
        let pooled = Contribution::type_a_evaluated("pooled", 0.2, 12.0, unit("mL")).unwrap();
        assert_eq!(
            (pooled.standard_uncertainty, pooled.degrees_of_freedom),
            (0.2, 12.0)
        );
        assert!(Contribution::type_a_evaluated("bad", -0.2, 12.0, unit("mL")).is_err());
        assert!(Contribution::type_a_evaluated("bad", 0.2, 0.0, unit("mL")).is_err());
    }

    #[test]
    fn resolution_and_accuracy_helpers() {
        let c =
            Contribution::from_resolution("display", &parse_quantity("0.1 mL").unwrap()).unwrap();
        assert!(close(c.standard_uncertainty, 0.05 / 3f64.sqrt(), 1e-15));
        let spec = parse_accuracy("±(1.75 % of reading + 0.04 L/min)").unwrap();
        let reading = parse_quantity("30 L/min").unwrap();
        let c = Contribution::from_accuracy("analyzer", &spec, &reading).unwrap();
        assert!(close(c.half_width.unwrap(), 0.565, 1e-14));
        assert!(close(c.standard_uncertainty, 0.565 / 3f64.sqrt(), 1e-14));
        assert_eq!(c.unit.symbol(), "L/min");
        assert_eq!(c.value, Some(30.0));
    }

    /// Hand-computed: u₁ = 1 with ν₁ = 4 and u₂ = 1 with ν₂ = ∞ give u_c = √2,
    /// ν_eff = (√2)⁴ / (1/4) = 16 and k = t₀.₉₇₅(16) = 2.119905299.
    #[test]
    fn welch_satterthwaite_hand_computed() {
        let one = Unit::one();
        let a = Contribution::type_b("a", 1.0, Distribution::Normal { k: 1.0 }, one.clone())
            .unwrap()
            .with_degrees_of_freedom(4.0);
        let b = Contribution::type_b("b", 1.0, Distribution::Normal { k: 1.0 }, one).unwrap();
        let budget = UncertaintyBudget::evaluate(vec![a, b]).unwrap();
        assert!(close(
            budget.combined_standard_uncertainty,
            2f64.sqrt(),
            1e-15
        ));
        assert!(close(budget.effective_degrees_of_freedom, 16.0, 1e-14));
        assert!((budget.coverage_factor - 2.119_905_299).abs() < 1e-8);
        assert!(close(
            budget.expanded_uncertainty,
            2.119_905_299 * 2f64.sqrt(),
            1e-9
        ));
        assert!(close(budget.rows[0].variance_share, 0.5, 1e-15));
    }

    /// Sensitivity coefficients scale both the combination and the dof weighting:
    /// c₁u₁ = 2·0.5 = 1 (ν = 9), c₂u₂ = 0.5·4 = 2 (ν = 16): u_c² = 5,
    /// ν_eff = 25 / (1/9 + 16/16) = 22.5, truncated to 22 for k.
    #[test]
    fn sensitivities_enter_the_budget() {
        let one = Unit::one();
        let a = Contribution::type_b("a", 0.5, Distribution::Normal { k: 1.0 }, one.clone())
            .unwrap()
            .with_sensitivity(-2.0)
            .with_degrees_of_freedom(9.0);
        let b = Contribution::type_b("b", 4.0, Distribution::Normal { k: 1.0 }, one)
            .unwrap()
            .with_sensitivity(0.5)
            .with_degrees_of_freedom(16.0);
        let budget = UncertaintyBudget::evaluate(vec![a, b]).unwrap();
        assert!(close(
            budget.combined_standard_uncertainty,
            5f64.sqrt(),
            1e-15
        ));
        assert!(close(budget.effective_degrees_of_freedom, 22.5, 1e-14));
        // t₀.₉₇₅(22) = 2.073873068.
        assert!((budget.coverage_factor - 2.073_873_068).abs() < 1e-8);
    }

    /// The 10 kg weight calibration of EA-4/02 as reproduced, with its printed budget, in the
    /// worked examples of the GUM Workbench (metrodata.de, example S02): m_S from a
    /// certificate (U = 45 mg, k = 2), drift ±15 mg rectangular, the comparator's observed
    /// difference u = 14.2 mg (type A), eccentricity and air buoyancy ±10 mg rectangular each.
    /// Printed: u(m_X) = 0.0291 g and, with k = 2.00 (95.45 %), U = 0.058 g. Checked at the
    /// printed precision only (the type-A figure is itself rounded).
    #[test]
    fn weight_calibration_example() {
        let g = unit("g");
        let budget = UncertaintyBudget::evaluate_at(
            vec![
                Contribution::type_b("m_S", 0.045, Distribution::Normal { k: 2.0 }, g.clone())
                    .unwrap(),
                Contribution::type_b("δm_D", 0.015, Distribution::Rectangular, g.clone()).unwrap(),
                Contribution::type_b("δm", 0.0142, Distribution::Normal { k: 1.0 }, g.clone())
                    .unwrap(),
                Contribution::type_b("δm_C", 0.010, Distribution::Rectangular, g.clone()).unwrap(),
                Contribution::type_b("δB", 0.010, Distribution::Rectangular, g).unwrap(),
            ],
            0.9545,
        )
        .unwrap();
        let round = |v: f64, digits: i32| (v * 10f64.powi(digits)).round() / 10f64.powi(digits);
        assert_eq!(round(budget.combined_standard_uncertainty, 4), 0.0291);
        assert_eq!(round(budget.coverage_factor, 2), 2.00);
        assert_eq!(round(budget.expanded_uncertainty, 3), 0.058);
        let shares: Vec<f64> = budget
            .rows
            .iter()
            .map(|r| round(r.variance_share * 100.0, 0))
            .collect();
        // Printed indices: 59.6 %, 8.8 %, 23.7 %, 3.9 %, 3.9 %.
        assert_eq!(shares, vec![60.0, 9.0, 24.0, 4.0, 4.0]);
    }

    /// One type-A input alone: ν_eff is its ν, and k = t₀.₉₇₅(4) = 2.776445105.
    #[test]
    fn a_single_type_a_input_keeps_its_degrees_of_freedom() {
        let c = Contribution::type_a("r", &[10.1, 10.3, 9.9, 10.0, 10.2], unit("mL")).unwrap();
        let budget = UncertaintyBudget::evaluate(vec![c.clone()]).unwrap();
        assert!(close(budget.effective_degrees_of_freedom, 4.0, 1e-14));
        assert!((budget.coverage_factor - 2.776_445_105).abs() < 1e-8);
        assert!(close(
            budget.combined_standard_uncertainty,
            c.standard_uncertainty,
            1e-15
        ));
    }

    #[test]
    fn refuses_bad_budgets() {
        assert!(UncertaintyBudget::evaluate(vec![]).is_err());
        let mut c = Contribution::type_b("x", 1.0, Distribution::Rectangular, Unit::one()).unwrap();
        c.standard_uncertainty = f64::NAN;
        assert!(UncertaintyBudget::evaluate(vec![c.clone()]).is_err());
        c.standard_uncertainty = 1.0;
        assert!(UncertaintyBudget::evaluate(vec![c.clone().with_degrees_of_freedom(0.0)]).is_err());
        assert!(UncertaintyBudget::evaluate_at(vec![c.clone()], 1.5).is_err());
        assert!(Contribution::type_b("x", -1.0, Distribution::Rectangular, Unit::one()).is_err());
        let zero_k = Distribution::Normal { k: 0.0 };
        assert!(Contribution::type_b("x", 1.0, zero_k, Unit::one()).is_err());
    }

    #[test]
    fn all_zero_contributions_give_zero_uncertainty() {
        let c = Contribution::type_b("x", 0.0, Distribution::Rectangular, Unit::one()).unwrap();
        let budget = UncertaintyBudget::evaluate(vec![c]).unwrap();
        assert_eq!(budget.expanded_uncertainty, 0.0);
        assert!(budget.effective_degrees_of_freedom.is_infinite());
    }

    #[test]
    fn budget_round_trips_through_json() {
        let budget = UncertaintyBudget::evaluate(vec![
            Contribution::type_a("repeats", &[1.0, 1.2, 0.9], unit("mL")).unwrap(),
            Contribution::from_resolution("display", &parse_quantity("0.1 mL").unwrap()).unwrap(),
        ])
        .unwrap();
        let json = serde_json::to_string(&budget).unwrap();
        assert!(json.contains("\"degrees_of_freedom\":\"inf\""), "{json}");
        assert!(json.contains("\"shape\":\"rectangular\""), "{json}");
        assert!(json.contains("\"kind\":\"type_a\""), "{json}");
        let back: UncertaintyBudget = serde_json::from_str(&json).unwrap();
        // serde_json's default float parser may be one ulp off; everything else is exact.
        assert_eq!(back.rows.len(), budget.rows.len());
        assert_eq!(
            back.rows[1].contribution.unit,
            budget.rows[1].contribution.unit
        );
        assert!(back.rows[1].contribution.degrees_of_freedom.is_infinite());
        assert!(close(
            back.expanded_uncertainty,
            budget.expanded_uncertainty,
            1e-15
        ));
        assert!(close(
            back.rows[0].variance_share,
            budget.rows[0].variance_share,
            1e-15
        ));
    }
}
