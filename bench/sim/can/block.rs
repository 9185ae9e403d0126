//! The SDO block transfer server of a simulated node (CiA 301 §7.2.4.3.9–16), beside the
//! expedited and segmented server of `node.rs`: it speaks the same codec as the client
//! (`can::canopen::sdo_block`), checks the CRC of a download and sends one with an upload.
//!
//! A block segment is recognised only while a block transfer is under way (its first byte is
//! a sequence number, not a command specifier); any other frame goes to the ordinary server.

use super::node::SdoTarget;
use crate::can::canopen::SdoAbort;
use crate::can::canopen::sdo_block::{
    BlockRequest, BlockResponse, blocks, crc16, decode_segment, encode_segment, unused_in_last,
};

/// Segments per block the simulated node accepts in a download (small, so that a short
/// object already takes several blocks).
pub(crate) const DOWNLOAD_BLOCK: u8 = 4;

enum State {
    Idle,
    /// Receiving segments, `expected` next; `received` holds whole 7-byte segments.
    Download {
        index: u16,
        sub: u8,
        size: u32,
        received: Vec<u8>,
        expected: u8,
        done: bool,
    },
    /// Sending: `acknowledged` segments confirmed by the client so far; `finished` once the
    /// end (size and CRC) went out.
    Upload {
        index: u16,
        sub: u8,
        data: Vec<u8>,
        block_size: u8,
        acknowledged: usize,
        finished: bool,
    },
}

/// The block transfer in progress, if any.
pub(crate) struct BlockServer {
    state: State,
}

fn abort(index: u16, sub: u8, code: SdoAbort) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[0] = 0x80;
    out[1..3].copy_from_slice(&index.to_le_bytes());
    out[3] = sub;
    out[4..8].copy_from_slice(&code.0.to_le_bytes());
    out
}

impl BlockServer {
    pub(crate) fn new() -> BlockServer {
        BlockServer { state: State::Idle }
    }

    /// The frames answering `b`, or `None` when `b` is not for the block server (the
    /// ordinary SDO server takes it).
    pub(crate) fn handle(
        &mut self,
        b: &[u8; 8],
        target: &mut dyn SdoTarget,
    ) -> Option<Vec<[u8; 8]>> {
        if b[0] == 0x80 {
            // The client's abort ends any transfer; the ordinary server ignores it too.
            self.state = State::Idle;
            return None;
        }
        let state = std::mem::replace(&mut self.state, State::Idle);
        match state {
            State::Download {
                index,
                sub,
                size,
                mut received,
                expected,
                done: false,
            } => {
                let (seqno, last, data) = decode_segment(b);
                if seqno != expected {
                    return Some(vec![abort(index, sub, SdoAbort(0x0504_0003))]);
                }
                received.extend_from_slice(&data);
                let block_end = last || seqno == DOWNLOAD_BLOCK;
                let mut out = Vec::new();
                if block_end {
                    out.push(
                        BlockResponse::DownloadAck {
                            ackseq: seqno,
                            block_size: DOWNLOAD_BLOCK,
                        }
                        .encode(),
                    );
                }
                self.state = State::Download {
                    index,
                    sub,
                    size,
                    received,
                    expected: if block_end { 1 } else { seqno + 1 },
                    done: last,
                };
                Some(out)
            }
            State::Download {
                index,
                sub,
                size,
                mut received,
                done: true,
                ..
            } => match BlockRequest::decode(b) {
                Some(BlockRequest::EndDownload { unused, crc }) => {
                    let keep = received.len().saturating_sub(usize::from(unused));
                    received.truncate(keep);
                    if received.len() != size as usize {
                        return Some(vec![abort(index, sub, SdoAbort::LENGTH_MISMATCH)]);
                    }
                    if crc16(&received) != crc {
                        return Some(vec![abort(index, sub, SdoAbort(0x0504_0004))]);
                    }
                    Some(vec![match target.sdo_write(index, sub, &received) {
                        Ok(()) => BlockResponse::EndDownload.encode(),
                        Err(a) => abort(index, sub, a),
                    }])
                }
                _ => Some(vec![abort(index, sub, SdoAbort::BAD_COMMAND)]),
            },
            State::Upload {
                index,
                sub,
                data,
                block_size,
                acknowledged,
                finished,
            } => {
                let request = BlockRequest::decode(b);
                let acknowledged = match request {
                    Some(BlockRequest::StartUpload) if acknowledged == 0 => 0,
                    Some(BlockRequest::UploadAck { ackseq, .. }) if !finished => {
                        acknowledged + usize::from(ackseq)
                    }
                    Some(BlockRequest::EndUpload) if finished => return Some(Vec::new()),
                    _ => return Some(vec![abort(index, sub, SdoAbort::BAD_COMMAND)]),
                };
                let segments: Vec<(u8, bool, &[u8])> =
                    blocks(&data, 1).into_iter().flatten().collect();
                if acknowledged >= segments.len() {
                    let end = BlockResponse::EndUpload {
                        unused: unused_in_last(data.len()),
                        crc: crc16(&data),
                    }
                    .encode();
                    self.state = State::Upload {
                        index,
                        sub,
                        data,
                        block_size,
                        acknowledged,
                        finished: true,
                    };
                    return Some(vec![end]);
                }
                let block: Vec<[u8; 8]> = segments[acknowledged..]
                    .iter()
                    .take(usize::from(block_size))
                    .enumerate()
                    .map(|(i, (_, last, chunk))| encode_segment(i as u8 + 1, *last, chunk))
                    .collect();
                self.state = State::Upload {
                    index,
                    sub,
                    data,
                    block_size,
                    acknowledged,
                    finished: false,
                };
                Some(block)
            }
            State::Idle => match BlockRequest::decode(b)? {
                BlockRequest::InitiateDownload {
                    index,
                    subindex,
                    size,
                    ..
                } => {
                    self.state = State::Download {
                        index,
                        sub: subindex,
                        size,
                        received: Vec::new(),
                        expected: 1,
                        done: false,
                    };
                    Some(vec![
                        BlockResponse::InitiateDownload {
                            index,
                            subindex,
                            block_size: DOWNLOAD_BLOCK,
                            crc: true,
                        }
                        .encode(),
                    ])
                }
                BlockRequest::InitiateUpload {
                    index,
                    subindex,
                    block_size,
                    ..
                } => {
                    if !(1..=127).contains(&block_size) {
                        return Some(vec![abort(index, subindex, SdoAbort(0x0504_0002))]);
                    }
                    match target.sdo_read(index, subindex) {
                        Ok(data) => {
                            let size = data.len() as u32;
                            self.state = State::Upload {
                                index,
                                sub: subindex,
                                data,
                                block_size,
                                acknowledged: 0,
                                finished: false,
                            };
                            Some(vec![
                                BlockResponse::InitiateUpload {
                                    index,
                                    subindex,
                                    size,
                                    crc: true,
                                }
                                .encode(),
                            ])
                        }
                        Err(a) => Some(vec![abort(index, subindex, a)]),
                    }
                }
                // Block commands with nothing under way: not for us unless they look like
                // our own specifiers; the ordinary server answers what it knows.
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::canopen::sdo_block::BlockRequest;

    /// One object, 2003h sub 0, any bytes.
    struct One(Vec<u8>);
    impl SdoTarget for One {
        fn sdo_read(&mut self, _: u16, _: u8) -> Result<Vec<u8>, SdoAbort> {
            Ok(self.0.clone())
        }
        fn sdo_write(&mut self, _: u16, _: u8, data: &[u8]) -> Result<(), SdoAbort> {
            self.0 = data.to_vec();
            Ok(())
        }
    }

    fn download(server: &mut BlockServer, target: &mut One, data: &[u8], crc: u16) -> [u8; 8] {
        let start = BlockRequest::InitiateDownload {
            index: 0x2003,
            subindex: 0,
            size: data.len() as u32,
            crc: true,
        };
        server.handle(&start.encode(), target).unwrap();
        for block in blocks(data, DOWNLOAD_BLOCK) {
            for (seqno, last, chunk) in block {
                server.handle(&encode_segment(seqno, last, chunk), target);
            }
        }
        let end = BlockRequest::EndDownload {
            unused: unused_in_last(data.len()),
            crc,
        };
        server.handle(&end.encode(), target).unwrap()[0]
    }

    #[test]
    fn a_wrong_crc_is_aborted_and_nothing_written() {
        let mut target = One(b"old".to_vec());
        let mut server = BlockServer::new();
        let data = b"a new label of some length";
        let answer = download(&mut server, &mut target, data, crc16(data) ^ 1);
        assert_eq!(answer[0], 0x80);
        assert_eq!(
            u32::from_le_bytes([answer[4], answer[5], answer[6], answer[7]]),
            0x0504_0004
        );
        assert_eq!(target.0, b"old");
        let answer = download(&mut BlockServer::new(), &mut target, data, crc16(data));
        assert_eq!(answer, BlockResponse::EndDownload.encode());
        assert_eq!(target.0, data);
    }

    #[test]
    fn a_segment_out_of_sequence_is_aborted() {
        let mut target = One(Vec::new());
        let mut server = BlockServer::new();
        let start = BlockRequest::InitiateDownload {
            index: 0x2003,
            subindex: 0,
            size: 20,
            crc: true,
        };
        server.handle(&start.encode(), &mut target).unwrap();
        let answer = server
            .handle(&encode_segment(2, false, b"abcdefg"), &mut target)
            .unwrap();
        assert_eq!(
            u32::from_le_bytes([answer[0][4], answer[0][5], answer[0][6], answer[0][7]]),
            0x0504_0003
        );
    }
}
