//! CAN: frames, buses and the protocols spoken on them (CANopen, DBC-described signals).
//!
//! A [`CanBus`] carries [`CanFrame`]s to and from one bus with a deadline on every call; it
//! knows no protocol. Backends:
//!
//! - [`slcan::SlcanBus`]: a serial-line adapter (CANable, USBtin, Lawicel CANUSB) speaking
//!   the slcan ASCII protocol over a [`ByteLink`](crate::link::ByteLink);
//! - [`socketcan::SocketCanBus`]: a Linux SocketCAN interface (`can0`, `vcan0`);
//! - [`memory::MemoryBus`]: an in-process bus for unit tests and the simulated bench.
//!
//! On top of a bus, [`canopen::CanOpenClient`] speaks CANopen (CiA 301: NMT, heartbeat, SDO,
//! PDO, EMCY) and [`dbc::DbcDatabase`] packs and unpacks DBC-described signals, which
//! [`dbc_device::DbcDevice`] drives as a fixture describes them. The codecs
//! (slcan lines in `protocol::slcan`, SDO and NMT frames in `canopen`, DBC bit packing) are
//! pure functions; only the backends do I/O. Nothing here prints, sleeps without a deadline
//! or decides a verdict.

pub mod candump;
pub mod canopen;
pub mod dbc;
pub mod dbc_device;
mod error;
pub mod frame;
pub mod memory;
pub mod shared;
pub mod slcan;
pub mod socketcan;

pub use error::CanError;

use std::collections::BTreeMap;

/// Problems with the fixture options of a CAN driver, each naming its option: a DBC device's
/// names checked against its DBC file, a CANopen node's PDO entries. None for other drivers.
pub fn option_problems(
    driver: &str,
    options: &BTreeMap<String, String>,
) -> Vec<dbc_device::OptionProblem> {
    match driver {
        dbc_device::NAME => dbc_device::configure(options).err().unwrap_or_default(),
        canopen::xray_generator::NAME => canopen::xray_generator::check_options(options)
            .err()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
pub use frame::{CanBus, CanFrame, CanId, FrameError, FrameKind};
