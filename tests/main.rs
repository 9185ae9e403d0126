//! Integration tests: the real `qbench` binary, run in fresh temporary directories against
//! the simulated bench over real pseudo-terminals.

/// Helpers: a temporary working directory and a command builder for the real binary.
mod util;

/// `qbench analyze` on good and bad CSV files.
mod analyze;
/// The CAN stage over the simulated slcan adapter: CANopen, node loss, adapter faults.
mod can;
/// A DBC-described device (the simulated collimator) driven from a fixture, no Rust.
mod can_dbc;
/// Whole runs against the simulated CANopen X-ray generator.
mod can_runs;
/// Whole runs of the flat-panel detector qualifications: pass, fail on a fault, bad frames.
mod detector_runs;
/// The durable journal under `kill -9`: no acknowledged world entry lost.
mod durable_journal;
/// `qbench verify` and `qbench report` on recorded runs.
mod evidence;
/// Image analysis on synthetic images with known answers, from the detector image model.
mod imaging;
/// Every construct of the procedure language, run on the simulated bench.
mod language;
/// Links and protocols (SCPI, Modbus, device profiles, TCP) and their faults; `probe`, `ports`.
mod links;
/// Uncertainty budgets and decision rules in real runs.
mod metrology;
/// `qbench report --format pdf|atml|junit`: the structure each consumer relies on.
mod report_formats;
/// `qbench keygen`, `sign` and `verify --key`; random tamperings of a journal, located.
mod signatures;
/// `qbench sim` serving the simulated devices to other programs.
mod sim_command;
/// Six hours of bench time with random faults on every device: kept going, recorded, flat.
mod soak;
/// Aborts, signals and crashes: teardown always runs and nothing recorded is lost.
mod survival;
/// A reference unplugged mid-run and coming back, or not; faults scheduled at a set point.
mod unplugged;
/// `qbench validate` on shipped and broken files.
mod validate;
/// `qbench run` of the pressure, rate and oxygen qualifications: pass, and fail on a fault.
mod ventilator_procedures;
/// `qbench run` of the ventilator volume-accuracy qualification: pass, fail, instrument loss.
mod ventilator_run;
/// Waveform capture from the flow analyzer's fast data: packets, breaths, faults, timeouts.
mod waveform;
/// The X-ray generator qualifications with the SCPI dosimeter: pass, a failing output, a
/// missed exposure, and the person an exposure on a real bench needs.
mod xray_runs;
