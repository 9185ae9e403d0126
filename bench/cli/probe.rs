//! `qbench probe`: opens every link of a fixture, asks every instrument its identity,
//! compares it with what the fixture declares, shows each calibration due date, and says
//! plainly what is wrong. The simulated bench is started when the fixture has `simulation:`.
//!
//! Exit codes: 0 every instrument answered as declared and is within calibration; 2 the
//! fixture is invalid; 3 something is missing, answers differently, or is past its
//! calibration due date.

use super::{Failure, exit};
use crate::driver::{Driver, Identity, open_driver};
use crate::fixture::{InstrumentConfig, load_fixture};
use crate::link::open_link;
use crate::sim::{SimBench, resolve_link};
use chrono::NaiveDate;
use std::io::Write;
use std::path::Path;

/// Calibrations due within this many days are flagged (not a failure).
const DUE_SOON_DAYS: i64 = 30;

/// What probing one instrument found.
#[derive(Debug, Default)]
struct Finding {
    lines: Vec<String>,
    problems: Vec<String>,
}

/// Probes the fixture at `path` and returns the exit code.
pub fn probe(path: &Path, out: &mut dyn Write) -> Result<i32, Failure> {
    let (fixture, _) = load_fixture(path).map_err(|e| Failure {
        message: format!("invalid fixture, nothing was probed\n{e}"),
        code: exit::INVALID,
    })?;
    let simulator = match &fixture.simulation {
        Some(config) => Some(
            SimBench::start(config, fixture.time_scale)
                .map_err(|e| Failure::new(&e, exit::INCOMPLETE))?,
        ),
        None => None,
    };
    let today = chrono::Local::now().date_naive();
    let w = |e: std::io::Error| Failure::new(&e, exit::INCOMPLETE);
    writeln!(out, "fixture {} ({})", fixture.name, path.display()).map_err(w)?;
    let mut problems = Vec::new();
    for (role, config) in &fixture.instruments {
        let finding = probe_one(config, simulator.as_ref(), today);
        writeln!(out, "\n{role}: driver {}", config.driver).map_err(w)?;
        for line in &finding.lines {
            writeln!(out, "  {line}").map_err(w)?;
        }
        for p in &finding.problems {
            writeln!(out, "  PROBLEM: {p}").map_err(w)?;
            problems.push(format!("{role}: {p}"));
        }
    }
    writeln!(out).map_err(w)?;
    if problems.is_empty() {
        writeln!(
            out,
            "all {} instruments answered as the fixture declares and are within calibration",
            fixture.instruments.len()
        )
        .map_err(w)?;
        Ok(exit::PASS)
    } else {
        writeln!(out, "{} problem(s):", problems.len()).map_err(w)?;
        for p in &problems {
            writeln!(out, "  - {p}").map_err(w)?;
        }
        Ok(exit::INCOMPLETE)
    }
}

fn probe_one(config: &InstrumentConfig, simulator: Option<&SimBench>, today: NaiveDate) -> Finding {
    let mut f = Finding::default();
    if let Some(can) = &config.can {
        match crate::runner::open_can_node("probe", config, can, simulator, None) {
            Ok((mut driver, link)) => {
                f.lines.push(format!("link: {link}"));
                identify(config, driver.as_mut(), &mut f);
            }
            Err(e) => f.problems.push(format!(
                "cannot reach the node: {}",
                crate::runner::error_chain(&e)
            )),
        }
        calibration(config, today, &mut f);
        return f;
    }
    match config.link_settings() {
        None => f
            .lines
            .push("link: none (operated by hand, identity not asked)".into()),
        Some(declared) => match resolve_link(&declared, simulator) {
            Err(reason) => f
                .problems
                .push(format!("cannot reach {}: {reason}", declared.describe())),
            Ok(settings) => {
                let shown = if settings == declared {
                    declared.describe()
                } else {
                    format!(
                        "{} (simulated, {})",
                        declared.describe(),
                        settings.describe()
                    )
                };
                f.lines.push(format!("link: {shown}"));
                match open_link(&settings) {
                    Err(e) => f.problems.push(format!(
                        "cannot open the link: {}",
                        crate::runner::error_chain(&e)
                    )),
                    Ok(link) => match open_driver(&config.driver, link, &config.options) {
                        Err(e) => f.problems.push(format!(
                            "cannot open the driver: {}",
                            crate::runner::error_chain(&e)
                        )),
                        Ok(mut driver) => identify(config, driver.as_mut(), &mut f),
                    },
                }
            }
        },
    }
    calibration(config, today, &mut f);
    f
}

fn identify(config: &InstrumentConfig, driver: &mut dyn Driver, f: &mut Finding) {
    let identity = match driver.identify() {
        Ok(i) => i,
        Err(e) => {
            f.problems.push(format!(
                "no identity: {} (is it connected and powered, on the right port and settings?)",
                crate::runner::error_chain(&e)
            ));
            return;
        }
    };
    let Identity {
        manufacturer,
        model,
        serial,
        firmware,
    } = &identity;
    f.lines.push(format!(
        "identity: maker `{manufacturer}`, model `{model}`, serial `{serial}`, firmware `{firmware}`"
    ));
    let expected = &config.identity;
    for (field, want, got) in [
        ("maker", &expected.manufacturer, manufacturer),
        ("model", &expected.model, model),
        ("serial", &expected.serial, serial),
    ] {
        if let Some(want) = want
            && want != got
        {
            f.problems.push(format!(
                "answers with {field} `{got}`, the fixture declares `{want}` (another instrument?)"
            ));
        }
    }
    for note in driver.take_notes() {
        f.lines.push(format!("instrument note: {note}"));
    }
}

fn calibration(config: &InstrumentConfig, today: NaiveDate, f: &mut Finding) {
    let certificate = config
        .calibration_certificate
        .as_deref()
        .unwrap_or("no certificate recorded");
    match config.calibration_due {
        None => f
            .lines
            .push(format!("calibration: {certificate}, no due date")),
        Some(due) => {
            let days = (due - today).num_days();
            if days < 0 {
                f.lines
                    .push(format!("calibration: {certificate}, due {due}"));
                f.problems
                    .push(format!("calibration expired on {due} ({} days ago)", -days));
            } else if days <= DUE_SOON_DAYS {
                f.lines.push(format!(
                    "calibration: {certificate}, due {due} (in {days} days: plan the recalibration)"
                ));
            } else {
                f.lines.push(format!(
                    "calibration: {certificate}, due {due} (in {days} days)"
                ));
            }
        }
    }
}
