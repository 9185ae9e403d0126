//! The raw samples as CSV: one row per sample, every value at full precision.
//!
//! Columns: `run_id, measurement, role, quantity, set_point, sample_index, seq, utc, mono_s`,
//! then the value. When every measurement has the same unit the value column is named
//! `value [unit]` and there is no unit column; otherwise it is `value` followed by `unit`.
//! Fields are quoted as RFC 4180 asks (when they hold a comma, a quote or a line break);
//! lines end with `\n`.

use super::format::push_full;
use super::view::{set_point_index, set_point_label};
use crate::record::Record;
use std::fmt::Write;

fn push_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// The raw samples of `record` as CSV, one row per sample, in measurement order.
pub fn render_csv(record: &Record) -> String {
    let set_points = set_point_index(record);
    let uniform = match record.measurements.first() {
        Some(first) => record
            .measurements
            .iter()
            .all(|m| m.unit == first.unit)
            .then_some(first.unit.as_str()),
        None => None,
    };
    let mut out = String::with_capacity(128 + record.sample_count() * 96);
    out.push_str("run_id,measurement,role,quantity,set_point,sample_index,seq,utc,mono_s,");
    match uniform {
        Some(unit) if !unit.is_empty() => push_field(&mut out, &format!("value [{unit}]")),
        Some(_) => out.push_str("value"),
        None => out.push_str("value,unit"),
    }
    out.push('\n');
    for m in &record.measurements {
        // The fields shared by every sample of a measurement are escaped once.
        let mut prefix = String::new();
        push_field(&mut prefix, &record.header.run_id);
        prefix.push(',');
        push_field(&mut prefix, &m.id);
        prefix.push(',');
        push_field(&mut prefix, &m.role);
        prefix.push(',');
        push_field(&mut prefix, &m.quantity);
        prefix.push(',');
        if m.set_point.is_some() {
            push_field(&mut prefix, &set_point_label(m.set_point, &set_points));
        }
        prefix.push(',');
        let mut unit = String::new();
        if uniform.is_none() {
            unit.push(',');
            push_field(&mut unit, &m.unit);
        }
        for s in &m.samples {
            out.push_str(&prefix);
            let _ = write!(out, "{},{},", s.index, s.seq);
            push_field(&mut out, &s.utc);
            out.push(',');
            push_full(&mut out, s.mono_s);
            out.push(',');
            push_full(&mut out, s.value);
            out.push_str(&unit);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil;

    #[test]
    fn one_row_per_sample_with_the_unit_in_the_header() {
        let record = testutil::passing_record();
        let csv = render_csv(&record);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "run_id,measurement,role,quantity,set_point,sample_index,seq,utc,mono_s,value [mL]"
        );
        assert_eq!(lines.len(), 1 + record.sample_count());
        assert!(
            lines[1]
                .starts_with("run-0001,delivered_volume,flow_reference,inspired_volume,row 1,0,"),
            "{}",
            lines[1]
        );
        assert!(lines[1].ends_with(",501.5"), "{}", lines[1]);
    }

    #[test]
    fn mixed_units_get_a_unit_column() {
        let mut record = testutil::passing_record();
        record.measurements[1].unit = "L".to_string();
        let csv = render_csv(&record);
        assert!(csv.starts_with(
            "run_id,measurement,role,quantity,set_point,sample_index,seq,utc,mono_s,value,unit\n"
        ));
        assert!(csv.lines().nth(1).unwrap().ends_with(",mL"));
    }

    #[test]
    fn fields_with_commas_and_quotes_are_quoted() {
        let mut record = testutil::passing_record();
        record.measurements[0].id = "a,\"b\"".to_string();
        let csv = render_csv(&record);
        assert!(csv.lines().nth(1).unwrap().contains(",\"a,\"\"b\"\"\","));
    }

    #[test]
    fn values_keep_full_precision() {
        let mut record = testutil::passing_record();
        record.measurements[0].samples[0].value = 0.1 + 0.2;
        let csv = render_csv(&record);
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .ends_with(",0.30000000000000004")
        );
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes() {
        let record = testutil::failing_record();
        assert_eq!(render_csv(&record), render_csv(&record));
    }
}
