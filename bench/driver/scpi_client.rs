//! The SCPI conversation shared by the SCPI drivers: one message per line, the error queue
//! drained after every command so that an instrument's own error is never silent.
//!
//! After each program message the client asks `SYST:ERR?` until the queue reports
//! `0,"No error"` (at most [`MAX_DRAIN`] times, so a broken instrument cannot keep it
//! forever). Every entry found becomes a note ([`ScpiClient::take_notes`]) and fails the
//! command with `InstrumentRefused` naming the entries: a value read while the instrument
//! complains is not used. A query the instrument does not understand gets no answer at all
//! (IEEE 488.2 says so), so on a timeout the client asks the queue too (one `SYST:ERR?`
//! within a quarter of the timeout, the rest if it answers) and reports the
//! instrument's reason instead of a bare timeout when there is one.
//!
//! Queries are retried after a timeout or a garbled answer, up to the `retries` option (0
//! unless stated), after a growing pause (`retry.rs`) and discarding stale input; each retry
//! is noted. Commands that change the instrument are never retried: a lost answer does not
//! say whether they acted.

use super::common::protocol;
use super::retry::{is_transient, pause_before};
use super::{DriverError, DriverErrorKind, Identity};
use crate::link::ByteLink;
use crate::protocol::scpi::{self, ErrorEntry, Reading, ScpiError};
use std::time::Duration;

/// The most `SYST:ERR?` queries after one command (a standard queue holds at least 2).
pub(crate) const MAX_DRAIN: usize = 16;

/// A SCPI conversation over a byte link.
pub(crate) struct ScpiClient {
    driver: String,
    link: Box<dyn ByteLink>,
    timeout: Duration,
    retries: u32,
    notes: Vec<String>,
    /// The queue is cleared (`*CLS`) before the first command, so errors left by an earlier
    /// session are not blamed on ours; they are noted instead.
    cleared: bool,
    /// Set after a timeout or garbage: stale bytes may follow.
    resync: bool,
}

impl ScpiClient {
    /// A client for `driver` on `link`, retrying queries `retries` times.
    pub(crate) fn new(driver: impl Into<String>, link: Box<dyn ByteLink>, retries: u32) -> Self {
        let timeout = link.command_timeout();
        ScpiClient {
            driver: driver.into(),
            link,
            timeout,
            retries,
            notes: Vec::new(),
            cleared: false,
            resync: false,
        }
    }

    /// Notes taken since the last call.
    pub(crate) fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    fn link_error(&self, e: crate::link::LinkError) -> DriverError {
        DriverError::new(&self.driver, DriverErrorKind::Link(e))
    }

    fn send(&mut self, message: &str) -> Result<(), DriverError> {
        if self.resync {
            self.link.discard_input().map_err(|e| self.link_error(e))?;
            self.resync = false;
        }
        let bytes = scpi::encode(message).map_err(|e| {
            DriverError::new(
                &self.driver,
                DriverErrorKind::Unsupported {
                    what: e.to_string(),
                },
            )
        })?;
        self.link.send(&bytes).map_err(|e| self.link_error(e))
    }

    fn receive(&mut self) -> Result<Vec<u8>, crate::link::LinkError> {
        let line = self.link.receive_until(scpi::TERMINATOR, self.timeout);
        if line.is_err() {
            self.resync = true;
        }
        line
    }

    fn ensure_cleared(&mut self) -> Result<(), DriverError> {
        if self.cleared {
            return Ok(());
        }
        self.cleared = true;
        // Whatever the queue holds now predates this session: note it, then clear.
        let stale = self.drain("connecting")?;
        for entry in stale {
            self.notes
                .push(format!("error queued before qbench connected: {entry}"));
        }
        self.send("*CLS")
    }

    /// Reads the error queue until it is empty. The entries are returned, not noted.
    fn drain(&mut self, after: &str) -> Result<Vec<ErrorEntry>, DriverError> {
        let mut entries = Vec::new();
        for _ in 0..MAX_DRAIN {
            self.send("SYST:ERR?")?;
            let line = self.receive().map_err(|e| self.link_error(e))?;
            let entry = scpi::parse_error_entry(&line).map_err(|e| {
                self.resync = true;
                protocol(
                    &self.driver,
                    format!("an error-queue entry after `{after}` ({e})"),
                    &line,
                )
            })?;
            if entry.is_no_error() {
                return Ok(entries);
            }
            entries.push(entry);
        }
        self.notes.push(format!(
            "the error queue was not empty after {MAX_DRAIN} reads following `{after}`"
        ));
        Ok(entries)
    }

    /// The first error-queue entry, asked with a quarter of the timeout after a query went
    /// unanswered; `None` when the queue is empty or the instrument stays silent.
    fn why_silent(&mut self) -> Option<ErrorEntry> {
        self.send("SYST:ERR?").ok()?;
        let line = self.link.receive_until(scpi::TERMINATOR, self.timeout / 4);
        let entry = line.ok().and_then(|l| scpi::parse_error_entry(&l).ok());
        if entry.is_none() {
            self.resync = true;
        }
        entry.filter(|e| !e.is_no_error())
    }

    /// Notes `entries` and fails when there are any.
    fn check(&mut self, message: &str, entries: Vec<ErrorEntry>) -> Result<(), DriverError> {
        if entries.is_empty() {
            return Ok(());
        }
        let text: Vec<String> = entries.iter().map(ToString::to_string).collect();
        for t in &text {
            self.notes
                .push(format!("instrument error after `{message}`: {t}"));
        }
        Err(DriverError::new(
            &self.driver,
            DriverErrorKind::InstrumentRefused {
                reply: format!("{message}: {}", text.join("; ")),
            },
        ))
    }

    /// Sends a command (no answer expected) and checks the error queue.
    pub(crate) fn command(&mut self, message: &str) -> Result<(), DriverError> {
        self.ensure_cleared()?;
        self.send(message)?;
        let entries = self.drain(message)?;
        self.check(message, entries)
    }

    /// Sends a query, returns its answer line, and checks the error queue.
    pub(crate) fn query(&mut self, message: &str) -> Result<Vec<u8>, DriverError> {
        self.query_with(message, message, |line| Ok(line.to_vec()))
    }

    /// Sends a query and parses its answer with `parse`, retrying as configured. A parse
    /// failure is a protocol error naming what was expected.
    /// SCPI's not-a-number marker becomes `NotDefined` naming `what`.
    fn query_with<T>(
        &mut self,
        message: &str,
        what: &str,
        parse: impl Fn(&[u8]) -> Result<T, (String, ScpiError)>,
    ) -> Result<T, DriverError> {
        self.ensure_cleared()?;
        let mut attempt = 0;
        loop {
            let outcome = self.query_once(message, what, &parse);
            match outcome {
                Err(err) if attempt < self.retries && is_transient(&err) => {
                    attempt += 1;
                    std::thread::sleep(pause_before(attempt));
                    self.notes.push(format!(
                        "retry {attempt} of `{message}` after: {}",
                        crate::runner::error_chain(&err)
                    ));
                    self.resync = true;
                }
                Err(err) => return Err(err),
                Ok(v) => {
                    if attempt > 0 {
                        self.notes.push(format!(
                            "`{message}` succeeded after {attempt} retr{}",
                            if attempt == 1 { "y" } else { "ies" }
                        ));
                    }
                    return Ok(v);
                }
            }
        }
    }

    fn query_once<T>(
        &mut self,
        message: &str,
        what: &str,
        parse: &impl Fn(&[u8]) -> Result<T, (String, ScpiError)>,
    ) -> Result<T, DriverError> {
        self.send(message)?;
        let line = match self.receive() {
            Ok(line) => line,
            Err(e) if e.is_timeout() => {
                // An undefined query gets no answer: ask the instrument why, once, briefly,
                // so a dead instrument costs a quarter of a timeout more, not a second one.
                if let Some(first) = self.why_silent() {
                    // It is alive: read the rest of its queue at the usual pace.
                    let mut entries = vec![first];
                    entries.extend(self.drain(message).unwrap_or_default());
                    self.check(message, entries)?;
                }
                return Err(self.link_error(e));
            }
            Err(e) => return Err(self.link_error(e)),
        };
        let parsed = parse(&line);
        let entries = self.drain(message)?;
        if let Err((_, ScpiError::Undefined { .. })) = &parsed {
            // The instrument says it has no value, and usually queues why: note the reason,
            // report the more precise "not defined".
            let _ = self.check(message, entries);
            return Err(DriverError::new(
                &self.driver,
                DriverErrorKind::NotDefined {
                    quantity: what.to_string(),
                },
            ));
        }
        self.check(message, entries)?;
        parsed.map_err(|(expected, e)| {
            self.resync = true;
            protocol(
                &self.driver,
                format!("{expected} in answer to `{message}` ({e})"),
                &line,
            )
        })
    }

    /// `*IDN?` as an [`Identity`].
    pub(crate) fn identify(&mut self) -> Result<Identity, DriverError> {
        let id = self.query_with("*IDN?", "identity", |line| {
            scpi::parse_identity(line).map_err(|e| ("`maker,model,serial,firmware`".into(), e))
        })?;
        Ok(Identity {
            manufacturer: id.manufacturer,
            model: id.model,
            serial: id.serial,
            firmware: id.firmware,
        })
    }

    /// A numeric query. SCPI's not-a-number marker becomes `NotDefined` for `quantity`.
    pub(crate) fn query_number(
        &mut self,
        message: &str,
        quantity: &str,
    ) -> Result<Reading, DriverError> {
        self.query_with(message, quantity, |line| {
            scpi::parse_number(line).map_err(|e| ("a number with an optional unit".into(), e))
        })
    }

    /// A numeric query whose answer may come up to `longer` after the link's timeout: a
    /// fetch that waits for a measurement to complete (a dosimeter armed for an exposure).
    pub(crate) fn query_number_waiting(
        &mut self,
        message: &str,
        quantity: &str,
        longer: Duration,
    ) -> Result<Reading, DriverError> {
        let usual = self.timeout;
        self.timeout = usual + longer;
        let result = self.query_number(message, quantity);
        self.timeout = usual;
        result
    }

    /// `*RST`, then `*OPC?` so the reset is complete before anything else is sent.
    pub(crate) fn reset(&mut self) -> Result<(), DriverError> {
        self.command("*RST")?;
        self.command("*CLS")?;
        self.wait_complete()
    }

    /// `*OPC?`: waits until every pending operation is complete (the answer is `1`).
    pub(crate) fn wait_complete(&mut self) -> Result<(), DriverError> {
        let line = self.query("*OPC?")?;
        match scpi::answer_text(&line) {
            Ok("1") | Ok("+1") => Ok(()),
            _ => Err(protocol(&self.driver, "`1` in answer to `*OPC?`", &line)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::fake_link::FakeLink;
    use crate::link::LinkErrorKind;

    const NO_ERROR: &str = "0,\"No error\"";

    #[test]
    fn clears_first_then_drains_after_each_message() {
        let (link, log) = FakeLink::new(&[NO_ERROR, "a,b,c,d", NO_ERROR, NO_ERROR]);
        let mut c = ScpiClient::new("scpi", Box::new(link), 0);
        assert_eq!(c.identify().unwrap().serial, "c");
        c.command("OUTP OFF").unwrap();
        assert_eq!(
            log.sent(),
            vec![
                "SYST:ERR?\n",
                "*CLS\n",
                "*IDN?\n",
                "SYST:ERR?\n",
                "OUTP OFF\n",
                "SYST:ERR?\n"
            ]
        );
        assert!(c.take_notes().is_empty());
    }

    #[test]
    fn queued_errors_fail_the_command_and_are_noted() {
        let (link, _) = FakeLink::new(&[
            "-410,\"Query interrupted\"",
            NO_ERROR,
            "-222,\"Data out of range\"",
            "-221,\"Settings conflict\"",
            NO_ERROR,
        ]);
        let mut c = ScpiClient::new("scpi", Box::new(link), 0);
        let err = c.command("SOUR:PRES 900").unwrap_err();
        assert!(
            matches!(&err.kind, DriverErrorKind::InstrumentRefused { reply } if reply.contains("-222") && reply.contains("-221")),
            "{err}"
        );
        let notes = c.take_notes();
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].contains("before qbench connected"));
        assert!(notes[1].contains("Data out of range"));
    }

    #[test]
    fn an_unanswered_query_reports_the_instruments_reason() {
        let (link, _) = FakeLink::new(&[NO_ERROR]);
        let link = link
            .then_fail(LinkErrorKind::Timeout)
            .then_reply("-113,\"Undefined header\"")
            .then_reply(NO_ERROR);
        let mut c = ScpiClient::new("scpi", Box::new(link), 0);
        let err = c.query_number("MEAS:FOO?", "foo").unwrap_err();
        assert!(err.to_string().contains("Undefined header"), "{err}");
    }

    #[test]
    fn a_garbled_answer_is_retried_and_the_retry_noted() {
        let (link, _) = FakeLink::new(&[NO_ERROR, "\u{1}#!", NO_ERROR, "+1.0E+01 MBAR", NO_ERROR]);
        let mut c = ScpiClient::new("scpi", Box::new(link), 1);
        let r = c.query_number("MEAS:PRES?", "pressure").unwrap();
        assert_eq!((r.value, r.unit), (10.0, Some("mbar")));
        let notes = c.take_notes();
        assert!(notes.iter().any(|n| n.contains("retry 1")), "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("succeeded after 1 retry")),
            "{notes:?}"
        );
    }

    #[test]
    fn not_a_number_is_not_defined() {
        let (link, _) = FakeLink::new(&[NO_ERROR, "9.91E37", NO_ERROR]);
        let mut c = ScpiClient::new("scpi", Box::new(link), 0);
        let err = c
            .query_number("MEAS:PRES:PEAK?", "peak_pressure")
            .unwrap_err();
        assert!(
            matches!(err.kind, DriverErrorKind::NotDefined { .. }),
            "{err}"
        );
    }
}
