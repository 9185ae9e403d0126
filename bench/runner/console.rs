//! The runner's contact with people: progress for the operator, and operator prompts.
//!
//! The runner never prints or reads a terminal itself: it reports to an [`Observer`] and asks
//! an [`Operator`]. The command line supplies console implementations; tests supply their own.

use crate::journal::Entry;

/// Receives every journal entry as it is acknowledged, and transient progress lines.
pub trait Observer {
    /// A journal entry was written.
    fn entry(&mut self, entry: &Entry);
    /// A progress message that is not recorded (breath 3 of 25).
    fn progress(&mut self, message: &str);

    /// Whether progress messages are shown at all (so that nobody formats them in vain).
    fn wants_progress(&self) -> bool {
        true
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn entry(&mut self, _entry: &Entry) {}
    fn progress(&mut self, _message: &str) {}

    fn wants_progress(&self) -> bool {
        false
    }
}

/// Answers operator prompts.
pub trait Operator {
    /// Shows `message` and waits for confirmation; `Ok(true)` when confirmed.
    /// Returns the answer text and whether it was given automatically (`--yes`).
    fn confirm(&mut self, message: &str) -> Result<(String, bool), String>;

    /// Asks for a value; `default` is what an unattended run answers. Returns the answer text
    /// and whether it was given automatically.
    fn enter(&mut self, question: &str, default: Option<&str>) -> Result<(String, bool), String>;

    /// Asks a person to confirm a command that puts people at risk (an X-ray exposure on a
    /// real bench, see `hazard.rs`). Unattended operators must refuse; by default it is an
    /// ordinary confirmation.
    fn confirm_hazard(&mut self, message: &str) -> Result<(String, bool), String> {
        self.confirm(message)
    }
}

/// An operator that confirms everything: `--yes` for unattended simulated runs.
#[derive(Debug, Default)]
pub struct AssumeYes;

impl Operator for AssumeYes {
    fn confirm(&mut self, _message: &str) -> Result<(String, bool), String> {
        Ok(("yes".to_string(), true))
    }

    fn enter(&mut self, _question: &str, default: Option<&str>) -> Result<(String, bool), String> {
        match default {
            Some(d) => Ok((d.to_string(), true)),
            None => Err("a value must be entered by the operator; --yes answers only confirmations and prompts with a default".into()),
        }
    }

    fn confirm_hazard(&mut self, _message: &str) -> Result<(String, bool), String> {
        Err("--yes does not confirm X-ray exposures on a real bench: a person must".into())
    }
}
