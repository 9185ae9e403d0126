//! `qbench ports`: the serial ports this machine has, with whatever the system knows of them.
//!
//! Enumeration uses serialport without libudev: on Linux it scans `/sys/class/tty`, which
//! gives USB vendor and product identifiers, serial number, maker and product names.

use super::{Failure, exit};
use serialport::SerialPortType;
use std::io::Write;

/// Lists serial ports; exit 0 (also when there are none).
pub fn ports(out: &mut dyn Write) -> Result<i32, Failure> {
    let write_failed = |e: std::io::Error| Failure::new(&e, exit::INCOMPLETE);
    // serialport panics when /sys/class/tty is missing (some containers): check first.
    if cfg!(target_os = "linux") && !std::path::Path::new("/sys/class/tty").is_dir() {
        writeln!(
            out,
            "no serial ports found (/sys/class/tty is not available)"
        )
        .map_err(write_failed)?;
        return Ok(exit::PASS);
    }
    let mut ports = serialport::available_ports().map_err(|e| Failure {
        message: format!("cannot list serial ports: {e}"),
        code: exit::INCOMPLETE,
    })?;
    ports.sort_by(|a, b| a.port_name.cmp(&b.port_name));
    if ports.is_empty() {
        writeln!(out, "no serial ports found").map_err(write_failed)?;
        return Ok(exit::PASS);
    }
    for port in &ports {
        writeln!(out, "{}", describe(&port.port_name, &port.port_type)).map_err(write_failed)?;
    }
    Ok(exit::PASS)
}

/// One line per port: path, kind, and USB details when known.
fn describe(name: &str, kind: &SerialPortType) -> String {
    match kind {
        SerialPortType::UsbPort(usb) => {
            let mut line = format!("{name}  usb {:04x}:{:04x}", usb.vid, usb.pid);
            for (label, value) in [
                ("serial", &usb.serial_number),
                ("maker", &usb.manufacturer),
                ("product", &usb.product),
            ] {
                if let Some(v) = value {
                    line.push_str(&format!("  {label} {v}"));
                }
            }
            line
        }
        SerialPortType::PciPort => format!("{name}  pci"),
        SerialPortType::BluetoothPort => format!("{name}  bluetooth"),
        SerialPortType::Unknown => format!("{name}  (type unknown)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_ports_show_their_identifiers() {
        let usb = serialport::UsbPortInfo {
            vid: 0x0403,
            pid: 0x6001,
            serial_number: Some("A50285BI".into()),
            manufacturer: Some("FTDI".into()),
            product: None,
        };
        assert_eq!(
            describe("/dev/ttyUSB0", &SerialPortType::UsbPort(usb)),
            "/dev/ttyUSB0  usb 0403:6001  serial A50285BI  maker FTDI"
        );
        assert_eq!(
            describe("/dev/ttyS0", &SerialPortType::Unknown),
            "/dev/ttyS0  (type unknown)"
        );
    }

    #[test]
    fn listing_never_fails_on_this_machine() {
        let mut out = Vec::new();
        assert_eq!(ports(&mut out).map_err(|f| f.message), Ok(0));
        assert!(!out.is_empty());
    }
}
