//! Number and text formatting shared by every report format.
//!
//! Tables show numbers to a few significant digits, because a reviewer compares them with a
//! limit; the raw-data appendix and the CSV show every digit (the shortest text that reads
//! back as the same `f64`), because they are the evidence.

use std::fmt::Write;

/// Significant digits shown in tables.
pub(crate) const TABLE_DIGITS: usize = 4;

/// Formats `x` with `digits` significant digits, in plain notation for magnitudes from 0.001
/// to below 1 000 000 and in scientific notation (`1.234e-5`) outside that range.
pub(crate) fn sig(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return non_finite(x);
    }
    if x == 0.0 {
        return "0".to_string();
    }
    let digits = digits.max(1);
    // The exponent is taken after rounding, so 9.9996 becomes "10.00", not "10.000".
    let scientific = format!("{:.*e}", digits - 1, x);
    let exponent: i32 = scientific
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if (-3..6).contains(&exponent) {
        let decimals = (digits as i32 - 1 - exponent).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        scientific
    }
}

/// [`sig`] with the table precision.
pub(crate) fn table(x: f64) -> String {
    sig(x, TABLE_DIGITS)
}

/// Formats a value a person wrote (a set point's binding): up to 6 significant digits, with
/// trailing zeros dropped, so `500` stays `500` and `0.1 + 0.2` reads `0.3`.
pub(crate) fn short(x: f64) -> String {
    let text = sig(x, 6);
    if text.contains('.') && !text.contains('e') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Every digit: the shortest text that reads back as the same `f64`.
pub(crate) fn full(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        non_finite(x)
    }
}

/// Appends [`full`] to `out` without an intermediate allocation.
pub(crate) fn push_full(out: &mut String, x: f64) {
    if x.is_finite() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{x}");
    } else {
        out.push_str(&non_finite(x));
    }
}

fn non_finite(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_string()
    } else if x > 0.0 {
        "inf".to_string()
    } else {
        "-inf".to_string()
    }
}

/// A value and its unit (`500.0 mL`; just the value for a pure number, whose unit is
/// written empty or `1`).
pub(crate) fn with_unit(value: &str, unit: &str) -> String {
    if unit.is_empty() || unit == "1" {
        value.to_string()
    } else {
        format!("{value} {unit}")
    }
}

/// Appends `text` to `out`, escaped for XML and SVG content and attribute values.
///
/// Characters XML 1.0 does not allow (most control characters) are replaced by U+FFFD, so a
/// device that answers its identity query with garbage cannot make the document invalid.
pub(crate) fn push_escaped_xml(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape_xml(text: &str) -> String {
        let mut out = String::new();
        push_escaped_xml(&mut out, text);
        out
    }

    #[test]
    fn significant_digits_in_plain_notation() {
        assert_eq!(table(500.0), "500.0");
        assert_eq!(table(512.345), "512.3");
        assert_eq!(table(-4.56789), "-4.568");
        assert_eq!(table(0.0012346), "0.001235");
        assert_eq!(table(123456.0), "123456");
        assert_eq!(table(9.9996), "10.00");
        assert_eq!(table(0.0), "0");
    }

    #[test]
    fn significant_digits_in_scientific_notation() {
        assert_eq!(table(0.000012346), "1.235e-5");
        assert_eq!(table(12345678.0), "1.235e7");
    }

    #[test]
    fn non_finite_values_are_named() {
        assert_eq!(table(f64::NAN), "NaN");
        assert_eq!(full(f64::INFINITY), "inf");
        assert_eq!(full(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn short_drops_trailing_zeros() {
        assert_eq!(short(500.0), "500");
        assert_eq!(short(0.1 + 0.2), "0.3");
        assert_eq!(short(12.5), "12.5");
    }

    #[test]
    fn full_precision_reads_back() {
        let x = 0.1 + 0.2;
        assert_eq!(full(x).parse::<f64>().unwrap(), x);
    }

    #[test]
    fn xml_escaping_covers_markup_and_control_characters() {
        assert_eq!(
            escape_xml(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(escape_xml("a\u{1}b"), "a\u{FFFD}b");
    }
}
