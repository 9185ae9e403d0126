//! ATML test results (IEEE 1636.1), the interchange format of test executives and
//! test-management systems.
//!
//! The document is a `TestResults` element in the namespace
//! `urn:IEEE-1636.1:2013:TestResults` (prefix `tr`), with common types from
//! `urn:IEEE-1671:2010:Common` (prefix `c`):
//!
//! - `Personnel/SystemOperator`: the operator.
//! - `ResultSet` (start and end date and time of the run): one `TestGroup` per check id, one
//!   `Test` per outcome (set point), each `Test` holding a `TestResult` with the statistic's
//!   value as `TestData/c:Datum` (full precision, unit as `nonStandardUnit`), the limit as
//!   `TestLimits/Limits` (`c:LimitPair` or `c:SingleLimit`), and an `Outcome`.
//! - `TestStation`: the fixture and host; `UUT`: the device with its serial number.
//! - `Extension`: what 1636.1 has no element for, in the namespace `urn:qbench:atml:1`:
//!   procedure identity and hash, instruments with calibrations, emergency messages the
//!   devices sent (`qb:Emergency`, CANopen EMCY), journal head, record hash and signatures.
//!
//! Outcome values: PASS → `Passed`, FAIL → `Failed`, ERROR → `Error`, ABORTED → `Aborted`, a
//! check that did not apply → `Skipped`; a run whose journal ends early → `Aborted` with the
//! qualifier `incomplete`. An outcome superseded by a later attempt (a `repeat` retry, or a
//! set point run again after `qbench resume`) keeps its value with the qualifier
//! `superseded` and does not count towards its group's outcome.
//!
//! Every string from the record is escaped, and characters XML does not allow are replaced.
//! The element order follows the standard as far as qbench knows it; the document is not
//! validated against the IEEE schema files (they are not distributed with qbench).

use super::format::{full, push_escaped_xml};
use super::view::{ReportView, group_checks, set_point_index, set_point_label};
use crate::analysis::Verdict;
use crate::journal::CheckOutcome;
use crate::record::{Record, SignatureCheck};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The IEEE 1636.1 test results namespace.
pub const ATML_NAMESPACE: &str = "urn:IEEE-1636.1:2013:TestResults";
/// The IEEE 1671 common types namespace.
pub const ATML_COMMON_NAMESPACE: &str = "urn:IEEE-1671:2010:Common";
/// The namespace of qbench's extension elements.
pub const QBENCH_EXTENSION_NAMESPACE: &str = "urn:qbench:atml:1";

/// A small XML writer: elements, escaped attributes and text, two-space indentation.
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn attrs(&mut self, attrs: &[(&str, &str)]) {
        for (name, value) in attrs {
            let _ = write!(self.out, " {name}=\"");
            push_escaped_xml(&mut self.out, value);
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        let _ = write!(self.out, "<{name}");
        self.attrs(attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        let _ = write!(self.out, "<{name}");
        self.attrs(attrs);
        self.out.push_str("/>\n");
    }

    fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.indent();
        let _ = write!(self.out, "<{name}");
        self.attrs(attrs);
        self.out.push('>');
        push_escaped_xml(&mut self.out, text);
        let _ = writeln!(self.out, "</{name}>");
    }
}

fn outcome_value(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "Passed",
        Verdict::Fail => "Failed",
        Verdict::Error => "Error",
        Verdict::Aborted => "Aborted",
    }
}

fn check_outcome_value(o: &CheckOutcome) -> &'static str {
    if o.applicable {
        outcome_value(o.verdict)
    } else {
        "Skipped"
    }
}

/// A UUID-shaped identifier derived from the run (the same record gives the same one).
fn uuid_of(record: &Record) -> String {
    let digest = Sha256::digest(format!("{}\n{}", record.header.run_id, record.journal_head));
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-8{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

fn datum(xml: &mut Xml, value: f64, unit: &str) {
    let value = full(value);
    if unit.is_empty() || unit == "1" {
        xml.empty(
            "c:Datum",
            &[("xsi:type", "c:double"), ("value", value.as_str())],
        );
    } else {
        xml.empty(
            "c:Datum",
            &[
                ("xsi:type", "c:double"),
                ("value", value.as_str()),
                ("nonStandardUnit", unit),
            ],
        );
    }
}

fn test_result(xml: &mut Xml, id: &str, o: &CheckOutcome) {
    let name = format!("{} of {}", o.statistic, o.measurement);
    xml.open("tr:TestResult", &[("ID", id), ("name", name.as_str())]);
    if let Some(v) = &o.value {
        xml.open("tr:TestData", &[]);
        datum(xml, v.value, v.unit.symbol());
        xml.close("tr:TestData");
    }
    if let Some(limit) = &o.limit {
        let bound = |xml: &mut Xml, element: &str, comparator: &str, x: f64| {
            xml.open(element, &[("comparator", comparator)]);
            datum(xml, x, &limit.unit);
            xml.close(element);
        };
        match (limit.low, limit.high) {
            (Some(low), Some(high)) => {
                xml.open("tr:TestLimits", &[]);
                xml.open("tr:Limits", &[]);
                xml.open("c:LimitPair", &[("operator", "AND")]);
                bound(xml, "c:Limit", "GE", low);
                bound(xml, "c:Limit", "LE", high);
                xml.close("c:LimitPair");
                xml.close("tr:Limits");
                xml.close("tr:TestLimits");
            }
            (Some(x), None) | (None, Some(x)) => {
                let comparator = if limit.low.is_some() { "GE" } else { "LE" };
                xml.open("tr:TestLimits", &[]);
                xml.open("tr:Limits", &[]);
                bound(xml, "c:SingleLimit", comparator, x);
                xml.close("tr:Limits");
                xml.close("tr:TestLimits");
            }
            (None, None) => {}
        }
    }
    xml.empty("tr:Outcome", &[("value", check_outcome_value(o))]);
    xml.close("tr:TestResult");
}

/// The record as an IEEE 1636.1 test results document, with its checked signatures.
pub fn render_atml(record: &Record, signatures: &SignatureCheck) -> String {
    let h = &record.header;
    let view = ReportView::from_record(record).with_signatures(signatures);
    let set_points = set_point_index(record);
    let mut xml = Xml {
        out: String::with_capacity(4096 + record.checks.len() * 700),
        depth: 0,
    };
    xml.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let uuid = uuid_of(record);
    xml.open(
        "tr:TestResults",
        &[
            ("xmlns:tr", ATML_NAMESPACE),
            ("xmlns:c", ATML_COMMON_NAMESPACE),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
            ("xmlns:qb", QBENCH_EXTENSION_NAMESPACE),
            ("uuid", uuid.as_str()),
        ],
    );

    xml.open("tr:Personnel", &[]);
    xml.empty(
        "tr:SystemOperator",
        &[("ID", "operator"), ("name", h.operator.as_str())],
    );
    xml.close("tr:Personnel");

    let (run_outcome, qualifier) = match record.verdict {
        Some(v) => (outcome_value(v), None),
        None => ("Aborted", Some("incomplete")),
    };
    let set_name = format!("{} {} — {}", h.procedure_id, h.procedure_version, h.title);
    xml.open(
        "tr:ResultSet",
        &[
            ("ID", "run"),
            ("name", set_name.as_str()),
            ("startDateTime", record.started_utc.as_str()),
            ("endDateTime", record.ended_utc.as_str()),
        ],
    );
    for (group_n, (id, outcomes)) in group_checks(record).into_iter().enumerate() {
        let group_id = format!("check-{}", group_n + 1);
        let title = outcomes.first().map(|o| o.title.as_str()).unwrap_or("");
        xml.open("tr:TestGroup", &[("ID", group_id.as_str()), ("name", id)]);
        if !title.is_empty() {
            xml.text("tr:Description", &[], title);
        }
        let mut group: Option<Verdict> = None;
        for (n, o) in outcomes.iter().enumerate() {
            let test_id = format!("{group_id}-{}", n + 1);
            let label = set_point_label(o.set_point, &set_points);
            let name = format!("{id} @ {label}");
            xml.open(
                "tr:Test",
                &[("ID", test_id.as_str()), ("name", name.as_str())],
            );
            if let Some(note) = &o.note {
                xml.text("tr:Description", &[], note);
            }
            test_result(&mut xml, &format!("{test_id}-r"), o);
            if o.superseded {
                // A retried attempt or a set point run again after a resume: kept as
                // evidence, but it does not count towards the group's outcome.
                xml.empty(
                    "tr:Outcome",
                    &[
                        ("value", check_outcome_value(o)),
                        ("qualifier", "superseded"),
                    ],
                );
            } else {
                xml.empty("tr:Outcome", &[("value", check_outcome_value(o))]);
            }
            xml.close("tr:Test");
            if o.applicable && !o.superseded {
                group = Some(group.map_or(o.verdict, |g| g.combine(o.verdict)));
            }
        }
        let group_outcome = group.map_or("Skipped", outcome_value);
        xml.empty("tr:Outcome", &[("value", group_outcome)]);
        xml.close("tr:TestGroup");
    }
    match qualifier {
        Some(q) => xml.empty("tr:Outcome", &[("value", run_outcome), ("qualifier", q)]),
        None => xml.empty("tr:Outcome", &[("value", run_outcome)]),
    }
    xml.close("tr:ResultSet");

    xml.open("tr:TestStation", &[]);
    xml.open("c:Definition", &[]);
    xml.open("c:Identification", &[]);
    xml.text("c:ModelName", &[], &h.fixture_name);
    xml.close("c:Identification");
    xml.close("c:Definition");
    xml.text("c:SerialNumber", &[], &h.host);
    xml.close("tr:TestStation");

    xml.open("tr:UUT", &[("UutType", "Hardware")]);
    let dut = record.instruments.iter().find(|i| i.role == "dut");
    if let Some(dut) = dut {
        xml.open("c:Definition", &[]);
        xml.open("c:Identification", &[]);
        let model = format!("{} {}", dut.identity.manufacturer, dut.identity.model);
        xml.text("c:ModelName", &[], model.trim());
        xml.close("c:Identification");
        xml.close("c:Definition");
    }
    xml.text("c:SerialNumber", &[], &h.dut_serial);
    xml.close("tr:UUT");

    extension(&mut xml, record, &view);
    xml.close("tr:TestResults");
    xml.out
}

/// What 1636.1 has no element for: procedure, instruments, evidence and signatures.
fn extension(xml: &mut Xml, record: &Record, view: &ReportView) {
    let h = &record.header;
    let id = &view.identification;
    xml.open("tr:Extension", &[]);
    xml.open("qb:Run", &[("runId", h.run_id.as_str())]);
    xml.empty(
        "qb:Procedure",
        &[
            ("id", id.procedure_id.as_str()),
            ("version", id.procedure_version.as_str()),
            ("standard", id.standard.as_str()),
            ("clause", id.clause.as_str()),
            ("path", id.procedure_path.as_str()),
            ("sha256", id.procedure_sha256.as_str()),
        ],
    );
    xml.empty(
        "qb:Fixture",
        &[
            ("name", id.fixture_name.as_str()),
            ("path", id.fixture_path.as_str()),
            ("sha256", id.fixture_sha256.as_str()),
            ("simulated", if h.simulated { "true" } else { "false" }),
        ],
    );
    xml.empty("qb:Software", &[("name", id.software.as_str())]);
    for i in &view.instruments {
        xml.empty(
            "qb:Instrument",
            &[
                ("role", i.role.as_str()),
                ("driver", i.driver.as_str()),
                ("manufacturer", i.manufacturer.as_str()),
                ("model", i.model.as_str()),
                ("serial", i.serial.as_str()),
                ("firmware", i.firmware.as_str()),
                ("calibrationCertificate", i.calibration_certificate.as_str()),
                ("calibrationDue", i.calibration_due.as_str()),
                (
                    "calibrationOverdue",
                    if i.calibration_overdue {
                        "true"
                    } else {
                        "false"
                    },
                ),
                ("accuracy", i.accuracy.as_str()),
            ],
        );
    }
    for e in &view.emergencies {
        let (seq, node) = (e.seq.to_string(), e.node.to_string());
        xml.empty(
            "qb:Emergency",
            &[
                ("seq", seq.as_str()),
                ("dateTime", e.utc.as_str()),
                ("role", e.role.as_str()),
                ("node", node.as_str()),
                ("code", e.code.as_str()),
                ("class", e.class.as_str()),
                ("errorRegister", e.register.as_str()),
                ("manufacturerData", e.manufacturer.as_str()),
            ],
        );
    }
    let entries = view.footer.journal_entries.to_string();
    xml.empty(
        "qb:Evidence",
        &[
            ("journalHead", view.footer.journal_head.as_str()),
            ("journalEntries", entries.as_str()),
            ("recordSha256", view.footer.record_sha256.as_str()),
        ],
    );
    for s in &view.signatures {
        xml.empty(
            "qb:Signature",
            &[
                ("name", s.name.as_str()),
                ("meaning", s.meaning.as_str()),
                ("dateTime", s.utc.as_str()),
                ("keyFingerprint", s.key_fingerprint.as_str()),
                ("verified", if s.verified { "true" } else { "false" }),
                ("status", s.status.as_str()),
            ],
        );
    }
    xml.close("qb:Run");
    xml.close("tr:Extension");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil;

    fn atml(record: &Record) -> String {
        render_atml(record, &SignatureCheck::default())
    }

    #[test]
    fn a_failing_run_is_well_formed_with_one_test_per_outcome() {
        let xml = atml(&testutil::failing_record());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "TestResults");
        assert_eq!(root.tag_name().namespace(), Some(ATML_NAMESPACE));
        let tests: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name((ATML_NAMESPACE, "Test")))
            .collect();
        assert_eq!(tests.len(), 4);
        let outcomes: Vec<&str> = tests
            .iter()
            .map(|t| {
                t.children()
                    .find(|c| c.has_tag_name((ATML_NAMESPACE, "Outcome")))
                    .and_then(|o| o.attribute("value"))
                    .unwrap()
            })
            .collect();
        assert_eq!(outcomes, ["Passed", "Failed", "Passed", "Skipped"]);
    }

    #[test]
    fn emergencies_are_in_the_extension_in_order() {
        let xml = atml(&testutil::emergency_record());
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let emcys: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name((QBENCH_EXTENSION_NAMESPACE, "Emergency")))
            .collect();
        assert_eq!(emcys.len(), 2, "{xml}");
        let first = &emcys[0];
        assert_eq!(first.attribute("role"), Some("flow_reference"));
        assert_eq!(first.attribute("node"), Some("5"));
        assert_eq!(first.attribute("code"), Some("4210h"));
        assert_eq!(first.attribute("errorRegister"), Some("09h"));
        assert_eq!(first.attribute("manufacturerData"), Some("00 01 02 03 04"));
        assert_eq!(emcys[1].attribute("code"), Some("0000h"));
        let plain = atml(&testutil::passing_record());
        assert!(!plain.contains("Emergency"), "{plain}");
    }

    #[test]
    fn an_interrupted_run_is_aborted_incomplete() {
        let xml = atml(&testutil::interrupted_record());
        assert!(
            xml.contains(r#"<tr:Outcome value="Aborted" qualifier="incomplete"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn markup_from_the_record_is_escaped() {
        let xml = atml(&testutil::hostile_record());
        assert!(!xml.contains("<script"), "{xml}");
        roxmltree::Document::parse(&xml).unwrap();
    }

    #[test]
    fn a_retried_attempt_is_kept_but_does_not_count() {
        use crate::journal::RunEvent;
        let mut events = vec![testutil::header("VT-1")];
        events.extend(testutil::instruments("SimMed"));
        events.push(testutil::set_point(0, "row 1", "500 mL"));
        let attempt = |n| RunEvent::AttemptStarted {
            group: "g".into(),
            attempt: n,
            of: 2,
        };
        let ended = |n, outcome, retried| RunEvent::AttemptEnded {
            group: "g".into(),
            attempt: n,
            outcome,
            retried,
        };
        events.push(attempt(1));
        events.push(testutil::check(0, 500.0, &[600.0], true));
        events.push(ended(1, Verdict::Fail, true));
        events.push(attempt(2));
        events.push(testutil::check(0, 500.0, &[501.0], true));
        events.push(ended(2, Verdict::Pass, false));
        events.push(RunEvent::RunEnded {
            verdict: Verdict::Pass,
            reason: None,
        });
        let xml = atml(&testutil::record_of(events));
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let group = doc
            .descendants()
            .find(|n| n.has_tag_name((ATML_NAMESPACE, "TestGroup")))
            .unwrap();
        fn outcome(n: roxmltree::Node) -> String {
            n.children()
                .find(|c| c.has_tag_name((ATML_NAMESPACE, "Outcome")))
                .map(|o| {
                    format!(
                        "{} {}",
                        o.attribute("value").unwrap_or(""),
                        o.attribute("qualifier").unwrap_or("")
                    )
                })
                .unwrap_or_default()
        }
        assert_eq!(outcome(group), "Passed ");
        let tests: Vec<_> = group
            .children()
            .filter(|c| c.has_tag_name((ATML_NAMESPACE, "Test")))
            .map(outcome)
            .collect();
        assert_eq!(tests, ["Failed superseded", "Passed "]);
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes() {
        let record = testutil::failing_record();
        assert_eq!(atml(&record), atml(&record));
    }
}
