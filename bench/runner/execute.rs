//! Executing steps against the open bench, recording every action and sample as it happens.
//!
//! The executor never prints and never reads a terminal: it emits events to the journal
//! (which acknowledges them durably) and then to the observer, and asks the operator through
//! the [`Operator`] trait. Bench time (procedure durations and timeouts) is converted to real
//! time with the fixture's time scale; link timeouts stay real.

use super::RunError;
use super::bench::Bench;
use super::console::{Observer, Operator};
use crate::analysis::Verdict;
use crate::driver::DeviceEvent;
use crate::journal::{CheckOutcome, JournalSink, LimitRecord, PromptAnswer, RunEvent};
use crate::procedure::expr::{Scope, Value};
use crate::procedure::{Check, Formula, SampleCount, Step, StepKind, Sweep};
use crate::units::{Quantity, Unit};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Names visible to expressions at one point of the run.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// Parameters and set-point columns.
    pub values: BTreeMap<String, Quantity>,
    /// Measurements taken so far in this scope.
    pub measurements: BTreeMap<String, (Vec<f64>, Unit)>,
    /// The current set point.
    pub set_point: Option<usize>,
}

impl Scope for Frame {
    fn value(&self, name: &str) -> Option<Value> {
        self.values.get(name).map(Value::from_quantity)
    }
    fn samples(&self, name: &str) -> Option<(Vec<f64>, Unit)> {
        self.measurements.get(name).cloned()
    }
}

/// Runs steps and records them.
pub struct Executor<'a> {
    /// The open bench.
    pub bench: &'a mut Bench,
    /// Where events are recorded.
    pub journal: &'a mut dyn JournalSink,
    /// Who watches progress.
    pub observer: &'a mut dyn Observer,
    /// Who answers prompts.
    pub operator: &'a mut dyn Operator,
    /// Bench time per real time.
    pub time_scale: f64,
    /// Set when the run must stop at the next safe point.
    pub abort: &'a AtomicBool,
    /// Set points entered so far.
    pub set_points: usize,
    /// The worst check verdict so far.
    pub verdict: Verdict,
}

impl Executor<'_> {
    /// Records an event, then shows it.
    pub fn emit(&mut self, event: RunEvent) -> Result<(), RunError> {
        let entry = self.journal.append(event)?;
        self.observer.entry(entry);
        Ok(())
    }

    /// Runs `steps` in `frame`, stopping at the first error.
    pub fn run_steps(&mut self, steps: &[Step], frame: &mut Frame) -> Result<(), RunError> {
        for step in steps {
            if self.abort.load(Ordering::SeqCst) {
                return Err(RunError::Aborted {
                    reason: "stop requested".into(),
                });
            }
            self.run_step(step, frame)?;
        }
        Ok(())
    }

    fn run_step(&mut self, step: &Step, frame: &mut Frame) -> Result<(), RunError> {
        match &step.kind {
            StepKind::Set { role, values } => {
                for (setting, formula) in values {
                    let value = self.quantity(formula, frame, step.line)?;
                    self.set(role, setting, &value)?;
                }
                Ok(())
            }
            StepKind::Action { role, action } => {
                let instrument = self.instrument(role)?;
                instrument
                    .driver
                    .act(action)
                    .map_err(|source| RunError::Instrument {
                        role: role.clone(),
                        driver: instrument.config.driver.clone(),
                        action: format!("performing `{action}`"),
                        source,
                    })?;
                self.emit(RunEvent::Command {
                    role: role.clone(),
                    command: action.clone(),
                    value: None,
                    readback: None,
                })
            }
            StepKind::WaitDuration(formula) => {
                let duration = self.quantity(formula, frame, step.line)?;
                self.sleep(self.real(&duration));
                Ok(())
            }
            StepKind::WaitBreaths {
                role,
                count,
                timeout,
            } => {
                let n = self.count(count, frame, step.line)?;
                let deadline =
                    Instant::now() + self.real(&self.quantity(timeout, frame, step.line)?);
                for i in 0..n {
                    self.await_breath(
                        role,
                        deadline,
                        &format!("waiting for breath {} of {n}", i + 1),
                    )?;
                    self.observer
                        .progress(&format!("settling: breath {} of {n}", i + 1));
                }
                Ok(())
            }
            StepKind::Prompt { message } => {
                let (answer, automatic) =
                    self.operator
                        .confirm(message)
                        .map_err(|reason| RunError::PromptDeclined {
                            message: format!("{message} ({reason})"),
                        })?;
                self.emit(RunEvent::Prompt(PromptAnswer {
                    message: message.clone(),
                    answer,
                    automatic,
                }))
            }
            StepKind::Measure {
                id,
                role,
                quantity,
                count,
                timeout,
            } => self.measure(id, role, quantity, count, timeout, frame, step.line),
            StepKind::Sweep(sweep) => self.sweep(sweep, frame),
            StepKind::Check(check) => self.check(check, frame, step.line),
        }
    }

    fn instrument(&mut self, role: &str) -> Result<&mut super::bench::Instrument, RunError> {
        self.bench
            .instruments
            .get_mut(role)
            .ok_or_else(|| RunError::RoleNotProvided {
                role: role.to_string(),
                reason: "no instrument is open for it".into(),
            })
    }

    fn set(&mut self, role: &str, setting: &str, value: &Quantity) -> Result<(), RunError> {
        let instrument = self.instrument(role)?;
        if let Some(limit) = instrument.config.limits.get(setting) {
            check_limit(role, setting, value, limit.min.as_ref(), limit.max.as_ref())?;
        }
        let readback =
            instrument
                .driver
                .set(setting, value)
                .map_err(|source| RunError::Instrument {
                    role: role.to_string(),
                    driver: instrument.config.driver.clone(),
                    action: format!("setting `{setting}` to {value}"),
                    source,
                })?;
        self.emit(RunEvent::Command {
            role: role.to_string(),
            command: setting.to_string(),
            value: Some(value.clone()),
            readback: Some(readback),
        })
    }

    fn await_breath(&mut self, role: &str, deadline: Instant, doing: &str) -> Result<(), RunError> {
        if self.abort.load(Ordering::SeqCst) {
            return Err(RunError::Aborted {
                reason: "stop requested".into(),
            });
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        let instrument = self.instrument(role)?;
        instrument
            .driver
            .await_event(DeviceEvent::Breath, remaining)
            .map_err(|source| RunError::Instrument {
                role: role.to_string(),
                driver: instrument.config.driver.clone(),
                action: doing.to_string(),
                source,
            })
    }

    #[allow(clippy::too_many_arguments)]
    fn measure(
        &mut self,
        id: &str,
        role: &str,
        quantity: &str,
        count: &SampleCount,
        timeout: &Formula,
        frame: &mut Frame,
        line: usize,
    ) -> Result<(), RunError> {
        let (n, per_breath) = match count {
            SampleCount::Breaths(f) => (self.count(f, frame, line)?, true),
            SampleCount::Samples(f) => (self.count(f, frame, line)?, false),
        };
        let deadline = Instant::now() + self.real(&self.quantity(timeout, frame, line)?);
        self.emit(RunEvent::StepStarted {
            path: format!("line {line}"),
            label: format!(
                "measure {id}: {quantity} of {role}, {n} {}",
                if per_breath { "breaths" } else { "samples" }
            ),
        })?;
        let mut values: Vec<f64> = Vec::with_capacity(n);
        let mut unit: Option<Unit> = None;
        for i in 0..n {
            let what = if per_breath { "breath" } else { "sample" };
            if per_breath {
                self.await_breath(
                    role,
                    deadline,
                    &format!("waiting for {what} {} of {n} of {id}", i + 1),
                )?;
            } else if Instant::now() > deadline {
                return Err(RunError::Evaluation {
                    line,
                    message: format!("measurement {id} timed out"),
                });
            }
            let instrument = self.instrument(role)?;
            let sample =
                instrument
                    .driver
                    .read(quantity)
                    .map_err(|source| RunError::Instrument {
                        role: role.to_string(),
                        driver: instrument.config.driver.clone(),
                        action: format!("reading {quantity} ({what} {} of {n} of {id})", i + 1),
                        source,
                    })?;
            let unit = unit.get_or_insert_with(|| sample.unit.clone());
            let value = sample.to_unit(unit).map_err(|e| RunError::Evaluation {
                line,
                message: e.to_string(),
            })?;
            values.push(value.value);
            self.emit(RunEvent::Sample {
                measurement: id.to_string(),
                role: role.to_string(),
                quantity: quantity.to_string(),
                set_point: frame.set_point,
                index: i,
                value: sample,
            })?;
            self.observer
                .progress(&format!("{id}: {what} {} of {n}: {value}", i + 1));
        }
        frame
            .measurements
            .insert(id.to_string(), (values, unit.unwrap_or_else(Unit::one)));
        Ok(())
    }

    fn sweep(&mut self, sweep: &Sweep, frame: &Frame) -> Result<(), RunError> {
        for (label, row) in &sweep.rows {
            let index = self.set_points;
            self.set_points += 1;
            let mut inner = frame.clone();
            inner.set_point = Some(index);
            let mut bindings = BTreeMap::new();
            for ((name, _), value) in sweep.columns.iter().zip(row) {
                inner.values.insert(name.clone(), value.clone());
                bindings.insert(name.clone(), value.clone());
            }
            self.emit(RunEvent::SetPoint {
                sweep: sweep.name.clone(),
                index,
                label: label.clone(),
                bindings,
            })?;
            self.run_steps(&sweep.steps, &mut inner)?;
        }
        Ok(())
    }

    fn check(&mut self, check: &Check, frame: &Frame, line: usize) -> Result<(), RunError> {
        let samples = frame
            .measurements
            .get(&check.measurement)
            .map(|(v, _)| v.len())
            .unwrap_or(0);
        let mut outcome = CheckOutcome {
            id: check.id.clone(),
            title: check.title.clone(),
            set_point: frame.set_point,
            measurement: check.measurement.clone(),
            statistic: check.statistic.clone(),
            samples,
            value: None,
            target: None,
            limit: None,
            applicable: true,
            verdict: Verdict::Pass,
            note: None,
        };
        if let Some(when) = &check.when {
            match when.expr.eval(frame) {
                Ok(Value::Bool(true)) => {}
                Ok(_) => {
                    outcome.applicable = false;
                    outcome.note = Some(format!("not applicable: `{}` does not hold", when.text));
                }
                Err(e) => {
                    return Err(RunError::Evaluation {
                        line,
                        message: format!("`{}`: {e}", when.text),
                    });
                }
            }
        }
        let value = self.quantity(&check.value, frame, line)?;
        let unit = value.unit.clone();
        let in_unit = |f: &Formula, ex: &mut Self| -> Result<f64, RunError> {
            let q = ex.quantity(f, frame, line)?;
            q.to_unit(&unit)
                .map(|q| q.value)
                .map_err(|e| RunError::Evaluation {
                    line,
                    message: e.to_string(),
                })
        };
        let (mut low, mut high, mut description) = (None, None, Vec::new());
        if let (Some(target), Some(tolerance)) = (&check.target, &check.tolerance) {
            let t = in_unit(target, self)?;
            let w = in_unit(tolerance, self)?.abs();
            low = Some(t - w);
            high = Some(t + w);
            outcome.target = Some(Quantity::new(t, unit.clone()));
            description.push(format!(
                "{} ± ({}) = {} ± {} {}",
                target.text,
                tolerance.text,
                fmt(t),
                fmt(w),
                unit
            ));
        }
        if let Some(min) = &check.min {
            let m = in_unit(min, self)?;
            low = Some(low.map_or(m, |l: f64| l.max(m)));
            description.push(format!("≥ {} ({})", fmt(m), min.text));
        }
        if let Some(max) = &check.max {
            let m = in_unit(max, self)?;
            high = Some(high.map_or(m, |h: f64| h.min(m)));
            description.push(format!("≤ {} ({})", fmt(m), max.text));
        }
        let inside = low.is_none_or(|l| value.value >= l) && high.is_none_or(|h| value.value <= h);
        if outcome.applicable {
            outcome.verdict = if inside { Verdict::Pass } else { Verdict::Fail };
            if !inside {
                outcome.note = Some(format!("{} is outside the limit", fmt_q(&value)));
            }
            self.verdict = self.verdict.combine(outcome.verdict);
        }
        outcome.value = Some(value);
        outcome.limit = Some(LimitRecord {
            low,
            high,
            unit: unit.symbol().to_string(),
            description: description.join("; "),
        });
        self.emit(RunEvent::Check(Box::new(outcome)))
    }

    fn quantity(
        &self,
        formula: &Formula,
        frame: &Frame,
        line: usize,
    ) -> Result<Quantity, RunError> {
        let value = formula.expr.eval(frame).map_err(|e| RunError::Evaluation {
            line,
            message: format!("`{}`: {e}", formula.text),
        })?;
        value.to_quantity().ok_or_else(|| RunError::Evaluation {
            line,
            message: format!("`{}` is a condition where a number is needed", formula.text),
        })
    }

    fn count(&self, formula: &Formula, frame: &Frame, line: usize) -> Result<usize, RunError> {
        let q = self.quantity(formula, frame, line)?;
        let n = q.si_value();
        if !(1.0..=1e7).contains(&n) || n.fract() != 0.0 {
            return Err(RunError::Evaluation {
                line,
                message: format!(
                    "`{}` = {n} is not a whole number between 1 and 10^7",
                    formula.text
                ),
            });
        }
        Ok(n as usize)
    }

    /// Real time for a bench-time duration.
    fn real(&self, duration: &Quantity) -> Duration {
        Duration::from_secs_f64((duration.si_value() / self.time_scale).clamp(0.0, 1e7))
    }

    /// Sleeps in short slices so that a stop request is honoured promptly.
    fn sleep(&self, duration: Duration) {
        let end = Instant::now() + duration;
        while !self.abort.load(Ordering::SeqCst) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

fn check_limit(
    role: &str,
    setting: &str,
    value: &Quantity,
    min: Option<&Quantity>,
    max: Option<&Quantity>,
) -> Result<(), RunError> {
    let refuse = |limit: String| RunError::Interlock {
        role: role.to_string(),
        setting: setting.to_string(),
        value: value.to_string(),
        limit,
    };
    let si = value.si_value();
    if let Some(min) = min {
        if min.dimension() != value.dimension() {
            return Err(refuse(format!(
                "the fixture's limit {min} has another dimension"
            )));
        }
        if si < min.si_value() {
            return Err(refuse(format!("below the fixture's minimum {min}")));
        }
    }
    if let Some(max) = max {
        if max.dimension() != value.dimension() {
            return Err(refuse(format!(
                "the fixture's limit {max} has another dimension"
            )));
        }
        if si > max.si_value() {
            return Err(refuse(format!("above the fixture's maximum {max}")));
        }
    }
    Ok(())
}

/// A number for limit descriptions: up to 6 significant digits, no trailing zeros.
pub fn fmt(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (6 - 1 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fmt_q(q: &Quantity) -> String {
    format!("{} {}", fmt(q.value), q.unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::parse_quantity;

    #[test]
    fn formats_numbers_compactly() {
        assert_eq!(fmt(421.0), "421");
        assert_eq!(fmt(79.0000000001), "79");
        assert_eq!(fmt(0.0123456789), "0.0123457");
        assert_eq!(fmt(-3.5), "-3.5");
    }

    #[test]
    fn interlock_refuses_out_of_range_and_other_dimensions() {
        let v = parse_quantity("2.5 L").unwrap();
        let max = parse_quantity("2000 mL").unwrap();
        assert!(check_limit("dut", "tidal_volume", &v, None, Some(&max)).is_err());
        let ok = parse_quantity("500 mL").unwrap();
        assert!(check_limit("dut", "tidal_volume", &ok, None, Some(&max)).is_ok());
        let wrong = parse_quantity("5 hPa").unwrap();
        assert!(check_limit("dut", "tidal_volume", &ok, Some(&wrong), None).is_err());
    }
}
