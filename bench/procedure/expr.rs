//! A small, safe expression language for limits, set points and conditions.
//!
//! Expressions combine numbers with units (`4 mL`, `15 %`, `20 /min`), names (parameters,
//! set-point columns, measurements), arithmetic (`+ - * /`, unary `-`, parentheses),
//! comparisons (`< <= > >= == !=`), `and`, `or`, `not`, and functions: `min`, `max`, `abs`,
//! the statistics of a measurement `mean`, `sd`, `cv`, `count`, `median` (`min` and `max`
//! of a single measurement name give its extreme samples), `percentile(m, p)`, and fits of a
//! series of points collected across set points: `slope(s)`, `intercept(s)`, `r_squared(s)`,
//! `max_deviation(s)` and `max_relative_deviation(s)` (deviation from linearity).
//!
//! Units are checked as values are computed: adding a volume to a pressure is an error, and
//! a name that is a unit symbol (`mL`, `min`) stands for one of that unit, so `60 L/min` and
//! `tolerance_relative * volume` mean what they say. There is no I/O, no loop, no way to call
//! anything outside this module: evaluating an expression can only yield a value or an error.

use crate::units::{ATOMS, Dimension, Quantity, Unit};
use std::fmt;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number with its unit.
    Literal(Quantity),
    /// A name to look up.
    Name(String),
    /// A unary minus.
    Negate(Box<Expr>),
    /// `not`.
    Not(Box<Expr>),
    /// A binary operation.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// A function call.
    Call(String, Vec<Expr>),
}

/// The binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

/// The value of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number: its value in coherent SI units, its dimension, and the unit it is best shown
    /// in (the unit it was written or measured in), when known.
    Number {
        /// Value in coherent SI units.
        si: f64,
        /// Its dimension.
        dimension: Dimension,
        /// The unit to show it in.
        unit: Option<Unit>,
    },
    /// A truth value.
    Bool(bool),
}

impl Value {
    /// A number from a quantity, remembering its unit.
    pub fn from_quantity(q: &Quantity) -> Value {
        Value::Number {
            si: q.si_value(),
            dimension: q.dimension(),
            unit: Some(q.unit.clone()),
        }
    }

    /// This value as a quantity in its preferred unit (or the coherent SI unit).
    pub fn to_quantity(&self) -> Option<Quantity> {
        match self {
            Value::Number {
                si,
                dimension,
                unit,
            } => Some(match unit {
                Some(u) => Quantity::new(si / u.factor(), u.clone()),
                None => Quantity::new(*si, Unit::new(si_symbol(*dimension), 1.0, *dimension)),
            }),
            Value::Bool(_) => None,
        }
    }
}

/// A symbol for the coherent SI unit of a dimension, for values with no preferred unit.
fn si_symbol(dimension: Dimension) -> String {
    let names = ["m", "kg", "s", "A", "K"];
    let parts: Vec<String> = dimension
        .0
        .iter()
        .zip(names)
        .filter(|(e, _)| **e != 0)
        .map(|(e, n)| {
            if *e == 1 {
                n.to_string()
            } else {
                format!("{n}^{e}")
            }
        })
        .collect();
    parts.join("*")
}

/// An error parsing or evaluating an expression; `offset` is a byte offset into its text.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// What is wrong.
    pub message: String,
    /// Byte offset in the expression text, when known.
    pub offset: Option<usize>,
}

impl ExprError {
    fn at(offset: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
            offset: Some(offset),
        }
    }
    fn new(message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
            offset: None,
        }
    }
}

/// Where names in an expression get their values.
pub trait Scope {
    /// The value bound to `name` (a parameter or a set-point column), if any.
    fn value(&self, name: &str) -> Option<Value>;
    /// The samples of the measurement `name`, in its unit, if it is a measurement. They are
    /// lent, not copied: a statistic reads them where the scope keeps them.
    fn samples(&self, name: &str) -> Option<(&[f64], &Unit)>;
    /// The (x, y) points of the series `name` collected by `collect` steps, if it is one.
    fn series(&self, _name: &str) -> Option<Series> {
        None
    }
}

/// Points collected across set points (`collect` steps), for fits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The x values, in `x_unit`.
    pub x: Vec<f64>,
    /// The y values, in `y_unit`.
    pub y: Vec<f64>,
    /// Unit of x.
    pub x_unit: Option<Unit>,
    /// Unit of y.
    pub y_unit: Option<Unit>,
}

/// Functions of a series: a least-squares line through its points and how far they stray.
pub const FIT_FUNCTIONS: &[&str] = &[
    "slope",
    "intercept",
    "r_squared",
    "max_deviation",
    "max_relative_deviation",
];

/// The statistic functions over a measurement's samples.
pub const STATISTICS: &[&str] = &["mean", "sd", "cv", "count", "median", "min", "max"];

/// Parses an expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        len: text.len(),
    };
    let expr = parser.or()?;
    if let Some(tok) = parser.tokens.get(parser.pos) {
        return Err(ExprError::at(
            tok.offset,
            format!("unexpected `{}`", tok.kind),
        ));
    }
    Ok(expr)
}

impl Expr {
    /// The names this expression refers to (not counting unit symbols or function names).
    pub fn names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_names(&mut out);
        out
    }

    fn collect_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Name(n) => out.push(n),
            Expr::Negate(e) | Expr::Not(e) => e.collect_names(out),
            Expr::Binary(_, a, b) => {
                a.collect_names(out);
                b.collect_names(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.collect_names(out)),
        }
    }

    /// Whether the expression has the same value in every scope: it calls no function and
    /// every name in it is a unit symbol (`60 L/min`, `4 mL + 15 %`). Names of parameters,
    /// columns and measurements can never be unit symbols (validation refuses them), so such
    /// an expression needs evaluating only once.
    pub fn is_constant(&self) -> bool {
        match self {
            Expr::Literal(_) => true,
            Expr::Name(n) => ATOMS.iter().any(|(s, _, _)| s == n),
            Expr::Negate(e) | Expr::Not(e) => e.is_constant(),
            Expr::Binary(_, a, b) => a.is_constant() && b.is_constant(),
            Expr::Call(..) => false,
        }
    }

    /// Evaluates the expression in `scope`.
    pub fn eval(&self, scope: &dyn Scope) -> Result<Value, ExprError> {
        match self {
            Expr::Literal(q) => Ok(Value::from_quantity(q)),
            Expr::Name(name) => lookup(name, scope),
            Expr::Negate(e) => match e.eval(scope)? {
                Value::Number {
                    si,
                    dimension,
                    unit,
                } => Ok(Value::Number {
                    si: -si,
                    dimension,
                    unit,
                }),
                Value::Bool(_) => Err(ExprError::new("cannot negate a truth value; use `not`")),
            },
            Expr::Not(e) => match e.eval(scope)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                Value::Number { .. } => Err(ExprError::new("`not` needs a truth value")),
            },
            Expr::Binary(op, a, b) => binary(*op, a.eval(scope)?, b.eval(scope)?),
            Expr::Call(name, args) => call(name, args, scope),
        }
    }
}

fn lookup(name: &str, scope: &dyn Scope) -> Result<Value, ExprError> {
    if let Some(v) = scope.value(name) {
        return Ok(v);
    }
    if scope.samples(name).is_some() {
        return Err(ExprError::new(format!(
            "`{name}` is a measurement: take a statistic of it, such as mean({name})"
        )));
    }
    if let Some((symbol, factor, dimension)) = ATOMS.iter().find(|(s, _, _)| *s == name) {
        return Ok(Value::Number {
            si: *factor,
            dimension: *dimension,
            unit: Some(Unit::new(*symbol, *factor, *dimension)),
        });
    }
    Err(ExprError::new(format!("unknown name `{name}`")))
}

/// The unit of a product (`times`) or a quotient of values in units `u` and `v`, written
/// as a reader would: a pure-number result has no unit (`mL / L` shows 0.5, not 500 mL/L),
/// a side with no symbol drops out (`1 / (/min)` is `min`, `2 * mL` is `mL`), and a
/// compound divisor is parenthesised (`mL/(hPa*s)`).
fn combined_unit(times: bool, u: &Unit, v: &Unit, dimension: Dimension) -> Unit {
    if dimension.is_none() {
        return Unit::one();
    }
    let factor = if times {
        u.factor() * v.factor()
    } else {
        u.factor() / v.factor()
    };
    let (a, b) = (u.symbol(), v.symbol());
    let symbol = if times {
        match (a.is_empty(), b.is_empty()) {
            (true, _) => b.to_string(),
            (_, true) => a.to_string(),
            _ => format!("{a}*{b}"),
        }
    } else if b.is_empty() {
        a.to_string()
    } else if let Some(inverse) = b.strip_prefix('/').filter(|r| !r.contains(['/', '*'])) {
        // Dividing by a reciprocal unit multiplies by its base: `mL / (/min)` is `mL*min`.
        if a.is_empty() {
            inverse.to_string()
        } else {
            format!("{a}*{inverse}")
        }
    } else if b.contains(['/', '*']) {
        format!("{a}/({b})")
    } else {
        format!("{a}/{b}")
    };
    Unit::new(symbol, factor, dimension)
}

fn number(v: Value, what: &str) -> Result<(f64, Dimension, Option<Unit>), ExprError> {
    match v {
        Value::Number {
            si,
            dimension,
            unit,
        } => Ok((si, dimension, unit)),
        Value::Bool(_) => Err(ExprError::new(format!(
            "{what} needs a number, not a truth value"
        ))),
    }
}

fn binary(op: BinaryOp, a: Value, b: Value) -> Result<Value, ExprError> {
    use BinaryOp::*;
    if matches!(op, And | Or) {
        return match (a, b) {
            (Value::Bool(x), Value::Bool(y)) => {
                Ok(Value::Bool(if op == And { x && y } else { x || y }))
            }
            _ => Err(ExprError::new("`and` and `or` need truth values")),
        };
    }
    let symbol = op_symbol(op);
    let (x, dx, ux) = number(a, symbol)?;
    let (y, dy, uy) = number(b, symbol)?;
    let same_dimension = || {
        if dx == dy {
            Ok(())
        } else {
            Err(ExprError::new(format!(
                "`{symbol}` mixes {} and {}",
                dx.describe(),
                dy.describe()
            )))
        }
    };
    let keep_unit = |ux: Option<Unit>, uy: Option<Unit>| ux.or(uy);
    match op {
        Add | Sub => {
            same_dimension()?;
            let si = if op == Add { x + y } else { x - y };
            Ok(Value::Number {
                si,
                dimension: dx,
                unit: keep_unit(ux, uy),
            })
        }
        Mul | Div => {
            let (si, dimension) = if op == Mul {
                (x * y, dx * dy)
            } else {
                (x / y, dx / dy)
            };
            if !si.is_finite() {
                return Err(ExprError::new("division by zero"));
            }
            // A pure number scaling a quantity keeps the quantity's unit (15 % * 500 mL).
            let unit = if dy.is_none() {
                ux.filter(|u| u.dimension() == dimension)
            } else if dx.is_none() && op == Mul {
                uy.filter(|u| u.dimension() == dimension)
            } else {
                match (&ux, &uy) {
                    (Some(u), Some(v)) => Some(combined_unit(op == Mul, u, v, dimension)),
                    _ => None,
                }
            };
            Ok(Value::Number {
                si,
                dimension,
                unit,
            })
        }
        Lt | Le | Gt | Ge | Eq | Ne => {
            same_dimension()?;
            Ok(Value::Bool(match op {
                Lt => x < y,
                Le => x <= y,
                Gt => x > y,
                Ge => x >= y,
                Eq => x == y,
                _ => x != y,
            }))
        }
        And | Or => Err(ExprError::new("unreachable operator")),
    }
}

fn op_symbol(op: BinaryOp) -> &'static str {
    use BinaryOp::*;
    match op {
        Add => "+",
        Sub => "-",
        Mul => "*",
        Div => "/",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
        Eq => "==",
        Ne => "!=",
        And => "and",
        Or => "or",
    }
}

fn call(name: &str, args: &[Expr], scope: &dyn Scope) -> Result<Value, ExprError> {
    // A fit of a collected series: slope(conversion), r_squared(conversion).
    if FIT_FUNCTIONS.contains(&name) {
        let [Expr::Name(arg)] = args else {
            return Err(ExprError::new(format!(
                "{name}() takes the name of a collected series"
            )));
        };
        let series = scope.series(arg).ok_or_else(|| {
            ExprError::new(format!(
                "`{arg}` is not a series collected before this point"
            ))
        })?;
        return fit(name, arg, &series);
    }
    // A percentile of a measurement: percentile(delivered_volume, 95).
    if name == "percentile" {
        let [Expr::Name(arg), p] = args else {
            return Err(ExprError::new(
                "percentile() takes a measurement and a percentage: percentile(m, 95)",
            ));
        };
        let (samples, unit) = scope.samples(arg).ok_or_else(|| {
            ExprError::new(format!(
                "`{arg}` is not a measurement taken before this point"
            ))
        })?;
        let (p, _, _) = number(p.eval(scope)?, "percentile")?;
        return percentile(arg, samples, p, unit.clone());
    }
    // A statistic of a measurement: mean(delivered_volume).
    if let [Expr::Name(arg)] = args
        && let Some((samples, unit)) = scope.samples(arg)
        && STATISTICS.contains(&name)
    {
        return statistic(name, arg, samples, unit);
    }
    if STATISTICS.contains(&name) && !matches!(name, "min" | "max") {
        return Err(ExprError::new(match args {
            [Expr::Name(arg)] => format!("`{arg}` is not a measurement taken before this point"),
            _ => format!("{name}() takes the name of a measurement"),
        }));
    }
    match name {
        "min" | "max" | "abs" => {
            let values: Vec<Value> = args
                .iter()
                .map(|a| a.eval(scope))
                .collect::<Result<_, _>>()?;
            if name == "abs" {
                let [v] = values.as_slice() else {
                    return Err(ExprError::new("abs() takes one argument"));
                };
                let (si, dimension, unit) = number(v.clone(), "abs")?;
                return Ok(Value::Number {
                    si: si.abs(),
                    dimension,
                    unit,
                });
            }
            let mut best: Option<(f64, Dimension, Option<Unit>)> = None;
            for v in values {
                let (si, d, u) = number(v, name)?;
                best = match best {
                    None => Some((si, d, u)),
                    Some((b, bd, bu)) => {
                        if bd != d {
                            return Err(ExprError::new(format!(
                                "{name}() mixes {} and {}",
                                bd.describe(),
                                d.describe()
                            )));
                        }
                        let take = if name == "min" { si < b } else { si > b };
                        Some(if take {
                            (si, d, u.or(bu))
                        } else {
                            (b, bd, bu.or(u))
                        })
                    }
                };
            }
            let (si, dimension, unit) = best
                .ok_or_else(|| ExprError::new(format!("{name}() needs at least one argument")))?;
            Ok(Value::Number {
                si,
                dimension,
                unit,
            })
        }
        _ => Err(ExprError::new(format!("unknown function `{name}`"))),
    }
}

/// A statistic of the least-squares line through a series (`crate::analysis::LinearFit`).
fn fit(name: &str, arg: &str, series: &Series) -> Result<Value, ExprError> {
    let fit = crate::analysis::LinearFit::new(&series.x, &series.y)
        .map_err(|e| ExprError::new(format!("{name}({arg}): {e}")))?;
    let unit_value = |v: f64, unit: Option<Unit>| match unit {
        Some(u) => Value::Number {
            si: v * u.factor(),
            dimension: u.dimension(),
            unit: Some(u),
        },
        None => Value::Number {
            si: v,
            dimension: Dimension::NONE,
            unit: None,
        },
    };
    let pure = |v: f64| Value::Number {
        si: v,
        dimension: Dimension::NONE,
        unit: None,
    };
    Ok(match name {
        "slope" => {
            let (x, y) = (
                series.x_unit.clone().unwrap_or_else(Unit::one),
                series.y_unit.clone().unwrap_or_else(Unit::one),
            );
            let symbol = if x.symbol().is_empty() {
                y.symbol().to_string()
            } else {
                format!("{}/({})", y.symbol(), x.symbol())
            };
            let unit = Unit::new(
                symbol,
                y.factor() / x.factor(),
                y.dimension() / x.dimension(),
            );
            unit_value(fit.slope, Some(unit))
        }
        "intercept" => unit_value(fit.intercept, series.y_unit.clone()),
        "r_squared" => pure(fit.r_squared),
        "max_deviation" => unit_value(fit.linearity().max_abs_deviation, series.y_unit.clone()),
        _ => match fit.linearity().max_rel_deviation {
            Some(r) => pure(r),
            None => {
                return Err(ExprError::new(format!(
                    "{name}({arg}): a fitted value is zero"
                )));
            }
        },
    })
}

/// The `p`-th percentile (p a pure number, 95 for the 95th) by linear interpolation between
/// order statistics (`analysis::percentile`, type 7, the default of R and NumPy).
fn percentile(arg: &str, samples: &[f64], p: f64, unit: Unit) -> Result<Value, ExprError> {
    let v = crate::analysis::percentile(samples, p)
        .map_err(|e| ExprError::new(format!("percentile({arg}, {p}): {e}")))?;
    Ok(Value::Number {
        si: v * unit.factor(),
        dimension: unit.dimension(),
        unit: Some(unit),
    })
}

/// A statistic of a measurement's samples, computed by the analysis stage (compensated sums,
/// corrected two-pass standard deviation with n − 1).
fn statistic(name: &str, arg: &str, samples: &[f64], unit: &Unit) -> Result<Value, ExprError> {
    let failed = |e: crate::analysis::AnalysisError| ExprError::new(format!("{name}({arg}): {e}"));
    let in_unit = |v: f64| Value::Number {
        si: v * unit.factor(),
        dimension: unit.dimension(),
        unit: Some(unit.clone()),
    };
    let pure = |v: f64| Value::Number {
        si: v,
        dimension: Dimension::NONE,
        unit: None,
    };
    let summary = || crate::analysis::Summary::of(samples).map_err(failed);
    Ok(match name {
        "mean" => in_unit(crate::analysis::mean(samples).map_err(failed)?),
        "sd" => in_unit(summary()?.std_dev),
        "cv" => pure(
            summary()?
                .cv
                .ok_or_else(|| ExprError::new(format!("cv({arg}): the mean is zero")))?,
        ),
        "count" => pure(samples.len() as f64),
        "min" => in_unit(
            extreme(samples, f64::min)
                .ok_or_else(|| ExprError::new(format!("{arg} has no samples")))?,
        ),
        "max" => in_unit(
            extreme(samples, f64::max)
                .ok_or_else(|| ExprError::new(format!("{arg} has no samples")))?,
        ),
        _ => in_unit(crate::analysis::median(samples).map_err(failed)?),
    })
}

/// The smallest or largest sample (`pick` is `f64::min` or `f64::max`), if there is one.
fn extreme(samples: &[f64], pick: fn(f64, f64) -> f64) -> Option<f64> {
    samples.iter().copied().reduce(pick)
}

#[derive(Clone, Debug, PartialEq)]
enum TokenKind {
    Number(f64),
    Ident(String),
    Percent,
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenKind::Number(n) => write!(f, "{n}"),
            TokenKind::Ident(s) => f.write_str(s),
            TokenKind::Percent => f.write_str("%"),
            TokenKind::Op(s) => f.write_str(s),
            TokenKind::LParen => f.write_str("("),
            TokenKind::RParen => f.write_str(")"),
            TokenKind::Comma => f.write_str(","),
        }
    }
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokenKind,
    offset: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c.is_ascii_digit()
            || (c == '.' && text[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        {
            let end = number_end(text, i);
            let value: f64 = text[i..end]
                .parse()
                .map_err(|_| ExprError::at(i, format!("`{}` is not a number", &text[i..end])))?;
            tokens.push(Token {
                kind: TokenKind::Number(value),
                offset: i,
            });
            while chars.peek().is_some_and(|(j, _)| *j < end) {
                chars.next();
            }
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == 'µ' || c == '°' {
            let mut end = i;
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' || d == 'µ' || d == '°' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(Token {
                kind: TokenKind::Ident(text[i..end].to_string()),
                offset: i,
            });
            continue;
        }
        chars.next();
        let two = text[i..].get(..2).unwrap_or("");
        let kind = match (c, two) {
            (_, "<=") | (_, ">=") | (_, "==") | (_, "!=") => {
                chars.next();
                TokenKind::Op(match two {
                    "<=" => "<=",
                    ">=" => ">=",
                    "==" => "==",
                    _ => "!=",
                })
            }
            ('+', _) => TokenKind::Op("+"),
            ('-', _) => TokenKind::Op("-"),
            ('*', _) | ('·', _) => TokenKind::Op("*"),
            ('/', _) => TokenKind::Op("/"),
            ('<', _) => TokenKind::Op("<"),
            ('>', _) => TokenKind::Op(">"),
            ('%', _) => TokenKind::Percent,
            ('(', _) => TokenKind::LParen,
            (')', _) => TokenKind::RParen,
            (',', _) => TokenKind::Comma,
            _ => return Err(ExprError::at(i, format!("unexpected character `{c}`"))),
        };
        tokens.push(Token { kind, offset: i });
    }
    Ok(tokens)
}

fn number_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start;
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        i += 1;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < bytes.len() && bytes[j].is_ascii_digit() {
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

/// The nesting depth beyond which an expression is refused (keeps evaluation bounded).
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn offset(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map(|t| t.offset)
            .unwrap_or(self.len)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(TokenKind::Op(o)) if *o == op)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(TokenKind::Ident(w)) if w == word)
    }

    fn depth_check(&self, depth: usize) -> Result<(), ExprError> {
        if depth > MAX_DEPTH {
            Err(ExprError::at(self.offset(), "expression nested too deeply"))
        } else {
            Ok(())
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        self.or_at(0)
    }

    fn or_at(&mut self, depth: usize) -> Result<Expr, ExprError> {
        self.depth_check(depth)?;
        let mut left = self.and(depth)?;
        while self.is_word("or") {
            self.pos += 1;
            let right = self.and(depth)?;
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.not(depth)?;
        while self.is_word("and") {
            self.pos += 1;
            let right = self.not(depth)?;
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self, depth: usize) -> Result<Expr, ExprError> {
        if self.is_word("not") {
            self.pos += 1;
            self.depth_check(depth + 1)?;
            return Ok(Expr::Not(Box::new(self.not(depth + 1)?)));
        }
        self.comparison(depth)
    }

    fn comparison(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let left = self.additive(depth)?;
        let op = match self.peek() {
            Some(TokenKind::Op("<")) => BinaryOp::Lt,
            Some(TokenKind::Op("<=")) => BinaryOp::Le,
            Some(TokenKind::Op(">")) => BinaryOp::Gt,
            Some(TokenKind::Op(">=")) => BinaryOp::Ge,
            Some(TokenKind::Op("==")) => BinaryOp::Eq,
            Some(TokenKind::Op("!=")) => BinaryOp::Ne,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.additive(depth)?;
        Ok(Expr::Binary(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.multiplicative(depth)?;
        loop {
            let op = if self.is_op("+") {
                BinaryOp::Add
            } else if self.is_op("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            self.pos += 1;
            let right = self.multiplicative(depth)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.unary(depth)?;
        loop {
            let op = if self.is_op("*") {
                BinaryOp::Mul
            } else if self.is_op("/") {
                BinaryOp::Div
            } else {
                return Ok(left);
            };
            self.pos += 1;
            let right = self.unary(depth)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        if self.is_op("-") {
            self.pos += 1;
            self.depth_check(depth + 1)?;
            return Ok(Expr::Negate(Box::new(self.unary(depth + 1)?)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let offset = self.offset();
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return Err(ExprError::at(offset, "expression ends too early"));
        };
        self.pos += 1;
        match token.kind {
            TokenKind::Number(value) => {
                // A number directly followed by `%` or a unit symbol is a quantity literal.
                if self.peek() == Some(&TokenKind::Percent) {
                    self.pos += 1;
                    return Ok(Expr::Literal(Quantity::new(value, unit_atom("%"))));
                }
                if let Some(TokenKind::Ident(word)) = self.peek()
                    && ATOMS.iter().any(|(s, _, _)| s == word)
                    && !self.followed_by_paren(1)
                {
                    let unit = unit_atom(word);
                    self.pos += 1;
                    return Ok(Expr::Literal(Quantity::new(value, unit)));
                }
                Ok(Expr::Literal(Quantity::new(value, Unit::one())))
            }
            TokenKind::Ident(name) => {
                if self.peek() == Some(&TokenKind::LParen) {
                    self.pos += 1;
                    let mut args = Vec::new();
                    if self.peek() != Some(&TokenKind::RParen) {
                        loop {
                            self.depth_check(depth + 1)?;
                            args.push(self.or_at(depth + 1)?);
                            if self.peek() == Some(&TokenKind::Comma) {
                                self.pos += 1;
                            } else {
                                break;
                            }
                        }
                    }
                    if self.peek() != Some(&TokenKind::RParen) {
                        return Err(ExprError::at(
                            self.offset(),
                            format!("missing `)` after the arguments of {name}()"),
                        ));
                    }
                    self.pos += 1;
                    return Ok(Expr::Call(name, args));
                }
                Ok(Expr::Name(name))
            }
            TokenKind::LParen => {
                let inner = self.or_at(depth + 1)?;
                if self.peek() != Some(&TokenKind::RParen) {
                    return Err(ExprError::at(self.offset(), "missing `)`"));
                }
                self.pos += 1;
                Ok(inner)
            }
            other => Err(ExprError::at(offset, format!("unexpected `{other}`"))),
        }
    }

    fn followed_by_paren(&self, ahead: usize) -> bool {
        matches!(
            self.tokens.get(self.pos + ahead).map(|t| &t.kind),
            Some(TokenKind::LParen)
        )
    }
}

fn unit_atom(symbol: &str) -> Unit {
    ATOMS
        .iter()
        .find(|(s, _, _)| *s == symbol)
        .map(|(s, f, d)| Unit::new(*s, *f, *d))
        .unwrap_or_else(Unit::one)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::{parse_quantity, parse_unit};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    struct TestScope {
        values: BTreeMap<String, Quantity>,
        samples: BTreeMap<String, (Vec<f64>, Unit)>,
    }

    impl Scope for TestScope {
        fn value(&self, name: &str) -> Option<Value> {
            self.values.get(name).map(Value::from_quantity)
        }
        fn samples(&self, name: &str) -> Option<(&[f64], &Unit)> {
            self.samples.get(name).map(|(v, u)| (v.as_slice(), u))
        }
    }

    fn scope() -> TestScope {
        let mut values = BTreeMap::new();
        values.insert("volume".to_string(), parse_quantity("500 mL").unwrap());
        values.insert("tol_abs".to_string(), parse_quantity("4 mL").unwrap());
        values.insert("tol_rel".to_string(), parse_quantity("15 %").unwrap());
        values.insert("peep".to_string(), parse_quantity("5 cmH2O").unwrap());
        let mut samples = BTreeMap::new();
        samples.insert(
            "vt".to_string(),
            (vec![498.0, 502.0, 500.0], parse_unit("mL").unwrap()),
        );
        TestScope { values, samples }
    }

    fn eval(text: &str) -> Result<Value, ExprError> {
        parse(text)?.eval(&scope())
    }

    fn quantity(text: &str) -> Quantity {
        eval(text).unwrap().to_quantity().unwrap()
    }

    #[test]
    fn ventilator_tolerance_is_computed_in_millilitres() {
        let q = quantity("tol_abs + tol_rel * volume");
        assert_eq!(q.unit.symbol(), "mL");
        assert!((q.value - 79.0).abs() < 1e-9);
    }

    #[test]
    fn derived_units_read_as_a_person_writes_them() {
        let cases = [
            ("1 / (3 * 20 /min)", "min", 1.0 / 60.0),
            ("volume / (20 /min)", "mL*min", 25.0),
            ("2 * volume", "mL", 1000.0),
            ("volume / 2 s", "mL/s", 250.0),
            ("volume / (2 L/s)", "mL/(L/s)", 250.0),
            ("volume / 1 L", "", 0.5),
            ("tol_abs / volume", "", 0.008),
        ];
        for (text, symbol, value) in cases {
            let q = quantity(text);
            assert_eq!(q.unit.symbol(), symbol, "{text}");
            assert!((q.value - value).abs() < 1e-9, "{text}: {}", q.value);
            // Records store the symbol: it must read back as the same unit.
            let back = parse_unit(symbol).unwrap();
            assert_eq!(back.dimension(), q.unit.dimension(), "{text}");
            assert!((back.factor() - q.unit.factor()).abs() < 1e-12, "{text}");
        }
    }

    #[test]
    fn greater_of_two_tolerances() {
        let q = quantity("max(1 /min, 5 % * 20 /min)");
        assert!((q.si_value() - 1.0 / 60.0).abs() < 1e-12);
    }

    #[test]
    fn statistics_of_measurements() {
        assert!((quantity("mean(vt)").value - 500.0).abs() < 1e-12);
        assert!((quantity("sd(vt)").value - 2.0).abs() < 1e-12);
        assert_eq!(quantity("count(vt)").value, 3.0);
        assert_eq!(quantity("min(vt)").value, 498.0);
        assert!((quantity("percentile(vt, 50)").value - 500.0).abs() < 1e-9);
        assert!((quantity("percentile(vt, 100)").value - 502.0).abs() < 1e-9);
        assert!((quantity("percentile(vt, 25)").value - 499.0).abs() < 1e-9);
        assert!(eval("percentile(vt, 101)").is_err());
        assert!(
            eval("vt + 1 mL")
                .unwrap_err()
                .message
                .contains("measurement")
        );
    }

    #[test]
    fn constants_are_told_from_what_depends_on_the_scope() {
        for text in [
            "60 L/min",
            "4 mL + 15 % * 500 mL",
            "-(2 s)",
            "1 hPa/(L/s)",
            "5 < 6",
        ] {
            assert!(parse(text).unwrap().is_constant(), "{text}");
        }
        for text in ["volume", "mean(vt)", "max(1 mL, 2 mL)", "2 * peep", "min"] {
            let constant = parse(text).unwrap().is_constant();
            assert_eq!(constant, text == "min", "{text}");
        }
    }

    #[test]
    fn comparisons_and_logic() {
        assert_eq!(
            eval("volume > 50 mL and not (peep > 10 hPa)").unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            eval("volume <= 0.4 L or peep == 5 cmH2O").unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn unit_errors_are_reported() {
        let err = eval("volume + peep").unwrap_err();
        assert!(
            err.message.contains("volume") && err.message.contains("pressure"),
            "{err}"
        );
        assert!(eval("volume > 5 s").is_err());
        assert!(
            eval("unknown_thing * 2")
                .unwrap_err()
                .message
                .contains("unknown name")
        );
        assert!(
            eval("frobnicate(2)")
                .unwrap_err()
                .message
                .contains("unknown function")
        );
    }

    #[test]
    fn syntax_errors_carry_offsets() {
        assert_eq!(parse("1 + ").unwrap_err().offset, Some(4));
        assert_eq!(parse("(1 + 2").unwrap_err().offset, Some(6));
        assert_eq!(parse("1 $ 2").unwrap_err().offset, Some(2));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&text).is_err());
        let text = "-".repeat(10_000) + "1";
        assert!(parse(&text).is_err());
    }

    proptest! {
        #[test]
        fn parser_and_evaluator_never_panic(text in "[a-z0-9 .%()+*/<>=!,-]{0,40}") {
            if let Ok(expr) = parse(&text) {
                let _ = expr.eval(&scope());
            }
        }
    }
}
