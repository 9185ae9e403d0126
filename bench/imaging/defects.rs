//! Defective pixels: dead, hot and noisy pixels, and defective rows and columns.
//!
//! Criteria, each against a threshold of [`DefectThresholds`] and the frame's median (robust
//! to the defects themselves):
//!
//! - **dead**: the pixel's signal (flat − dark) is below `dead_below` × the median signal;
//! - **hot**: the pixel's dark value is above the median dark value by more than
//!   `hot_above` × the median signal;
//! - **noisy**: the pixel's temporal noise is above `noisy_above` × the median temporal noise
//!   (only when a noise map is given, from [`FrameSeries`](super::FrameSeries));
//! - a **defective row or column** has at least `line_fraction` of its pixels defective.
//!
//! The flat and dark frames are usually averages of several frames.

use super::error::ImagingError;
use super::frame::{Frame, Pixel};
use serde::{Deserialize, Serialize};

/// The thresholds of each defect criterion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefectThresholds {
    /// A pixel is dead below this fraction of the median signal.
    pub dead_below: f64,
    /// A pixel is hot when its dark value exceeds the median dark by this fraction of the
    /// median signal.
    pub hot_above: f64,
    /// A pixel is noisy above this multiple of the median temporal noise.
    pub noisy_above: f64,
    /// A row or column is defective when at least this fraction of its pixels is.
    pub line_fraction: f64,
}

impl Default for DefectThresholds {
    /// Dead below 50 % of the median signal, hot 10 % of the median signal above the median
    /// dark, noisy above 3 × the median noise, a line defective when half of it is.
    fn default() -> DefectThresholds {
        DefectThresholds {
            dead_below: 0.5,
            hot_above: 0.1,
            noisy_above: 3.0,
            line_fraction: 0.5,
        }
    }
}

/// The kinds of defect, as bit flags of a [`DefectMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefectKind {
    /// No useful signal.
    Dead,
    /// A high dark value.
    Hot,
    /// A high temporal noise.
    Noisy,
}

impl DefectKind {
    /// The bit of this kind in a [`DefectMap`].
    pub fn bit(self) -> u8 {
        match self {
            DefectKind::Dead => 1,
            DefectKind::Hot => 2,
            DefectKind::Noisy => 4,
        }
    }
}

/// One byte per pixel: the OR of the [`DefectKind::bit`]s of its defects.
#[derive(Clone, Debug, PartialEq)]
pub struct DefectMap {
    /// The flags, row by row.
    pub flags: Frame<u8>,
}

impl DefectMap {
    /// Whether pixel (x, y) has defect `kind`.
    pub fn has(&self, x: usize, y: usize, kind: DefectKind) -> bool {
        self.flags.get(x, y).is_some_and(|f| f & kind.bit() != 0)
    }
}

/// One defective pixel outside the defective rows and columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefectPixel {
    /// The column.
    pub x: usize,
    /// The row.
    pub y: usize,
    /// Its defects.
    pub kinds: Vec<DefectKind>,
}

/// The defect counts and locations, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefectReport {
    /// The thresholds applied.
    pub thresholds: DefectThresholds,
    /// The median signal (flat − dark).
    pub median_signal: f64,
    /// The median dark value.
    pub median_dark: f64,
    /// The median temporal noise, when a noise map was given.
    pub median_noise: Option<f64>,
    /// The number of dead pixels (including those in defective lines).
    pub dead: usize,
    /// The number of hot pixels.
    pub hot: usize,
    /// The number of noisy pixels.
    pub noisy: usize,
    /// The number of pixels with at least one defect.
    pub defective: usize,
    /// The defective rows, top to bottom.
    pub rows: Vec<usize>,
    /// The defective columns, left to right.
    pub columns: Vec<usize>,
    /// The defective pixels outside the defective lines, row by row (at most
    /// [`MAX_LISTED_PIXELS`]).
    pub pixels: Vec<DefectPixel>,
    /// Whether `pixels` was cut at [`MAX_LISTED_PIXELS`].
    pub pixels_truncated: bool,
}

/// The most isolated defective pixels a [`DefectReport`] lists one by one.
pub const MAX_LISTED_PIXELS: usize = 10_000;

/// The result of defect detection: the report and the map.
#[derive(Clone, Debug, PartialEq)]
pub struct Defects {
    /// Counts and locations.
    pub report: DefectReport,
    /// One flag byte per pixel.
    pub map: DefectMap,
}

/// The median of `values` (copied; the upper median for an even count).
pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    *m
}

/// Finds the defective pixels and lines of a detector from a flat frame, a dark frame of
/// the same size and, optionally, a map of each pixel's temporal noise.
pub fn detect_defects<F: Pixel, D: Pixel>(
    flat: &Frame<F>,
    dark: &Frame<D>,
    noise: Option<&Frame<f32>>,
    thresholds: &DefectThresholds,
) -> Result<Defects, ImagingError> {
    flat.check_same_size(dark, "defect detection (dark frame)")?;
    if let Some(n) = noise {
        flat.check_same_size(n, "defect detection (noise map)")?;
    }
    let t = thresholds;
    let fine = |v: f64| v.is_finite() && v > 0.0;
    let valid = fine(t.dead_below)
        && fine(t.hot_above)
        && fine(t.noisy_above)
        && t.line_fraction > 0.0
        && t.line_fraction <= 1.0;
    if !valid {
        return Err(ImagingError::invalid(
            "defect thresholds",
            format!("{t:?}: each must be positive, the line fraction at most 1"),
        ));
    }
    let (w, h) = (flat.width(), flat.height());
    let signal = |i: usize| flat.pixels()[i].to_f64() - dark.pixels()[i].to_f64();
    let median_signal = median((0..w * h).map(signal));
    let median_dark = median(dark.pixels().iter().map(|p| p.to_f64()));
    let median_noise = noise.map(|n| median(n.pixels().iter().map(|p| p.to_f64())));
    if median_signal.is_nan() || median_signal <= 0.0 {
        return Err(ImagingError::invalid(
            "flat frame",
            format!("its median signal above the dark frame is {median_signal}, not positive"),
        ));
    }
    let dead_limit = t.dead_below * median_signal;
    let hot_limit = median_dark + t.hot_above * median_signal;
    let noisy_limit = median_noise.map(|m| t.noisy_above * m);
    let mut flags = vec![0u8; w * h];
    let (mut dead, mut hot, mut noisy, mut defective) = (0, 0, 0, 0);
    let mut per_row = vec![0usize; h];
    let mut per_column = vec![0usize; w];
    for (i, f) in flags.iter_mut().enumerate() {
        if signal(i) < dead_limit {
            *f |= DefectKind::Dead.bit();
            dead += 1;
        }
        if dark.pixels()[i].to_f64() > hot_limit {
            *f |= DefectKind::Hot.bit();
            hot += 1;
        }
        if let (Some(n), Some(limit)) = (noise, noisy_limit)
            && f64::from(n.pixels()[i]) > limit
        {
            *f |= DefectKind::Noisy.bit();
            noisy += 1;
        }
        if *f != 0 {
            defective += 1;
            per_row[i / w] += 1;
            per_column[i % w] += 1;
        }
    }
    let rows: Vec<usize> = (0..h)
        .filter(|&y| per_row[y] as f64 >= t.line_fraction * w as f64)
        .collect();
    let columns: Vec<usize> = (0..w)
        .filter(|&x| per_column[x] as f64 >= t.line_fraction * h as f64)
        .collect();
    let mut pixels = Vec::new();
    let mut pixels_truncated = false;
    'scan: for y in (0..h).filter(|y| rows.binary_search(y).is_err()) {
        for x in 0..w {
            let f = flags[y * w + x];
            if f == 0 || columns.binary_search(&x).is_ok() {
                continue;
            }
            if pixels.len() == MAX_LISTED_PIXELS {
                pixels_truncated = true;
                break 'scan;
            }
            let kinds = [DefectKind::Dead, DefectKind::Hot, DefectKind::Noisy]
                .into_iter()
                .filter(|k| f & k.bit() != 0)
                .collect();
            pixels.push(DefectPixel { x, y, kinds });
        }
    }
    Ok(Defects {
        report: DefectReport {
            thresholds: *t,
            median_signal,
            median_dark,
            median_noise,
            dead,
            hot,
            noisy,
            defective,
            rows,
            columns,
            pixels,
            pixels_truncated,
        },
        map: DefectMap {
            flags: Frame::new(w, h, flags)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_dead_column_a_hot_pixel_and_a_noisy_pixel() {
        let dark =
            Frame::from_fn(32, 20, |x, y| if (x, y) == (3, 4) { 5000u16 } else { 100 }).unwrap();
        let flat = Frame::from_fn(32, 20, |x, y| match (x, y) {
            (7, _) => 100u16,
            (3, 4) => 6000,
            (10, 10) => 400,
            _ => 1100,
        })
        .unwrap();
        let noise =
            Frame::from_fn(32, 20, |x, y| if (x, y) == (20, 2) { 40.0f32 } else { 5.0 }).unwrap();
        let d = detect_defects(&flat, &dark, Some(&noise), &DefectThresholds::default()).unwrap();
        let r = &d.report;
        assert_eq!(r.columns, vec![7]);
        assert!(r.rows.is_empty());
        assert_eq!((r.dead, r.hot, r.noisy), (21, 1, 1));
        assert_eq!(r.defective, 23);
        let listed: Vec<(usize, usize)> = r.pixels.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(listed, vec![(20, 2), (3, 4), (10, 10)]);
        assert!(d.map.has(7, 0, DefectKind::Dead));
        assert!(d.map.has(3, 4, DefectKind::Hot));
        assert!(!d.map.has(3, 4, DefectKind::Dead));
        assert!(d.map.has(20, 2, DefectKind::Noisy));
    }

    #[test]
    fn thresholds_are_checked() {
        let f = Frame::filled(4, 4, 1000u16).unwrap();
        let d = Frame::filled(4, 4, 100u16).unwrap();
        let bad = DefectThresholds {
            line_fraction: 1.5,
            ..DefectThresholds::default()
        };
        assert!(detect_defects(&f, &d, None, &bad).is_err());
        assert!(detect_defects(&d, &f, None, &DefectThresholds::default()).is_err());
    }
}
