//! Validation diagnostics: what is wrong, at which line and column, shown with the line and a
//! caret.

use serde_saphyr::Location;
use std::fmt;
use std::path::PathBuf;

/// One problem found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, in one sentence; a hint may follow on its own line.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a parser location.
    pub fn at(location: &Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            line: usize::try_from(location.line()).unwrap_or(0),
            column: usize::try_from(location.column()).unwrap_or(0),
            message: message.into(),
        }
    }
}

/// Every problem found in one file, with the text needed to show them.
#[derive(Clone, Debug, thiserror::Error)]
pub struct ValidationError {
    /// The file validated.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// The problems, in order of position.
    pub diagnostics: Vec<Diagnostic>,
}

impl ValidationError {
    /// Builds the error, sorting diagnostics by position and dropping exact duplicates.
    pub fn new(path: PathBuf, text: String, mut diagnostics: Vec<Diagnostic>) -> ValidationError {
        diagnostics.sort_by_key(|a| (a.line, a.column));
        diagnostics.dedup();
        ValidationError {
            path,
            text,
            diagnostics,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.text.lines().collect();
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let (first, hint) = match d.message.split_once('\n') {
                Some((first, hint)) => (first, Some(hint)),
                None => (d.message.as_str(), None),
            };
            writeln!(
                f,
                "{}:{}:{}: {first}",
                self.path.display(),
                d.line,
                d.column
            )?;
            if let Some(source_line) = d.line.checked_sub(1).and_then(|l| lines.get(l)) {
                let gutter = d.line.to_string().len();
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {source_line}", d.line)?;
                let pad: String = source_line
                    .chars()
                    .take(d.column.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                write!(f, "{:gutter$} | {pad}^", "")?;
                if hint.is_some() {
                    writeln!(f)?;
                }
            }
            if let Some(hint) = hint {
                write!(f, "  = help: {hint}")?;
            }
        }
        let n = self.diagnostics.len();
        write!(
            f,
            "\n{}: {n} error{}",
            self.path.display(),
            if n == 1 { "" } else { "s" }
        )
    }
}

/// Reads a procedure, fixture or profile file, as a validation error when it cannot be read.
pub fn read_source(path: &std::path::Path) -> Result<String, ValidationError> {
    std::fs::read_to_string(path).map_err(|e| {
        let message = format!("cannot read the file: {e}");
        ValidationError::new(
            path.to_path_buf(),
            String::new(),
            vec![Diagnostic {
                line: 0,
                column: 0,
                message,
            }],
        )
    })
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance between two strings, by characters, counting a swap of two neighbours as one
/// edit (optimal string alignment): `titel` is one edit from `title`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("tidal_volme", ["tidal_volume", "rate"]),
            Some("tidal_volume")
        );
        assert_eq!(did_you_mean("xyz", ["tidal_volume", "rate"]), None);
        assert_eq!(did_you_mean("titel", ["title", "version"]), Some("title"));
    }

    #[test]
    fn shows_the_line_and_a_caret() {
        let err = ValidationError::new(
            PathBuf::from("p.yaml"),
            "id: x\nroles: 3\n".into(),
            vec![Diagnostic {
                line: 2,
                column: 8,
                message: "expected a map\nwrite roles as a map".into(),
            }],
        );
        let text = err.to_string();
        assert!(text.contains("p.yaml:2:8: expected a map"), "{text}");
        assert!(text.contains("2 | roles: 3"), "{text}");
        assert!(text.contains("  |        ^"), "{text}");
        assert!(text.contains("help: write roles as a map"), "{text}");
    }
}
