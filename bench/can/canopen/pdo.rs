//! PDO reception through a declared mapping: which bits of which PDO are which quantity.
//!
//! CANopen packs mapped objects into a PDO little-endian, in mapping order, from bit 0. A
//! fixture declares the mapping it expects (as the node's 1A00h.. objects state it); each
//! entry names the quantity, its bit offset and length, signedness, and the scale and
//! offset that turn the raw integer into a value in a unit (`value = raw * scale + offset`).

use crate::units::{Quantity, Unit, UnitError, parse_unit};
use serde::{Deserialize, Serialize};

/// One mapped object in a PDO.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdoSignal {
    /// The quantity's name in procedures (`actual_kv`).
    pub name: String,
    /// The object it maps (index), for documentation and checks against the node.
    #[serde(default)]
    pub index: u16,
    /// The object's subindex.
    #[serde(default)]
    pub subindex: u8,
    /// First bit in the PDO's data (bit 0 is the least significant bit of byte 0).
    pub bit_offset: u16,
    /// Bits, 1 to 64.
    pub bit_length: u8,
    /// Whether the raw value is two's-complement signed.
    #[serde(default)]
    pub signed: bool,
    /// Multiplier from raw value to the unit (1 unless stated).
    #[serde(default = "one")]
    pub scale: f64,
    /// Added after scaling (0 unless stated).
    #[serde(default)]
    pub offset: f64,
    /// Unit symbol of the scaled value (`kV`, `mA`, `ms`; empty for a count).
    #[serde(default)]
    pub unit: String,
}

fn one() -> f64 {
    1.0
}

/// A PDO's mapping: its COB-ID and the signals it carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdoMapping {
    /// The COB-ID the PDO is sent with (`0x185` for TPDO1 of node 5).
    pub cob_id: u16,
    /// The mapped signals.
    pub signals: Vec<PdoSignal>,
}

/// Why a mapping cannot be used, or a PDO not decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdoError {
    /// A signal's bits do not fit.
    #[error("signal `{name}`: {bits} bits at offset {offset} do not fit a PDO of {available} bits")]
    DoesNotFit {
        /// The signal.
        name: String,
        /// Its offset.
        offset: u16,
        /// Its length.
        bits: u8,
        /// Bits available (64 for a classic frame; the frame's length when decoding).
        available: usize,
    },
    /// A signal's unit is not known.
    #[error("signal `{name}`: bad unit")]
    Unit {
        /// The signal.
        name: String,
        /// The cause.
        #[source]
        source: UnitError,
    },
}

/// Reads `len` bits little-endian from `data` at `offset`; `None` if they do not fit.
pub(crate) fn read_bits(data: &[u8], offset: usize, len: usize) -> Option<u64> {
    if len == 0 || len > 64 || offset + len > data.len() * 8 {
        return None;
    }
    let mut v = 0u64;
    for i in 0..len {
        let bit = offset + i;
        if data[bit / 8] >> (bit % 8) & 1 == 1 {
            v |= 1 << i;
        }
    }
    Some(v)
}

/// Writes the low `len` bits of `value` little-endian into `data` at `offset`.
pub(crate) fn write_bits(data: &mut [u8], offset: usize, len: usize, value: u64) {
    for i in 0..len.min(64) {
        let bit = offset + i;
        if bit / 8 >= data.len() {
            return;
        }
        if value >> i & 1 == 1 {
            data[bit / 8] |= 1 << (bit % 8);
        } else {
            data[bit / 8] &= !(1 << (bit % 8));
        }
    }
}

impl PdoSignal {
    fn unit(&self) -> Result<Unit, PdoError> {
        parse_unit(&self.unit).map_err(|source| PdoError::Unit {
            name: self.name.clone(),
            source,
        })
    }

    fn does_not_fit(&self, available: usize) -> PdoError {
        PdoError::DoesNotFit {
            name: self.name.clone(),
            offset: self.bit_offset,
            bits: self.bit_length,
            available,
        }
    }

    /// The scaled value of this signal in `data`.
    pub fn decode(&self, data: &[u8]) -> Result<Quantity, PdoError> {
        let len = usize::from(self.bit_length);
        let raw = read_bits(data, usize::from(self.bit_offset), len)
            .ok_or_else(|| self.does_not_fit(data.len() * 8))?;
        let value = if self.signed && len < 64 && raw >> (len - 1) & 1 == 1 {
            (raw | (u64::MAX << len)) as i64 as f64
        } else if self.signed {
            raw as i64 as f64
        } else {
            raw as f64
        };
        Ok(Quantity::new(
            value * self.scale + self.offset,
            self.unit()?,
        ))
    }
}

impl PdoMapping {
    /// Checks every signal fits a classic 8-byte PDO and has a known unit.
    pub fn validate(&self) -> Result<(), PdoError> {
        for s in &self.signals {
            let end = usize::from(s.bit_offset) + usize::from(s.bit_length);
            if s.bit_length == 0 || s.bit_length > 64 || end > 64 {
                return Err(s.does_not_fit(64));
            }
            s.unit()?;
        }
        Ok(())
    }

    /// Every signal's value in a PDO's data, in mapping order.
    pub fn decode(&self, data: &[u8]) -> Result<Vec<(String, Quantity)>, PdoError> {
        self.signals
            .iter()
            .map(|s| Ok((s.name.clone(), s.decode(data)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signal(
        name: &str,
        offset: u16,
        bits: u8,
        signed: bool,
        scale: f64,
        unit: &str,
    ) -> PdoSignal {
        PdoSignal {
            name: name.into(),
            index: 0x2010,
            subindex: 1,
            bit_offset: offset,
            bit_length: bits,
            signed,
            scale,
            offset: 0.0,
            unit: unit.into(),
        }
    }

    #[test]
    fn decodes_little_endian_scaled_signals() {
        let mapping = PdoMapping {
            cob_id: 0x185,
            signals: vec![
                signal("kv", 0, 16, false, 0.01, "kV"),
                signal("delta", 16, 8, true, 1.0, ""),
                signal("flag", 24, 1, false, 1.0, ""),
            ],
        };
        mapping.validate().unwrap();
        let data = [0x58, 0x1B, 0xFE, 0x01];
        let values = mapping.decode(&data).unwrap();
        assert_eq!(values[0].0, "kv");
        assert!((values[0].1.value - 70.0).abs() < 1e-9);
        assert_eq!(values[0].1.unit.symbol(), "kV");
        assert_eq!(values[1].1.value, -2.0);
        assert_eq!(values[2].1.value, 1.0);
        // A PDO shorter than its mapping is an error, not a zero.
        assert!(mapping.decode(&data[..2]).is_err());
    }

    #[test]
    fn refuses_mappings_that_do_not_fit() {
        let m = PdoMapping {
            cob_id: 0x185,
            signals: vec![signal("x", 60, 8, false, 1.0, "")],
        };
        assert!(matches!(m.validate(), Err(PdoError::DoesNotFit { .. })));
        let m = PdoMapping {
            cob_id: 0x185,
            signals: vec![signal("x", 0, 8, false, 1.0, "furlong")],
        };
        assert!(matches!(m.validate(), Err(PdoError::Unit { .. })));
    }

    proptest! {
        #[test]
        fn bits_written_read_back(offset in 0usize..64, len in 1usize..=64, value in any::<u64>()) {
            prop_assume!(offset + len <= 64);
            let mut data = [0xA5u8; 8];
            write_bits(&mut data, offset, len, value);
            let mask = if len == 64 { u64::MAX } else { (1 << len) - 1 };
            prop_assert_eq!(read_bits(&data, offset, len), Some(value & mask));
        }
    }
}
