//! PDOs declared in a CANopen node's fixture options: quantities read from transmit PDOs and
//! settings sent in receive PDOs.
//!
//! ```yaml
//! options:
//!   # A quantity read from the latest TPDO1 instead of by SDO, where the node's own mapping
//!   # (1800h/1A00h, read over SDO when the node is opened) places object 2012h sub 1.
//!   tpdo.actual_tube_voltage: "TPDO1 2012h.1 scale=0.01 unit=kV"
//!   # A quantity at declared bits of the PDO with COB-ID 185h (no SDO needed).
//!   tpdo.exposure_count: "185h 48:16"
//!   # A setting sent in RPDO1 at bits 0..15; the object is read back over SDO.
//!   rpdo.tube_voltage: "RPDO1 0:16 2000h.1 scale=0.1 unit=kV"
//! ```
//!
//! Words of an entry, in any order after the PDO: `OFFSET:BITS` (little-endian, from bit 0 of
//! byte 0, as CiA 301 packs mapped objects), `INDEXh.SUB` (the mapped object), `signed`,
//! `scale=`, `offset=` (value = raw × scale + offset), `unit=`. The PDO is `TPDO1`..`TPDO4`
//! or `RPDO1`..`RPDO4` (default COB-IDs, 180h/200h + node and so on) or a COB-ID (`185h`,
//! `0x185`). Parsing is pure; the node is asked nothing here.
//!
//! The one other option of a CANopen node is `emcy: record` (the default: emergency messages
//! are journaled and the run goes on) or `emcy: stop` (an emergency other than an error reset
//! ends the run as an instrument error, once journaled; the runner applies it).

use crate::can::dbc_device::OptionProblem;
use crate::units::parse_unit;
use std::collections::BTreeMap;

/// Which PDO an entry is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdoRef {
    /// A transmit PDO by number (1 to 4), at its default COB-ID.
    Tpdo(u8),
    /// A receive PDO by number (1 to 4), at its default COB-ID.
    Rpdo(u8),
    /// A PDO by its COB-ID.
    CobId(u16),
}

/// One quantity or setting carried in a PDO.
#[derive(Clone, Debug, PartialEq)]
pub struct PdoEntry {
    /// The quantity's or setting's name in procedures.
    pub name: String,
    /// The PDO.
    pub pdo: PdoRef,
    /// Bit offset and length, when declared.
    pub bits: Option<(u16, u8)>,
    /// The mapped object (index, subindex), when declared.
    pub object: Option<(u16, u8)>,
    /// Whether the raw value is signed.
    pub signed: bool,
    /// Raw to value.
    pub scale: f64,
    /// Added after scaling.
    pub offset: f64,
    /// Unit symbol of the value (empty for a count).
    pub unit: String,
}

impl PdoEntry {
    /// The PDO's COB-ID for `node`.
    pub fn cob_id(&self, node: u8) -> u16 {
        let node = u16::from(node);
        match self.pdo {
            PdoRef::Tpdo(n) => super::TPDO_BASE[usize::from(n.clamp(1, 4) - 1)] + node,
            PdoRef::Rpdo(n) => super::RPDO_BASE[usize::from(n.clamp(1, 4) - 1)] + node,
            PdoRef::CobId(id) => id,
        }
    }
}

/// The PDO entries of a node's options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PdoOptions {
    /// Quantities read from transmit PDOs.
    pub tpdo: Vec<PdoEntry>,
    /// Settings sent in receive PDOs.
    pub rpdo: Vec<PdoEntry>,
}

fn hex(text: &str) -> Option<u32> {
    let digits = text
        .strip_suffix('h')
        .or_else(|| text.strip_suffix('H'))
        .or_else(|| text.strip_prefix("0x"))?;
    u32::from_str_radix(digits, 16).ok()
}

fn parse_pdo(word: &str) -> Result<PdoRef, String> {
    let upper = word.to_ascii_uppercase();
    let number = |rest: &str| match rest.parse::<u8>() {
        Ok(n @ 1..=4) => Ok(n),
        _ => Err(format!("`{word}`: PDOs are numbered 1 to 4")),
    };
    if let Some(rest) = upper.strip_prefix("TPDO") {
        return Ok(PdoRef::Tpdo(number(rest)?));
    }
    if let Some(rest) = upper.strip_prefix("RPDO") {
        return Ok(PdoRef::Rpdo(number(rest)?));
    }
    match hex(word) {
        Some(id @ 0x001..=0x7FF) => Ok(PdoRef::CobId(id as u16)),
        _ => Err(format!(
            "`{word}` is not a PDO (TPDO1..TPDO4, RPDO1..RPDO4, or a COB-ID such as 185h)"
        )),
    }
}

/// Parses one entry; `transmit` for a `tpdo.` option, else `rpdo.`.
pub fn parse_entry(name: &str, text: &str, transmit: bool) -> Result<PdoEntry, String> {
    let mut words = text.split_whitespace();
    let first = words
        .next()
        .ok_or_else(|| "empty: give the PDO and the position (`TPDO1 2012h.1`)".to_string())?;
    let pdo = parse_pdo(first)?;
    match (transmit, pdo) {
        (true, PdoRef::Rpdo(_)) => return Err("a quantity is read from a TPDO, not an RPDO".into()),
        (false, PdoRef::Tpdo(_)) => return Err("a setting is sent in an RPDO, not a TPDO".into()),
        _ => {}
    }
    let mut entry = PdoEntry {
        name: name.to_string(),
        pdo,
        bits: None,
        object: None,
        signed: false,
        scale: 1.0,
        offset: 0.0,
        unit: String::new(),
    };
    let number = |key: &str, v: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`{key}={v}` is not a number"))
    };
    for word in words {
        if word == "signed" {
            entry.signed = true;
        } else if let Some(v) = word.strip_prefix("scale=") {
            entry.scale = number("scale", v)?;
            if entry.scale == 0.0 {
                return Err("scale must not be zero".into());
            }
        } else if let Some(v) = word.strip_prefix("offset=") {
            entry.offset = number("offset", v)?;
        } else if let Some(v) = word.strip_prefix("unit=") {
            parse_unit(v).map_err(|e| format!("unit `{v}`: {e}"))?;
            entry.unit = v.to_string();
        } else if let Some((offset, bits)) = word.split_once(':') {
            let (Ok(offset), Ok(bits)) = (offset.parse::<u16>(), bits.parse::<u8>()) else {
                return Err(format!("`{word}` is not OFFSET:BITS"));
            };
            if bits == 0 || bits > 64 || usize::from(offset) + usize::from(bits) > 64 {
                return Err(format!(
                    "`{word}`: {bits} bits at {offset} do not fit a PDO"
                ));
            }
            entry.bits = Some((offset, bits));
        } else if let Some((index, sub)) = word.split_once('.') {
            let (Some(index), Ok(sub)) = (hex(index), sub.parse::<u8>()) else {
                return Err(format!("`{word}` is not an object INDEXh.SUB"));
            };
            let index = u16::try_from(index).map_err(|_| format!("`{word}`: index above FFFFh"))?;
            entry.object = Some((index, sub));
        } else {
            return Err(format!(
                "`{word}`: expected OFFSET:BITS, INDEXh.SUB, signed, scale=, offset= or unit="
            ));
        }
    }
    match (transmit, entry.bits, entry.object, pdo) {
        (true, None, None, _) => Err("give the bits (`0:16`) or the mapped object (`2012h.1`)".into()),
        (true, None, Some(_), PdoRef::CobId(_)) => Err(
            "a mapping is read from the node for TPDO1..TPDO4; with a COB-ID give the bits".into(),
        ),
        (false, None, _, _) | (false, _, None, _) => Err(
            "give the bits (`0:16`) and the object the node maps there (`2000h.1`), for the read-back"
                .into(),
        ),
        _ => Ok(entry),
    }
}

/// The entry, if its unit is of the dimension of the driver's `unit`.
fn same_dimension(e: PdoEntry, unit: &str) -> Result<PdoEntry, String> {
    let theirs = parse_unit(unit).map_err(|err| err.to_string())?;
    let ours = parse_unit(&e.unit).map_err(|err| err.to_string())?;
    if ours.dimension() == theirs.dimension() {
        Ok(e)
    } else {
        Err(format!(
            "unit `{}` is not a unit of {} (`{unit}`)",
            e.unit, e.name
        ))
    }
}

/// The PDO entries of `options`: a `tpdo.` entry must name one of the driver's `quantities`,
/// an `rpdo.` entry one of its `settings` (each a name and its unit), in a unit of the same
/// dimension. Other options are refused. Every problem is reported, naming its option.
pub fn pdo_options(
    options: &BTreeMap<String, String>,
    settings: &[(&str, &str)],
    quantities: &[(&str, &str)],
) -> Result<PdoOptions, Vec<OptionProblem>> {
    let mut out = PdoOptions::default();
    let mut problems = Vec::new();
    for (key, value) in options {
        let problem = |message: String| OptionProblem {
            option: key.clone(),
            message,
        };
        let transmit = key.starts_with("tpdo.");
        if let Some(name) = key
            .strip_prefix("tpdo.")
            .or_else(|| key.strip_prefix("rpdo."))
        {
            let (known, what) = if transmit {
                (quantities, "quantity")
            } else {
                (settings, "setting")
            };
            let Some((_, unit)) = known.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
                problems.push(problem(format!(
                    "no {what} `{name}` (the driver's: {})",
                    names.join(", ")
                )));
                continue;
            };
            match parse_entry(name, value, transmit).and_then(|e| same_dimension(e, unit)) {
                Ok(e) if transmit => out.tpdo.push(e),
                Ok(e) => out.rpdo.push(e),
                Err(m) => problems.push(problem(m)),
            }
        } else if key == "emcy" {
            if !matches!(value.trim(), "record" | "stop") {
                problems.push(problem(format!(
                    "`{value}`: `record` (journal emergencies, the default) or `stop` (an emergency ends the run)"
                )));
            }
        } else {
            problems.push(problem(
                "unknown option of a CANopen node (known: tpdo.NAME, rpdo.SETTING, emcy)".into(),
            ));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entries_parse() {
        let e = parse_entry("kv", "TPDO1 2012h.1 scale=0.01 unit=kV", true).unwrap();
        assert_eq!(
            (e.pdo, e.object, e.bits, e.scale, e.unit.as_str()),
            (PdoRef::Tpdo(1), Some((0x2012, 1)), None, 0.01, "kV")
        );
        assert_eq!(e.cob_id(5), 0x185);
        let e = parse_entry("n", "0x285 48:16 signed offset=-3", true).unwrap();
        assert_eq!(
            (e.cob_id(5), e.bits, e.signed, e.offset),
            (0x285, Some((48, 16)), true, -3.0)
        );
        let e = parse_entry(
            "tube_voltage",
            "RPDO1 0:16 2000h.1 scale=0.1 unit=kV",
            false,
        )
        .unwrap();
        assert_eq!(e.cob_id(5), 0x205);
        for (text, transmit, says) in [
            ("TPDO5 0:8", true, "1 to 4"),
            ("RPDO1 0:8", true, "not an RPDO"),
            ("TPDO1", true, "give the bits"),
            ("185h 2012h.1", true, "give the bits"),
            ("RPDO1 0:16", false, "for the read-back"),
            ("TPDO1 60:8", true, "do not fit"),
            ("TPDO1 0:8 unit=furlong", true, "unit `furlong`"),
            ("TPDO1 0:8 colour=red", true, "expected OFFSET:BITS"),
            ("TPDO1 0:8 scale=0", true, "zero"),
        ] {
            let err = parse_entry("x", text, transmit).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn options_are_checked_each_naming_its_option() {
        let options: BTreeMap<String, String> = [
            ("tpdo.kv", "TPDO1 2012h.1 scale=0.01 unit=kV"),
            ("rpdo.tube_voltage", "RPDO1 0:16 2000h.1 scale=0.1 unit=kV"),
            ("rpdo.colour", "RPDO1 16:16 2000h.2"),
            ("speed", "fast"),
            ("emcy", "stop"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let problems =
            pdo_options(&options, &[("tube_voltage", "kV")], &[("kv", "V")]).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.option.as_str()).collect();
        assert_eq!(names, ["rpdo.colour", "speed"]);
        let wrong: BTreeMap<String, String> =
            [("tpdo.kv".to_string(), "TPDO1 0:16 unit=mA".to_string())].into();
        let problems = pdo_options(&wrong, &[], &[("kv", "kV")]).unwrap_err();
        assert!(
            problems[0].message.contains("not a unit of kv"),
            "{problems:?}"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_is_an_error_or_an_entry_never_a_panic(text in "\\PC{0,40}", transmit in any::<bool>()) {
            let _ = parse_entry("x", &text, transmit);
        }

        #[test]
        fn written_entries_parse_back(n in 1u8..=4, offset in 0u16..48, bits in 1u8..=16, index in 0x2000u16..0x5FFF, sub in any::<u8>(), scale in prop::sample::select(vec![0.1, 0.01, 1.0, 2.5]), signed in any::<bool>()) {
            let text = format!("RPDO{n} {offset}:{bits} {index:04X}h.{sub} scale={scale}{} unit=mA", if signed { " signed" } else { "" });
            let e = parse_entry("tube_current", &text, false).unwrap();
            prop_assert_eq!(e.pdo, PdoRef::Rpdo(n));
            prop_assert_eq!(e.bits, Some((offset, bits)));
            prop_assert_eq!(e.object, Some((index, sub)));
            prop_assert_eq!((e.scale, e.signed), (scale, signed));
        }
    }
}
