//! The log of every request the simulated devices received, shared by their threads.
//!
//! A bench served on its own (`qbench sim`, tests) keeps the latest [`LOG_CAPACITY`] requests
//! in memory ([`SimBench::log`](super::SimBench::log)). A bench serving a run writes them to
//! the run's `simulator.log` as they arrive ([`SimBench::log_to`](super::SimBench::log_to))
//! and keeps none: a run of many hours receives hundreds of thousands of requests, and
//! holding them until the end made the process grow for hours (about 100 bytes each) and
//! kept only the latest of them. The file is buffered: it is a diagnostic written beside the
//! journal, not the journal, so a crash may lose its last few kilobytes.

use super::SimLogLine;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most requests kept in memory when there is no file; older ones are dropped first.
pub(crate) const LOG_CAPACITY: usize = 100_000;

/// The shared request log.
pub(crate) type Log = Arc<Mutex<RequestLog>>;

/// Requests received, in memory or on their way to a file.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    /// The latest requests, while no file is attached.
    recent: VecDeque<SimLogLine>,
    /// The file requests go to, once attached.
    file: Option<(PathBuf, BufWriter<File>)>,
    /// The first error writing the file; later requests are not written.
    failed: Option<std::io::Error>,
}

/// Writing the request log to its file failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the simulator's request log {}: {source}", path.display())]
pub struct LogFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl RequestLog {
    /// A new, empty log shared by the devices.
    pub(crate) fn shared() -> Log {
        Arc::new(Mutex::new(RequestLog::default()))
    }

    /// Records one request received by `device`, `at` after the bench started.
    pub(crate) fn push(&mut self, device: &str, at: Duration, request: String) {
        if self.failed.is_some() {
            return;
        }
        if let Some((_, file)) = &mut self.file {
            if let Err(e) = write_line(file, at, device, &request) {
                self.failed = Some(e);
            }
            return;
        }
        if self.recent.len() == LOG_CAPACITY {
            self.recent.pop_front();
        }
        self.recent.push_back(SimLogLine {
            device: device.to_string(),
            at,
            request,
        });
    }

    /// The requests held in memory, oldest first.
    pub(crate) fn recent(&self) -> Vec<SimLogLine> {
        self.recent.iter().cloned().collect()
    }

    /// From now on, appends every request to `path` (created if need be) instead of keeping
    /// it; what was kept so far is written first.
    pub(crate) fn attach(&mut self, path: &Path) -> Result<(), LogFileError> {
        let fail = |source| LogFileError {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(fail)?;
        let mut file = BufWriter::new(file);
        for line in self.recent.drain(..) {
            write_line(&mut file, line.at, &line.device, &line.request).map_err(fail)?;
        }
        self.recent.shrink_to_fit();
        self.file = Some((path.to_path_buf(), file));
        Ok(())
    }

    /// Writes out what is buffered; the first error met since the file was attached.
    pub(crate) fn flush(&mut self) -> Result<(), LogFileError> {
        let Some((path, file)) = &mut self.file else {
            return Ok(());
        };
        let result = match self.failed.take() {
            Some(e) => Err(e),
            None => file.flush(),
        };
        result.map_err(|source| LogFileError {
            path: path.clone(),
            source,
        })
    }
}

/// One line of `simulator.log`: `<seconds> <device> <request>`.
fn write_line(
    file: &mut impl Write,
    at: Duration,
    device: &str,
    request: &str,
) -> std::io::Result<()> {
    writeln!(file, "{:.6} {device} {request}", at.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_file_the_latest_requests_are_kept() {
        let mut log = RequestLog::default();
        for i in 0..LOG_CAPACITY + 3 {
            log.push("ventilator", Duration::from_millis(1), format!("R{i}"));
        }
        let recent = log.recent();
        assert_eq!(recent.len(), LOG_CAPACITY);
        assert_eq!(recent[0].request, "R3");
    }

    #[test]
    fn attached_to_a_file_every_request_goes_there_in_order_and_none_is_kept() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("simulator.log");
        std::fs::write(&path, "0.000000 ventilator EARLIER RUN\n").expect("write");
        let mut log = RequestLog::default();
        log.push(
            "ventilator",
            Duration::from_micros(1_500_000),
            "MODE VC".into(),
        );
        log.attach(&path).expect("attach");
        for i in 0..LOG_CAPACITY + 10 {
            log.push("flow_analyzer", Duration::from_secs(2), format!("Q{i}"));
        }
        assert!(log.recent().is_empty(), "nothing held in memory");
        log.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + LOG_CAPACITY + 10, "appended, none dropped");
        assert_eq!(lines[0], "0.000000 ventilator EARLIER RUN");
        assert_eq!(lines[1], "1.500000 ventilator MODE VC");
        assert_eq!(lines[2], "2.000000 flow_analyzer Q0");
        assert_eq!(
            lines.last().copied(),
            Some(format!("2.000000 flow_analyzer Q{}", LOG_CAPACITY + 9).as_str())
        );
    }

    #[test]
    fn a_write_that_fails_is_reported_at_the_flush() {
        let mut log = RequestLog::default();
        log.attach(Path::new("/dev/full")).expect("attach");
        log.push("ventilator", Duration::ZERO, "R".repeat(20_000));
        let error = log.flush().expect_err("the device is full");
        assert!(error.to_string().contains("/dev/full"), "{error}");
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("missing").join("simulator.log");
        let error = RequestLog::default()
            .attach(&path)
            .expect_err("no such directory");
        assert!(error.to_string().contains("simulator.log"), "{error}");
    }
}
