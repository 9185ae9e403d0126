//! `qbench sim`: serve the simulated bench of a fixture on pseudo-terminals until stopped, so
//! that other tools (a terminal emulator, a vendor's software, another qbench) can talk to the
//! simulated devices exactly as to hardware.

use super::{Failure, exit};
use crate::fixture::load_fixture;
use crate::sim::SimBench;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Starts the simulated bench of `fixture`, prints each device's port, and serves until
/// Ctrl-C or SIGTERM; then prints how many requests each device received.
pub fn sim(fixture: &Path, out: &mut dyn Write) -> Result<i32, Failure> {
    let (fixture, _) = load_fixture(fixture).map_err(|e| Failure {
        message: e.to_string(),
        code: exit::INVALID,
    })?;
    let Some(config) = &fixture.simulation else {
        return Err(Failure {
            message: format!(
                "fixture `{}` has no `simulation:` section: nothing to simulate",
                fixture.name
            ),
            code: exit::INVALID,
        });
    };
    if let Some(device) = crate::sim::faults_needing_a_run(config).first() {
        return Err(Failure {
            message: format!(
                "the fault of the simulated {device} waits for a step or set point (`at_step`, `at_set_point`), which only `qbench run` announces\nschedule it with `after_requests` or `after_time` (bench time since the start) instead"
            ),
            code: exit::INVALID,
        });
    }
    let stop = super::stop_on_signals()?;
    let bench = SimBench::start(config, fixture.time_scale)
        .map_err(|e| Failure::new(&e, exit::INCOMPLETE))?;
    let _ = writeln!(
        out,
        "simulated bench `{}` (time scale {}):",
        fixture.name, fixture.time_scale
    );
    for device in crate::sim::DEVICES {
        if let Some(port) = bench.port(device) {
            let _ = writeln!(out, "  {device:<16} {}", port.display());
        }
    }
    let _ = writeln!(
        out,
        "each path stays the same when a device is unplugged and comes back (`disconnect` fault)"
    );
    let _ = writeln!(out, "serving; Ctrl-C to stop");
    let _ = out.flush();
    while stop.reason().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = bench.log();
    drop(bench);
    let _ = writeln!(out, "stopped; {} requests served", log.len());
    Ok(exit::PASS)
}
