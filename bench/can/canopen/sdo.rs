//! SDO frames (CiA 301 §7.2.4): the 8-byte requests a client sends and the responses a
//! server answers, for expedited and segmented transfers. Pure encoders and decoders.
//!
//! Byte 0 is the command specifier; for the initiate services bytes 1–2 are the index
//! (little-endian) and byte 3 the subindex, then up to 4 data bytes (expedited) or the size.
//! A segment carries up to 7 data bytes after a byte with the toggle bit (4), the count of
//! unused bytes (bits 3–1) and the last-segment flag (bit 0).

use std::fmt;

/// The payload of an initiate-download request or initiate-upload response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initiate {
    /// 1 to 4 data bytes, carried in the frame itself.
    Expedited(Vec<u8>),
    /// A segmented transfer follows, of this many bytes if stated.
    Segmented(Option<u32>),
}

/// A request from the client (host) to the server (node), COB-ID 0x600 + node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdoRequest {
    /// Write an object: initiate.
    InitiateDownload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// The data (expedited) or the announced size (segmented).
        payload: Initiate,
    },
    /// Write an object: one segment.
    DownloadSegment {
        /// The toggle bit (starts clear, alternates).
        toggle: bool,
        /// 0 to 7 data bytes.
        data: Vec<u8>,
        /// Whether this is the last segment.
        last: bool,
    },
    /// Read an object: initiate.
    InitiateUpload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
    },
    /// Read an object: ask for the next segment.
    UploadSegment {
        /// The toggle bit.
        toggle: bool,
    },
    /// Abandon the transfer.
    Abort {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// The abort code.
        code: u32,
    },
}

/// A response from the server (node) to the client, COB-ID 0x580 + node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdoResponse {
    /// The download is accepted (for expedited: done).
    InitiateDownload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
    },
    /// A download segment was taken.
    DownloadSegment {
        /// The toggle bit, echoing the request's.
        toggle: bool,
    },
    /// The upload starts: expedited data, or the size of the segments that follow.
    InitiateUpload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// The data or the size.
        payload: Initiate,
    },
    /// One upload segment.
    UploadSegment {
        /// The toggle bit, echoing the request's.
        toggle: bool,
        /// 0 to 7 data bytes.
        data: Vec<u8>,
        /// Whether this is the last segment.
        last: bool,
    },
    /// The server abandons the transfer.
    Abort {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// The abort code.
        code: u32,
    },
}

/// Why 8 bytes are not an SDO frame.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdoFrameError {
    /// Not 8 data bytes.
    #[error("an SDO frame has 8 data bytes, not {0}")]
    Length(usize),
    /// A command specifier this client does not handle (block transfers, say).
    #[error("command specifier {0} is not handled")]
    Specifier(u8),
}

fn mux(index: u16, subindex: u8, out: &mut [u8; 8]) {
    out[1..3].copy_from_slice(&index.to_le_bytes());
    out[3] = subindex;
}

fn read_mux(b: &[u8]) -> (u16, u8) {
    (u16::from_le_bytes([b[1], b[2]]), b[3])
}

/// Byte 0 and bytes 4–7 of an initiate frame carrying `payload` (specifier `cs` in bits 7–5).
fn encode_initiate(cs: u8, payload: &Initiate, out: &mut [u8; 8]) {
    match payload {
        Initiate::Expedited(data) => {
            let n = data.len().clamp(1, 4);
            out[0] = (cs << 5) | (((4 - n) as u8) << 2) | 0b11;
            out[4..4 + n.min(data.len())].copy_from_slice(&data[..n.min(data.len())]);
        }
        Initiate::Segmented(Some(size)) => {
            out[0] = (cs << 5) | 0b01;
            out[4..8].copy_from_slice(&size.to_le_bytes());
        }
        Initiate::Segmented(None) => out[0] = cs << 5,
    }
}

fn decode_initiate(b: &[u8]) -> Initiate {
    let (e, s) = (b[0] & 0b10 != 0, b[0] & 0b01 != 0);
    match (e, s) {
        (true, true) => {
            let n = 4 - usize::from((b[0] >> 2) & 0b11);
            Initiate::Expedited(b[4..4 + n].to_vec())
        }
        // Expedited without a size: all four bytes, the object's length decides.
        (true, false) => Initiate::Expedited(b[4..8].to_vec()),
        (false, true) => Initiate::Segmented(Some(u32::from_le_bytes([b[4], b[5], b[6], b[7]]))),
        (false, false) => Initiate::Segmented(None),
    }
}

fn encode_segment(cs: u8, toggle: bool, data: &[u8], last: bool, out: &mut [u8; 8]) {
    let n = data.len().min(7);
    out[0] = (cs << 5) | (u8::from(toggle) << 4) | (((7 - n) as u8) << 1) | u8::from(last);
    out[1..1 + n].copy_from_slice(&data[..n]);
}

fn decode_segment(b: &[u8]) -> (bool, Vec<u8>, bool) {
    let n = 7 - usize::from((b[0] >> 1) & 0b111);
    (b[0] & 0x10 != 0, b[1..1 + n].to_vec(), b[0] & 1 != 0)
}

impl SdoRequest {
    /// The 8 data bytes of this request.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        match self {
            SdoRequest::InitiateDownload {
                index,
                subindex,
                payload,
            } => {
                mux(*index, *subindex, &mut out);
                encode_initiate(1, payload, &mut out);
            }
            SdoRequest::DownloadSegment { toggle, data, last } => {
                encode_segment(0, *toggle, data, *last, &mut out)
            }
            SdoRequest::InitiateUpload { index, subindex } => {
                out[0] = 2 << 5;
                mux(*index, *subindex, &mut out);
            }
            SdoRequest::UploadSegment { toggle } => out[0] = (3 << 5) | (u8::from(*toggle) << 4),
            SdoRequest::Abort {
                index,
                subindex,
                code,
            } => {
                out[0] = 4 << 5;
                mux(*index, *subindex, &mut out);
                out[4..8].copy_from_slice(&code.to_le_bytes());
            }
        }
        out
    }

    /// Decodes a request from a frame's data bytes.
    pub fn decode(b: &[u8]) -> Result<SdoRequest, SdoFrameError> {
        if b.len() != 8 {
            return Err(SdoFrameError::Length(b.len()));
        }
        let (index, subindex) = read_mux(b);
        Ok(match b[0] >> 5 {
            0 => {
                let (toggle, data, last) = decode_segment(b);
                SdoRequest::DownloadSegment { toggle, data, last }
            }
            1 => SdoRequest::InitiateDownload {
                index,
                subindex,
                payload: decode_initiate(b),
            },
            2 => SdoRequest::InitiateUpload { index, subindex },
            3 => SdoRequest::UploadSegment {
                toggle: b[0] & 0x10 != 0,
            },
            4 => SdoRequest::Abort {
                index,
                subindex,
                code: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            },
            cs => return Err(SdoFrameError::Specifier(cs)),
        })
    }
}

impl SdoResponse {
    /// The 8 data bytes of this response.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        match self {
            SdoResponse::InitiateDownload { index, subindex } => {
                out[0] = 3 << 5;
                mux(*index, *subindex, &mut out);
            }
            SdoResponse::DownloadSegment { toggle } => out[0] = (1 << 5) | (u8::from(*toggle) << 4),
            SdoResponse::InitiateUpload {
                index,
                subindex,
                payload,
            } => {
                mux(*index, *subindex, &mut out);
                encode_initiate(2, payload, &mut out);
            }
            SdoResponse::UploadSegment { toggle, data, last } => {
                encode_segment(0, *toggle, data, *last, &mut out)
            }
            SdoResponse::Abort {
                index,
                subindex,
                code,
            } => {
                out[0] = 4 << 5;
                mux(*index, *subindex, &mut out);
                out[4..8].copy_from_slice(&code.to_le_bytes());
            }
        }
        out
    }

    /// Decodes a response from a frame's data bytes.
    pub fn decode(b: &[u8]) -> Result<SdoResponse, SdoFrameError> {
        if b.len() != 8 {
            return Err(SdoFrameError::Length(b.len()));
        }
        let (index, subindex) = read_mux(b);
        Ok(match b[0] >> 5 {
            0 => {
                let (toggle, data, last) = decode_segment(b);
                SdoResponse::UploadSegment { toggle, data, last }
            }
            1 => SdoResponse::DownloadSegment {
                toggle: b[0] & 0x10 != 0,
            },
            2 => SdoResponse::InitiateUpload {
                index,
                subindex,
                payload: decode_initiate(b),
            },
            3 => SdoResponse::InitiateDownload { index, subindex },
            4 => SdoResponse::Abort {
                index,
                subindex,
                code: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            },
            cs => return Err(SdoFrameError::Specifier(cs)),
        })
    }
}

/// An object address, for messages: `2000h sub 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjectAddress {
    /// Index.
    pub index: u16,
    /// Subindex.
    pub subindex: u8,
}

impl fmt::Display for ObjectAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}h sub {}", self.index, self.subindex)
    }
}

/// Splits `data` into the segments of a segmented transfer: (toggle, bytes, last).
pub fn segments(data: &[u8]) -> impl Iterator<Item = (bool, &[u8], bool)> {
    let count = data.len().div_ceil(7).max(1);
    (0..count).map(move |i| {
        let end = ((i + 1) * 7).min(data.len());
        (i % 2 == 1, &data[(i * 7).min(end)..end], i + 1 == count)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_the_standard_layout() {
        // Expedited download of 2 bytes to 2000h sub 1: 2B 00 20 01 34 12 00 00.
        let r = SdoRequest::InitiateDownload {
            index: 0x2000,
            subindex: 1,
            payload: Initiate::Expedited(vec![0x34, 0x12]),
        };
        assert_eq!(r.encode(), [0x2B, 0x00, 0x20, 0x01, 0x34, 0x12, 0, 0]);
        // Upload request: 40 08 10 00.
        let r = SdoRequest::InitiateUpload {
            index: 0x1008,
            subindex: 0,
        };
        assert_eq!(r.encode()[..4], [0x40, 0x08, 0x10, 0x00]);
        // A segmented upload response announcing 12 bytes: 41 08 10 00 0C 00 00 00.
        let r = SdoResponse::InitiateUpload {
            index: 0x1008,
            subindex: 0,
            payload: Initiate::Segmented(Some(12)),
        };
        assert_eq!(r.encode(), [0x41, 0x08, 0x10, 0x00, 12, 0, 0, 0]);
        // Abort 06020000h: 80 00 30 00 00 00 02 06.
        let r = SdoResponse::Abort {
            index: 0x3000,
            subindex: 0,
            code: 0x0602_0000,
        };
        assert_eq!(r.encode(), [0x80, 0x00, 0x30, 0x00, 0x00, 0x00, 0x02, 0x06]);
        // Last upload segment with 5 bytes, toggle set: 0001 0101 = 15h.
        let r = SdoResponse::UploadSegment {
            toggle: true,
            data: vec![1, 2, 3, 4, 5],
            last: true,
        };
        assert_eq!(r.encode()[0], 0x15);
    }

    #[test]
    fn segments_alternate_and_end() {
        let data: Vec<u8> = (0..15).collect();
        let s: Vec<_> = segments(&data).collect();
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].0, s[1].0, s[2].0), (false, true, false));
        assert_eq!(s[2].1, &[14]);
        assert!(s[2].2 && !s[1].2);
        assert_eq!(segments(&[]).count(), 1);
    }

    fn arb_request() -> impl Strategy<Value = SdoRequest> {
        prop_oneof![
            (
                any::<u16>(),
                any::<u8>(),
                proptest::collection::vec(any::<u8>(), 1..=4)
            )
                .prop_map(|(index, subindex, d)| SdoRequest::InitiateDownload {
                    index,
                    subindex,
                    payload: Initiate::Expedited(d)
                }),
            (
                any::<u16>(),
                any::<u8>(),
                proptest::option::of(any::<u32>())
            )
                .prop_map(|(index, subindex, n)| SdoRequest::InitiateDownload {
                    index,
                    subindex,
                    payload: Initiate::Segmented(n)
                }),
            (
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..=7),
                any::<bool>()
            )
                .prop_map(|(toggle, data, last)| SdoRequest::DownloadSegment {
                    toggle,
                    data,
                    last
                }),
            (any::<u16>(), any::<u8>())
                .prop_map(|(index, subindex)| SdoRequest::InitiateUpload { index, subindex }),
            any::<bool>().prop_map(|toggle| SdoRequest::UploadSegment { toggle }),
            (any::<u16>(), any::<u8>(), any::<u32>()).prop_map(|(index, subindex, code)| {
                SdoRequest::Abort {
                    index,
                    subindex,
                    code,
                }
            }),
        ]
    }

    fn arb_response() -> impl Strategy<Value = SdoResponse> {
        prop_oneof![
            (any::<u16>(), any::<u8>())
                .prop_map(|(index, subindex)| SdoResponse::InitiateDownload { index, subindex }),
            any::<bool>().prop_map(|toggle| SdoResponse::DownloadSegment { toggle }),
            (
                any::<u16>(),
                any::<u8>(),
                proptest::collection::vec(any::<u8>(), 1..=4)
            )
                .prop_map(|(index, subindex, d)| SdoResponse::InitiateUpload {
                    index,
                    subindex,
                    payload: Initiate::Expedited(d)
                }),
            (
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..=7),
                any::<bool>()
            )
                .prop_map(|(toggle, data, last)| SdoResponse::UploadSegment {
                    toggle,
                    data,
                    last
                }),
            (any::<u16>(), any::<u8>(), any::<u32>()).prop_map(|(index, subindex, code)| {
                SdoResponse::Abort {
                    index,
                    subindex,
                    code,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in arb_request()) {
            prop_assert_eq!(SdoRequest::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn responses_round_trip(r in arb_response()) {
            prop_assert_eq!(SdoResponse::decode(&r.encode()).unwrap(), r);
        }

        #[test]
        fn segmenting_then_joining_gives_the_data_back(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut joined = Vec::new();
            let mut expect_toggle = false;
            for (toggle, bytes, last) in segments(&data) {
                prop_assert_eq!(toggle, expect_toggle);
                let frame = SdoRequest::DownloadSegment { toggle, data: bytes.to_vec(), last }.encode();
                match SdoRequest::decode(&frame).unwrap() {
                    SdoRequest::DownloadSegment { data, .. } => joined.extend(data),
                    other => prop_assert!(false, "{other:?}"),
                }
                expect_toggle = !expect_toggle;
            }
            prop_assert_eq!(joined, data);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = SdoRequest::decode(&b);
            let _ = SdoResponse::decode(&b);
        }
    }
}
