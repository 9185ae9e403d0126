//! The image channel of qbench's flat-panel detectors: one binary message per frame, over
//! TCP (`docs/flat-panel-detector.md`).
//!
//! A message is a 32-byte header followed by the pixels. The header, little-endian:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `QBIF` |
//! | 4 | 2 | version (1) |
//! | 6 | 2 | pixel format (1: 16-bit unsigned, little-endian, monochrome) |
//! | 8 | 4 | frame number (the detector's frame counter, 1-based) |
//! | 12 | 4 | width, pixels |
//! | 16 | 4 | height, pixels |
//! | 20 | 4 | payload length, bytes (width × height × 2) |
//! | 24 | 4 | CRC-32 (IEEE 802.3, as zlib and PNG) of the payload |
//! | 28 | 4 | CRC-32 of header bytes 0 to 27 |
//!
//! The header has its own checksum so that a garbled header is refused before its length is
//! believed (nothing allocates 4 GiB because a byte flipped). Pixels are row-major, top row
//! first. Pure functions: no I/O.

use crate::imaging::Frame;

/// The header's size, bytes.
pub const HEADER_LEN: usize = 32;
/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"QBIF";
/// The version this codec writes and reads.
pub const VERSION: u16 = 1;
/// Pixel format 1: 16-bit unsigned, little-endian, monochrome.
pub const MONO16: u16 = 1;
/// The largest side a header may announce, pixels.
pub const MAX_SIDE: u32 = 16_384;

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The detector's frame counter for this frame.
    pub frame_number: u32,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Payload length, bytes.
    pub length: u32,
    /// CRC-32 of the payload.
    pub crc: u32,
}

/// What is wrong with a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header does not start with `QBIF`.
    #[error("not an image frame: magic {found:02X?} instead of `QBIF`")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The header's own checksum does not match.
    #[error("corrupted frame header: CRC-32 {found:08X}h, computed {computed:08X}h")]
    HeaderChecksum {
        /// The checksum in the header.
        found: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// A version or pixel format this codec does not read.
    #[error("unsupported frame: version {version}, pixel format {format}")]
    Unsupported {
        /// The version.
        version: u16,
        /// The pixel format.
        format: u16,
    },
    /// The announced size is impossible or inconsistent.
    #[error(
        "frame {frame_number}: {width} × {height} pixels do not fit {length} bytes (limit {MAX_SIDE} per side)"
    )]
    BadSize {
        /// The frame number.
        frame_number: u32,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Announced payload length.
        length: u32,
    },
    /// The payload is shorter than announced.
    #[error("frame {frame_number} truncated: {received} of {expected} bytes")]
    Truncated {
        /// The frame number.
        frame_number: u32,
        /// Bytes received.
        received: usize,
        /// Bytes announced.
        expected: usize,
    },
    /// The payload's checksum does not match.
    #[error(
        "frame {frame_number} corrupted: payload CRC-32 {computed:08X}h, header says {expected:08X}h"
    )]
    PayloadChecksum {
        /// The frame number.
        frame_number: u32,
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Encodes a frame as one message: header then pixels.
pub fn encode(frame_number: u32, frame: &Frame<u16>) -> Vec<u8> {
    let mut payload = Vec::with_capacity(frame.pixels().len() * 2);
    for p in frame.pixels() {
        payload.extend_from_slice(&p.to_le_bytes());
    }
    let mut out = encode_header(
        frame_number,
        frame.width() as u32,
        frame.height() as u32,
        &payload,
    )
    .to_vec();
    out.extend_from_slice(&payload);
    out
}

/// The header of a message carrying `payload`.
pub fn encode_header(frame_number: u32, width: u32, height: u32, payload: &[u8]) -> [u8; 32] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h[6..8].copy_from_slice(&MONO16.to_le_bytes());
    h[8..12].copy_from_slice(&frame_number.to_le_bytes());
    h[12..16].copy_from_slice(&width.to_le_bytes());
    h[16..20].copy_from_slice(&height.to_le_bytes());
    h[20..24].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[24..28].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let own = crc32fast::hash(&h[..28]);
    h[28..32].copy_from_slice(&own.to_le_bytes());
    h
}

/// Decodes and checks a header (its checksum, version, format and size).
pub fn decode_header(bytes: &[u8; HEADER_LEN]) -> Result<FrameHeader, FrameError> {
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic != MAGIC {
        return Err(FrameError::BadMagic { found: magic });
    }
    let (found, computed) = (u32_at(bytes, 28), crc32fast::hash(&bytes[..28]));
    if found != computed {
        return Err(FrameError::HeaderChecksum { found, computed });
    }
    let (version, format) = (u16_at(bytes, 4), u16_at(bytes, 6));
    if version != VERSION || format != MONO16 {
        return Err(FrameError::Unsupported { version, format });
    }
    let header = FrameHeader {
        frame_number: u32_at(bytes, 8),
        width: u32_at(bytes, 12),
        height: u32_at(bytes, 16),
        length: u32_at(bytes, 20),
        crc: u32_at(bytes, 24),
    };
    let sides_ok =
        (1..=MAX_SIDE).contains(&header.width) && (1..=MAX_SIDE).contains(&header.height);
    if !sides_ok
        || u64::from(header.length) != 2 * u64::from(header.width) * u64::from(header.height)
    {
        return Err(FrameError::BadSize {
            frame_number: header.frame_number,
            width: header.width,
            height: header.height,
            length: header.length,
        });
    }
    Ok(header)
}

/// Checks a payload against its header and decodes the pixels.
pub fn decode_payload(header: &FrameHeader, payload: &[u8]) -> Result<Frame<u16>, FrameError> {
    let expected = header.length as usize;
    if payload.len() < expected {
        return Err(FrameError::Truncated {
            frame_number: header.frame_number,
            received: payload.len(),
            expected,
        });
    }
    let payload = &payload[..expected];
    let computed = crc32fast::hash(payload);
    if computed != header.crc {
        return Err(FrameError::PayloadChecksum {
            frame_number: header.frame_number,
            expected: header.crc,
            computed,
        });
    }
    let pixels: Vec<u16> = payload
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Frame::new(header.width as usize, header.height as usize, pixels).map_err(|_| {
        FrameError::BadSize {
            frame_number: header.frame_number,
            width: header.width,
            height: header.height,
            length: header.length,
        }
    })
}

/// Decodes one whole message (header and payload in one buffer).
pub fn decode(bytes: &[u8]) -> Result<(FrameHeader, Frame<u16>), FrameError> {
    let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(FrameError::Truncated {
            frame_number: 0,
            received: bytes.len(),
            expected: HEADER_LEN,
        });
    };
    let header = decode_header(head)?;
    let frame = decode_payload(&header, &bytes[HEADER_LEN..])?;
    Ok((header, frame))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Frame<u16> {
        Frame::from_fn(5, 3, |x, y| (x * 1000 + y * 7) as u16).unwrap()
    }

    #[test]
    fn round_trip_and_layout() {
        let bytes = encode(42, &sample());
        assert_eq!(bytes.len(), HEADER_LEN + 30);
        assert_eq!(&bytes[..4], b"QBIF");
        assert_eq!(u32_at(&bytes, 8), 42);
        assert_eq!(u32_at(&bytes, 20), 30);
        // The second pixel of the top row, little-endian.
        assert_eq!(u16_at(&bytes, HEADER_LEN + 2), 1000);
        let (h, f) = decode(&bytes).unwrap();
        assert_eq!((h.frame_number, h.width, h.height), (42, 5, 3));
        assert_eq!(f, sample());
    }

    #[test]
    fn corruption_and_truncation_are_named() {
        let mut bytes = encode(7, &sample());
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        assert!(matches!(
            decode(&bytes),
            Err(FrameError::PayloadChecksum {
                frame_number: 7,
                ..
            })
        ));
        let bytes = encode(8, &sample());
        let e = decode(&bytes[..bytes.len() - 4]).unwrap_err();
        assert_eq!(
            e,
            FrameError::Truncated {
                frame_number: 8,
                received: 26,
                expected: 30
            }
        );
        assert!(e.to_string().contains("frame 8 truncated"));
        let mut bytes = encode(9, &sample());
        bytes[12] = 0xFF;
        assert!(matches!(
            decode(&bytes),
            Err(FrameError::HeaderChecksum { .. })
        ));
        assert!(matches!(
            decode(b"GIF89a0123456789012345678901234567"),
            Err(FrameError::BadMagic { .. })
        ));
    }

    #[test]
    fn impossible_sizes_are_refused_before_reading_the_payload() {
        let h = encode_header(1, 100_000, 2, &[]);
        assert!(matches!(decode_header(&h), Err(FrameError::BadSize { .. })));
        let h = encode_header(1, 4, 4, &[0; 30]);
        assert!(matches!(decode_header(&h), Err(FrameError::BadSize { .. })));
    }

    proptest! {
        #[test]
        fn any_frame_round_trips(w in 1usize..20, h in 1usize..20, seed in any::<u16>(), n in any::<u32>()) {
            let f = Frame::from_fn(w, h, |x, y| seed.wrapping_add((x * 31 + y * 17) as u16)).unwrap();
            let (header, back) = decode(&encode(n, &f)).unwrap();
            prop_assert_eq!(header.frame_number, n);
            prop_assert_eq!(back, f);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn any_flipped_bit_is_caught(w in 1usize..8, h in 1usize..8, bit in any::<usize>()) {
            let f = Frame::from_fn(w, h, |x, y| (x * 3 + y) as u16).unwrap();
            let mut bytes = encode(3, &f);
            let at = bit % (bytes.len() * 8);
            bytes[at / 8] ^= 1 << (at % 8);
            prop_assert!(decode(&bytes).is_err());
        }
    }
}
