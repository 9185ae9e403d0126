//! Reading a journal back and checking its hash chain.

use super::writer::line_hash;
use super::{Entry, GENESIS_HASH, JournalError, JournalErrorKind};
use std::io::BufRead;
use std::path::Path;

/// A journal read back from disk.
#[derive(Debug)]
pub struct ReadJournal {
    /// The entries, in order, each checked against the chain.
    pub entries: Vec<Entry>,
    /// SHA-256 of the last entry's line: the head of the chain.
    pub head: String,
    /// Whether the file ended with a torn line (a crash during a write); that line is
    /// ignored, never taken for data.
    pub torn_tail: bool,
}

/// Reads and checks the journal at `path`.
///
/// Every entry must chain to the one before it; the first error names the entry and line.
/// The file is read line by line: only the entries are held, not also the journal's text.
pub fn read_journal(path: &Path) -> Result<ReadJournal, JournalError> {
    let err = |kind| JournalError {
        path: path.to_path_buf(),
        kind,
    };
    let file = std::fs::File::open(path).map_err(|e| err(JournalErrorKind::Io(e)))?;
    parse_lines(std::io::BufReader::new(file)).map_err(err)
}

/// Checks the text of a journal; see [`read_journal`].
pub(crate) fn parse_journal(text: &str) -> Result<ReadJournal, JournalErrorKind> {
    parse_lines(text.as_bytes())
}

/// Reads a journal's lines from `input` and checks them; lines end at `\n` (or `\r\n`).
fn parse_lines(mut input: impl BufRead) -> Result<ReadJournal, JournalErrorKind> {
    let mut entries = Vec::new();
    let mut prev = GENESIS_HASH.to_string();
    let mut torn_tail = false;
    let mut buffer = String::new();
    let mut number = 0;
    loop {
        buffer.clear();
        if input.read_line(&mut buffer).map_err(JournalErrorKind::Io)? == 0 {
            break;
        }
        number += 1;
        let line = match buffer.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line),
            None => buffer.as_str(),
        };
        let complete = line.len() < buffer.len();
        let entry: Entry = match serde_json::from_str(line) {
            Ok(entry) => entry,
            // Only the very last line may be torn, and only if the file does not end with a
            // newline: a complete line that does not parse is damage, not a crash.
            Err(_) if !complete => {
                torn_tail = true;
                break;
            }
            Err(source) => {
                return Err(JournalErrorKind::Malformed {
                    line: number,
                    source,
                });
            }
        };
        let expected = entries.len() as u64;
        if entry.prev != prev {
            return Err(JournalErrorKind::BrokenChain {
                seq: entry.seq,
                line: number,
            });
        }
        if entry.seq != expected {
            return Err(JournalErrorKind::OutOfSequence {
                line: number,
                expected,
                found: entry.seq,
            });
        }
        prev = line_hash(line);
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err(JournalErrorKind::Empty);
    }
    Ok(ReadJournal {
        entries,
        head: prev,
        torn_tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{JournalSink, MemoryJournal, RunEvent};

    fn sample_journal(n: usize) -> String {
        let mut journal = MemoryJournal::default();
        for i in 0..n {
            journal
                .append(RunEvent::Error {
                    role: None,
                    message: format!("event {i}"),
                })
                .unwrap();
        }
        journal.text()
    }

    #[test]
    fn an_untouched_journal_verifies() {
        let read = parse_journal(&sample_journal(5)).unwrap();
        assert_eq!(read.entries.len(), 5);
        assert!(!read.torn_tail);
    }

    #[test]
    fn an_altered_entry_is_located() {
        let text = sample_journal(5).replacen("event 2", "event 9", 1);
        match parse_journal(&text) {
            Err(JournalErrorKind::BrokenChain { seq: 3, line: 4 }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_removed_entry_is_located() {
        let text = sample_journal(5);
        let lines: Vec<&str> = text.lines().collect();
        let without: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        assert!(matches!(
            parse_journal(&without),
            Err(JournalErrorKind::BrokenChain { line: 2, .. })
        ));
    }

    #[test]
    fn a_torn_tail_is_ignored_and_reported() {
        let mut text = sample_journal(3);
        text.push_str("{\"seq\":3,\"prev\":\"ab");
        let read = parse_journal(&text).unwrap();
        assert_eq!(read.entries.len(), 3);
        assert!(read.torn_tail);
    }

    #[test]
    fn a_journal_file_reads_as_its_text_does_and_a_damaged_line_is_still_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let whole = sample_journal(4);
        let mut text = whole.clone();
        text.push_str("{\"seq\":4,\"prev\":\"ab");
        std::fs::write(&path, &text).unwrap();
        let (from_file, from_text) = (read_journal(&path).unwrap(), parse_journal(&text).unwrap());
        assert_eq!(from_file.entries, from_text.entries);
        assert_eq!(from_file.head, from_text.head);
        assert!(from_file.torn_tail && from_text.torn_tail);
        // Lines ended by CR LF read as the same entries and chain.
        std::fs::write(&path, whole.replace('\n', "\r\n")).unwrap();
        let crlf = read_journal(&path).unwrap();
        assert_eq!(crlf.entries, from_text.entries);
        assert_eq!(crlf.head, from_text.head);
        // A complete line that does not parse is damage, named by its line.
        let damaged = whole.replacen("{", "[", 3);
        std::fs::write(&path, damaged).unwrap();
        let error = read_journal(&path).unwrap_err();
        assert!(
            matches!(error.kind, JournalErrorKind::Malformed { line: 1, .. }),
            "{error}"
        );
    }
}
