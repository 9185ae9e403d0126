//! `qbench sim`: the simulated bench served on real pseudo-terminals for other programs.

use crate::util::Dir;
use qbench::driver::open_driver;
use qbench::link::{SerialLink, SerialSettings};
use std::collections::BTreeMap;
use std::time::Duration;

#[test]
fn the_simulated_devices_answer_other_programs_until_ctrl_c() {
    let dir = Dir::new();
    let sim = dir.spawn(&["sim"]);
    let port = sim.served_port("ventilator");
    let link =
        SerialLink::open(&SerialSettings::new(port)).expect("open the simulated ventilator's port");
    let mut ventilator =
        open_driver("qbench-ventilator", Box::new(link), &BTreeMap::new()).expect("driver");
    let identity = ventilator.identify().expect("identity");
    assert_eq!(identity.serial, "SIM-VENT-0001");
    drop(ventilator);
    sim.signal("INT");
    let out = sim.finish(Duration::from_secs(10));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("stopped;"), "{}", out.stdout);
}
