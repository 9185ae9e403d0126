//! qbench: a hardware-in-the-loop test and qualification bench for medical devices.
//!
//! # Layout
//!
//! Data flows from top to bottom, one folder per stage of the pipeline:
//!
//! - `units`: quantities with units; every number qbench handles carries one.
//! - `procedure`: procedures as written (YAML with positions) and validated; the expression
//!   language of limits and set values; diagnostics with file:line:column.
//! - `fixture`: the physical bench, binding roles to drivers, links and calibrations.
//! - `link`: byte streams to instruments (serial, pseudo-terminals, TCP), with a timeout on every read.
//! - `can`: CAN frames and buses (SocketCAN, slcan adapters, in-process), CANopen, DBC signals.
//! - `protocol`: pure codecs of instrument protocols (IMT frames, qbench's line protocol, SCPI,
//!   Modbus, declarative device profiles).
//! - `driver`: one instrument's protocol over a link, exposed as typed capabilities.
//! - `sim`: the simulated bench: devices on real pseudo-terminals sharing one physical model.
//! - `runner`: validates, opens the bench, executes steps, always tears down.
//! - `journal`: the append-only, hash-chained, durable log of every event of a run.
//! - `analysis`: statistics, uncertainty and verdicts; no I/O.
//! - `imaging`: flat-panel image analysis (ROIs, uniformity, defects, NPS), TIFF/DICOM input.
//! - `record`: the single source of truth of a run, folded from its journal.
//! - `report`: a record rendered as HTML (tera templates, SVG plots), PDF, ATML, JUnit XML and CSV.
//! - `cli`: the command line; the only module that prints or reads the terminal.
#![warn(missing_docs)]

pub mod analysis;
pub mod can;
pub mod cli;
pub mod driver;
pub mod fixture;
pub mod imaging;
pub mod journal;
pub mod link;
pub mod procedure;
pub mod protocol;
pub mod record;
pub mod report;
pub mod runner;
pub mod sim;
pub mod units;
