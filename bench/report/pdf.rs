//! The PDF report, for archiving: built in Rust from the view model, without a browser, a
//! network or any system font.
//!
//! # What it holds
//!
//! Identification, verdict, parameters, a summary of checks, one table per check,
//! instruments and their calibrations, the event log, the signatures (printed name, date and
//! time, meaning, key fingerprint, verified or not) and the record's hashes. The raw samples
//! are counted, not listed: they are in the CSV export and the HTML report's appendix.
//!
//! # How it is made
//!
//! A4 pages in the base-14 fonts Courier and Courier-Bold with WinAnsiEncoding. A monospaced
//! font makes line wrapping and table columns exact without font metrics; characters outside
//! WinAnsi are written as ASCII stand-ins (`≤` as `<=`, `→` as `->`) or `?`. Content streams
//! are not compressed, so the text can be searched and checked by tools that do not inflate.
//!
//! # How close to PDF/A
//!
//! Present: document information and a matching XMP metadata stream (title, author,
//! subject, creator tool, producer, dates), a file identifier derived from the record, no
//! external resources, no JavaScript, actions, transparency or encryption, and bytes that
//! depend only on the record (dates come from the record, never the clock). Missing, so the
//! file does not claim PDF/A conformance: the base-14 fonts are referenced, not embedded
//! (PDF/A requires embedded fonts, and qbench ships none), and there is no output intent
//! with an ICC profile.

use super::view::{ReportView, SignatureRow};
use crate::record::{Record, SignatureCheck};
use pdf_writer::{Content, Date, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use sha2::{Digest, Sha256};

/// A4, in points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN_X: f32 = 48.0;
const MARGIN_TOP: f32 = 56.0;
const MARGIN_BOTTOM: f32 = 60.0;
/// Courier's glyphs are all 600/1000 em wide.
const COURIER_ADVANCE: f32 = 0.6;

const BODY: f32 = 8.0;
const HEADING: f32 = 12.0;
const TITLE: f32 = 14.0;

/// The characters that fit on a line at `size`.
fn columns(size: f32) -> usize {
    ((PAGE_WIDTH - 2.0 * MARGIN_X) / (size * COURIER_ADVANCE)).floor() as usize
}

#[derive(Clone, Copy, PartialEq)]
enum Font {
    Regular,
    Bold,
}

struct Line {
    font: Font,
    size: f32,
    /// Space above the line, in points, beyond its own leading.
    gap: f32,
    text: String,
}

/// The document as lines, before it is cut into pages.
#[derive(Default)]
struct Doc {
    lines: Vec<Line>,
}

impl Doc {
    fn push(&mut self, font: Font, size: f32, gap: f32, text: &str) {
        let text = winansi_text(text);
        for (i, part) in wrap(&text, columns(size), 0).into_iter().enumerate() {
            self.lines.push(Line {
                font,
                size,
                gap: if i == 0 { gap } else { 0.0 },
                text: part,
            });
        }
    }

    fn title(&mut self, text: &str) {
        self.push(Font::Bold, TITLE, 0.0, text);
    }

    fn heading(&mut self, text: &str) {
        self.push(Font::Bold, HEADING, 10.0, text);
    }

    fn para(&mut self, text: &str) {
        self.push(Font::Regular, BODY, 2.0, text);
    }

    fn bold(&mut self, text: &str) {
        self.push(Font::Bold, BODY, 2.0, text);
    }

    /// `name: value` lines with the values aligned and wrapped under themselves.
    fn fields(&mut self, fields: &[(&str, String)]) {
        let key = fields
            .iter()
            .map(|(k, _)| winansi_text(k).chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let width = columns(BODY);
        for (name, value) in fields {
            let head = format!("{:<key$}", format!("{}:", winansi_text(name)));
            let value = winansi_text(value);
            for (i, part) in wrap(&value, width.saturating_sub(key).max(8), 0)
                .into_iter()
                .enumerate()
            {
                let text = if i == 0 {
                    format!("{head}{part}")
                } else {
                    format!("{}{part}", " ".repeat(key))
                };
                self.lines.push(Line {
                    font: Font::Regular,
                    size: BODY,
                    gap: 0.0,
                    text,
                });
            }
        }
    }

    /// A table: a bold header row, a rule, and rows whose cells wrap within their column.
    fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        let n = headers.len();
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| winansi_text(c)).collect())
            .collect();
        let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        // Two spaces between columns; the widest column gives way until the table fits.
        let available = columns(BODY).saturating_sub(2 * (n.saturating_sub(1)));
        while widths.iter().sum::<usize>() > available {
            let Some((i, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w) else {
                break;
            };
            if w <= 6 {
                break;
            }
            widths[i] = w - 1;
        }
        let emit = |doc: &mut Doc, cells: &[String], font: Font, gap: f32| {
            let wrapped: Vec<Vec<String>> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| wrap(c, *w, 0))
                .collect();
            let height = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for line in 0..height {
                let mut text = String::new();
                for (col, w) in wrapped.iter().zip(&widths) {
                    if !text.is_empty() {
                        text.push_str("  ");
                    }
                    let part = col.get(line).map(String::as_str).unwrap_or("");
                    text.push_str(&format!("{part:<w$}"));
                }
                doc.lines.push(Line {
                    font,
                    size: BODY,
                    gap: if line == 0 { gap } else { 0.0 },
                    text: text.trim_end().to_string(),
                });
            }
        };
        let header: Vec<String> = headers.iter().map(|h| winansi_text(h)).collect();
        emit(self, &header, Font::Bold, 3.0);
        let total: usize = widths.iter().sum::<usize>() + 2 * (n.saturating_sub(1));
        self.lines.push(Line {
            font: Font::Regular,
            size: BODY,
            gap: 0.0,
            text: "-".repeat(total),
        });
        for row in &rows {
            emit(self, row, Font::Regular, 0.0);
        }
    }
}

/// Wraps `text` into lines of at most `width` characters, breaking at spaces where it can
/// and inside words where it must; `indent` spaces start every continuation line.
fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let chars: Vec<char> = paragraph.chars().collect();
        if chars.is_empty() {
            lines.push(String::new());
            continue;
        }
        let mut start = 0;
        let mut first = true;
        while start < chars.len() {
            let room = if first {
                width
            } else {
                width.saturating_sub(indent).max(1)
            };
            let prefix = if first {
                String::new()
            } else {
                " ".repeat(width - room)
            };
            if chars.len() - start <= room {
                lines.push(format!(
                    "{prefix}{}",
                    chars[start..].iter().collect::<String>()
                ));
                break;
            }
            let end = start + room;
            // Break at the last space that leaves a piece fitting the line (the space at
            // `end` included: `end < chars.len()` here), if there is one.
            let cut = (start + 1..=end)
                .rev()
                .find(|&i| chars[i] == ' ')
                .unwrap_or(end);
            let piece: String = chars[start..cut].iter().collect();
            lines.push(format!("{prefix}{}", piece.trim_end()));
            start = cut;
            while start < chars.len() && chars[start] == ' ' {
                start += 1;
            }
            first = false;
        }
    }
    lines
}

/// The byte of `c` in WinAnsiEncoding, if it has one.
fn winansi_byte(c: char) -> Option<u8> {
    let code = c as u32;
    match code {
        0x20..=0x7E | 0xA0..=0xFF => Some(code as u8),
        _ => Some(match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '\u{2018}' => 0x91,
            '\u{2019}' => 0x92,
            '\u{201C}' => 0x93,
            '\u{201D}' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            _ => return None,
        }),
    }
}

/// `text` with every character the fonts cannot show replaced by an ASCII stand-in, so
/// that one character is one glyph (and one column) on the page.
fn winansi_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' || winansi_byte(c).is_some() {
            out.push(c);
            continue;
        }
        match c {
            '≤' => out.push_str("<="),
            '≥' => out.push_str(">="),
            '≠' => out.push_str("!="),
            '≈' => out.push('~'),
            '→' => out.push_str("->"),
            '←' => out.push_str("<-"),
            '−' => out.push('-'),
            '\t' => out.push(' '),
            c if c.is_control() => out.push(' '),
            _ => out.push('?'),
        }
    }
    out
}

/// The WinAnsi bytes of text already passed through [`winansi_text`].
fn winansi_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| winansi_byte(c).unwrap_or(b'?'))
        .collect()
}

/// Appends `text` to `out`, escaped for XML (the XMP packet).
fn xml_escape(text: &str) -> String {
    let mut out = String::new();
    super::format::push_escaped_xml(&mut out, text);
    out
}

/// An RFC 3339 UTC time stamp as a PDF date (`None` when it does not parse).
fn pdf_date(utc: &str) -> Option<Date> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(utc).ok()?.to_utc();
    Some(
        Date::new(u16::try_from(t.year()).ok()?)
            .month(t.month() as u8)
            .day(t.day() as u8)
            .hour(t.hour() as u8)
            .minute(t.minute() as u8)
            .second(t.second() as u8)
            .utc_offset_hour(0)
            .utc_offset_minute(0),
    )
}

fn build(view: &ReportView) -> Doc {
    let id = &view.identification;
    let mut doc = Doc::default();
    doc.title(&id.title);
    doc.para(&format!(
        "{}, clause {} - procedure {} version {} - device {}",
        id.standard, id.clause, id.procedure_id, id.procedure_version, id.dut_serial
    ));
    doc.para(&format!("Run id: {}", id.run_id));

    doc.heading(&format!("Verdict: {}", view.verdict.word));
    doc.para(&view.verdict.meaning);
    if !view.verdict.end_reason.is_empty() {
        doc.para(&format!("End reason: {}", view.verdict.end_reason));
    }
    if !view.verdict.not_passed.is_empty() {
        doc.para(&format!(
            "Not passed: {}",
            view.verdict.not_passed.join("; ")
        ));
    }

    doc.heading("Identification");
    let mut fields = vec![
        (
            "Procedure",
            format!(
                "{} version {} - {}",
                id.procedure_id, id.procedure_version, id.title
            ),
        ),
        (
            "Standard and clause",
            format!("{}, clause {}", id.standard, id.clause),
        ),
        ("Procedure file", id.procedure_path.clone()),
        ("Procedure SHA-256", id.procedure_sha256.clone()),
        ("Device under test", format!("serial {}", id.dut_serial)),
        ("Operator", id.operator.clone()),
        (
            "Fixture",
            format!(
                "{} ({}) - {}",
                id.fixture_name, id.bench_kind, id.fixture_path
            ),
        ),
        ("Fixture SHA-256", id.fixture_sha256.clone()),
        ("Time scale", id.time_scale.clone()),
        ("Software", id.software.clone()),
        ("Host", id.host.clone()),
        ("Started (UTC)", id.started_utc.clone()),
        ("Ended (UTC)", id.ended_utc.clone()),
        ("Run id", id.run_id.clone()),
    ];
    if !id.overrides.is_empty() {
        fields.push(("Overridden parameters", id.overrides.clone()));
    }
    doc.fields(&fields);
    if id.simulated {
        doc.bold("Results from the simulated bench qualify no device.");
    }
    if !view.parameters.is_empty() {
        doc.heading("Parameters in force");
        let rows: Vec<Vec<String>> = view
            .parameters
            .iter()
            .map(|p| vec![p.name.clone(), p.value.clone()])
            .collect();
        doc.table(&["Parameter", "Value"], &rows);
    }

    doc.heading("Summary of checks");
    if view.summary.is_empty() {
        doc.para("No check was evaluated.");
    } else {
        let rows: Vec<Vec<String>> = view
            .summary
            .iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.evaluated.to_string(),
                    s.passed.to_string(),
                    s.failed.to_string(),
                    s.errors.to_string(),
                    s.not_applicable.to_string(),
                    s.verdict.clone(),
                ]
            })
            .collect();
        doc.table(
            &[
                "Check",
                "Evaluated",
                "Passed",
                "Failed",
                "Errors",
                "N/A",
                "Verdict",
            ],
            &rows,
        );
    }
    for c in &view.checks {
        doc.heading(&format!("Check {}", c.id));
        doc.para(&format!(
            "{} - statistic {} of measurement {}.",
            c.title, c.statistic, c.measurement
        ));
        let rows: Vec<Vec<String>> = c
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.set_point.clone(),
                    r.samples.to_string(),
                    r.value.clone(),
                    r.target.clone(),
                    r.error.clone(),
                    r.limit.clone(),
                    r.verdict.clone(),
                ]
            })
            .collect();
        doc.table(
            &[
                "Set point",
                "n",
                "Measured",
                "Target",
                "Error",
                "Limit",
                "Verdict",
            ],
            &rows,
        );
        let details: Vec<(String, String)> = c
            .rows
            .iter()
            .flat_map(|r| {
                let mut d = Vec::new();
                if !r.bindings.is_empty() {
                    d.push((r.set_point.clone(), r.bindings.clone()));
                }
                if !r.limit_description.is_empty() {
                    d.push((
                        r.set_point.clone(),
                        format!("limit {}", r.limit_description),
                    ));
                }
                if !r.note.is_empty() {
                    d.push((r.set_point.clone(), format!("note: {}", r.note)));
                }
                d
            })
            .collect();
        let details: Vec<(&str, String)> = details
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        doc.fields(&details);
    }

    doc.heading("Instruments and calibrations");
    if view.instruments.is_empty() {
        doc.para("No instrument was opened.");
    }
    for i in &view.instruments {
        doc.bold(&format!("{} ({})", i.role, i.driver));
        let calibration = match (
            i.calibration_certificate.is_empty(),
            i.calibration_due.is_empty(),
        ) {
            (true, true) => "no certificate declared".to_string(),
            (false, true) => format!("certificate {}", i.calibration_certificate),
            (true, false) => format!("no certificate declared, due {}", i.calibration_due),
            (false, false) => format!(
                "certificate {}, due {}",
                i.calibration_certificate, i.calibration_due
            ),
        };
        let calibration = if i.calibration_overdue {
            format!("{calibration} - OVERDUE when the run started")
        } else {
            calibration
        };
        doc.fields(&[
            (
                "Identity",
                format!("{} {}", i.manufacturer, i.model).trim().to_string(),
            ),
            ("Serial", i.serial.clone()),
            ("Firmware", i.firmware.clone()),
            ("Link", i.link.clone()),
            ("Calibration", calibration),
            ("Accuracy", i.accuracy.clone()),
            ("Conditions", i.conditions.clone()),
        ]);
    }

    if !view.gas_conversions.is_empty() {
        doc.heading("Gas standard and room conditions");
        doc.para(
            "Volumes and flows are stated at the standard below: each raw sample times the factor.",
        );
        let rows: Vec<Vec<String>> = view
            .gas_conversions
            .iter()
            .map(|g| {
                vec![
                    g.measurement.clone(),
                    g.set_point.clone(),
                    g.stated_at.clone(),
                    g.reported_in.clone(),
                    g.room.clone(),
                    g.factor.clone(),
                ]
            })
            .collect();
        doc.table(
            &[
                "Measurement",
                "Set point",
                "Stated at",
                "Reported in",
                "Room",
                "Factor",
            ],
            &rows,
        );
    }
    if !view.waveforms.is_empty() {
        doc.heading("Waveforms");
        doc.para("Plotted in the HTML report; every sample is in the record.");
        for w in &view.waveforms {
            let name = if w.set_point.is_empty() {
                w.id.clone()
            } else {
                format!("{} at {}", w.id, w.set_point)
            };
            doc.fields(&[
                ("Waveform", name),
                (
                    "Captured",
                    format!("{} from {}: {}", w.length, w.role, w.samples),
                ),
                ("Stream", w.stream.clone()),
            ]);
        }
    }

    doc.heading("Event log");
    if view.events.is_empty() {
        doc.para("No event was recorded.");
    } else {
        let rows: Vec<Vec<String>> = view
            .events
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.utc.clone(),
                    e.kind.clone(),
                    e.role.clone(),
                    e.text.clone(),
                ]
            })
            .collect();
        doc.table(&["Seq", "UTC", "Kind", "Role", "Event"], &rows);
    }

    if !view.emergencies.is_empty() {
        doc.heading("Emergency messages");
        doc.para(
            "CANopen EMCY messages (CiA 301 7.2.7) the devices sent. Code 0000h is an error reset.",
        );
        let rows: Vec<Vec<String>> = view
            .emergencies
            .iter()
            .map(|e| {
                vec![
                    e.seq.to_string(),
                    e.utc.clone(),
                    e.role.clone(),
                    e.node.to_string(),
                    e.code.clone(),
                    e.class.clone(),
                    e.register.clone(),
                    e.manufacturer.clone(),
                ]
            })
            .collect();
        doc.table(
            &[
                "Seq", "UTC", "Role", "Node", "Code", "Class", "Register", "Data",
            ],
            &rows,
        );
    }

    doc.heading("Signatures");
    signatures(&mut doc, &view.signatures);

    doc.heading("Record");
    let f = &view.footer;
    doc.fields(&[
        ("Record SHA-256", f.record_sha256.clone()),
        ("Journal head", f.journal_head.clone()),
        ("Journal entries", f.journal_entries.to_string()),
        ("Record format", f.record_format.to_string()),
        (
            "Raw data",
            format!(
                "{} samples in {} measurements (in the CSV export and the HTML report)",
                f.sample_count, f.measurement_count
            ),
        ),
    ]);
    doc.para(
        "This report is derived from the record alone; rendering the record again gives the same bytes.",
    );
    doc
}

fn signatures(doc: &mut Doc, rows: &[SignatureRow]) {
    if rows.is_empty() {
        doc.para("This record carries no electronic signature.");
        return;
    }
    for s in rows {
        doc.bold(&format!(
            "{} - {} - {}",
            if s.name.is_empty() { "?" } else { &s.name },
            s.meaning,
            s.utc
        ));
        doc.fields(&[
            ("Printed name", s.name.clone()),
            ("Meaning", s.meaning.clone()),
            ("Signed (UTC)", s.utc.clone()),
            ("Key fingerprint", s.key_fingerprint.clone()),
            ("Verification", s.status.clone()),
        ]);
    }
    doc.para(
        "Each signature binds the printed name, date and time and meaning shown to this record's SHA-256 and journal head (21 CFR 11.50, 11.70). \"Verified\" means the signature is valid for the public key it names: compare each fingerprint with the signer's known key, or check with qbench verify RUN --key PUBKEY.",
    );
}

/// Lays the lines out on pages: each page's lines, in order.
fn paginate(lines: &[Line]) -> Vec<Vec<(f32, &Line)>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut y = PAGE_HEIGHT - MARGIN_TOP;
    for line in lines {
        let leading = line.size * 1.25;
        let needed = line.gap + leading;
        // A heading keeps at least three body lines below it on its page.
        let keep = if line.size >= HEADING {
            3.0 * BODY * 1.25
        } else {
            0.0
        };
        if y - needed - keep < MARGIN_BOTTOM && !page.is_empty() {
            pages.push(std::mem::take(&mut page));
            y = PAGE_HEIGHT - MARGIN_TOP;
        }
        // A gap at the top of a page is dropped.
        if !page.is_empty() {
            y -= line.gap;
        }
        y -= leading;
        page.push((y, line));
    }
    if !page.is_empty() || pages.is_empty() {
        pages.push(page);
    }
    pages
}

/// The PDF report of `record`, with its checked signatures.
///
/// The bytes depend only on the record and the signatures: the same inputs give the same
/// file.
pub fn render_pdf(record: &Record, signatures: &SignatureCheck) -> Vec<u8> {
    let view = ReportView::from_record(record).with_signatures(signatures);
    let doc = build(&view);
    let pages = paginate(&doc.lines);
    let id = &view.identification;

    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let catalog_id = alloc();
    let tree_id = alloc();
    let regular_id = alloc();
    let bold_id = alloc();
    let info_id = alloc();
    let metadata_id = alloc();
    let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();

    let title = format!(
        "{} {} - {} - {}",
        id.procedure_id, id.procedure_version, id.dut_serial, view.verdict.word
    );
    let subject = format!("{}: {}", id.run_id, id.title);
    let producer = format!("{} (pdf-writer)", id.software);
    let date = pdf_date(&id.ended_utc).or_else(|| pdf_date(&id.started_utc));

    pdf.catalog(catalog_id)
        .pages(tree_id)
        .metadata(metadata_id)
        .lang(TextStr("en"));
    pdf.pages(tree_id)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(page_ids.len() as i32);
    pdf.type1_font(regular_id)
        .base_font(Name(b"Courier"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold_id)
        .base_font(Name(b"Courier-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));

    let total = pages.len();
    for (n, (lines, (page_id, content_id))) in pages.iter().zip(&page_ids).enumerate() {
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(tree_id)
            .contents(*content_id);
        page.resources()
            .fonts()
            .pair(Name(b"F1"), regular_id)
            .pair(Name(b"F2"), bold_id);
        page.finish();

        let mut content = Content::new();
        for (y, line) in lines {
            let font = match line.font {
                Font::Regular => Name(b"F1"),
                Font::Bold => Name(b"F2"),
            };
            content
                .begin_text()
                .set_font(font, line.size)
                .next_line(MARGIN_X, *y)
                .show(Str(&winansi_bytes(&line.text)))
                .end_text();
        }
        let footer = winansi_text(&format!(
            "Run {} - {} - page {} of {}",
            id.run_id,
            view.verdict.word,
            n + 1,
            total
        ));
        content
            .begin_text()
            .set_font(Name(b"F1"), 7.0)
            .next_line(MARGIN_X, MARGIN_BOTTOM - 24.0)
            .show(Str(&winansi_bytes(&footer)))
            .end_text();
        pdf.stream(*content_id, &content.finish());
    }

    let mut info = pdf.document_info(info_id);
    info.title(TextStr(&title))
        .author(TextStr(&id.operator))
        .subject(TextStr(&subject))
        .creator(TextStr(&id.software))
        .producer(TextStr(&producer));
    if let Some(date) = date {
        info.creation_date(date).modified_date(date);
    }
    info.finish();

    let xmp_date = if date.is_some() {
        id.ended_utc.clone()
    } else {
        String::new()
    };
    let mut xmp = String::new();
    xmp.push_str("<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n");
    xmp.push_str("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n");
    xmp.push_str("<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">\n");
    xmp.push_str("<dc:format>application/pdf</dc:format>\n");
    xmp.push_str(&format!(
        "<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:title>\n",
        xml_escape(&title)
    ));
    xmp.push_str(&format!(
        "<dc:creator><rdf:Seq><rdf:li>{}</rdf:li></rdf:Seq></dc:creator>\n",
        xml_escape(&id.operator)
    ));
    xmp.push_str(&format!(
        "<dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:description>\n",
        xml_escape(&subject)
    ));
    if !xmp_date.is_empty() {
        xmp.push_str(&format!(
            "<xmp:CreateDate>{0}</xmp:CreateDate>\n<xmp:ModifyDate>{0}</xmp:ModifyDate>\n",
            xml_escape(&xmp_date)
        ));
    }
    xmp.push_str(&format!(
        "<xmp:CreatorTool>{}</xmp:CreatorTool>\n<pdf:Producer>{}</pdf:Producer>\n",
        xml_escape(&id.software),
        xml_escape(&producer)
    ));
    xmp.push_str("</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"r\"?>");
    pdf.metadata(metadata_id, xmp.as_bytes());

    let file_id = Sha256::digest(format!(
        "{}\n{}\n{}",
        id.run_id, view.footer.journal_head, view.footer.record_sha256
    ));
    pdf.set_file_id((file_id[..16].to_vec(), file_id[..16].to_vec()));
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil;

    #[test]
    fn wrapping_breaks_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7, 0), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4, 0), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4, 0), [""]);
        assert_eq!(wrap("aa bb cc", 5, 2), ["aa bb", "  cc"]);
    }

    #[test]
    fn text_outside_winansi_gets_stand_ins() {
        assert_eq!(winansi_text("≤ 5 mL → ±2 µs"), "<= 5 mL -> ±2 µs");
        assert_eq!(winansi_bytes("±—"), vec![0xB1, 0x97]);
        assert_eq!(winansi_text("雪\u{7}"), "? ");
    }

    #[test]
    fn a_long_run_breaks_into_pages() {
        let record = testutil::large_record(200, 3);
        let pdf = render_pdf(&record, &SignatureCheck::default());
        let text = String::from_utf8_lossy(&pdf);
        let pages = text.matches("/Type /Page\n").count() + text.matches("/Type /Page ").count();
        assert!(text.contains("/Count "), "page tree");
        assert!(
            pages > 1 || text.matches("page 2 of").count() > 0,
            "{pages}"
        );
    }

    #[test]
    fn text_from_the_record_cannot_break_out_of_its_string() {
        use crate::journal::RunEvent;
        let evil = r"x) Tj ET BT /F1 99 Tf (y\";
        let record = testutil::record_of(vec![
            testutil::header(evil),
            RunEvent::RunEnded {
                verdict: crate::analysis::Verdict::Pass,
                reason: None,
            },
        ]);
        let pdf = render_pdf(&record, &SignatureCheck::default());
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            text.contains(r"serial x\) Tj ET BT /F1 99 Tf \(y\\)"),
            "{text}"
        );
        // Every line of every content stream is one of the operators qbench writes: the
        // injected ones stayed inside their string.
        let streams: Vec<&str> = text
            .split(">>\nstream\n")
            .skip(1)
            .filter_map(|s| s.split("\nendstream").next())
            .filter(|s| s.starts_with("BT\n"))
            .collect();
        assert!(!streams.is_empty());
        for line in streams.iter().flat_map(|s| s.lines()) {
            let ok = line == "BT"
                || line == "ET"
                || line.ends_with(" Td")
                || (line.starts_with("/F") && line.ends_with(" Tf") && line.len() <= 10)
                || ((line.starts_with('(') || line.starts_with('<')) && line.ends_with(" Tj"));
            assert!(ok, "unexpected content line {line:?}");
            if line.ends_with(" Td") {
                assert_eq!(line.split(' ').count(), 3, "{line:?}");
            }
        }
    }

    #[test]
    fn emergencies_have_their_own_table() {
        let pdf = render_pdf(&testutil::emergency_record(), &SignatureCheck::default());
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("(Emergency messages) Tj"), "{text}");
        assert!(text.contains("4210h"), "{text}");
        assert!(text.contains("0000h"), "{text}");
        let plain = render_pdf(&testutil::passing_record(), &SignatureCheck::default());
        assert!(!String::from_utf8_lossy(&plain).contains("Emergency messages"));
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes() {
        let record = testutil::failing_record();
        let sigs = SignatureCheck::default();
        assert_eq!(render_pdf(&record, &sigs), render_pdf(&record, &sigs));
    }
}
