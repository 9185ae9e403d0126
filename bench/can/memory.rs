//! An in-process CAN bus: every frame sent by one endpoint reaches every other endpoint.
//!
//! Each endpoint has its own unbounded queue, so no frame is ever lost however slowly an
//! endpoint reads (a real bus would lose frames in an overrun; tests want certainty). An
//! endpoint that is dropped leaves the bus. Used by unit tests and by the simulated bench,
//! where the simulated slcan adapter and the simulated CANopen nodes share one bus.

use super::{CanBus, CanError, CanFrame};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

struct Queue {
    frames: Mutex<VecDeque<CanFrame>>,
    ready: Condvar,
}

struct Shared {
    name: String,
    endpoints: Mutex<Vec<(u64, Weak<Queue>)>>,
    next_id: Mutex<u64>,
    // Bumped whenever an endpoint joins or leaves, so senders know to refresh their peers.
    version: AtomicU64,
}

/// An in-process bus; endpoints are made with [`MemoryBus::endpoint`].
#[derive(Clone)]
pub struct MemoryBus {
    shared: Arc<Shared>,
}

impl MemoryBus {
    /// A new, empty bus named `name` (for messages).
    pub fn new(name: impl Into<String>) -> MemoryBus {
        MemoryBus {
            shared: Arc::new(Shared {
                name: name.into(),
                endpoints: Mutex::new(Vec::new()),
                next_id: Mutex::new(0),
                version: AtomicU64::new(0),
            }),
        }
    }

    /// A new endpoint on the bus; it receives every frame the other endpoints send from now.
    pub fn endpoint(&self) -> MemoryEndpoint {
        let queue = Arc::new(Queue {
            frames: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        });
        let id = {
            let mut next = lock(&self.shared.next_id);
            *next += 1;
            *next
        };
        let mut endpoints = lock(&self.shared.endpoints);
        endpoints.retain(|(_, q)| q.strong_count() > 0);
        endpoints.push((id, Arc::downgrade(&queue)));
        self.shared.version.fetch_add(1, Ordering::AcqRel);
        MemoryEndpoint {
            shared: Arc::clone(&self.shared),
            queue,
            id,
            peers: Vec::new(),
            generation: u64::MAX,
        }
    }

    /// How many endpoints are on the bus.
    pub fn endpoints(&self) -> usize {
        lock(&self.shared.endpoints)
            .iter()
            .filter(|(_, q)| q.strong_count() > 0)
            .count()
    }
}

/// One node's attachment to a [`MemoryBus`].
pub struct MemoryEndpoint {
    shared: Arc<Shared>,
    queue: Arc<Queue>,
    id: u64,
    // The peers' queues, cached so a send takes one lock per peer and not the bus's lock;
    // refreshed when the number of endpoints changes.
    peers: Vec<Arc<Queue>>,
    generation: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking endpoint leaves frames that are still whole: keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryEndpoint {
    /// Sends a frame; never blocks (every queue is unbounded).
    pub fn post(&mut self, frame: &CanFrame) {
        refresh(&self.shared, self.id, &mut self.peers, &mut self.generation);
        deliver(&self.peers, frame);
    }

    /// A handle that sends as this endpoint (its frames do not come back to it), for a
    /// node that sends from one thread and receives on another.
    pub fn sender(&self) -> MemorySender {
        MemorySender {
            shared: Arc::clone(&self.shared),
            id: self.id,
            peers: Vec::new(),
            generation: u64::MAX,
        }
    }

    /// Frames waiting in this endpoint's queue.
    pub fn pending(&self) -> usize {
        lock(&self.queue.frames).len()
    }
}

/// Sends on behalf of a [`MemoryEndpoint`], from another thread.
pub struct MemorySender {
    shared: Arc<Shared>,
    id: u64,
    peers: Vec<Arc<Queue>>,
    generation: u64,
}

impl MemorySender {
    /// Sends a frame to every endpoint but the one this sender speaks for; never blocks.
    pub fn post(&mut self, frame: &CanFrame) {
        refresh(&self.shared, self.id, &mut self.peers, &mut self.generation);
        deliver(&self.peers, frame);
    }
}

fn refresh(shared: &Shared, me: u64, peers: &mut Vec<Arc<Queue>>, generation: &mut u64) {
    let version = shared.version.load(Ordering::Acquire);
    if version != *generation {
        let endpoints = lock(&shared.endpoints);
        *peers = endpoints
            .iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(_, q)| q.upgrade())
            .collect();
        *generation = version;
    }
}

fn deliver(peers: &[Arc<Queue>], frame: &CanFrame) {
    for peer in peers {
        lock(&peer.frames).push_back(*frame);
        peer.ready.notify_one();
    }
}

impl CanBus for MemoryEndpoint {
    fn send(&mut self, frame: &CanFrame, _timeout: Duration) -> Result<(), CanError> {
        self.post(frame);
        Ok(())
    }

    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        let deadline = Instant::now() + timeout;
        let mut frames = lock(&self.queue.frames);
        loop {
            if let Some(frame) = frames.pop_front() {
                return Ok(frame);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(CanError::Timeout {
                    bus: self.shared.name.clone(),
                    waited_ms: timeout.as_millis(),
                });
            }
            frames = self
                .queue
                .ready
                .wait_timeout(frames, remaining)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn describe(&self) -> String {
        format!("in-process bus `{}`", self.shared.name)
    }
}

impl Drop for MemoryEndpoint {
    fn drop(&mut self) {
        let mut endpoints = lock(&self.shared.endpoints);
        endpoints.retain(|(id, _)| *id != self.id);
        self.shared.version.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::CanId;

    fn frame(n: u32) -> CanFrame {
        CanFrame::data(CanId::Extended(n & 0x1FFF_FFFF), &n.to_le_bytes()).unwrap()
    }

    #[test]
    fn every_other_endpoint_receives_every_frame_in_order() {
        let bus = MemoryBus::new("test");
        let mut a = bus.endpoint();
        let mut b = bus.endpoint();
        let mut c = bus.endpoint();
        let t = Duration::from_millis(100);
        for n in 0..100 {
            a.send(&frame(n), t).unwrap();
        }
        for n in 0..100 {
            assert_eq!(b.receive(t).unwrap(), frame(n));
            assert_eq!(c.receive(t).unwrap(), frame(n));
        }
        // The sender does not hear itself.
        assert!(
            a.receive(Duration::from_millis(5))
                .unwrap_err()
                .is_timeout()
        );
        assert_eq!(bus.endpoints(), 3);
        drop(c);
        assert_eq!(bus.endpoints(), 2);
        b.send(&frame(7), t).unwrap();
        assert_eq!(a.receive(t).unwrap(), frame(7));
    }

    #[test]
    fn a_receiver_on_another_thread_loses_nothing() {
        let bus = MemoryBus::new("threads");
        let mut tx = bus.endpoint();
        let mut rx = bus.endpoint();
        let reader = std::thread::spawn(move || {
            (0..10_000u32)
                .map(|_| {
                    rx.receive(Duration::from_secs(2))
                        .map(|f| f.data_bytes()[0])
                })
                .collect::<Result<Vec<_>, _>>()
        });
        for n in 0..10_000u32 {
            tx.send(&frame(n), Duration::ZERO).unwrap();
        }
        let got = reader.join().unwrap().unwrap();
        assert_eq!(got.len(), 10_000);
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, b)| *b == (i as u32).to_le_bytes()[0])
        );
    }

    #[test]
    fn a_quiet_bus_times_out() {
        let bus = MemoryBus::new("quiet");
        let mut a = bus.endpoint();
        let start = Instant::now();
        let err = a.receive(Duration::from_millis(20)).unwrap_err();
        assert!(err.is_timeout());
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(err.to_string(), "quiet: no frame within 20 ms");
    }
}
