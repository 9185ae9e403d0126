//! Conformity decisions per ILAC-G8: a measured value, its expanded uncertainty, a tolerance
//! [`Limit`] and a [`DecisionRule`] give a [`Decision`].
//!
//! - **Simple acceptance**: the acceptance limits are the tolerance limits. A result on the
//!   limit passes, with up to 50 % probability of a false accept there.
//! - **Guarded acceptance**: the acceptance limits are the tolerance limits moved inwards by a
//!   guard band w (commonly w = U, giving a false-accept probability below 2.5 %). A result
//!   inside the tolerance but within w of a limit fails: binary rules have no middle ground.
//! - **Non-binary**: Pass (inside by more than w), Conditional Pass (inside, within w of a
//!   limit), Conditional Fail (outside, within w), Fail (outside by more than w). How a
//!   conditional outcome becomes a [`Verdict`] is the procedure's stated policy
//!   ([`ConditionalPolicy`]), as ISO/IEC 17025 §7.1.3 asks.
//!
//! The tolerance is the one the standard states; the reference instrument's accuracy enters
//! through U, never through the limit.

use super::Verdict;
use super::error::AnalysisError;
use crate::units::{Quantity, Unit};
use serde::{Deserialize, Serialize};

/// A tolerance interval for a measured value: a lower limit, an upper limit, or both, in a unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// The lower tolerance limit, if any.
    #[serde(with = "super::float_serde::option_float", default)]
    pub low: Option<f64>,
    /// The upper tolerance limit, if any.
    #[serde(with = "super::float_serde::option_float", default)]
    pub high: Option<f64>,
    /// The unit of both limits.
    pub unit: Unit,
}

impl Limit {
    /// The closed range `low ..= high`.
    pub fn range(low: f64, high: f64, unit: Unit) -> Result<Limit, AnalysisError> {
        check_number("lower limit", low)?;
        check_number("upper limit", high)?;
        if low > high {
            return Err(AnalysisError::invalid(
                "limit",
                format!("the lower limit {low} is above the upper limit {high}"),
            ));
        }
        Ok(Limit {
            low: Some(low),
            high: Some(high),
            unit,
        })
    }

    /// At least `low` (a one-sided lower limit).
    pub fn at_least(low: f64, unit: Unit) -> Result<Limit, AnalysisError> {
        check_number("lower limit", low)?;
        Ok(Limit {
            low: Some(low),
            high: None,
            unit,
        })
    }

    /// At most `high` (a one-sided upper limit).
    pub fn at_most(high: f64, unit: Unit) -> Result<Limit, AnalysisError> {
        check_number("upper limit", high)?;
        Ok(Limit {
            low: None,
            high: Some(high),
            unit,
        })
    }

    /// `target ± absolute`.
    pub fn target_absolute(target: f64, absolute: f64, unit: Unit) -> Result<Limit, AnalysisError> {
        Limit::around(
            target,
            check_tolerance("absolute tolerance", absolute)?,
            unit,
        )
    }

    /// `target ± percent % of target`.
    pub fn target_relative(target: f64, percent: f64, unit: Unit) -> Result<Limit, AnalysisError> {
        check_number("target", target)?;
        let relative = check_tolerance("relative tolerance", percent)? / 100.0 * target.abs();
        Limit::around(target, relative, unit)
    }

    /// `target ± (absolute + percent % of target)`, as in "±(4 mL + 15 %)".
    pub fn target_sum(
        target: f64,
        absolute: f64,
        percent: f64,
        unit: Unit,
    ) -> Result<Limit, AnalysisError> {
        check_number("target", target)?;
        let absolute = check_tolerance("absolute tolerance", absolute)?;
        let relative = check_tolerance("relative tolerance", percent)? / 100.0 * target.abs();
        Limit::around(target, absolute + relative, unit)
    }

    /// `target ± max(absolute, percent % of target)`, as in "±10 % or ±1 mL, whichever is
    /// greater".
    pub fn target_max(
        target: f64,
        absolute: f64,
        percent: f64,
        unit: Unit,
    ) -> Result<Limit, AnalysisError> {
        check_number("target", target)?;
        let absolute = check_tolerance("absolute tolerance", absolute)?;
        let relative = check_tolerance("relative tolerance", percent)? / 100.0 * target.abs();
        Limit::around(target, absolute.max(relative), unit)
    }

    fn around(target: f64, half_width: f64, unit: Unit) -> Result<Limit, AnalysisError> {
        check_number("target", target)?;
        Limit::range(target - half_width, target + half_width, unit)
    }

    /// Whether `value` lies within the tolerance (limits included).
    pub fn contains(&self, value: f64) -> bool {
        self.low.is_none_or(|l| value >= l) && self.high.is_none_or(|h| value <= h)
    }
}

fn check_number(what: &'static str, value: f64) -> Result<f64, AnalysisError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(AnalysisError::invalid(
            what,
            format!("{value} is not a finite number"),
        ))
    }
}

fn check_tolerance(what: &'static str, value: f64) -> Result<f64, AnalysisError> {
    check_number(what, value)?;
    if value < 0.0 {
        return Err(AnalysisError::invalid(what, format!("{value} is negative")));
    }
    Ok(value)
}

/// The width w of a guard band, from the expanded uncertainty U.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum GuardBand {
    /// w = U, the common choice (ILAC-G8 §4.2.2).
    #[default]
    ExpandedUncertainty,
    /// w = r·U for a stated factor r ≥ 0.
    Multiple(f64),
    /// A fixed w in the limit's unit, whatever U is.
    Absolute(f64),
}

impl GuardBand {
    /// The width w for expanded uncertainty `u`. Non-finite or negative inputs give an
    /// infinite width, so that a broken uncertainty can never widen what passes.
    pub fn width(self, expanded_uncertainty: f64) -> f64 {
        let w = match self {
            GuardBand::ExpandedUncertainty => expanded_uncertainty,
            GuardBand::Multiple(r) => r * expanded_uncertainty,
            GuardBand::Absolute(w) => w,
        };
        if w.is_finite() && w >= 0.0 {
            w
        } else {
            f64::INFINITY
        }
    }
}

/// How a measured value is compared with a limit (ILAC-G8 §4).
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum DecisionRule {
    /// Simple acceptance: pass within the tolerance limits.
    #[default]
    Simple,
    /// Guarded acceptance: pass only within the tolerance narrowed by the guard band.
    Guarded {
        /// The guard band.
        #[serde(default)]
        guard: GuardBand,
    },
    /// Non-binary: Pass, Conditional Pass, Conditional Fail or Fail.
    NonBinary {
        /// The guard band that separates the conditional outcomes.
        #[serde(default)]
        guard: GuardBand,
    },
}

/// The outcome of a decision, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Within the acceptance zone.
    Pass,
    /// Within the tolerance, but within the guard band of a limit (non-binary rule only).
    ConditionalPass,
    /// Outside the tolerance, but within the guard band of a limit (non-binary rule only).
    ConditionalFail,
    /// Outside the acceptance zone (and, for the non-binary rule, beyond the guard band).
    Fail,
}

impl Outcome {
    /// The words printed in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::ConditionalPass => "conditional pass",
            Outcome::ConditionalFail => "conditional fail",
            Outcome::Fail => "fail",
        }
    }
}

/// How a procedure treats conditional outcomes when a PASS/FAIL verdict is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionalPolicy {
    /// Both conditional outcomes are FAIL: only a clear pass passes (the conservative
    /// default).
    #[default]
    FailConditional,
    /// A conditional pass is PASS and a conditional fail is FAIL: the verdict is then that of
    /// simple acceptance, with the conditional outcome kept in the record.
    AcceptConditionalPass,
}

/// The interval within which a measured value is accepted. A bound of `None` is unbounded; an
/// interval whose low is above its high is empty (the guard band ate the whole tolerance).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcceptanceZone {
    /// The lower acceptance limit.
    #[serde(with = "super::float_serde::option_float", default)]
    pub low: Option<f64>,
    /// The upper acceptance limit.
    #[serde(with = "super::float_serde::option_float", default)]
    pub high: Option<f64>,
}

impl AcceptanceZone {
    /// Whether `value` is accepted (limits included).
    pub fn contains(&self, value: f64) -> bool {
        self.low.is_none_or(|l| value >= l) && self.high.is_none_or(|h| value <= h)
    }

    /// Whether no value can be accepted.
    pub fn is_empty(&self) -> bool {
        matches!((self.low, self.high), (Some(l), Some(h)) if l > h)
    }
}

/// A conformity decision, with everything needed to show how it was reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The measured value, in the limit's unit.
    #[serde(with = "super::float_serde::float")]
    pub measured: f64,
    /// The expanded uncertainty U of the measured value, in the limit's unit.
    #[serde(with = "super::float_serde::float")]
    pub expanded_uncertainty: f64,
    /// The tolerance.
    pub limit: Limit,
    /// The rule applied.
    pub rule: DecisionRule,
    /// The guard band width w (0 for simple acceptance; infinite when U is not usable).
    #[serde(with = "super::float_serde::float")]
    pub guard_band: f64,
    /// The acceptance zone: the tolerance narrowed by w.
    pub acceptance_zone: AcceptanceZone,
    /// Whether the measured value lies within the tolerance itself.
    pub within_tolerance: bool,
    /// The outcome.
    pub outcome: Outcome,
}

impl Decision {
    /// The verdict for this decision, treating conditional outcomes per `policy`.
    pub fn verdict(&self, policy: ConditionalPolicy) -> Verdict {
        match (self.outcome, policy) {
            (Outcome::Pass, _) => Verdict::Pass,
            (Outcome::ConditionalPass, ConditionalPolicy::AcceptConditionalPass) => Verdict::Pass,
            (Outcome::ConditionalPass, ConditionalPolicy::FailConditional)
            | (Outcome::ConditionalFail, _)
            | (Outcome::Fail, _) => Verdict::Fail,
        }
    }
}

/// Decides whether `measured`, with expanded uncertainty `expanded_uncertainty` (both in the
/// limit's unit), conforms to `limit` under `rule`.
///
/// A measured value that is not finite never passes. A negative or non-finite U is treated as
/// infinite under the guarded and non-binary rules, so that it cannot widen what passes.
pub fn decide(
    measured: f64,
    expanded_uncertainty: f64,
    limit: &Limit,
    rule: &DecisionRule,
) -> Decision {
    let w = match rule {
        DecisionRule::Simple => 0.0,
        DecisionRule::Guarded { guard } | DecisionRule::NonBinary { guard } => {
            guard.width(expanded_uncertainty)
        }
    };
    let zone = AcceptanceZone {
        low: limit.low.map(|l| l + w),
        high: limit.high.map(|h| h - w),
    };
    let within_tolerance = measured.is_finite() && limit.contains(measured);
    let accepted = measured.is_finite() && !zone.is_empty() && zone.contains(measured);
    let outcome = match rule {
        DecisionRule::Simple | DecisionRule::Guarded { .. } => {
            if accepted {
                Outcome::Pass
            } else {
                Outcome::Fail
            }
        }
        DecisionRule::NonBinary { .. } => {
            let outer = AcceptanceZone {
                low: limit.low.map(|l| l - w),
                high: limit.high.map(|h| h + w),
            };
            if accepted {
                Outcome::Pass
            } else if within_tolerance {
                Outcome::ConditionalPass
            } else if measured.is_finite() && outer.contains(measured) {
                Outcome::ConditionalFail
            } else {
                Outcome::Fail
            }
        }
    };
    Decision {
        measured,
        expanded_uncertainty,
        limit: limit.clone(),
        rule: *rule,
        guard_band: w,
        acceptance_zone: zone,
        within_tolerance,
        outcome,
    }
}

/// [`decide`] for quantities in any compatible units: the measured value and U are converted
/// to the limit's unit first.
pub fn decide_quantity(
    measured: &Quantity,
    expanded_uncertainty: &Quantity,
    limit: &Limit,
    rule: &DecisionRule,
) -> Result<Decision, AnalysisError> {
    let m = measured.to_unit(&limit.unit)?.value;
    let u = expanded_uncertainty.to_unit(&limit.unit)?.value;
    Ok(decide(m, u, limit, rule))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{parse_quantity, parse_unit};
    use proptest::prelude::*;

    fn ml() -> Unit {
        parse_unit("mL").unwrap()
    }

    const GUARDED: DecisionRule = DecisionRule::Guarded {
        guard: GuardBand::ExpandedUncertainty,
    };
    const NON_BINARY: DecisionRule = DecisionRule::NonBinary {
        guard: GuardBand::ExpandedUncertainty,
    };

    #[test]
    fn limit_constructors() {
        let l = Limit::target_absolute(500.0, 20.0, ml()).unwrap();
        assert_eq!((l.low, l.high), (Some(480.0), Some(520.0)));
        let l = Limit::target_relative(500.0, 10.0, ml()).unwrap();
        assert_eq!((l.low, l.high), (Some(450.0), Some(550.0)));
        // ±(4 mL + 15 %) of 500 mL: ±79 mL.
        let l = Limit::target_sum(500.0, 4.0, 15.0, ml()).unwrap();
        assert_eq!((l.low, l.high), (Some(421.0), Some(579.0)));
        // ±max(10 mL, 1 %) of 500 mL is ±10 mL; of 2000 mL it is ±20 mL.
        let l = Limit::target_max(500.0, 10.0, 1.0, ml()).unwrap();
        assert_eq!((l.low, l.high), (Some(490.0), Some(510.0)));
        let l = Limit::target_max(2000.0, 10.0, 1.0, ml()).unwrap();
        assert_eq!((l.low, l.high), (Some(1980.0), Some(2020.0)));
        // Relative tolerances use |target|.
        let l = Limit::target_relative(-100.0, 5.0, ml()).unwrap();
        assert_eq!((l.low, l.high), (Some(-105.0), Some(-95.0)));
        let l = Limit::at_most(5.0, ml()).unwrap();
        assert!(l.contains(-1e300) && l.contains(5.0) && !l.contains(5.000001));
        let l = Limit::at_least(5.0, ml()).unwrap();
        assert!(l.contains(1e300) && !l.contains(4.0));
        assert!(Limit::range(2.0, 1.0, ml()).is_err());
        assert!(Limit::target_absolute(1.0, -1.0, ml()).is_err());
        assert!(Limit::target_relative(f64::NAN, 1.0, ml()).is_err());
        assert!(Limit::at_least(f64::INFINITY, ml()).is_err());
    }

    #[test]
    fn simple_acceptance_passes_up_to_the_limit() {
        let limit = Limit::range(90.0, 110.0, ml()).unwrap();
        let rule = DecisionRule::Simple;
        assert_eq!(decide(110.0, 5.0, &limit, &rule).outcome, Outcome::Pass);
        assert_eq!(decide(89.9, 5.0, &limit, &rule).outcome, Outcome::Fail);
        assert_eq!(decide(100.0, 5.0, &limit, &rule).guard_band, 0.0);
    }

    #[test]
    fn guarded_acceptance_fails_inside_the_guard_band() {
        let limit = Limit::range(90.0, 110.0, ml()).unwrap();
        let d = decide(107.0, 5.0, &limit, &GUARDED);
        assert_eq!(
            d.acceptance_zone,
            AcceptanceZone {
                low: Some(95.0),
                high: Some(105.0)
            }
        );
        assert!(d.within_tolerance);
        assert_eq!(d.outcome, Outcome::Fail);
        assert_eq!(
            d.verdict(ConditionalPolicy::AcceptConditionalPass),
            Verdict::Fail
        );
        assert_eq!(decide(105.0, 5.0, &limit, &GUARDED).outcome, Outcome::Pass);
        // A guard band wider than half the tolerance leaves nothing to accept.
        let d = decide(100.0, 11.0, &limit, &GUARDED);
        assert!(d.acceptance_zone.is_empty());
        assert_eq!(d.outcome, Outcome::Fail);
        let half = DecisionRule::Guarded {
            guard: GuardBand::Multiple(0.5),
        };
        assert_eq!(decide(107.0, 5.0, &limit, &half).outcome, Outcome::Pass);
        let fixed = DecisionRule::Guarded {
            guard: GuardBand::Absolute(1.0),
        };
        assert_eq!(decide(109.0, 5.0, &limit, &fixed).outcome, Outcome::Pass);
    }

    #[test]
    fn non_binary_outcomes_and_policies() {
        let limit = Limit::range(90.0, 110.0, ml()).unwrap();
        let cases = [
            (100.0, Outcome::Pass, Verdict::Pass, Verdict::Pass),
            (
                107.0,
                Outcome::ConditionalPass,
                Verdict::Fail,
                Verdict::Pass,
            ),
            (
                110.0,
                Outcome::ConditionalPass,
                Verdict::Fail,
                Verdict::Pass,
            ),
            (
                113.0,
                Outcome::ConditionalFail,
                Verdict::Fail,
                Verdict::Fail,
            ),
            (
                115.0,
                Outcome::ConditionalFail,
                Verdict::Fail,
                Verdict::Fail,
            ),
            (115.1, Outcome::Fail, Verdict::Fail, Verdict::Fail),
            (86.0, Outcome::ConditionalFail, Verdict::Fail, Verdict::Fail),
            (f64::NAN, Outcome::Fail, Verdict::Fail, Verdict::Fail),
        ];
        for (measured, outcome, strict, lenient) in cases {
            let d = decide(measured, 5.0, &limit, &NON_BINARY);
            assert_eq!(d.outcome, outcome, "{measured}");
            assert_eq!(
                d.verdict(ConditionalPolicy::FailConditional),
                strict,
                "{measured}"
            );
            assert_eq!(
                d.verdict(ConditionalPolicy::AcceptConditionalPass),
                lenient,
                "{measured}"
            );
        }
    }

    #[test]
    fn broken_uncertainty_never_helps() {
        let limit = Limit::range(90.0, 110.0, ml()).unwrap();
        for u in [f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(decide(100.0, u, &limit, &GUARDED).outcome, Outcome::Fail);
        }
        assert_eq!(
            decide(f64::INFINITY, 0.0, &limit, &DecisionRule::Simple).outcome,
            Outcome::Fail
        );
        let open = Limit::at_least(0.0, ml()).unwrap();
        assert_eq!(
            decide(f64::INFINITY, 0.0, &open, &DecisionRule::Simple).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn one_sided_limits_guard_one_side() {
        let limit = Limit::at_most(50.0, parse_unit("mGy").unwrap()).unwrap();
        let d = decide(48.0, 3.0, &limit, &GUARDED);
        assert_eq!(
            d.acceptance_zone,
            AcceptanceZone {
                low: None,
                high: Some(47.0)
            }
        );
        assert_eq!(d.outcome, Outcome::Fail);
        assert_eq!(decide(-1e6, 3.0, &limit, &GUARDED).outcome, Outcome::Pass);
    }

    #[test]
    fn quantities_convert_to_the_limit_unit() {
        let limit = Limit::target_absolute(500.0, 20.0, ml()).unwrap();
        let d = decide_quantity(
            &parse_quantity("0.51 L").unwrap(),
            &parse_quantity("5 mL").unwrap(),
            &limit,
            &GUARDED,
        )
        .unwrap();
        assert!((d.measured - 510.0).abs() < 1e-9);
        assert_eq!(d.outcome, Outcome::Pass);
        let wrong = decide_quantity(
            &parse_quantity("3 mbar").unwrap(),
            &parse_quantity("5 mL").unwrap(),
            &limit,
            &GUARDED,
        );
        assert!(wrong.is_err());
    }

    #[test]
    fn decisions_serialize() {
        let limit = Limit::range(90.0, 110.0, ml()).unwrap();
        let d = decide(107.0, 5.0, &limit, &NON_BINARY);
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"outcome\":\"conditional_pass\""), "{json}");
        assert!(json.contains("\"rule\":\"non_binary\""), "{json}");
        assert!(json.contains("\"unit\":\"mL\""), "{json}");
        let back: Decision = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        // A broken U gives an infinite guard band and an empty zone, which must read back as
        // empty, not as unbounded.
        let d = decide(100.0, f64::NAN, &limit, &GUARDED);
        let json = serde_json::to_string(&d).unwrap();
        let back: Decision = serde_json::from_str(&json).unwrap();
        assert!(back.acceptance_zone.is_empty(), "{json}");
        assert_eq!(back.outcome, Outcome::Fail);
        assert!(back.expanded_uncertainty.is_nan() && back.guard_band.is_infinite());
        let rule: DecisionRule = serde_json::from_str(r#"{"rule":"guarded"}"#).unwrap();
        assert_eq!(rule, GUARDED);
        let rule: DecisionRule =
            serde_json::from_str(r#"{"rule":"guarded","guard":{"kind":"multiple","value":0.5}}"#)
                .unwrap();
        assert_eq!(
            rule,
            DecisionRule::Guarded {
                guard: GuardBand::Multiple(0.5)
            }
        );
    }

    fn limit_strategy() -> impl Strategy<Value = Limit> {
        (-1e3f64..1e3, 0.0f64..1e3, 0usize..3).prop_map(|(low, width, sides)| match sides {
            0 => Limit::range(low, low + width, Unit::one()).unwrap(),
            1 => Limit::at_least(low, Unit::one()).unwrap(),
            _ => Limit::at_most(low, Unit::one()).unwrap(),
        })
    }

    proptest! {
        #[test]
        fn widening_the_guard_band_never_turns_a_fail_into_a_pass(
            limit in limit_strategy(),
            measured in -2e3f64..2e3,
            u in 0.0f64..100.0,
            narrow in 0.0f64..3.0,
            extra in 0.0f64..3.0,
        ) {
            let wide = narrow + extra;
            for policy in [ConditionalPolicy::FailConditional, ConditionalPolicy::AcceptConditionalPass] {
                for guarded in [true, false] {
                    let rule = |r: f64| if guarded {
                        DecisionRule::Guarded { guard: GuardBand::Multiple(r) }
                    } else {
                        DecisionRule::NonBinary { guard: GuardBand::Multiple(r) }
                    };
                    let before = decide(measured, u, &limit, &rule(narrow));
                    let after = decide(measured, u, &limit, &rule(wide));
                    if before.verdict(policy) == Verdict::Fail {
                        prop_assert_eq!(after.verdict(policy), Verdict::Fail);
                    }
                    if before.outcome != Outcome::Pass {
                        prop_assert!(after.outcome != Outcome::Pass);
                    }
                }
            }
            // Guarded acceptance never passes what simple acceptance fails.
            let simple = decide(measured, u, &limit, &DecisionRule::Simple);
            let guarded = decide(measured, u, &limit, &DecisionRule::Guarded { guard: GuardBand::default() });
            if simple.outcome == Outcome::Fail {
                prop_assert_eq!(guarded.outcome, Outcome::Fail);
            }
        }
    }
}
