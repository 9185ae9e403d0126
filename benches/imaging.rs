//! Flat-panel image analysis: a series of full-field 3072 × 3072 16-bit frames from the
//! simulated detector's image model, each analysed streaming (central and quadrant ROIs,
//! TG-150 uniformity grid, IEC NPS over the central 125 mm) and dropped before the next.
//! Prints the time per frame and the peak resident memory, also in frames' worth.

mod common;

use qbench::imaging::{FlatSeries, FlatSeriesConfig, Frame, NpsConfig, NpsRegion, PixelPitch};
use qbench::sim::detector_image::{DefectConfig, DetectorImageConfig, DetectorImageModel};
use std::time::Duration;

const SIDE: usize = 3072;
const FRAMES: usize = 5;
/// A 43 cm detector of 3072 pixels.
const PITCH_MM: f64 = 0.139;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frame_mib = (SIDE * SIDE * 2) as f64 / (1024.0 * 1024.0);
    let baseline = common::resident_mib();
    let mut model = DetectorImageModel::new(DetectorImageConfig {
        width: SIDE,
        height: SIDE,
        defects: DefectConfig {
            dead_pixels: 20,
            hot_pixels: 20,
            noisy_pixels: 10,
            dead_columns: vec![1000],
            ..DefectConfig::default()
        },
        ..DetectorImageConfig::default()
    })?;
    let pitch = PixelPitch::square(PITCH_MM);
    let config = FlatSeriesConfig::standard(pitch);
    let mut series = FlatSeries::new(&config, SIDE, SIDE)?;
    let (mut generate, mut analyse) = (Vec::new(), Vec::new());
    for _ in 0..FRAMES {
        let (frame, t) = common::time(|| model.acquire(5.0));
        generate.push(t);
        let (result, t) = common::time(|| series.add(&frame));
        result?;
        analyse.push(t);
    }
    let result = series.result()?;
    let peak = common::peak_resident_mib();
    // The first frame also pays for starting the thread pool and first-touching the
    // working buffers: reported on its own line.
    let cold = analyse[0].as_secs_f64();
    let (mean, max) = stats(&analyse[1..]);
    println!(
        "{FRAMES} frames of {SIDE} × {SIDE}, pitch {PITCH_MM} mm: {} uniformity ROIs of {} px, \
         {} NPS ROIs per frame, {} threads",
        grid_rois(&config),
        config.uniformity.grid(SIDE, SIDE)?.roi_size,
        result.nps.rois / FRAMES,
        rayon::current_num_threads()
    );
    common::figure("analysis of the first frame (cold)", cold, "s", "none");
    common::figure(
        "analysis per frame (ROIs + uniformity + NPS), mean",
        mean,
        "s",
        "≤ 0.1 s",
    );
    common::figure(
        "analysis per frame, slowest after the first",
        max,
        "s",
        "≤ 0.1 s",
    );
    common::figure(
        "image model, generation per frame (mean)",
        stats(&generate).0,
        "s",
        "none",
    );
    common::figure("peak resident memory (VmHWM)", peak, "MiB", "n/a");
    common::figure(
        "peak above start, in 16-bit frames",
        (peak - baseline) / frame_mib,
        "frames",
        "≤ 3",
    );

    // The NPS over the whole field rather than the IEC central region: the worst case.
    let frame: Frame<u16> = model.acquire(5.0);
    let full = NpsConfig {
        region: NpsRegion::Full,
        ..NpsConfig::iec(pitch)
    };
    let mut acc = qbench::imaging::NpsAccumulator::new(full, SIDE, SIDE)?;
    let (added, t) = common::time(|| acc.add_frame(&frame));
    added?;
    common::figure(
        &format!("NPS over the whole field ({} ROIs)", acc.rois_per_frame()),
        t.as_secs_f64(),
        "s",
        "none",
    );
    Ok(())
}

fn grid_rois(config: &FlatSeriesConfig) -> usize {
    config
        .uniformity
        .grid(SIDE, SIDE)
        .map_or(0, |g| g.rois.len())
}

fn stats(times: &[Duration]) -> (f64, f64) {
    let secs: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    let mean = secs.iter().sum::<f64>() / secs.len() as f64;
    (mean, secs.iter().cloned().fold(0.0, f64::max))
}
