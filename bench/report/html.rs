//! The HTML report: the view model laid out by tera templates.
//!
//! The built-in templates are compiled into the binary, so a report can be rendered from
//! anywhere. A lab can override any of them (its letterhead, its language) by putting a file
//! of the same name in a directory and passing that directory; other `.html` and `.css` files
//! in it are added as partials its templates may include. Templates whose names end in
//! `.html` are autoescaped, so every string from the record is escaped unless a template
//! marks it `safe`; only the SVG plots, built and escaped in Rust, are marked so.

use super::ReportError;
use super::view::ReportView;
use crate::record::{Record, SignatureCheck};
use std::io::Write;
use std::path::Path;

/// The template rendered for the HTML report; it includes the others.
pub const REPORT_TEMPLATE: &str = "report.html";

/// The built-in templates, by name: what a template directory can override.
pub const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    (
        "report.html",
        include_str!("../../reports/templates/report.html"),
    ),
    (
        "report.css",
        include_str!("../../reports/templates/report.css"),
    ),
    (
        "letterhead.html",
        include_str!("../../reports/templates/letterhead.html"),
    ),
];

/// The templates to use: the built-in ones, each replaced by the file of the same name in
/// `dir` if there is one, plus any other `.html` or `.css` file in `dir`. Sorted by name.
fn load_templates(dir: Option<&Path>) -> Result<Vec<(String, String)>, ReportError> {
    let mut templates: std::collections::BTreeMap<String, String> = BUILTIN_TEMPLATES
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    let Some(dir) = dir else {
        return Ok(templates.into_iter().collect());
    };
    let dir_error = |source| ReportError::TemplateDir {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let path = entry.map_err(dir_error)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let wanted =
            templates.contains_key(name) || name.ends_with(".html") || name.ends_with(".css");
        if !wanted || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ReportError::ReadTemplate {
            path: path.clone(),
            source,
        })?;
        templates.insert(name.to_string(), text);
    }
    Ok(templates.into_iter().collect())
}

/// Renders `view` with the templates in force.
pub(crate) fn render_view(
    view: &ReportView,
    templates: Option<&Path>,
) -> Result<String, ReportError> {
    let sources = load_templates(templates)?;
    let mut tera = tera::Tera::new();
    tera.add_raw_templates(sources.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .map_err(|source| ReportError::Template {
            name: REPORT_TEMPLATE.to_string(),
            source,
        })?;
    let render = |source| ReportError::Render {
        name: REPORT_TEMPLATE.to_string(),
        source,
    };
    let context = tera::Context::from_serialize(view).map_err(render)?;
    tera.render(REPORT_TEMPLATE, &context).map_err(render)
}

/// Renders the HTML report of `record`.
///
/// `templates` names a directory whose files override the built-in templates of the same
/// name. The result depends only on the record and the templates: the same record renders to
/// the same bytes.
pub fn render_html(record: &Record, templates: Option<&Path>) -> Result<String, ReportError> {
    render_view(&ReportView::from_record(record), templates)
}

/// Renders the HTML report of `record` with its checked signatures (a Signatures section
/// with each printed name, date and time, meaning, key fingerprint and whether it verified).
pub fn render_html_signed(
    record: &Record,
    signatures: &SignatureCheck,
    templates: Option<&Path>,
) -> Result<String, ReportError> {
    render_view(
        &ReportView::from_record(record).with_signatures(signatures),
        templates,
    )
}

/// Renders the HTML report of the run in `run_dir` (whose record is `record`), with its
/// checked signatures if given and the figures of the image artefacts the record names.
pub fn render_html_for_run(
    record: &Record,
    signatures: Option<&SignatureCheck>,
    run_dir: &Path,
    templates: Option<&Path>,
) -> Result<String, ReportError> {
    let mut view = ReportView::from_record(record).with_figures(record, run_dir);
    if let Some(check) = signatures {
        view = view.with_signatures(check);
    }
    render_view(&view, templates)
}

/// [`write_html`] for the run in `run_dir`: with the figures of its image artefacts.
pub fn write_html_for_run(
    record: &Record,
    run_dir: &Path,
    path: &Path,
    templates: Option<&Path>,
) -> Result<(), ReportError> {
    let html = render_html_for_run(record, None, run_dir, templates)?;
    let io = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(html.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Renders the HTML report of `record` and writes it to `path`, durably.
pub fn write_html(
    record: &Record,
    path: &Path,
    templates: Option<&Path>,
) -> Result<(), ReportError> {
    let html = render_html(record, templates)?;
    let io = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::create(path).map_err(io)?;
    file.write_all(html.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil;

    fn html(record: &Record) -> String {
        render_html(record, None).unwrap()
    }

    #[test]
    fn a_passing_run_shows_pass() {
        let out = html(&testutil::passing_record());
        assert!(out.contains(r#"<div class="banner pass">"#), "{out}");
        assert!(out.contains("VENT-VOL-01"));
        assert!(out.contains("<svg"));
    }

    #[test]
    fn a_failing_run_names_its_failing_set_points() {
        let out = html(&testutil::failing_record());
        assert!(out.contains(r#"<div class="banner fail">"#));
        assert!(out.contains("volume_accuracy at row 2"), "{out}");
    }

    #[test]
    fn an_interrupted_run_is_incomplete() {
        let out = html(&testutil::interrupted_record());
        assert!(out.contains("INCOMPLETE"));
        assert!(out.contains(r#"<div class="banner incomplete">"#));
    }

    #[test]
    fn a_stopped_run_shows_its_verdict_and_end_reason() {
        use crate::analysis::Verdict;
        let out = html(&testutil::stopped_record(
            Verdict::Error,
            "flow_reference stopped answering",
        ));
        assert!(out.contains(r#"<div class="banner error">"#));
        assert!(out.contains("<strong>End reason:</strong> flow_reference stopped answering"));
        let out = html(&testutil::stopped_record(
            Verdict::Aborted,
            "operator pressed Ctrl-C",
        ));
        assert!(out.contains(r#"<div class="banner aborted">"#));
        assert!(out.contains("ABORTED"));
        assert!(out.contains("operator pressed Ctrl-C"));
    }

    #[test]
    fn markup_from_the_record_is_escaped() {
        let out = html(&testutil::hostile_record());
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        assert!(
            !out.to_lowercase().contains("<script"),
            "raw <script> in output"
        );
        // The SVG is inserted unescaped, and it is still markup.
        assert!(out.contains("<svg"));
    }

    #[test]
    fn signatures_are_shown_escaped_with_their_verification() {
        use crate::record::signature::{
            CheckedSignature, Meaning, Seal, Signature, SignatureStatus,
        };
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let seal = Seal {
            run_id: "run-0001".into(),
            record_sha256: "c".repeat(64),
            journal_head: testutil::HEAD.into(),
        };
        let sign = |name: &str, meaning| {
            let genesis = crate::journal::GENESIS_HASH;
            Signature::sign(&seal, genesis, name, meaning, "2026-11-23T10:00:00Z", &key).unwrap()
        };
        let check = SignatureCheck {
            signatures: vec![
                CheckedSignature {
                    line: 1,
                    signature: Some(sign("<script>alert(1)</script>", Meaning::Performed)),
                    status: SignatureStatus::Valid,
                },
                CheckedSignature {
                    line: 2,
                    signature: Some(sign("B. Reviewer", Meaning::Approved)),
                    status: SignatureStatus::OtherRecord {
                        field: "record hash",
                    },
                },
            ],
            missing_keys: Vec::new(),
        };
        let out = render_html_signed(&testutil::passing_record(), &check, None).unwrap();
        assert!(!out.to_lowercase().contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;alert(1)"), "{out}");
        assert!(out.contains("<td>performed</td>") && out.contains("<td>approved</td>"));
        assert!(out.contains(">verified</span>"), "{out}");
        assert!(
            out.contains("NOT VERIFIED: made over another record (the record hash differs)"),
            "{out}"
        );
        let fingerprint = crate::record::signature::fingerprint(&key.verifying_key());
        assert!(out.contains(&fingerprint), "{out}");
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes() {
        let record = testutil::failing_record();
        assert_eq!(html(&record), html(&record));
    }

    #[test]
    fn a_template_directory_overrides_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("letterhead.html"),
            "<p class=\"lab\">Example Test Lab — {{ identification.run_id }}</p>",
        )
        .unwrap();
        let out = render_html(&testutil::passing_record(), Some(dir.path())).unwrap();
        assert!(
            out.contains("<p class=\"lab\">Example Test Lab — run-0001</p>"),
            "{out}"
        );
    }

    #[test]
    fn an_overriding_report_template_may_include_its_own_partials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("report.html"),
            "{% include \"mine.html\" %}",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("mine.html"),
            "{{ verdict.word }}|{{ identification.dut_serial }}",
        )
        .unwrap();
        let out = render_html(&testutil::hostile_record(), Some(dir.path())).unwrap();
        assert!(out.starts_with("FAIL|"), "{out}");
        assert!(!out.contains("<script>"), "{out}");
    }

    #[test]
    fn a_missing_template_directory_is_an_error() {
        let err = render_html(
            &testutil::passing_record(),
            Some(Path::new("/nonexistent/qbench")),
        )
        .unwrap_err();
        assert!(matches!(err, ReportError::TemplateDir { .. }), "{err}");
    }

    #[test]
    fn a_broken_template_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.html"), "{% if %}").unwrap();
        let err = render_html(&testutil::passing_record(), Some(dir.path())).unwrap_err();
        assert!(matches!(err, ReportError::Template { .. }), "{err}");
    }

    #[test]
    fn write_html_writes_the_rendered_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        let record = testutil::passing_record();
        write_html(&record, &path, None).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), html(&record));
    }
}
