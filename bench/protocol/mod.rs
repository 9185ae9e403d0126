//! Protocol codecs: pure functions from requests to bytes and from bytes to replies.
//!
//! Nothing here does I/O, sleeps or keeps state between calls: the drivers own the link and
//! the conversation, the simulated devices own their state, and both share these codecs so
//! that what the simulator answers is exactly what a driver parses. Every parser takes
//! arbitrary bytes and returns an error rather than panicking (checked with proptest).
//!
//! - `image_frame`: the image channel of flat-panel detectors (frame header, CRC-32).
//! - `imt`: the RS-232 frames of IMT Analytics gas-flow analyzers (FlowAnalyser, CITREX).
//! - `fast_data`: the resynchronising decoder of those analyzers' fast-data packet stream.
//! - `line_ascii`: qbench's line protocol for device service ports (ventilator, test lung),
//!   documented in `docs/ventilator-service-port.md`.
//! - `modbus`: Modbus PDUs, RTU and TCP framing, CRC-16, register conversions.
//! - `profile`: declarative device profiles (YAML): validation, templates, answer patterns.
//! - `slcan`: the Lawicel ASCII protocol of serial-line CAN adapters (CANable, USBtin).
//! - `scpi`: SCPI / IEEE 488.2 answers (identities, error-queue entries, numbers with units).

pub mod fast_data;
pub mod image_frame;
pub mod imt;
pub mod line_ascii;
pub mod modbus;
pub mod profile;
pub mod scpi;
pub mod slcan;
