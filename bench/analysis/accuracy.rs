//! Instrument accuracy specifications as fixtures write them: `±(1.75 % of reading + 0.04 L/min)`,
//! `±5 % of reading`, `±0.1 mL`, `±(2 % of reading + 0.5 mbar)`.
//!
//! A specification is a limit of error: the instrument's error is within ± the sum of its
//! terms. It becomes a type-B contribution with a rectangular distribution (JCGM 100 4.3.7)
//! through [`Contribution::from_accuracy`](super::Contribution::from_accuracy).
//!
//! Grammar (spaces are free, `+-` or `+/-` may stand for `±`, which may be left out):
//!
//! ```text
//! spec  := ['±'] ( '(' terms ')' | terms )
//! terms := term [ '+' term ]
//! term  := number '%' ['of'] ('reading' | 'rdg')      relative to the reading
//!        | number ('pp' | 'vol %' | '% vol' | '% abs') absolute, in percentage points
//!        | number [unit]                               absolute, in a unit qbench knows
//! ```
//!
//! At most one relative and one absolute term; numbers are finite and not negative. A bare
//! `5 %` is refused: whether it is of reading, of full scale, or an absolute number of
//! percentage points must be written out. Percentage points are the absolute term of a
//! quantity that is itself a percentage (an oxygen analyser's `±1 vol %` means the reading
//! 21 % may be 20 % to 22 %): they are a term in the unit `%`, and print as `pp`.

use super::error::AnalysisError;
use crate::units::{Quantity, parse_quantity};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A parsed accuracy specification `±(p % of reading + a unit)`.
#[derive(Clone, Debug, PartialEq)]
pub struct AccuracySpec {
    /// The relative term, in percent of the reading (`1.75` for 1.75 %).
    pub percent_of_reading: Option<f64>,
    /// The absolute term, with its unit.
    pub absolute: Option<Quantity>,
}

impl AccuracySpec {
    /// The half-width of the limits of error at `reading`, in the reading's unit:
    /// p/100 · |reading| + a (the absolute term converted to the reading's unit; an absolute
    /// term written without a unit is taken to be in the reading's unit).
    pub fn half_width(&self, reading: &Quantity) -> Result<Quantity, AnalysisError> {
        if !reading.value.is_finite() {
            return Err(AnalysisError::invalid(
                "reading",
                format!("{} is not a finite number", reading.value),
            ));
        }
        let relative = self
            .percent_of_reading
            .map_or(0.0, |p| p / 100.0 * reading.value.abs());
        let absolute = match &self.absolute {
            Some(a) if a.unit.symbol().is_empty() => a.value,
            Some(a) => a.to_unit(&reading.unit)?.value,
            None => 0.0,
        };
        Ok(Quantity::new(relative + absolute, reading.unit.clone()))
    }
}

/// Parses an accuracy specification; see the module documentation for the grammar.
pub fn parse_accuracy(text: &str) -> Result<AccuracySpec, AnalysisError> {
    let fail = |reason: &str| AnalysisError::AccuracySpec {
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let mut rest = text.trim();
    for sign in ["±", "+/-", "+-"] {
        if let Some(stripped) = rest.strip_prefix(sign) {
            rest = stripped.trim_start();
            break;
        }
    }
    if let Some(inner) = rest.strip_prefix('(') {
        rest = inner
            .strip_suffix(')')
            .ok_or_else(|| fail("missing `)`"))?
            .trim();
    }
    if rest.is_empty() {
        return Err(fail(
            "it has no terms; write e.g. `±(2 % of reading + 0.5 mbar)`",
        ));
    }
    let mut spec = AccuracySpec {
        percent_of_reading: None,
        absolute: None,
    };
    for term in split_terms(rest) {
        let term = term.trim();
        if term.is_empty() {
            return Err(fail("a `+` without a term on both sides"));
        }
        if let Some(points) = percentage_points(term) {
            let value: f64 = points
                .parse()
                .map_err(|_| fail("the number of percentage points is not a number"))?;
            check_term(value).map_err(fail)?;
            let quantity = parse_quantity(&format!("{value} %"))
                .map_err(|e| fail(&format!("`{term}`: {e}")))?;
            if spec.absolute.replace(quantity).is_some() {
                return Err(fail("more than one absolute term"));
            }
        } else if let Some(percent_at) = term.find('%') {
            let number = term[..percent_at].trim();
            let words: Vec<String> = term[percent_at + 1..]
                .split_whitespace()
                .map(str::to_lowercase)
                .collect();
            let of_reading = matches!(
                words
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["of", "reading"] | ["reading"] | ["of", "rdg"] | ["rdg"] | ["of", "rdg."]
            );
            if !of_reading {
                return Err(fail(
                    "a percentage must say `% of reading`, or `pp` (`vol %`) for percentage points",
                ));
            }
            let value: f64 = number
                .parse()
                .map_err(|_| fail("the percentage is not a number"))?;
            check_term(value).map_err(fail)?;
            if spec.percent_of_reading.replace(value).is_some() {
                return Err(fail("more than one `% of reading` term"));
            }
        } else {
            let quantity = parse_quantity(term).map_err(|e| fail(&format!("`{term}`: {e}")))?;
            check_term(quantity.value).map_err(fail)?;
            if spec.absolute.replace(quantity).is_some() {
                return Err(fail("more than one absolute term"));
            }
        }
    }
    Ok(spec)
}

/// The number of an absolute term in percentage points (`1 pp`, `1 vol %`, `1 % vol`,
/// `1 % abs`), or `None` when the term is of another form.
fn percentage_points(term: &str) -> Option<&str> {
    let lower = term.to_ascii_lowercase();
    ["pp", "vol %", "vol%", "% vol", "%vol", "% abs", "%abs"]
        .iter()
        .find(|suffix| lower.ends_with(*suffix))
        .map(|suffix| term[..term.len() - suffix.len()].trim())
}

/// Splits on `+` signs that separate terms, leaving the `+` of an exponent (`1e+3`) alone.
fn split_terms(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut terms = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let exponent_sign = i >= 2
            && matches!(bytes[i - 1], b'e' | b'E')
            && bytes[i - 2].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
        if b == b'+' && !exponent_sign {
            terms.push(&text[start..i]);
            start = i + 1;
        }
    }
    terms.push(&text[start..]);
    terms
}

fn check_term(value: f64) -> Result<(), &'static str> {
    if !value.is_finite() {
        Err("a term is not a finite number")
    } else if value < 0.0 {
        Err("a term is negative; the sign belongs in `±`")
    } else {
        Ok(())
    }
}

impl FromStr for AccuracySpec {
    type Err = AnalysisError;

    fn from_str(s: &str) -> Result<AccuracySpec, AnalysisError> {
        parse_accuracy(s)
    }
}

impl fmt::Display for AccuracySpec {
    /// Writes the canonical form, which [`parse_accuracy`] reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.percent_of_reading, &self.absolute) {
            (Some(p), Some(a)) => write!(f, "±({p} % of reading + {})", Absolute(a)),
            (Some(p), None) => write!(f, "±{p} % of reading"),
            (None, Some(a)) => write!(f, "±{}", Absolute(a)),
            (None, None) => write!(f, "±0"),
        }
    }
}

/// An absolute term as written in a specification: percentage points as `pp`, so that the
/// text reads back as an absolute term and not as an ambiguous bare percentage.
struct Absolute<'a>(&'a Quantity);

impl fmt::Display for Absolute<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.unit.symbol() == "%" {
            write!(f, "{} pp", self.0.value)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for AccuracySpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AccuracySpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AccuracySpec, D::Error> {
        let text = String::deserialize(d)?;
        parse_accuracy(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{ATOMS, parse_unit};
    use proptest::prelude::*;

    fn q(text: &str) -> Quantity {
        parse_quantity(text).unwrap()
    }

    #[test]
    fn parses_the_forms_fixtures_use() {
        let s = parse_accuracy("±(1.75 % of reading + 0.04 L/min)").unwrap();
        assert_eq!(s.percent_of_reading, Some(1.75));
        assert_eq!(s.absolute, Some(q("0.04 L/min")));
        let s = parse_accuracy("±5 % of reading").unwrap();
        assert_eq!((s.percent_of_reading, s.absolute), (Some(5.0), None));
        let s = parse_accuracy("±0.1 mL").unwrap();
        assert_eq!(
            (s.percent_of_reading, s.absolute),
            (None, Some(q("0.1 mL")))
        );
        let s = parse_accuracy("+-(2 % of reading + 0.5 mbar)").unwrap();
        assert_eq!(s.absolute, Some(q("0.5 mbar")));
        let s = parse_accuracy("+/- (0.5 mbar + 2% rdg)").unwrap();
        assert_eq!(s.percent_of_reading, Some(2.0));
        let s = parse_accuracy("±(1e+1 mL + 1 % of Reading)").unwrap();
        assert_eq!(s.absolute, Some(q("10 mL")));
    }

    #[test]
    fn percentage_points_are_an_absolute_term_in_percent() {
        for text in ["±1 vol %", "±1 pp", "±1 % vol", "±1 % ABS", "±1vol%"] {
            let s = parse_accuracy(text).unwrap();
            assert_eq!(
                (s.percent_of_reading, s.absolute.clone()),
                (None, Some(q("1 %")))
            );
            assert_eq!(s.to_string(), "±1 pp", "{text}");
        }
        let s = parse_accuracy("±(2 % of reading + 1 vol %)").unwrap();
        assert_eq!(s.to_string(), "±(2 % of reading + 1 pp)");
        // At 21 % O2: 2 % of 21 % is 0.42 points, plus one point.
        let w = s.half_width(&q("21 %")).unwrap();
        assert!((w.value - 1.42).abs() < 1e-12);
        assert_eq!(w.unit.symbol(), "%");
        assert!(
            parse_accuracy("±(1 pp + 2 mL)")
                .unwrap_err()
                .to_string()
                .contains("more than one absolute")
        );
        assert!(parse_accuracy("±x pp").is_err());
        assert!(parse_accuracy("±-1 pp").is_err());
    }

    #[test]
    fn explains_what_is_wrong() {
        let cases = [
            ("", "no terms"),
            ("±5 %", "% of reading"),
            ("±5 % of full scale", "% of reading"),
            ("±(1 % of reading + 0.1 mL", "missing `)`"),
            ("±(1 % of reading + )", "a `+` without"),
            ("±(1 % of reading + 2 % of reading)", "more than one"),
            ("±(1 mL + 2 mL)", "more than one absolute"),
            ("±-1 mL", "negative"),
            ("±0.1 furlong", "unknown unit"),
            ("±abc", "not a quantity"),
        ];
        for (text, expected) in cases {
            let e = parse_accuracy(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn half_width_adds_both_terms_in_the_reading_unit() {
        let s = parse_accuracy("±(1.75 % of reading + 0.04 L/min)").unwrap();
        let w = s.half_width(&q("30 L/min")).unwrap();
        assert!((w.value - (0.525 + 0.04)).abs() < 1e-12);
        assert_eq!(w.unit.symbol(), "L/min");
        // The absolute term converts: 0.04 L/min = 0.04/60 L/s.
        let w = s.half_width(&q("0.5 L/s")).unwrap();
        assert!((w.value - (0.00875 + 0.04 / 60.0)).abs() < 1e-12);
        // Relative terms use |reading|.
        let w = parse_accuracy("±2 % of reading")
            .unwrap()
            .half_width(&q("-50 mbar"))
            .unwrap();
        assert!((w.value - 1.0).abs() < 1e-12);
        let mismatch = parse_accuracy("±0.1 mL").unwrap().half_width(&q("3 mbar"));
        assert!(mismatch.is_err());
    }

    #[test]
    fn serializes_as_its_text() {
        let s = parse_accuracy("+-(2 % of reading + 0.5 mbar)").unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"±(2 % of reading + 0.5 mbar)\"");
        let back: AccuracySpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }

    fn absolute_units() -> Vec<&'static str> {
        ATOMS.iter().map(|a| a.0).collect()
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC{0,40}") {
            let _ = parse_accuracy(&text);
        }

        #[test]
        fn parser_never_panics_on_near_misses(
            text in "[±+/\\-() ]{0,3}[0-9.e+]{0,6} ?%? ?(of)? ?(reading|rdg)? ?\\+? ?[0-9.]{0,4} ?(mL|L/min|mbar)?\\)?"
        ) {
            let _ = parse_accuracy(&text);
        }

        #[test]
        fn formatted_specs_parse_back(
            percent in prop::option::of(0.0f64..100.0),
            absolute in prop::option::of((0.0f64..1e6, 0usize..1000)),
        ) {
            prop_assume!(percent.is_some() || absolute.is_some());
            let units = absolute_units();
            let absolute = absolute.map(|(v, i)| {
                Quantity::new(v, parse_unit(units[i % units.len()]).unwrap())
            });
            let spec = AccuracySpec { percent_of_reading: percent, absolute };
            let text = spec.to_string();
            let back = parse_accuracy(&text).unwrap();
            prop_assert_eq!(back, spec);
            let ascii = text.replace('±', "+-");
            prop_assert!(parse_accuracy(&ascii).is_ok());
        }
    }
}
