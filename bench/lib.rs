//! qbench: a hardware-in-the-loop test and qualification bench for medical devices.
//!
//! # Layout
//!
//! Data flows from top to bottom:
//!
//! - `units`: quantities with units; every number qbench handles carries one.
//! - `link`: byte streams to instruments (serial, pseudo-terminals), with a timeout on every read.
//! - `driver`: one instrument's protocol over a link, exposed as typed capabilities.
//! - `analysis`: statistics, uncertainty and verdicts; no I/O.
#![warn(missing_docs)]

pub mod analysis;
pub mod cli;
pub mod units;
