//! Executing steps against the open bench, recording every action and sample as it happens.
//!
//! The executor never prints and never reads a terminal: it emits events to the journal
//! (which acknowledges them durably) and then to the observer, and asks the operator through
//! the [`Operator`] trait. Bench time (procedure durations and timeouts) is converted to real
//! time with the fixture's time scale; link timeouts stay real.
//!
//! Instruments operated by hand ([`Handle::Manual`]) are reached through the operator: a
//! command becomes an instruction to confirm, a reading a value to enter; both are recorded
//! as such, so one procedure runs on an automated bench and on a partly manual one.

use super::RunError;
use super::bench::{Bench, Handle};
use super::console::{Observer, Operator};
use super::constants::{Constants, EvaluatedLimit};
use super::stop::StopRequest;
use crate::analysis::{
    Contribution, DecisionRule, GuardBand, Outcome, UncertaintyBudget, Verdict, decide,
    parse_accuracy,
};
use crate::driver::{DeviceEvent, DriverError};
use crate::journal::{CheckOutcome, JournalSink, LimitRecord, PromptAnswer, RunEvent};
use crate::procedure::expr::{Scope, Series, Value};
use crate::procedure::{
    Capture, Check, Formula, Repeat, RuleKind, SampleCount, Step, StepKind, Sweep,
};
use crate::units::{Quantity, Unit, parse_quantity};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Names visible to expressions at one point of the run.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    /// Parameters, set-point columns and entered values.
    pub values: BTreeMap<String, Quantity>,
    /// Measurements taken so far in this scope.
    pub measurements: BTreeMap<String, (Vec<f64>, Unit)>,
    /// The current set point.
    pub set_point: Option<usize>,
    /// The current `repeat` attempt.
    pub attempt: Option<usize>,
    /// Series of points collected by `collect` steps.
    pub series: BTreeMap<String, Series>,
    /// The role and quantity each measurement was read from.
    pub sources: BTreeMap<String, (String, String)>,
}

impl Scope for Frame {
    fn value(&self, name: &str) -> Option<Value> {
        self.values.get(name).map(Value::from_quantity)
    }
    fn samples(&self, name: &str) -> Option<(&[f64], &Unit)> {
        self.measurements.get(name).map(|(v, u)| (v.as_slice(), u))
    }
    fn series(&self, name: &str) -> Option<Series> {
        self.series.get(name).cloned()
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
    pub stop: &'a StopRequest,
    /// Set during teardown, which stop requests must not cut short.
    pub tearing_down: bool,
    /// When resuming an interrupted run: the first set point to run again; earlier set
    /// points are complete in the journal and are skipped, as are measurements and checks
    /// outside sweeps before it. Commands, waits and prompts still run, to re-establish the
    /// bench's state.
    pub resume_from: Option<usize>,
    /// The longest any single step may take (the watchdog), real time.
    pub step_limit: Duration,
    /// The deadline of the step in progress, and its line.
    pub step_deadline: Option<(Instant, usize)>,
    /// Set points entered so far.
    pub set_points: usize,
    /// The worst counted check verdict so far.
    pub verdict: Verdict,
    /// Identities given at opening, and links lost since (see `reconnect.rs`).
    pub links: super::reconnect::Links,
    /// Constant formulas and limits evaluated so far (see `constants.rs`).
    pub constants: Constants,
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
            self.check_abort()?;
            self.run_step(step, frame)?;
        }
        Ok(())
    }

    fn check_abort(&self) -> Result<(), RunError> {
        if self.tearing_down {
            return Ok(());
        }
        if let Some(reason) = self.stop.reason() {
            return Err(RunError::Aborted { reason });
        }
        match self.step_deadline {
            Some((deadline, line)) if Instant::now() > deadline => Err(RunError::StepDeadline {
                line,
                limit_s: self.step_limit.as_secs(),
            }),
            _ => Ok(()),
        }
    }

    fn run_step(&mut self, step: &Step, frame: &mut Frame) -> Result<(), RunError> {
        // The watchdog: every step but the containers (sweeps, repeats) must finish within
        // the step limit, checked at every safe point inside it.
        let leaf = !matches!(step.kind, StepKind::Sweep(_) | StepKind::Repeat(_));
        if leaf {
            self.step_deadline = Some((Instant::now() + self.step_limit, step.line));
        }
        self.announce_step(step);
        let result = self.run_step_body(step, frame);
        if leaf {
            self.step_deadline = None;
        }
        result
    }

    fn run_step_body(&mut self, step: &Step, frame: &mut Frame) -> Result<(), RunError> {
        let line = step.line;
        let before_resume_point = self.resume_from.is_some_and(|r| self.set_points < r);
        if before_resume_point
            && matches!(
                step.kind,
                StepKind::Measure { .. } | StepKind::Check(_) | StepKind::Capture(_)
            )
        {
            return Ok(());
        }
        match &step.kind {
            StepKind::Set { role, values } => {
                for (setting, formula) in values {
                    let value = self.quantity(formula, frame, line)?;
                    self.set(role, setting, &value)?;
                }
                Ok(())
            }
            StepKind::Action { role, action } => self.act(role, action),
            StepKind::WaitDuration(formula) => {
                let duration = self.quantity(formula, frame, line)?;
                // Held journal entries reach the file before the run waits (journal/writer.rs).
                self.journal.flush()?;
                self.sleep(self.real(&duration))?;
                Ok(())
            }
            StepKind::WaitBreaths {
                role,
                count,
                timeout,
            } => {
                let n = self.count(count, frame, line)?;
                let deadline =
                    Instant::now() + self.real_timeout(&self.quantity(timeout, frame, line)?);
                self.journal.flush()?;
                for i in 0..n {
                    self.await_breath(role, deadline, || {
                        format!("waiting for breath {} of {n}", i + 1)
                    })?;
                    self.observer
                        .progress(&format!("settling: breath {} of {n}", i + 1));
                }
                Ok(())
            }
            StepKind::WaitUntil {
                condition,
                reads,
                every,
                timeout,
            } => self.wait_until(condition, reads, every, timeout, frame, line),
            StepKind::Prompt { message } => self.confirm(message),
            StepKind::Entry {
                message,
                id,
                unit,
                default,
            } => {
                let value = self.enter(message, unit, default.as_ref())?;
                frame.values.insert(id.clone(), value);
                Ok(())
            }
            StepKind::Measure {
                id,
                role,
                quantity,
                count,
                timeout,
                before_each,
                gas,
            } => {
                let sample = Sample {
                    id,
                    role,
                    quantity,
                    before_each,
                };
                self.measure(&sample, count, timeout, gas.as_ref(), frame, line)
            }
            StepKind::Capture(capture) => self.capture(capture, frame, line),
            StepKind::Sweep(sweep) => self.sweep(sweep, frame),
            StepKind::Check(check) => self.check(check, frame, line),
            StepKind::Repeat(repeat) => self.repeat(repeat, frame, line),
            StepKind::Collect { id, x, y } => {
                let (x, y) = (
                    self.quantity(x, frame, line)?,
                    self.quantity(y, frame, line)?,
                );
                let series = frame.series.entry(id.clone()).or_default();
                let x_unit = series.x_unit.get_or_insert_with(|| x.unit.clone()).clone();
                let y_unit = series.y_unit.get_or_insert_with(|| y.unit.clone()).clone();
                let convert = |q: &Quantity, u: &Unit| {
                    q.to_unit(u)
                        .map(|q| q.value)
                        .map_err(|e| RunError::Evaluation {
                            line,
                            message: e.to_string(),
                        })
                };
                series.x.push(convert(&x, &x_unit)?);
                series.y.push(convert(&y, &y_unit)?);
                self.emit(RunEvent::Collected {
                    series: id.clone(),
                    set_point: frame.set_point,
                    x,
                    y,
                })
            }
        }
    }

    fn instrument(&mut self, role: &str) -> Result<&mut super::bench::Instrument, RunError> {
        // A link lost earlier is reopened before the instrument is used again.
        self.restore_link(role)?;
        self.bench
            .instruments
            .get_mut(role)
            .ok_or_else(|| RunError::RoleNotProvided {
                role: role.to_string(),
                reason: "no instrument is open for it".into(),
            })
    }

    /// Wraps a driver error with the instrument and what qbench was doing.
    fn instrument_error(
        &self,
        role: &str,
        action: impl FnOnce() -> String,
    ) -> impl FnOnce(DriverError) -> RunError {
        // Only an error pays for the words describing it: the success path allocates nothing.
        move |source| {
            self.links.note_error(role, &source);
            RunError::Instrument {
                role: role.to_string(),
                driver: self
                    .bench
                    .instruments
                    .get(role)
                    .map(|i| i.config.driver.clone())
                    .unwrap_or_default(),
                action: action(),
                source: Box::new(source),
            }
        }
    }

    fn confirm(&mut self, message: &str) -> Result<(), RunError> {
        self.ask_confirmation(message, false)
    }

    /// Asks a person to confirm a hazardous command and records the answer; `--yes` does not
    /// answer it.
    fn confirm_hazard(&mut self, message: &str) -> Result<(), RunError> {
        self.ask_confirmation(message, true)
    }

    /// Asks the operator to confirm `message` (a `hazard` only a person may confirm) and
    /// journals the answer.
    fn ask_confirmation(&mut self, message: &str, hazard: bool) -> Result<(), RunError> {
        // Held journal entries reach the file before the run waits on a person.
        self.journal.flush()?;
        let asked = if hazard {
            self.operator.confirm_hazard(message)
        } else {
            self.operator.confirm(message)
        };
        let (answer, automatic) = asked.map_err(|reason| RunError::PromptDeclined {
            message: format!("{message} ({reason})"),
        })?;
        self.emit(RunEvent::Prompt(PromptAnswer {
            message: message.to_string(),
            answer,
            automatic,
            value: None,
        }))
    }

    fn enter(
        &mut self,
        message: &str,
        unit: &Unit,
        default: Option<&Quantity>,
    ) -> Result<Quantity, RunError> {
        self.journal.flush()?;
        let default_text = default.map(ToString::to_string);
        let question = format!("{message} [{unit}]");
        let (answer, automatic) = self
            .operator
            .enter(&question, default_text.as_deref())
            .map_err(|reason| RunError::PromptDeclined {
                message: format!("{message} ({reason})"),
            })?;
        let mut value = parse_quantity(&answer).map_err(|e| RunError::PromptDeclined {
            message: format!("{message}: `{answer}`: {e}"),
        })?;
        if value.unit.symbol().is_empty() {
            value = Quantity::new(value.value, unit.clone());
        }
        if value.dimension() != unit.dimension() {
            return Err(RunError::PromptDeclined {
                message: format!(
                    "{message}: `{answer}` is not a {}",
                    unit.dimension().describe()
                ),
            });
        }
        self.emit(RunEvent::Prompt(PromptAnswer {
            message: question,
            answer,
            automatic,
            value: Some(value.clone()),
        }))?;
        Ok(value)
    }

    fn set(&mut self, role: &str, setting: &str, value: &Quantity) -> Result<(), RunError> {
        let instrument = self.instrument(role)?;
        if let Some(limit) = instrument.config.limits.get(setting) {
            check_limit(role, setting, value, limit.min.as_ref(), limit.max.as_ref())?;
        }
        let readback = match &mut instrument.handle {
            Handle::Driver(driver) => {
                let result = driver.set(setting, value);
                self.journal_notes(role)?;
                Some(result.map_err(
                    self.instrument_error(role, || format!("setting `{setting}` to {value}")),
                )?)
            }
            Handle::Manual => {
                self.confirm(&format!("Set the {setting} of the {role} to {value}."))?;
                None
            }
        };
        self.emit(RunEvent::Command {
            role: role.to_string(),
            command: setting.to_string(),
            value: Some(value.clone()),
            readback,
        })
    }

    fn act(&mut self, role: &str, action: &str) -> Result<(), RunError> {
        if let Some(message) =
            super::hazard::confirmation(role, &self.instrument(role)?.config, action)
        {
            self.confirm_hazard(&message)?;
        }
        match &mut self.instrument(role)?.handle {
            Handle::Driver(driver) => {
                let result = driver.act(action);
                self.journal_notes(role)?;
                result.map_err(self.instrument_error(role, || format!("performing `{action}`")))?;
            }
            Handle::Manual => self.confirm(&format!("Perform `{action}` on the {role}."))?,
        }
        self.emit(RunEvent::Command {
            role: role.to_string(),
            command: action.to_string(),
            value: None,
            readback: None,
        })
    }

    /// Reads one quantity: from the driver, or entered by the operator for a manual instrument.
    fn read(
        &mut self,
        role: &str,
        quantity: &str,
        doing: impl FnOnce() -> String,
    ) -> Result<Quantity, RunError> {
        match &mut self.instrument(role)?.handle {
            Handle::Driver(driver) => {
                let result = driver.read(quantity);
                self.journal_notes(role)?;
                result.map_err(
                    self.instrument_error(role, || format!("reading {quantity} ({})", doing())),
                )
            }
            Handle::Manual => {
                let kind = self.instrument(role)?.config.kind.clone();
                let unit = crate::procedure::kind_spec(&kind)
                    .and_then(|s| s.quantities.iter().find(|q| q.name == quantity))
                    .and_then(|q| crate::units::parse_unit(q.unit).ok())
                    .unwrap_or_else(Unit::one);
                self.enter(&format!("Read the {quantity} on the {role}"), &unit, None)
            }
        }
    }

    /// Journals what the driver of `role` noted since it was last asked (an instrument's own
    /// error queue, a retry that recovered from a transient fault), so none is silent.
    ///
    /// Emergency messages are journaled each as its own event. They do not stop the run,
    /// unless the instrument's fixture options say `emcy: stop`: then any emergency other
    /// than an error reset (code 0) ends it as an instrument error, once journaled.
    pub fn journal_notes(&mut self, role: &str) -> Result<(), RunError> {
        let (notes, emergencies, stop) = match self.bench.instruments.get_mut(role) {
            Some(super::bench::Instrument {
                handle: Handle::Driver(driver),
                config,
            }) => (
                driver.take_notes(),
                driver.take_emergencies(),
                config
                    .options
                    .get("emcy")
                    .is_some_and(|v| v.trim() == "stop"),
            ),
            _ => (Vec::new(), Vec::new(), false),
        };
        for note in notes {
            self.emit(RunEvent::InstrumentNote {
                role: role.to_string(),
                note,
            })?;
        }
        for e in &emergencies {
            self.emit(RunEvent::Emergency {
                role: role.to_string(),
                node: e.node,
                code: e.code,
                class: e.class().to_string(),
                register: e.register,
                manufacturer: hex::encode_upper(e.manufacturer),
            })?;
        }
        if stop && let Some(e) = emergencies.iter().find(|e| e.code != 0) {
            let driver_name = self
                .bench
                .instruments
                .get(role)
                .map(|i| i.config.driver.clone())
                .unwrap_or_default();
            return Err(RunError::Instrument {
                role: role.to_string(),
                driver: driver_name.clone(),
                action: "watching its emergency messages (`emcy: stop`)".into(),
                source: Box::new(crate::driver::DriverError::new(
                    driver_name,
                    crate::driver::DriverErrorKind::Emergency {
                        description: e.to_string(),
                    },
                )),
            });
        }
        Ok(())
    }

    fn await_breath(
        &mut self,
        role: &str,
        deadline: Instant,
        doing: impl FnOnce() -> String,
    ) -> Result<(), RunError> {
        self.check_abort()?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = match &mut self.instrument(role)?.handle {
            Handle::Driver(driver) => driver.await_event(DeviceEvent::Breath, remaining),
            Handle::Manual => {
                return Err(RunError::RoleNotProvided {
                    role: role.to_string(),
                    reason: "an instrument operated by hand cannot signal breaths".into(),
                });
            }
        };
        self.journal_notes(role)?;
        result.map_err(self.instrument_error(role, doing))
    }

    fn wait_until(
        &mut self,
        condition: &Formula,
        reads: &[(String, String, String)],
        every: &Formula,
        timeout: &Formula,
        frame: &Frame,
        line: usize,
    ) -> Result<(), RunError> {
        let interval = self.real(&self.quantity(every, frame, line)?);
        let deadline = Instant::now() + self.real_timeout(&self.quantity(timeout, frame, line)?);
        let mut scope = frame.clone();
        let mut polls = 0;
        self.journal.flush()?;
        loop {
            self.check_abort()?;
            let mut values = BTreeMap::new();
            let mut all_defined = true;
            for (name, role, quantity) in reads {
                match self.read(role, quantity, || {
                    format!("waiting until {}", condition.text)
                }) {
                    Ok(value) => {
                        scope.values.insert(name.clone(), value.clone());
                        values.insert(name.clone(), value);
                    }
                    // A value the instrument does not have yet (no breath measured so far)
                    // means the condition cannot hold yet; any other error ends the wait.
                    Err(RunError::Instrument { source, .. })
                        if matches!(
                            source.kind,
                            crate::driver::DriverErrorKind::NotDefined { .. }
                        ) =>
                    {
                        all_defined = false;
                    }
                    Err(e) => return Err(e),
                }
            }
            polls += 1;
            let held = all_defined
                && match condition.expr.eval(&scope) {
                    Ok(Value::Bool(b)) => b,
                    Ok(_) => false,
                    Err(e) => {
                        let message = format!("`{}`: {e}", condition.text);
                        return Err(RunError::Evaluation { line, message });
                    }
                };
            let timed_out = Instant::now() >= deadline;
            if held || timed_out {
                let text = condition.text.clone();
                self.emit(RunEvent::WaitEnded {
                    condition: text.clone(),
                    polls,
                    values,
                    satisfied: held,
                })?;
                if held {
                    return Ok(());
                }
                return Err(RunError::WaitTimedOut {
                    line,
                    condition: text,
                });
            }
            self.sleep(interval.min(deadline.saturating_duration_since(Instant::now())))?;
        }
    }

    fn measure(
        &mut self,
        sample: &Sample<'_>,
        count: &SampleCount,
        timeout: &Formula,
        gas: Option<&crate::procedure::GasSpec>,
        frame: &mut Frame,
        line: usize,
    ) -> Result<(), RunError> {
        let Sample {
            id,
            role,
            quantity,
            before_each,
        } = *sample;
        let factor = match gas {
            Some(g) => self.gas_factor(id, role, g, frame, line)?,
            None => 1.0,
        };
        let (n, per_breath) = match count {
            SampleCount::Breaths(f) => (self.count(f, frame, line)?, true),
            SampleCount::Samples(f) => (self.count(f, frame, line)?, false),
        };
        let deadline = Instant::now() + self.real_timeout(&self.quantity(timeout, frame, line)?);
        let what = if per_breath { "breath" } else { "sample" };
        let mut values: Vec<f64> = Vec::with_capacity(n);
        let mut unit: Option<Unit> = None;
        for i in 0..n {
            let doing = || format!("{what} {} of {n} of {id}", i + 1);
            if !per_breath && Instant::now() > deadline {
                return Err(RunError::MeasurementTimedOut {
                    line,
                    measurement: id.to_string(),
                    taken: i,
                    wanted: n,
                });
            }
            // Commands before each sample (arm, expose) run within this step: the watchdog's
            // deadline is the measurement's.
            for step in before_each {
                self.check_abort()?;
                self.run_step_body(step, frame)?;
            }
            if per_breath {
                self.await_breath(role, deadline, || format!("waiting for {}", doing()))?;
            }
            let sample = self.read(role, quantity, doing)?;
            let unit = unit.get_or_insert_with(|| sample.unit.clone());
            let value = sample.to_unit(unit).map_err(|e| RunError::Evaluation {
                line,
                message: e.to_string(),
            })?;
            // The journal keeps the sample as read; checks use it at the stated standard.
            values.push(value.value * factor);
            self.emit(RunEvent::Sample {
                measurement: id.to_string(),
                role: role.to_string(),
                quantity: quantity.to_string(),
                set_point: frame.set_point,
                index: i,
                value: sample,
            })?;
            if self.observer.wants_progress() {
                let line = format!("{id}: {}: {} {}", doing(), fmt(value.value), value.unit);
                self.observer.progress(&line);
            }
        }
        frame
            .measurements
            .insert(id.to_string(), (values, unit.unwrap_or_else(Unit::one)));
        frame
            .sources
            .insert(id.to_string(), (role.to_string(), quantity.to_string()));
        Ok(())
    }

    /// The factor restating `measurement`'s values at `gas.state_at`: from the gas standard
    /// the instrument of `role` states, in the room conditions `gas.room` reads now. Journals
    /// the room conditions and the factor before the first sample.
    fn gas_factor(
        &mut self,
        measurement: &str,
        role: &str,
        gas: &crate::procedure::GasSpec,
        frame: &Frame,
        line: usize,
    ) -> Result<f64, RunError> {
        let conditions =
            match &mut self.instrument(role)?.handle {
                Handle::Driver(driver) => {
                    let result = driver.conditions();
                    self.journal_notes(role)?;
                    result.map_err(self.instrument_error(role, || {
                        "reading the gas standard it reports".to_string()
                    }))?
                }
                Handle::Manual => Vec::new(),
            };
        let from = conditions
            .into_iter()
            .find(|c| c.name == "gas_standard")
            .map(|c| c.value)
            .ok_or_else(|| RunError::Evaluation {
                line,
                message: format!(
                    "`{measurement}` is to be stated at {}, but the {role} does not say which gas standard it reports in",
                    gas.state_at
                ),
            })?;
        let doing = || format!("room conditions for {measurement}");
        let [temperature, humidity, pressure] = crate::procedure::ROOM_QUANTITIES;
        let temperature = self.read(&gas.room, temperature, doing)?;
        let humidity = self.read(&gas.room, humidity, doing)?;
        let pressure = self.read(&gas.room, pressure, doing)?;
        let in_unit = |q: &Quantity, symbol: &str| {
            crate::units::parse_unit(symbol)
                .ok()
                .and_then(|u| q.to_unit(&u).ok())
                .map(|q| q.value)
                .ok_or_else(|| RunError::Evaluation {
                    line,
                    message: format!("room condition {q} is not in a unit of {symbol}"),
                })
        };
        let ambient = crate::analysis::gas::Ambient {
            temperature_c: in_unit(&temperature, "°C")?,
            humidity_percent: in_unit(&humidity, "%")?,
            pressure_hpa: in_unit(&pressure, "hPa")?,
        };
        let factor = crate::analysis::gas::conversion_factor(&from, &gas.state_at, &ambient)
            .map_err(|e| RunError::Evaluation {
                line,
                message: format!("stating `{measurement}` at {}: {e}", gas.state_at),
            })?;
        self.emit(RunEvent::GasConversion(Box::new(
            crate::journal::GasConversion {
                measurement: measurement.to_string(),
                set_point: frame.set_point,
                role: role.to_string(),
                from,
                to: gas.state_at.clone(),
                room: gas.room.clone(),
                temperature,
                humidity,
                pressure,
                factor,
            },
        )))?;
        Ok(factor)
    }

    /// Captures a waveform and journals it: a header entry, then its samples in chunks. Each
    /// channel is also bound as a measurement `<id>_<quantity>` (one sample per point), so
    /// checks can use its statistics (`max(breath_flow)` is the peak flow).
    fn capture(
        &mut self,
        capture: &Capture,
        frame: &mut Frame,
        line: usize,
    ) -> Result<(), RunError> {
        let (length, described) = match &capture.length {
            crate::procedure::CaptureLength::Breaths(f) => {
                let n = self.count(f, frame, line)?;
                (
                    crate::driver::CaptureLength::Breaths(n),
                    format!("{n} breaths"),
                )
            }
            crate::procedure::CaptureLength::Duration(f) => {
                let d = self.quantity(f, frame, line)?;
                // Instrument time: the stream's own time stamps count it, at any time scale.
                let secs = d.si_value().clamp(0.0, 1e6);
                (
                    crate::driver::CaptureLength::Duration(Duration::from_secs_f64(secs)),
                    format!("{} s", fmt(secs)),
                )
            }
        };
        let request = crate::driver::CaptureRequest {
            quantities: capture.quantities.clone(),
            length,
            timeout: self.real_timeout(&self.quantity(&capture.timeout, frame, line)?),
        };
        let role = capture.role.as_str();
        self.observer
            .progress(&format!("capturing waveform {} ({described})", capture.id));
        let waveform = match &mut self.instrument(role)?.handle {
            Handle::Driver(driver) => {
                let result = driver.capture(&request);
                self.journal_notes(role)?;
                result.map_err(self.instrument_error(role, || {
                    format!("capturing waveform {} ({described})", capture.id)
                }))?
            }
            Handle::Manual => {
                return Err(RunError::RoleNotProvided {
                    role: role.to_string(),
                    reason: "an instrument operated by hand has no data stream to capture".into(),
                });
            }
        };
        let samples = waveform.ticks.len();
        let chunks = samples.div_ceil(crate::journal::CHUNK_SAMPLES);
        self.emit(RunEvent::WaveformCaptured(Box::new(
            crate::journal::WaveformHeader {
                id: capture.id.clone(),
                role: role.to_string(),
                set_point: frame.set_point,
                length: described,
                period_s: waveform.period_s,
                channels: waveform
                    .channels
                    .iter()
                    .map(|c| crate::journal::ChannelHeader {
                        quantity: c.quantity.clone(),
                        unit: c.unit.clone(),
                    })
                    .collect(),
                samples,
                chunks,
                breaths: waveform.breaths,
                counts: waveform.counts,
            },
        )))?;
        for chunk in 0..chunks {
            let first = chunk * crate::journal::CHUNK_SAMPLES;
            let end = (first + crate::journal::CHUNK_SAMPLES).min(samples);
            self.emit(RunEvent::WaveformChunk(Box::new(
                crate::journal::WaveformChunk {
                    id: capture.id.clone(),
                    set_point: frame.set_point,
                    chunk,
                    first,
                    ticks: waveform.ticks[first..end].to_vec(),
                    values: waveform
                        .channels
                        .iter()
                        .map(|c| c.values[first..end].to_vec())
                        .collect(),
                },
            )))?;
        }
        for channel in &waveform.channels {
            let unit =
                crate::units::parse_unit(&channel.unit).map_err(|e| RunError::Evaluation {
                    line,
                    message: format!("waveform {}: {e}", capture.id),
                })?;
            let name = format!("{}_{}", capture.id, channel.quantity);
            frame
                .measurements
                .insert(name.clone(), (channel.values.clone(), unit));
            frame
                .sources
                .insert(name, (role.to_string(), channel.quantity.clone()));
        }
        Ok(())
    }

    fn sweep(&mut self, sweep: &Sweep, frame: &mut Frame) -> Result<(), RunError> {
        for (label, row) in &sweep.rows {
            let index = self.set_points;
            self.set_points += 1;
            if self.resume_from.is_some_and(|r| index < r) {
                // Complete before the interruption: its samples and checks are in the journal.
                continue;
            }
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
            self.announce_set_point(label);
            let result = self.run_steps(&sweep.steps, &mut inner);
            // Points collected at this set point stay visible after the sweep.
            frame.series = inner.series;
            result?;
        }
        Ok(())
    }

    /// Runs a group until it passes or its attempts are spent. Every attempt stays in the
    /// journal; the checks of a retried attempt do not count towards the verdict.
    fn repeat(&mut self, repeat: &Repeat, frame: &mut Frame, line: usize) -> Result<(), RunError> {
        let attempts = self.count(&repeat.attempts, frame, line)?;
        let before = self.verdict;
        for attempt in 1..=attempts {
            self.emit(RunEvent::AttemptStarted {
                group: repeat.name.clone(),
                attempt,
                of: attempts,
            })?;
            self.verdict = Verdict::Pass;
            let mut inner = frame.clone();
            inner.attempt = Some(attempt);
            let result = self.run_steps(&repeat.steps, &mut inner);
            let errored = matches!(&result, Err(e) if !matches!(e, RunError::Aborted { .. } | RunError::Journal(_)));
            let outcome = if result.is_err() {
                Verdict::Error
            } else {
                self.verdict
            };
            let retry = attempt < attempts
                && ((outcome == Verdict::Fail && repeat.retry_on_fail)
                    || (errored && repeat.retry_on_error));
            if let (Err(e), true) = (&result, retry) {
                self.emit(RunEvent::Error {
                    role: error_role(e),
                    message: super::error_chain(e),
                })?;
            }
            self.emit(RunEvent::AttemptEnded {
                group: repeat.name.clone(),
                attempt,
                outcome,
                retried: retry,
            })?;
            if retry {
                continue;
            }
            self.verdict = before.combine(if outcome == Verdict::Error {
                Verdict::Pass
            } else {
                outcome
            });
            result?;
            *frame = Frame {
                attempt: frame.attempt,
                ..inner
            };
            if outcome == Verdict::Fail && repeat.stop_when_exhausted {
                return Err(RunError::StoppedAfterFailure {
                    group: repeat.name.clone(),
                    attempts: attempt,
                });
            }
            return Ok(());
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
            attempt: frame.attempt,
            superseded: false,
            uncertainty: None,
            decision: None,
        };
        if let Some(when) = &check.when {
            match when.expr.eval(frame) {
                Ok(Value::Bool(true)) => {}
                Ok(_) => {
                    outcome.applicable = false;
                    outcome.note = Some(format!("not applicable: `{}` does not hold", when.text));
                }
                Err(e) => {
                    let message = format!("`{}`: {e}", when.text);
                    return Err(RunError::Evaluation { line, message });
                }
            }
        }
        // The values decided: every sample (read where the frame keeps them), or the one value.
        let single: [f64; 1];
        let (values, unit): (&[f64], Unit) = if check.each {
            let (values, unit) = frame.measurements.get(&check.measurement).ok_or_else(|| {
                let message = format!("measurement `{}` was not taken", check.measurement);
                RunError::Evaluation { line, message }
            })?;
            (values, unit.clone())
        } else {
            let value = self.quantity(&check.value, frame, line)?;
            single = [value.value];
            (&single, value.unit)
        };
        let limit = self.limit(check, frame, &unit, line)?;
        outcome.target = limit.target.map(|t| Quantity::new(t, unit.clone()));
        let tolerance = crate::analysis::Limit {
            low: limit.low,
            high: limit.high,
            unit: unit.clone(),
        };
        let mut notes = Vec::new();
        // One decision per value (one, or every sample); the worst one is reported.
        let mut worst: Option<(crate::analysis::Decision, Option<UncertaintyBudget>)> = None;
        let mut failing = 0;
        for value in values {
            let budget = self.budget(check, frame, *value, &unit, line, &mut notes)?;
            let u = budget.as_ref().map_or(0.0, |b| b.expanded_uncertainty);
            let rule = self.rule(check, frame, u, &unit, line)?;
            let decision = decide(*value, u, &tolerance, &rule);
            if decision.verdict(check.decision.conditional) != Verdict::Pass {
                failing += 1;
            }
            let worse = worst.as_ref().is_none_or(|(w, _)| {
                (decision.outcome, margin(&decision)) > (w.outcome, margin(w))
            });
            if worse {
                worst = Some((decision, budget));
            }
        }
        let Some((decision, budget)) = worst else {
            return Err(RunError::Evaluation {
                line,
                message: format!("`{}` has no value", check.value.text),
            });
        };
        if outcome.applicable {
            outcome.verdict = if failing == 0 {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            self.verdict = self.verdict.combine(outcome.verdict);
            if failing > 0 && check.each {
                notes.push(format!(
                    "{failing} of {} samples not accepted",
                    values.len()
                ));
            } else if failing > 0 {
                notes.push(format!(
                    "{} {unit} is {} ({})",
                    fmt(decision.measured),
                    decision.outcome.as_str(),
                    if decision.within_tolerance {
                        "inside the tolerance, within the guard band"
                    } else {
                        "outside the tolerance"
                    }
                ));
            } else if decision.outcome == Outcome::ConditionalPass {
                notes.push(
                    "conditional pass: within the guard band, accepted as the procedure says"
                        .into(),
                );
            }
        }
        if !notes.is_empty() {
            let previous = outcome.note.take().into_iter();
            outcome.note = Some(previous.chain(notes).collect::<Vec<_>>().join("; "));
        }
        outcome.value = Some(Quantity::new(decision.measured, unit.clone()));
        outcome.limit = Some(LimitRecord {
            low: limit.low,
            high: limit.high,
            unit: unit.symbol().to_string(),
            description: limit.description,
        });
        outcome.uncertainty = budget;
        outcome.decision = Some(decision);
        self.emit(RunEvent::Check(Box::new(outcome)))
    }

    /// The uncertainty budget of `value`: repeatability (type A, for a mean), the reference
    /// instrument's accuracy from the fixture (type B, rectangular), and the contributions the
    /// procedure declares. `None` when nothing is known, which the record then shows.
    #[allow(clippy::too_many_arguments)]
    fn budget(
        &self,
        check: &Check,
        frame: &Frame,
        value: f64,
        unit: &Unit,
        line: usize,
        notes: &mut Vec<String>,
    ) -> Result<Option<UncertaintyBudget>, RunError> {
        let mut contributions = Vec::new();
        let evaluation = |e: crate::analysis::AnalysisError| RunError::Evaluation {
            line,
            message: e.to_string(),
        };
        let samples = frame.measurements.get(&check.measurement);
        if let (false, "mean", Some((values, sample_unit))) =
            (check.each, check.statistic.as_str(), samples)
            && values.len() >= 2
        {
            {
                let name = format!(
                    "repeatability of {} (n = {})",
                    check.measurement,
                    values.len()
                );
                contributions.push(
                    Contribution::type_a(name, values, sample_unit.clone()).map_err(evaluation)?,
                );
            }
        }
        let same_dimension = samples.is_some_and(|(_, u)| u.dimension() == unit.dimension());
        let source = frame.sources.get(&check.measurement);
        let role = source.map(|(role, _)| role);
        let accuracy = source.and_then(|(role, quantity)| {
            let instrument = self.bench.instruments.get(role)?;
            instrument.config.accuracy.of(quantity).map(str::to_string)
        });
        if let (true, Some(role), Some(text)) = (same_dimension, role, accuracy) {
            let reading = Quantity::new(value, unit.clone());
            let spec = parse_accuracy(&text);
            match spec.and_then(|spec| {
                Contribution::from_accuracy(format!("accuracy of {role}: {text}"), &spec, &reading)
            }) {
                Ok(c) => contributions.push(c),
                Err(e) => notes.push(format!("the accuracy of {role} ({text}) was not used: {e}")),
            }
        }
        for declared in &check.contributions {
            let half_width = self.quantity(&declared.half_width, frame, line)?;
            let half_width = half_width.to_unit(unit).map_err(|e| RunError::Evaluation {
                line,
                message: e.to_string(),
            })?;
            let c = Contribution::type_b(
                declared.name.clone(),
                half_width.value.abs(),
                declared.distribution,
                unit.clone(),
            );
            contributions.push(c.map_err(evaluation)?);
        }
        if contributions.is_empty() {
            return Ok(None);
        }
        UncertaintyBudget::evaluate_at(contributions, check.coverage)
            .map(Some)
            .map_err(evaluation)
    }

    /// The decision rule of a check, with its guard band evaluated for expanded uncertainty `u`.
    fn rule(
        &self,
        check: &Check,
        frame: &Frame,
        u: f64,
        unit: &Unit,
        line: usize,
    ) -> Result<DecisionRule, RunError> {
        let guard = match &check.decision.guard {
            None => GuardBand::ExpandedUncertainty,
            Some(formula) => {
                let mut scope = frame.clone();
                scope
                    .values
                    .insert("U".into(), Quantity::new(u, unit.clone()));
                let w = self.quantity(formula, &scope, line)?;
                let w = w.to_unit(unit).map_err(|e| RunError::Evaluation {
                    line,
                    message: e.to_string(),
                })?;
                GuardBand::Absolute(w.value)
            }
        };
        Ok(match check.decision.rule {
            RuleKind::Simple => DecisionRule::Simple,
            RuleKind::Guarded => DecisionRule::Guarded { guard },
            RuleKind::NonBinary => DecisionRule::NonBinary { guard },
        })
    }

    /// Evaluates a check's limit in `unit` (once per run when it is constant).
    fn limit(
        &self,
        check: &Check,
        frame: &Frame,
        unit: &Unit,
        line: usize,
    ) -> Result<EvaluatedLimit, RunError> {
        self.constants.limit(check, unit, || {
            self.evaluate_limit(check, frame, unit, line)
        })
    }

    fn evaluate_limit(
        &self,
        check: &Check,
        frame: &Frame,
        unit: &Unit,
        line: usize,
    ) -> Result<EvaluatedLimit, RunError> {
        let in_unit = |f: &Formula| -> Result<f64, RunError> {
            let q = self.quantity(f, frame, line)?;
            if q.unit.is_compatible(unit) {
                // What `to_unit` computes, without a copy of the unit for each bound.
                return Ok(q.si_value() / unit.factor());
            }
            q.to_unit(unit)
                .map(|q| q.value)
                .map_err(|e| RunError::Evaluation {
                    line,
                    message: e.to_string(),
                })
        };
        let mut limit = EvaluatedLimit::default();
        let mut description = Vec::new();
        if let (Some(target), Some(tolerance)) = (&check.target, &check.tolerance) {
            let t = in_unit(target)?;
            let w = in_unit(tolerance)?.abs();
            limit.low = Some(t - w);
            limit.high = Some(t + w);
            limit.target = Some(t);
            description.push(format!(
                "{} ± ({}) = {} ± {} {unit}",
                target.text,
                tolerance.text,
                fmt(t),
                fmt(w)
            ));
        }
        if let Some(min) = &check.min {
            let m = in_unit(min)?;
            limit.low = Some(limit.low.map_or(m, |l| l.max(m)));
            description.push(format!("≥ {} {unit} ({})", fmt(m), min.text));
        }
        if let Some(max) = &check.max {
            let m = in_unit(max)?;
            limit.high = Some(limit.high.map_or(m, |h| h.min(m)));
            description.push(format!("≤ {} {unit} ({})", fmt(m), max.text));
        }
        if check.each {
            description.push("for every sample".into());
        }
        limit.description = description.join("; ");
        Ok(limit)
    }

    fn quantity(
        &self,
        formula: &Formula,
        frame: &Frame,
        line: usize,
    ) -> Result<Quantity, RunError> {
        if let crate::procedure::expr::Expr::Literal(q) = &formula.expr {
            // A constant (a limit, a timeout, a count): the value evaluation would give, as
            // `Value::from_quantity` and `Value::to_quantity` compute it, with one copy of
            // the unit instead of two.
            return Ok(Quantity::new(
                q.si_value() / q.unit.factor(),
                q.unit.clone(),
            ));
        }
        let constant = self
            .constants
            .formula(formula, || self.evaluate(formula, frame, line))?;
        match constant {
            Some(q) => Ok(q),
            None => self.evaluate(formula, frame, line),
        }
    }

    fn evaluate(
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

    /// Real time allowed for a bench-time timeout. On a simulated bench the time scale
    /// shrinks timeouts too, until the host's own hiccups (a slow fdatasync, a busy core)
    /// would dominate them; a timeout there never drops below [`SIMULATED_TIMEOUT_FLOOR`].
    /// Timeouts only guard against hangs, so the floor changes no result.
    fn real_timeout(&self, timeout: &Quantity) -> Duration {
        let real = self.real(timeout);
        if self.time_scale > 1.0 {
            real.max(SIMULATED_TIMEOUT_FLOOR)
        } else {
            real
        }
    }

    /// Sleeps in short slices so that a stop request is honoured promptly.
    pub(super) fn sleep(&self, duration: Duration) -> Result<(), RunError> {
        let end = Instant::now() + duration;
        loop {
            self.check_abort()?;
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// How far a decided value lies inside its acceptance zone (negative: outside); ranks two
/// decisions of the same outcome.
fn margin(d: &crate::analysis::Decision) -> f64 {
    let below = d
        .acceptance_zone
        .low
        .map_or(f64::INFINITY, |l| d.measured - l);
    let above = d
        .acceptance_zone
        .high
        .map_or(f64::INFINITY, |h| h - d.measured);
    -below.min(above)
}

/// The least real time a timeout is given on a simulated bench (see `real_timeout`).
pub const SIMULATED_TIMEOUT_FLOOR: Duration = Duration::from_secs(5);

/// What a measurement reads, and the steps run before each of its samples.
#[derive(Clone, Copy)]
struct Sample<'a> {
    id: &'a str,
    role: &'a str,
    quantity: &'a str,
    before_each: &'a [crate::procedure::Step],
}

/// The role an error concerns, if it concerns one.
pub fn error_role(error: &RunError) -> Option<String> {
    match error {
        RunError::Instrument { role, .. }
        | RunError::LinkNotRestored { role, .. }
        | RunError::Link { role, .. }
        | RunError::IdentityMismatch { role, .. }
        | RunError::CalibrationExpired { role, .. }
        | RunError::Interlock { role, .. }
        | RunError::RoleNotProvided { role, .. }
        | RunError::CanBus { role, .. } => Some(role.clone()),
        _ => None,
    }
}

/// Refuses `value` for `setting` of `role` when it lies outside `min`..`max`.
pub fn check_limit(
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
    let mut s = format!("{x:.digits$}");
    if s.contains('.') {
        let kept = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(kept);
    }
    s
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
