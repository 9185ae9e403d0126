//! qbench: a hardware-in-the-loop test and qualification bench for medical devices.
//!
//! # Layout
//!
//! Data flows from top to bottom:
//!
//! - `units`: quantities with units; every number qbench handles carries one.
//! - `link`: byte streams to instruments (serial, pseudo-terminals), with a timeout on every read.
//! - `protocol`: pure codecs of instrument protocols (IMT frames, qbench's line protocol).
//! - `driver`: one instrument's protocol over a link, exposed as typed capabilities.
//! - `sim`: the simulated bench: devices on real pseudo-terminals sharing one physical model.
//! - `analysis`: statistics, uncertainty and verdicts; no I/O.
#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod driver;
pub mod fixture;
pub mod journal;
pub mod link;
pub mod procedure;
pub mod protocol;
pub mod record;
pub mod report;
pub mod runner;
pub mod sim;
pub mod units;
