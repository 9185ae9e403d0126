//! The CANopen client (master side): NMT, heartbeat consumer, SDO client, PDO and EMCY
//! reception, over one [`CanBus`].
//!
//! Every frame the client reads goes through one dispatcher, whatever the call waiting for
//! it: heartbeats update the nodes' states, EMCY messages are queued, mapped PDOs update the
//! latest values, and only an SDO response goes back to the transfer waiting for it. So a
//! PDO arriving in the middle of an SDO transfer is never lost, and a watched node that
//! falls silent is noticed by whichever call is running when its heartbeat timeout expires.

use super::sdo::{Initiate, ObjectAddress, SdoRequest, SdoResponse, segments};
use super::{
    Emergency, NmtCommand, NmtState, PdoError, PdoMapping, SDO_RX_BASE, SDO_TX_BASE, SdoAbort,
    parse_heartbeat,
};
use crate::can::{CanBus, CanError, CanFrame, CanId};
use crate::units::Quantity;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// An error of the CANopen client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanOpenError {
    /// The bus or adapter failed.
    #[error("the CAN bus failed")]
    Bus(#[source] CanError),
    /// A watched node sent no heartbeat within its timeout.
    #[error(
        "node {node} lost: no heartbeat for {silent_ms} ms (heartbeat timeout {timeout_ms} ms)"
    )]
    NodeLost {
        /// The node.
        node: u8,
        /// How long it has been silent.
        silent_ms: u128,
        /// Its heartbeat timeout.
        timeout_ms: u128,
    },
    /// The node aborted an SDO transfer.
    #[error("node {node} aborted the SDO {direction} of {object}: {abort}")]
    SdoAborted {
        /// The node.
        node: u8,
        /// `upload` (read) or `download` (write).
        direction: &'static str,
        /// The object.
        object: ObjectAddress,
        /// The abort code, with its meaning.
        abort: SdoAbort,
    },
    /// The node did not answer an SDO request in time.
    #[error("node {node} did not answer the SDO {direction} of {object} within {waited_ms} ms")]
    SdoTimeout {
        /// The node.
        node: u8,
        /// `upload` or `download`.
        direction: &'static str,
        /// The object.
        object: ObjectAddress,
        /// How long the client waited for the answer.
        waited_ms: u128,
    },
    /// The node answered outside the SDO protocol; the client aborted the transfer.
    #[error("node {node} broke the SDO protocol during the {direction} of {object}: {detail}")]
    SdoProtocol {
        /// The node.
        node: u8,
        /// `upload` or `download`.
        direction: &'static str,
        /// The object.
        object: ObjectAddress,
        /// What was wrong.
        detail: String,
    },
    /// A value read by SDO does not have the length its type needs.
    #[error("node {node}: {object} has {len} bytes where {expected} were expected")]
    ValueLength {
        /// The node.
        node: u8,
        /// The object.
        object: ObjectAddress,
        /// Bytes received.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// A node did not reach an NMT state in time.
    #[error("node {node} did not report {expected} within {waited_ms} ms (last reported: {last})")]
    StateTimeout {
        /// The node.
        node: u8,
        /// The state awaited.
        expected: NmtState,
        /// The last state it reported (`nothing` if none).
        last: String,
        /// How long the client waited.
        waited_ms: u128,
    },
    /// No PDO with the COB-ID arrived in time.
    #[error("no PDO with COB-ID {cob_id:03X}h within {waited_ms} ms")]
    NoPdo {
        /// The COB-ID.
        cob_id: u16,
        /// How long the client waited.
        waited_ms: u128,
    },
    /// A PDO mapping is unusable, or a PDO did not match it.
    #[error("PDO with COB-ID {cob_id:03X}h")]
    Pdo {
        /// The COB-ID.
        cob_id: u16,
        /// The cause.
        #[source]
        source: PdoError,
    },
    /// A node id outside 1 to 127.
    #[error("invalid node id {0} (expected 1 to 127)")]
    BadNode(u8),
}

impl CanOpenError {
    /// The node the error concerns, if one.
    pub fn node(&self) -> Option<u8> {
        match self {
            CanOpenError::NodeLost { node, .. }
            | CanOpenError::SdoAborted { node, .. }
            | CanOpenError::SdoTimeout { node, .. }
            | CanOpenError::SdoProtocol { node, .. }
            | CanOpenError::ValueLength { node, .. }
            | CanOpenError::StateTimeout { node, .. } => Some(*node),
            CanOpenError::BadNode(node) => Some(*node),
            _ => None,
        }
    }
}

/// What the heartbeat consumer knows of one watched node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatStatus {
    /// The node.
    pub node: u8,
    /// The state its last heartbeat reported, if any came.
    pub state: Option<NmtState>,
    /// Time since its last heartbeat (or since watching started, if none came).
    pub silent_for: Duration,
    /// Its heartbeat timeout.
    pub timeout: Duration,
}

struct Watch {
    timeout: Duration,
    last_seen: Instant,
}

/// A CANopen client on one bus.
pub struct CanOpenClient {
    bus: Box<dyn CanBus>,
    sdo_timeout: Duration,
    states: BTreeMap<u8, (NmtState, Instant)>,
    watches: BTreeMap<u8, Watch>,
    mappings: BTreeMap<u16, PdoMapping>,
    latest: BTreeMap<String, Quantity>,
    pdo_seen: BTreeMap<u16, u64>,
    emergencies: VecDeque<Emergency>,
    /// Frames read while judging heartbeats that a call may still be waiting for.
    backlog: VecDeque<CanFrame>,
}

/// At most this many EMCY messages are kept undrained; older ones are dropped first.
const EMCY_CAPACITY: usize = 10_000;

fn check_node(node: u8) -> Result<(), CanOpenError> {
    if (1..=127).contains(&node) {
        Ok(())
    } else {
        Err(CanOpenError::BadNode(node))
    }
}

impl CanOpenClient {
    /// A client on `bus`, waiting at most `sdo_timeout` for each SDO answer.
    pub fn new(bus: Box<dyn CanBus>, sdo_timeout: Duration) -> CanOpenClient {
        CanOpenClient {
            bus,
            sdo_timeout,
            states: BTreeMap::new(),
            watches: BTreeMap::new(),
            mappings: BTreeMap::new(),
            latest: BTreeMap::new(),
            pdo_seen: BTreeMap::new(),
            emergencies: VecDeque::new(),
            backlog: VecDeque::new(),
        }
    }

    /// The bus, as its backend describes it.
    pub fn describe(&self) -> String {
        self.bus.describe()
    }

    /// Sends an NMT command to `node` (0 for every node).
    pub fn nmt(&mut self, command: NmtCommand, node: u8) -> Result<(), CanOpenError> {
        if node != 0 {
            check_node(node)?;
        }
        self.bus
            .send(&command.frame(node), self.sdo_timeout)
            .map_err(CanOpenError::Bus)?;
        if matches!(
            command,
            NmtCommand::ResetNode | NmtCommand::ResetCommunication
        ) {
            // The old state no longer holds; the boot-up message will tell the new one.
            if node == 0 {
                self.states.clear();
            } else {
                self.states.remove(&node);
            }
        }
        Ok(())
    }

    /// Starts watching `node`'s heartbeat: from now on, any call that finds it silent for
    /// longer than `timeout` fails with [`CanOpenError::NodeLost`].
    pub fn watch_heartbeat(&mut self, node: u8, timeout: Duration) -> Result<(), CanOpenError> {
        check_node(node)?;
        let last_seen = match self.states.get(&node) {
            Some((_, at)) => *at,
            None => Instant::now(),
        };
        self.watches.insert(node, Watch { timeout, last_seen });
        Ok(())
    }

    /// Stops watching `node`'s heartbeat (before stopping it on purpose, say).
    pub fn unwatch_heartbeat(&mut self, node: u8) {
        self.watches.remove(&node);
    }

    /// The heartbeat status of every watched node.
    pub fn heartbeats(&self) -> Vec<HeartbeatStatus> {
        let now = Instant::now();
        self.watches
            .iter()
            .map(|(node, w)| HeartbeatStatus {
                node: *node,
                state: self.states.get(node).map(|(s, _)| *s),
                silent_for: now.saturating_duration_since(w.last_seen),
                timeout: w.timeout,
            })
            .collect()
    }

    /// The state `node` last reported by heartbeat or boot-up, if any.
    pub fn state(&self, node: u8) -> Option<NmtState> {
        self.states.get(&node).map(|(s, _)| *s)
    }

    /// Declares a PDO mapping; PDOs with its COB-ID are decoded from now on.
    pub fn add_pdo_mapping(&mut self, mapping: PdoMapping) -> Result<(), CanOpenError> {
        mapping.validate().map_err(|source| CanOpenError::Pdo {
            cob_id: mapping.cob_id,
            source,
        })?;
        self.mappings.insert(mapping.cob_id, mapping);
        Ok(())
    }

    /// Sends a PDO (a receive PDO of a node: the host transmits it) with `data`, up to 8 bytes.
    pub fn send_pdo(&mut self, cob_id: u16, data: &[u8]) -> Result<(), CanOpenError> {
        let frame = CanFrame::data(CanId::Standard(cob_id & 0x7FF), data).map_err(|e| {
            CanOpenError::Bus(CanError::Unsupported {
                bus: self.bus.describe(),
                what: format!("PDO {cob_id:03X}h: {e}"),
            })
        })?;
        self.bus
            .send(&frame, self.sdo_timeout)
            .map_err(CanOpenError::Bus)
    }

    /// The latest value of a mapped PDO signal, if one was received.
    pub fn latest(&self, name: &str) -> Option<&Quantity> {
        self.latest.get(name)
    }

    /// How many PDOs with `cob_id` were received.
    pub fn pdo_count(&self, cob_id: u16) -> u64 {
        self.pdo_seen.get(&cob_id).copied().unwrap_or(0)
    }

    /// Every EMCY message received since the last call, oldest first.
    pub fn drain_emergencies(&mut self) -> Vec<Emergency> {
        self.emergencies.drain(..).collect()
    }

    /// Handles frames for `duration` (heartbeats, EMCY, PDOs), then checks the heartbeats.
    pub fn poll(&mut self, duration: Duration) -> Result<(), CanOpenError> {
        let deadline = Instant::now() + duration;
        loop {
            self.check_heartbeats_now()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(());
            }
            self.receive_one(remaining)?;
        }
    }

    /// Handles every frame already received, then fails if a watched node is silent for
    /// longer than its timeout.
    pub fn check_heartbeats(&mut self) -> Result<(), CanOpenError> {
        // Bounded, so a flooded bus cannot keep the check from ending.
        for _ in 0..10_000 {
            match self.bus.receive(Duration::ZERO) {
                Ok(frame) => {
                    if let Some(frame) = self.dispatch(frame)? {
                        self.backlog.push_back(frame);
                    }
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => return Err(CanOpenError::Bus(e)),
            }
        }
        self.check_heartbeats_now()
    }

    /// The first watched node silent for longer than its timeout, as an error.
    fn expired(&self) -> Option<CanOpenError> {
        let now = Instant::now();
        self.watches.iter().find_map(|(node, w)| {
            let silent = now.saturating_duration_since(w.last_seen);
            (silent > w.timeout).then_some(CanOpenError::NodeLost {
                node: *node,
                silent_ms: silent.as_millis(),
                timeout_ms: w.timeout.as_millis(),
            })
        })
    }

    /// Fails if a watched node is silent for longer than its timeout. Before judging, every
    /// frame already received is read: a heartbeat waiting unread in the adapter's queue (a
    /// caller that did not touch the bus for a while) is not a lost node.
    fn check_heartbeats_now(&mut self) -> Result<(), CanOpenError> {
        if self.expired().is_none() {
            return Ok(());
        }
        // Bounded, so a flooded bus cannot keep the check from ending.
        for _ in 0..10_000 {
            match self.bus.receive(Duration::ZERO) {
                Ok(frame) => {
                    if let Some(frame) = self.dispatch(frame)? {
                        self.backlog.push_back(frame);
                    }
                }
                Err(e) if e.is_timeout() => break,
                Err(e) => return Err(CanOpenError::Bus(e)),
            }
        }
        match self.expired() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// How long until the first watched heartbeat expires.
    fn until_heartbeat_expiry(&self) -> Duration {
        let now = Instant::now();
        self.watches
            .values()
            .map(|w| (w.last_seen + w.timeout).saturating_duration_since(now))
            .min()
            .map(|d| d + Duration::from_millis(1))
            .unwrap_or(Duration::MAX)
    }

    /// Receives and dispatches one frame; `None` on a quiet bus. An SDO response is
    /// returned to the caller, everything else is handled here.
    fn receive_one(&mut self, timeout: Duration) -> Result<Option<CanFrame>, CanOpenError> {
        if let Some(frame) = self.backlog.pop_front() {
            return Ok(Some(frame));
        }
        let wait = timeout.min(self.until_heartbeat_expiry());
        match self.bus.receive(wait) {
            Ok(frame) => self.dispatch(frame),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(CanOpenError::Bus(e)),
        }
    }

    /// Handles a heartbeat, EMCY or mapped PDO; hands any other frame back.
    fn dispatch(&mut self, frame: CanFrame) -> Result<Option<CanFrame>, CanOpenError> {
        let CanId::Standard(id) = frame.id() else {
            return Ok(None);
        };
        if let Some((node, state)) = parse_heartbeat(&frame) {
            let now = Instant::now();
            self.states.insert(node, (state, now));
            if let Some(w) = self.watches.get_mut(&node) {
                w.last_seen = now;
            }
            return Ok(None);
        }
        if let Some(emcy) = Emergency::parse(&frame) {
            if self.emergencies.len() == EMCY_CAPACITY {
                self.emergencies.pop_front();
            }
            self.emergencies.push_back(emcy);
            return Ok(None);
        }
        if let Some(mapping) = self.mappings.get(&id) {
            let values = mapping
                .decode(frame.data_bytes())
                .map_err(|source| CanOpenError::Pdo { cob_id: id, source })?;
            *self.pdo_seen.entry(id).or_default() += 1;
            self.latest.extend(values);
            return Ok(None);
        }
        Ok(Some(frame))
    }

    /// Waits until `node` reports `state` in a heartbeat received after this call.
    pub fn wait_for_state(
        &mut self,
        node: u8,
        state: NmtState,
        timeout: Duration,
    ) -> Result<(), CanOpenError> {
        check_node(node)?;
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            if let Some((s, at)) = self.states.get(&node)
                && *s == state
                && *at >= start
            {
                return Ok(());
            }
            self.check_heartbeats_now()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(CanOpenError::StateTimeout {
                    node,
                    expected: state,
                    last: self
                        .state(node)
                        .map_or_else(|| "nothing".to_string(), |s| s.to_string()),
                    waited_ms: timeout.as_millis(),
                });
            }
            self.receive_one(remaining)?;
        }
    }

    /// Waits for the next PDO with `cob_id` (which must have a mapping) and returns its
    /// decoded values.
    pub fn await_pdo(
        &mut self,
        cob_id: u16,
        timeout: Duration,
    ) -> Result<Vec<(String, Quantity)>, CanOpenError> {
        let before = self.pdo_count(cob_id);
        let deadline = Instant::now() + timeout;
        loop {
            if self.pdo_count(cob_id) > before {
                let names: Vec<String> = self
                    .mappings
                    .get(&cob_id)
                    .map(|m| m.signals.iter().map(|s| s.name.clone()).collect())
                    .unwrap_or_default();
                return Ok(names
                    .into_iter()
                    .filter_map(|n| self.latest.get(&n).map(|q| (n, q.clone())))
                    .collect());
            }
            self.check_heartbeats_now()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(CanOpenError::NoPdo {
                    cob_id,
                    waited_ms: timeout.as_millis(),
                });
            }
            self.receive_one(remaining)?;
        }
    }

    /// Sends one SDO request and waits for the node's response.
    fn exchange(
        &mut self,
        node: u8,
        request: &SdoRequest,
        object: ObjectAddress,
        direction: &'static str,
    ) -> Result<SdoResponse, CanOpenError> {
        let frame = CanFrame::raw_classic(
            CanId::Standard(SDO_RX_BASE + u16::from(node)),
            &request.encode(),
        );
        self.bus
            .send(&frame, self.sdo_timeout)
            .map_err(CanOpenError::Bus)?;
        let response_id = CanId::Standard(SDO_TX_BASE + u16::from(node));
        let deadline = Instant::now() + self.sdo_timeout;
        loop {
            self.check_heartbeats_now()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(CanOpenError::SdoTimeout {
                    node,
                    direction,
                    object,
                    waited_ms: self.sdo_timeout.as_millis(),
                });
            }
            if let Some(frame) = self.receive_one(remaining)?
                && frame.id() == response_id
            {
                return SdoResponse::decode(frame.data_bytes()).map_err(|e| {
                    self.abort_transfer(node, object, SdoAbort::BAD_COMMAND);
                    CanOpenError::SdoProtocol {
                        node,
                        direction,
                        object,
                        detail: e.to_string(),
                    }
                });
            }
        }
    }

    /// Sends the data bytes of one SDO frame to `node`.
    fn send_sdo(&mut self, node: u8, bytes: &[u8; 8]) -> Result<(), CanOpenError> {
        let frame = CanFrame::raw_classic(CanId::Standard(SDO_RX_BASE + u16::from(node)), bytes);
        self.bus
            .send(&frame, self.sdo_timeout)
            .map_err(CanOpenError::Bus)
    }

    /// The next SDO frame from `node`, as bytes, within the SDO timeout; an abort from the
    /// node is [`CanOpenError::SdoAborted`].
    fn await_sdo(
        &mut self,
        node: u8,
        object: ObjectAddress,
        direction: &'static str,
    ) -> Result<[u8; 8], CanOpenError> {
        let response_id = CanId::Standard(SDO_TX_BASE + u16::from(node));
        let deadline = Instant::now() + self.sdo_timeout;
        loop {
            self.check_heartbeats_now()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                self.abort_transfer(node, object, SdoAbort::TIMED_OUT);
                return Err(CanOpenError::SdoTimeout {
                    node,
                    direction,
                    object,
                    waited_ms: self.sdo_timeout.as_millis(),
                });
            }
            if let Some(frame) = self.receive_one(remaining)?
                && frame.id() == response_id
            {
                let Ok(bytes) = <[u8; 8]>::try_from(frame.data_bytes()) else {
                    let detail = format!("an SDO frame of {} bytes", frame.data_bytes().len());
                    return Err(self.protocol(
                        node,
                        object,
                        direction,
                        detail,
                        SdoAbort::BAD_COMMAND,
                    ));
                };
                if bytes[0] == 0x80 {
                    return Err(CanOpenError::SdoAborted {
                        node,
                        direction,
                        object,
                        abort: SdoAbort(u32::from_le_bytes([
                            bytes[4], bytes[5], bytes[6], bytes[7],
                        ])),
                    });
                }
                return Ok(bytes);
            }
        }
    }

    /// Writes `data` to object `index`/`subindex` of `node` with an SDO block download
    /// (CiA 301 §7.2.4.3.9): segments sent a block at a time, each block acknowledged, the
    /// CRC-16 of the data checked by the node at the end. The node sets the block size; a
    /// block it acknowledges only in part is sent again from the first segment it missed.
    pub fn sdo_block_download(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
        data: &[u8],
    ) -> Result<(), CanOpenError> {
        use super::sdo_block::{
            BlockRequest, BlockResponse, crc16, encode_segment, unused_in_last,
        };
        check_node(node)?;
        let object = ObjectAddress { index, subindex };
        const DIR: &str = "block download";
        let size = u32::try_from(data.len()).map_err(|_| {
            self.protocol(
                node,
                object,
                DIR,
                "more than 4 GiB".into(),
                SdoAbort(0x0504_0005),
            )
        })?;
        self.send_sdo(
            node,
            &BlockRequest::InitiateDownload {
                index,
                subindex,
                size,
                crc: true,
            }
            .encode(),
        )?;
        let reply = self.await_sdo(node, object, DIR)?;
        let (mut block_size, crc) = match BlockResponse::decode(&reply) {
            Some(BlockResponse::InitiateDownload {
                index: i,
                subindex: s,
                block_size,
                crc,
            }) if i == index && s == subindex && (1..=127).contains(&block_size) => {
                (block_size, crc)
            }
            other => {
                let detail = format!("expected the block download's start, received {other:?}");
                return Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND));
            }
        };
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![data]
        } else {
            data.chunks(7).collect()
        };
        let mut done = 0;
        while done < chunks.len() {
            let block: Vec<&[u8]> = chunks[done..]
                .iter()
                .take(usize::from(block_size))
                .copied()
                .collect();
            for (i, chunk) in block.iter().enumerate() {
                let last = done + i + 1 == chunks.len();
                self.send_sdo(node, &encode_segment(i as u8 + 1, last, chunk))?;
            }
            let reply = self.await_sdo(node, object, DIR)?;
            match BlockResponse::decode(&reply) {
                Some(BlockResponse::DownloadAck {
                    ackseq,
                    block_size: next,
                }) if usize::from(ackseq) <= block.len() && (1..=127).contains(&next) => {
                    done += usize::from(ackseq);
                    block_size = next;
                }
                other => {
                    let detail = format!("expected a block acknowledgement, received {other:?}");
                    return Err(self.protocol(node, object, DIR, detail, SdoAbort(0x0504_0003)));
                }
            }
        }
        let end = BlockRequest::EndDownload {
            unused: unused_in_last(data.len()),
            crc: if crc { crc16(data) } else { 0 },
        };
        self.send_sdo(node, &end.encode())?;
        match BlockResponse::decode(&self.await_sdo(node, object, DIR)?) {
            Some(BlockResponse::EndDownload) => Ok(()),
            other => {
                let detail = format!("expected the block download's end, received {other:?}");
                Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND))
            }
        }
    }

    /// Reads object `index`/`subindex` of `node` with an SDO block upload (CiA 301
    /// §7.2.4.3.12) in blocks of `block_size` segments (1 to 127), checking the node's
    /// CRC-16 of the data. A segment out of sequence ends the transfer with an abort (links
    /// to qbench's adapters lose no frame; a lost one is a fault to report, not to hide).
    pub fn sdo_block_upload(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
        block_size: u8,
    ) -> Result<Vec<u8>, CanOpenError> {
        use super::sdo_block::{BlockRequest, BlockResponse, crc16, decode_segment};
        check_node(node)?;
        let object = ObjectAddress { index, subindex };
        const DIR: &str = "block upload";
        let block_size = block_size.clamp(1, 127);
        self.send_sdo(
            node,
            &BlockRequest::InitiateUpload {
                index,
                subindex,
                block_size,
                crc: true,
            }
            .encode(),
        )?;
        let reply = self.await_sdo(node, object, DIR)?;
        let (size, crc) = match BlockResponse::decode(&reply) {
            Some(BlockResponse::InitiateUpload {
                index: i,
                subindex: s,
                size,
                crc,
            }) if i == index && s == subindex => (size, crc),
            other => {
                let detail = format!("expected the block upload's start, received {other:?}");
                return Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND));
            }
        };
        self.send_sdo(node, &BlockRequest::StartUpload.encode())?;
        let mut data = Vec::with_capacity(size.min(1 << 20) as usize + 7);
        let mut expected = 1u8;
        loop {
            let (seqno, last, bytes) = decode_segment(&self.await_sdo(node, object, DIR)?);
            if seqno != expected {
                let detail = format!("segment {seqno} where {expected} was due");
                return Err(self.protocol(node, object, DIR, detail, SdoAbort(0x0504_0003)));
            }
            data.extend_from_slice(&bytes);
            if last || seqno == block_size {
                let ack = BlockRequest::UploadAck {
                    ackseq: seqno,
                    block_size,
                };
                self.send_sdo(node, &ack.encode())?;
                expected = 1;
            } else {
                expected += 1;
            }
            if last {
                break;
            }
        }
        let (unused, node_crc) = match BlockResponse::decode(&self.await_sdo(node, object, DIR)?) {
            Some(BlockResponse::EndUpload { unused, crc }) => (unused, crc),
            other => {
                let detail = format!("expected the block upload's end, received {other:?}");
                return Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND));
            }
        };
        data.truncate(data.len().saturating_sub(usize::from(unused)));
        if data.len() != size as usize {
            let detail = format!("announced {size} bytes, sent {}", data.len());
            return Err(self.protocol(node, object, DIR, detail, SdoAbort::LENGTH_MISMATCH));
        }
        if crc && crc16(&data) != node_crc {
            let detail = format!(
                "CRC {:04X}h of the data received, the node's {node_crc:04X}h",
                crc16(&data)
            );
            return Err(self.protocol(node, object, DIR, detail, SdoAbort(0x0504_0004)));
        }
        self.send_sdo(node, &BlockRequest::EndUpload.encode())?;
        Ok(data)
    }

    /// Tells the node the client abandons the transfer (best effort: the error that caused
    /// it is what the caller reports).
    fn abort_transfer(&mut self, node: u8, object: ObjectAddress, abort: SdoAbort) {
        let request = SdoRequest::Abort {
            index: object.index,
            subindex: object.subindex,
            code: abort.0,
        };
        let frame = CanFrame::raw_classic(
            CanId::Standard(SDO_RX_BASE + u16::from(node)),
            &request.encode(),
        );
        let _ = self.bus.send(&frame, self.sdo_timeout);
    }

    fn protocol(
        &mut self,
        node: u8,
        object: ObjectAddress,
        direction: &'static str,
        detail: String,
        abort: SdoAbort,
    ) -> CanOpenError {
        self.abort_transfer(node, object, abort);
        CanOpenError::SdoProtocol {
            node,
            direction,
            object,
            detail,
        }
    }

    /// Reads object `index`/`subindex` of `node` (SDO upload, expedited or segmented).
    pub fn sdo_upload(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
    ) -> Result<Vec<u8>, CanOpenError> {
        check_node(node)?;
        let object = ObjectAddress { index, subindex };
        const DIR: &str = "upload";
        let size = match self.exchange(
            node,
            &SdoRequest::InitiateUpload { index, subindex },
            object,
            DIR,
        )? {
            SdoResponse::InitiateUpload {
                index: i,
                subindex: s,
                payload,
            } if i == index && s == subindex => match payload {
                Initiate::Expedited(data) => return Ok(data),
                Initiate::Segmented(size) => size,
            },
            SdoResponse::Abort { code, .. } => {
                return Err(CanOpenError::SdoAborted {
                    node,
                    direction: DIR,
                    object,
                    abort: SdoAbort(code),
                });
            }
            other => {
                let detail = format!("expected the upload's start, received {other:?}");
                return Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND));
            }
        };
        let mut data = Vec::with_capacity(size.unwrap_or(0).min(4096) as usize);
        let mut toggle = false;
        loop {
            match self.exchange(node, &SdoRequest::UploadSegment { toggle }, object, DIR)? {
                SdoResponse::UploadSegment {
                    toggle: t,
                    data: bytes,
                    last,
                } if t == toggle => {
                    data.extend_from_slice(&bytes);
                    if last {
                        break;
                    }
                }
                SdoResponse::UploadSegment { .. } => {
                    let detail = "toggle bit not alternated".to_string();
                    return Err(self.protocol(node, object, DIR, detail, SdoAbort::TOGGLE));
                }
                SdoResponse::Abort { code, .. } => {
                    return Err(CanOpenError::SdoAborted {
                        node,
                        direction: DIR,
                        object,
                        abort: SdoAbort(code),
                    });
                }
                other => {
                    let detail = format!("expected a segment, received {other:?}");
                    return Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND));
                }
            }
            toggle = !toggle;
        }
        if let Some(size) = size
            && data.len() != size as usize
        {
            let detail = format!("announced {size} bytes, sent {}", data.len());
            return Err(CanOpenError::SdoProtocol {
                node,
                direction: DIR,
                object,
                detail,
            });
        }
        Ok(data)
    }

    /// Writes `data` to object `index`/`subindex` of `node` (SDO download: expedited up to
    /// 4 bytes, segmented beyond).
    pub fn sdo_download(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
        data: &[u8],
    ) -> Result<(), CanOpenError> {
        check_node(node)?;
        let object = ObjectAddress { index, subindex };
        const DIR: &str = "download";
        let expedited = !data.is_empty() && data.len() <= 4;
        let payload = if expedited {
            Initiate::Expedited(data.to_vec())
        } else {
            Initiate::Segmented(Some(data.len() as u32))
        };
        let aborted = |code: u32| CanOpenError::SdoAborted {
            node,
            direction: DIR,
            object,
            abort: SdoAbort(code),
        };
        let request = SdoRequest::InitiateDownload {
            index,
            subindex,
            payload,
        };
        match self.exchange(node, &request, object, DIR)? {
            SdoResponse::InitiateDownload {
                index: i,
                subindex: s,
            } if i == index && s == subindex => {}
            SdoResponse::Abort { code, .. } => return Err(aborted(code)),
            other => {
                let detail = format!("expected the download's acceptance, received {other:?}");
                return Err(self.protocol(node, object, DIR, detail, SdoAbort::BAD_COMMAND));
            }
        }
        if expedited {
            return Ok(());
        }
        for (toggle, bytes, last) in segments(data) {
            let request = SdoRequest::DownloadSegment {
                toggle,
                data: bytes.to_vec(),
                last,
            };
            match self.exchange(node, &request, object, DIR)? {
                SdoResponse::DownloadSegment { toggle: t } if t == toggle => {}
                SdoResponse::Abort { code, .. } => return Err(aborted(code)),
                other => {
                    let detail = format!("expected a segment acknowledgement, received {other:?}");
                    return Err(self.protocol(node, object, DIR, detail, SdoAbort::TOGGLE));
                }
            }
        }
        Ok(())
    }

    fn exact<const N: usize>(
        node: u8,
        index: u16,
        subindex: u8,
        data: Vec<u8>,
    ) -> Result<[u8; N], CanOpenError> {
        // An expedited answer without a size indication carries four bytes: a shorter
        // object's value is in the first ones and the rest is padding.
        let len = data.len();
        let usable = if len == 4 && N < 4 {
            &data[..N]
        } else {
            &data[..]
        };
        usable.try_into().map_err(|_| CanOpenError::ValueLength {
            node,
            object: ObjectAddress { index, subindex },
            len,
            expected: N,
        })
    }

    /// Reads an UNSIGNED8 object.
    pub fn read_u8(&mut self, node: u8, index: u16, subindex: u8) -> Result<u8, CanOpenError> {
        let d = self.sdo_upload(node, index, subindex)?;
        Ok(Self::exact::<1>(node, index, subindex, d)?[0])
    }

    /// Reads an UNSIGNED16 object.
    pub fn read_u16(&mut self, node: u8, index: u16, subindex: u8) -> Result<u16, CanOpenError> {
        let d = self.sdo_upload(node, index, subindex)?;
        Ok(u16::from_le_bytes(Self::exact::<2>(
            node, index, subindex, d,
        )?))
    }

    /// Reads an UNSIGNED32 object.
    pub fn read_u32(&mut self, node: u8, index: u16, subindex: u8) -> Result<u32, CanOpenError> {
        let d = self.sdo_upload(node, index, subindex)?;
        Ok(u32::from_le_bytes(Self::exact::<4>(
            node, index, subindex, d,
        )?))
    }

    /// Reads a VISIBLE_STRING object (invalid UTF-8 is replaced).
    pub fn read_string(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
    ) -> Result<String, CanOpenError> {
        let d = self.sdo_upload(node, index, subindex)?;
        Ok(String::from_utf8_lossy(&d)
            .trim_end_matches('\0')
            .to_string())
    }

    /// The node's identity from the CiA 301 objects every node has: vendor id (1018h.1),
    /// device name (1008h), serial number (1018h.4), software version (100Ah).
    pub fn identity(&mut self, node: u8) -> Result<crate::driver::Identity, CanOpenError> {
        Ok(crate::driver::Identity {
            manufacturer: format!("vendor {:08X}h", self.read_u32(node, 0x1018, 1)?),
            model: self.read_string(node, 0x1008, 0)?,
            serial: self.read_u32(node, 0x1018, 4)?.to_string(),
            firmware: self.read_string(node, 0x100A, 0)?,
        })
    }

    /// Writes an UNSIGNED8 object.
    pub fn write_u8(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
        v: u8,
    ) -> Result<(), CanOpenError> {
        self.sdo_download(node, index, subindex, &[v])
    }

    /// Writes an UNSIGNED16 object.
    pub fn write_u16(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
        v: u16,
    ) -> Result<(), CanOpenError> {
        self.sdo_download(node, index, subindex, &v.to_le_bytes())
    }

    /// Writes an UNSIGNED32 object.
    pub fn write_u32(
        &mut self,
        node: u8,
        index: u16,
        subindex: u8,
        v: u32,
    ) -> Result<(), CanOpenError> {
        self.sdo_download(node, index, subindex, &v.to_le_bytes())
    }

    /// Reads the mapping of transmit PDO `tpdo` (1 to 4) from the node's 1800h+/1A00h+
    /// objects. Signals are named after the mapped object (`2012h_1`), raw and unsigned:
    /// rename them and give them a scale, sign and unit before [`add_pdo_mapping`].
    ///
    /// [`add_pdo_mapping`]: CanOpenClient::add_pdo_mapping
    pub fn read_tpdo_mapping(&mut self, node: u8, tpdo: u8) -> Result<PdoMapping, CanOpenError> {
        check_node(node)?;
        let n = u16::from(tpdo.clamp(1, 4) - 1);
        let cob = self.read_u32(node, 0x1800 + n, 1)?;
        let count = self.read_u8(node, 0x1A00 + n, 0)?;
        let mut signals = Vec::with_capacity(usize::from(count));
        let mut offset = 0u16;
        for sub in 1..=count {
            let entry = self.read_u32(node, 0x1A00 + n, sub)?;
            let (index, subindex, bits) = ((entry >> 16) as u16, (entry >> 8) as u8, entry as u8);
            signals.push(super::PdoSignal {
                name: format!("{index:04X}h_{subindex}"),
                index,
                subindex,
                bit_offset: offset,
                bit_length: bits,
                signed: false,
                scale: 1.0,
                offset: 0.0,
                unit: String::new(),
            });
            offset += u16::from(bits);
        }
        Ok(PdoMapping {
            cob_id: (cob & 0x7FF) as u16,
            signals,
        })
    }

    /// Gives the bus back.
    pub fn into_bus(self) -> Box<dyn CanBus> {
        self.bus
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::memory::MemoryBus;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const NODE: u8 = 9;

    /// A node on `bus` answering each frame with `answer(frame)`, until the guard drops.
    struct Scripted {
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Scripted {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn scripted(
        bus: &MemoryBus,
        mut answer: impl FnMut(&CanFrame) -> Vec<CanFrame> + Send + 'static,
    ) -> Scripted {
        let mut endpoint = bus.endpoint();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if let Ok(f) = endpoint.receive(Duration::from_millis(10)) {
                    for out in answer(&f) {
                        endpoint.post(&out);
                    }
                }
            }
        });
        Scripted {
            stop,
            thread: Some(thread),
        }
    }

    fn response(r: SdoResponse) -> CanFrame {
        CanFrame::raw_classic(CanId::Standard(SDO_TX_BASE + u16::from(NODE)), &r.encode())
    }

    fn client(bus: &MemoryBus, ms: u64) -> CanOpenClient {
        CanOpenClient::new(Box::new(bus.endpoint()), Duration::from_millis(ms))
    }

    #[test]
    fn a_missing_node_times_out_naming_the_object() {
        let bus = MemoryBus::new("t");
        let mut c = client(&bus, 40);
        let start = Instant::now();
        let err = c.read_u32(NODE, 0x1018, 1).unwrap_err();
        assert!(start.elapsed() < Duration::from_millis(200));
        assert_eq!(
            err.to_string(),
            "node 9 did not answer the SDO upload of 1018h sub 1 within 40 ms"
        );
        assert!(matches!(
            c.read_u8(0, 0x1000, 0),
            Err(CanOpenError::BadNode(0))
        ));
        assert!(matches!(
            c.nmt(NmtCommand::Start, 200),
            Err(CanOpenError::BadNode(200))
        ));
    }

    #[test]
    fn a_toggle_error_aborts_the_transfer() {
        let bus = MemoryBus::new("t");
        let _node = scripted(&bus, |f| match SdoRequest::decode(f.data_bytes()) {
            Ok(SdoRequest::InitiateUpload { index, subindex }) => {
                vec![response(SdoResponse::InitiateUpload {
                    index,
                    subindex,
                    payload: Initiate::Segmented(Some(10)),
                })]
            }
            // Always answers with the toggle bit set: wrong for the first segment.
            Ok(SdoRequest::UploadSegment { .. }) => vec![response(SdoResponse::UploadSegment {
                toggle: true,
                data: vec![1; 7],
                last: false,
            })],
            _ => vec![],
        });
        let mut c = client(&bus, 200);
        let mut watcher = bus.endpoint();
        let err = c.sdo_upload(NODE, 0x2000, 0).unwrap_err();
        assert!(
            err.to_string().contains("toggle bit not alternated"),
            "{err}"
        );
        // The client told the node it abandons the transfer.
        let aborted =
            std::iter::from_fn(|| watcher.receive(Duration::from_millis(50)).ok()).any(|f| {
                matches!(
                    SdoRequest::decode(f.data_bytes()),
                    Ok(SdoRequest::Abort {
                        code: 0x0503_0000,
                        ..
                    })
                )
            });
        assert!(aborted);
    }

    #[test]
    fn a_response_for_another_object_is_a_protocol_error() {
        let bus = MemoryBus::new("t");
        let _node = scripted(&bus, |f| match SdoRequest::decode(f.data_bytes()) {
            Ok(SdoRequest::InitiateDownload { .. }) => {
                vec![response(SdoResponse::InitiateDownload {
                    index: 0x1234,
                    subindex: 0,
                })]
            }
            _ => vec![],
        });
        let mut c = client(&bus, 200);
        let err = c.write_u8(NODE, 0x2000, 1, 3).unwrap_err();
        assert!(
            matches!(err, CanOpenError::SdoProtocol { node: NODE, .. }),
            "{err}"
        );
    }

    #[test]
    fn frames_arriving_during_a_transfer_are_dispatched() {
        let bus = MemoryBus::new("t");
        let _node = scripted(&bus, |f| match SdoRequest::decode(f.data_bytes()) {
            Ok(SdoRequest::InitiateUpload { index, subindex }) => vec![
                super::super::heartbeat_frame(NODE, NmtState::Operational),
                Emergency {
                    node: NODE,
                    code: 0x4210,
                    register: 0x09,
                    manufacturer: [0; 5],
                }
                .frame(),
                CanFrame::raw_classic(CanId::Standard(0x189), &[0x10, 0x27]),
                response(SdoResponse::InitiateUpload {
                    index,
                    subindex,
                    payload: Initiate::Expedited(vec![0x2A]),
                }),
            ],
            _ => vec![],
        });
        let mut c = client(&bus, 300);
        c.add_pdo_mapping(PdoMapping {
            cob_id: 0x189,
            signals: vec![super::super::PdoSignal {
                name: "temperature".into(),
                index: 0x6000,
                subindex: 1,
                bit_offset: 0,
                bit_length: 16,
                signed: true,
                scale: 0.01,
                offset: 0.0,
                unit: "°C".into(),
            }],
        })
        .unwrap();
        assert_eq!(c.read_u8(NODE, 0x1001, 0).unwrap(), 0x2A);
        assert_eq!(c.state(NODE), Some(NmtState::Operational));
        let emcy = c.drain_emergencies();
        assert_eq!(emcy.len(), 1);
        assert_eq!(emcy[0].class(), "temperature");
        assert_eq!(c.latest("temperature").map(|q| q.value), Some(100.0));
        assert_eq!(c.pdo_count(0x189), 1);
        assert!(c.drain_emergencies().is_empty());
    }

    #[test]
    fn a_watched_node_that_never_beats_is_lost() {
        let bus = MemoryBus::new("t");
        let mut c = client(&bus, 100);
        c.watch_heartbeat(NODE, Duration::from_millis(60)).unwrap();
        assert!(c.check_heartbeats().is_ok());
        let start = Instant::now();
        let err = c.poll(Duration::from_secs(2)).unwrap_err();
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(60) && waited < Duration::from_millis(300),
            "{waited:?}"
        );
        assert_eq!(err.node(), Some(NODE));
        let status = c.heartbeats();
        assert_eq!(status[0].state, None);
        c.unwatch_heartbeat(NODE);
        assert!(c.check_heartbeats().is_ok());
        let err = c.await_pdo(0x189, Duration::from_millis(20)).unwrap_err();
        assert_eq!(err.to_string(), "no PDO with COB-ID 189h within 20 ms");
    }
}
