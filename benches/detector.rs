//! The flat-panel detector's acquisition path at full field, 3072 × 3072: frames through the
//! image channel (encoded with their CRC-32, sent over loopback TCP, read back through qbench's
//! TCP link and checked) and folded into the driver's `AcquisitionSession` (dark and exposed
//! series, NPS), then the series figures a procedure reads (dark statistics, uniformity,
//! defects, NPS). Prints time per frame, channel throughput and peak memory in frames' worth.

mod common;

use qbench::imaging::{AcquisitionSession, FrameKind, PixelPitch, SessionConfig};
use qbench::link::{LinkSettings, TcpSettings, open_link};
use qbench::protocol::image_frame;
use qbench::sim::detector_image::{DefectConfig, DetectorImageConfig, DetectorImageModel};
use std::io::Write;
use std::time::Duration;

const SIDE: usize = 3072;
/// Eight dark frames: with fewer, the noisy-pixel criterion (3 × the median temporal SD)
/// flags many sound pixels, the median SD of few frames being well below σ.
const DARK: usize = 8;
const EXPOSED: usize = 4;
/// A 43 cm detector of 3072 pixels.
const PITCH_MM: f64 = 0.139;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frame_mib = (SIDE * SIDE * 2) as f64 / (1024.0 * 1024.0);
    let mut model = DetectorImageModel::new(DetectorImageConfig {
        width: SIDE,
        height: SIDE,
        lag: 0.002,
        defects: DefectConfig {
            dead_pixels: 20,
            hot_pixels: 20,
            noisy_pixels: 10,
            dead_columns: vec![1000],
            ..DefectConfig::default()
        },
        ..DetectorImageConfig::default()
    })?;
    // The detector's side of the channel: a listener on loopback, one message per frame.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let mut link = open_link(&LinkSettings::Tcp(TcpSettings::new(
        address.ip().to_string(),
        address.port(),
    )))?;
    let (mut server, _) = listener.accept()?;
    let baseline = common::resident_mib();
    let mut session = AcquisitionSession::new(
        SessionConfig::standard(PixelPitch::square(PITCH_MM)),
        SIDE,
        SIDE,
    )?;
    let (mut channel, mut analyse) = (Vec::new(), Vec::new());
    for i in 0..DARK + EXPOSED {
        let (kind, kerma) = if i < DARK {
            (FrameKind::Dark, 0.0)
        } else {
            (FrameKind::Exposed, 5.0)
        };
        let message = image_frame::encode(i as u32 + 1, &model.acquire(kerma));
        // Send from a thread (the socket buffer is smaller than a frame) while the link reads.
        let (received, t) = common::time(|| {
            std::thread::scope(|scope| {
                let sender = scope.spawn(|| server.write_all(&message));
                let received = receive(link.as_mut());
                let sent = sender.join();
                (received, sent)
            })
        });
        let (frame, sent) = received;
        sent.map_err(|_| "sender panicked")??;
        let frame = frame.map_err(|e| e.to_string())?;
        channel.push(t);
        drop(message);
        let (added, t) = common::time(|| session.add(&frame, kind).map(|_| ()));
        added?;
        analyse.push(t);
    }
    let (dark, t_dark) = common::time(|| session.dark_stats());
    let dark = dark?;
    let (uniformity, t_uniformity) = common::time(|| session.uniformity());
    let uniformity = uniformity?;
    let (defects, t_defects) = common::time(|| session.defects());
    let defects = defects?;
    let (nps, t_nps) = common::time(|| session.nps());
    let nps = nps?;
    let peak = common::peak_resident_mib();
    println!(
        "{DARK} dark + {EXPOSED} exposed frames of {SIDE} × {SIDE} ({frame_mib:.1} MiB each), \
         pitch {PITCH_MM} mm; offset {:.1}, dark noise {:.2}, global non-uniformity {:.3} %, \
         {} defective pixels, {} NPS ROIs, {} threads",
        dark.offset,
        dark.temporal_noise,
        100.0 * uniformity.signal.global,
        defects.report.defective,
        nps.rois,
        rayon::current_num_threads()
    );
    let mean = |v: &[Duration]| v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64;
    common::figure(
        "image channel: frame over loopback TCP, CRC checked, mean",
        mean(&channel),
        "s",
        "none",
    );
    common::figure(
        "image channel throughput",
        frame_mib / mean(&channel),
        "MiB/s",
        "none",
    );
    common::figure(
        "session: add a dark frame, mean",
        mean(&analyse[..DARK]),
        "s",
        "≤ 0.1 s",
    );
    common::figure(
        "session: add an exposed frame (with NPS), mean",
        mean(&analyse[DARK..]),
        "s",
        "≤ 0.1 s",
    );
    common::figure("series: dark statistics", t_dark.as_secs_f64(), "s", "none");
    common::figure(
        "series: TG-150 uniformity",
        t_uniformity.as_secs_f64(),
        "s",
        "none",
    );
    common::figure("series: defects", t_defects.as_secs_f64(), "s", "none");
    common::figure("series: NPS result", t_nps.as_secs_f64(), "s", "none");
    common::figure("peak resident memory (VmHWM)", peak, "MiB", "n/a");
    common::figure(
        "peak above start, in 16-bit frames",
        (peak - baseline) / frame_mib,
        "frames",
        "a few (accumulators ≈ 10)",
    );
    Ok(())
}

/// Reads one message from the channel and checks it, as the driver does.
fn receive(
    link: &mut dyn qbench::link::ByteLink,
) -> Result<qbench::imaging::Frame<u16>, Box<dyn std::error::Error + Send + Sync>> {
    let head = link.receive_exact(image_frame::HEADER_LEN, Duration::from_secs(10))?;
    let head: [u8; image_frame::HEADER_LEN] = head.try_into().map_err(|_| "short header")?;
    let header = image_frame::decode_header(&head)?;
    let payload = link.receive_exact(header.length as usize, Duration::from_secs(10))?;
    Ok(image_frame::decode_payload(&header, &payload)?)
}
