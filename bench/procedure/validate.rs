//! From raw YAML to a checked [`Procedure`], reporting every problem with its position.
//!
//! Expressions are checked by evaluating them in a scope where parameters hold their
//! defaults, set-point columns hold their first row, and measurements hold one sample in the
//! unit their instrument kind reports. Any name, unit or type error therefore shows before a
//! device moves.

use super::diagnostic::{Diagnostic, ValidationError, did_you_mean};
use super::expr::{self, Expr, Scope, Value};
use super::raw::{
    RawCheck, RawMeasure, RawProcedure, RawPrompt, RawRepeat, RawStep, RawSweep, RawWait, Text,
};
use super::{
    Check, DecisionSpec, DeclaredContribution, Formula, Parameter, Procedure, Repeat, Role,
    RuleKind, SampleCount, Step, StepKind, Sweep,
};
use crate::analysis::{ConditionalPolicy, Distribution};
use crate::driver::{DRIVERS, DriverSpec};
use crate::units::{ATOMS, Dimension, Quantity, Unit, parse_quantity, parse_unit};
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::Path;

/// Reads and validates the procedure at `path`.
pub fn load_procedure(path: &Path) -> Result<(Procedure, String), ValidationError> {
    let text = super::diagnostic::read_source(path)?;
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
        used: BTreeMap::new(),
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
    /// Capabilities each role's steps use.
    used: BTreeMap<String, Vec<String>>,
}

/// The driver specification that describes instruments of `kind` (settings, quantities).
pub fn kind_spec(kind: &str) -> Option<&'static DriverSpec> {
    DRIVERS.iter().find(|d| d.kind == kind)
}

/// Names visible to an expression during validation.
#[derive(Clone, Default)]
struct ValidationScope {
    values: BTreeMap<String, Quantity>,
    measurements: BTreeMap<String, Unit>,
    /// Series collected so far (with stand-in points, so that fits can be evaluated).
    series: BTreeMap<String, expr::Series>,
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
    fn samples(&self, name: &str) -> Option<(&[f64], &Unit)> {
        // Two distinct samples so that every statistic (sd, cv) can be computed.
        self.measurements.get(name).map(|u| (&[1.0, 2.0][..], u))
    }
    fn series(&self, name: &str) -> Option<expr::Series> {
        self.series.get(name).cloned()
    }
}

/// The specification standing for kinds without a built-in driver (empty: every name is
/// accepted in validation and checked against the fixture's instrument instead).
static OPEN_KIND: DriverSpec = DriverSpec {
    name: "",
    kind: "",
    settings: &[],
    actions: &[],
    quantities: &[],
    events: &[],
};

/// The unit symbol standing for "known only at run time".
const OPEN_UNIT: &str = "(unit known at run time)";

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
            self.check_binding_name(name, &role.referenced);
            let kind = role.value.kind.value.clone();
            let spec = kind_spec(&kind);
            // A kind without a built-in driver (a device profile's, a SCPI or Modbus
            // instrument's) must say what it needs; the fixture's instrument is checked for it.
            if spec.is_none() && role.value.capabilities.is_empty() {
                let kinds: Vec<&str> = DRIVERS.iter().map(|d| d.kind).collect();
                let hint = did_you_mean(&kind, kinds.iter().copied())
                    .map(|k| format!("\ndid you mean `{k}`?"))
                    .unwrap_or_else(|| {
                        format!(
                            "\nbuilt-in kinds: {}; a kind of your own (a device profile's) must list its `capabilities:`",
                            dedup(&kinds).join(", ")
                        )
                    });
                self.error(
                    &role.value.kind.referenced,
                    format!("unknown instrument kind `{kind}`{hint}"),
                );
            }
            let offered = spec.map(|s| crate::driver::Capabilities::of_spec(s).names());
            let mut capabilities = Vec::new();
            for capability in &role.value.capabilities {
                if let Some(offered) = &offered
                    && !offered.contains(&capability.value)
                {
                    let hint = did_you_mean(&capability.value, offered.iter().map(String::as_str))
                        .map(|s| format!("\ndid you mean `{s}`?"))
                        .unwrap_or_else(|| format!("\na {kind} offers: {}", offered.join(", ")));
                    self.error(
                        &capability.referenced,
                        format!("a {kind} has no capability `{}`{hint}", capability.value),
                    );
                }
                capabilities.push(capability.value.clone());
            }
            self.roles.insert(name.clone(), kind.clone());
            roles.insert(
                name.clone(),
                Role {
                    kind,
                    description: role.value.description.as_ref().map(|d| d.value.clone()),
                    capabilities,
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
        // What setup binds (entries, measurements) is visible to the steps and the teardown;
        // what the steps bind is not visible to the teardown, which also runs when they fail.
        let setup = self.steps(&raw.setup, &mut scope);
        let steps = self.steps(&raw.steps, &mut scope.clone());
        let teardown = self.steps(&raw.teardown, &mut scope);
        for (name, used) in std::mem::take(&mut self.used) {
            if let Some(role) = roles.get_mut(&name) {
                for capability in used {
                    if !role.capabilities.contains(&capability) {
                        role.capabilities.push(capability);
                    }
                }
            }
        }
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
                let open = self.is_open(&set.role.value);
                let mut values = Vec::new();
                for (name, text) in &set.values {
                    if open {
                        self.uses(&set.role.value, name);
                        if let Some(f) = self.formula(text, scope, None, name) {
                            values.push((name.clone(), f));
                        }
                        continue;
                    }
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
                    self.uses(&set.role.value, name);
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
                self.uses(&action.role.value, name);
                if !self.is_open(&action.role.value) && !spec.actions.contains(&name.as_str()) {
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
            RawStep::Prompt(prompt) => self.prompt(prompt, at, scope)?,
            RawStep::Measure(m) => match self.measure(m, at, scope) {
                Some(kind) => kind,
                None => {
                    scope.poisoned.insert(m.id.value.clone());
                    return None;
                }
            },
            RawStep::Sweep(sweep) => StepKind::Sweep(self.sweep(sweep, at, scope)?),
            RawStep::Repeat(repeat) => StepKind::Repeat(self.repeat(repeat, scope)?),
            RawStep::Collect(c) => {
                self.check_binding_name(&c.id.value, &c.id.referenced);
                let x = self.formula(&c.x, scope, None, "a point's x")?;
                let y = self.formula(&c.y, scope, None, "a point's y")?;
                let unit = |f: &Formula| match f.expr.eval(scope) {
                    Ok(v) => v.to_quantity().map(|q| q.unit),
                    Err(_) => None,
                };
                let (x_unit, y_unit) = (unit(&x), unit(&y));
                // Stand-in points, so that fits of the series can be evaluated in validation.
                let series = expr::Series {
                    x: vec![1.0, 2.0, 3.0],
                    y: vec![1.0, 2.0, 3.5],
                    x_unit,
                    y_unit,
                };
                scope.series.insert(c.id.value.clone(), series);
                StepKind::Collect {
                    id: c.id.value.clone(),
                    x,
                    y,
                }
            }
            RawStep::Check(check) => StepKind::Check(Box::new(self.check(check, at, scope)?)),
            RawStep::Capture(c) => StepKind::Capture(self.capture(c, at, scope)?),
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
        Some(kind_spec(kind).unwrap_or(&OPEN_KIND))
    }

    /// Whether `role` is of a kind without a built-in driver (a profile's, say): what it
    /// offers is checked against the fixture's instrument instead.
    fn is_open(&self, role: &str) -> bool {
        self.roles
            .get(role)
            .is_some_and(|kind| kind_spec(kind).is_none())
    }

    /// Notes that `role` uses `capability`.
    fn uses(&mut self, role: &str, capability: &str) {
        let list = self.used.entry(role.to_string()).or_default();
        if !list.iter().any(|c| c == capability) {
            list.push(capability.to_string());
        }
    }

    /// Parses `text` and evaluates it in `scope`, reporting a parse or evaluation error.
    /// `None` when it does not parse; the value is absent when it could not be evaluated, or
    /// uses a name whose definition was itself invalid (already reported).
    fn evaluate(
        &mut self,
        text: &Text,
        scope: &ValidationScope,
    ) -> Option<(Formula, Option<Value>)> {
        let expr = match expr::parse(&text.value) {
            Ok(e) => e,
            Err(e) => {
                self.expr_error(text, &e);
                return None;
            }
        };
        let value = if scope.uses_poisoned(&expr) {
            None
        } else {
            match expr.eval(scope) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.expr_error(text, &e);
                    None
                }
            }
        };
        Some((
            Formula {
                expr,
                text: text.value.clone(),
            },
            value,
        ))
    }

    /// Parses `text` and evaluates it in `scope`, expecting a number of `dimension` when given.
    fn formula(
        &mut self,
        text: &Text,
        scope: &ValidationScope,
        dimension: Option<Dimension>,
        what: &str,
    ) -> Option<Formula> {
        let (formula, value) = self.evaluate(text, scope)?;
        match value {
            Some(Value::Number { dimension: d, .. }) => {
                if let Some(expected) = dimension
                    && d != expected
                {
                    let message = format!(
                        "{what} must be a {}, but `{}` is a {}",
                        expected.describe(),
                        text.value,
                        d.describe()
                    );
                    self.error(&text.referenced, message);
                }
            }
            Some(Value::Bool(_)) => {
                self.error(
                    &text.referenced,
                    format!("{what} must be a number, not a condition"),
                );
            }
            None => {}
        }
        Some(formula)
    }

    /// Parses `text` and evaluates it in `scope`, expecting a condition.
    fn condition(&mut self, text: &Text, scope: &ValidationScope) -> Option<Formula> {
        let (formula, value) = self.evaluate(text, scope)?;
        if let Some(Value::Number { .. }) = value {
            self.error(
                &text.referenced,
                "`when` must be a condition, such as `volume > 50 mL`",
            );
        }
        Some(formula)
    }

    fn expr_error(&mut self, text: &Text, error: &expr::ExprError) {
        let mut location = Diagnostic::at(&text.referenced, error.message.clone());
        // Evaluation errors name what is wrong but not where: find an unknown name in the text.
        let unknown = error
            .message
            .strip_prefix("unknown name `")
            .and_then(|m| m.split('`').next());
        let offset = error
            .offset
            .or_else(|| unknown.and_then(|name| find_word(&text.value, name)));
        // Point into a plain one-line scalar at the offending character.
        if let Some(offset) = offset
            && !text.value.contains('\n')
        {
            location.column += text.value[..offset.min(text.value.len())].chars().count();
        }
        if let Some(name) = unknown {
            location.message = format!(
                "{}\nit is not a parameter, a set-point column, a measurement taken before, or a unit ({name})",
                error.message
            );
        }
        self.diagnostics.push(location);
    }

    fn count(&mut self, text: &Text, scope: &ValidationScope, what: &str) -> Option<Formula> {
        let f = self.formula(text, scope, Some(Dimension::NONE), what)?;
        if let Ok(Value::Number { si, .. }) = f.expr.eval(scope)
            && (si < 1.0 || si.fract() != 0.0)
        {
            self.error(
                &text.referenced,
                format!("{what} must be a whole number of at least 1"),
            );
        }
        Some(f)
    }

    fn duration(&mut self, text: &Text, scope: &ValidationScope, what: &str) -> Option<Formula> {
        let time = parse_unit("s").ok().map(|u| u.dimension());
        self.formula(text, scope, time, what)
    }

    fn wait(&mut self, wait: &RawWait, at: &Location, scope: &ValidationScope) -> Option<StepKind> {
        let forms = [
            wait.duration.is_some(),
            wait.breaths.is_some(),
            wait.until.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            self.error(
                at,
                "a wait needs exactly one of `duration:`, `breaths:` or `until:`",
            );
            return None;
        }
        if let Some(d) = &wait.duration {
            return Some(StepKind::WaitDuration(self.duration(
                d,
                scope,
                "a wait's duration",
            )?));
        }
        let Some(timeout) = &wait.timeout else {
            self.error(at, "this wait needs `timeout:` (the longest it may take)");
            return None;
        };
        if let Some(b) = &wait.breaths {
            let Some(role) = &wait.role else {
                self.error(
                    at,
                    "a wait for breaths needs `role:` (whose breaths are counted)",
                );
                return None;
            };
            let spec = self.role(role)?;
            self.uses(&role.value, "breath");
            if !self.is_open(&role.value)
                && !spec.events.contains(&crate::driver::DeviceEvent::Breath)
            {
                self.error(
                    &role.referenced,
                    format!("a {} does not signal breaths", spec.kind),
                );
            }
            return Some(StepKind::WaitBreaths {
                role: role.value.clone(),
                count: self.count(b, scope, "the number of breaths")?,
                timeout: self.duration(timeout, scope, "a timeout")?,
            });
        }
        let until = wait.until.as_ref()?;
        let mut inner = scope.clone();
        let mut reads = Vec::new();
        for (name, read) in &wait.read {
            self.check_binding_name(name, &read.referenced);
            let unit = self.quantity_unit(&read.value.role, &read.value.quantity)?;
            if unit.symbol() == OPEN_UNIT {
                inner.poisoned.insert(name.clone());
            }
            inner.values.insert(name.clone(), Quantity::new(1.0, unit));
            reads.push((
                name.clone(),
                read.value.role.value.clone(),
                read.value.quantity.value.clone(),
            ));
        }
        let condition = self.condition(until, &inner)?;
        let every = match &wait.every {
            Some(e) => self.duration(e, scope, "the polling interval")?,
            None => Formula {
                expr: Expr::Literal(Quantity::new(1.0, parse_unit("s").ok()?)),
                text: "1 s".into(),
            },
        };
        Some(StepKind::WaitUntil {
            condition,
            reads,
            every,
            timeout: self.duration(timeout, scope, "a timeout")?,
        })
    }

    /// The unit of `quantity` read from `role`, or a diagnostic.
    fn quantity_unit(&mut self, role: &Text, quantity: &Text) -> Option<Unit> {
        let spec = self.role(role)?;
        self.uses(&role.value, &quantity.value);
        if self.is_open(&role.value) {
            // Known only from the fixture's instrument: a placeholder unit marks it.
            return Some(Unit::new(OPEN_UNIT, 1.0, Dimension::NONE));
        }
        let Some(q) = spec.quantities.iter().find(|q| q.name == quantity.value) else {
            let hint = did_you_mean(&quantity.value, spec.quantities.iter().map(|q| q.name))
                .map(|s| format!("\ndid you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let names: Vec<&str> = spec.quantities.iter().map(|q| q.name).collect();
                    format!("\nquantities of a {}: {}", spec.kind, names.join(", "))
                });
            self.error(
                &quantity.referenced,
                format!(
                    "a {} does not measure `{}`{hint}",
                    spec.kind, quantity.value
                ),
            );
            return None;
        };
        parse_unit(q.unit).ok()
    }

    fn prompt(
        &mut self,
        p: &RawPrompt,
        at: &Location,
        scope: &mut ValidationScope,
    ) -> Option<StepKind> {
        match (&p.confirm, &p.enter) {
            (Some(message), None) => {
                if p.id.is_some() || p.unit.is_some() || p.default.is_some() {
                    self.error(
                        at,
                        "`id:`, `unit:` and `default:` belong to `enter:` prompts, not `confirm:`",
                    );
                }
                Some(StepKind::Prompt {
                    message: self.required(message, "a prompt's message"),
                })
            }
            (None, Some(message)) => {
                let (Some(id), Some(unit)) = (&p.id, &p.unit) else {
                    self.error(
                        at,
                        "an `enter:` prompt needs `id:` (the name of the value) and `unit:`",
                    );
                    return None;
                };
                self.check_binding_name(&id.value, &id.referenced);
                let unit_value = match parse_unit(&unit.value) {
                    Ok(u) => u,
                    Err(e) => {
                        self.error(&unit.referenced, e.to_string());
                        return None;
                    }
                };
                let default = p
                    .default
                    .as_ref()
                    .and_then(|d| self.entry_default(d, &unit_value));
                scope
                    .values
                    .insert(id.value.clone(), Quantity::new(1.0, unit_value.clone()));
                Some(StepKind::Entry {
                    message: self.required(message, "a prompt's question"),
                    id: id.value.clone(),
                    unit: unit_value,
                    default,
                })
            }
            _ => {
                self.error(at, "a prompt needs exactly one of `confirm:` (an instruction) or `enter:` (a value)");
                None
            }
        }
    }

    /// The default answer of an entry prompt; a bare number takes the prompt's unit.
    fn entry_default(&mut self, text: &Text, unit: &Unit) -> Option<Quantity> {
        match parse_quantity(&text.value) {
            Ok(q) if q.unit.symbol().is_empty() => Some(Quantity::new(q.value, unit.clone())),
            Ok(q) if q.dimension() == unit.dimension() => Some(q),
            Ok(q) => {
                let message = format!("the default {q} is not a {}", unit.dimension().describe());
                self.error(&text.referenced, message);
                None
            }
            Err(e) => {
                self.error(&text.referenced, e.to_string());
                None
            }
        }
    }

    fn repeat(&mut self, r: &RawRepeat, scope: &mut ValidationScope) -> Option<Repeat> {
        let attempts = self.count(&r.attempts, scope, "the number of attempts")?;
        let (mut retry_on_fail, mut retry_on_error) = (true, false);
        if let Some(list) = &r.retry_on {
            retry_on_fail = false;
            for item in list {
                match item.value.as_str() {
                    "fail" => retry_on_fail = true,
                    "error" => retry_on_error = true,
                    other => self.error(
                        &item.referenced,
                        format!("`{other}` cannot trigger a retry\nuse `fail` or `error`"),
                    ),
                }
            }
        }
        let stop_when_exhausted = match &r.on_exhausted {
            None => false,
            Some(t) if t.value == "fail_and_continue" => false,
            Some(t) if t.value == "stop" => true,
            Some(t) => {
                let message = format!(
                    "`{}` is not a policy\nuse `fail_and_continue` or `stop`",
                    t.value
                );
                self.error(&t.referenced, message);
                false
            }
        };
        let steps = self.steps(&r.steps, scope);
        Some(Repeat {
            name: self.required(&r.name, "a repeat's name"),
            attempts,
            retry_on_fail,
            retry_on_error,
            stop_when_exhausted,
            steps,
        })
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
        let unit = self.quantity_unit(&m.role, &m.quantity)?;
        let spec = self.role(&m.role)?;
        let open = self.is_open(&m.role.value);
        let count = match (&m.breaths, &m.samples) {
            (Some(b), None) => {
                self.uses(&m.role.value, "breath");
                if !open && !spec.events.contains(&crate::driver::DeviceEvent::Breath) {
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
        let before_each = self.before_each(&m.before_each, scope);
        if unit.symbol() == OPEN_UNIT {
            // Its unit is known only at run time: expressions using it are not evaluated here.
            scope.poisoned.insert(m.id.value.clone());
        }
        let gas = match &m.gas_standard {
            Some(g) => Some(self.gas_standard(g, &unit)?),
            None => None,
        };
        scope.measurements.insert(m.id.value.clone(), unit);
        Some(StepKind::Measure {
            id: m.id.value.clone(),
            role: m.role.value.clone(),
            quantity: m.quantity.value.clone(),
            count,
            timeout,
            before_each,
            gas,
        })
    }

    /// A measurement's `gas_standard:`: a known standard, a quantity that is a volume or a
    /// flow, and a room role that reads temperature, humidity and barometric pressure.
    fn gas_standard(
        &mut self,
        g: &Spanned<super::raw::RawGasStandard>,
        unit: &Unit,
    ) -> Option<super::GasSpec> {
        let state_at = &g.value.state_at;
        let known = crate::analysis::gas::gas_standard(&state_at.value);
        if known.is_none() {
            self.error(
                &state_at.referenced,
                format!(
                    "unknown gas standard `{}`\nknown: {}",
                    state_at.value,
                    crate::analysis::gas::gas_standard_names().join(", ")
                ),
            );
        }
        let volume = parse_unit("mL").ok().map(|u| u.dimension());
        let flow = parse_unit("L/min").ok().map(|u| u.dimension());
        let dimension = Some(unit.dimension());
        if unit.symbol() != OPEN_UNIT && dimension != volume && dimension != flow {
            self.error(
                &g.referenced,
                format!(
                    "only volumes and flows have a gas standard; this measurement is a {}",
                    unit.dimension().describe()
                ),
            );
        }
        let mut ok = known.is_some();
        for q in super::ROOM_QUANTITIES {
            let quantity = Text {
                value: q.to_string(),
                referenced: g.value.room.referenced,
                defined: g.value.room.defined,
            };
            ok &= self.quantity_unit(&g.value.room, &quantity).is_some();
        }
        ok.then(|| super::GasSpec {
            state_at: known.map(|s| s.name.to_string()).unwrap_or_default(),
            room: g.value.room.value.clone(),
        })
    }

    fn capture(
        &mut self,
        c: &super::raw::RawCapture,
        at: &Location,
        scope: &mut ValidationScope,
    ) -> Option<super::Capture> {
        self.check_binding_name(&c.id.value, &c.id.referenced);
        let spec = self.role(&c.role)?;
        let kind = self.roles.get(&c.role.value).cloned().unwrap_or_default();
        let offered = crate::driver::waveform_quantities(&kind);
        if offered.is_empty() {
            let kind = if spec.kind.is_empty() {
                &kind
            } else {
                spec.kind
            };
            self.error(
                &c.role.referenced,
                format!("a {kind} has no data stream to capture a waveform from\nwaveforms come from a flow_analyzer"),
            );
            return None;
        }
        let names: Vec<&str> = offered.iter().map(|(n, _)| *n).collect();
        if c.quantities.value.is_empty() {
            self.error(
                &c.quantities.referenced,
                format!(
                    "a capture needs at least one quantity ({})",
                    names.join(", ")
                ),
            );
        }
        let mut quantities = Vec::new();
        for q in &c.quantities.value {
            if !names.contains(&q.value.as_str()) {
                let hint = did_you_mean(&q.value, names.iter().copied())
                    .map(|s| format!("\ndid you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        format!("\nwaveform quantities of a {kind}: {}", names.join(", "))
                    });
                self.error(
                    &q.referenced,
                    format!("a {kind} does not stream `{}`{hint}", q.value),
                );
            } else if quantities.contains(&q.value) {
                self.error(&q.referenced, format!("`{}` is listed twice", q.value));
            } else {
                quantities.push(q.value.clone());
            }
        }
        let length = match (&c.breaths, &c.duration) {
            (Some(b), None) => {
                super::CaptureLength::Breaths(self.count(b, scope, "the number of breaths")?)
            }
            (None, Some(d)) => {
                super::CaptureLength::Duration(self.duration(d, scope, "a capture's duration")?)
            }
            _ => {
                self.error(
                    at,
                    "a capture needs exactly one of `breaths:` or `duration:`",
                );
                return None;
            }
        };
        let timeout = self.duration(&c.timeout, scope, "a timeout")?;
        for (name, unit) in offered {
            if let (true, Ok(unit)) = (quantities.iter().any(|q| q == name), parse_unit(unit)) {
                scope
                    .measurements
                    .insert(format!("{}_{name}", c.id.value), unit);
            }
        }
        Some(super::Capture {
            id: c.id.value.clone(),
            role: c.role.value.clone(),
            quantities,
            length,
            timeout,
        })
    }

    /// The steps of a measurement's `before_each:`: commands, waits and prompts, which act
    /// before every sample; a step that measures or decides cannot run there.
    fn before_each(&mut self, raw: &[Spanned<RawStep>], scope: &ValidationScope) -> Vec<Step> {
        for step in raw {
            let kind = match &step.value {
                RawStep::Set(_) | RawStep::Action(_) | RawStep::Wait(_) | RawStep::Prompt(_) => {
                    continue;
                }
                RawStep::Measure(_) => "measure",
                RawStep::Sweep(_) => "sweep",
                RawStep::Check(_) => "check",
                RawStep::Repeat(_) => "repeat",
                RawStep::Collect(_) => "collect",
                RawStep::Capture(_) => "capture",
            };
            self.error(
                &step.referenced,
                format!(
                    "a `{kind}` step cannot run before each sample
`before_each:` takes `set`, `action`, `wait` and `prompt` steps"
                ),
            );
        }
        // Values they bind (an entry) are seen by what follows within, not by the checks.
        self.steps(raw, &mut scope.clone())
    }

    fn sweep(
        &mut self,
        sweep: &RawSweep,
        at: &Location,
        scope: &mut ValidationScope,
    ) -> Option<Sweep> {
        let forms = [
            sweep.values.is_some(),
            sweep.range.is_some(),
            sweep.table.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() != 1 {
            self.error(
                at,
                "a sweep needs exactly one of `values:`, `range:` or `table:`",
            );
            return None;
        }
        let (columns, rows) = match (&sweep.table, &sweep.over) {
            (Some(table), None) => self.table(table, scope)?,
            (Some(table), Some(over)) => {
                self.error(
                    &over.referenced,
                    "`over:` names the value of a list or a range; a table names its columns",
                );
                self.table(table, scope)?
            }
            (None, None) => {
                self.error(at, "a sweep over `values:` or a `range:` needs `over:` (the name bound at each set point)");
                return None;
            }
            (None, Some(over)) => {
                self.check_binding_name(&over.value, &over.referenced);
                let points = match (&sweep.values, &sweep.range) {
                    (Some(values), _) => self.list_points(values)?,
                    (_, Some(range)) => self.range_points(range)?,
                    _ => return None,
                };
                let unit = points.first().map(|q| q.unit.clone())?;
                let rows = points
                    .into_iter()
                    .map(|q| (format!("{} {}", over.value, q), vec![q]))
                    .collect();
                (vec![(over.value.clone(), unit)], rows)
            }
        };
        let mut inner = scope.clone();
        if let Some((_, first)) = rows.first() {
            for ((name, _), q) in columns.iter().zip(first) {
                inner.values.insert(name.clone(), q.clone());
            }
        }
        let steps = self.steps(&sweep.steps, &mut inner);
        // Series collected at each set point are visible after the sweep.
        scope.series = inner.series;
        Some(Sweep {
            name: sweep.name.value.clone(),
            columns,
            rows,
            steps,
        })
    }

    /// Set points written as a list of quantity literals, all of one dimension.
    fn list_points(&mut self, values: &Spanned<Vec<Text>>) -> Option<Vec<Quantity>> {
        if values.value.is_empty() {
            self.error(&values.referenced, "the list of set points is empty");
            return None;
        }
        let mut points: Vec<Quantity> = Vec::new();
        for text in &values.value {
            match parse_quantity(&text.value) {
                Ok(q) => {
                    if let Some(first) = points.first()
                        && first.dimension() != q.dimension()
                    {
                        self.error(
                            &text.referenced,
                            format!("{q} is not a {} like {first}", first.dimension().describe()),
                        );
                        continue;
                    }
                    points.push(q);
                }
                Err(e) => self.error(&text.referenced, e.to_string()),
            }
        }
        (points.len() == values.value.len()).then_some(points)
    }

    /// Set points from `from` to `to` by `step`, in the unit of `from`.
    fn range_points(&mut self, range: &Spanned<super::raw::RawRange>) -> Option<Vec<Quantity>> {
        let r = &range.value;
        let mut parse = |t: &Text| match parse_quantity(&t.value) {
            Ok(q) => Some(q),
            Err(e) => {
                self.error(&t.referenced, e.to_string());
                None
            }
        };
        let (from, to, step) = (parse(&r.from)?, parse(&r.to)?, parse(&r.step)?);
        let unit = from.unit.clone();
        let (Ok(to), Ok(step)) = (to.to_unit(&unit), step.to_unit(&unit)) else {
            self.error(
                &range.referenced,
                format!(
                    "`to:` and `step:` must be in a unit of {}",
                    unit.dimension().describe()
                ),
            );
            return None;
        };
        let span = to.value - from.value;
        if step.value == 0.0 || span * step.value < 0.0 {
            self.error(
                &r.step.referenced,
                "the step must be non-zero and go from `from:` towards `to:`",
            );
            return None;
        }
        let count = (span / step.value + 1e-9).floor() as usize + 1;
        if count > 10_000 {
            self.error(
                &range.referenced,
                format!("the range has {count} set points; at most 10000"),
            );
            return None;
        }
        Some(
            (0..count)
                .map(|i| Quantity::new(from.value + i as f64 * step.value, unit.clone()))
                .collect(),
        )
    }

    /// The columns and rows of a table.
    #[allow(clippy::type_complexity)]
    fn table(
        &mut self,
        table: &Spanned<super::raw::RawTable>,
        scope: &ValidationScope,
    ) -> Option<(Vec<(String, Unit)>, Vec<(String, Vec<Quantity>)>)> {
        let at = &table.referenced;
        let table = &table.value;
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
                    format!("column `{}` hides a value of the same name", name.value),
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
        if let Some(labels) = &table.labels
            && labels.len() != table.rows.len()
        {
            self.error(
                at,
                format!("{} labels for {} rows", labels.len(), table.rows.len()),
            );
        }
        let mut rows = Vec::new();
        for (i, row) in table.rows.iter().enumerate() {
            if row.value.len() != columns.len() {
                let message = format!(
                    "row {} has {} values for {} columns",
                    i + 1,
                    row.value.len(),
                    columns.len()
                );
                self.error(&row.referenced, message);
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
        Some((columns, rows))
    }

    fn check(&mut self, c: &RawCheck, at: &Location, scope: &ValidationScope) -> Option<Check> {
        let (value, measurement, statistic, dimension) = if c.each {
            // Every sample is checked: the value names a measurement, the limit is in its unit.
            let name = c.value.value.trim();
            let Some(unit) = scope.measurements.get(name) else {
                if !scope.poisoned.contains(name) {
                    let message = format!(
                        "with `each: true` the value names a measurement taken before; `{name}` is not one"
                    );
                    self.error(&c.value.referenced, message);
                }
                return None;
            };
            let formula = Formula {
                expr: Expr::Name(name.to_string()),
                text: name.to_string(),
            };
            (
                formula,
                name.to_string(),
                "each".to_string(),
                (!scope.poisoned.contains(name)).then(|| unit.dimension()),
            )
        } else {
            let value = self.formula(&c.value, scope, None, "a check's value")?;
            let (measurement, statistic) = match &value.expr {
                Expr::Call(f, args) => match args.first() {
                    Some(Expr::Name(m)) if scope.measurements.contains_key(m) => {
                        (m.clone(), f.clone())
                    }
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
            (value, measurement, statistic, dimension)
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
        let decision = self.decision(c.decision.as_ref(), scope, dimension);
        let (coverage, contributions) = self.uncertainty(c.uncertainty.as_ref(), scope, dimension);
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
            each: c.each,
            decision,
            coverage,
            contributions,
        })
    }
}

impl Validator {
    /// The decision rule of a check; `U` is visible to the guard-band expression.
    fn decision(
        &mut self,
        raw: Option<&Spanned<super::raw::RawDecision>>,
        scope: &ValidationScope,
        dimension: Option<Dimension>,
    ) -> DecisionSpec {
        let mut spec = DecisionSpec {
            rule: RuleKind::Simple,
            guard: None,
            conditional: ConditionalPolicy::FailConditional,
        };
        let Some(raw) = raw else { return spec };
        let d = &raw.value;
        spec.rule = match d.rule.value.as_str() {
            "simple" => RuleKind::Simple,
            "guarded" => RuleKind::Guarded,
            "non_binary" => RuleKind::NonBinary,
            other => {
                let hint = did_you_mean(other, ["simple", "guarded", "non_binary"])
                    .map(|s| format!("\ndid you mean `{s}`?"))
                    .unwrap_or_else(|| "\nrules: simple, guarded, non_binary".into());
                self.error(
                    &d.rule.referenced,
                    format!("unknown decision rule `{other}`{hint}"),
                );
                RuleKind::Simple
            }
        };
        if let Some(guard) = &d.guard {
            if spec.rule == RuleKind::Simple {
                self.error(&guard.referenced, "simple acceptance has no guard band");
            }
            match dimension {
                Some(dim) => {
                    let mut inner = scope.clone();
                    inner
                        .values
                        .insert("U".into(), Quantity::new(1.0, Unit::new("", 1.0, dim)));
                    spec.guard = self.formula(guard, &inner, dimension, "the guard band");
                }
                // The value itself is invalid (reported already): parse the guard band only.
                None => match expr::parse(&guard.value) {
                    Ok(expr) => {
                        spec.guard = Some(Formula {
                            expr,
                            text: guard.value.clone(),
                        })
                    }
                    Err(e) => self.expr_error(guard, &e),
                },
            }
        }
        if let Some(c) = &d.conditional {
            spec.conditional = match c.value.as_str() {
                "fail" => ConditionalPolicy::FailConditional,
                "accept_pass" => ConditionalPolicy::AcceptConditionalPass,
                other => {
                    self.error(
                        &c.referenced,
                        format!("`{other}` is not a policy\nuse `fail` or `accept_pass`"),
                    );
                    ConditionalPolicy::FailConditional
                }
            };
        }
        spec
    }

    /// The coverage probability and the declared contributions of a check.
    fn uncertainty(
        &mut self,
        raw: Option<&super::raw::RawUncertainty>,
        scope: &ValidationScope,
        dimension: Option<Dimension>,
    ) -> (f64, Vec<DeclaredContribution>) {
        let Some(raw) = raw else {
            return (crate::analysis::DEFAULT_COVERAGE_PROBABILITY, Vec::new());
        };
        let mut coverage = crate::analysis::DEFAULT_COVERAGE_PROBABILITY;
        if let Some(text) = &raw.coverage {
            match parse_quantity(&text.value) {
                Ok(q) if q.dimension().is_none() && q.si_value() > 0.0 && q.si_value() < 1.0 => {
                    coverage = q.si_value()
                }
                _ => self.error(
                    &text.referenced,
                    "the coverage probability is a percentage between 0 and 100 %, such as `95 %`",
                ),
            }
        }
        let mut contributions = Vec::new();
        for c in &raw.contributions {
            let c = &c.value;
            let k = c.k.unwrap_or(2.0);
            let distribution = match c.distribution.as_ref().map(|d| d.value.as_str()) {
                None | Some("rectangular") => Distribution::Rectangular,
                Some("triangular") => Distribution::Triangular,
                Some("u_shaped") => Distribution::UShaped,
                Some("normal") if k.is_finite() && k > 0.0 => Distribution::Normal { k },
                Some(other) => {
                    if let Some(d) = &c.distribution {
                        self.error(&d.referenced, format!("`{other}` is not a distribution (or its k is not positive)\nuse rectangular, triangular, u_shaped or normal"));
                    }
                    continue;
                }
            };
            if let Some(half_width) = self.formula(&c.half_width, scope, dimension, "a half-width")
            {
                contributions.push(DeclaredContribution {
                    name: c.name.value.clone(),
                    half_width,
                    distribution,
                });
            }
        }
        (coverage, contributions)
    }
}

/// The byte offset of `word` in `text` as a whole word (not inside a longer name).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
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
