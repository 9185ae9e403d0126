//! CAN throughput: frames per second through the in-process bus, and through the simulated
//! slcan adapter over a real pseudo-terminal in both directions, counting every frame (a
//! lost or reordered frame stops the benchmark).

mod common;

use common::{figure, time};
use qbench::can::canopen::CanOpenClient;
use qbench::can::memory::MemoryBus;
use qbench::can::slcan::{SlcanBus, SlcanSettings};
use qbench::can::{CanBus, CanFrame, CanId};
use qbench::link::{SerialLink, SerialSettings};
use qbench::sim::can::{CanSimConfig, SimCanBench};
use std::time::{Duration, Instant};

const MEMORY_FRAMES: u32 = 2_000_000;
const SLCAN_FRAMES: u32 = 100_000;
const ID: CanId = CanId::Standard(0x123);
const WAIT: Duration = Duration::from_secs(5);

fn frame(n: u32) -> CanFrame {
    CanFrame::data(ID, &n.to_le_bytes()).expect("4 bytes fit")
}

/// Receives frames with `ID` until `n` arrived, checking their sequence.
fn drain(bus: &mut dyn CanBus, n: u32) {
    let mut next = 0u32;
    while next < n {
        let f = bus.receive(WAIT).expect("no frame lost");
        if f.id() != ID {
            continue;
        }
        let got = u32::from_le_bytes(f.data_bytes().try_into().expect("4 bytes"));
        assert_eq!(got, next, "frame lost or reordered");
        next += 1;
    }
}

fn main() {
    // In-process bus: one sender, one receiver on another thread.
    let bus = MemoryBus::new("bench");
    let mut tx = bus.endpoint();
    let mut rx = bus.endpoint();
    let ((), elapsed) = time(|| {
        let reader = std::thread::spawn(move || drain(&mut rx, MEMORY_FRAMES));
        for n in 0..MEMORY_FRAMES {
            tx.send(&frame(n), WAIT).expect("in-process send");
        }
        reader.join().expect("reader thread");
    });
    figure(
        "in-process bus, frames/s (2,000,000 frames, none lost)",
        f64::from(MEMORY_FRAMES) / elapsed.as_secs_f64(),
        "frames/s",
        ">= 1,000,000",
    );

    // slcan over a pty, host to bus and bus to host.
    let mut config = CanSimConfig::default();
    config.xray_generator.heartbeat_ms = 0;
    let sim = SimCanBench::start(&config, 1, 1.0).expect("simulated CAN bench");
    let port = sim.port().expect("adapter").display().to_string();
    let link = SerialLink::open(&SerialSettings::new(port)).expect("open the pty");
    let mut host = SlcanBus::open(Box::new(link), &SlcanSettings::default()).expect("open");
    let mut peer = sim.bus().endpoint();
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        drain(&mut peer, SLCAN_FRAMES);
        peer
    });
    for n in 0..SLCAN_FRAMES {
        host.send(&frame(n), WAIT).expect("slcan send");
    }
    host.flush(WAIT).expect("every frame acknowledged");
    let mut peer = reader.join().expect("reader thread");
    let elapsed = start.elapsed();
    figure(
        "slcan over a pty, host to bus, frames/s (100,000, none lost)",
        f64::from(SLCAN_FRAMES) / elapsed.as_secs_f64(),
        "frames/s",
        ">= 20,000",
    );
    let ((), elapsed) = time(|| {
        let sender = std::thread::spawn(move || {
            for n in 0..SLCAN_FRAMES {
                peer.send(&frame(n), WAIT).expect("in-process send");
            }
        });
        drain(&mut host, SLCAN_FRAMES);
        sender.join().expect("sender thread");
    });
    figure(
        "slcan over a pty, bus to host, frames/s (100,000, none lost)",
        f64::from(SLCAN_FRAMES) / elapsed.as_secs_f64(),
        "frames/s",
        ">= 20,000",
    );

    // An expedited SDO read of the simulated generator through the adapter: request out,
    // through the bus to the node and back, 2,000 times.
    let mut client = CanOpenClient::new(Box::new(host), WAIT);
    const READS: u32 = 2_000;
    let (total, elapsed) = time(|| {
        (0..READS)
            .map(|_| u64::from(client.read_u16(5, 0x2000, 1).expect("SDO read")))
            .sum::<u64>()
    });
    assert_eq!(total, 700 * u64::from(READS));
    figure(
        "SDO expedited read through slcan over a pty, mean",
        elapsed.as_secs_f64() * 1e6 / f64::from(READS),
        "µs",
        "none set",
    );
}
