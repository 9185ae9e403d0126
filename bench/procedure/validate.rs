//! From raw YAML to a checked [`Procedure`], reporting every problem with its position.
//!
//! Expressions are checked by evaluating them in a scope where parameters hold their
//! defaults, set-point columns hold their first row, and measurements hold one sample in the
//! unit their instrument kind reports. Any name, unit or type error therefore shows before a
//! device moves.

use super::diagnostic::{Diagnostic, ValidationError, did_you_mean};
use super::expr::{self, Expr, Scope, Value};
use super::raw::{RawCheck, RawMeasure, RawProcedure, RawStep, RawSweep, RawWait, Text};
use super::{Check, Formula, Parameter, Procedure, Role, SampleCount, Step, StepKind, Sweep};
use crate::driver::{DRIVERS, DriverSpec};
use crate::units::{ATOMS, Dimension, Quantity, Unit, parse_quantity, parse_unit};
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::Path;

/// Reads and validates the procedure at `path`.
pub fn load_procedure(path: &Path) -> Result<(Procedure, String), ValidationError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ValidationError::new(
            path.to_path_buf(),
            String::new(),
            vec![Diagnostic {
                line: 0,
                column: 0,
                message: format!("cannot read the file: {e}"),
            }],
        )
    })?;
    let procedure = parse_procedure(path, &text)?;
    Ok((procedure, text))
}

/// Validates procedure `text` (read from `path`, used in messages).
pub fn parse_procedure(path: &Path, text: &str) -> Result<Procedure, ValidationError> {
    let fail =
        |diagnostics| ValidationError::new(path.to_path_buf(), text.to_string(), diagnostics);
    let raw: RawProcedure =
        serde_saphyr::from_str(text).map_err(|e| fail(vec![yaml_diagnostic(&e)]))?;
    let mut v = Validator {
        diagnostics: Vec::new(),
        roles: BTreeMap::new(),
    };
    let procedure = v.procedure(raw);
    if v.diagnostics.is_empty() {
        Ok(procedure)
    } else {
        Err(fail(v.diagnostics))
    }
}

/// A diagnostic from a YAML syntax or shape error, with a did-you-mean hint for unknown keys.
pub fn yaml_diagnostic(error: &serde_saphyr::Error) -> Diagnostic {
    let message = error.to_string();
    // serde-saphyr appends its own location and snippet; keep the first line, which says
    // what is wrong, since our display shows the line and caret itself.
    let first = message.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // Drop a leading "line N column M: " since the diagnostic carries the position.
    let first = match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((position, rest)) if position.contains("column") => rest,
        _ => first,
    };
    let first = first.split(" at line ").next().unwrap_or(first).to_string();
    let hint = unknown_field_hint(&first);
    let message = match hint {
        Some(h) => format!("{first}\n{h}"),
        None => first,
    };
    match error.location() {
        Some(loc) => Diagnostic::at(&loc, message),
        None => Diagnostic {
            line: 0,
            column: 0,
            message,
        },
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" messages, a did-you-mean hint.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, expected) = rest.split_once('`')?;
    let list = expected
        .split("expected one of")
        .nth(1)
        .or_else(|| expected.split("expected").nth(1))?;
    let candidates: Vec<&str> = list
        .split(',')
        .map(|c| c.trim().trim_matches('`').trim())
        .filter(|c| !c.is_empty())
        .collect();
    did_you_mean(field, candidates.iter().copied()).map(|s| format!("did you mean `{s}`?"))
}

struct Validator {
    diagnostics: Vec<Diagnostic>,
    roles: BTreeMap<String, String>,
}

/// Names visible to an expression during validation.
#[derive(Clone, Default)]
struct ValidationScope {
    values: BTreeMap<String, Quantity>,
    measurements: BTreeMap<String, Unit>,
    /// Names whose definition was itself invalid: expressions using them are not evaluated,
    /// so one mistake is reported once and not again at every use.
    poisoned: std::collections::BTreeSet<String>,
}

impl ValidationScope {
    fn uses_poisoned(&self, expr: &Expr) -> bool {
        expr.names().iter().any(|n| self.poisoned.contains(*n))
    }
}

impl Scope for ValidationScope {
    fn value(&self, name: &str) -> Option<Value> {
        self.values.get(name).map(Value::from_quantity)
    }
    fn samples(&self, name: &str) -> Option<(Vec<f64>, Unit)> {
        // Two distinct samples so that every statistic (sd, cv) can be computed.
        self.measurements
            .get(name)
            .map(|u| (vec![1.0, 2.0], u.clone()))
    }
}

/// Names that cannot be parameters or columns: they would shadow functions or keywords.
const RESERVED: &[&str] = &[
    "and", "or", "not", "mean", "sd", "cv", "count", "median", "min", "max", "abs",
];

impl Validator {
    fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::at(location, message));
    }

    fn required(&mut self, text: &Text, what: &str) -> String {
        if text.value.trim().is_empty() {
            self.error(&text.referenced, format!("{what} must not be empty"));
        }
        text.value.clone()
    }

    fn procedure(&mut self, raw: RawProcedure) -> Procedure {
        let id = self.required(&raw.id, "id");
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            self.error(
                &raw.id.referenced,
                "id may hold only letters, digits, `-`, `_` and `.`",
            );
        }
        let mut roles = BTreeMap::new();
        for (name, role) in &raw.roles {
            let kind = role.value.kind.value.clone();
            if !DRIVERS.iter().any(|d| d.kind == kind) {
                let kinds: Vec<&str> = DRIVERS.iter().map(|d| d.kind).collect();
                let hint = did_you_mean(&kind, kinds.iter().copied())
                    .map(|k| format!("\ndid you mean `{k}`?"))
                    .unwrap_or_else(|| format!("\nknown kinds: {}", dedup(&kinds).join(", ")));
                self.error(
                    &role.value.kind.referenced,
                    format!("unknown instrument kind `{kind}`{hint}"),
                );
            }
            self.roles.insert(name.clone(), kind.clone());
            roles.insert(
                name.clone(),
                Role {
                    kind,
                    description: role.value.description.as_ref().map(|d| d.value.clone()),
                },
            );
        }
        let mut scope = ValidationScope::default();
        let mut parameters = BTreeMap::new();
        for (name, p) in &raw.parameters {
            self.check_binding_name(name, &p.referenced);
            match parse_quantity(&p.value.default.value) {
                Ok(q) => {
                    scope.values.insert(name.clone(), q.clone());
                    parameters.insert(
                        name.clone(),
                        Parameter {
                            default: q,
                            description: p.value.description.as_ref().map(|d| d.value.clone()),
                        },
                    );
                }
                Err(e) => self.error(
                    &p.value.default.referenced,
                    format!("parameter `{name}`: {e}"),
                ),
            }
        }
        let setup = self.steps(&raw.setup, &mut scope.clone());
        let steps = self.steps(&raw.steps, &mut scope.clone());
        let teardown = self.steps(&raw.teardown, &mut scope.clone());
        if steps.is_empty() && raw.steps.is_empty() {
            self.error(&raw.id.referenced, "the procedure has no steps");
        }
        Procedure {
            id,
            title: self.required(&raw.title, "title"),
            version: self.required(&raw.version, "version"),
            standard: self.required(&raw.standard, "standard"),
            clause: self.required(&raw.clause, "clause"),
            author: raw.author.map(|t| t.value),
            change_note: raw.change_note.map(|t| t.value),
            description: raw.description.map(|t| t.value),
            roles,
            parameters,
            setup,
            steps,
            teardown,
        }
    }

    fn check_binding_name(&mut self, name: &str, location: &Location) {
        if RESERVED.contains(&name) || ATOMS.iter().any(|(s, _, _)| *s == name) {
            self.error(
                location,
                format!("`{name}` is a unit, function or keyword and cannot name a value"),
            );
        } else if !name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            || !name.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            self.error(
                location,
                format!("`{name}` is not a valid name (letters, digits and `_`)"),
            );
        }
    }

    fn steps(&mut self, raw: &[Spanned<RawStep>], scope: &mut ValidationScope) -> Vec<Step> {
        raw.iter().filter_map(|s| self.step(s, scope)).collect()
    }

    fn step(&mut self, raw: &Spanned<RawStep>, scope: &mut ValidationScope) -> Option<Step> {
        let at = &raw.referenced;
        let line = usize::try_from(at.line()).unwrap_or(0);
        let kind = match &raw.value {
            RawStep::Set(set) => {
                let spec = self.role(&set.role)?;
                let mut values = Vec::new();
                for (name, text) in &set.values {
                    let Some(setting) = spec.settings.iter().find(|s| s.name == name) else {
                        let hint = did_you_mean(name, spec.settings.iter().map(|s| s.name))
                            .map(|s| format!("\ndid you mean `{s}`?"))
                            .unwrap_or_else(|| {
                                let names: Vec<&str> =
                                    spec.settings.iter().map(|s| s.name).collect();
                                format!("\nsettings of a {}: {}", spec.kind, names.join(", "))
                            });
                        self.error(
                            &text.referenced,
                            format!("a {} has no setting `{name}`{hint}", spec.kind),
                        );
                        continue;
                    };
                    let unit = parse_unit(setting.unit).ok();
                    if let Some(f) = self.formula(text, scope, unit.map(|u| u.dimension()), name) {
                        values.push((name.clone(), f));
                    }
                }
                StepKind::Set {
                    role: set.role.value.clone(),
                    values,
                }
            }
            RawStep::Action(action) => {
                let spec = self.role(&action.role)?;
                let name = &action.action.value;
                if !spec.actions.contains(&name.as_str()) {
                    self.error(
                        &action.action.referenced,
                        format!(
                            "a {} has no action `{name}`\nactions: {}",
                            spec.kind,
                            spec.actions.join(", ")
                        ),
                    );
                }
                StepKind::Action {
                    role: action.role.value.clone(),
                    action: name.clone(),
                }
            }
            RawStep::Wait(wait) => self.wait(wait, at, scope)?,
            RawStep::Prompt(prompt) => StepKind::Prompt {
                message: self.required(&prompt.confirm, "a prompt's message"),
            },
            RawStep::Measure(m) => match self.measure(m, at, scope) {
                Some(kind) => kind,
                None => {
                    scope.poisoned.insert(m.id.value.clone());
                    return None;
                }
            },
            RawStep::Sweep(sweep) => StepKind::Sweep(self.sweep(sweep, scope)?),
            RawStep::Check(check) => StepKind::Check(self.check(check, at, scope)?),
        };
        Some(Step { kind, line })
    }

    /// The driver spec of a role's kind, or a diagnostic when the role is undeclared.
    fn role(&mut self, role: &Text) -> Option<&'static DriverSpec> {
        let Some(kind) = self.roles.get(&role.value) else {
            let hint = did_you_mean(&role.value, self.roles.keys().map(String::as_str))
                .map(|s| format!("\ndid you mean `{s}`?"))
                .unwrap_or_else(|| "\ndeclare it under `roles:`".to_string());
            self.error(
                &role.referenced,
                format!("role `{}` is not declared{hint}", role.value),
            );
            return None;
        };
        DRIVERS.iter().find(|d| d.kind == kind)
    }

    /// Parses `text` and evaluates it in `scope`, expecting `dimension` when given.
    fn formula(
        &mut self,
        text: &Text,
        scope: &ValidationScope,
        dimension: Option<Dimension>,
        what: &str,
    ) -> Option<Formula> {
        let parsed = match expr::parse(&text.value) {
            Ok(e) => e,
            Err(e) => {
                self.expr_error(text, &e);
                return None;
            }
        };
        if scope.uses_poisoned(&parsed) {
            return Some(Formula {
                expr: parsed,
                text: text.value.clone(),
            });
        }
        match parsed.eval(scope) {
            Ok(Value::Number { dimension: d, .. }) => {
                if let Some(expected) = dimension {
                    if d != expected {
                        self.error(
                            &text.referenced,
                            format!(
                                "{what} must be a {}, but `{}` is a {}",
                                expected.describe(),
                                text.value,
                                d.describe()
                            ),
                        );
                    }
                }
            }
            Ok(Value::Bool(_)) => {
                self.error(
                    &text.referenced,
                    format!("{what} must be a number, not a condition"),
                );
            }
            Err(e) => self.expr_error(text, &e),
        }
        Some(Formula {
            expr: parsed,
            text: text.value.clone(),
        })
    }

    fn condition(&mut self, text: &Text, scope: &ValidationScope) -> Option<Formula> {
        let parsed = match expr::parse(&text.value) {
            Ok(e) => e,
            Err(e) => {
                self.expr_error(text, &e);
                return None;
            }
        };
        if scope.uses_poisoned(&parsed) {
            return Some(Formula {
                expr: parsed,
                text: text.value.clone(),
            });
        }
        match parsed.eval(scope) {
            Ok(Value::Bool(_)) => {}
            Ok(Value::Number { .. }) => self.error(
                &text.referenced,
                "`when` must be a condition, such as `volume > 50 mL`",
            ),
            Err(e) => self.expr_error(text, &e),
        }
        Some(Formula {
            expr: parsed,
            text: text.value.clone(),
        })
    }

    fn expr_error(&mut self, text: &Text, error: &expr::ExprError) {
        let mut location = Diagnostic::at(&text.referenced, error.message.clone());
        // Point into a plain one-line scalar at the offending character.
        if let Some(offset) = error.offset {
            if !text.value.contains('\n') {
                location.column += text.value[..offset.min(text.value.len())].chars().count();
            }
        }
        let message = match &error.message {
            m if m.starts_with("unknown name `") => {
                let name = m.trim_start_matches("unknown name `").trim_end_matches('`');
                format!(
                    "{m}\nit is not a parameter, a set-point column, a measurement taken before, or a unit ({name})"
                )
            }
            m => m.clone(),
        };
        location.message = message;
        self.diagnostics.push(location);
    }

    fn count(&mut self, text: &Text, scope: &ValidationScope, what: &str) -> Option<Formula> {
        let f = self.formula(text, scope, Some(Dimension::NONE), what)?;
        if let Ok(Value::Number { si, .. }) = f.expr.eval(scope) {
            if si < 1.0 || si.fract() != 0.0 {
                self.error(
                    &text.referenced,
                    format!("{what} must be a whole number of at least 1"),
                );
            }
        }
        Some(f)
    }

    fn duration(&mut self, text: &Text, scope: &ValidationScope, what: &str) -> Option<Formula> {
        let time = parse_unit("s").ok().map(|u| u.dimension());
        self.formula(text, scope, time, what)
    }

    fn wait(&mut self, wait: &RawWait, at: &Location, scope: &ValidationScope) -> Option<StepKind> {
        match (&wait.duration, &wait.breaths) {
            (Some(d), None) => Some(StepKind::WaitDuration(self.duration(
                d,
                scope,
                "a wait's duration",
            )?)),
            (None, Some(b)) => {
                let Some(role) = &wait.role else {
                    self.error(
                        at,
                        "a wait for breaths needs `role:` (whose breaths are counted)",
                    );
                    return None;
                };
                let Some(timeout) = &wait.timeout else {
                    self.error(
                        at,
                        "a wait for breaths needs `timeout:` (the longest it may take)",
                    );
                    return None;
                };
                let spec = self.role(role)?;
                if !spec.events.contains(&crate::driver::DeviceEvent::Breath) {
                    self.error(
                        &role.referenced,
                        format!("a {} does not signal breaths", spec.kind),
                    );
                }
                Some(StepKind::WaitBreaths {
                    role: role.value.clone(),
                    count: self.count(b, scope, "the number of breaths")?,
                    timeout: self.duration(timeout, scope, "a timeout")?,
                })
            }
            _ => {
                self.error(at, "a wait needs exactly one of `duration:` or `breaths:`");
                None
            }
        }
    }

    fn measure(
        &mut self,
        m: &RawMeasure,
        at: &Location,
        scope: &mut ValidationScope,
    ) -> Option<StepKind> {
        self.check_binding_name(&m.id.value, &m.id.referenced);
        if scope.measurements.contains_key(&m.id.value) {
            self.error(
                &m.id.referenced,
                format!("measurement `{}` is already defined here", m.id.value),
            );
        }
        let spec = self.role(&m.role)?;
        let Some(quantity) = spec.quantities.iter().find(|q| q.name == m.quantity.value) else {
            let hint = did_you_mean(&m.quantity.value, spec.quantities.iter().map(|q| q.name))
                .map(|s| format!("\ndid you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let names: Vec<&str> = spec.quantities.iter().map(|q| q.name).collect();
                    format!("\nquantities of a {}: {}", spec.kind, names.join(", "))
                });
            self.error(
                &m.quantity.referenced,
                format!(
                    "a {} does not measure `{}`{hint}",
                    spec.kind, m.quantity.value
                ),
            );
            return None;
        };
        let count = match (&m.breaths, &m.samples) {
            (Some(b), None) => {
                if !spec.events.contains(&crate::driver::DeviceEvent::Breath) {
                    self.error(
                        &m.role.referenced,
                        format!("a {} does not signal breaths", spec.kind),
                    );
                }
                SampleCount::Breaths(self.count(b, scope, "the number of breaths")?)
            }
            (None, Some(s)) => {
                SampleCount::Samples(self.count(s, scope, "the number of samples")?)
            }
            _ => {
                self.error(
                    at,
                    "a measurement needs exactly one of `breaths:` or `samples:`",
                );
                return None;
            }
        };
        let timeout = self.duration(&m.timeout, scope, "a timeout")?;
        if let Ok(unit) = parse_unit(quantity.unit) {
            scope.measurements.insert(m.id.value.clone(), unit);
        }
        Some(StepKind::Measure {
            id: m.id.value.clone(),
            role: m.role.value.clone(),
            quantity: m.quantity.value.clone(),
            count,
            timeout,
        })
    }

    fn sweep(&mut self, sweep: &RawSweep, scope: &ValidationScope) -> Option<Sweep> {
        let table = &sweep.table.value;
        let at = &sweep.table.referenced;
        if table.columns.len() != table.units.len() {
            self.error(
                at,
                format!(
                    "the table has {} columns but {} units",
                    table.columns.len(),
                    table.units.len()
                ),
            );
            return None;
        }
        let mut columns = Vec::new();
        for (name, unit) in table.columns.iter().zip(&table.units) {
            self.check_binding_name(&name.value, &name.referenced);
            if scope.values.contains_key(&name.value) {
                self.error(
                    &name.referenced,
                    format!("column `{}` hides a parameter of the same name", name.value),
                );
            }
            match parse_unit(&unit.value) {
                Ok(u) => columns.push((name.value.clone(), u)),
                Err(e) => self.error(&unit.referenced, e.to_string()),
            }
        }
        if columns.len() != table.columns.len() {
            return None;
        }
        if table.rows.is_empty() {
            self.error(at, "the table has no rows");
            return None;
        }
        if let Some(labels) = &table.labels {
            if labels.len() != table.rows.len() {
                self.error(
                    at,
                    format!("{} labels for {} rows", labels.len(), table.rows.len()),
                );
            }
        }
        let mut rows = Vec::new();
        for (i, row) in table.rows.iter().enumerate() {
            if row.value.len() != columns.len() {
                self.error(
                    &row.referenced,
                    format!(
                        "row {} has {} values for {} columns",
                        i + 1,
                        row.value.len(),
                        columns.len()
                    ),
                );
                continue;
            }
            let label = table
                .labels
                .as_ref()
                .and_then(|l| l.get(i))
                .map(|l| l.value.clone())
                .unwrap_or_else(|| format!("row {}", i + 1));
            let values: Vec<Quantity> = row
                .value
                .iter()
                .zip(&columns)
                .map(|(v, (_, u))| Quantity::new(*v, u.clone()))
                .collect();
            rows.push((label, values));
        }
        let mut inner = scope.clone();
        if let Some((_, first)) = rows.first() {
            for ((name, _), q) in columns.iter().zip(first) {
                inner.values.insert(name.clone(), q.clone());
            }
        }
        let steps = self.steps(&sweep.steps, &mut inner);
        Some(Sweep {
            name: sweep.name.value.clone(),
            columns,
            rows,
            steps,
        })
    }

    fn check(&mut self, c: &RawCheck, at: &Location, scope: &ValidationScope) -> Option<Check> {
        let value = self.formula(&c.value, scope, None, "a check's value")?;
        let (measurement, statistic) = match &value.expr {
            Expr::Call(f, args) => match args.as_slice() {
                [Expr::Name(m)] if scope.measurements.contains_key(m) => (m.clone(), f.clone()),
                _ => (String::new(), String::new()),
            },
            _ => (String::new(), String::new()),
        };
        let dimension = match value
            .expr
            .eval(scope)
            .ok()
            .filter(|_| !scope.uses_poisoned(&value.expr))
        {
            Some(Value::Number { dimension, .. }) => Some(dimension),
            _ => None,
        };
        let bound = |v: &mut Validator, t: &Option<Text>, what: &str| {
            t.as_ref()
                .and_then(|t| v.formula(t, scope, dimension, what))
        };
        let target = bound(self, &c.target, "the target");
        let tolerance = bound(self, &c.tolerance, "the tolerance");
        let min = bound(self, &c.min, "the lower limit");
        let max = bound(self, &c.max, "the upper limit");
        if target.is_some() != tolerance.is_some() && c.target.is_some() != c.tolerance.is_some() {
            self.error(
                at,
                "`target:` and `tolerance:` go together (target ± tolerance)",
            );
        }
        if c.target.is_none() && c.min.is_none() && c.max.is_none() {
            self.error(
                at,
                "a check needs a limit: `target:` with `tolerance:`, or `min:` and/or `max:`",
            );
        }
        let when = c.when.as_ref().and_then(|w| self.condition(w, scope));
        Some(Check {
            id: self.required(&c.id, "a check's id"),
            title: self.required(&c.title, "a check's title"),
            value,
            target,
            tolerance,
            min,
            max,
            when,
            measurement,
            statistic,
        })
    }
}

fn dedup<'a>(items: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i);
        }
    }
    out
}
