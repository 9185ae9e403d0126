//! CANopen (CiA 301) over a [`CanBus`](crate::can::CanBus): NMT, heartbeat, SDO, PDO, EMCY.
//!
//! The frame codecs are pure functions in this module and in `sdo.rs` (shared by the client
//! and the simulated nodes, so what a simulated node answers is exactly what the client
//! parses). [`CanOpenClient`] owns a bus and holds the conversation: it sends NMT commands,
//! runs SDO transfers (expedited and segmented, both ways) with a deadline on each answer,
//! watches heartbeats and reports a silent node as [`CanOpenError::NodeLost`], decodes PDOs
//! through declared [`PdoMapping`]s into named quantities, and queues EMCY messages for the
//! caller to journal ([`CanOpenClient::drain_emergencies`]).
//!
//! `xray_generator.rs` is a [`Driver`](crate::driver::Driver) for a CANopen X-ray generator
//! with the simulated generator's object dictionary; `flat_panel_detector.rs` one for a
//! CANopen flat-panel detector with its image channel.
//!
//! Main types: [`CanOpenClient`], [`CanOpenError`], [`NmtCommand`], [`NmtState`],
//! [`Emergency`], [`PdoMapping`], [`SdoAbort`].

mod abort;
mod client;
pub mod eds;
pub mod flat_panel_detector;
mod pdo;
pub mod pdo_options;
pub mod sdo;
pub mod sdo_block;
pub mod xray_generator;

pub use abort::{SdoAbort, abort_description};
pub use client::{CanOpenClient, CanOpenError, HeartbeatStatus};
pub use pdo::{PdoError, PdoMapping, PdoSignal};

use super::{CanFrame, CanId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Function code of NMT commands (COB-ID 0x000).
pub const NMT_COB: u16 = 0x000;
/// Base COB-ID of EMCY messages (0x080 + node).
pub const EMCY_BASE: u16 = 0x080;
/// Base COB-IDs of the four default transmit PDOs (node to host).
pub const TPDO_BASE: [u16; 4] = [0x180, 0x280, 0x380, 0x480];
/// Base COB-IDs of the four default receive PDOs (host to node).
pub const RPDO_BASE: [u16; 4] = [0x200, 0x300, 0x400, 0x500];
/// Base COB-ID of SDO responses (node to host, 0x580 + node).
pub const SDO_TX_BASE: u16 = 0x580;
/// Base COB-ID of SDO requests (host to node, 0x600 + node).
pub const SDO_RX_BASE: u16 = 0x600;
/// Base COB-ID of heartbeats and boot-up messages (0x700 + node).
pub const HEARTBEAT_BASE: u16 = 0x700;

/// An NMT command (CiA 301 §7.2.8.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NmtCommand {
    /// Enter operational (PDOs flow).
    Start,
    /// Enter stopped (only NMT and heartbeat).
    Stop,
    /// Enter pre-operational (SDO, no PDO).
    EnterPreOperational,
    /// Reset the application (the node boots again).
    ResetNode,
    /// Reset the communication parameters.
    ResetCommunication,
}

impl NmtCommand {
    /// The command specifier byte.
    pub fn specifier(self) -> u8 {
        match self {
            NmtCommand::Start => 0x01,
            NmtCommand::Stop => 0x02,
            NmtCommand::EnterPreOperational => 0x80,
            NmtCommand::ResetNode => 0x81,
            NmtCommand::ResetCommunication => 0x82,
        }
    }

    /// The command of a specifier byte.
    pub fn from_specifier(cs: u8) -> Option<NmtCommand> {
        Some(match cs {
            0x01 => NmtCommand::Start,
            0x02 => NmtCommand::Stop,
            0x80 => NmtCommand::EnterPreOperational,
            0x81 => NmtCommand::ResetNode,
            0x82 => NmtCommand::ResetCommunication,
            _ => return None,
        })
    }

    /// The frame sending this command to `node` (0 for every node).
    pub fn frame(self, node: u8) -> CanFrame {
        CanFrame::raw_classic(CanId::Standard(NMT_COB), &[self.specifier(), node])
    }

    /// The command and target node of an NMT frame, if it is one.
    pub fn parse(frame: &CanFrame) -> Option<(NmtCommand, u8)> {
        match (frame.id(), frame.data_bytes()) {
            (CanId::Standard(NMT_COB), [cs, node]) if !frame.is_remote() => {
                Some((NmtCommand::from_specifier(*cs)?, *node))
            }
            _ => None,
        }
    }
}

/// A node's NMT state as its heartbeat reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NmtState {
    /// Boot-up message (sent once after a reset).
    BootUp,
    /// Stopped.
    Stopped,
    /// Operational.
    Operational,
    /// Pre-operational.
    PreOperational,
}

impl NmtState {
    /// The state byte of a heartbeat.
    pub fn byte(self) -> u8 {
        match self {
            NmtState::BootUp => 0x00,
            NmtState::Stopped => 0x04,
            NmtState::Operational => 0x05,
            NmtState::PreOperational => 0x7F,
        }
    }

    /// The state of a heartbeat byte (the toggle bit 7 is ignored).
    pub fn from_byte(b: u8) -> Option<NmtState> {
        Some(match b & 0x7F {
            0x00 => NmtState::BootUp,
            0x04 => NmtState::Stopped,
            0x05 => NmtState::Operational,
            0x7F => NmtState::PreOperational,
            _ => return None,
        })
    }
}

impl fmt::Display for NmtState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NmtState::BootUp => "boot-up",
            NmtState::Stopped => "stopped",
            NmtState::Operational => "operational",
            NmtState::PreOperational => "pre-operational",
        })
    }
}

/// The heartbeat frame of `node` in `state`.
pub fn heartbeat_frame(node: u8, state: NmtState) -> CanFrame {
    CanFrame::raw_classic(
        CanId::Standard(HEARTBEAT_BASE + u16::from(node & 0x7F)),
        &[state.byte()],
    )
}

/// The node and state of a heartbeat frame, if it is one.
pub fn parse_heartbeat(frame: &CanFrame) -> Option<(u8, NmtState)> {
    let CanId::Standard(id) = frame.id() else {
        return None;
    };
    if !(HEARTBEAT_BASE + 1..=HEARTBEAT_BASE + 127).contains(&id) || frame.is_remote() {
        return None;
    }
    match frame.data_bytes() {
        [b] => Some(((id - HEARTBEAT_BASE) as u8, NmtState::from_byte(*b)?)),
        _ => None,
    }
}

/// An emergency message (CiA 301 §7.2.7): what went wrong in a node, as it reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    /// The node that sent it.
    pub node: u8,
    /// The emergency error code (`0x0000` means "error reset or no error").
    pub code: u16,
    /// The error register (object 0x1001) at the time.
    pub register: u8,
    /// The five manufacturer-specific bytes.
    pub manufacturer: [u8; 5],
}

impl Emergency {
    /// The EMCY frame of this message.
    pub fn frame(&self) -> CanFrame {
        let c = self.code.to_le_bytes();
        let m = self.manufacturer;
        CanFrame::raw_classic(
            CanId::Standard(EMCY_BASE + u16::from(self.node & 0x7F)),
            &[c[0], c[1], self.register, m[0], m[1], m[2], m[3], m[4]],
        )
    }

    /// The emergency carried by a frame, if it is an EMCY frame.
    pub fn parse(frame: &CanFrame) -> Option<Emergency> {
        let CanId::Standard(id) = frame.id() else {
            return None;
        };
        if !(EMCY_BASE + 1..=EMCY_BASE + 127).contains(&id) || frame.is_remote() {
            return None;
        }
        let d = frame.data_bytes();
        if d.len() != 8 {
            return None;
        }
        Some(Emergency {
            node: (id - EMCY_BASE) as u8,
            code: u16::from_le_bytes([d[0], d[1]]),
            register: d[2],
            manufacturer: [d[3], d[4], d[5], d[6], d[7]],
        })
    }

    /// The class of the error code in words (CiA 301 Table 21, by its high nibbles).
    pub fn class(&self) -> &'static str {
        match self.code {
            0x0000 => "error reset or no error",
            0x1000..=0x1FFF => "generic error",
            0x2000..=0x2FFF => "current",
            0x3000..=0x3FFF => "voltage",
            0x4000..=0x4FFF => "temperature",
            0x5000..=0x5FFF => "device hardware",
            0x6000..=0x6FFF => "device software",
            0x7000..=0x7FFF => "additional modules",
            0x8000..=0x80FF => "monitoring",
            0x8100..=0x81FF => "communication",
            0x8200..=0x82FF => "protocol error",
            0x8300..=0x8FFF => "monitoring",
            0x9000..=0x9FFF => "external error",
            0xF000..=0xF0FF => "additional functions",
            0xFF00..=0xFFFF => "device specific",
            _ => "unknown class",
        }
    }
}

impl fmt::Display for Emergency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} emergency {:04X}h ({}), error register {:02X}h, manufacturer data {}",
            self.node,
            self.code,
            self.class(),
            self.register,
            hex::encode_upper(self.manufacturer)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmt_frames_round_trip() {
        for cmd in [
            NmtCommand::Start,
            NmtCommand::Stop,
            NmtCommand::EnterPreOperational,
            NmtCommand::ResetNode,
            NmtCommand::ResetCommunication,
        ] {
            let f = cmd.frame(5);
            assert_eq!(NmtCommand::parse(&f), Some((cmd, 5)));
        }
        assert_eq!(NmtCommand::Start.frame(0).to_string(), "000#0100");
    }

    #[test]
    fn heartbeats_round_trip() {
        let f = heartbeat_frame(5, NmtState::Operational);
        assert_eq!(f.to_string(), "705#05");
        assert_eq!(parse_heartbeat(&f), Some((5, NmtState::Operational)));
        let boot = heartbeat_frame(127, NmtState::BootUp);
        assert_eq!(parse_heartbeat(&boot), Some((127, NmtState::BootUp)));
        assert_eq!(parse_heartbeat(&heartbeat_frame(0, NmtState::BootUp)), None);
    }

    #[test]
    fn emergencies_decode() {
        let e = Emergency {
            node: 5,
            code: 0xFF01,
            register: 0x81,
            manufacturer: [1, 2, 3, 4, 5],
        };
        let f = e.frame();
        assert_eq!(f.to_string(), "085#01FF810102030405");
        assert_eq!(Emergency::parse(&f), Some(e.clone()));
        assert_eq!(
            e.to_string(),
            "node 5 emergency FF01h (device specific), error register 81h, manufacturer data 0102030405"
        );
    }
}
