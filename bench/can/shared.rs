//! One bus shared by several users: the roles of a fixture whose devices sit on the same
//! adapter (a generator and a collimator on one CAN bus).
//!
//! [`SharedBus::new`] takes the bus; [`SharedBus::endpoint`] hands out endpoints that each
//! implement [`CanBus`]. Every frame received from the bus reaches every endpoint's queue (as
//! on a real bus, where every node hears every frame); a frame sent by one endpoint goes to
//! the bus only (a real adapter does not echo it either). There is no reader thread: the
//! endpoint that is receiving reads the bus, a slice at a time, and files what it reads for
//! all. A queue nobody reads is bounded: beyond [`QUEUE_LIMIT`] frames its oldest are
//! dropped and counted, so an idle role cannot exhaust memory.

use super::{CanBus, CanError, CanFrame};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most frames a queue holds before its oldest are dropped.
pub const QUEUE_LIMIT: usize = 65_536;

/// The longest one endpoint reads the bus before letting the others in.
const SLICE: Duration = Duration::from_millis(5);

struct Hub {
    bus: Box<dyn CanBus>,
    queues: Vec<VecDeque<CanFrame>>,
    dropped: Vec<u64>,
}

/// A bus shared by several endpoints.
#[derive(Clone)]
pub struct SharedBus {
    hub: Arc<Mutex<Hub>>,
}

/// One user's view of a shared bus.
pub struct SharedEndpoint {
    hub: Arc<Mutex<Hub>>,
    index: usize,
}

fn lock(hub: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    // A user that panicked while holding the lock left the queues consistent: each change
    // is a single push or pop.
    hub.lock().unwrap_or_else(|p| p.into_inner())
}

impl SharedBus {
    /// Shares `bus`.
    pub fn new(bus: Box<dyn CanBus>) -> SharedBus {
        SharedBus {
            hub: Arc::new(Mutex::new(Hub {
                bus,
                queues: Vec::new(),
                dropped: Vec::new(),
            })),
        }
    }

    /// A new endpoint: it receives every frame read from the bus from now on.
    pub fn endpoint(&self) -> SharedEndpoint {
        let mut hub = lock(&self.hub);
        hub.queues.push(VecDeque::new());
        hub.dropped.push(0);
        SharedEndpoint {
            hub: Arc::clone(&self.hub),
            index: hub.queues.len() - 1,
        }
    }
}

impl SharedEndpoint {
    /// Frames dropped from this endpoint's queue because it was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.hub).dropped[self.index]
    }
}

impl CanBus for SharedEndpoint {
    fn send(&mut self, frame: &CanFrame, timeout: Duration) -> Result<(), CanError> {
        lock(&self.hub).bus.send(frame, timeout)
    }

    fn receive(&mut self, timeout: Duration) -> Result<CanFrame, CanError> {
        let deadline = Instant::now() + timeout;
        // The bus is read at least once, even with no time to wait: a zero timeout asks for
        // what has already arrived, and it may still be in the adapter's buffer.
        let mut read_once = false;
        loop {
            let mut hub = lock(&self.hub);
            if let Some(frame) = hub.queues[self.index].pop_front() {
                return Ok(frame);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() && read_once {
                return Err(CanError::Timeout {
                    bus: hub.bus.describe(),
                    waited_ms: timeout.as_millis(),
                });
            }
            read_once = true;
            match hub.bus.receive(remaining.min(SLICE)) {
                Ok(frame) => {
                    let hub = &mut *hub;
                    for (queue, dropped) in hub.queues.iter_mut().zip(hub.dropped.iter_mut()) {
                        if queue.len() >= QUEUE_LIMIT {
                            queue.pop_front();
                            *dropped += 1;
                        }
                        queue.push_back(frame);
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(e),
            }
            drop(hub);
            // Let another endpoint in between slices.
            std::thread::yield_now();
        }
    }

    fn describe(&self) -> String {
        lock(&self.hub).bus.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::CanId;
    use crate::can::memory::MemoryBus;

    fn frame(id: u16, byte: u8) -> CanFrame {
        CanFrame::data(CanId::Standard(id), &[byte]).unwrap()
    }

    #[test]
    fn every_endpoint_hears_every_frame_and_sends_reach_the_bus() {
        let bus = MemoryBus::new("test");
        let mut device = bus.endpoint();
        let shared = SharedBus::new(Box::new(bus.endpoint()));
        let (mut a, mut b) = (shared.endpoint(), shared.endpoint());
        let t = Duration::from_millis(100);
        for i in 0..3 {
            device.send(&frame(0x100, i), t).unwrap();
        }
        // `a` reads the bus; `b` finds the same frames already filed for it.
        for i in 0..3 {
            assert_eq!(a.receive(t).unwrap(), frame(0x100, i));
        }
        for i in 0..3 {
            assert_eq!(b.receive(t).unwrap(), frame(0x100, i));
        }
        assert!(
            b.receive(Duration::from_millis(10))
                .unwrap_err()
                .is_timeout()
        );
        a.send(&frame(0x200, 9), t).unwrap();
        assert_eq!(device.receive(t).unwrap(), frame(0x200, 9));
        // Not echoed to the other endpoint, as a real adapter does not.
        assert!(b.receive(Duration::from_millis(10)).is_err());
        assert_eq!(a.dropped(), 0);
        assert!(a.describe().contains("`test`"), "{}", a.describe());
    }

    #[test]
    fn a_zero_timeout_reads_what_already_arrived_and_idle_queues_are_bounded() {
        let bus = MemoryBus::new("test");
        let mut device = bus.endpoint();
        let shared = SharedBus::new(Box::new(bus.endpoint()));
        let (mut a, b) = (shared.endpoint(), shared.endpoint());
        device.send(&frame(0x100, 1), Duration::ZERO).unwrap();
        assert_eq!(a.receive(Duration::ZERO).unwrap(), frame(0x100, 1));
        assert!(a.receive(Duration::ZERO).unwrap_err().is_timeout());
        // `b` never reads: beyond the limit its oldest frames go, and are counted.
        for i in 0..QUEUE_LIMIT + 9 {
            device
                .send(&frame(0x101, (i % 256) as u8), Duration::ZERO)
                .unwrap();
            a.receive(Duration::from_millis(100)).unwrap();
        }
        assert_eq!((a.dropped(), b.dropped()), (0, 10));
        let mut b = b;
        assert_eq!(b.receive(Duration::ZERO).unwrap(), frame(0x101, 9));
    }

    #[test]
    fn endpoints_on_two_threads_each_get_everything() {
        let bus = MemoryBus::new("test");
        let mut device = bus.endpoint();
        let shared = SharedBus::new(Box::new(bus.endpoint()));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let mut e = shared.endpoint();
                std::thread::spawn(move || {
                    (0..200u16)
                        .map(|_| e.receive(Duration::from_secs(2)).map(|f| f.data_bytes()[0]))
                        .collect::<Result<Vec<u8>, _>>()
                })
            })
            .collect();
        for i in 0..200u16 {
            device
                .send(&frame(0x100, (i % 256) as u8), Duration::from_millis(100))
                .unwrap();
        }
        let expected: Vec<u8> = (0..200u16).map(|i| (i % 256) as u8).collect();
        for r in readers {
            assert_eq!(r.join().unwrap().unwrap(), expected);
        }
    }
}
