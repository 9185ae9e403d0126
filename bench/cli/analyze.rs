//! `qbench analyze`: offline analysis of a CSV file of measurements.
//!
//! This is the only place the analysis commands touch the outside world: it reads the file,
//! hands the text to [`Table`], the numbers to [`Summary`] or [`LinearFit`], and writes either
//! a small aligned table for a person (values rounded to 12 significant digits, so that
//! 1.9899999999999998 reads 1.99) or one JSON object on one line for a program (every digit:
//! serde_json writes the shortest text that reads back to the same f64).

use crate::analysis::{AnalysisError, Column, LinearFit, Summary, Table};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `analyze` subcommands.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum AnalyzeCommand {
    /// Fit a straight line y = intercept + slope·x by ordinary least squares.
    LinearFit {
        /// CSV file with a header row; headers may carry units, as `volume [mL]`.
        csv: PathBuf,
        /// The column of x values (its header, or the name before its unit).
        #[arg(long)]
        x: String,
        /// The column of y values (its header, or the name before its unit).
        #[arg(long)]
        y: String,
        /// Print one JSON object on one line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Summary statistics of one column: n, mean, standard deviation, CV, min, max.
    Summary {
        /// CSV file with a header row; headers may carry units, as `volume [mL]`.
        csv: PathBuf,
        /// The column to summarise (its header, or the name before its unit).
        #[arg(long)]
        column: String,
        /// Print one JSON object on one line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The `--json` output of `analyze linear-fit`.
#[derive(Serialize)]
struct FitReport {
    n: usize,
    slope: f64,
    intercept: f64,
    slope_std_error: f64,
    intercept_std_error: f64,
    residual_std_dev: f64,
    r_squared: f64,
    max_abs_deviation: f64,
    max_rel_deviation: Option<f64>,
}

/// Runs `command`, writing its result to `out`.
///
/// Errors about the file's contents carry the file's path; the caller maps any error to the
/// exit code for invalid input.
pub fn run(command: &AnalyzeCommand, out: &mut dyn Write) -> Result<(), AnalysisError> {
    match command {
        AnalyzeCommand::LinearFit { csv, x, y, json } => {
            let table = read_table(csv)?;
            let (xc, yc) = (column(&table, x, csv)?, column(&table, y, csv)?);
            let fit = LinearFit::new(&xc.values, &yc.values).map_err(|e| e.in_file(csv))?;
            if *json {
                let linearity = fit.linearity();
                let report = FitReport {
                    n: fit.n,
                    slope: fit.slope,
                    intercept: fit.intercept,
                    slope_std_error: fit.slope_std_error,
                    intercept_std_error: fit.intercept_std_error,
                    residual_std_dev: fit.residual_std_dev,
                    r_squared: fit.r_squared,
                    max_abs_deviation: linearity.max_abs_deviation,
                    max_rel_deviation: linearity.max_rel_deviation,
                };
                write_json(out, &report)
            } else {
                write_fit(out, csv, &xc, &yc, &fit)
            }
        }
        AnalyzeCommand::Summary {
            csv,
            column: name,
            json,
        } => {
            let table = read_table(csv)?;
            let c = column(&table, name, csv)?;
            let summary = Summary::of(&c.values).map_err(|e| e.in_file(csv))?;
            if *json {
                write_json(out, &summary)
            } else {
                write_summary(out, csv, &c, &summary)
            }
        }
    }
}

fn read_table(path: &Path) -> Result<Table, AnalysisError> {
    let text = std::fs::read_to_string(path).map_err(|e| AnalysisError::read(path, e))?;
    Table::parse(&text).map_err(|e| e.in_file(path))
}

fn column(table: &Table, name: &str, path: &Path) -> Result<Column, AnalysisError> {
    table.numeric_column(name).map_err(|e| e.in_file(path))
}

fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> Result<(), AnalysisError> {
    let line = serde_json::to_string(value).map_err(|e| AnalysisError::Write {
        source: std::io::Error::other(e),
    })?;
    writeln!(out, "{line}").map_err(|source| AnalysisError::Write { source })
}

/// One line of a human-readable table: label, value, unit.
type Line = (&'static str, String, String);

fn write_lines(out: &mut dyn Write, title: &str, lines: &[Line]) -> Result<(), AnalysisError> {
    let label_width = lines.iter().map(|l| l.0.chars().count()).max().unwrap_or(0);
    let value_width = lines.iter().map(|l| l.1.chars().count()).max().unwrap_or(0);
    let mut text = format!("{title}\n");
    for (label, value, unit) in lines {
        let row = format!("  {label:<label_width$}  {value:>value_width$}  {unit}");
        text.push_str(row.trim_end());
        text.push('\n');
    }
    out.write_all(text.as_bytes())
        .map_err(|source| AnalysisError::Write { source })
}

/// `value` rounded to 12 significant digits, without trailing zeros; an exponent outside
/// 1e-5 ..= 1e15.
fn human(value: f64) -> String {
    const DIGITS: i32 = 12;
    if value == 0.0 || !value.is_finite() {
        return value.to_string();
    }
    let magnitude = value.abs().log10().floor() as i32;
    if (-5..15).contains(&magnitude) {
        let decimals = (DIGITS - 1 - magnitude).max(0) as usize;
        let text = format!("{value:.decimals$}");
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            text
        }
    } else {
        let text = format!("{value:.11e}");
        match text.split_once('e') {
            Some((mantissa, exponent)) if mantissa.contains('.') => {
                format!(
                    "{}e{exponent}",
                    mantissa.trim_end_matches('0').trim_end_matches('.')
                )
            }
            _ => text,
        }
    }
}

fn unit_of(c: &Column) -> String {
    c.unit
        .as_ref()
        .map(|u| u.symbol().to_string())
        .unwrap_or_default()
}

/// The unit of a slope, y unit per x unit, when both are known.
fn slope_unit(x: &Column, y: &Column) -> String {
    match (&x.unit, &y.unit) {
        (Some(xu), Some(yu)) => {
            let xs = xu.symbol();
            if xs.contains(['/', '*', '·', ' ']) {
                format!("{}/({xs})", yu.symbol())
            } else {
                format!("{}/{xs}", yu.symbol())
            }
        }
        (None, Some(yu)) => format!("{} per x unit", yu.symbol()),
        _ => String::new(),
    }
}

fn write_fit(
    out: &mut dyn Write,
    path: &Path,
    x: &Column,
    y: &Column,
    fit: &LinearFit,
) -> Result<(), AnalysisError> {
    let lin = fit.linearity();
    let (yu, su) = (unit_of(y), slope_unit(x, y));
    let lines: Vec<Line> = vec![
        ("points", fit.n.to_string(), String::new()),
        ("slope", human(fit.slope), su.clone()),
        ("intercept", human(fit.intercept), yu.clone()),
        ("slope standard error", human(fit.slope_std_error), su),
        (
            "intercept standard error",
            human(fit.intercept_std_error),
            yu.clone(),
        ),
        (
            "residual standard deviation",
            human(fit.residual_std_dev),
            yu.clone(),
        ),
        ("R²", human(fit.r_squared), String::new()),
        (
            "max deviation from linearity",
            human(lin.max_abs_deviation),
            yu,
        ),
        (
            "max relative deviation",
            lin.max_rel_deviation
                .map_or("n/a".to_string(), |r| human(r * 100.0)),
            if lin.max_rel_deviation.is_some() {
                "%".to_string()
            } else {
                String::new()
            },
        ),
    ];
    let title = format!(
        "linear fit of `{}` on `{}` ({})",
        y.header,
        x.header,
        path.display()
    );
    write_lines(out, &title, &lines)
}

fn write_summary(
    out: &mut dyn Write,
    path: &Path,
    c: &Column,
    s: &Summary,
) -> Result<(), AnalysisError> {
    let u = unit_of(c);
    let lines: Vec<Line> = vec![
        ("n", s.n.to_string(), String::new()),
        ("mean", human(s.mean), u.clone()),
        ("standard deviation", human(s.std_dev), u.clone()),
        (
            "coefficient of variation",
            s.cv.map_or("n/a".to_string(), |cv| human(cv * 100.0)),
            if s.cv.is_some() {
                "%".to_string()
            } else {
                String::new()
            },
        ),
        ("min", human(s.min), u.clone()),
        ("max", human(s.max), u.clone()),
        ("standard error of the mean", human(s.std_error_of_mean), u),
    ];
    write_lines(
        out,
        &format!("summary of `{}` ({})", c.header, path.display()),
        &lines,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(header: &str, unit: Option<&str>) -> Column {
        Column {
            header: header.to_string(),
            name: header.to_string(),
            unit: unit.map(|u| crate::units::parse_unit(u).unwrap()),
            values: vec![],
        }
    }

    /// The subcommands parse as documented in design.md.
    #[test]
    fn command_line_shape() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Analyze {
            #[command(subcommand)]
            command: AnalyzeCommand,
        }
        let a = Analyze::try_parse_from([
            "analyze",
            "linear-fit",
            "d.csv",
            "--x",
            "mAs",
            "--y",
            "kerma",
            "--json",
        ])
        .unwrap();
        assert_eq!(
            a.command,
            AnalyzeCommand::LinearFit {
                csv: "d.csv".into(),
                x: "mAs".into(),
                y: "kerma".into(),
                json: true
            }
        );
        let a = Analyze::try_parse_from(["analyze", "summary", "d.csv", "--column", "volume [mL]"])
            .unwrap();
        assert_eq!(
            a.command,
            AnalyzeCommand::Summary {
                csv: "d.csv".into(),
                column: "volume [mL]".into(),
                json: false
            }
        );
        assert!(Analyze::try_parse_from(["analyze", "linear-fit", "d.csv", "--x", "a"]).is_err());
    }

    #[test]
    fn slope_units_read_as_y_per_x() {
        let x = column("t", Some("s"));
        let y = column("v", Some("mL"));
        assert_eq!(slope_unit(&x, &y), "mL/s");
        let x = column("f", Some("L/min"));
        assert_eq!(slope_unit(&x, &y), "mL/(L/min)");
        assert_eq!(slope_unit(&column("x", None), &column("y", None)), "");
    }

    #[test]
    fn human_numbers_have_twelve_significant_digits() {
        assert_eq!(human(1.9899999999999998), "1.99");
        assert_eq!(human(0.000429796848199937), "0.0004297968482");
        assert_eq!(human(-177.435), "-177.435");
        assert_eq!(human(10000000.2), "10000000.2");
        assert_eq!(human(1e20), "1e20");
        assert_eq!(human(1.234e-9), "1.234e-9");
        assert_eq!(human(0.0), "0");
        assert_eq!(human(500.0), "500");
    }

    #[test]
    fn tables_align_values_on_the_right() {
        let mut out = Vec::new();
        let lines: Vec<Line> = vec![
            ("a", "1".to_string(), "mL".to_string()),
            ("longer", "-10.5".to_string(), String::new()),
        ];
        write_lines(&mut out, "title", &lines).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "title\n  a           1  mL\n  longer  -10.5\n");
    }
}
