//! Errors of the analysis stage.
//!
//! A failed check is a [`Verdict`](super::Verdict), never an error: an `AnalysisError` means the
//! numbers could not be computed at all (no data, a value that is not finite, a constant x, a
//! malformed accuracy specification, an unreadable table).

use crate::units::UnitError;
use std::io;
use std::path::PathBuf;

/// Why an analysis could not be carried out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// No values were given where at least one is needed.
    #[error("{what} needs at least one value, got none")]
    Empty {
        /// What was being computed.
        what: &'static str,
    },
    /// A value is NaN or infinite.
    #[error("{what}: value #{index} is not a finite number ({value})")]
    NonFinite {
        /// Which input holds the value.
        what: &'static str,
        /// The 1-based position of the value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Fewer values than the computation needs.
    #[error("{what} needs at least {needed} points, got {got}")]
    TooFewPoints {
        /// What was being computed.
        what: &'static str,
        /// The minimum number of points.
        needed: usize,
        /// The number of points given.
        got: usize,
    },
    /// Paired inputs of different lengths.
    #[error("x and y have different lengths ({x_len} and {y_len})")]
    LengthMismatch {
        /// The number of x values.
        x_len: usize,
        /// The number of y values.
        y_len: usize,
    },
    /// Every x value is the same, so the slope of a fit is undefined.
    #[error("every x value is {value}: a straight line through constant x is undefined")]
    ConstantX {
        /// The single x value.
        value: f64,
    },
    /// A parameter outside its domain (a percentile above 100, a negative uncertainty, ...).
    #[error("invalid {what}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An accuracy specification that does not parse.
    #[error("invalid accuracy specification `{text}`: {reason}")]
    AccuracySpec {
        /// The specification as written.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A unit that does not parse, or quantities whose units do not convert.
    #[error(transparent)]
    Unit(#[from] UnitError),
    /// A table (CSV text) that is malformed.
    #[error("malformed table at line {line}: {reason}")]
    MalformedTable {
        /// The 1-based line in the text.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A table without a header row.
    #[error("the table is empty: expected a header row and data rows")]
    NoHeader,
    /// A column asked for by name that the table does not have.
    #[error("no column `{name}`; the columns are: {available}")]
    MissingColumn {
        /// The name asked for.
        name: String,
        /// The headers that exist, quoted and comma-separated.
        available: String,
    },
    /// A name that matches more than one column.
    #[error("column name `{name}` is ambiguous: it matches {matches}")]
    AmbiguousColumn {
        /// The name asked for.
        name: String,
        /// The headers it matches, quoted and comma-separated.
        matches: String,
    },
    /// A cell that is not a finite number.
    #[error("row {row} (line {line}), column `{column}`: `{text}` is not a finite number")]
    NotANumber {
        /// The 1-based data row (the header is row 0).
        row: usize,
        /// The 1-based line in the file.
        line: u64,
        /// The column's header.
        column: String,
        /// The cell's text.
        text: String,
    },
    /// An empty cell where a number is needed.
    #[error("row {row} (line {line}), column `{column}`: the cell is empty")]
    EmptyCell {
        /// The 1-based data row (the header is row 0).
        row: usize,
        /// The 1-based line in the file.
        line: u64,
        /// The column's header.
        column: String,
    },
    /// A file that could not be read.
    #[error("cannot read `{path}`: {reason}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// A short description of the cause ("no such file").
        reason: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An error about the contents of a file, with the file's path.
    #[error("`{path}`: {source}", path = path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The error found in it.
        #[source]
        source: Box<AnalysisError>,
    },
    /// Output that could not be written.
    #[error("cannot write the output: {source}")]
    Write {
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl AnalysisError {
    /// Wraps this error with the path of the file it was found in.
    pub fn in_file(self, path: impl Into<PathBuf>) -> AnalysisError {
        AnalysisError::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }

    /// A read error for `path`, with a short plain-word reason.
    pub fn read(path: impl Into<PathBuf>, source: io::Error) -> AnalysisError {
        let reason = match source.kind() {
            io::ErrorKind::NotFound => "no such file".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            io::ErrorKind::InvalidData => "the file is not UTF-8 text".to_string(),
            io::ErrorKind::IsADirectory => "it is a directory".to_string(),
            other => other.to_string(),
        };
        AnalysisError::Read {
            path: path.into(),
            reason,
            source,
        }
    }

    /// An [`AnalysisError::InvalidParameter`].
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> AnalysisError {
        AnalysisError::InvalidParameter {
            what,
            reason: reason.into(),
        }
    }
}

/// Checks that `values` is non-empty and every value is finite.
pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<(), AnalysisError> {
    if values.is_empty() {
        return Err(AnalysisError::Empty { what });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(AnalysisError::NonFinite {
            what,
            index: i + 1,
            value: values[i],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_lowercase_line() {
        let errors = [
            AnalysisError::Empty { what: "a summary" },
            AnalysisError::ConstantX { value: 2.0 },
            AnalysisError::MissingColumn {
                name: "v".into(),
                available: "`a`, `b`".into(),
            },
            AnalysisError::read("data.csv", io::Error::from(io::ErrorKind::NotFound)),
            AnalysisError::ConstantX { value: 1.0 }.in_file("data.csv"),
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            let first = text.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{text}");
        }
    }

    #[test]
    fn read_error_names_the_file_and_the_cause() {
        let e = AnalysisError::read("data.csv", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(e.to_string(), "cannot read `data.csv`: no such file");
    }

    #[test]
    fn check_finite_reports_the_position() {
        let e = check_finite("x", &[1.0, f64::NAN]).unwrap_err();
        assert!(
            matches!(e, AnalysisError::NonFinite { index: 2, .. }),
            "{e}"
        );
        assert!(matches!(
            check_finite("x", &[]),
            Err(AnalysisError::Empty { .. })
        ));
        assert!(check_finite("x", &[1.0]).is_ok());
    }
}
