//! Declarative device profiles: a simple line-based ASCII instrument described in YAML, so an
//! engineer can add one without writing Rust (`fixtures/profiles/*.yaml`, driver `profile`).
//!
//! A profile names the instrument's kind, its line framing (terminator, optional checksum),
//! its identity query, the pattern of its error answers, and per quantity, setting and
//! action the message to send and the answer to expect:
//!
//! - **Templates** (what is sent) are literal text with at most one placeholder for the
//!   setting's argument: `{value}` (shortest decimal), `{value:int}` (rounded integer) or
//!   `{value:.2}` (two decimals). The argument is a quantity: it is converted to the
//!   setting's `unit` and checked against its `min` and `max` before anything is sent.
//! - **Patterns** (what is expected) are literal text with named captures: `{value}` (a
//!   decimal number), `{name:word}` (no spaces) or `{name:text}` (anything). A capture runs
//!   up to the first occurrence of the literal text that follows it, or to the end of the
//!   answer; two captures must be separated by literal text. Literal text matches exactly.
//! - A quantity's number is `value × scale + offset`, in its `unit`.
//!
//! [`parse_profile`] validates a profile's text and reports every problem with its line and
//! column; the rest of this module is pure matching and formatting over bytes.

use crate::procedure::{Diagnostic, ValidationError};
use crate::units::{Quantity, Unit, parse_quantity, parse_unit};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;

/// One piece of a pattern or a template.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// Text that must appear (patterns) or is sent (templates) as is.
    Literal(String),
    /// A named capture (patterns) or the argument placeholder (templates).
    Field {
        /// The capture's name (`value` in templates).
        name: String,
        /// What it holds.
        format: FieldFormat,
    },
}

/// What a capture holds, or how a template formats its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldFormat {
    /// A decimal number (shortest text in templates).
    Number,
    /// A rounded integer (templates only).
    Integer,
    /// A fixed number of decimals (templates only).
    Decimals(u8),
    /// A run of non-space characters (patterns only).
    Word,
    /// Any text (patterns only).
    Text,
}

/// Splits `{…}` fields from literal text; `{{` and `}}` are literal braces.
fn pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '}' => return Err("a lone `}` (write `}}` for a literal brace)".into()),
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => {
                            return Err("an unclosed `{` (write `{{` for a literal brace)".into());
                        }
                        Some(c) => inner.push(c),
                    }
                }
                let (name, format) = match inner.split_once(':') {
                    Some((n, f)) => (n.trim(), Some(f.trim())),
                    None => (inner.trim(), None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("`{{{inner}}}` does not start with a field name"));
                }
                let format = match format {
                    None | Some("number") => FieldFormat::Number,
                    Some("int") => FieldFormat::Integer,
                    Some("word") => FieldFormat::Word,
                    Some("text") => FieldFormat::Text,
                    Some(f) => match f.strip_prefix('.').map(str::parse::<u8>) {
                        Some(Ok(n)) if n <= 9 => FieldFormat::Decimals(n),
                        _ => {
                            return Err(format!(
                                "unknown format `{f}` (number, int, .N, word, text)"
                            ));
                        }
                    },
                };
                if !literal.is_empty() {
                    out.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                out.push(Piece::Field {
                    name: name.to_string(),
                    format,
                });
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Literal(literal));
    }
    Ok(out)
}

/// What an answer is expected to look like, with named captures.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    source: String,
    pieces: Vec<Piece>,
}

/// What a pattern captured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Captures {
    /// Captured numbers by name.
    pub numbers: BTreeMap<String, f64>,
    /// Captured words and texts by name.
    pub texts: BTreeMap<String, String>,
}

impl Pattern {
    /// Parses a pattern; refuses template-only formats, repeated names and adjacent captures.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let pieces = pieces(text)?;
        let mut names = Vec::new();
        let mut previous_was_field = false;
        for piece in &pieces {
            match piece {
                Piece::Field { name, format } => {
                    if matches!(format, FieldFormat::Integer | FieldFormat::Decimals(_)) {
                        return Err(format!(
                            "`{name}`: int and .N are template formats; a pattern captures number, word or text"
                        ));
                    }
                    if previous_was_field {
                        return Err(format!(
                            "capture `{name}` follows another capture directly; separate them with literal text"
                        ));
                    }
                    if names.contains(name) {
                        return Err(format!("capture `{name}` appears twice"));
                    }
                    names.push(name.clone());
                    previous_was_field = true;
                }
                Piece::Literal(_) => previous_was_field = false,
            }
        }
        Ok(Pattern {
            source: text.to_string(),
            pieces,
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The names captured, with their formats.
    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldFormat)> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Field { name, format } => Some((name.as_str(), *format)),
            Piece::Literal(_) => None,
        })
    }

    /// Matches a whole answer; `None` when it does not fit.
    pub fn matches(&self, answer: &str) -> Option<Captures> {
        let mut captures = Captures::default();
        let mut rest = answer;
        let mut i = 0;
        while i < self.pieces.len() {
            match &self.pieces[i] {
                Piece::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Piece::Field { name, format } => {
                    let (captured, after) = match self.pieces.get(i + 1) {
                        Some(Piece::Literal(next)) => {
                            let at = rest.find(next.as_str())?;
                            (&rest[..at], &rest[at..])
                        }
                        _ => (rest, ""),
                    };
                    let captured = captured.trim();
                    match format {
                        FieldFormat::Number => {
                            let v: f64 = captured
                                .strip_prefix('+')
                                .unwrap_or(captured)
                                .parse()
                                .ok()?;
                            if !v.is_finite() {
                                return None;
                            }
                            captures.numbers.insert(name.clone(), v);
                        }
                        FieldFormat::Word => {
                            if captured.is_empty() || captured.contains(char::is_whitespace) {
                                return None;
                            }
                            captures.texts.insert(name.clone(), captured.to_string());
                        }
                        _ => {
                            captures.texts.insert(name.clone(), captured.to_string());
                        }
                    }
                    rest = after;
                }
            }
            i += 1;
        }
        rest.is_empty().then_some(captures)
    }
}

/// A message to send, with at most one `{value}` placeholder.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template; its only field may be `value`, in a template format.
    pub fn parse(text: &str) -> Result<Template, String> {
        let pieces = pieces(text)?;
        let mut count = 0;
        for piece in &pieces {
            if let Piece::Field { name, format } = piece {
                if name != "value" {
                    return Err(format!(
                        "`{{{name}}}`: a template's only placeholder is `{{value}}`"
                    ));
                }
                if matches!(format, FieldFormat::Word | FieldFormat::Text) {
                    return Err("`{value}` is a number: use number, int or .N".into());
                }
                count += 1;
            }
        }
        if count > 1 {
            return Err("`{value}` appears more than once".into());
        }
        Ok(Template {
            source: text.to_string(),
            pieces,
        })
    }

    /// Whether the template takes an argument.
    pub fn takes_value(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Field { .. }))
    }

    /// The message with `value` in place of its placeholder.
    pub fn render(&self, value: f64) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(l) => out.push_str(l),
                Piece::Field { format, .. } => match format {
                    FieldFormat::Integer => out.push_str(&format!("{}", value.round() as i64)),
                    FieldFormat::Decimals(n) => {
                        out.push_str(&format!("{value:.prec$}", prec = *n as usize));
                    }
                    _ => out.push_str(&format!("{value}")),
                },
            }
        }
        out
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// How lines end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Terminator {
    /// Carriage return.
    Cr,
    /// Line feed.
    Lf,
    /// CR LF (answers are read up to the LF; the CR is dropped).
    Crlf,
}

impl Terminator {
    /// Bytes appended to each message.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Terminator::Cr => b"\r",
            Terminator::Lf => b"\n",
            Terminator::Crlf => b"\r\n",
        }
    }

    /// The byte that ends an answer.
    pub fn last(self) -> u8 {
        match self {
            Terminator::Cr => b'\r',
            _ => b'\n',
        }
    }
}

/// A line checksum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checksum {
    /// None.
    None,
    /// `*` and two upper-case hex digits, the XOR of the bytes before the `*` (NMEA style).
    XorHex,
}

/// Why an answer could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// Not printable text.
    #[error("the answer is not printable text")]
    NotText,
    /// The checksum is missing or wrong.
    #[error("checksum {found} does not match the computed {computed}")]
    Checksum {
        /// What the answer carried (`none` when absent).
        found: String,
        /// What its bytes give.
        computed: String,
    },
}

/// The line to send for `message`, framed and with its checksum.
pub fn frame(message: &str, terminator: Terminator, checksum: Checksum) -> Vec<u8> {
    let mut out = message.as_bytes().to_vec();
    if checksum == Checksum::XorHex {
        out.extend_from_slice(format!("*{}", xor_hex(message.as_bytes())).as_bytes());
    }
    out.extend_from_slice(terminator.bytes());
    out
}

/// XOR of `bytes` as two upper-case hex digits.
pub fn xor_hex(bytes: &[u8]) -> String {
    format!("{:02X}", bytes.iter().fold(0u8, |a, b| a ^ b))
}

/// An answer line (terminator removed) as text, its checksum verified and removed.
pub fn unframe(line: &[u8], checksum: Checksum) -> Result<String, AnswerError> {
    let text = std::str::from_utf8(line).map_err(|_| AnswerError::NotText)?;
    let text = text.trim_end_matches(['\r', '\n']);
    if text.chars().any(|c| c.is_control()) {
        return Err(AnswerError::NotText);
    }
    match checksum {
        Checksum::None => Ok(text.to_string()),
        Checksum::XorHex => {
            let computed = |body: &str| xor_hex(body.as_bytes());
            match text.rsplit_once('*') {
                Some((body, sum)) if sum.eq_ignore_ascii_case(&computed(body)) => {
                    Ok(body.to_string())
                }
                Some((body, sum)) => Err(AnswerError::Checksum {
                    found: sum.to_string(),
                    computed: computed(body),
                }),
                None => Err(AnswerError::Checksum {
                    found: "none".into(),
                    computed: computed(text),
                }),
            }
        }
    }
}

/// A validated profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// The profile's name (`qbench-thermohygrometer`).
    pub name: String,
    /// The kind of instrument it describes (`thermohygrometer`).
    pub kind: String,
    /// What it is.
    pub description: Option<String>,
    /// Line terminator.
    pub terminator: Terminator,
    /// Line checksum.
    pub checksum: Checksum,
    /// The identity query and the pattern of its answer.
    pub identity: Exchange,
    /// The pattern of answers meaning "refused" (`ERR {message}`).
    pub error: Option<Pattern>,
    /// Quantities by name.
    pub quantities: BTreeMap<String, QuantityDef>,
    /// Settings by name.
    pub settings: BTreeMap<String, SettingDef>,
    /// Actions by name.
    pub actions: BTreeMap<String, Exchange>,
}

/// A message and the answer expected.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// What is sent.
    pub send: Template,
    /// What comes back; `None` for an instrument that does not answer this message.
    pub expect: Option<Pattern>,
}

/// A quantity read with a query.
#[derive(Clone, Debug)]
pub struct QuantityDef {
    /// Query and answer (which captures `value`).
    pub exchange: Exchange,
    /// Unit of the result.
    pub unit: Unit,
    /// Multiplier of the captured number.
    pub scale: f64,
    /// Added after scaling.
    pub offset: f64,
}

impl QuantityDef {
    /// The quantity from what its pattern captured.
    pub fn value(&self, captures: &Captures) -> Option<Quantity> {
        let v = captures.numbers.get("value")?;
        Some(Quantity::new(
            v * self.scale + self.offset,
            self.unit.clone(),
        ))
    }
}

/// A setting written with a command carrying its argument.
#[derive(Clone, Debug)]
pub struct SettingDef {
    /// Command (with `{value}`) and its answer (capturing the value in force, if any).
    pub exchange: Exchange,
    /// Unit the argument is sent in.
    pub unit: Unit,
    /// Lowest value accepted.
    pub min: Option<Quantity>,
    /// Highest value accepted.
    pub max: Option<Quantity>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    profile: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    line: Option<RawLine>,
    identity: Spanned<RawExchange>,
    #[serde(default)]
    error: Option<Spanned<String>>,
    #[serde(default)]
    quantities: BTreeMap<String, Spanned<RawQuantity>>,
    #[serde(default)]
    settings: BTreeMap<String, Spanned<RawSetting>>,
    #[serde(default)]
    actions: BTreeMap<String, Spanned<RawExchange>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    #[serde(default)]
    terminator: Option<Terminator>,
    #[serde(default)]
    checksum: Option<Checksum>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExchange {
    #[serde(alias = "query", alias = "command")]
    send: Spanned<String>,
    #[serde(default)]
    response: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuantity {
    query: Spanned<String>,
    response: Spanned<String>,
    unit: Spanned<String>,
    #[serde(default)]
    scale: Option<Spanned<f64>>,
    #[serde(default)]
    offset: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetting {
    command: Spanned<String>,
    #[serde(default)]
    response: Option<Spanned<String>>,
    unit: Spanned<String>,
    #[serde(default)]
    min: Option<Spanned<String>>,
    #[serde(default)]
    max: Option<Spanned<String>>,
}

/// Names a profile's quantities, settings and actions may take (as in procedures).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Validates profile `text` (read from `path`, used in messages), reporting every problem
/// with its position.
pub fn parse_profile(path: &Path, text: &str) -> Result<Profile, ValidationError> {
    let fail = |d| ValidationError::new(path.to_path_buf(), text.to_string(), d);
    let raw: RawProfile = serde_saphyr::from_str(text)
        .map_err(|e| fail(vec![crate::procedure::yaml_diagnostic(&e)]))?;
    let mut diagnostics = Vec::new();
    let pattern =
        |s: &Spanned<String>, diagnostics: &mut Vec<Diagnostic>| match Pattern::parse(&s.value) {
            Ok(p) => Some(p),
            Err(e) => {
                diagnostics.push(Diagnostic::at(&s.referenced, format!("bad pattern: {e}")));
                None
            }
        };
    let template =
        |s: &Spanned<String>, diagnostics: &mut Vec<Diagnostic>| match Template::parse(&s.value) {
            Ok(t) if t.source().trim().is_empty() => {
                diagnostics.push(Diagnostic::at(&s.referenced, "a message cannot be empty"));
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                diagnostics.push(Diagnostic::at(&s.referenced, format!("bad template: {e}")));
                None
            }
        };
    let unit = |s: &Spanned<String>, diagnostics: &mut Vec<Diagnostic>| match parse_unit(&s.value) {
        Ok(u) => Some(u),
        Err(e) => {
            diagnostics.push(Diagnostic::at(&s.referenced, e.to_string()));
            None
        }
    };
    if !is_name(&raw.kind.value) {
        diagnostics.push(Diagnostic::at(
            &raw.kind.referenced,
            "a kind is a lower-case name (`thermohygrometer`)",
        ));
    }
    let line = raw.line.unwrap_or(RawLine {
        terminator: None,
        checksum: None,
    });

    let identity_send = template(&raw.identity.value.send, &mut diagnostics);
    let identity_expect = match &raw.identity.value.response {
        None => {
            diagnostics.push(Diagnostic::at(
                &raw.identity.referenced,
                "the identity needs a `response` pattern capturing model or serial\nfor example `ID {manufacturer:word} {model:word} {serial:word} {firmware:text}`",
            ));
            None
        }
        Some(r) => pattern(r, &mut diagnostics).and_then(|p| {
            let known = ["manufacturer", "model", "serial", "firmware"];
            if let Some((bad, _)) = p.fields().find(|(n, _)| !known.contains(n)) {
                diagnostics.push(Diagnostic::at(
                    &r.referenced,
                    format!(
                        "identity capture `{bad}` is not one of {}",
                        known.join(", ")
                    ),
                ));
                return None;
            }
            if !p.fields().any(|(n, _)| n == "model" || n == "serial") {
                diagnostics.push(Diagnostic::at(
                    &r.referenced,
                    "the identity pattern must capture `model` or `serial`",
                ));
            }
            Some(p)
        }),
    };
    let error = raw
        .error
        .as_ref()
        .and_then(|e| pattern(e, &mut diagnostics));

    let mut quantities = BTreeMap::new();
    for (name, q) in &raw.quantities {
        if !is_name(name) {
            diagnostics.push(Diagnostic::at(
                &q.referenced,
                format!("`{name}` is not a lower-case name"),
            ));
        }
        let send = template(&q.value.query, &mut diagnostics);
        if send.as_ref().is_some_and(Template::takes_value) {
            diagnostics.push(Diagnostic::at(
                &q.value.query.referenced,
                "a query takes no `{value}`",
            ));
        }
        let expect = pattern(&q.value.response, &mut diagnostics);
        if let Some(p) = &expect
            && !p
                .fields()
                .any(|(n, f)| n == "value" && f == FieldFormat::Number)
        {
            diagnostics.push(Diagnostic::at(
                &q.value.response.referenced,
                "a quantity's pattern must capture `{value}` (a number)",
            ));
        }
        let u = unit(&q.value.unit, &mut diagnostics);
        let scale = match &q.value.scale {
            Some(s) if !(s.value.is_finite() && s.value != 0.0) => {
                diagnostics.push(Diagnostic::at(
                    &s.referenced,
                    "scale must be a finite, non-zero number",
                ));
                1.0
            }
            Some(s) => s.value,
            None => 1.0,
        };
        if let (Some(send), Some(expect), Some(unit)) = (send, expect, u) {
            quantities.insert(
                name.clone(),
                QuantityDef {
                    exchange: Exchange {
                        send,
                        expect: Some(expect),
                    },
                    unit,
                    scale,
                    offset: q.value.offset.unwrap_or(0.0),
                },
            );
        }
    }

    let mut settings = BTreeMap::new();
    for (name, s) in &raw.settings {
        if !is_name(name) {
            diagnostics.push(Diagnostic::at(
                &s.referenced,
                format!("`{name}` is not a lower-case name"),
            ));
        }
        let send = template(&s.value.command, &mut diagnostics);
        if send.as_ref().is_some_and(|t| !t.takes_value()) {
            diagnostics.push(Diagnostic::at(
                &s.value.command.referenced,
                "a setting's command must contain `{value}` where its argument goes",
            ));
        }
        let expect = s
            .value
            .response
            .as_ref()
            .and_then(|r| pattern(r, &mut diagnostics));
        let u = unit(&s.value.unit, &mut diagnostics);
        let bound = |b: &Option<Spanned<String>>, diagnostics: &mut Vec<Diagnostic>| {
            let b = b.as_ref()?;
            match parse_quantity(&b.value) {
                Ok(q) if u.as_ref().is_some_and(|u| q.unit.is_compatible(u)) => Some(q),
                Ok(q) => {
                    diagnostics.push(Diagnostic::at(
                        &b.referenced,
                        format!(
                            "`{}` is a {}, the setting is in {}",
                            b.value,
                            q.dimension().describe(),
                            s.value.unit.value
                        ),
                    ));
                    None
                }
                Err(e) => {
                    diagnostics.push(Diagnostic::at(&b.referenced, e.to_string()));
                    None
                }
            }
        };
        let min = bound(&s.value.min, &mut diagnostics);
        let max = bound(&s.value.max, &mut diagnostics);
        if let (Some(lo), Some(hi)) = (&min, &max)
            && lo.si_value() > hi.si_value()
            && let Some(m) = &s.value.max
        {
            diagnostics.push(Diagnostic::at(&m.referenced, "max is below min"));
        }
        if let (Some(send), Some(unit)) = (send, u) {
            settings.insert(
                name.clone(),
                SettingDef {
                    exchange: Exchange { send, expect },
                    unit,
                    min,
                    max,
                },
            );
        }
    }

    let mut actions = BTreeMap::new();
    for (name, a) in &raw.actions {
        if !is_name(name) {
            diagnostics.push(Diagnostic::at(
                &a.referenced,
                format!("`{name}` is not a lower-case name"),
            ));
        }
        let send = template(&a.value.send, &mut diagnostics);
        if send.as_ref().is_some_and(Template::takes_value) {
            diagnostics.push(Diagnostic::at(
                &a.value.send.referenced,
                "an action takes no `{value}`",
            ));
        }
        let expect = a
            .value
            .response
            .as_ref()
            .and_then(|r| pattern(r, &mut diagnostics));
        if let Some(send) = send {
            actions.insert(name.clone(), Exchange { send, expect });
        }
    }
    if quantities.is_empty() && settings.is_empty() && actions.is_empty() {
        diagnostics.push(Diagnostic::at(
            &raw.profile.referenced,
            "the profile describes no quantity, setting or action",
        ));
    }
    if !diagnostics.is_empty() {
        return Err(fail(diagnostics));
    }
    let (Some(send), Some(expect)) = (identity_send, identity_expect) else {
        return Err(fail(vec![Diagnostic::at(
            &raw.identity.referenced,
            "invalid identity",
        )]));
    };
    Ok(Profile {
        name: raw.profile.value,
        kind: raw.kind.value,
        description: raw.description,
        terminator: line.terminator.unwrap_or(Terminator::Lf),
        checksum: line.checksum.unwrap_or(Checksum::None),
        identity: Exchange {
            send,
            expect: Some(expect),
        },
        error,
        quantities,
        settings,
        actions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn patterns_capture_numbers_words_and_text() {
        let p = Pattern::parse("T={value} C").unwrap();
        assert_eq!(p.matches("T=+23.41 C").unwrap().numbers["value"], 23.41);
        assert!(p.matches("T=abc C").is_none());
        assert!(p.matches("T=23 F").is_none());
        assert!(p.matches("T=23 C extra").is_none());
        let p = Pattern::parse("ID {manufacturer:word} {model:word} {serial:word} {firmware:text}")
            .unwrap();
        let c = p.matches("ID qbench TH-1 TH-0001 1.0 beta").unwrap();
        assert_eq!(c.texts["serial"], "TH-0001");
        assert_eq!(c.texts["firmware"], "1.0 beta");
        assert!(Pattern::parse("{a}{b}").is_err());
        assert!(Pattern::parse("{a} {a}").is_err());
        assert!(Pattern::parse("{value:int}").is_err());
        assert!(Pattern::parse("x {").is_err());
        assert_eq!(
            Pattern::parse("{{literal}}").unwrap().matches("{literal}"),
            Some(Captures::default())
        );
    }

    #[test]
    fn templates_format_their_argument() {
        assert_eq!(
            Template::parse("AVG {value:int}").unwrap().render(9.6),
            "AVG 10"
        );
        assert_eq!(
            Template::parse("SP {value:.2}").unwrap().render(1.0),
            "SP 1.00"
        );
        assert_eq!(Template::parse("SP {value}").unwrap().render(0.5), "SP 0.5");
        assert!(Template::parse("{x}").is_err());
        assert!(Template::parse("{value} {value}").is_err());
        assert!(!Template::parse("T").unwrap().takes_value());
    }

    #[test]
    fn checksums_are_added_and_verified() {
        assert_eq!(frame("T", Terminator::Cr, Checksum::XorHex), b"T*54\r");
        assert_eq!(
            unframe(b"T=1 C*5C", Checksum::XorHex),
            Err(AnswerError::Checksum {
                found: "5C".into(),
                computed: xor_hex(b"T=1 C")
            })
        );
        let good = format!("T=1 C*{}", xor_hex(b"T=1 C"));
        assert_eq!(unframe(good.as_bytes(), Checksum::XorHex).unwrap(), "T=1 C");
        assert!(unframe(b"T=1 C", Checksum::XorHex).is_err());
        assert!(unframe(b"\x01x", Checksum::None).is_err());
    }

    #[test]
    fn a_broken_profile_reports_every_problem_with_its_position() {
        let text = "profile: x\nkind: Thermo\nidentity: { query: I, response: \"ID {color:word}\" }\nquantities:\n  temperature: { query: \"T {value}\", response: \"T={reading}\", unit: furlong }\nsettings:\n  avg: { command: AVG, unit: s, min: 1 mL }\n";
        let err = parse_profile(Path::new("p.yaml"), text).unwrap_err();
        let shown = err.to_string();
        for expected in [
            "p.yaml:2:7: a kind is a lower-case name",
            "identity capture `color`",
            "a query takes no `{value}`",
            "must capture `{value}`",
            "unknown unit `furlong`",
            "must contain `{value}`",
            "`1 mL` is a volume",
        ] {
            assert!(
                shown.contains(expected),
                "missing {expected:?} in:\n{shown}"
            );
        }
    }

    proptest! {
        #[test]
        fn numbers_rendered_into_a_pattern_are_captured_back(
            prefix in "[A-Z]{1,3}=",
            suffix in " [a-zA-Z%]{1,4}",
            value in -1e9f64..1e9,
        ) {
            let p = Pattern::parse(&format!("{prefix}{{value}}{suffix}")).unwrap();
            let answer = format!("{prefix}{value}{suffix}");
            prop_assert_eq!(p.matches(&answer).unwrap().numbers["value"], value);
        }

        #[test]
        fn words_are_captured_between_literals(words in prop::collection::vec("[A-Za-z0-9.-]{1,8}", 1..5)) {
            let pattern: Vec<String> = (0..words.len()).map(|i| format!("{{w{i}:word}}")).collect();
            let p = Pattern::parse(&format!("ID {}", pattern.join(","))).unwrap();
            let c = p.matches(&format!("ID {}", words.join(","))).unwrap();
            for (i, w) in words.iter().enumerate() {
                prop_assert_eq!(&c.texts[&format!("w{i}")], w);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(pattern in ".{0,20}", answer in ".{0,40}", bytes in prop::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Pattern::parse(&pattern) {
                let _ = p.matches(&answer);
            }
            if let Ok(t) = Template::parse(&pattern) {
                let _ = t.render(1.5);
            }
            let _ = unframe(&bytes, Checksum::XorHex);
            let _ = parse_profile(Path::new("p.yaml"), &answer);
        }
    }
}
