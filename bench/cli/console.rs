//! The console: progress lines for the operator, and prompts answered on the terminal.

use crate::journal::{Entry, RunEvent};
use crate::runner::{Observer, Operator, format_number};
use std::io::{BufRead, Write};

/// Prints run progress, one line per notable event.
pub struct ConsoleObserver<'a> {
    out: &'a mut dyn Write,
}

impl<'a> ConsoleObserver<'a> {
    /// An observer printing to `out`.
    pub fn new(out: &'a mut dyn Write) -> ConsoleObserver<'a> {
        ConsoleObserver { out }
    }
}

impl Observer for ConsoleObserver<'_> {
    fn entry(&mut self, entry: &Entry) {
        let line = match &entry.event {
            RunEvent::RunStarted(h) => format!(
                "qbench {}: {} v{} ({} {})\nrun {} on fixture `{}`{}",
                h.software.version,
                h.procedure_id,
                h.procedure_version,
                h.standard,
                h.clause,
                h.run_id,
                h.fixture_name,
                if h.simulated {
                    format!(" (simulated, time scale {})", h.time_scale)
                } else {
                    String::new()
                }
            ),
            RunEvent::InstrumentReady(i) => format!(
                "  {}: {} {} s/n {} via {}",
                i.role, i.identity.manufacturer, i.identity.model, i.identity.serial, i.link
            ),
            RunEvent::Condition { role, condition } => {
                format!("  {role}: {} = {}", condition.name, condition.value)
            }
            RunEvent::SetPoint {
                sweep,
                label,
                bindings,
                index,
            } => {
                let values: Vec<String> =
                    bindings.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!(
                    "set point {} ({sweep} {label}): {}",
                    index + 1,
                    values.join(", ")
                )
            }
            RunEvent::Prompt(p) => {
                format!(
                    "  prompt: {} → {}{}",
                    p.message,
                    p.answer,
                    if p.automatic { " (--yes)" } else { "" }
                )
            }
            RunEvent::Check(c) => check_line(c),
            RunEvent::Collected { .. } => return,
            RunEvent::InstrumentNote { role, note } => format!("  {role}: {note}"),
            RunEvent::Emergency {
                role,
                node,
                code,
                class,
                register,
                manufacturer,
            } => format!(
                "  {role}: EMCY from node {node}: {code:04X}h ({class}), error register {register:02X}h, manufacturer data {manufacturer}"
            ),
            RunEvent::Error { role, message } => match role {
                Some(r) => format!("ERROR ({r}): {message}"),
                None => format!("ERROR: {message}"),
            },
            RunEvent::SafeState { role, ok, message } => match (ok, message) {
                (true, _) => format!("  {role}: safe state"),
                (false, m) => format!(
                    "  {role}: SAFE STATE NOT CONFIRMED: {}",
                    m.clone().unwrap_or_default()
                ),
            },
            RunEvent::LinkLost { role, message } => format!("  {role}: LINK LOST: {message}"),
            RunEvent::LinkRestored { role, link, .. } => format!("  {role}: link {link} restored"),
            RunEvent::RunEnded { verdict, .. } => format!("run ended: {verdict}"),
            RunEvent::RunResumed {
                interrupted_utc,
                gap_s,
                from_set_point,
                ..
            } => format!(
                "run resumed after an interruption at {interrupted_utc} ({gap_s:.0} s); {}",
                from_set_point.map_or("steps run again from the start".to_string(), |i| format!(
                    "from set point {}",
                    i + 1
                ))
            ),
            RunEvent::AttemptStarted { group, attempt, of } => {
                format!("{group}: attempt {attempt} of {of}")
            }
            RunEvent::AttemptEnded {
                group,
                attempt,
                outcome,
                retried,
            } => {
                format!(
                    "{group}: attempt {attempt} {outcome}{}",
                    if *retried { ", retrying" } else { "" }
                )
            }
            RunEvent::WaitEnded {
                condition,
                polls,
                satisfied,
                ..
            } => {
                format!(
                    "  wait until `{condition}`: {} after {polls} readings",
                    if *satisfied { "held" } else { "timed out" }
                )
            }
            RunEvent::WaveformCaptured(w) => format!(
                "  waveform {}: {} samples ({}) from {}; {} packets failed their checksum and were not used",
                w.id, w.samples, w.length, w.role, w.counts.rejected
            ),
            RunEvent::GasConversion(g) => format!(
                "  {}: stated at {} (the {} reports {}; room {}, {}, {}; factor {:.5})",
                g.measurement,
                g.to,
                g.role,
                g.from,
                g.temperature,
                g.humidity,
                g.pressure,
                g.factor
            ),
            RunEvent::Command { .. } | RunEvent::Sample { .. } | RunEvent::WaveformChunk(_) => {
                return;
            }
        };
        let _ = writeln!(self.out, "{line}");
    }

    fn progress(&mut self, message: &str) {
        let _ = writeln!(self.out, "    {message}");
    }
}

/// One console line for a check: value, expanded uncertainty, tolerance, acceptance zone,
/// verdict.
fn check_line(c: &crate::journal::CheckOutcome) -> String {
    let (Some(v), Some(l), true) = (&c.value, &c.limit, c.applicable) else {
        return format!(
            "  check {}: {}",
            c.id,
            c.note.clone().unwrap_or_else(|| "not applicable".into())
        );
    };
    let bound = |b: Option<f64>, inf: &str| b.map(format_number).unwrap_or_else(|| inf.into());
    let what = if c.statistic == "each" {
        format!("worst of {} samples of {}", c.samples, c.measurement)
    } else if c.statistic.is_empty() {
        "value".to_string()
    } else {
        format!("{}({})", c.statistic, c.measurement)
    };
    let u = c
        .uncertainty
        .as_ref()
        .map(|b| {
            format!(
                " ± {} (U, k = {})",
                format_number(b.expanded_uncertainty),
                format_number(b.coverage_factor)
            )
        })
        .unwrap_or_default();
    let zone = match &c.decision {
        Some(d) if d.guard_band > 0.0 => format!(
            ", accepted in [{}, {}] ({})",
            bound(d.acceptance_zone.low, "-∞"),
            bound(d.acceptance_zone.high, "+∞"),
            d.outcome.as_str()
        ),
        _ => String::new(),
    };
    format!(
        "  check {}: {what} = {} {}{u}, tolerance [{}, {}] {}{zone} → {}",
        c.id,
        format_number(v.value),
        v.unit,
        bound(l.low, "-∞"),
        bound(l.high, "+∞"),
        l.unit,
        c.verdict
    )
}

/// Asks the operator on the terminal. Answers are read by a background thread, so a prompt
/// can give up: after `timeout` (the watchdog: no prompt may hang a run), or as soon as a
/// stop is requested (Ctrl-C while a prompt is waiting). End of input counts as a refusal.
pub struct ConsoleOperator {
    lines: std::sync::mpsc::Receiver<std::io::Result<String>>,
    stop: crate::runner::StopRequest,
    timeout: std::time::Duration,
}

impl ConsoleOperator {
    /// An operator reading standard input, giving up after `timeout` or on `stop`.
    pub fn new(stop: crate::runner::StopRequest, timeout: std::time::Duration) -> ConsoleOperator {
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            loop {
                let mut line = String::new();
                let read = stdin
                    .lock()
                    .read_line(&mut line)
                    .map(|n| if n == 0 { None } else { Some(line) });
                let done = !matches!(read, Ok(Some(_)));
                let sent = match read {
                    Ok(Some(line)) => send.send(Ok(line)),
                    Ok(None) => send.send(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "end of input",
                    ))),
                    Err(e) => send.send(Err(e)),
                };
                if done || sent.is_err() {
                    break;
                }
            }
        });
        ConsoleOperator {
            lines,
            stop,
            timeout,
        }
    }

    /// Shows `prompt` and waits for one line.
    fn ask(&mut self, prompt: &str) -> Result<String, String> {
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "{prompt}");
        let _ = stderr.flush();
        let deadline = std::time::Instant::now() + self.timeout;
        loop {
            if let Some(reason) = self.stop.reason() {
                return Err(format!("no answer: {reason}"));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(format!("no answer within {} s", self.timeout.as_secs()));
            }
            match self
                .lines
                .recv_timeout(left.min(std::time::Duration::from_millis(100)))
            {
                Ok(Ok(line)) => return Ok(line.trim().to_string()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(
                        "no operator input (end of input); use --yes for unattended simulated runs"
                            .into(),
                    );
                }
                Ok(Err(e)) => return Err(format!("cannot read the operator's answer: {e}")),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("no operator input (end of input)".into());
                }
            }
        }
    }
}

impl Operator for ConsoleOperator {
    fn confirm(&mut self, message: &str) -> Result<(String, bool), String> {
        let answer = self.ask(&format!(
            "\n>>> {message}\n>>> Type `yes` when done (anything else aborts): "
        ))?;
        if matches!(answer.to_ascii_lowercase().as_str(), "yes" | "y") {
            Ok((answer, false))
        } else {
            Err(format!("operator answered `{answer}`"))
        }
    }

    fn enter(&mut self, question: &str, default: Option<&str>) -> Result<(String, bool), String> {
        let hint = default
            .map(|d| format!(" (Enter for {d})"))
            .unwrap_or_default();
        let answer = self.ask(&format!("\n>>> {question}{hint}: "))?;
        match (answer.is_empty(), default) {
            (false, _) => Ok((answer, false)),
            (true, Some(d)) => Ok((d.to_string(), false)),
            (true, None) => Err("no value entered".into()),
        }
    }
}
