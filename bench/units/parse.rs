//! Parsing of unit symbols (`hPa/(L/s)`) and quantity literals (`500 mL`).

use super::{ATOMS, Dimension, Quantity, Unit, UnitError};

/// Parses a unit symbol such as `mL`, `L/min`, `/min`, `hPa/(L/s)` or `mm Al`.
///
/// An empty symbol is the unit of a pure number.
pub fn parse_unit(text: &str) -> Result<Unit, UnitError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(Unit::one());
    }
    let mut parser = UnitParser {
        text: trimmed,
        pos: 0,
    };
    let (factor, dimension) = parser.expression()?;
    parser.skip_spaces();
    if parser.pos != trimmed.len() {
        return Err(parser.malformed("unexpected text after the unit"));
    }
    Ok(Unit::new(trimmed, factor, dimension))
}

/// Parses a quantity literal: a number followed by an optional unit (`500 mL`, `20 /min`).
pub fn parse_quantity(text: &str) -> Result<Quantity, UnitError> {
    let trimmed = text.trim();
    let end = number_end(trimmed);
    let value: f64 = trimmed[..end]
        .parse()
        .map_err(|_| UnitError::NotAQuantity {
            text: text.to_string(),
        })?;
    if !value.is_finite() {
        return Err(UnitError::NotAQuantity {
            text: text.to_string(),
        });
    }
    let unit = parse_unit(&trimmed[end..])?;
    Ok(Quantity::new(value, unit))
}

/// The length of the longest prefix of `text` that reads as a decimal number.
fn number_end(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut end = 0;
    let mut seen_digit = false;
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        i += 1;
    }
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
        seen_digit |= bytes[i].is_ascii_digit();
        i += 1;
        if seen_digit {
            end = i;
        }
    }
    if seen_digit && i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        let digits_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > digits_start {
            end = j;
        }
    }
    end
}

/// A recursive-descent parser over a unit expression.
struct UnitParser<'a> {
    text: &'a str,
    pos: usize,
}

impl UnitParser<'_> {
    fn malformed(&self, reason: &str) -> UnitError {
        UnitError::Malformed {
            text: self.text.to_string(),
            reason: reason.to_string(),
        }
    }

    fn skip_spaces(&mut self) {
        while self.rest().starts_with(' ') {
            self.pos += 1;
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    /// expression := ['/'] term (('/' | '*' | '·') term)*
    fn expression(&mut self) -> Result<(f64, Dimension), UnitError> {
        self.skip_spaces();
        let (mut factor, mut dimension) = if self.rest().starts_with('/') {
            (1.0, Dimension::NONE)
        } else {
            self.term()?
        };
        loop {
            self.skip_spaces();
            let rest = self.rest();
            let (divide, width) = if rest.starts_with('/') {
                (true, 1)
            } else if rest.starts_with('*') {
                (false, 1)
            } else if rest.starts_with('·') {
                (false, '·'.len_utf8())
            } else {
                return Ok((factor, dimension));
            };
            self.pos += width;
            self.skip_spaces();
            let (f, d) = self.term()?;
            if divide {
                factor /= f;
                dimension = dimension / d;
            } else {
                factor *= f;
                dimension = dimension * d;
            }
        }
    }

    /// term := (atom | '(' expression ')') ['^' integer]
    fn term(&mut self) -> Result<(f64, Dimension), UnitError> {
        let (factor, dimension) = if self.rest().starts_with('(') {
            self.pos += 1;
            let inner = self.expression()?;
            self.skip_spaces();
            if !self.rest().starts_with(')') {
                return Err(self.malformed("missing `)`"));
            }
            self.pos += 1;
            inner
        } else {
            self.atom()?
        };
        if self.rest().starts_with('^') {
            self.pos += 1;
            let end = self
                .rest()
                .char_indices()
                .find(|(i, c)| !(c.is_ascii_digit() || (*i == 0 && *c == '-')))
                .map(|(i, _)| i)
                .unwrap_or(self.rest().len());
            let exponent: i8 = self.rest()[..end]
                .parse()
                .map_err(|_| self.malformed("bad exponent after `^`"))?;
            self.pos += end;
            return Ok((factor.powi(i32::from(exponent)), dimension.powi(exponent)));
        }
        Ok((factor, dimension))
    }

    /// The longest known atom at the current position.
    fn atom(&mut self) -> Result<(f64, Dimension), UnitError> {
        let rest = self.rest();
        let best = ATOMS
            .iter()
            .filter(|(symbol, _, _)| {
                rest.starts_with(symbol) && {
                    // An atom must end at an operator, a space, `^`, `)` or the end.
                    let after = &rest[symbol.len()..];
                    after.is_empty() || after.starts_with(['/', '*', '·', ' ', '^', ')'])
                }
            })
            .max_by_key(|(symbol, _, _)| symbol.len());
        match best {
            Some((symbol, factor, dimension)) => {
                self.pos += symbol.len();
                Ok((*factor, *dimension))
            }
            None => {
                let symbol: String = rest
                    .chars()
                    .take_while(|c| !matches!(c, '/' | '*' | '·' | ' ' | '^' | ')'))
                    .collect();
                Err(UnitError::Unknown { symbol })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_quantity_literals() {
        let q = parse_quantity("500 mL").unwrap();
        assert_eq!(q.value, 500.0);
        assert_eq!(q.unit.symbol(), "mL");
        let r = parse_quantity("20 /min").unwrap();
        assert!((r.si_value() - 20.0 / 60.0).abs() < 1e-12);
        assert_eq!(parse_quantity("-1.5e2").unwrap().value, -150.0);
        assert_eq!(parse_quantity("15 %").unwrap().si_value(), 0.15);
        assert_eq!(parse_quantity("2.9 mm Al").unwrap().unit.symbol(), "mm Al");
    }

    #[test]
    fn reports_unknown_units_and_bad_numbers() {
        assert!(matches!(
            parse_unit("furlong"),
            Err(UnitError::Unknown { .. })
        ));
        assert!(matches!(
            parse_quantity("mL"),
            Err(UnitError::NotAQuantity { .. })
        ));
        assert!(matches!(
            parse_unit("(mL"),
            Err(UnitError::Malformed { .. })
        ));
        assert!(matches!(parse_unit("mmm"), Err(UnitError::Unknown { .. })));
    }

    proptest! {
        #[test]
        fn unit_parser_never_panics(text in "\\PC{0,24}") {
            let _ = parse_unit(&text);
            let _ = parse_quantity(&text);
        }

        #[test]
        fn formatted_quantities_parse_back(value in -1e9f64..1e9, index in 0usize..ATOMS.len()) {
            let symbol = ATOMS[index].0;
            let text = format!("{value} {symbol}");
            let q = parse_quantity(&text).unwrap();
            prop_assert_eq!(q.value, value);
            prop_assert_eq!(q.unit.symbol(), symbol);
        }
    }
}
