//! SDO abort codes (CiA 301 §7.2.4.3.17), decoded into words an engineer can act on.

use std::fmt;

/// The abort codes CiA 301 defines, with our own short description of each.
const TABLE: &[(u32, &str)] = &[
    (0x0503_0000, "toggle bit not alternated"),
    (0x0504_0000, "SDO protocol timed out"),
    (0x0504_0001, "command specifier not valid or unknown"),
    (0x0504_0002, "invalid block size"),
    (0x0504_0003, "invalid sequence number"),
    (0x0504_0004, "CRC error"),
    (0x0504_0005, "out of memory"),
    (0x0601_0000, "unsupported access to an object"),
    (0x0601_0001, "attempt to read a write-only object"),
    (0x0601_0002, "attempt to write a read-only object"),
    (
        0x0602_0000,
        "object does not exist in the object dictionary",
    ),
    (0x0604_0041, "object cannot be mapped to a PDO"),
    (
        0x0604_0042,
        "the mapped objects would exceed the PDO length",
    ),
    (0x0604_0043, "general parameter incompatibility"),
    (
        0x0604_0047,
        "general internal incompatibility in the device",
    ),
    (0x0606_0000, "access failed because of a hardware error"),
    (
        0x0607_0010,
        "data type does not match: length of service parameter does not match",
    ),
    (
        0x0607_0012,
        "data type does not match: length of service parameter too high",
    ),
    (
        0x0607_0013,
        "data type does not match: length of service parameter too low",
    ),
    (0x0609_0011, "subindex does not exist"),
    (0x0609_0030, "invalid value for parameter"),
    (0x0609_0031, "value of parameter written too high"),
    (0x0609_0032, "value of parameter written too low"),
    (0x0609_0036, "maximum value is less than minimum value"),
    (0x060A_0023, "resource not available: SDO connection"),
    (0x0800_0000, "general error"),
    (
        0x0800_0020,
        "data cannot be transferred or stored to the application",
    ),
    (
        0x0800_0021,
        "data cannot be transferred or stored to the application because of local control",
    ),
    (
        0x0800_0022,
        "data cannot be transferred or stored to the application because of the present device state",
    ),
    (
        0x0800_0023,
        "object dictionary not present or its dynamic generation failed",
    ),
    (0x0800_0024, "no data available"),
];

/// What an SDO abort code means, or `None` for a code CiA 301 does not define.
pub fn abort_description(code: u32) -> Option<&'static str> {
    TABLE.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
}

/// An SDO abort code, displayed with its meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SdoAbort(pub u32);

impl SdoAbort {
    /// Object does not exist.
    pub const NO_OBJECT: SdoAbort = SdoAbort(0x0602_0000);
    /// Subindex does not exist.
    pub const NO_SUBINDEX: SdoAbort = SdoAbort(0x0609_0011);
    /// Write to a read-only object.
    pub const READ_ONLY: SdoAbort = SdoAbort(0x0601_0002);
    /// Read of a write-only object.
    pub const WRITE_ONLY: SdoAbort = SdoAbort(0x0601_0001);
    /// Length does not match the object's type.
    pub const LENGTH_MISMATCH: SdoAbort = SdoAbort(0x0607_0010);
    /// Value too high.
    pub const TOO_HIGH: SdoAbort = SdoAbort(0x0609_0031);
    /// Value too low.
    pub const TOO_LOW: SdoAbort = SdoAbort(0x0609_0032);
    /// Refused because of the device's present state.
    pub const DEVICE_STATE: SdoAbort = SdoAbort(0x0800_0022);
    /// Toggle bit not alternated.
    pub const TOGGLE: SdoAbort = SdoAbort(0x0503_0000);
    /// Unknown command specifier.
    pub const BAD_COMMAND: SdoAbort = SdoAbort(0x0504_0001);
    /// Protocol timed out.
    pub const TIMED_OUT: SdoAbort = SdoAbort(0x0504_0000);
    /// General error.
    pub const GENERAL: SdoAbort = SdoAbort(0x0800_0000);

    /// The meaning, or `manufacturer-specific or unknown abort code`.
    pub fn description(self) -> &'static str {
        abort_description(self.0).unwrap_or("manufacturer-specific or unknown abort code")
    }
}

impl fmt::Display for SdoAbort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}h: {}", self.0, self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_known_and_unknown_codes() {
        assert_eq!(
            SdoAbort(0x0602_0000).to_string(),
            "06020000h: object does not exist in the object dictionary"
        );
        assert_eq!(
            SdoAbort(0x1234_5678).to_string(),
            "12345678h: manufacturer-specific or unknown abort code"
        );
        assert!(
            TABLE.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, no duplicates"
        );
    }
}
