//! The view model: everything a report template shows, computed and formatted in Rust.
//!
//! Templates only lay out strings and lists: every number is formatted here, every list is
//! in a fixed order (the record's order, or sorted), and nothing depends on the clock or on
//! hash-map iteration, so the same record always gives the same bytes. Strings are kept
//! unescaped; the template engine escapes them. The SVG plots are the one exception: they
//! are markup built here (with every embedded text escaped) and inserted as-is.

use super::format::{full, push_full, short, table, with_unit};
use super::svg::{self, PlotPoint, PointKind};
use crate::analysis::Verdict;
use crate::journal::CheckOutcome;
use crate::record::{Record, SetPointRecord, SignatureCheck};
use crate::units::{Quantity, Unit, parse_unit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Everything the HTML report shows, ready to lay out.
#[derive(Clone, Debug, Serialize)]
pub struct ReportView {
    /// What ran, where, when and by whom.
    pub identification: Identification,
    /// The overall verdict, shown as a banner.
    pub verdict: VerdictBanner,
    /// One row per check id, in the order the checks were first evaluated.
    pub summary: Vec<CheckSummary>,
    /// One section per check id (same order as `summary`), with a row per set point.
    pub checks: Vec<CheckSection>,
    /// Parameter values in force, sorted by name.
    pub parameters: Vec<NameValue>,
    /// The instruments used, in the order they were opened.
    pub instruments: Vec<InstrumentRow>,
    /// Commands, prompts, errors and safe-state actions, in journal order.
    pub events: Vec<EventRow>,
    /// Emergency messages (CANopen EMCY) devices sent, in journal order.
    pub emergencies: Vec<EmergencyRow>,
    /// Every measurement with all its samples, in the order it was first sampled.
    pub raw_data: Vec<RawMeasurement>,
    /// Series of points collected across set points (the inputs of fits), in full precision.
    pub series: Vec<SeriesView>,
    /// Captured waveforms with their plots, in the order captured (empty for most runs).
    pub waveforms: Vec<WaveformView>,
    /// Measurements restated at a gas standard, with the room conditions used.
    pub gas_conversions: Vec<GasConversionRow>,
    /// Images and analysis artefacts of an imaging run (empty for other runs, and when the
    /// run directory is not at hand).
    pub figures: Vec<super::figures::FigureView>,
    /// Electronic signatures of the record, in the order they were made, each checked.
    pub signatures: Vec<SignatureRow>,
    /// Where the record came from: the journal's head hash and size.
    pub footer: Footer,
}

/// A measurement restated at the procedure's gas standard.
#[derive(Clone, Debug, Serialize)]
pub struct GasConversionRow {
    /// The measurement.
    pub measurement: String,
    /// The set point's label.
    pub set_point: String,
    /// The standard its results are stated at.
    pub stated_at: String,
    /// The standard the instrument reports in, and the instrument's role.
    pub reported_in: String,
    /// The room conditions read before the measurement.
    pub room: String,
    /// The factor applied to the raw samples, at full precision.
    pub factor: String,
}

/// A captured waveform: what was captured, how the stream went, and its plot.
#[derive(Clone, Debug, Serialize)]
pub struct WaveformView {
    /// The capture's id.
    pub id: String,
    /// The role whose data stream was captured.
    pub role: String,
    /// The set point's label, or empty outside sweeps.
    pub set_point: String,
    /// What was asked (`2 breaths`).
    pub length: String,
    /// Samples recorded, and the sampling period (`1600 samples every 5 ms`).
    pub samples: String,
    /// Packets received, rejected for their checksum, missing; bytes of garbage skipped.
    pub stream: String,
    /// Set when the journal ended before every announced sample.
    pub incomplete: bool,
    /// Set when the capture was taken again after an interruption.
    pub superseded: bool,
    /// The journal entry of the capture's header.
    pub seq: u64,
    /// Quantities against time, inline SVG.
    pub plot_svg: String,
}

fn waveform_view(
    w: &crate::record::WaveformRecord,
    set_points: &BTreeMap<usize, &SetPointRecord>,
) -> WaveformView {
    const COLOURS: [&str; 3] = ["#1565c0", "#c62828", "#2e7d32"];
    let time = w.time_s();
    let traces: Vec<svg::Trace<'_>> = w
        .channels
        .iter()
        .zip(COLOURS.iter().cycle())
        .map(|(c, colour)| svg::Trace {
            label: format!("{} [{}]", c.quantity, c.unit),
            values: &c.values,
            colour,
        })
        .collect();
    let set_point = w
        .set_point
        .map(|i| set_point_label(Some(i), set_points))
        .unwrap_or_default();
    let mut title = if set_point.is_empty() {
        format!("{} ({})", w.id, w.length)
    } else {
        format!("{} ({}) at {set_point}", w.id, w.length)
    };
    if w.superseded {
        title.push_str(", superseded: taken again after an interruption");
    }
    let c = &w.counts;
    WaveformView {
        id: w.id.clone(),
        role: w.role.clone(),
        set_point,
        length: w.length.clone(),
        samples: format!(
            "{} samples every {} ms",
            w.ticks.len(),
            short(w.period_s * 1000.0)
        ),
        stream: format!(
            "{} packets received, {} rejected (failed checksum, not used), {} missing, {} bytes of garbage skipped",
            c.received, c.rejected, c.missing, c.discarded_bytes
        ),
        incomplete: !w.is_complete(),
        superseded: w.superseded,
        seq: w.seq,
        plot_svg: svg::waveform_plot(&time, &traces, &title),
    }
}

/// One electronic signature of the record (21 CFR 11.50: printed name, date and time,
/// meaning), with whether it verified when the report was rendered.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureRow {
    /// 1-based line in `signatures.jsonl`.
    pub line: usize,
    /// The signer's printed name (empty when the line is not a signature).
    pub name: String,
    /// `performed`, `reviewed` or `approved`.
    pub meaning: String,
    /// Date and time of signing, UTC.
    pub utc: String,
    /// Fingerprint of the signer's public key.
    pub key_fingerprint: String,
    /// Whether the signature verified over this record.
    pub verified: bool,
    /// `verified`, or why it did not verify.
    pub status: String,
    /// CSS class: `pass` when verified, `fail` otherwise.
    pub class: String,
}

/// What ran, where, when and by whom.
#[derive(Clone, Debug, Serialize)]
pub struct Identification {
    /// The run's id.
    pub run_id: String,
    /// Procedure id.
    pub procedure_id: String,
    /// Procedure version.
    pub procedure_version: String,
    /// Procedure title.
    pub title: String,
    /// The standard the procedure implements.
    pub standard: String,
    /// The clause of that standard.
    pub clause: String,
    /// The procedure file as given.
    pub procedure_path: String,
    /// SHA-256 of the procedure file.
    pub procedure_sha256: String,
    /// The fixture's name.
    pub fixture_name: String,
    /// The fixture file as given.
    pub fixture_path: String,
    /// SHA-256 of the fixture file.
    pub fixture_sha256: String,
    /// Whether the fixture is the simulated bench.
    pub simulated: bool,
    /// `simulated bench` or `real instruments`.
    pub bench_kind: String,
    /// Simulated time per real time (`1× (real time)`, `60×`).
    pub time_scale: String,
    /// Program name and version.
    pub software: String,
    /// Operating system, architecture and kernel the run used.
    pub environment: String,
    /// Whether the run was allowed to use instruments past their calibration due date.
    pub expired_calibration_allowed: bool,
    /// Host name of the bench computer.
    pub host: String,
    /// Who ran the procedure.
    pub operator: String,
    /// Serial number of the device under test.
    pub dut_serial: String,
    /// UTC time the run started.
    pub started_utc: String,
    /// UTC time of the journal's last entry.
    pub ended_utc: String,
    /// Parameters overridden on the command line, joined with `, ` (empty when none).
    pub overrides: String,
}

/// The overall verdict.
#[derive(Clone, Debug, Serialize)]
pub struct VerdictBanner {
    /// `PASS`, `FAIL`, `ERROR`, `ABORTED`, or `INCOMPLETE` when the journal ends before the
    /// run did.
    pub word: String,
    /// CSS class: `pass`, `fail`, `error`, `aborted` or `incomplete`.
    pub class: String,
    /// One sentence saying what the verdict means.
    pub meaning: String,
    /// Why the run ended early, as recorded (empty when it did not).
    pub end_reason: String,
    /// Every check that did not pass, as `check id at set point label`, in report order.
    pub not_passed: Vec<String>,
}

/// One row of the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct CheckSummary {
    /// HTML id of the check's section.
    pub anchor: String,
    /// The check's id.
    pub id: String,
    /// What the check verifies.
    pub title: String,
    /// Outcomes where the check applied.
    pub evaluated: usize,
    /// Applied and passed.
    pub passed: usize,
    /// Applied and failed.
    pub failed: usize,
    /// Applied and could not be decided (ERROR or ABORTED).
    pub errors: usize,
    /// Outcomes where the check did not apply.
    pub not_applicable: usize,
    /// The worst verdict of the applied outcomes, or `N/A` when none applied.
    pub verdict: String,
    /// CSS class of the verdict.
    pub class: String,
}

/// One check id's outcomes, set point by set point.
#[derive(Clone, Debug, Serialize)]
pub struct CheckSection {
    /// HTML id of the section.
    pub anchor: String,
    /// The check's id.
    pub id: String,
    /// What the check verifies.
    pub title: String,
    /// The measurement it reads (several joined with `, ` if it varies).
    pub measurement: String,
    /// The statistic taken (several joined with `, ` if it varies).
    pub statistic: String,
    /// One row per outcome, ordered by set point.
    pub rows: Vec<CheckRow>,
    /// Error against set point as an SVG document (empty when nothing can be plotted).
    pub plot_svg: String,
}

/// A series of collected points, formatted.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesView {
    /// The series' name.
    pub id: String,
    /// Unit of x.
    pub x_unit: String,
    /// Unit of y.
    pub y_unit: String,
    /// The points.
    pub points: Vec<SeriesPointView>,
    /// The points, their fitted line and the residuals, as SVG (empty below two points).
    pub plot_svg: String,
}

/// One collected point, formatted at full precision.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesPointView {
    /// The set point's label.
    pub set_point: String,
    /// x.
    pub x: String,
    /// y.
    pub y: String,
    /// The journal entry that holds it.
    pub seq: u64,
    /// Whether a resumed run collected it again.
    pub superseded: bool,
}

/// One outcome of a check at one set point.
#[derive(Clone, Debug, Serialize)]
pub struct CheckRow {
    /// The set point's label (`—` when the check is not tied to a set point).
    pub set_point: String,
    /// The set point's bindings (`compliance = 50 mL/hPa, tidal_volume = 500 mL`).
    pub bindings: String,
    /// Number of samples the statistic was computed from.
    pub samples: usize,
    /// The value the statistic took, with its unit.
    pub value: String,
    /// The target, with its unit (empty when the limit has none).
    pub target: String,
    /// value − target, with its unit (empty when there is no target).
    pub error: String,
    /// The limit as bounds (`[495.0, 505.0] mL`, `≤ 30.00 %`).
    pub limit: String,
    /// How the limit was stated in the procedure.
    pub limit_description: String,
    /// `PASS`, `FAIL`, `ERROR`, `ABORTED`, or `N/A` when the check did not apply.
    pub verdict: String,
    /// CSS class of the verdict.
    pub class: String,
    /// The outcome's note.
    pub note: String,
    /// The expanded uncertainty with its coverage (`±11.3 mL (k = 1.97, 95 %)`), or empty.
    pub uncertainty: String,
    /// The decision rule, acceptance zone and outcome, or empty.
    pub decision: String,
    /// The uncertainty budget, one line per contribution.
    pub budget: Vec<BudgetLine>,
}

/// One contribution of an uncertainty budget, formatted.
#[derive(Clone, Debug, Serialize)]
pub struct BudgetLine {
    /// What the input is.
    pub name: String,
    /// `A` or `B`.
    pub kind: String,
    /// The distribution assumed.
    pub distribution: String,
    /// The standard uncertainty uᵢ with its unit.
    pub standard_uncertainty: String,
    /// The sensitivity coefficient cᵢ.
    pub sensitivity: String,
    /// The degrees of freedom νᵢ (`∞` for exactly known type-B inputs).
    pub degrees_of_freedom: String,
    /// The share of the combined variance, in percent.
    pub share: String,
}

/// `±U unit (k = …, p %)` of an outcome, or empty.
fn uncertainty_text(outcome: &CheckOutcome) -> String {
    let Some(b) = &outcome.uncertainty else {
        return String::new();
    };
    let unit = outcome
        .value
        .as_ref()
        .map(|v| v.unit.symbol().to_string())
        .unwrap_or_default();
    format!(
        "±{} (k = {}, {} %)",
        with_unit(&table(b.expanded_uncertainty), &unit),
        table(b.coverage_factor),
        table(b.coverage_probability * 100.0)
    )
}

/// The rule, the acceptance zone and the outcome of an outcome's decision, or empty.
fn decision_text(outcome: &CheckOutcome) -> String {
    let Some(d) = &outcome.decision else {
        return String::new();
    };
    let rule = match d.rule {
        crate::analysis::DecisionRule::Simple => "simple acceptance".to_string(),
        crate::analysis::DecisionRule::Guarded { .. } => {
            format!("guarded acceptance, w = {}", table(d.guard_band))
        }
        crate::analysis::DecisionRule::NonBinary { .. } => {
            format!("non-binary, w = {}", table(d.guard_band))
        }
    };
    let bound = |b: Option<f64>, inf: &str| b.map(table).unwrap_or_else(|| inf.to_string());
    format!(
        "{rule}; accepted in [{}, {}] {}; {}",
        bound(d.acceptance_zone.low, "−∞"),
        bound(d.acceptance_zone.high, "+∞"),
        d.limit.unit,
        d.outcome.as_str()
    )
}

/// The budget of an outcome, one formatted line per contribution.
fn budget_rows(outcome: &CheckOutcome) -> Vec<BudgetLine> {
    let Some(b) = &outcome.uncertainty else {
        return Vec::new();
    };
    b.rows
        .iter()
        .map(|row| {
            let c = &row.contribution;
            BudgetLine {
                name: c.name.clone(),
                kind: match c.kind {
                    crate::analysis::EvaluationType::TypeA => "A".into(),
                    crate::analysis::EvaluationType::TypeB => "B".into(),
                },
                distribution: match c.distribution {
                    crate::analysis::Distribution::Normal { k } => {
                        format!("normal (k = {})", table(k))
                    }
                    crate::analysis::Distribution::Rectangular => "rectangular".into(),
                    crate::analysis::Distribution::Triangular => "triangular".into(),
                    crate::analysis::Distribution::UShaped => "U-shaped".into(),
                },
                standard_uncertainty: with_unit(&table(c.standard_uncertainty), c.unit.symbol()),
                sensitivity: table(c.sensitivity),
                degrees_of_freedom: if c.degrees_of_freedom.is_finite() {
                    table(c.degrees_of_freedom)
                } else {
                    "∞".into()
                },
                share: table(row.variance_share * 100.0),
            }
        })
        .collect()
}

/// A name and a formatted value.
#[derive(Clone, Debug, Serialize)]
pub struct NameValue {
    /// The name.
    pub name: String,
    /// The value with its unit.
    pub value: String,
}

/// One instrument.
#[derive(Clone, Debug, Serialize)]
pub struct InstrumentRow {
    /// The role it plays.
    pub role: String,
    /// The driver speaking to it.
    pub driver: String,
    /// The link it was reached over.
    pub link: String,
    /// Maker's name, as the instrument answered.
    pub manufacturer: String,
    /// Model, as the instrument answered.
    pub model: String,
    /// Serial number, as the instrument answered.
    pub serial: String,
    /// Firmware, as the instrument answered.
    pub firmware: String,
    /// Calibration certificate (empty when the fixture declares none).
    pub calibration_certificate: String,
    /// Calibration due date (empty when the fixture declares none).
    pub calibration_due: String,
    /// Whether the calibration was due before the run started.
    pub calibration_overdue: bool,
    /// Accuracy specification (empty when the fixture declares none).
    pub accuracy: String,
    /// Conditions it stated, sorted by name (`gas_standard: BTPS`), joined with `, `.
    pub conditions: String,
}

/// One line of the event log.
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    /// The journal entry's sequence number.
    pub seq: u64,
    /// UTC time stamp.
    pub utc: String,
    /// `command`, `prompt`, `error`, `safe_state` or `step`.
    pub kind: String,
    /// The role concerned (empty when none).
    pub role: String,
    /// What happened.
    pub text: String,
}

/// One emergency message a device sent, formatted.
#[derive(Clone, Debug, Serialize)]
pub struct EmergencyRow {
    /// The journal entry's sequence number.
    pub seq: u64,
    /// UTC time stamp.
    pub utc: String,
    /// The role of the instrument.
    pub role: String,
    /// The node that sent it.
    pub node: u8,
    /// The error code in hex (`FF01h`).
    pub code: String,
    /// The class of the code in words.
    pub class: String,
    /// The error register in hex (`81h`).
    pub register: String,
    /// The manufacturer-specific bytes in hex.
    pub manufacturer: String,
}

/// One measurement and all its raw samples.
#[derive(Clone, Debug, Serialize)]
pub struct RawMeasurement {
    /// The measurement's id.
    pub id: String,
    /// The role that produced it.
    pub role: String,
    /// The quantity read.
    pub quantity: String,
    /// The label of the set point it was taken at (`—` when none).
    pub set_point: String,
    /// The unit of every value.
    pub unit: String,
    /// Number of samples.
    pub count: usize,
    /// Journal sequence numbers of the first and last samples (`12–31`).
    pub seq_range: String,
    /// UTC of the first and last samples.
    pub utc_range: String,
    /// Every value at full precision, in order, separated by spaces.
    pub values: String,
}

/// Where the record came from.
#[derive(Clone, Debug, Serialize)]
pub struct Footer {
    /// SHA-256 of the journal's last line: the head of its hash chain.
    pub journal_head: String,
    /// Number of journal entries the record was folded from.
    pub journal_entries: u64,
    /// Record format version.
    pub record_format: u32,
    /// Total number of raw samples.
    pub sample_count: usize,
    /// Total number of measurements.
    pub measurement_count: usize,
    /// SHA-256 of `record.json` as this build writes the record (what signatures bind).
    pub record_sha256: String,
}

/// The word and CSS class of a verdict.
pub(crate) fn verdict_word(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Pass => ("PASS", "pass"),
        Verdict::Fail => ("FAIL", "fail"),
        Verdict::Error => ("ERROR", "error"),
        Verdict::Aborted => ("ABORTED", "aborted"),
    }
}

/// The word and CSS class of one check outcome: `N/A` when it did not apply.
pub(crate) fn outcome_word(outcome: &CheckOutcome) -> (&'static str, &'static str) {
    if outcome.superseded {
        // A retried attempt or an interrupted set point: kept as evidence, not counted.
        ("SUPERSEDED", "na")
    } else if outcome.applicable {
        verdict_word(outcome.verdict)
    } else {
        ("N/A", "na")
    }
}

/// A label for a set point index (`—` when the outcome has none).
pub(crate) fn set_point_label(
    index: Option<usize>,
    set_points: &BTreeMap<usize, &SetPointRecord>,
) -> String {
    match index {
        Some(i) => set_points
            .get(&i)
            .map(|s| s.label.clone())
            .unwrap_or_else(|| format!("#{i}")),
        None => "—".to_string(),
    }
}

/// Set points by index, so lookups stay logarithmic however many there are.
pub(crate) fn set_point_index(record: &Record) -> BTreeMap<usize, &SetPointRecord> {
    record.set_points.iter().map(|s| (s.index, s)).collect()
}

/// The check ids in the order they were first evaluated, each with its outcomes ordered by
/// set point (outcomes without a set point last), ties kept in record order.
pub(crate) fn group_checks(record: &Record) -> Vec<(&str, Vec<&CheckOutcome>)> {
    let mut order: Vec<&str> = Vec::new();
    let mut groups: BTreeMap<&str, Vec<&CheckOutcome>> = BTreeMap::new();
    for outcome in &record.checks {
        let group = groups.entry(outcome.id.as_str()).or_default();
        if group.is_empty() {
            order.push(outcome.id.as_str());
        }
        group.push(outcome);
    }
    order
        .into_iter()
        .map(|id| {
            let mut outcomes = groups.remove(id).unwrap_or_default();
            outcomes.sort_by_key(|o| o.set_point.unwrap_or(usize::MAX));
            (id, outcomes)
        })
        .collect()
}

/// An outcome's numbers in one unit: the limit's when it has one, else the value's.
struct Figures {
    unit: String,
    value: Option<f64>,
    target: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
}

impl Figures {
    fn of(outcome: &CheckOutcome) -> Figures {
        let limit_unit = outcome
            .limit
            .as_ref()
            .and_then(|l| parse_unit(&l.unit).ok());
        let value_unit = outcome.value.as_ref().map(|v| v.unit.clone());
        let unit: Option<Unit> = match (limit_unit, value_unit) {
            (Some(l), Some(v)) if l.is_compatible(&v) => Some(l),
            (Some(l), None) => Some(l),
            (_, v) => v,
        };
        let convert = |q: &Option<Quantity>| -> Option<f64> {
            let q = q.as_ref()?;
            match &unit {
                Some(u) => q.to_unit(u).ok().map(|q| q.value),
                None => Some(q.value),
            }
        };
        let (low, high) = match (&outcome.limit, &unit) {
            (Some(l), Some(u)) if u.symbol() == l.unit => (l.low, l.high),
            // The limit's unit is not the one used (it did not parse or does not fit the
            // value): its bounds are shown as written but not compared or plotted.
            _ => (None, None),
        };
        let (value, target) = (convert(&outcome.value), convert(&outcome.target));
        Figures {
            unit: unit.map(|u| u.symbol().to_string()).unwrap_or_default(),
            value,
            target,
            low,
            high,
        }
    }

    fn error(&self) -> Option<f64> {
        Some(self.value? - self.target?)
    }
}

fn limit_text(outcome: &CheckOutcome) -> String {
    let Some(limit) = &outcome.limit else {
        return String::new();
    };
    let bounds = match (limit.low, limit.high) {
        (Some(l), Some(h)) => format!("[{}, {}]", table(l), table(h)),
        (Some(l), None) => format!("≥ {}", table(l)),
        (None, Some(h)) => format!("≤ {}", table(h)),
        (None, None) => "none".to_string(),
    };
    with_unit(&bounds, &limit.unit)
}

fn bindings_text(set_point: Option<&SetPointRecord>) -> String {
    let Some(set_point) = set_point else {
        return String::new();
    };
    let parts: Vec<String> = set_point
        .bindings
        .iter()
        .map(|(name, q)| format!("{name} = {}", with_unit(&short(q.value), q.unit.symbol())))
        .collect();
    parts.join(", ")
}

fn joined_distinct<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen.join(", ")
}

fn check_section(
    ordinal: usize,
    id: &str,
    outcomes: &[&CheckOutcome],
    set_points: &BTreeMap<usize, &SetPointRecord>,
) -> (CheckSummary, CheckSection, Vec<String>) {
    let anchor = format!("check-{}", ordinal + 1);
    let title = outcomes
        .first()
        .map(|o| o.title.clone())
        .unwrap_or_default();
    let mut rows = Vec::with_capacity(outcomes.len());
    let mut points = Vec::with_capacity(outcomes.len());
    let mut not_passed = Vec::new();
    let (mut passed, mut failed, mut errors, mut not_applicable) = (0, 0, 0, 0);
    let mut overall: Option<Verdict> = None;
    // Plot against the target when every plotted outcome has one; otherwise against the
    // set point index, so points never mix two kinds of x.
    let figures: Vec<Figures> = outcomes.iter().map(|o| Figures::of(o)).collect();
    let by_target = figures
        .iter()
        .all(|f| f.error().is_none() || f.target.is_some());
    let plot_unit = joined_distinct(
        figures
            .iter()
            .filter(|f| f.error().is_some())
            .map(|f| f.unit.as_str()),
    );
    for (n, (outcome, fig)) in outcomes.iter().zip(&figures).enumerate() {
        let (word, class) = outcome_word(outcome);
        let label = set_point_label(outcome.set_point, set_points);
        if outcome.superseded {
            // Shown in the table, counted nowhere, plotted never.
        } else if outcome.applicable {
            overall = Some(overall.map_or(outcome.verdict, |v| v.combine(outcome.verdict)));
            match outcome.verdict {
                Verdict::Pass => passed += 1,
                Verdict::Fail => failed += 1,
                Verdict::Error | Verdict::Aborted => errors += 1,
            }
            if outcome.verdict != Verdict::Pass {
                not_passed.push(format!("{id} at {label}"));
            }
        } else {
            not_applicable += 1;
        }
        let error = fig.error();
        if let Some(e) = error
            && outcome.applicable
            && !outcome.superseded
        {
            let x = if by_target {
                fig.target.unwrap_or(0.0)
            } else {
                outcome.set_point.unwrap_or(n) as f64
            };
            let band = |b: Option<f64>| Some(b? - fig.target?);
            points.push(PlotPoint {
                x,
                error: e,
                band_low: band(fig.low),
                band_high: band(fig.high),
                kind: PointKind::from(outcome.verdict),
                label: label.clone(),
            });
        }
        rows.push(CheckRow {
            set_point: label,
            bindings: bindings_text(outcome.set_point.and_then(|i| set_points.get(&i).copied())),
            samples: outcome.samples,
            value: fig
                .value
                .map(|v| with_unit(&table(v), &fig.unit))
                .unwrap_or_default(),
            target: fig
                .target
                .map(|v| with_unit(&table(v), &fig.unit))
                .unwrap_or_default(),
            error: error
                .map(|v| with_unit(&signed(v), &fig.unit))
                .unwrap_or_default(),
            limit: limit_text(outcome),
            limit_description: outcome
                .limit
                .as_ref()
                .map(|l| l.description.clone())
                .unwrap_or_default(),
            verdict: word.to_string(),
            class: class.to_string(),
            note: outcome.note.clone().unwrap_or_default(),
            uncertainty: uncertainty_text(outcome),
            decision: decision_text(outcome),
            budget: budget_rows(outcome),
        });
    }
    let (verdict, class) = overall.map(verdict_word).unwrap_or(("N/A", "na"));
    let x_label = if by_target {
        let unit = joined_distinct(
            figures
                .iter()
                .filter(|f| f.target.is_some())
                .map(|f| f.unit.as_str()),
        );
        if unit.is_empty() {
            "target".to_string()
        } else {
            format!("target ({unit})")
        }
    } else {
        "set point index".to_string()
    };
    let y_label = if plot_unit.is_empty() {
        "error (value − target)".to_string()
    } else {
        format!("error (value − target) ({plot_unit})")
    };
    let plot_svg = svg::error_plot(
        &points,
        &x_label,
        &y_label,
        &format!("{id}: error against set point"),
    );
    let summary = CheckSummary {
        anchor: anchor.clone(),
        id: id.to_string(),
        title: title.clone(),
        evaluated: passed + failed + errors,
        passed,
        failed,
        errors,
        not_applicable,
        verdict: verdict.to_string(),
        class: class.to_string(),
    };
    let section = CheckSection {
        anchor,
        id: id.to_string(),
        title,
        measurement: joined_distinct(outcomes.iter().map(|o| o.measurement.as_str())),
        statistic: joined_distinct(outcomes.iter().map(|o| o.statistic.as_str())),
        rows,
        plot_svg,
    };
    (summary, section, not_passed)
}

/// A difference, always with its sign (`+2.000`, `-0.5000`).
fn signed(x: f64) -> String {
    let text = table(x);
    if x > 0.0 { format!("+{text}") } else { text }
}

fn banner(record: &Record, not_passed: Vec<String>) -> VerdictBanner {
    let (word, class, meaning) = match record.verdict {
        Some(Verdict::Pass) => ("PASS", "pass", "Every check that applied passed."),
        Some(Verdict::Fail) => (
            "FAIL",
            "fail",
            "At least one check failed: the device under test did not meet a requirement.",
        ),
        Some(Verdict::Error) => (
            "ERROR",
            "error",
            "The run could not complete because of an instrument or bench error; the checks not evaluated were not decided.",
        ),
        Some(Verdict::Aborted) => (
            "ABORTED",
            "aborted",
            "The run was stopped before it completed; the checks not evaluated were not decided.",
        ),
        None => (
            "INCOMPLETE",
            "incomplete",
            "The journal ends before the run did (the bench stopped or crashed): the results below are partial and decide nothing.",
        ),
    };
    VerdictBanner {
        word: word.to_string(),
        class: class.to_string(),
        meaning: meaning.to_string(),
        end_reason: record.end_reason.clone().unwrap_or_default(),
        not_passed,
    }
}

fn identification(record: &Record) -> Identification {
    let h = &record.header;
    let time_scale = if h.time_scale == 1.0 {
        "1× (real time)".to_string()
    } else {
        format!("{}×", short(h.time_scale))
    };
    Identification {
        run_id: h.run_id.clone(),
        procedure_id: h.procedure_id.clone(),
        procedure_version: h.procedure_version.clone(),
        title: h.title.clone(),
        standard: h.standard.clone(),
        clause: h.clause.clone(),
        procedure_path: h.procedure.path.clone(),
        procedure_sha256: h.procedure.sha256.clone(),
        fixture_name: h.fixture_name.clone(),
        fixture_path: h.fixture.path.clone(),
        fixture_sha256: h.fixture.sha256.clone(),
        simulated: h.simulated,
        bench_kind: if h.simulated {
            "simulated bench"
        } else {
            "real instruments"
        }
        .to_string(),
        time_scale,
        software: match &h.software.git_commit {
            Some(commit) => format!(
                "{} {} (commit {commit})",
                h.software.name, h.software.version
            ),
            None => format!("{} {}", h.software.name, h.software.version),
        },
        environment: h
            .environment
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        expired_calibration_allowed: h.allow_expired_calibration,
        host: h.host.clone(),
        operator: h.operator.clone(),
        dut_serial: h.dut_serial.clone(),
        started_utc: record.started_utc.clone(),
        ended_utc: record.ended_utc.clone(),
        overrides: h.overrides.join(", "),
    }
}

/// Whether `due` (an ISO 8601 date) is before the date of `started_utc` (RFC 3339). Dates
/// in another shape are not judged.
fn overdue(due: &str, started_utc: &str) -> bool {
    let is_date = |s: &str| {
        s.len() >= 10
            && s.as_bytes()[..10].iter().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    *b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    is_date(due) && is_date(started_utc) && due[..10] < started_utc[..10]
}

fn conditions_text(conditions: Option<&BTreeMap<String, String>>) -> String {
    let Some(conditions) = conditions else {
        return String::new();
    };
    let parts: Vec<String> = conditions
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    parts.join(", ")
}

fn instruments(record: &Record) -> Vec<InstrumentRow> {
    let mut rows: Vec<InstrumentRow> = record
        .instruments
        .iter()
        .map(|i| {
            let due = i.calibration_due.clone().unwrap_or_default();
            InstrumentRow {
                role: i.role.clone(),
                driver: i.driver.clone(),
                link: i.link.clone(),
                manufacturer: i.identity.manufacturer.clone(),
                model: i.identity.model.clone(),
                serial: i.identity.serial.clone(),
                firmware: i.identity.firmware.clone(),
                calibration_certificate: i.calibration_certificate.clone().unwrap_or_default(),
                calibration_overdue: overdue(&due, &record.started_utc),
                calibration_due: due,
                accuracy: i.accuracy.clone().unwrap_or_default(),
                conditions: conditions_text(record.conditions.get(&i.role)),
            }
        })
        .collect();
    // Conditions stated for a role with no instrument entry are still shown.
    for (role, conditions) in &record.conditions {
        if !record.instruments.iter().any(|i| &i.role == role) {
            rows.push(InstrumentRow {
                role: role.clone(),
                driver: String::new(),
                link: String::new(),
                manufacturer: String::new(),
                model: String::new(),
                serial: String::new(),
                firmware: String::new(),
                calibration_certificate: String::new(),
                calibration_due: String::new(),
                calibration_overdue: false,
                accuracy: String::new(),
                conditions: conditions_text(Some(conditions)),
            });
        }
    }
    rows
}

fn raw_data(record: &Record, set_points: &BTreeMap<usize, &SetPointRecord>) -> Vec<RawMeasurement> {
    record
        .measurements
        .iter()
        .map(|m| {
            let mut values = String::with_capacity(m.samples.len() * 12);
            for (i, s) in m.samples.iter().enumerate() {
                if i > 0 {
                    values.push(' ');
                }
                push_full(&mut values, s.value);
            }
            let (seq_range, utc_range) = match (m.samples.first(), m.samples.last()) {
                (Some(a), Some(b)) if a.seq == b.seq => (a.seq.to_string(), a.utc.clone()),
                (Some(a), Some(b)) => (
                    format!("{}–{}", a.seq, b.seq),
                    format!("{} – {}", a.utc, b.utc),
                ),
                _ => (String::new(), String::new()),
            };
            RawMeasurement {
                id: m.id.clone(),
                role: m.role.clone(),
                quantity: m.quantity.clone(),
                set_point: set_point_label(m.set_point, set_points),
                unit: m.unit.clone(),
                count: m.samples.len(),
                seq_range,
                utc_range,
                values,
            }
        })
        .collect()
}

impl ReportView {
    /// Builds the view of `record`.
    pub fn from_record(record: &Record) -> ReportView {
        let set_points = set_point_index(record);
        let mut summary = Vec::new();
        let mut checks = Vec::new();
        let mut not_passed = Vec::new();
        for (ordinal, (id, outcomes)) in group_checks(record).into_iter().enumerate() {
            let (s, c, mut np) = check_section(ordinal, id, &outcomes, &set_points);
            summary.push(s);
            checks.push(c);
            not_passed.append(&mut np);
        }
        ReportView {
            identification: identification(record),
            verdict: banner(record, not_passed),
            summary,
            checks,
            parameters: record
                .header
                .parameters
                .iter()
                .map(|(name, q)| NameValue {
                    name: name.clone(),
                    value: with_unit(&full(q.value), q.unit.symbol()),
                })
                .collect(),
            instruments: instruments(record),
            events: record
                .events
                .iter()
                .map(|e| EventRow {
                    seq: e.seq,
                    utc: e.utc.clone(),
                    kind: e.kind.clone(),
                    role: e.role.clone().unwrap_or_default(),
                    text: e.text.clone(),
                })
                .collect(),
            emergencies: record
                .emergencies
                .iter()
                .map(|e| EmergencyRow {
                    seq: e.seq,
                    utc: e.utc.clone(),
                    role: e.role.clone(),
                    node: e.node,
                    code: format!("{:04X}h", e.code),
                    class: e.class.clone(),
                    register: format!("{:02X}h", e.register),
                    manufacturer: e.manufacturer.clone(),
                })
                .collect(),
            raw_data: raw_data(record, &set_points),
            series: record
                .series
                .iter()
                .map(|series| SeriesView {
                    id: series.id.clone(),
                    x_unit: series.x_unit.clone(),
                    y_unit: series.y_unit.clone(),
                    points: series
                        .points
                        .iter()
                        .map(|p| SeriesPointView {
                            set_point: set_point_label(p.set_point, &set_points),
                            x: full(p.x),
                            y: full(p.y),
                            seq: p.seq,
                            superseded: p.superseded,
                        })
                        .collect(),
                    plot_svg: super::figures::fit_plot(
                        &series
                            .points
                            .iter()
                            .filter(|p| !p.superseded)
                            .map(|p| (p.x, p.y))
                            .collect::<Vec<_>>(),
                        &series.x_unit,
                        &series.y_unit,
                    ),
                })
                .collect(),
            waveforms: record
                .waveforms
                .iter()
                .map(|w| waveform_view(w, &set_points))
                .collect(),
            gas_conversions: record
                .gas_conversions
                .iter()
                .map(|g| GasConversionRow {
                    measurement: g.measurement.clone(),
                    set_point: set_point_label(g.set_point, &set_points),
                    stated_at: g.to.clone(),
                    reported_in: format!("{} (by the {})", g.from, g.role),
                    room: format!(
                        "{}, {} RH, {} (by the {})",
                        g.temperature, g.humidity, g.pressure, g.room
                    ),
                    factor: full(g.factor),
                })
                .collect(),
            figures: Vec::new(),
            signatures: Vec::new(),
            footer: Footer {
                journal_head: record.journal_head.clone(),
                journal_entries: record.journal_entries,
                record_format: record.format,
                sample_count: record.sample_count(),
                measurement_count: record.measurements.len(),
                record_sha256: record_file_sha256(record),
            },
        }
    }

    /// The view with the figures of the artefacts stored in `run_dir` that the record
    /// names (flat field, uniformity map, defect map, NPS), each checked against its SHA-256.
    pub fn with_figures(mut self, record: &Record, run_dir: &Path) -> ReportView {
        self.figures = super::figures::detector_figures(record, run_dir);
        self
    }

    /// The view with the signatures of `check` shown.
    pub fn with_signatures(mut self, check: &SignatureCheck) -> ReportView {
        self.signatures = check
            .signatures
            .iter()
            .map(|s| {
                let verified = s.status.is_valid();
                let status = if verified {
                    "verified".to_string()
                } else {
                    format!("NOT VERIFIED: {}", s.status)
                };
                let (name, meaning, utc, key_fingerprint) = match &s.signature {
                    Some(sig) => (
                        sig.name.clone(),
                        sig.meaning.to_string(),
                        sig.utc.clone(),
                        sig.key_fingerprint(),
                    ),
                    None => Default::default(),
                };
                SignatureRow {
                    line: s.line,
                    name,
                    meaning,
                    utc,
                    key_fingerprint,
                    verified,
                    status,
                    class: if verified { "pass" } else { "fail" }.to_string(),
                }
            })
            .collect();
        self
    }
}

/// SHA-256 of the record file's bytes as [`crate::record::write_record`] writes them.
fn record_file_sha256(record: &Record) -> String {
    crate::record::signature::record_file_bytes(record)
        .map(|bytes| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil;

    #[test]
    fn summary_counts_each_kind_of_outcome() {
        let record = testutil::failing_record();
        let view = ReportView::from_record(&record);
        let s = &view.summary[0];
        assert_eq!(
            (s.evaluated, s.passed, s.failed, s.not_applicable),
            (3, 2, 1, 1)
        );
        assert_eq!(s.verdict, "FAIL");
        assert_eq!(
            view.verdict.not_passed,
            vec!["volume_accuracy at row 2".to_string()]
        );
    }

    #[test]
    fn error_is_value_minus_target_in_the_limit_unit() {
        let record = testutil::passing_record();
        let view = ReportView::from_record(&record);
        let row = &view.checks[0].rows[0];
        assert_eq!(row.value, "502.0 mL");
        assert_eq!(row.target, "500.0 mL");
        assert_eq!(row.error, "+2.000 mL");
        assert_eq!(row.limit, "[481.0, 519.0] mL");
    }

    #[test]
    fn rows_are_ordered_by_set_point() {
        let record = testutil::failing_record();
        let view = ReportView::from_record(&record);
        let labels: Vec<&str> = view.checks[0]
            .rows
            .iter()
            .map(|r| r.set_point.as_str())
            .collect();
        assert_eq!(labels, ["row 1", "row 2", "row 3", "row 4"]);
    }

    #[test]
    fn an_interrupted_run_is_incomplete() {
        let view = ReportView::from_record(&testutil::interrupted_record());
        assert_eq!(view.verdict.word, "INCOMPLETE");
    }

    #[test]
    fn overdue_compares_dates_only_when_both_are_dates() {
        assert!(overdue("2026-01-01", "2026-11-23T09:00:00Z"));
        assert!(!overdue("2027-01-01", "2026-11-23T09:00:00Z"));
        assert!(!overdue("next year", "2026-11-23T09:00:00Z"));
    }
}
