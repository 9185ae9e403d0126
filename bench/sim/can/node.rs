//! What every simulated CANopen node shares: an object dictionary and an SDO server.
//!
//! The server speaks the same codec as the client (`can::canopen::sdo`), expedited and
//! segmented, both ways. A node supplies reads and writes through [`SdoTarget`], so a write
//! can have an effect (a controlword starting an exposure) and be refused with an abort code.

use crate::can::canopen::SdoAbort;
use crate::can::canopen::sdo::{Initiate, SdoRequest, SdoResponse};
use std::collections::BTreeMap;

/// How an object may be accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read-only (the node may change it).
    Ro,
    /// Read and write.
    Rw,
}

/// One object (index, subindex) of a dictionary.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) access: Access,
    pub(crate) value: Vec<u8>,
    /// Fixed length for numbers; `None` for strings (up to 255 bytes).
    pub(crate) len: Option<usize>,
    /// Inclusive range for unsigned numbers.
    pub(crate) range: Option<(u64, u64)>,
}

/// An object dictionary: typed storage with access rights and ranges.
#[derive(Clone, Debug, Default)]
pub(crate) struct ObjectDictionary {
    entries: BTreeMap<(u16, u8), Entry>,
}

fn to_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

impl ObjectDictionary {
    /// A dictionary holding the CiA 301 objects every simulated node has: device type and
    /// error register, device name (1008h), software version (100Ah), producer heartbeat
    /// time (1017h, writable) and the identity object (1018h: qbench's vendor id, the
    /// node's `product_code`, revision 1.0 and `serial`).
    pub(crate) fn with_identity(
        device_name: &str,
        product_code: u64,
        heartbeat_ms: u16,
        serial: u32,
    ) -> ObjectDictionary {
        let mut od = ObjectDictionary::default();
        od.number(0x1000, 0, Access::Ro, 4, 0, None);
        od.number(0x1001, 0, Access::Ro, 1, 0, None);
        od.string(0x1008, 0, Access::Ro, device_name);
        od.string(0x100A, 0, Access::Ro, env!("CARGO_PKG_VERSION"));
        od.number(0x1017, 0, Access::Rw, 2, u64::from(heartbeat_ms), None);
        od.number(0x1018, 0, Access::Ro, 1, 4, None);
        od.number(0x1018, 1, Access::Ro, 4, 0x0051_4245, None);
        od.number(0x1018, 2, Access::Ro, 4, product_code, None);
        od.number(0x1018, 3, Access::Ro, 4, 0x0001_0000, None);
        od.number(0x1018, 4, Access::Ro, 4, u64::from(serial), None);
        od
    }

    /// Adds an unsigned number of `len` bytes.
    pub(crate) fn number(
        &mut self,
        index: u16,
        sub: u8,
        access: Access,
        len: usize,
        value: u64,
        range: Option<(u64, u64)>,
    ) {
        self.entries.insert(
            (index, sub),
            Entry {
                access,
                value: value.to_le_bytes()[..len].to_vec(),
                len: Some(len),
                range,
            },
        );
    }

    /// Adds a string.
    pub(crate) fn string(&mut self, index: u16, sub: u8, access: Access, value: &str) {
        self.entries.insert(
            (index, sub),
            Entry {
                access,
                value: value.as_bytes().to_vec(),
                len: None,
                range: None,
            },
        );
    }

    /// The value of an unsigned number (0 if absent).
    pub(crate) fn get(&self, index: u16, sub: u8) -> u64 {
        self.entries
            .get(&(index, sub))
            .map_or(0, |e| to_u64(&e.value))
    }

    /// Sets a number as the node itself does (no access check; range not enforced).
    pub(crate) fn set(&mut self, index: u16, sub: u8, value: u64) {
        if let Some(e) = self.entries.get_mut(&(index, sub)) {
            let len = e.len.unwrap_or(4);
            e.value = value.to_le_bytes()[..len.min(8)].to_vec();
        }
    }

    /// A read from the bus.
    pub(crate) fn read(&self, index: u16, sub: u8) -> Result<Vec<u8>, SdoAbort> {
        match self.entries.get(&(index, sub)) {
            Some(e) => Ok(e.value.clone()),
            None => Err(self.missing(index)),
        }
    }

    fn missing(&self, index: u16) -> SdoAbort {
        if self.entries.keys().any(|(i, _)| *i == index) {
            SdoAbort::NO_SUBINDEX
        } else {
            SdoAbort::NO_OBJECT
        }
    }

    /// A write from the bus, checked against access, length and range.
    pub(crate) fn write(&mut self, index: u16, sub: u8, data: &[u8]) -> Result<(), SdoAbort> {
        let missing = self.missing(index);
        let e = self.entries.get_mut(&(index, sub)).ok_or(missing)?;
        if e.access == Access::Ro {
            return Err(SdoAbort::READ_ONLY);
        }
        match e.len {
            Some(len) if data.len() != len => return Err(SdoAbort::LENGTH_MISMATCH),
            None if data.len() > 255 => return Err(SdoAbort(0x0607_0012)),
            _ => {}
        }
        if let Some((lo, hi)) = e.range {
            let v = to_u64(data);
            if v > hi {
                return Err(SdoAbort::TOO_HIGH);
            }
            if v < lo {
                return Err(SdoAbort::TOO_LOW);
            }
        }
        e.value = data.to_vec();
        Ok(())
    }
}

/// Reads and writes of a node's objects, with the node's own effects.
pub(crate) trait SdoTarget {
    /// Reads an object.
    fn sdo_read(&mut self, index: u16, sub: u8) -> Result<Vec<u8>, SdoAbort>;
    /// Writes an object.
    fn sdo_write(&mut self, index: u16, sub: u8, data: &[u8]) -> Result<(), SdoAbort>;
}

enum Transfer {
    Idle,
    Download {
        index: u16,
        sub: u8,
        data: Vec<u8>,
        size: Option<u32>,
        toggle: bool,
    },
    Upload {
        index: u16,
        sub: u8,
        data: Vec<u8>,
        pos: usize,
        toggle: bool,
    },
}

/// The SDO server of one node: one transfer at a time.
pub(crate) struct SdoServer {
    transfer: Transfer,
    block: super::block::BlockServer,
}

impl SdoServer {
    pub(crate) fn new() -> SdoServer {
        SdoServer {
            transfer: Transfer::Idle,
            block: super::block::BlockServer::new(),
        }
    }

    /// The frames answering one SDO frame's data: block transfers first (their segments are
    /// recognised only while one is under way), then expedited and segmented ones.
    pub(crate) fn handle_frame(&mut self, data: &[u8], target: &mut dyn SdoTarget) -> Vec<[u8; 8]> {
        let Ok(bytes) = <[u8; 8]>::try_from(data) else {
            return Vec::new();
        };
        if let Some(frames) = self.block.handle(&bytes, target) {
            return frames;
        }
        // A frame that is no SDO request is ignored, as before block transfers existed.
        match SdoRequest::decode(&bytes) {
            Ok(request) => self
                .handle(request, target)
                .map(|r| r.encode())
                .into_iter()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn abort(&mut self, index: u16, sub: u8, abort: SdoAbort) -> SdoResponse {
        self.transfer = Transfer::Idle;
        SdoResponse::Abort {
            index,
            subindex: sub,
            code: abort.0,
        }
    }

    /// The answer to one request (`None` for the client's own abort).
    pub(crate) fn handle(
        &mut self,
        request: SdoRequest,
        target: &mut dyn SdoTarget,
    ) -> Option<SdoResponse> {
        let transfer = std::mem::replace(&mut self.transfer, Transfer::Idle);
        Some(match (request, transfer) {
            (SdoRequest::Abort { .. }, _) => return None,
            (
                SdoRequest::InitiateDownload {
                    index,
                    subindex,
                    payload,
                },
                _,
            ) => match payload {
                Initiate::Expedited(data) => match target.sdo_write(index, subindex, &data) {
                    Ok(()) => SdoResponse::InitiateDownload { index, subindex },
                    Err(a) => self.abort(index, subindex, a),
                },
                Initiate::Segmented(size) => {
                    self.transfer = Transfer::Download {
                        index,
                        sub: subindex,
                        data: Vec::new(),
                        size,
                        toggle: false,
                    };
                    SdoResponse::InitiateDownload { index, subindex }
                }
            },
            (
                SdoRequest::DownloadSegment { toggle, data, last },
                Transfer::Download {
                    index,
                    sub,
                    data: mut so_far,
                    size,
                    toggle: expected,
                },
            ) => {
                if toggle != expected {
                    return Some(self.abort(index, sub, SdoAbort::TOGGLE));
                }
                so_far.extend_from_slice(&data);
                if !last {
                    self.transfer = Transfer::Download {
                        index,
                        sub,
                        data: so_far,
                        size,
                        toggle: !toggle,
                    };
                    return Some(SdoResponse::DownloadSegment { toggle });
                }
                if size.is_some_and(|s| s as usize != so_far.len()) {
                    return Some(self.abort(index, sub, SdoAbort::LENGTH_MISMATCH));
                }
                match target.sdo_write(index, sub, &so_far) {
                    Ok(()) => SdoResponse::DownloadSegment { toggle },
                    Err(a) => self.abort(index, sub, a),
                }
            }
            (SdoRequest::InitiateUpload { index, subindex }, _) => {
                match target.sdo_read(index, subindex) {
                    Ok(data) if !data.is_empty() && data.len() <= 4 => {
                        SdoResponse::InitiateUpload {
                            index,
                            subindex,
                            payload: Initiate::Expedited(data),
                        }
                    }
                    Ok(data) => {
                        let size = data.len() as u32;
                        self.transfer = Transfer::Upload {
                            index,
                            sub: subindex,
                            data,
                            pos: 0,
                            toggle: false,
                        };
                        SdoResponse::InitiateUpload {
                            index,
                            subindex,
                            payload: Initiate::Segmented(Some(size)),
                        }
                    }
                    Err(a) => self.abort(index, subindex, a),
                }
            }
            (
                SdoRequest::UploadSegment { toggle },
                Transfer::Upload {
                    index,
                    sub,
                    data,
                    pos,
                    toggle: expected,
                },
            ) => {
                if toggle != expected {
                    return Some(self.abort(index, sub, SdoAbort::TOGGLE));
                }
                let end = (pos + 7).min(data.len());
                let chunk = data[pos..end].to_vec();
                let last = end == data.len();
                if !last {
                    self.transfer = Transfer::Upload {
                        index,
                        sub,
                        data,
                        pos: end,
                        toggle: !toggle,
                    };
                }
                SdoResponse::UploadSegment {
                    toggle,
                    data: chunk,
                    last,
                }
            }
            // A segment with no transfer under way.
            (_, _) => self.abort(0, 0, SdoAbort::BAD_COMMAND),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain(ObjectDictionary);
    impl SdoTarget for Plain {
        fn sdo_read(&mut self, index: u16, sub: u8) -> Result<Vec<u8>, SdoAbort> {
            self.0.read(index, sub)
        }
        fn sdo_write(&mut self, index: u16, sub: u8, data: &[u8]) -> Result<(), SdoAbort> {
            self.0.write(index, sub, data)
        }
    }

    #[test]
    fn checks_access_length_and_range() {
        let mut od = ObjectDictionary::default();
        od.number(0x2000, 1, Access::Rw, 2, 800, Some((400, 1500)));
        od.number(0x1001, 0, Access::Ro, 1, 0, None);
        assert_eq!(
            od.write(0x2000, 1, &1600u16.to_le_bytes()),
            Err(SdoAbort::TOO_HIGH)
        );
        assert_eq!(
            od.write(0x2000, 1, &100u16.to_le_bytes()),
            Err(SdoAbort::TOO_LOW)
        );
        assert_eq!(od.write(0x2000, 1, &[1]), Err(SdoAbort::LENGTH_MISMATCH));
        assert_eq!(od.write(0x1001, 0, &[1]), Err(SdoAbort::READ_ONLY));
        assert_eq!(od.write(0x2000, 9, &[1]), Err(SdoAbort::NO_SUBINDEX));
        assert_eq!(od.read(0x3000, 0), Err(SdoAbort::NO_OBJECT));
        od.write(0x2000, 1, &900u16.to_le_bytes()).unwrap();
        assert_eq!(od.get(0x2000, 1), 900);
    }

    #[test]
    fn a_segment_without_a_transfer_is_aborted() {
        let mut server = SdoServer::new();
        let mut target = Plain(ObjectDictionary::default());
        let r = server.handle(SdoRequest::UploadSegment { toggle: false }, &mut target);
        assert!(matches!(
            r,
            Some(SdoResponse::Abort {
                code: 0x0504_0001,
                ..
            })
        ));
    }
}
