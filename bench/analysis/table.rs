//! Tables of measurements given as CSV text: a header row, then one row per sample.
//!
//! The caller reads the file; this module only parses text. Header cells may carry a unit,
//! as `volume [mL]` or `volume (mL)`; a column is found by its exact header or by the name
//! before the unit. Lines starting with `#` are comments. The delimiter is a comma, or a
//! semicolon when the header has semicolons and no commas (spreadsheets in decimal-comma
//! locales write those).

use super::error::AnalysisError;
use crate::units::{Unit, parse_unit};

/// A parsed table: headers and text cells, with each row's line number.
#[derive(Clone, Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

/// One numeric column of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The header as written.
    pub header: String,
    /// The name before the unit (the whole header when it has no unit).
    pub name: String,
    /// The unit in the header, when there is one qbench knows.
    pub unit: Option<Unit>,
    /// The values, in row order.
    pub values: Vec<f64>,
}

/// A header split into the name and the unit text (`volume [mL]` → `volume`, `mL`).
fn split_header(header: &str) -> (&str, Option<&str>) {
    let trimmed = header.trim();
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(body) = trimmed.strip_suffix(close)
            && let Some(at) = body.find(open)
        {
            let name = body[..at].trim();
            if !name.is_empty() {
                return (name, Some(body[at + open.len_utf8()..].trim()));
            }
        }
    }
    (trimmed, None)
}

impl Table {
    /// Parses CSV `text` with a header row.
    pub fn parse(text: &str) -> Result<Table, AnalysisError> {
        // Spreadsheets often start UTF-8 files with a byte-order mark.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let first_line = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .ok_or(AnalysisError::NoHeader)?;
        let delimiter = if !first_line.contains(',') && first_line.contains(';') {
            b';'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .delimiter(delimiter)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(csv_error)?
            .iter()
            .map(str::to_string)
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(AnalysisError::NoHeader);
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            let line = record.position().map_or(0, csv::Position::line);
            rows.push((line, record.iter().map(str::to_string).collect()));
        }
        Ok(Table { headers, rows })
    }

    /// The headers as written.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The index of the column called `name`: its exact header, or else the name before the
    /// header's unit.
    pub fn column_index(&self, name: &str) -> Result<usize, AnalysisError> {
        let wanted = name.trim();
        if let Some(i) = self.headers.iter().position(|h| h == wanted) {
            return Ok(i);
        }
        let matches: Vec<usize> = self
            .headers
            .iter()
            .enumerate()
            .filter(|(_, h)| split_header(h).0 == wanted)
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [i] => Ok(*i),
            [] => Err(AnalysisError::MissingColumn {
                name: wanted.to_string(),
                available: quoted_list(self.headers.iter()),
            }),
            many => Err(AnalysisError::AmbiguousColumn {
                name: wanted.to_string(),
                matches: quoted_list(many.iter().map(|&i| &self.headers[i])),
            }),
        }
    }

    /// The column called `name` (see [`Table::column_index`]), every cell a finite number.
    pub fn numeric_column(&self, name: &str) -> Result<Column, AnalysisError> {
        let index = self.column_index(name)?;
        let header = self.headers[index].clone();
        let (short, unit_text) = split_header(&header);
        let unit = unit_text.and_then(|u| parse_unit(u).ok());
        let mut values = Vec::with_capacity(self.rows.len());
        for (row, (line, cells)) in self.rows.iter().enumerate() {
            let text = cells.get(index).map_or("", String::as_str);
            if text.is_empty() {
                return Err(AnalysisError::EmptyCell {
                    row: row + 1,
                    line: *line,
                    column: header,
                });
            }
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => {
                    return Err(AnalysisError::NotANumber {
                        row: row + 1,
                        line: *line,
                        column: header,
                        text: text.to_string(),
                    });
                }
            }
        }
        Ok(Column {
            name: short.to_string(),
            header: header.clone(),
            unit,
            values,
        })
    }
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    items
        .map(|h| format!("`{h}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn csv_error(e: csv::Error) -> AnalysisError {
    let line = e.position().map_or(0, csv::Position::line);
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("the row has {len} cells, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the text is not valid UTF-8".to_string(),
        _ => e.to_string().to_lowercase(),
    };
    AnalysisError::MalformedTable { line, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# tidal volume check\n\
                        time [s], volume (mL), note,flow\n\
                        0, 1.5, a, 2\n\
                        1, 2.5, b, 3\n";

    #[test]
    fn finds_columns_by_header_or_by_name() {
        let t = Table::parse(TEXT).unwrap();
        assert_eq!(t.len(), 2);
        let c = t.numeric_column("volume").unwrap();
        assert_eq!(c.values, vec![1.5, 2.5]);
        assert_eq!(c.unit.unwrap().symbol(), "mL");
        assert_eq!(c.name, "volume");
        assert_eq!(t.numeric_column("time [s]").unwrap().values, vec![0.0, 1.0]);
        assert_eq!(t.numeric_column("flow").unwrap().unit, None);
    }

    #[test]
    fn missing_columns_list_the_ones_that_exist() {
        let e = Table::parse(TEXT)
            .unwrap()
            .numeric_column("pressure")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no column `pressure`; the columns are: `time [s]`, `volume (mL)`, `note`, `flow`"
        );
    }

    #[test]
    fn non_numeric_cells_name_row_line_and_text() {
        let e = Table::parse(TEXT)
            .unwrap()
            .numeric_column("note")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 1 (line 3), column `note`: `a` is not a finite number"
        );
        let t = Table::parse("x,y\n1,\n2,NaN\n").unwrap();
        assert!(matches!(
            t.numeric_column("y"),
            Err(AnalysisError::EmptyCell { row: 1, .. })
        ));
        let t = Table::parse("x,y\n1,inf\n").unwrap();
        assert!(matches!(
            t.numeric_column("y"),
            Err(AnalysisError::NotANumber { .. })
        ));
    }

    #[test]
    fn ambiguous_names_are_refused() {
        let t = Table::parse("v [mL],v [L]\n1,2\n").unwrap();
        assert!(matches!(
            t.column_index("v"),
            Err(AnalysisError::AmbiguousColumn { .. })
        ));
        assert_eq!(t.column_index("v [L]").unwrap(), 1);
    }

    #[test]
    fn ragged_rows_and_empty_text_are_malformed() {
        let e = Table::parse("x,y\n1,2\n3\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed table at line 3: the row has 1 cells, the header has 2"
        );
        assert!(matches!(Table::parse(""), Err(AnalysisError::NoHeader)));
        assert!(matches!(
            Table::parse("# only a comment\n"),
            Err(AnalysisError::NoHeader)
        ));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_header() {
        let t = Table::parse("\u{feff}x,y\n1,2\n").unwrap();
        assert_eq!(t.headers()[0], "x");
    }

    #[test]
    fn semicolon_tables() {
        let t = Table::parse("x;y\n1;2\n").unwrap();
        assert_eq!(t.numeric_column("y").unwrap().values, vec![2.0]);
    }

    #[test]
    fn headers_without_a_unit_are_whole_names() {
        assert_eq!(split_header("volume [mL]"), ("volume", Some("mL")));
        assert_eq!(split_header("volume (mL)"), ("volume", Some("mL")));
        assert_eq!(split_header("(mL)"), ("(mL)", None));
        assert_eq!(split_header("flow"), ("flow", None));
    }
}
