//! Serial query/answer: the flow-analyzer driver reading one measurement from the simulated
//! analyzer over a real pseudo-terminal, 10,000 times.

mod common;

use qbench::driver::{DeviceEvent, open_driver};
use qbench::link::{SerialLink, SerialSettings};
use qbench::sim::{SimBench, SimConfig};
use qbench::units::parse_quantity;
use std::collections::BTreeMap;
use std::time::Duration;

const QUERIES: usize = 10_000;

fn main() {
    let bench = SimBench::start(&SimConfig::default(), 200.0).expect("simulated bench");
    let open = |device: &str, driver: &str, options: &[(&str, &str)]| {
        let port = bench.port(device).expect("device").display().to_string();
        let link = SerialLink::open(&SerialSettings::new(port)).expect("link");
        let options: BTreeMap<String, String> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        open_driver(driver, Box::new(link), &options).expect("driver")
    };
    let mut ventilator = open("ventilator", "qbench-ventilator", &[]);
    let mut analyzer = open(
        "flow_analyzer",
        "imt-flowanalyser",
        &[("poll_interval", "50 us")],
    );
    ventilator
        .set("tidal_volume", &parse_quantity("500 mL").expect("q"))
        .expect("set");
    ventilator.act("start").expect("start");
    analyzer
        .await_event(DeviceEvent::Breath, Duration::from_secs(5))
        .expect("a breath");

    let (result, elapsed) = common::time(|| {
        for _ in 0..QUERIES {
            analyzer.read("inspired_volume")?;
        }
        Ok::<(), qbench::driver::DriverError>(())
    });
    result.expect("every query answered");
    let per_query = elapsed.as_secs_f64() * 1e6 / QUERIES as f64;
    println!("serial: {QUERIES} queries of %RM#23 (Vti) to the simulated IMT analyzer over a pty");
    common::figure(
        "per query/answer",
        per_query,
        "µs",
        "≤ 40 µs (a Python loop on a raw pty: ~64 µs)",
    );
    let _ = ventilator.make_safe();
}
