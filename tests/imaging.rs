//! Image analysis validated on synthetic images whose answers are known analytically, most
//! of them made by the simulated detector's image model.

use qbench::imaging::{
    ConversionPoint, DefectKind, DefectThresholds, FlatFieldCorrection, FlatSeries,
    FlatSeriesConfig, Frame, FrameSeries, NpsConfig, NpsRegion, PixelPitch, Roi, UniformityConfig,
    conversion_function, detect_defects, lag, nps, read_tiff, roi_stats, uniformity, write_tiff,
};
use qbench::sim::detector_image::{
    DefectConfig, DetectorImageConfig, DetectorImageModel, InjectedKind,
};
use std::collections::BTreeSet;

/// A detector with uniform gain and offset: its noise is Poisson + Gaussian and white.
fn uniform(side: usize) -> DetectorImageConfig {
    DetectorImageConfig {
        width: side,
        height: side,
        offset_sd: 0.0,
        gain_sd: 0.0,
        ..DetectorImageConfig::default()
    }
}

#[test]
fn flat_field_noise_is_poisson_plus_gaussian_and_its_nps_is_white() {
    // 3 µGy × 1000 quanta/µGy × 1 per quantum: variance 3000 + 5² (+ 1/12 from rounding).
    let mut model = DetectorImageModel::new(uniform(512)).unwrap();
    let sigma2 = 3000.0 + 25.0 + 1.0 / 12.0;
    let pitch = PixelPitch::square(0.15);
    let config = NpsConfig {
        region: NpsRegion::Full,
        ..NpsConfig::iec(pitch)
    };
    let mut acc = qbench::imaging::NpsAccumulator::new(config, 512, 512).unwrap();
    let mut series = FrameSeries::new(512, 512, false);
    for _ in 0..3 {
        let frame = model.acquire(3.0);
        let s = roi_stats(&frame, &Roi::central(512, 512, 200, 200)).unwrap();
        assert!((s.std_dev.powi(2) / sigma2 - 1.0).abs() < 0.04, "{s:?}");
        acc.add_frame(&frame).unwrap();
        series.add(&frame).unwrap();
    }
    let temporal = series.temporal_noise().unwrap().powi(2);
    assert!((temporal / sigma2 - 1.0).abs() < 0.03, "{temporal}");
    let r = acc.result().unwrap();
    assert_eq!(r.rois, 27);
    assert!((r.mean_signal - 4000.0).abs() < 2.0);
    let white = sigma2 * 0.15 * 0.15;
    assert!((r.variance / sigma2 - 1.0).abs() < 0.03, "{}", r.variance);
    // Bins near zero frequency hold few samples (and the detrending empties the lowest):
    // each bin from the tenth on is within 10 %, and their average within 2 %.
    let mid: Vec<f64> = r.radial.iter().skip(10).map(|p| p.nps / white).collect();
    let average = mid.iter().sum::<f64>() / mid.len() as f64;
    assert!((average - 1.0).abs() < 0.02, "{average}");
    for p in r.radial.iter().skip(10) {
        assert!((p.nps / white - 1.0).abs() < 0.1, "{p:?} vs {white}");
        let nnps = p.nnps.unwrap();
        assert!((nnps - p.nps / r.mean_signal.powi(2)).abs() < 1e-18);
    }
    // A cut averages 28 values per frequency (14 independent ones): within 35 % each, 3 %
    // on average.
    for cut in [&r.horizontal, &r.vertical] {
        let ratios: Vec<f64> = cut.iter().skip(2).map(|p| p.nps / white).collect();
        let average = ratios.iter().sum::<f64>() / ratios.len() as f64;
        assert!((average - 1.0).abs() < 0.03, "{average}");
        assert!(ratios.iter().all(|q| (q - 1.0).abs() < 0.35), "{ratios:?}");
    }
    // Frequencies in cycles/mm up to Nyquist, 1 / (2 × 0.15 mm).
    let nyquist = r.radial.last().unwrap().frequency;
    assert!((nyquist - 1.0 / 0.3).abs() < 1e-9, "{nyquist}");
}

#[test]
fn a_linear_gain_ramp_gives_the_expected_uniformity() {
    // Gain 1 ± 5 % from the left to the right edge, no noise: ROI means follow the ramp.
    let (w, h, r) = (400usize, 300usize, 0.05);
    let level = 20_000.0;
    let frame = Frame::from_fn(w, h, |x, _| {
        level * (1.0 + r * (2.0 * x as f64 / (w - 1) as f64 - 1.0))
    })
    .unwrap()
    .to_f32();
    let config = UniformityConfig {
        pitch: PixelPitch::square(0.5),
        border_mm: 10.0,
        roi_mm: 10.0,
    };
    let u = uniformity(&frame, &config).unwrap();
    let grid = config.grid(w, h).unwrap();
    let (first, last) = (
        grid.rois[0].centre().0,
        grid.rois[grid.columns - 1].centre().0,
    );
    // The grid is centred, so the overall mean is the level itself.
    let global = 2.0 * r * (last - first) / (w - 1) as f64;
    assert!(
        (u.signal.global - global).abs() < 1e-6,
        "{} vs {global}",
        u.signal.global
    );
    // Interior ROIs equal the mean of their neighbours; a corner differs from its two
    // neighbours' mean by half a step.
    let step = 2.0 * r * grid.roi_size as f64 / (w - 1) as f64;
    assert!(
        (u.signal.local - step / 2.0).abs() < 1e-6,
        "{} vs {}",
        u.signal.local,
        step / 2.0
    );
}

#[test]
fn the_model_conversion_function_is_linear_and_its_non_linearity_is_found() {
    let kerma = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
    let points = |nonlinearity: f64| -> Vec<ConversionPoint> {
        let mut model = DetectorImageModel::new(DetectorImageConfig {
            nonlinearity,
            ..uniform(128)
        })
        .unwrap();
        kerma
            .iter()
            .map(|&k| {
                let f = model.acquire(k);
                ConversionPoint {
                    air_kerma_ugy: k,
                    mean_pixel_value: roi_stats(&f, &Roi::central(128, 128, 64, 64)).unwrap().mean,
                }
            })
            .collect()
    };
    let linear = conversion_function(&points(0.0)).unwrap();
    assert!(
        (linear.slope / 1000.0 - 1.0).abs() < 0.002,
        "{}",
        linear.slope
    );
    assert!(
        (linear.intercept - 1000.0).abs() < 10.0,
        "{}",
        linear.intercept
    );
    assert!(linear.r_squared > 0.99999, "{}", linear.r_squared);
    assert!(
        linear.max_rel_deviation < 0.005,
        "{}",
        linear.max_rel_deviation
    );
    let bent = conversion_function(&points(0.5)).unwrap();
    assert!(bent.max_rel_deviation > 0.01, "{}", bent.max_rel_deviation);
}

#[test]
fn injected_defects_are_exactly_those_found() {
    let side = 256;
    let mut model = DetectorImageModel::new(DetectorImageConfig {
        seed: 7,
        defects: DefectConfig {
            dead_pixels: 5,
            hot_pixels: 6,
            noisy_pixels: 4,
            dead_columns: vec![100],
            ..DefectConfig::default()
        },
        ..DetectorImageConfig {
            width: side,
            height: side,
            ..DetectorImageConfig::default()
        }
    })
    .unwrap();
    let mut darks = FrameSeries::new(side, side, true);
    let mut flats = FrameSeries::new(side, side, false);
    for _ in 0..8 {
        darks.add(&model.acquire(0.0)).unwrap();
    }
    for _ in 0..4 {
        flats.add(&model.acquire(5.0)).unwrap();
    }
    let noise = darks.noise_map().unwrap().unwrap();
    let found = detect_defects(
        &flats.mean().unwrap(),
        &darks.mean().unwrap(),
        Some(&noise),
        &DefectThresholds::default(),
    )
    .unwrap();
    let r = &found.report;
    assert_eq!(r.columns, vec![100]);
    assert!(r.rows.is_empty());
    let listed: BTreeSet<(usize, usize, DefectKind)> = r
        .pixels
        .iter()
        .flat_map(|p| p.kinds.iter().map(move |k| (p.x, p.y, *k)))
        .collect();
    let injected: BTreeSet<(usize, usize, DefectKind)> = model
        .defects()
        .iter()
        .map(|d| (d.x, d.y, d.kind.defect_kind()))
        .collect();
    assert_eq!(listed, injected);
    let dead = model
        .defects()
        .iter()
        .filter(|d| d.kind == InjectedKind::Dead)
        .count();
    assert_eq!((r.dead, r.hot, r.noisy), (dead + side, 6, 4));
    assert!(found.map.has(100, 17, DefectKind::Dead));
}

#[test]
fn dark_offset_temporal_and_fixed_pattern_noise_are_found() {
    // Offset 1000 with a pixel-to-pixel spread of 20, electronic noise 5.
    let mut model = DetectorImageModel::new(DetectorImageConfig {
        width: 256,
        height: 256,
        ..DetectorImageConfig::default()
    })
    .unwrap();
    let mut darks = FrameSeries::new(256, 256, false);
    for _ in 0..8 {
        darks.add(&model.acquire(0.0)).unwrap();
    }
    let d = darks.dark_stats(&Roi::central(256, 256, 200, 200)).unwrap();
    assert!((d.offset - 1000.0).abs() < 0.5, "{d:?}");
    // 5² + 1/12 from rounding.
    assert!(
        (d.temporal_noise / (25.0f64 + 1.0 / 12.0).sqrt() - 1.0).abs() < 0.02,
        "{d:?}"
    );
    assert!((d.fixed_pattern_noise / 20.0 - 1.0).abs() < 0.03, "{d:?}");
}

#[test]
fn lag_of_a_known_fraction_is_found() {
    let mut model = DetectorImageModel::new(DetectorImageConfig {
        lag: 0.03,
        ..uniform(128)
    })
    .unwrap();
    let _ = model.acquire(0.0);
    let before = model.acquire(0.0);
    let exposed = model.acquire(20.0);
    let after = model.acquire(0.0);
    let l = lag(&before, &exposed, &after, &Roi::central(128, 128, 100, 100)).unwrap();
    assert!((l.fraction - 0.03).abs() < 0.0005, "{l:?}");
}

#[test]
fn flat_field_correction_removes_the_gain_pattern() {
    let side = 200;
    let mut model = DetectorImageModel::new(DetectorImageConfig {
        gain_sd: 0.05,
        gain_ramp: 0.1,
        offset_sd: 50.0,
        ..DetectorImageConfig {
            width: side,
            height: side,
            ..DetectorImageConfig::default()
        }
    })
    .unwrap();
    let (mut dark, mut flat) = (
        FrameSeries::new(side, side, false),
        FrameSeries::new(side, side, false),
    );
    for _ in 0..16 {
        dark.add(&model.acquire(0.0)).unwrap();
        flat.add(&model.acquire(10.0)).unwrap();
    }
    let correction =
        FlatFieldCorrection::new(&dark.mean().unwrap(), &flat.mean().unwrap()).unwrap();
    let raw = model.acquire(10.0);
    let corrected = correction.correct(&raw).unwrap();
    let config = UniformityConfig {
        pitch: PixelPitch::square(0.5),
        border_mm: 5.0,
        roi_mm: 10.0,
    };
    let before = uniformity(&raw, &config).unwrap().signal.global;
    let after = uniformity(&corrected, &config).unwrap().signal.global;
    assert!(before > 0.15, "{before}");
    assert!(after < 0.01, "{after}");
}

#[test]
fn frames_dropped_as_tiff_files_are_read_back_and_analysed_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = DetectorImageModel::new(uniform(300)).unwrap();
    let mut written = Vec::new();
    for i in 0..3 {
        let path = dir.path().join(format!("flat-{i:03}.tif"));
        let frame = model.acquire(2.0);
        write_tiff(&path, &frame).unwrap();
        written.push(frame);
    }
    let pitch = PixelPitch::square(0.2);
    let config = FlatSeriesConfig {
        nps: NpsConfig {
            roi_size: 128,
            step: 64,
            region: NpsRegion::Full,
            ..NpsConfig::iec(pitch)
        },
        uniformity: UniformityConfig {
            pitch,
            border_mm: 4.0,
            roi_mm: 4.0,
        },
        ..FlatSeriesConfig::standard(pitch)
    };
    let mut series = FlatSeries::new(&config, 300, 300).unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for (path, original) in paths.iter().zip(&written) {
        let frame = read_tiff(path).unwrap();
        assert_eq!(&frame, original);
        let one = series.add(&frame).unwrap();
        assert_eq!(one.rois.len(), 5);
        assert!(one.uniformity.signal.global < 0.02);
    }
    let result = series.result().unwrap();
    // Results go into a run's record as JSON.
    let json = serde_json::to_string(&result).unwrap();
    assert!(
        json.contains("\"radial\"") && json.contains("\"nnps\""),
        "{json:.200}"
    );
    assert_eq!(
        (result.frames, result.nps.frames, result.nps.rois),
        (3, 3, 27)
    );
    let central = &result.rois[0];
    assert!((central.mean - 3000.0).abs() < 3.0, "{central:?}");
    assert!(
        (central.noise.powi(2) / 2025.0 - 1.0).abs() < 0.1,
        "{central:?}"
    );
    // The single-frame NPS agrees with the white level as well.
    let single = nps(&written[0], &config.nps).unwrap();
    assert!(
        (single.variance / 2025.0 - 1.0).abs() < 0.05,
        "{}",
        single.variance
    );
    let text = read_tiff(&dir.path().join("missing.tif"))
        .unwrap_err()
        .to_string();
    assert!(text.contains("missing.tif"), "{text}");
}
