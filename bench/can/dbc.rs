//! DBC-described signals: a device's messages and signals read from a DBC file (with the
//! `can-dbc` parser), and signals encoded into and decoded from frames by name.
//!
//! A signal is `raw * factor + offset` in its unit, `size` bits at `start_bit`, little-endian
//! (Intel, `@1`: `start_bit` is the least significant bit) or big-endian (Motorola, `@0`:
//! `start_bit` is the most significant bit, in DBC's sawtooth numbering), signed or not. A
//! multiplexed signal (`m3`) is present only when the message's multiplexor (`M`) has that
//! value. The file is turned into qbench's own [`MessageSpec`]s at load, so nothing of the
//! parser's types leaks out. Float signals (`SIG_VALTYPE_`) are not handled yet.

use super::{CanFrame, CanId};
use crate::units::{Quantity, parse_unit};
use std::collections::BTreeMap;
use std::path::Path;

/// Byte order of a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// Intel: least significant bit first.
    LittleEndian,
    /// Motorola: most significant bit first.
    BigEndian,
}

/// How a signal takes part in multiplexing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Multiplexing {
    /// Always present.
    Plain,
    /// The message's multiplexor switch.
    Multiplexor,
    /// Present when the multiplexor has this value.
    Multiplexed(u64),
}

/// One signal of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalSpec {
    /// Name.
    pub name: String,
    /// Start bit (see the module documentation for its meaning per byte order).
    pub start_bit: u16,
    /// Bits, 1 to 64.
    pub size: u8,
    /// Byte order.
    pub byte_order: ByteOrder,
    /// Whether the raw value is two's-complement signed.
    pub signed: bool,
    /// Scale from raw to physical.
    pub factor: f64,
    /// Offset added after scaling.
    pub offset: f64,
    /// Physical minimum as the file states it (0 and 0 mean "not stated").
    pub min: f64,
    /// Physical maximum as the file states it.
    pub max: f64,
    /// Unit as the file writes it (`kV`, `degC`, empty).
    pub unit: String,
    /// Multiplexing role.
    pub multiplexing: Multiplexing,
}

/// One message of a DBC file.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageSpec {
    /// Name.
    pub name: String,
    /// Identifier.
    pub id: CanId,
    /// Data length in bytes.
    pub size: usize,
    /// Signals.
    pub signals: Vec<SignalSpec>,
}

/// One decoded signal.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedSignal {
    /// The signal's name.
    pub name: String,
    /// Physical value (`raw * factor + offset`).
    pub value: f64,
    /// Raw value as an integer (sign-extended for signed signals).
    pub raw: i128,
    /// Unit as the file writes it.
    pub unit: String,
}

impl DecodedSignal {
    /// The value as a quantity, if qbench knows its unit.
    pub fn quantity(&self) -> Option<Quantity> {
        parse_unit(&self.unit)
            .ok()
            .map(|u| Quantity::new(self.value, u))
    }
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedMessage {
    /// The message's name.
    pub name: String,
    /// Its signals present in this frame, in file order.
    pub signals: Vec<DecodedSignal>,
}

impl DecodedMessage {
    /// A signal by name.
    pub fn signal(&self, name: &str) -> Option<&DecodedSignal> {
        self.signals.iter().find(|s| s.name == name)
    }
}

/// Errors loading a DBC file or using its signals.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbcError {
    /// The file cannot be read.
    #[error("cannot read DBC file {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid DBC.
    #[error("invalid DBC")]
    Parse(#[source] can_dbc::DbcError),
    /// A signal's layout does not fit its message.
    #[error("signal `{signal}` of message `{message}`: {reason}")]
    Layout {
        /// The message.
        message: String,
        /// The signal.
        signal: String,
        /// What is wrong.
        reason: String,
    },
    /// No message has this name.
    #[error("no message `{0}` in the DBC file")]
    UnknownMessage(String),
    /// The message has no signal of this name.
    #[error("message `{message}` has no signal `{signal}`")]
    UnknownSignal {
        /// The message.
        message: String,
        /// The signal asked for.
        signal: String,
    },
    /// A value does not fit the signal's raw range (or the range its file states).
    #[error("{value} is out of range for signal `{signal}` ({min} to {max})")]
    OutOfRange {
        /// The signal.
        signal: String,
        /// The value given.
        value: f64,
        /// Smallest physical value.
        min: f64,
        /// Largest physical value.
        max: f64,
    },
    /// Multiplexed signals that cannot be in one frame together.
    #[error("signal `{signal}` needs multiplexor value {needs}, but the frame has {has}")]
    Multiplexing {
        /// The signal.
        signal: String,
        /// The multiplexor value it needs.
        needs: u64,
        /// The value the frame has.
        has: u64,
    },
    /// A frame too short for its message.
    #[error("frame {frame} is shorter than message `{message}` ({size} bytes)")]
    ShortFrame {
        /// The frame.
        frame: String,
        /// The message.
        message: String,
        /// The message's length.
        size: usize,
    },
}

/// The bit positions of a signal, most significant first; `None` if they leave the data.
fn positions(s: &SignalSpec, bytes: usize) -> Option<Vec<usize>> {
    let total = bytes * 8;
    let size = usize::from(s.size);
    if size == 0 || size > 64 {
        return None;
    }
    let start = usize::from(s.start_bit);
    match s.byte_order {
        ByteOrder::LittleEndian => {
            if start + size > total {
                return None;
            }
            Some((start..start + size).rev().collect())
        }
        ByteOrder::BigEndian => {
            let mut bit = start;
            let mut out = Vec::with_capacity(size);
            for i in 0..size {
                if bit >= total {
                    return None;
                }
                out.push(bit);
                if i + 1 < size {
                    bit = if bit % 8 == 0 { bit + 15 } else { bit - 1 };
                }
            }
            Some(out)
        }
    }
}

/// Reads a signal's raw bits (unsigned) from `data`.
pub fn unpack(s: &SignalSpec, data: &[u8]) -> Option<u64> {
    let pos = positions(s, data.len())?;
    Some(pos.iter().fold(0u64, |acc, &bit| {
        (acc << 1) | u64::from(data[bit / 8] >> (bit % 8) & 1)
    }))
}

/// Writes a signal's raw bits into `data`; false if they do not fit.
pub fn pack(s: &SignalSpec, data: &mut [u8], raw: u64) -> bool {
    let Some(pos) = positions(s, data.len()) else {
        return false;
    };
    let n = pos.len();
    for (i, &bit) in pos.iter().enumerate() {
        let v = raw >> (n - 1 - i) & 1;
        if v == 1 {
            data[bit / 8] |= 1 << (bit % 8);
        } else {
            data[bit / 8] &= !(1 << (bit % 8));
        }
    }
    true
}

impl SignalSpec {
    /// The raw integer range: `(min, max)`.
    fn raw_range(&self) -> (i128, i128) {
        let bits = u32::from(self.size);
        if self.signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        }
    }

    /// The raw integer of a physical value, rounded to the signal's resolution.
    pub fn to_raw(&self, value: f64) -> Result<u64, DbcError> {
        let (lo, hi) = self.raw_range();
        let phys = |r: i128| r as f64 * self.factor + self.offset;
        let (pmin, pmax) = if self.factor >= 0.0 {
            (phys(lo), phys(hi))
        } else {
            (phys(hi), phys(lo))
        };
        let raw = ((value - self.offset) / self.factor).round();
        if !raw.is_finite() || raw < lo as f64 || raw > hi as f64 {
            return Err(DbcError::OutOfRange {
                signal: self.name.clone(),
                value,
                min: pmin,
                max: pmax,
            });
        }
        let mask = if self.size == 64 {
            u64::MAX
        } else {
            (1u64 << self.size) - 1
        };
        Ok((raw as i128 as u64) & mask)
    }

    /// The physical value of a raw integer, and the raw value sign-extended.
    pub fn from_raw(&self, raw: u64) -> (f64, i128) {
        let bits = u32::from(self.size);
        let r = if self.signed && bits < 64 && raw >> (bits - 1) & 1 == 1 {
            raw as i128 - (1i128 << bits)
        } else if self.signed {
            raw as i64 as i128
        } else {
            raw as i128
        };
        (r as f64 * self.factor + self.offset, r)
    }
}

/// The messages and signals of one DBC file.
#[derive(Clone, Debug, Default)]
pub struct DbcDatabase {
    messages: Vec<MessageSpec>,
    by_id: BTreeMap<CanId, usize>,
}

impl DbcDatabase {
    /// Reads and checks a DBC file.
    pub fn from_file(path: &Path) -> Result<DbcDatabase, DbcError> {
        let text = std::fs::read_to_string(path).map_err(|source| DbcError::Io {
            path: path.display().to_string(),
            source,
        })?;
        DbcDatabase::parse(&text)
    }

    /// Parses and checks DBC text.
    pub fn parse(text: &str) -> Result<DbcDatabase, DbcError> {
        let dbc = can_dbc::Dbc::try_from(text).map_err(DbcError::Parse)?;
        let mut db = DbcDatabase::default();
        for m in &dbc.messages {
            let id = match m.id {
                can_dbc::MessageId::Standard(id) => CanId::standard(id),
                can_dbc::MessageId::Extended(id) => CanId::extended(id),
            }
            .map_err(|e| DbcError::Layout {
                message: m.name.clone(),
                signal: String::new(),
                reason: e.to_string(),
            })?;
            let size = m.size as usize;
            let mut signals = Vec::with_capacity(m.signals.len());
            for s in &m.signals {
                let num = |v: can_dbc::NumericValue| match v {
                    can_dbc::NumericValue::Uint(u) => u as f64,
                    can_dbc::NumericValue::Int(i) => i as f64,
                    can_dbc::NumericValue::Double(d) => d,
                };
                let spec = SignalSpec {
                    name: s.name.clone(),
                    start_bit: u16::try_from(s.start_bit).unwrap_or(u16::MAX),
                    size: u8::try_from(s.size).unwrap_or(u8::MAX),
                    byte_order: match s.byte_order {
                        can_dbc::ByteOrder::LittleEndian => ByteOrder::LittleEndian,
                        can_dbc::ByteOrder::BigEndian => ByteOrder::BigEndian,
                    },
                    signed: s.value_type == can_dbc::ValueType::Signed,
                    factor: s.factor,
                    offset: s.offset,
                    min: num(s.min),
                    max: num(s.max),
                    unit: s.unit.clone(),
                    multiplexing: match s.multiplexer_indicator {
                        can_dbc::MultiplexIndicator::Plain => Multiplexing::Plain,
                        can_dbc::MultiplexIndicator::Multiplexor => Multiplexing::Multiplexor,
                        can_dbc::MultiplexIndicator::MultiplexedSignal(v)
                        | can_dbc::MultiplexIndicator::MultiplexorAndMultiplexedSignal(v) => {
                            Multiplexing::Multiplexed(v)
                        }
                    },
                };
                if positions(&spec, size).is_none() {
                    return Err(DbcError::Layout {
                        message: m.name.clone(),
                        signal: s.name.clone(),
                        reason: format!(
                            "{} bits at bit {} do not fit {} bytes",
                            s.size, s.start_bit, size
                        ),
                    });
                }
                if spec.factor == 0.0 || !spec.factor.is_finite() {
                    return Err(DbcError::Layout {
                        message: m.name.clone(),
                        signal: s.name.clone(),
                        reason: "factor is zero or not finite".into(),
                    });
                }
                signals.push(spec);
            }
            db.by_id.insert(id, db.messages.len());
            db.messages.push(MessageSpec {
                name: m.name.clone(),
                id,
                size,
                signals,
            });
        }
        Ok(db)
    }

    /// Every message, in file order.
    pub fn messages(&self) -> &[MessageSpec] {
        &self.messages
    }

    /// A message by name.
    pub fn message(&self, name: &str) -> Option<&MessageSpec> {
        self.messages.iter().find(|m| m.name == name)
    }

    /// A message by identifier.
    pub fn message_by_id(&self, id: CanId) -> Option<&MessageSpec> {
        self.by_id.get(&id).map(|&i| &self.messages[i])
    }

    /// Encodes a frame of `message` with the given physical values; signals not given are
    /// zero raw. A multiplexed signal sets the multiplexor to its value unless the
    /// multiplexor is given too, in which case they must agree.
    pub fn encode(&self, message: &str, values: &[(&str, f64)]) -> Result<CanFrame, DbcError> {
        let m = self
            .message(message)
            .ok_or_else(|| DbcError::UnknownMessage(message.to_string()))?;
        let mut data = vec![0u8; m.size];
        let mut mux: Option<(u64, String)> = None;
        let find = |name: &str| {
            m.signals
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| DbcError::UnknownSignal {
                    message: m.name.clone(),
                    signal: name.to_string(),
                })
        };
        let mut agree = |value: u64, who: &str| -> Result<(), DbcError> {
            match &mux {
                Some((v, _)) if *v != value => Err(DbcError::Multiplexing {
                    signal: who.to_string(),
                    needs: value,
                    has: *v,
                }),
                _ => {
                    mux = Some((value, who.to_string()));
                    Ok(())
                }
            }
        };
        for (name, value) in values {
            let s = find(name)?;
            let raw = s.to_raw(*value)?;
            match s.multiplexing {
                Multiplexing::Multiplexor => agree(raw, name)?,
                Multiplexing::Multiplexed(v) => agree(v, name)?,
                Multiplexing::Plain => {}
            }
            pack(s, &mut data, raw);
        }
        if let Some((value, _)) = mux
            && let Some(switch) = m
                .signals
                .iter()
                .find(|s| s.multiplexing == Multiplexing::Multiplexor)
        {
            pack(switch, &mut data, value);
        }
        CanFrame::data(m.id, &data)
            .or_else(|_| CanFrame::fd(m.id, &data, false))
            .map_err(|e| DbcError::Layout {
                message: m.name.clone(),
                signal: String::new(),
                reason: e.to_string(),
            })
    }

    /// Decodes a frame: `None` if no message has its identifier.
    pub fn decode(&self, frame: &CanFrame) -> Result<Option<DecodedMessage>, DbcError> {
        let Some(m) = self.message_by_id(frame.id()) else {
            return Ok(None);
        };
        let data = frame.data_bytes();
        if data.len() < m.size {
            return Err(DbcError::ShortFrame {
                frame: frame.to_string(),
                message: m.name.clone(),
                size: m.size,
            });
        }
        let data = &data[..m.size];
        let switch = m
            .signals
            .iter()
            .find(|s| s.multiplexing == Multiplexing::Multiplexor)
            .and_then(|s| unpack(s, data));
        let signals = m
            .signals
            .iter()
            .filter(|s| match s.multiplexing {
                Multiplexing::Multiplexed(v) => switch == Some(v),
                _ => true,
            })
            .filter_map(|s| {
                let raw = unpack(s, data)?;
                let (value, raw) = s.from_raw(raw);
                Some(DecodedSignal {
                    name: s.name.clone(),
                    value,
                    raw,
                    unit: s.unit.clone(),
                })
            })
            .collect();
        Ok(Some(DecodedMessage {
            name: m.name.clone(),
            signals,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn demo() -> DbcDatabase {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/dbc/qbench_demo.dbc");
        DbcDatabase::from_file(&path).expect("the demo DBC loads")
    }

    #[test]
    fn loads_messages_and_signals() {
        let db = demo();
        assert_eq!(db.messages().len(), 2);
        let m = db.message("Diagnostics").unwrap();
        assert_eq!(m.id, CanId::Extended(0x200));
        let t = &db.message("GeneratorStatus").unwrap().signals[2];
        assert_eq!(
            (t.byte_order, t.signed, t.unit.as_str()),
            (ByteOrder::BigEndian, true, "degC")
        );
    }

    #[test]
    fn encodes_and_decodes_by_name() {
        let db = demo();
        let f = db
            .encode(
                "GeneratorStatus",
                &[
                    ("ActualKv", 81.25),
                    ("ActualMa", 200.0),
                    ("TubeTemp", -3.5),
                    ("Ready", 1.0),
                ],
            )
            .unwrap();
        assert_eq!(f.id(), CanId::Standard(0x100));
        // 81.25 kV is raw 8125 = 0x1FBD, little-endian; -3.5 °C is raw 165 = 0x0A5 in the
        // high 12 bits of bytes 4–5 (big-endian).
        assert_eq!(&f.data_bytes()[..2], &[0xBD, 0x1F]);
        assert_eq!(&f.data_bytes()[4..7], &[0x0A, 0x50, 0x01]);
        let d = db.decode(&f).unwrap().unwrap();
        assert_eq!(d.name, "GeneratorStatus");
        assert!((d.signal("ActualKv").unwrap().value - 81.25).abs() < 1e-9);
        assert!((d.signal("TubeTemp").unwrap().value + 3.5).abs() < 1e-9);
        assert_eq!(d.signal("Ready").unwrap().value, 1.0);
        let kv = d.signal("ActualKv").unwrap().quantity().unwrap();
        assert_eq!(kv.unit.symbol(), "kV");
        assert!(
            db.decode(&CanFrame::data(CanId::Standard(1), &[]).unwrap())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn multiplexed_signals_follow_their_switch() {
        let db = demo();
        let f = db
            .encode(
                "Diagnostics",
                &[("HeaterCurrent", -1.5), ("Uptime", 3600.0)],
            )
            .unwrap();
        let d = db.decode(&f).unwrap().unwrap();
        assert_eq!(d.signal("Page").unwrap().value, 1.0);
        assert!((d.signal("HeaterCurrent").unwrap().value + 1.5).abs() < 1e-9);
        assert!(d.signal("SupplyVoltage").is_none());
        assert_eq!(d.signal("Uptime").unwrap().value, 3600.0);
        let err = db
            .encode("Diagnostics", &[("Page", 0.0), ("HeaterCurrent", 1.0)])
            .unwrap_err();
        assert!(
            matches!(
                err,
                DbcError::Multiplexing {
                    needs: 1,
                    has: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn refuses_out_of_range_values_and_unknown_names() {
        let db = demo();
        let err = db
            .encode("GeneratorStatus", &[("ActualKv", 700.0)])
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("700 is out of range for signal `ActualKv`"),
            "{err}"
        );
        assert!(matches!(
            db.encode("Nope", &[]),
            Err(DbcError::UnknownMessage(_))
        ));
        assert!(matches!(
            db.encode("GeneratorStatus", &[("Nope", 1.0)]),
            Err(DbcError::UnknownSignal { .. })
        ));
        let short = CanFrame::data(CanId::Standard(0x100), &[1, 2]).unwrap();
        assert!(matches!(
            db.decode(&short),
            Err(DbcError::ShortFrame { .. })
        ));
    }

    #[test]
    fn refuses_invalid_files_and_layouts() {
        assert!(matches!(
            DbcDatabase::parse("BO_ nonsense"),
            Err(DbcError::Parse(_))
        ));
        let text = "VERSION \"\"\n\nNS_ :\n\nBS_:\n\nBU_: A\n\nBO_ 1 M: 2 A\n SG_ S : 8|16@1+ (1,0) [0|0] \"\" A\n";
        assert!(matches!(
            DbcDatabase::parse(text),
            Err(DbcError::Layout { .. })
        ));
    }

    fn arb_signal() -> impl Strategy<Value = SignalSpec> {
        (
            1u8..=32,
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(vec![1.0, 0.5, 0.1, 0.01, 0.125, 2.0, -0.25]),
            -100.0f64..100.0,
            0u16..64,
        )
            .prop_filter_map(
                "fits in 8 bytes",
                |(size, big, signed, factor, offset, start)| {
                    let s = SignalSpec {
                        name: "s".into(),
                        start_bit: start,
                        size,
                        byte_order: if big {
                            ByteOrder::BigEndian
                        } else {
                            ByteOrder::LittleEndian
                        },
                        signed,
                        factor,
                        offset,
                        min: 0.0,
                        max: 0.0,
                        unit: String::new(),
                        multiplexing: Multiplexing::Plain,
                    };
                    positions(&s, 8).map(|_| s)
                },
            )
    }

    proptest! {
        #[test]
        fn packing_then_unpacking_gives_the_value_back(s in arb_signal(), fraction in 0.0f64..1.0, background in any::<[u8; 8]>()) {
            let (lo, hi) = s.raw_range();
            let raw = lo + ((hi - lo) as f64 * fraction) as i128;
            let value = raw as f64 * s.factor + s.offset;
            let mut data = background;
            prop_assert!(pack(&s, &mut data, s.to_raw(value).unwrap()));
            let (back, raw_back) = s.from_raw(unpack(&s, &data).unwrap());
            prop_assert_eq!(raw_back, raw);
            prop_assert!((back - value).abs() <= s.factor.abs() / 2.0 + 1e-9, "{} vs {}", back, value);
            // Bits outside the signal are untouched.
            let pos = positions(&s, 8).unwrap();
            for bit in 0..64 {
                if !pos.contains(&bit) {
                    prop_assert_eq!(data[bit / 8] >> (bit % 8) & 1, background[bit / 8] >> (bit % 8) & 1);
                }
            }
        }

        #[test]
        fn multiplexed_messages_round_trip_page_by_page(page in 0u64..2, a in 0.0f64..1.0, b in 0.0f64..1.0) {
            // The demo's `Diagnostics`: page 0 carries SupplyVoltage, page 1 HeaterCurrent
            // (signed) in the same bits; Uptime (big-endian) is in every page.
            let db = demo();
            let uptime = (b * 16_777_215.0).round();
            let (name, value) = if page == 0 {
                ("SupplyVoltage", (a * 65.535 * 1000.0).round() / 1000.0)
            } else {
                ("HeaterCurrent", ((a - 0.5) * 655.0 * 100.0).round() / 100.0)
            };
            let f = db.encode("Diagnostics", &[(name, value), ("Uptime", uptime)]).unwrap();
            let d = db.decode(&f).unwrap().unwrap();
            prop_assert_eq!(d.signal("Page").map(|s| s.raw), Some(page as i128));
            prop_assert!((d.signal(name).unwrap().value - value).abs() < 1e-6);
            prop_assert_eq!(d.signal("Uptime").unwrap().value, uptime);
            let other = if page == 0 { "HeaterCurrent" } else { "SupplyVoltage" };
            prop_assert!(d.signal(other).is_none());
        }

        #[test]
        fn values_between_steps_round_to_the_resolution(s in arb_signal(), fraction in 0.0f64..1.0) {
            let (lo, hi) = s.raw_range();
            let (a, b) = (lo as f64 * s.factor + s.offset, hi as f64 * s.factor + s.offset);
            let value = a + (b - a) * fraction;
            let mut data = [0u8; 8];
            pack(&s, &mut data, s.to_raw(value).unwrap());
            let (back, _) = s.from_raw(unpack(&s, &data).unwrap());
            prop_assert!((back - value).abs() <= s.factor.abs() / 2.0 + 1e-6 * value.abs().max(1.0));
        }
    }
}
