//! A resynchronising decoder for the IMT analyzers' fast-data stream.
//!
//! After `%CM#64` an analyzer sends a 9-byte packet every 5 ms ([`imt::FastPacket`]): a
//! 24-bit time stamp in 5 ms units since the start of the stream, three 16-bit values, and an
//! 8-bit sum of zero. The stream has no delimiter, so a decoder that loses its place (garbage
//! on the line, a dropped byte) must find the packet boundaries again from the bytes alone.
//!
//! [`FastDataDecoder`] is fed bytes as they arrive and keeps its place with the time stamps:
//! - in step, it expects the next packet to carry the next time stamp. A packet that fails
//!   its checksum but carries the expected time stamp is *rejected* (counted, never used) and
//!   the decoder stays in step; a valid packet whose time stamp jumps ahead by at most
//!   [`MAX_GAP`] is used and the packets between are counted *missing*;
//! - anything else puts it out of step, and it *hunts*: it slides one byte at a time until
//!   two consecutive valid packets with consecutive time stamps line up (one valid sum alone
//!   happens by chance once in 256 windows), counting every skipped byte as *discarded*.
//!
//! A stream starts in step at time stamp 0, as the protocol says. A packet damaged while the
//! decoder hunts is discarded as bytes, not counted as rejected; the last packet of a stream
//! cannot confirm a hunt, so it is lost if the decoder is still hunting then.
//!
//! Pure: no I/O, no clock. Driven by `driver::imt_flow_analyzer` and checked with proptest.

use super::imt::{self, FAST_PACKET_LEN, FastPacket};

/// The largest forward jump of the time stamp (in 5 ms ticks, so 1 s) accepted as lost
/// packets while in step; a larger one is taken as a false alignment.
pub const MAX_GAP: u32 = 200;

/// Time stamps are 24-bit and wrap around.
const TIMESTAMP_MASK: u32 = 0x00FF_FFFF;

/// What the decoder has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecoderCounts {
    /// Valid packets decoded.
    pub packets: u64,
    /// Packets in step whose checksum failed: counted, never used.
    pub rejected: u64,
    /// Packets absent from the stream (time stamps skipped while in step).
    pub missing: u64,
    /// Bytes skipped while hunting for the packet boundaries (garbage).
    pub discarded_bytes: u64,
}

/// Splits a fast-data byte stream into checked packets, resynchronising after garbage.
#[derive(Clone, Debug)]
pub struct FastDataDecoder {
    buffer: Vec<u8>,
    /// The time stamp of the next packet when in step; `None` while hunting.
    expected: Option<u32>,
    counts: DecoderCounts,
}

impl Default for FastDataDecoder {
    fn default() -> Self {
        FastDataDecoder::new()
    }
}

impl FastDataDecoder {
    /// A decoder for a stream that starts now (first time stamp 0).
    pub fn new() -> FastDataDecoder {
        FastDataDecoder {
            buffer: Vec::with_capacity(4 * FAST_PACKET_LEN),
            expected: Some(0),
            counts: DecoderCounts::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> DecoderCounts {
        self.counts
    }

    /// Whether the decoder is in step with the packet boundaries.
    pub fn in_step(&self) -> bool {
        self.expected.is_some()
    }

    /// Feeds `bytes` and appends every packet they complete to `out`, in stream order.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<FastPacket>) {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let rest = &self.buffer[start..];
            match self.expected {
                Some(expected) => {
                    let Some(window) = first_packet(rest) else {
                        break;
                    };
                    let stamp = timestamp(window);
                    match imt::decode_fast_packet(window) {
                        Ok(packet) => {
                            let gap = stamp.wrapping_sub(expected) & TIMESTAMP_MASK;
                            if gap > MAX_GAP {
                                self.expected = None;
                                continue;
                            }
                            self.counts.missing += u64::from(gap);
                            self.counts.packets += 1;
                            out.push(packet);
                            self.expected = Some((stamp + 1) & TIMESTAMP_MASK);
                            start += FAST_PACKET_LEN;
                        }
                        Err(_) if stamp == expected => {
                            self.counts.rejected += 1;
                            self.expected = Some((expected + 1) & TIMESTAMP_MASK);
                            start += FAST_PACKET_LEN;
                        }
                        Err(_) => self.expected = None,
                    }
                }
                None => match find_boundary(rest) {
                    Some(offset) => {
                        self.counts.discarded_bytes += offset as u64;
                        start += offset;
                        self.expected = first_packet(&self.buffer[start..]).map(timestamp);
                    }
                    None => {
                        // Keep what could still begin two packets; the rest is garbage.
                        let keep = rest.len().min(2 * FAST_PACKET_LEN - 1);
                        let skipped = rest.len() - keep;
                        self.counts.discarded_bytes += skipped as u64;
                        start += skipped;
                        break;
                    }
                },
            }
        }
        self.buffer.drain(..start);
    }

    /// Ends the stream: bytes left over (a partial packet) count as discarded.
    pub fn finish(&mut self) -> DecoderCounts {
        self.counts.discarded_bytes += self.buffer.len() as u64;
        self.buffer.clear();
        self.counts
    }
}

fn first_packet(bytes: &[u8]) -> Option<&[u8; FAST_PACKET_LEN]> {
    bytes.get(..FAST_PACKET_LEN)?.try_into().ok()
}

fn timestamp(window: &[u8; FAST_PACKET_LEN]) -> u32 {
    u32::from_be_bytes([0, window[0], window[1], window[2]])
}

/// The first offset where two valid packets with consecutive time stamps begin.
fn find_boundary(bytes: &[u8]) -> Option<usize> {
    let pair = 2 * FAST_PACKET_LEN;
    if bytes.len() < pair {
        return None;
    }
    (0..=bytes.len() - pair).find(|&i| {
        let first = first_packet(&bytes[i..]);
        let second = first_packet(&bytes[i + FAST_PACKET_LEN..]);
        match (first, second) {
            (Some(a), Some(b)) => {
                imt::decode_fast_packet(a).is_ok()
                    && imt::decode_fast_packet(b).is_ok()
                    && timestamp(b) == (timestamp(a) + 1) & TIMESTAMP_MASK
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::imt::encode_fast_packet;
    use proptest::prelude::*;

    fn packet(ts: u32, a: u16, b: u16) -> FastPacket {
        FastPacket {
            timestamp: ts,
            values: [a, b, 0],
        }
    }

    fn stream(packets: &[FastPacket]) -> Vec<u8> {
        packets.iter().flat_map(encode_fast_packet).collect()
    }

    fn decode_all(bytes: &[u8], chunk: usize) -> (Vec<FastPacket>, DecoderCounts) {
        let mut d = FastDataDecoder::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            d.push(piece, &mut out);
        }
        (out, d.finish())
    }

    /// Packets as encoded and decoded again (the third value carries the checksum).
    fn decoded(packets: &[FastPacket]) -> Vec<FastPacket> {
        packets
            .iter()
            .map(|p| imt::decode_fast_packet(&encode_fast_packet(p)).expect("valid"))
            .collect()
    }

    #[test]
    fn a_corrupted_packet_in_step_is_rejected_and_the_next_one_used() {
        let packets: Vec<_> = (0..5).map(|t| packet(t, t as u16 * 10, 7)).collect();
        let mut bytes = stream(&packets);
        bytes[2 * FAST_PACKET_LEN + 8] ^= 0x40;
        let (out, counts) = decode_all(&bytes, 4);
        assert_eq!(out.len(), 4);
        assert_eq!(counts.rejected, 1);
        assert_eq!(counts.discarded_bytes, 0);
        assert_eq!(
            out.iter().map(|p| p.timestamp).collect::<Vec<_>>(),
            [0, 1, 3, 4]
        );
    }

    #[test]
    fn garbage_is_skipped_and_the_boundaries_found_again() {
        let packets: Vec<_> = (0..6).map(|t| packet(t, 500 + t as u16, 3)).collect();
        let mut bytes = stream(&packets[..2]);
        bytes.extend_from_slice(&[0xFF, 0x13, 0x37, 0x00, 0x42]);
        bytes.extend(stream(&packets[2..]));
        let (out, counts) = decode_all(&bytes, 7);
        assert_eq!(out, decoded(&packets));
        assert_eq!(counts.discarded_bytes, 5);
        assert_eq!(counts.rejected, 0);
    }

    #[test]
    fn a_lost_packet_is_counted_missing() {
        let packets: Vec<_> = [0, 1, 2, 4, 5].iter().map(|&t| packet(t, 1, 2)).collect();
        let (out, counts) = decode_all(&stream(&packets), 9);
        assert_eq!(out.len(), 5);
        assert_eq!(counts.missing, 1);
    }

    #[test]
    fn a_stream_joined_late_is_found_by_hunting() {
        let packets: Vec<_> = (1000..1010).map(|t| packet(t, 1, 2)).collect();
        let (out, counts) = decode_all(&stream(&packets), 5);
        // The first packet's time stamp jumps too far: it is found again by hunting.
        assert_eq!(out, decoded(&packets));
        assert_eq!(counts.discarded_bytes, 0);
    }

    proptest! {
        #[test]
        fn clean_streams_round_trip_in_any_chunking(
            values in prop::collection::vec((any::<u16>(), any::<u16>(), any::<u8>()), 1..60),
            chunk in 1usize..40,
        ) {
            let packets: Vec<_> = values.iter().enumerate().map(|(t, (a, b, c))| FastPacket {
                timestamp: t as u32,
                values: [*a, *b, u16::from(*c) << 8],
            }).collect();
            let (out, counts) = decode_all(&stream(&packets), chunk);
            prop_assert_eq!(out, decoded(&packets));
            prop_assert_eq!(counts, DecoderCounts { packets: packets.len() as u64, ..Default::default() });
        }

        #[test]
        fn garbage_anywhere_is_discarded_and_every_packet_after_it_recovered(
            n in 4usize..40,
            at in 0usize..40,
            garbage in prop::collection::vec(any::<u8>(), 1..30),
            chunk in 1usize..30,
        ) {
            // Garbage between two packets, with at least two packets after it to confirm
            // the boundaries (the decoder's stated limit).
            let at = at % (n - 1);
            let packets: Vec<_> = (0..n).map(|t| packet(t as u32, (t * 37) as u16, 9)).collect();
            let mut bytes = stream(&packets[..at]);
            bytes.extend_from_slice(&garbage);
            bytes.extend(stream(&packets[at..]));
            let (out, counts) = decode_all(&bytes, chunk);
            // A garbage window may pass the 8-bit sum by chance; the time stamps still keep
            // every decoded packet a real one, in order.
            let expected = decoded(&packets);
            prop_assert!(out.len() >= n - 2, "{} of {n}", out.len());
            for p in &out {
                prop_assert!(expected.contains(p));
            }
            prop_assert!(out.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
            prop_assert!(counts.discarded_bytes >= garbage.len() as u64 || out.len() < n);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), chunk in 1usize..20) {
            let (out, counts) = decode_all(&bytes, chunk);
            prop_assert_eq!(out.len() as u64, counts.packets);
        }
    }
}
