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
//! - `report`: a record rendered as HTML (tera templates, SVG plots), CSV and JUnit XML.
#![warn(missing_docs)]

pub mod analysis;
pub mod units;
pub mod driver;
pub mod journal;
pub mod link;
pub mod record;
pub mod report;
