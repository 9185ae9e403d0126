//! Telling the simulated bench where the run is, so that a fault scheduled `at_step` or
//! `at_set_point` in the fixture's `simulation:` section starts exactly there.
//!
//! The executor announces every named step as it starts it (a measurement's, check's,
//! entry's or series' id, a sweep's or repeat group's name: `step:<name>`) and every set
//! point as it enters it (`set_point:<label>`). Without a simulated bench this does nothing:
//! hardware is not told where a run is.

use super::execute::Executor;
use crate::procedure::{Step, StepKind};

impl Executor<'_> {
    /// Announces `step` by its name, if it has one.
    pub fn announce_step(&self, step: &Step) {
        let name = match &step.kind {
            StepKind::Measure { id, .. }
            | StepKind::Entry { id, .. }
            | StepKind::Collect { id, .. } => id,
            StepKind::Check(check) => &check.id,
            StepKind::Sweep(sweep) => &sweep.name,
            StepKind::Repeat(repeat) => &repeat.name,
            _ => return,
        };
        self.announce(|| format!("step:{name}"));
    }

    /// Announces the set point labelled `label`.
    pub fn announce_set_point(&self, label: &str) {
        self.announce(|| format!("set_point:{label}"));
    }

    /// Tells the simulator `mark`; the mark is only written out when there is one to tell.
    fn announce(&self, mark: impl FnOnce() -> String) {
        if let Some(simulator) = &self.bench.simulator {
            simulator.reached(&mark());
        }
    }
}
