//! A minimal EDS (CiA 306 electronic data sheet) reader: object names, data types, access
//! and default values by index and subindex, so a fixture can name objects instead of
//! numbering them. Only what qbench uses is read; everything else in the file is ignored.

use std::collections::BTreeMap;
use std::path::Path;

/// A CANopen basic data type (CiA 301 Table 44), as an EDS `DataType` states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// 0x0001.
    Boolean,
    /// 0x0002, 0x0003, 0x0004, 0x0015: signed integers of 8, 16, 32, 64 bits.
    Integer(u8),
    /// 0x0005, 0x0006, 0x0007, 0x001B: unsigned integers of 8, 16, 32, 64 bits.
    Unsigned(u8),
    /// 0x0008 (32 bits) and 0x0011 (64 bits).
    Real(u8),
    /// 0x0009.
    VisibleString,
    /// 0x000A.
    OctetString,
    /// 0x000F.
    Domain,
    /// Any other code.
    Other(u16),
}

impl DataType {
    /// The type of a data type code.
    pub fn from_code(code: u16) -> DataType {
        match code {
            0x01 => DataType::Boolean,
            0x02 => DataType::Integer(8),
            0x03 => DataType::Integer(16),
            0x04 => DataType::Integer(32),
            0x15 => DataType::Integer(64),
            0x05 => DataType::Unsigned(8),
            0x06 => DataType::Unsigned(16),
            0x07 => DataType::Unsigned(32),
            0x1B => DataType::Unsigned(64),
            0x08 => DataType::Real(32),
            0x11 => DataType::Real(64),
            0x09 => DataType::VisibleString,
            0x0A => DataType::OctetString,
            0x0F => DataType::Domain,
            other => DataType::Other(other),
        }
    }

    /// The size in bytes of a fixed-size type.
    pub fn size(self) -> Option<usize> {
        match self {
            DataType::Boolean => Some(1),
            DataType::Integer(bits) | DataType::Unsigned(bits) | DataType::Real(bits) => {
                Some(usize::from(bits) / 8)
            }
            _ => None,
        }
    }
}

/// One object (or subobject) of an EDS.
#[derive(Clone, Debug, PartialEq)]
pub struct EdsObject {
    /// Index.
    pub index: u16,
    /// Subindex (0 for a simple variable).
    pub subindex: u8,
    /// `ParameterName`.
    pub name: String,
    /// `DataType`, if stated.
    pub data_type: Option<DataType>,
    /// `AccessType` as written (`ro`, `rw`, `wo`, `const`, `rww`, `rwr`).
    pub access: String,
    /// `DefaultValue` as written, if any.
    pub default: Option<String>,
}

/// Why an EDS cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdsError {
    /// The file cannot be read.
    #[error("cannot read EDS file {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not INI.
    #[error("EDS line {line}: {reason}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The objects of an EDS file.
#[derive(Clone, Debug, Default)]
pub struct Eds {
    objects: BTreeMap<(u16, u8), EdsObject>,
    names: BTreeMap<u16, String>,
}

/// `1018` → (0x1018, None); `1018sub2` → (0x1018, Some(2)); other sections → None.
fn object_section(name: &str) -> Option<(u16, Option<u8>)> {
    let lower = name.to_ascii_lowercase();
    let (index, sub) = match lower.split_once("sub") {
        Some((i, s)) => (i, Some(u8::from_str_radix(s, 16).ok()?)),
        None => (lower.as_str(), None),
    };
    if index.len() != 4 {
        return None;
    }
    Some((u16::from_str_radix(index, 16).ok()?, sub))
}

/// Reads `0x0007`, `7` or `$NODEID+0x180`-style values as far as they are plain numbers.
fn number(text: &str) -> Option<u16> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

impl Eds {
    /// Reads an EDS file.
    pub fn from_file(path: &Path) -> Result<Eds, EdsError> {
        // EDS files are often Latin-1; read bytes and keep what is valid.
        let bytes = std::fs::read(path).map_err(|source| EdsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Eds::parse(&String::from_utf8_lossy(&bytes))
    }

    /// Parses EDS text.
    pub fn parse(text: &str) -> Result<Eds, EdsError> {
        let mut eds = Eds::default();
        let mut section: Option<(u16, Option<u8>)> = None;
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let flush = |section: Option<(u16, Option<u8>)>,
                     keys: &mut BTreeMap<String, String>,
                     eds: &mut Eds| {
            if let Some((index, sub)) = section {
                let name = keys.get("parametername").cloned().unwrap_or_default();
                let sub_number = keys.get("subnumber").and_then(|v| number(v)).unwrap_or(0);
                if sub.is_none() && sub_number > 0 {
                    eds.names.insert(index, name);
                } else {
                    eds.objects.insert(
                        (index, sub.unwrap_or(0)),
                        EdsObject {
                            index,
                            subindex: sub.unwrap_or(0),
                            name,
                            data_type: keys
                                .get("datatype")
                                .and_then(|v| number(v))
                                .map(DataType::from_code),
                            access: keys
                                .get("accesstype")
                                .map(|a| a.to_ascii_lowercase())
                                .unwrap_or_default(),
                            default: keys.get("defaultvalue").cloned(),
                        },
                    );
                }
            }
            keys.clear();
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name.strip_suffix(']').ok_or_else(|| EdsError::Syntax {
                    line: i + 1,
                    reason: "section header without `]`".into(),
                })?;
                flush(section, &mut keys, &mut eds);
                section = object_section(name.trim());
                continue;
            }
            let (key, value) = line.split_once('=').ok_or_else(|| EdsError::Syntax {
                line: i + 1,
                reason: "expected `key=value`".into(),
            })?;
            keys.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        flush(section, &mut keys, &mut eds);
        Ok(eds)
    }

    /// The object at `index`/`subindex`.
    pub fn object(&self, index: u16, subindex: u8) -> Option<&EdsObject> {
        self.objects.get(&(index, subindex))
    }

    /// The first object whose name is `name` (case-insensitive), or `Record name/Sub name`.
    pub fn find(&self, name: &str) -> Option<&EdsObject> {
        if let Some((record, sub)) = name.split_once('/') {
            let index = self
                .names
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(record))
                .map(|(i, _)| *i)?;
            return self
                .objects
                .values()
                .find(|o| o.index == index && o.name.eq_ignore_ascii_case(sub));
        }
        self.objects
            .values()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// The name of a record or array (a section with subobjects).
    pub fn record_name(&self, index: u16) -> Option<&str> {
        self.names.get(&index).map(String::as_str)
    }

    /// Every object, by index and subindex.
    pub fn objects(&self) -> impl Iterator<Item = &EdsObject> {
        self.objects.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "; a small EDS\n[FileInfo]\nFileName=gen.eds\n\n[1017]\nParameterName=Producer heartbeat time\nObjectType=0x7\nDataType=0x0006\nAccessType=rw\nDefaultValue=100\n\n[1018]\nParameterName=Identity object\nObjectType=0x9\nSubNumber=5\n\n[1018sub0]\nParameterName=Highest sub-index supported\nDataType=0x0005\nAccessType=ro\nDefaultValue=4\n\n[1018sub4]\nParameterName=Serial number\nDataType=0x0007\nAccessType=RO\n\n[2003]\nParameterName=Label\nDataType=0x0009\nAccessType=rw\n";

    #[test]
    fn reads_objects_names_and_types() {
        let eds = Eds::parse(TEXT).unwrap();
        let hb = eds.object(0x1017, 0).unwrap();
        assert_eq!(hb.name, "Producer heartbeat time");
        assert_eq!(hb.data_type, Some(DataType::Unsigned(16)));
        assert_eq!(hb.data_type.and_then(DataType::size), Some(2));
        assert_eq!(hb.default.as_deref(), Some("100"));
        assert_eq!(eds.record_name(0x1018), Some("Identity object"));
        let serial = eds.find("identity object/serial number").unwrap();
        assert_eq!(
            (serial.index, serial.subindex, serial.access.as_str()),
            (0x1018, 4, "ro")
        );
        assert_eq!(
            eds.find("Label").unwrap().data_type,
            Some(DataType::VisibleString)
        );
        assert!(eds.object(0x1018, 0x10).is_none());
        assert_eq!(eds.objects().count(), 4);
    }

    #[test]
    fn refuses_broken_lines() {
        let err = Eds::parse("[1000]\nParameterName\n").unwrap_err();
        assert_eq!(err.to_string(), "EDS line 2: expected `key=value`");
        assert!(Eds::parse("[1000\n").is_err());
    }
}
