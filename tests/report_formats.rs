//! `qbench report --format pdf|atml|junit` on a recorded run: the structure each consumer
//! relies on.

use crate::util::Dir;
use std::collections::BTreeSet;

const PROCEDURE: &str = "procedures/ventilator-volume-accuracy.yaml";
const TR: &str = "urn:IEEE-1636.1:2013:TestResults";
const COMMON: &str = "urn:IEEE-1671:2010:Common";

/// A short real run in `dir/run` with extra `--set` overrides, which must exit with one of
/// `codes`; returns the record as JSON.
fn short_run(dir: &Dir, sets: &[&str], codes: &[i32]) -> serde_json::Value {
    let mut args = vec![
        "run",
        PROCEDURE,
        "--yes",
        "--out",
        "run",
        "--operator",
        "O'Brien & <Sons>",
        "--set",
        "measured_breaths=3",
        "--set",
        "settle_breaths=1",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = dir.qbench(&args);
    assert!(codes.contains(&out.code), "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&dir.read("run/record.json")).unwrap()
}

#[test]
fn the_pdf_is_a_complete_file_with_the_run_in_its_text() {
    let dir = Dir::new();
    let record = short_run(&dir, &[], &[0, 1]);
    let out = dir.qbench(&["report", "run", "--format", "pdf", "-o", "run.pdf"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bytes = std::fs::read(dir.path().join("run.pdf")).unwrap();
    assert!(bytes.starts_with(b"%PDF-1."), "header");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.trim_end().ends_with("%%EOF"), "trailer marker");
    // A classic cross-reference table, a trailer naming the catalog and the document
    // information, and a startxref offset that points at the table.
    assert!(text.contains("\nxref\n"), "xref table");
    assert!(text.contains("\ntrailer\n"), "trailer");
    assert!(
        text.contains("/Root ") && text.contains("/Info "),
        "trailer keys"
    );
    let startxref: usize = text
        .rsplit("startxref")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("startxref offset");
    assert_eq!(&bytes[startxref..startxref + 4], b"xref");
    // Pages: the page tree counts as many pages as there are page objects, at least one.
    let count: usize = text
        .split("/Count ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("page count");
    let pages = text.matches("/Type /Page\n").count();
    assert!(count > 0);
    assert_eq!(count, pages);
    // No external resources, metadata embedded, text uncompressed and searchable.
    assert!(!text.contains("/URI") && !text.contains("/JavaScript") && !text.contains("/Filter"));
    assert!(text.contains("/Metadata ") && text.contains("<x:xmpmeta"));
    let run_id = record["header"]["run_id"].as_str().unwrap();
    assert!(
        text.contains(&format!("(Run id: {run_id})")),
        "run id in the text"
    );
    let verdict = record["verdict"].as_str().unwrap();
    assert!(
        text.contains(&format!("(Verdict: {verdict})")),
        "verdict in the text"
    );
    assert!(text.contains("(Instruments and calibrations)"));
    assert!(
        text.contains("certificate SIM-CAL-0001"),
        "calibration in the text"
    );
    let head = record["journal_head"].as_str().unwrap();
    assert!(text.contains(head), "journal head in the text");

    // Rendering again gives the same bytes.
    let again = dir.qbench(&["report", "run", "--format", "pdf", "-o", "again.pdf"]);
    assert_eq!(again.code, 0);
    let again = std::fs::read(dir.path().join("again.pdf")).unwrap();
    assert!(
        again == bytes,
        "the same record renders to the same PDF bytes"
    );
}

fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.has_tag_name((ns, name)))
}

#[test]
fn atml_results_are_well_formed_ieee_1636_1_with_a_test_per_outcome() {
    let dir = Dir::new();
    let record = short_run(&dir, &["tolerance_relative=0.5 %"], &[1]);
    let out = dir.qbench(&["report", "run", "--format", "atml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = roxmltree::Document::parse(&out.stdout).expect("well-formed XML");
    let root = doc.root_element();
    assert!(root.has_tag_name((TR, "TestResults")));
    assert!(root.attribute("uuid").is_some_and(|u| u.len() == 36));

    let operator = child(root, TR, "Personnel")
        .and_then(|p| child(p, TR, "SystemOperator"))
        .and_then(|o| o.attribute("name"));
    assert_eq!(operator, Some("O'Brien & <Sons>"), "escaped and read back");
    let serial = child(root, TR, "UUT")
        .and_then(|u| child(u, COMMON, "SerialNumber"))
        .and_then(|s| s.text());
    assert_eq!(serial, record["header"]["dut_serial"].as_str());

    let set = child(root, TR, "ResultSet").expect("ResultSet");
    assert_eq!(
        set.attribute("startDateTime"),
        record["started_utc"].as_str()
    );
    assert_eq!(set.attribute("endDateTime"), record["ended_utc"].as_str());
    let outcome = |n: roxmltree::Node| {
        child(n, TR, "Outcome")
            .and_then(|o| o.attribute("value"))
            .map(str::to_string)
    };
    assert_eq!(outcome(set).as_deref(), Some("Failed"));

    let checks = record["checks"].as_array().unwrap();
    let ids: BTreeSet<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let groups: Vec<_> = set
        .children()
        .filter(|c| c.has_tag_name((TR, "TestGroup")))
        .collect();
    assert_eq!(groups.len(), ids.len(), "one TestGroup per check");
    let tests: Vec<_> = groups
        .iter()
        .flat_map(|g| g.children().filter(|c| c.has_tag_name((TR, "Test"))))
        .collect();
    assert_eq!(tests.len(), checks.len(), "one Test per check outcome");
    let allowed = ["Passed", "Failed", "Aborted", "Error", "Skipped"];
    let mut failed = 0;
    for test in &tests {
        let value = outcome(*test).expect("Test/Outcome");
        assert!(allowed.contains(&value.as_str()), "{value}");
        failed += usize::from(value == "Failed");
        let result = child(*test, TR, "TestResult").expect("TestResult");
        assert_eq!(outcome(result), Some(value.clone()));
        if value == "Skipped" {
            continue;
        }
        let datum = child(result, TR, "TestData")
            .and_then(|d| child(d, COMMON, "Datum"))
            .expect("TestData/Datum");
        assert!(datum.attribute("value").unwrap().parse::<f64>().is_ok());
        assert_eq!(datum.attribute("nonStandardUnit"), Some("mL"));
        let pair = child(result, TR, "TestLimits")
            .and_then(|l| child(l, TR, "Limits"))
            .and_then(|l| child(l, COMMON, "LimitPair"))
            .expect("limits");
        let comparators: Vec<&str> = pair
            .children()
            .filter(|c| c.has_tag_name((COMMON, "Limit")))
            .filter_map(|c| c.attribute("comparator"))
            .collect();
        assert_eq!(comparators, ["GE", "LE"]);
    }
    let expected_failed = checks
        .iter()
        .filter(|c| c["applicable"] == true && c["verdict"] == "FAIL")
        .count();
    assert!(expected_failed > 0, "the run was meant to fail");
    assert_eq!(failed, expected_failed);
}

/// Counts `(failures, errors, skipped)` among a test suite's test cases, checking each has
/// a name, a class name and at most one outcome element.
fn case_counts(suite: roxmltree::Node) -> (usize, usize, usize, usize) {
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for case in suite.children().filter(|c| c.has_tag_name("testcase")) {
        tests += 1;
        assert!(case.attribute("name").is_some_and(|n| !n.is_empty()));
        assert!(case.attribute("classname").is_some_and(|n| !n.is_empty()));
        let kinds: Vec<&str> = case
            .children()
            .filter(|c| c.is_element())
            .map(|c| c.tag_name().name())
            .collect();
        assert!(kinds.len() <= 1, "one outcome per test case: {kinds:?}");
        for kind in kinds {
            match kind {
                "failure" => failures += 1,
                "error" => errors += 1,
                "skipped" => skipped += 1,
                other => panic!("unexpected element {other} in a testcase"),
            }
        }
    }
    (tests, failures, errors, skipped)
}

fn attr_count(node: roxmltree::Node, name: &str) -> usize {
    node.attribute(name)
        .unwrap_or_else(|| panic!("{} has no {name}", node.tag_name().name()))
        .parse()
        .unwrap()
}

#[test]
fn junit_has_the_shape_ci_tools_expect() {
    let dir = Dir::new();
    short_run(&dir, &["tolerance_relative=0.5 %"], &[1]);
    let out = dir.qbench(&["report", "run", "--format", "junit"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = roxmltree::Document::parse(&out.stdout).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|c| c.has_tag_name("testsuite"))
        .collect();
    assert!(!suites.is_empty());
    let mut totals = (0, 0, 0, 0);
    for suite in &suites {
        assert!(suite.attribute("name").is_some());
        assert!(suite.attribute("timestamp").is_some());
        let counted = case_counts(*suite);
        let declared = (
            attr_count(*suite, "tests"),
            attr_count(*suite, "failures"),
            attr_count(*suite, "errors"),
            attr_count(*suite, "skipped"),
        );
        assert_eq!(declared, counted, "suite counts match its test cases");
        totals = (
            totals.0 + counted.0,
            totals.1 + counted.1,
            totals.2 + counted.2,
            totals.3 + counted.3,
        );
    }
    let declared = (
        attr_count(root, "tests"),
        attr_count(root, "failures"),
        attr_count(root, "errors"),
        attr_count(root, "skipped"),
    );
    assert_eq!(declared, totals, "testsuites counts are the sums");
    assert!(totals.1 > 0, "the run failed, so some test case fails");
}
