//! SDO block transfer frames (CiA 301 §7.2.4.3.9 to §7.2.4.3.16): pure encoders and decoders,
//! and the CRC that guards a block transfer's data.
//!
//! A block transfer sends up to 127 segments of 7 bytes in a row, each acknowledged only at
//! the end of its block, which suits long objects (a firmware image, a log). Block frames are
//! told apart by context: a segment's byte 0 is its sequence number (1 to 127) with bit 7 set
//! on the last segment, not a command specifier, so only a party that knows a block is under
//! way can read it. The command frames use specifiers 5 (client upload, server download) and
//! 6 (client download, server upload). The CRC is CRC-16-CCITT (polynomial 1021h, initial
//! value 0, no reflection), over the object's data.

/// The most segments in one block.
pub const MAX_BLOCK: u8 = 127;

/// CRC-16-CCITT as CiA 301 uses it for block transfers (polynomial x¹⁶ + x¹² + x⁵ + 1,
/// initial value 0).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A block-transfer command from the client (host) to the server (node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockRequest {
    /// Start a block download of `size` bytes (stated here), with CRC if `crc`.
    InitiateDownload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// The object's size in bytes.
        size: u32,
        /// Whether the client computes a CRC.
        crc: bool,
    },
    /// End a block download: bytes of the last segment that carry no data, and the CRC.
    EndDownload {
        /// Bytes of the last segment without data (0 to 7).
        unused: u8,
        /// The CRC of all the data.
        crc: u16,
    },
    /// Start a block upload in blocks of `block_size` segments.
    InitiateUpload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// Segments per block the client accepts (1 to 127).
        block_size: u8,
        /// Whether the client checks a CRC.
        crc: bool,
    },
    /// Start sending the upload's segments.
    StartUpload,
    /// The client received a block up to `ackseq` and wants `block_size` next.
    UploadAck {
        /// The last sequence number received in order.
        ackseq: u8,
        /// Segments in the next block.
        block_size: u8,
    },
    /// The client confirms the end of an upload.
    EndUpload,
}

/// A block-transfer command from the server (node) to the client (host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockResponse {
    /// The download may start, in blocks of `block_size` segments.
    InitiateDownload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// Segments per block the server accepts (1 to 127).
        block_size: u8,
        /// Whether the server checks a CRC.
        crc: bool,
    },
    /// The server received a block up to `ackseq` and wants `block_size` next.
    DownloadAck {
        /// The last sequence number received in order.
        ackseq: u8,
        /// Segments in the next block.
        block_size: u8,
    },
    /// The download is complete and its CRC was right.
    EndDownload,
    /// The upload starts: the object's size.
    InitiateUpload {
        /// Object index.
        index: u16,
        /// Subindex.
        subindex: u8,
        /// The object's size in bytes.
        size: u32,
        /// Whether the server sends a CRC.
        crc: bool,
    },
    /// The upload's end: bytes of the last segment without data, and the CRC.
    EndUpload {
        /// Bytes of the last segment without data (0 to 7).
        unused: u8,
        /// The CRC of all the data.
        crc: u16,
    },
}

fn mux(index: u16, subindex: u8, out: &mut [u8; 8]) {
    out[1..3].copy_from_slice(&index.to_le_bytes());
    out[3] = subindex;
}

fn read_mux(b: &[u8; 8]) -> (u16, u8) {
    (u16::from_le_bytes([b[1], b[2]]), b[3])
}

fn size_of(b: &[u8; 8]) -> u32 {
    u32::from_le_bytes([b[4], b[5], b[6], b[7]])
}

impl BlockRequest {
    /// The 8 data bytes of this request.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        match self {
            BlockRequest::InitiateDownload {
                index,
                subindex,
                size,
                crc,
            } => {
                out[0] = 0xC0 | (u8::from(*crc) << 2) | 0b10;
                mux(*index, *subindex, &mut out);
                out[4..8].copy_from_slice(&size.to_le_bytes());
            }
            BlockRequest::EndDownload { unused, crc } => {
                out[0] = 0xC1 | ((unused & 0b111) << 2);
                out[1..3].copy_from_slice(&crc.to_le_bytes());
            }
            BlockRequest::InitiateUpload {
                index,
                subindex,
                block_size,
                crc,
            } => {
                out[0] = 0xA0 | (u8::from(*crc) << 2);
                mux(*index, *subindex, &mut out);
                out[4] = *block_size;
            }
            BlockRequest::StartUpload => out[0] = 0xA3,
            BlockRequest::UploadAck { ackseq, block_size } => {
                out[0] = 0xA2;
                out[1] = *ackseq;
                out[2] = *block_size;
            }
            BlockRequest::EndUpload => out[0] = 0xA1,
        }
        out
    }

    /// Decodes a block command (not a segment); `None` if the bytes are not one.
    pub fn decode(b: &[u8; 8]) -> Option<BlockRequest> {
        let (index, subindex) = read_mux(b);
        Some(match (b[0] >> 5, b[0] & 0b11) {
            (6, 0b10 | 0b00) => BlockRequest::InitiateDownload {
                index,
                subindex,
                size: size_of(b),
                crc: b[0] & 0b100 != 0,
            },
            (6, 0b01) => BlockRequest::EndDownload {
                unused: (b[0] >> 2) & 0b111,
                crc: u16::from_le_bytes([b[1], b[2]]),
            },
            (5, 0b00) => BlockRequest::InitiateUpload {
                index,
                subindex,
                block_size: b[4],
                crc: b[0] & 0b100 != 0,
            },
            (5, 0b11) => BlockRequest::StartUpload,
            (5, 0b10) => BlockRequest::UploadAck {
                ackseq: b[1],
                block_size: b[2],
            },
            (5, 0b01) => BlockRequest::EndUpload,
            _ => return None,
        })
    }
}

impl BlockResponse {
    /// The 8 data bytes of this response.
    pub fn encode(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        match self {
            BlockResponse::InitiateDownload {
                index,
                subindex,
                block_size,
                crc,
            } => {
                out[0] = 0xA0 | (u8::from(*crc) << 2);
                mux(*index, *subindex, &mut out);
                out[4] = *block_size;
            }
            BlockResponse::DownloadAck { ackseq, block_size } => {
                out[0] = 0xA2;
                out[1] = *ackseq;
                out[2] = *block_size;
            }
            BlockResponse::EndDownload => out[0] = 0xA1,
            BlockResponse::InitiateUpload {
                index,
                subindex,
                size,
                crc,
            } => {
                out[0] = 0xC0 | (u8::from(*crc) << 2) | 0b10;
                mux(*index, *subindex, &mut out);
                out[4..8].copy_from_slice(&size.to_le_bytes());
            }
            BlockResponse::EndUpload { unused, crc } => {
                out[0] = 0xC1 | ((unused & 0b111) << 2);
                out[1..3].copy_from_slice(&crc.to_le_bytes());
            }
        }
        out
    }

    /// Decodes a block command (not a segment); `None` if the bytes are not one.
    pub fn decode(b: &[u8; 8]) -> Option<BlockResponse> {
        let (index, subindex) = read_mux(b);
        Some(match (b[0] >> 5, b[0] & 0b11) {
            (5, 0b00) => BlockResponse::InitiateDownload {
                index,
                subindex,
                block_size: b[4],
                crc: b[0] & 0b100 != 0,
            },
            (5, 0b10) => BlockResponse::DownloadAck {
                ackseq: b[1],
                block_size: b[2],
            },
            (5, 0b01) => BlockResponse::EndDownload,
            (6, 0b10 | 0b00) => BlockResponse::InitiateUpload {
                index,
                subindex,
                size: size_of(b),
                crc: b[0] & 0b100 != 0,
            },
            (6, 0b01) => BlockResponse::EndUpload {
                unused: (b[0] >> 2) & 0b111,
                crc: u16::from_le_bytes([b[1], b[2]]),
            },
            _ => return None,
        })
    }
}

/// One segment of a block: sequence number 1 to 127, bit 7 on the last segment of the
/// transfer, then 7 bytes (the last segment padded, its unused count sent at the end).
pub fn encode_segment(seqno: u8, last: bool, data: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = (u8::from(last) << 7) | (seqno & 0x7F);
    let n = data.len().min(7);
    out[1..1 + n].copy_from_slice(&data[..n]);
    out
}

/// The sequence number, last flag and 7 bytes of a segment.
pub fn decode_segment(b: &[u8; 8]) -> (u8, bool, [u8; 7]) {
    let mut data = [0u8; 7];
    data.copy_from_slice(&b[1..8]);
    (b[0] & 0x7F, b[0] & 0x80 != 0, data)
}

/// The segments of `data` in blocks of `block_size`: each block a list of (sequence
/// number, last of the transfer, up to 7 bytes). Empty data is one empty last segment.
pub fn blocks(data: &[u8], block_size: u8) -> Vec<Vec<(u8, bool, &[u8])>> {
    let per = usize::from(block_size.clamp(1, MAX_BLOCK));
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&data[..0]]
    } else {
        data.chunks(7).collect()
    };
    let count = chunks.len();
    chunks
        .chunks(per)
        .enumerate()
        .map(|(b, block)| {
            block
                .iter()
                .enumerate()
                .map(|(i, chunk)| ((i + 1) as u8, b * per + i + 1 == count, *chunk))
                .collect()
        })
        .collect()
}

/// Bytes of the last segment that carry no data, for `len` bytes in all (7 for no data: the
/// one segment is empty).
pub fn unused_in_last(len: usize) -> u8 {
    if len == 0 {
        7
    } else {
        ((7 - len % 7) % 7) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_matches_the_ccitt_check_value() {
        // CRC-16/XMODEM of "123456789" is 31C3h.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(&[]), 0);
    }

    #[test]
    fn matches_the_standard_layout() {
        let r = BlockRequest::InitiateDownload {
            index: 0x2003,
            subindex: 0,
            size: 20,
            crc: true,
        };
        assert_eq!(r.encode(), [0xC6, 0x03, 0x20, 0x00, 20, 0, 0, 0]);
        assert_eq!(
            BlockResponse::DownloadAck {
                ackseq: 3,
                block_size: 127
            }
            .encode(),
            [0xA2, 3, 127, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            encode_segment(3, true, b"ab"),
            [0x83, b'a', b'b', 0, 0, 0, 0, 0]
        );
        assert_eq!(unused_in_last(20), 1);
        assert_eq!(unused_in_last(21), 0);
    }

    fn arb_request() -> impl Strategy<Value = BlockRequest> {
        prop_oneof![
            (any::<u16>(), any::<u8>(), any::<u32>(), any::<bool>()).prop_map(
                |(index, subindex, size, crc)| BlockRequest::InitiateDownload {
                    index,
                    subindex,
                    size,
                    crc
                }
            ),
            (0u8..=7, any::<u16>())
                .prop_map(|(unused, crc)| BlockRequest::EndDownload { unused, crc }),
            (any::<u16>(), any::<u8>(), 1u8..=127, any::<bool>()).prop_map(
                |(index, subindex, block_size, crc)| BlockRequest::InitiateUpload {
                    index,
                    subindex,
                    block_size,
                    crc
                }
            ),
            Just(BlockRequest::StartUpload),
            (any::<u8>(), 1u8..=127)
                .prop_map(|(ackseq, block_size)| BlockRequest::UploadAck { ackseq, block_size }),
            Just(BlockRequest::EndUpload),
        ]
    }

    fn arb_response() -> impl Strategy<Value = BlockResponse> {
        prop_oneof![
            (any::<u16>(), any::<u8>(), 1u8..=127, any::<bool>()).prop_map(
                |(index, subindex, block_size, crc)| BlockResponse::InitiateDownload {
                    index,
                    subindex,
                    block_size,
                    crc
                }
            ),
            (any::<u8>(), 1u8..=127)
                .prop_map(|(ackseq, block_size)| BlockResponse::DownloadAck { ackseq, block_size }),
            Just(BlockResponse::EndDownload),
            (any::<u16>(), any::<u8>(), any::<u32>(), any::<bool>()).prop_map(
                |(index, subindex, size, crc)| BlockResponse::InitiateUpload {
                    index,
                    subindex,
                    size,
                    crc
                }
            ),
            (0u8..=7, any::<u16>())
                .prop_map(|(unused, crc)| BlockResponse::EndUpload { unused, crc }),
        ]
    }

    proptest! {
        #[test]
        fn requests_round_trip(r in arb_request()) {
            prop_assert_eq!(BlockRequest::decode(&r.encode()), Some(r));
        }

        #[test]
        fn responses_round_trip(r in arb_response()) {
            prop_assert_eq!(BlockResponse::decode(&r.encode()), Some(r));
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in any::<[u8; 8]>()) {
            let _ = BlockRequest::decode(&b);
            let _ = BlockResponse::decode(&b);
            let _ = decode_segment(&b);
        }

        #[test]
        fn blocks_of_segments_give_the_data_back(data in prop::collection::vec(any::<u8>(), 0..2000), block_size in 1u8..=127) {
            let blocks = blocks(&data, block_size);
            let mut back = Vec::new();
            let mut lasts = 0;
            for block in &blocks {
                prop_assert!(block.len() <= usize::from(block_size));
                for (i, (seqno, last, chunk)) in block.iter().enumerate() {
                    prop_assert_eq!(usize::from(*seqno), i + 1);
                    let (s, l, bytes) = decode_segment(&encode_segment(*seqno, *last, chunk));
                    prop_assert_eq!((s, l), (*seqno, *last));
                    back.extend_from_slice(&bytes[..chunk.len()]);
                    lasts += usize::from(*last);
                }
            }
            prop_assert_eq!(lasts, 1);
            prop_assert_eq!(&back, &data);
            // The receiver strips the unused bytes of the last segment from all 7.
            let total = blocks.iter().map(Vec::len).sum::<usize>() * 7;
            prop_assert_eq!(total - usize::from(unused_in_last(data.len())), data.len());
        }
    }
}
