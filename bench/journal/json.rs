//! The JSON of the events every measured step journals — a sample, a set point entered, a
//! check — written directly, byte for byte what serde's derived serialisation gives.
//!
//! These three make up nearly all of a run's entries, and through serde a check entry cost
//! more than anything else the runner does per step: about forty keys, each escaped and
//! written piece by piece. Here keys are written as the literal bytes they are, strings
//! escaped as serde_json escapes them, numbers through serde_json's own formatter. Every
//! other event goes through serde. Tests (with proptest) hold the output to
//! `serde_json::to_vec` for any value of these events, so the journal's format cannot drift:
//! a field added to one of them fails to compile the tests, a changed serde attribute fails
//! them.

use super::{CheckOutcome, LimitRecord, RunEvent};
use crate::analysis::{AcceptanceZone, Decision, DecisionRule, GuardBand, Outcome, Verdict};
use crate::units::Quantity;
use serde_json::ser::{CompactFormatter, Formatter};
use std::collections::BTreeMap;

/// Writes `event` as JSON, as `serde_json::to_writer` would.
pub(super) fn write_event(out: &mut Vec<u8>, event: &RunEvent) -> Result<(), serde_json::Error> {
    match event {
        RunEvent::Sample {
            measurement,
            role,
            quantity,
            set_point,
            index,
            value,
        } => {
            out.extend_from_slice(b"{\"type\":\"sample\",\"measurement\":");
            string(out, measurement);
            out.extend_from_slice(b",\"role\":");
            string(out, role);
            out.extend_from_slice(b",\"quantity\":");
            string(out, quantity);
            out.extend_from_slice(b",\"set_point\":");
            option_usize(out, *set_point);
            out.extend_from_slice(b",\"index\":");
            usize_(out, *index);
            out.extend_from_slice(b",\"value\":");
            quantity_(out, value);
            out.push(b'}');
        }
        RunEvent::SetPoint {
            sweep,
            index,
            label,
            bindings,
        } => {
            out.extend_from_slice(b"{\"type\":\"set_point\",\"sweep\":");
            string(out, sweep);
            out.extend_from_slice(b",\"index\":");
            usize_(out, *index);
            out.extend_from_slice(b",\"label\":");
            string(out, label);
            out.extend_from_slice(b",\"bindings\":");
            quantities(out, bindings);
            out.push(b'}');
        }
        RunEvent::Check(outcome) => check(out, outcome)?,
        other => serde_json::to_writer(&mut *out, other)?,
    }
    Ok(())
}

fn check(out: &mut Vec<u8>, c: &CheckOutcome) -> Result<(), serde_json::Error> {
    let CheckOutcome {
        id,
        title,
        set_point,
        measurement,
        statistic,
        samples,
        value,
        target,
        limit,
        applicable,
        verdict,
        note,
        attempt,
        superseded,
        uncertainty,
        decision,
    } = c;
    out.extend_from_slice(b"{\"type\":\"check\",\"id\":");
    string(out, id);
    out.extend_from_slice(b",\"title\":");
    string(out, title);
    out.extend_from_slice(b",\"set_point\":");
    option_usize(out, *set_point);
    out.extend_from_slice(b",\"measurement\":");
    string(out, measurement);
    out.extend_from_slice(b",\"statistic\":");
    string(out, statistic);
    out.extend_from_slice(b",\"samples\":");
    usize_(out, *samples);
    out.extend_from_slice(b",\"value\":");
    option(out, value.as_ref(), quantity_);
    out.extend_from_slice(b",\"target\":");
    option(out, target.as_ref(), quantity_);
    out.extend_from_slice(b",\"limit\":");
    option(out, limit.as_ref(), limit_record);
    out.extend_from_slice(b",\"applicable\":");
    boolean(out, *applicable);
    out.extend_from_slice(b",\"verdict\":");
    out.extend_from_slice(verdict_word(*verdict));
    out.extend_from_slice(b",\"note\":");
    option(out, note.as_deref(), string);
    out.extend_from_slice(b",\"attempt\":");
    option_usize(out, *attempt);
    out.extend_from_slice(b",\"superseded\":");
    boolean(out, *superseded);
    out.extend_from_slice(b",\"uncertainty\":");
    // Rare on a bench's fast path and deep: left to serde.
    serde_json::to_writer(&mut *out, uncertainty)?;
    out.extend_from_slice(b",\"decision\":");
    option(out, decision.as_ref(), decision_);
    out.push(b'}');
    Ok(())
}

fn limit_record(out: &mut Vec<u8>, l: &LimitRecord) {
    let LimitRecord {
        low,
        high,
        unit,
        description,
    } = l;
    out.extend_from_slice(b"{\"low\":");
    option(out, *low, number);
    out.extend_from_slice(b",\"high\":");
    option(out, *high, number);
    out.extend_from_slice(b",\"unit\":");
    string(out, unit);
    out.extend_from_slice(b",\"description\":");
    string(out, description);
    out.push(b'}');
}

/// A [`Decision`] as its serde attributes write it (`analysis::float_serde` for its floats).
fn decision_(out: &mut Vec<u8>, d: &Decision) {
    let Decision {
        measured,
        expanded_uncertainty,
        limit,
        rule,
        guard_band,
        acceptance_zone,
        within_tolerance,
        outcome,
    } = d;
    out.extend_from_slice(b"{\"measured\":");
    float(out, *measured);
    out.extend_from_slice(b",\"expanded_uncertainty\":");
    float(out, *expanded_uncertainty);
    out.extend_from_slice(b",\"limit\":{\"low\":");
    option(out, limit.low, float);
    out.extend_from_slice(b",\"high\":");
    option(out, limit.high, float);
    out.extend_from_slice(b",\"unit\":");
    string(out, limit.unit.symbol());
    out.extend_from_slice(b"},\"rule\":");
    match rule {
        DecisionRule::Simple => out.extend_from_slice(b"{\"rule\":\"simple\"}"),
        DecisionRule::Guarded { guard } => {
            out.extend_from_slice(b"{\"rule\":\"guarded\",\"guard\":");
            guard_(out, *guard);
            out.push(b'}');
        }
        DecisionRule::NonBinary { guard } => {
            out.extend_from_slice(b"{\"rule\":\"non_binary\",\"guard\":");
            guard_(out, *guard);
            out.push(b'}');
        }
    }
    out.extend_from_slice(b",\"guard_band\":");
    float(out, *guard_band);
    let AcceptanceZone { low, high } = acceptance_zone;
    out.extend_from_slice(b",\"acceptance_zone\":{\"low\":");
    option(out, *low, float);
    out.extend_from_slice(b",\"high\":");
    option(out, *high, float);
    out.extend_from_slice(b"},\"within_tolerance\":");
    boolean(out, *within_tolerance);
    out.extend_from_slice(b",\"outcome\":");
    out.extend_from_slice(match outcome {
        Outcome::Pass => b"\"pass\"" as &[u8],
        Outcome::ConditionalPass => b"\"conditional_pass\"",
        Outcome::ConditionalFail => b"\"conditional_fail\"",
        Outcome::Fail => b"\"fail\"",
    });
    out.push(b'}');
}

fn guard_(out: &mut Vec<u8>, guard: GuardBand) {
    match guard {
        GuardBand::ExpandedUncertainty => {
            out.extend_from_slice(b"{\"kind\":\"expanded_uncertainty\"}");
        }
        GuardBand::Multiple(r) => {
            out.extend_from_slice(b"{\"kind\":\"multiple\",\"value\":");
            number(out, r);
            out.push(b'}');
        }
        GuardBand::Absolute(w) => {
            out.extend_from_slice(b"{\"kind\":\"absolute\",\"value\":");
            number(out, w);
            out.push(b'}');
        }
    }
}

fn verdict_word(verdict: Verdict) -> &'static [u8] {
    match verdict {
        Verdict::Pass => b"\"PASS\"",
        Verdict::Fail => b"\"FAIL\"",
        Verdict::Error => b"\"ERROR\"",
        Verdict::Aborted => b"\"ABORTED\"",
    }
}

fn quantities(out: &mut Vec<u8>, map: &BTreeMap<String, Quantity>) {
    out.push(b'{');
    for (i, (name, q)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, name);
        out.push(b':');
        quantity_(out, q);
    }
    out.push(b'}');
}

fn quantity_(out: &mut Vec<u8>, q: &Quantity) {
    out.extend_from_slice(b"{\"value\":");
    number(out, q.value);
    out.extend_from_slice(b",\"unit\":");
    string(out, q.unit.symbol());
    out.push(b'}');
}

/// `value` or `null`.
fn option<T>(out: &mut Vec<u8>, value: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        Some(v) => write(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

fn option_usize(out: &mut Vec<u8>, value: Option<usize>) {
    option(out, value, usize_);
}

fn usize_(out: &mut Vec<u8>, value: usize) {
    // Writing to a `Vec` cannot fail.
    let _ = CompactFormatter.write_u64(out, value as u64);
}

fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// An `f64` as serde_json writes it: shortest round-trip digits, `null` when not finite.
fn number(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        // Writing to a `Vec` cannot fail.
        let _ = CompactFormatter.write_f64(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// An `f64` as `analysis::float_serde` writes it: a number, or `"inf"`, `"-inf"`, `"nan"`.
fn float(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        number(out, value);
    } else if value.is_nan() {
        out.extend_from_slice(b"\"nan\"");
    } else if value > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// A JSON string escaped as serde_json escapes it: `"` and `\`, the short escapes `\b \t \n
/// \f \r`, other control characters as `\u00XX` (lower-case hex); everything else as is.
fn string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = s.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    // Runs of bytes that need no escape are copied whole.
    while let Some(i) = rest
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
    {
        out.extend_from_slice(&rest[..i]);
        let b = rest[i];
        let short = match b {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            0x08 => Some(b'b'),
            0x09 => Some(b't'),
            0x0a => Some(b'n'),
            0x0c => Some(b'f'),
            0x0d => Some(b'r'),
            _ => None,
        };
        match short {
            Some(c) => out.extend_from_slice(&[b'\\', c]),
            None => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0x0f)],
            ]),
        }
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Limit;
    use crate::units::{Dimension, Unit};
    use proptest::prelude::*;

    fn json(event: &RunEvent) -> String {
        let mut out = Vec::new();
        write_event(&mut out, event).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Any text, control characters, quotes, backslashes and non-ASCII included.
    fn text() -> BoxedStrategy<String> {
        prop_oneof![
            "[a-z_ ]{0,12}",
            any::<String>(),
            proptest::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('é'),
                    Just('\u{7f}'),
                    (0u8..0x20).prop_map(char::from)
                ],
                0..8
            )
            .prop_map(|c| c.into_iter().collect()),
        ]
        .boxed()
    }

    /// Any `f64`, infinities and NaN included.
    fn float_any() -> BoxedStrategy<f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            Just(0.0),
            Just(-0.0),
            -1e3..1e3f64,
        ]
        .boxed()
    }

    fn quantity() -> BoxedStrategy<Quantity> {
        (float_any(), text())
            .prop_map(|(v, s)| Quantity::new(v, Unit::new(s, 1.0, Dimension::NONE)))
            .boxed()
    }

    fn guard() -> impl Strategy<Value = GuardBand> {
        prop_oneof![
            Just(GuardBand::ExpandedUncertainty),
            float_any().prop_map(GuardBand::Multiple),
            float_any().prop_map(GuardBand::Absolute),
        ]
    }

    fn decision() -> BoxedStrategy<Decision> {
        let rule = prop_oneof![
            Just(DecisionRule::Simple),
            guard().prop_map(|guard| DecisionRule::Guarded { guard }),
            guard().prop_map(|guard| DecisionRule::NonBinary { guard }),
        ];
        let outcome = prop_oneof![
            Just(Outcome::Pass),
            Just(Outcome::ConditionalPass),
            Just(Outcome::ConditionalFail),
            Just(Outcome::Fail),
        ];
        (
            (float_any(), float_any(), float_any()),
            (
                proptest::option::of(float_any()),
                proptest::option::of(float_any()),
                text(),
            ),
            (
                proptest::option::of(float_any()),
                proptest::option::of(float_any()),
            ),
            (rule, outcome, any::<bool>()),
        )
            .prop_map(
                |((measured, u, w), (low, high, unit), (zl, zh), (rule, outcome, within))| {
                    Decision {
                        measured,
                        expanded_uncertainty: u,
                        limit: Limit {
                            low,
                            high,
                            unit: Unit::new(unit, 1.0, Dimension::NONE),
                        },
                        rule,
                        guard_band: w,
                        acceptance_zone: AcceptanceZone { low: zl, high: zh },
                        within_tolerance: within,
                        outcome,
                    }
                },
            )
            .boxed()
    }

    fn verdict() -> impl Strategy<Value = Verdict> {
        prop_oneof![
            Just(Verdict::Pass),
            Just(Verdict::Fail),
            Just(Verdict::Error),
            Just(Verdict::Aborted),
        ]
    }

    fn check_event() -> BoxedStrategy<RunEvent> {
        let limit = (
            proptest::option::of(float_any()),
            proptest::option::of(float_any()),
            text(),
            text(),
        )
            .prop_map(|(low, high, unit, description)| LimitRecord {
                low,
                high,
                unit,
                description,
            })
            .boxed();
        (
            (
                text(),
                text(),
                proptest::option::of(any::<usize>()),
                text(),
                text(),
            ),
            (
                any::<usize>(),
                proptest::option::of(quantity()),
                proptest::option::of(quantity()),
            ),
            (
                proptest::option::of(limit),
                any::<bool>(),
                verdict(),
                proptest::option::of(text()),
            ),
            (
                proptest::option::of(any::<usize>()),
                any::<bool>(),
                proptest::option::of(decision()),
            ),
        )
            .prop_map(
                |(
                    (id, title, set_point, measurement, statistic),
                    (samples, value, target),
                    (limit, applicable, verdict, note),
                    (attempt, superseded, decision),
                )| {
                    RunEvent::Check(Box::new(CheckOutcome {
                        id,
                        title,
                        set_point,
                        measurement,
                        statistic,
                        samples,
                        value,
                        target,
                        limit,
                        applicable,
                        verdict,
                        note,
                        attempt,
                        superseded,
                        uncertainty: None,
                        decision,
                    }))
                },
            )
            .boxed()
    }

    proptest! {
        #[test]
        fn samples_are_what_serde_writes(
            measurement in text(),
            role in text(),
            quantity_ in text(),
            set_point in proptest::option::of(any::<usize>()),
            index in any::<usize>(),
            value in quantity(),
        ) {
            let event = RunEvent::Sample {
                measurement,
                role,
                quantity: quantity_,
                set_point,
                index,
                value,
            };
            prop_assert_eq!(json(&event), serde_json::to_string(&event).unwrap());
        }

        #[test]
        fn set_points_are_what_serde_writes(
            sweep in text(),
            index in any::<usize>(),
            label in text(),
            bindings in proptest::collection::btree_map(text(), quantity(), 0..4),
        ) {
            let event = RunEvent::SetPoint { sweep, index, label, bindings };
            prop_assert_eq!(json(&event), serde_json::to_string(&event).unwrap());
        }

        #[test]
        fn checks_are_what_serde_writes(event in check_event()) {
            prop_assert_eq!(json(&event), serde_json::to_string(&event).unwrap());
        }
    }

    #[test]
    fn a_check_with_an_uncertainty_budget_is_what_serde_writes() {
        let unit = crate::units::parse_unit("mL").unwrap();
        let contributions = vec![
            crate::analysis::Contribution::type_a("repeatability", &[1.0, 2.0, 4.0], unit.clone())
                .unwrap(),
        ];
        let budget = crate::analysis::UncertaintyBudget::evaluate_at(contributions, 0.95).unwrap();
        let outcome = CheckOutcome {
            id: "vt".into(),
            title: "Tidal volume".into(),
            set_point: Some(2),
            measurement: "volume".into(),
            statistic: "mean".into(),
            samples: 3,
            value: Some(Quantity::new(2.3, unit.clone())),
            target: None,
            limit: None,
            applicable: true,
            verdict: Verdict::Pass,
            note: None,
            attempt: None,
            superseded: false,
            uncertainty: Some(budget),
            decision: None,
        };
        let event = RunEvent::Check(Box::new(outcome));
        assert_eq!(json(&event), serde_json::to_string(&event).unwrap());
    }

    #[test]
    fn other_events_go_through_serde() {
        let event = RunEvent::Error {
            role: Some("meter".into()),
            message: "no answer \"in time\"".into(),
        };
        assert_eq!(json(&event), serde_json::to_string(&event).unwrap());
    }
}
