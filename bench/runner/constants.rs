//! The constant parts of a procedure, evaluated once per run instead of at every step.
//!
//! A limit such as `max: 100 L/min` is an expression (`100 L` divided by the unit `min`), and
//! a check inside a sweep evaluates it, with its description, at every set point. When every
//! name in a formula is a unit symbol ([`Expr::is_constant`]) its value cannot depend on the
//! set point, so the first value is kept and given again. Likewise a check's limit, when all
//! its formulas are constant, is the same for every value in the same unit.
//!
//! Entries are keyed by the address of the formula or check in the procedure and hold a copy
//! of what they were computed from; an entry is used only when that copy equals what is found
//! at the address now, so a formula freed and another built in its place is never mistaken
//! for it. The values given are exactly those evaluation gives: the journal cannot tell.

use crate::procedure::expr::Expr;
use crate::procedure::{Check, Formula};
use crate::units::{Quantity, Unit};
use std::cell::RefCell;
use std::collections::HashMap;

/// Values of constant formulas and limits seen so far in a run.
#[derive(Debug, Default)]
pub struct Constants {
    /// Per formula: its expression, and its value when it is constant (`None`: it is not).
    formulas: RefCell<HashMap<usize, (Expr, Option<Quantity>)>>,
    /// Per check: what its limit was evaluated from, and the limit.
    limits: RefCell<HashMap<usize, (LimitInputs, EvaluatedLimit)>>,
}

/// A check's limit evaluated in the unit of its value.
#[derive(Clone, Debug, Default)]
pub struct EvaluatedLimit {
    /// Lower bound, if any.
    pub low: Option<f64>,
    /// Upper bound, if any.
    pub high: Option<f64>,
    /// Target, when the limit is stated around one.
    pub target: Option<f64>,
    /// How the limit was stated, for the record.
    pub description: String,
}

/// What a check's limit depends on when all its formulas are constant.
#[derive(Debug, PartialEq)]
struct LimitInputs {
    formulas: [Option<(Expr, String)>; 4],
    each: bool,
    unit: Unit,
}

impl LimitInputs {
    fn of(check: &Check, unit: &Unit) -> LimitInputs {
        let copy = |f: &Option<Formula>| f.as_ref().map(|f| (f.expr.clone(), f.text.clone()));
        LimitInputs {
            formulas: [
                copy(&check.target),
                copy(&check.tolerance),
                copy(&check.min),
                copy(&check.max),
            ],
            each: check.each,
            unit: unit.clone(),
        }
    }

    /// Whether these are the inputs of `check`'s limit in `unit`, compared without copying.
    fn are_those_of(&self, check: &Check, unit: &Unit) -> bool {
        let same = |kept: &Option<(Expr, String)>, now: &Option<Formula>| match (kept, now) {
            (None, None) => true,
            (Some((expr, text)), Some(f)) => *expr == f.expr && *text == f.text,
            _ => false,
        };
        let now = [&check.target, &check.tolerance, &check.min, &check.max];
        self.each == check.each
            && self.unit == *unit
            && self.formulas.iter().zip(now).all(|(k, n)| same(k, n))
    }
}

impl Constants {
    /// The value of `formula` when it is constant: from the first evaluation (`evaluate`),
    /// kept for the rest of the run. `Ok(None)` when the formula is not constant; errors are
    /// not kept (they end the run).
    pub fn formula<E>(
        &self,
        formula: &Formula,
        evaluate: impl FnOnce() -> Result<Quantity, E>,
    ) -> Result<Option<Quantity>, E> {
        let key = std::ptr::from_ref(formula).addr();
        if let Some((expr, value)) = self.formulas.borrow().get(&key)
            && *expr == formula.expr
        {
            return Ok(value.clone());
        }
        let value = if formula.expr.is_constant() {
            Some(evaluate()?)
        } else {
            None
        };
        self.formulas
            .borrow_mut()
            .insert(key, (formula.expr.clone(), value.clone()));
        Ok(value)
    }

    /// The limit of `check` in `unit`: kept from the first evaluation (`evaluate`) when all
    /// its formulas are constant, evaluated each time otherwise.
    pub fn limit<E>(
        &self,
        check: &Check,
        unit: &Unit,
        evaluate: impl FnOnce() -> Result<EvaluatedLimit, E>,
    ) -> Result<EvaluatedLimit, E> {
        let key = std::ptr::from_ref(check).addr();
        if let Some((inputs, limit)) = self.limits.borrow().get(&key)
            && inputs.are_those_of(check, unit)
        {
            return Ok(limit.clone());
        }
        let limit = evaluate()?;
        let constant = [&check.target, &check.tolerance, &check.min, &check.max]
            .into_iter()
            .flatten()
            .all(|f| f.expr.is_constant());
        if constant {
            self.limits
                .borrow_mut()
                .insert(key, (LimitInputs::of(check, unit), limit.clone()));
        }
        Ok(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::expr::parse;

    fn formula(text: &str) -> Formula {
        Formula {
            expr: parse(text).unwrap(),
            text: text.into(),
        }
    }

    #[test]
    fn a_constant_is_evaluated_once_and_a_variable_every_time() {
        let constants = Constants::default();
        let (limit, volume) = (formula("100 L/min"), formula("volume"));
        let value = crate::units::parse_quantity("100 L/min").unwrap();
        let mut evaluations = 0;
        for _ in 0..3 {
            let kept = constants.formula::<()>(&limit, || {
                evaluations += 1;
                Ok(value.clone())
            });
            assert_eq!(kept, Ok(Some(value.clone())));
            assert_eq!(
                constants.formula::<()>(&volume, || Ok(value.clone())),
                Ok(None)
            );
        }
        assert_eq!(evaluations, 1);
    }

    #[test]
    fn another_formula_at_the_same_address_is_not_mistaken_for_the_first() {
        let constants = Constants::default();
        let mut slot = formula("1 s");
        let one = crate::units::parse_quantity("1 s").unwrap();
        let two = crate::units::parse_quantity("2 s").unwrap();
        assert_eq!(
            constants.formula::<()>(&slot, || Ok(one.clone())),
            Ok(Some(one))
        );
        slot = formula("2 s");
        assert_eq!(
            constants.formula::<()>(&slot, || Ok(two.clone())),
            Ok(Some(two))
        );
    }

    #[test]
    fn errors_are_not_kept() {
        let constants = Constants::default();
        let bad = formula("1 mL + 1 s");
        assert_eq!(
            constants.formula(&bad, || Err("mixed")),
            Err::<Option<Quantity>, _>("mixed")
        );
        let q = crate::units::parse_quantity("1 mL").unwrap();
        assert_eq!(constants.formula::<()>(&bad, || Ok(q.clone())), Ok(Some(q)));
    }
}
