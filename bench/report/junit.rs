//! JUnit XML, for CI systems: one test suite per run, one test case per check outcome.
//!
//! A test case is named `check id @ set point label`. FAIL gives a `<failure>`, ERROR and
//! ABORTED an `<error>`, a check that did not apply a `<skipped>`. A run that did not
//! complete (ERROR, ABORTED, or a journal that ends early) also gets a test case `run` with
//! an `<error>`, so a CI system never shows an unfinished run as green.
//!
//! Emergency messages a device sent (CANopen EMCY) are not test cases (the procedure decides
//! what they mean, e.g. `emcy: stop` ends the run with an error that is already a case): they
//! are counted in the property `emergencies` and listed, one line each, in the suite's
//! `<system-out>`, so the CI log shows them beside the outcomes.

use super::format::push_escaped_xml;
use super::view::{group_checks, set_point_index, set_point_label};
use crate::analysis::Verdict;
use crate::record::Record;
use std::fmt::Write;

fn attr(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, " {name}=\"");
    push_escaped_xml(out, value);
    out.push('"');
}

struct Case {
    classname: String,
    name: String,
    /// `failure`, `error` or `skipped` with its message and text; `None` for a pass.
    problem: Option<(&'static str, String, String)>,
}

/// The record as a JUnit XML document.
pub fn render_junit(record: &Record) -> String {
    let h = &record.header;
    let set_points = set_point_index(record);
    let mut cases = Vec::with_capacity(record.checks.len() + 1);
    for (id, outcomes) in group_checks(record) {
        for o in outcomes {
            let label = set_point_label(o.set_point, &set_points);
            let detail = || {
                let mut lines = vec![format!(
                    "{} ({} of {}, n = {})",
                    o.title, o.statistic, o.measurement, o.samples
                )];
                if let Some(v) = &o.value {
                    lines.push(format!("value: {v}"));
                }
                if let Some(t) = &o.target {
                    lines.push(format!("target: {t}"));
                }
                if let Some(l) = &o.limit {
                    lines.push(format!("limit: {}", l.description));
                }
                if let Some(n) = &o.note {
                    lines.push(format!("note: {n}"));
                }
                lines.join("\n")
            };
            let problem = if !o.applicable {
                Some((
                    "skipped",
                    format!("not applicable: {}", o.note.as_deref().unwrap_or("")),
                    String::new(),
                ))
            } else {
                match o.verdict {
                    Verdict::Pass => None,
                    Verdict::Fail => Some(("failure", format!("{id} failed at {label}"), detail())),
                    v @ (Verdict::Error | Verdict::Aborted) => Some((
                        "error",
                        format!("{id} could not be decided at {label} ({v})"),
                        detail(),
                    )),
                }
            };
            cases.push(Case {
                classname: format!("{}.{}", h.procedure_id, id),
                name: format!("{id} @ {label}"),
                problem,
            });
        }
    }
    let reason = record.end_reason.clone().unwrap_or_default();
    let incomplete = match record.verdict {
        None => Some(format!(
            "the run did not complete: the journal ends before the run did{}",
            suffix(&reason)
        )),
        Some(v @ (Verdict::Error | Verdict::Aborted)) => {
            Some(format!("the run ended with {v}{}", suffix(&reason)))
        }
        Some(Verdict::Pass | Verdict::Fail) => None,
    };
    if let Some(message) = incomplete {
        cases.push(Case {
            classname: format!("{}.run", h.procedure_id),
            name: "run".to_string(),
            problem: Some(("error", message, String::new())),
        });
    }

    let count = |kind: &str| {
        cases
            .iter()
            .filter(|c| c.problem.as_ref().is_some_and(|p| p.0 == kind))
            .count()
    };
    let (tests, failures, errors, skipped) = (
        cases.len(),
        count("failure"),
        count("error"),
        count("skipped"),
    );
    let mut out = String::with_capacity(512 + cases.len() * 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(out, "<testsuites");
    attr(
        &mut out,
        "name",
        &format!("{} {}", h.procedure_id, h.procedure_version),
    );
    let _ = writeln!(
        out,
        " tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    );
    out.push_str("  <testsuite");
    attr(
        &mut out,
        "name",
        &format!(
            "{} {} — {}",
            h.procedure_id, h.procedure_version, h.dut_serial
        ),
    );
    attr(&mut out, "id", &h.run_id);
    let _ = write!(
        out,
        " tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\""
    );
    attr(&mut out, "timestamp", &record.started_utc);
    attr(&mut out, "hostname", &h.host);
    out.push_str(">\n    <properties>\n");
    let verdict = record.verdict.map_or("INCOMPLETE", Verdict::as_str);
    let software = format!("{} {}", h.software.name, h.software.version);
    let emergencies = record.emergencies.len().to_string();
    let properties = [
        ("run_id", h.run_id.as_str()),
        ("procedure", h.procedure_id.as_str()),
        ("procedure_version", h.procedure_version.as_str()),
        ("procedure_sha256", h.procedure.sha256.as_str()),
        ("standard", h.standard.as_str()),
        ("clause", h.clause.as_str()),
        ("dut_serial", h.dut_serial.as_str()),
        ("operator", h.operator.as_str()),
        ("fixture", h.fixture_name.as_str()),
        ("simulated", if h.simulated { "true" } else { "false" }),
        ("software", software.as_str()),
        ("verdict", verdict),
        ("journal_head", record.journal_head.as_str()),
        ("emergencies", emergencies.as_str()),
    ];
    for (name, value) in properties {
        out.push_str("      <property");
        attr(&mut out, "name", name);
        attr(&mut out, "value", value);
        out.push_str("/>\n");
    }
    out.push_str("    </properties>\n");
    for case in &cases {
        out.push_str("    <testcase");
        attr(&mut out, "classname", &case.classname);
        attr(&mut out, "name", &case.name);
        match &case.problem {
            None => out.push_str("/>\n"),
            Some((kind, message, text)) => {
                out.push_str(">\n      <");
                out.push_str(kind);
                attr(&mut out, "message", message);
                if *kind != "skipped" {
                    attr(
                        &mut out,
                        "type",
                        if *kind == "failure" { "FAIL" } else { "ERROR" },
                    );
                }
                if text.is_empty() {
                    out.push_str("/>\n");
                } else {
                    out.push('>');
                    push_escaped_xml(&mut out, text);
                    let _ = writeln!(out, "</{kind}>");
                }
                out.push_str("    </testcase>\n");
            }
        }
    }
    if !record.emergencies.is_empty() {
        out.push_str("    <system-out>");
        for e in &record.emergencies {
            let line = format!(
                "EMCY seq {} {} {} node {}: code {:04X}h ({}), error register {:02X}h, manufacturer data {}\n",
                e.seq, e.utc, e.role, e.node, e.code, e.class, e.register, e.manufacturer
            );
            push_escaped_xml(&mut out, &line);
        }
        out.push_str("</system-out>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil;

    #[test]
    fn a_passing_run_has_no_failures() {
        let xml = render_junit(&testutil::passing_record());
        assert!(
            xml.contains(r#"tests="2" failures="0" errors="0" skipped="0""#),
            "{xml}"
        );
        assert!(xml.contains(r#"<testcase classname="VENT-VOL-01.volume_accuracy" name="volume_accuracy @ row 1"/>"#), "{xml}");
    }

    #[test]
    fn failures_and_skips_are_marked() {
        let xml = render_junit(&testutil::failing_record());
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert!(xml.contains(r#"skipped="1""#), "{xml}");
        assert!(
            xml.contains(r#"<failure message="volume_accuracy failed at row 2" type="FAIL">"#),
            "{xml}"
        );
        assert!(xml.contains("<skipped message=\"not applicable:"), "{xml}");
    }

    #[test]
    fn an_interrupted_run_is_an_error() {
        let xml = render_junit(&testutil::interrupted_record());
        assert!(xml.contains(r#"name="run""#), "{xml}");
        assert!(
            xml.contains("<error message=\"the run did not complete"),
            "{xml}"
        );
        assert!(xml.contains(r#"<property name="verdict" value="INCOMPLETE"/>"#));
    }

    #[test]
    fn an_errored_run_is_an_error_with_its_reason() {
        let record = testutil::stopped_record(Verdict::Error, "flow_reference stopped answering");
        let xml = render_junit(&record);
        assert!(xml.contains(r#"errors="1""#), "{xml}");
        assert!(
            xml.contains(r#"<error message="the run ended with ERROR: flow_reference stopped answering" type="ERROR"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn emergencies_are_counted_and_listed_in_the_suite_output() {
        let record = testutil::emergency_record();
        let xml = render_junit(&record);
        assert!(
            xml.contains(r#"<property name="emergencies" value="2"/>"#),
            "{xml}"
        );
        let out = xml
            .split_once("<system-out>")
            .and_then(|(_, rest)| rest.split_once("</system-out>"))
            .map(|(out, _)| out)
            .unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{xml}");
        assert!(
            lines[0].contains(
                "flow_reference node 5: code 4210h (temperature, device), error register 09h"
            ),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("code 0000h (error reset)"),
            "{}",
            lines[1]
        );
        // Still a passing suite: an EMCY is evidence, the procedure decides what it means.
        assert!(xml.contains(r#"failures="0" errors="0""#), "{xml}");
        let plain = render_junit(&testutil::passing_record());
        assert!(!plain.contains("<system-out>"), "{plain}");
        assert!(
            plain.contains(r#"<property name="emergencies" value="0"/>"#),
            "{plain}"
        );
    }

    #[test]
    fn text_from_the_record_is_escaped() {
        let xml = render_junit(&testutil::hostile_record());
        assert!(!xml.contains("<script>"), "{xml}");
        assert!(
            xml.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{xml}"
        );
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes() {
        let record = testutil::failing_record();
        assert_eq!(render_junit(&record), render_junit(&record));
    }
}
