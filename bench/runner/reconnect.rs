//! Lost links and their return: a cable pulled or a USB serial adapter unplugged mid-run.
//!
//! When a driver call fails because the instrument's port went away or hung up (link error
//! kind `disconnected`), the executor marks the role lost. The error itself ends the step as
//! any instrument error does; what happens next is the procedure's retry policy: a `repeat`
//! group with `retry_on: [error]` runs its steps again, and the first use of the lost
//! instrument then reopens it ([`Executor::restore_link`]): the link at the path the fixture
//! names, a new driver, its identity asked and compared with the one it gave when the run
//! opened it. The journal records `link_lost` once, then `link_restored` (or the error that
//! ended the wait). Without a retry the run ends with ERROR naming the instrument; teardown
//! then tries to reopen it too, so the safe-state command still has a chance to reach it.
//!
//! Reopening is tried every [`RECONNECT_POLL`] for at most [`RECONNECT_WINDOW_S`] seconds of
//! bench time (real time on a real bench; on a simulated bench at a high time scale, never
//! less than [`RECONNECT_FLOOR`]), which is how long an unplugged adapter has to come back
//! per use. A CANopen node's adapter is not reopened: its bus log would start again.

use super::RunError;
use super::bench::{Handle, reopen_instrument};
use super::execute::Executor;
use crate::driver::{DriverError, Identity};
use crate::journal::RunEvent;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Bench seconds a lost instrument has to come back, each time it is needed.
pub const RECONNECT_WINDOW_S: f64 = 10.0;

/// The shortest real wait for a lost instrument, whatever the time scale.
pub const RECONNECT_FLOOR: Duration = Duration::from_millis(250);

/// How often reopening a lost link is tried.
pub const RECONNECT_POLL: Duration = Duration::from_millis(10);

/// What the executor knows about links: the identity each instrument gave when opened, and
/// the links lost since.
#[derive(Debug, Default)]
pub struct Links {
    /// Lost links by role: the error that showed it, and whether it is journaled yet. In a
    /// cell because errors are wrapped where the executor is only borrowed.
    lost: RefCell<BTreeMap<String, Lost>>,
    /// The identity each role answered with when the run opened it.
    identities: BTreeMap<String, Identity>,
}

#[derive(Debug)]
struct Lost {
    message: String,
    journaled: bool,
}

impl Links {
    /// Remembers who `role` said it was when opened, to check it again after a reconnection.
    pub fn remember(&mut self, role: &str, identity: &Identity) {
        self.identities.insert(role.to_string(), identity.clone());
    }

    /// Marks `role` lost if `error` says its link went away.
    pub fn note_error(&self, role: &str, error: &DriverError) {
        if error.link_error().is_some_and(|e| e.is_disconnected()) {
            self.lost
                .borrow_mut()
                .entry(role.to_string())
                .or_insert_with(|| Lost {
                    message: super::error_chain(error),
                    journaled: false,
                });
        }
    }
}

impl Executor<'_> {
    /// Reopens `role`'s link if it was lost, waiting for the instrument to come back; does
    /// nothing for a role whose link is fine.
    pub fn restore_link(&mut self, role: &str) -> Result<(), RunError> {
        let unjournaled = match self.links.lost.borrow_mut().get_mut(role) {
            None => return Ok(()),
            Some(lost) if !lost.journaled => {
                lost.journaled = true;
                Some(lost.message.clone())
            }
            Some(_) => None,
        };
        if let Some(message) = unjournaled {
            self.emit(RunEvent::LinkLost {
                role: role.to_string(),
                message,
            })?;
        }
        let Some(config) = self.bench.instruments.get(role).map(|i| i.config.clone()) else {
            return Ok(());
        };
        let window = Duration::from_secs_f64(RECONNECT_WINDOW_S / self.time_scale.max(1e-9))
            .max(RECONNECT_FLOOR);
        let start = Instant::now();
        loop {
            let attempt = reopen_instrument(role, &config, self.bench.simulator.as_ref());
            let waited_s = start.elapsed().as_secs_f64();
            match attempt {
                Ok((driver, ready)) => {
                    if let Some(before) = self.links.identities.get(role)
                        && *before != ready.identity
                    {
                        return Err(RunError::IdentityMismatch {
                            role: role.to_string(),
                            field: "identity since the link was lost",
                            expected: describe(before),
                            found: describe(&ready.identity),
                        });
                    }
                    if let Some(instrument) = self.bench.instruments.get_mut(role) {
                        instrument.handle = Handle::Driver(driver);
                    }
                    self.links.lost.borrow_mut().remove(role);
                    self.emit(RunEvent::LinkRestored {
                        role: role.to_string(),
                        link: ready.link,
                        waited_s,
                    })?;
                    return self.journal_notes(role);
                }
                Err(e) if start.elapsed() >= window => {
                    return Err(RunError::LinkNotRestored {
                        role: role.to_string(),
                        driver: config.driver.clone(),
                        waited_s,
                        source: Box::new(e),
                    });
                }
                Err(_) => {}
            }
            self.sleep(RECONNECT_POLL)?;
        }
    }
}

fn describe(identity: &Identity) -> String {
    format!(
        "{} {} s/n {}",
        identity.manufacturer, identity.model, identity.serial
    )
}
