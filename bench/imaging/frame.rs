//! Frames and regions of interest.
//!
//! A [`Frame`] is a row-major image: `Frame<u16>` (the default) is what a detector delivers,
//! `Frame<f32>` is a working image (an average, a flat-field corrected frame, a noise map).
//! A [`Roi`] is a rectangle of pixels, and a [`RoiGrid`] tiles a frame with square ROIs.

use super::error::ImagingError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A pixel value an analysis can read: 16-bit raw counts, floating point, or 8-bit flags.
pub trait Pixel: Copy + Send + Sync + 'static {
    /// The value as an `f64`.
    fn to_f64(self) -> f64;
}

impl Pixel for u16 {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Pixel for f32 {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Pixel for f64 {
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Pixel for u8 {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// A row-major image of `width × height` pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame<T = u16> {
    width: usize,
    height: usize,
    pixels: Vec<T>,
}

impl<T: Pixel> Frame<T> {
    /// A frame from its pixels, row by row; fails when the length is not width × height or
    /// a dimension is zero.
    pub fn new(width: usize, height: usize, pixels: Vec<T>) -> Result<Frame<T>, ImagingError> {
        if width == 0 || height == 0 || width.checked_mul(height) != Some(pixels.len()) {
            return Err(ImagingError::FrameSize {
                width,
                height,
                len: pixels.len(),
            });
        }
        Ok(Frame {
            width,
            height,
            pixels,
        })
    }

    /// A frame from a buffer the caller knows to hold exactly `width × height` pixels
    /// (checked in debug builds only).
    pub(crate) fn from_raw(width: usize, height: usize, pixels: Vec<T>) -> Frame<T> {
        debug_assert_eq!(width * height, pixels.len());
        Frame {
            width,
            height,
            pixels,
        }
    }

    /// A frame with every pixel set to `value`; fails on a zero dimension.
    pub fn filled(width: usize, height: usize, value: T) -> Result<Frame<T>, ImagingError> {
        let len = width.checked_mul(height).ok_or(ImagingError::FrameSize {
            width,
            height,
            len: 0,
        })?;
        Frame::new(width, height, vec![value; len])
    }

    /// A frame whose pixel (x, y) is `f(x, y)`; fails on a zero dimension.
    pub fn from_fn(
        width: usize,
        height: usize,
        mut f: impl FnMut(usize, usize) -> T,
    ) -> Result<Frame<T>, ImagingError> {
        let mut pixels = Vec::with_capacity(width.saturating_mul(height));
        for y in 0..height {
            for x in 0..width {
                pixels.push(f(x, y));
            }
        }
        Frame::new(width, height, pixels)
    }

    /// The width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Every pixel, row by row.
    pub fn pixels(&self) -> &[T] {
        &self.pixels
    }

    /// Every pixel, row by row, for writing.
    pub fn pixels_mut(&mut self) -> &mut [T] {
        &mut self.pixels
    }

    /// The pixels, giving up the frame.
    pub fn into_pixels(self) -> Vec<T> {
        self.pixels
    }

    /// Row `y`, if inside the frame.
    pub fn row(&self, y: usize) -> Option<&[T]> {
        (y < self.height).then(|| &self.pixels[y * self.width..(y + 1) * self.width])
    }

    /// The pixel at (x, y), if inside the frame.
    pub fn get(&self, x: usize, y: usize) -> Option<T> {
        (x < self.width && y < self.height).then(|| self.pixels[y * self.width + x])
    }

    /// The whole frame as a region of interest.
    pub fn full_roi(&self) -> Roi {
        Roi::new(0, 0, self.width, self.height)
    }

    /// Fails unless `roi` lies inside the frame.
    pub fn check_roi(&self, roi: &Roi) -> Result<(), ImagingError> {
        let fits = roi.width > 0
            && roi.height > 0
            && roi
                .x
                .checked_add(roi.width)
                .is_some_and(|r| r <= self.width)
            && roi
                .y
                .checked_add(roi.height)
                .is_some_and(|b| b <= self.height);
        if fits {
            Ok(())
        } else {
            Err(ImagingError::RoiOutside {
                roi: *roi,
                width: self.width,
                height: self.height,
            })
        }
    }

    /// Fails unless `other` has the same size as this frame.
    pub fn check_same_size<U: Pixel>(
        &self,
        other: &Frame<U>,
        what: &'static str,
    ) -> Result<(), ImagingError> {
        if self.width == other.width && self.height == other.height {
            Ok(())
        } else {
            Err(ImagingError::SizeMismatch {
                what,
                expected_width: self.width,
                expected_height: self.height,
                width: other.width,
                height: other.height,
            })
        }
    }

    /// The pixels of row `y` inside `roi` (the ROI must have been checked).
    pub(crate) fn roi_row(&self, roi: &Roi, y: usize) -> &[T] {
        let start = (roi.y + y) * self.width + roi.x;
        &self.pixels[start..start + roi.width]
    }

    /// A copy of the frame as 32-bit floating point.
    pub fn to_f32(&self) -> Frame<f32> {
        Frame {
            width: self.width,
            height: self.height,
            pixels: self.pixels.iter().map(|p| p.to_f64() as f32).collect(),
        }
    }
}

/// A rectangle of pixels: its top-left corner (x to the right, y down) and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Roi {
    /// The leftmost column.
    pub x: usize,
    /// The top row.
    pub y: usize,
    /// The width in pixels.
    pub width: usize,
    /// The height in pixels.
    pub height: usize,
}

impl Roi {
    /// A region from its top-left corner and size.
    pub fn new(x: usize, y: usize, width: usize, height: usize) -> Roi {
        Roi {
            x,
            y,
            width,
            height,
        }
    }

    /// A region of `width × height` centred on pixel (cx, cy); `None` when it would start
    /// left of or above the frame.
    pub fn centred(cx: usize, cy: usize, width: usize, height: usize) -> Option<Roi> {
        Some(Roi::new(
            cx.checked_sub(width / 2)?,
            cy.checked_sub(height / 2)?,
            width,
            height,
        ))
    }

    /// The region of `width × height` at the centre of a `frame_width × frame_height` frame
    /// (clamped to the frame).
    pub fn central(frame_width: usize, frame_height: usize, width: usize, height: usize) -> Roi {
        let (w, h) = (width.min(frame_width), height.min(frame_height));
        Roi::new((frame_width - w) / 2, (frame_height - h) / 2, w, h)
    }

    /// The centre, in pixel coordinates (half-integers for even sizes).
    pub fn centre(&self) -> (f64, f64) {
        (
            self.x as f64 + (self.width as f64 - 1.0) / 2.0,
            self.y as f64 + (self.height as f64 - 1.0) / 2.0,
        )
    }

    /// The number of pixels.
    pub fn area(&self) -> usize {
        self.width * self.height
    }
}

impl fmt::Display for Roi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}×{} at ({}, {})",
            self.width, self.height, self.x, self.y
        )
    }
}

/// Square ROIs tiling a frame inside a border, row by row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoiGrid {
    /// The number of ROI rows.
    pub rows: usize,
    /// The number of ROI columns.
    pub columns: usize,
    /// The side of each ROI, in pixels.
    pub roi_size: usize,
    /// The border dropped on each side, in pixels.
    pub border: usize,
    /// The ROIs, row by row (index `row * columns + column`).
    pub rois: Vec<Roi>,
}

impl RoiGrid {
    /// Tiles a `width × height` frame, less `border` pixels on each side, with as many
    /// non-overlapping `roi_size` squares as fit; the tiling is centred in the area left.
    pub fn tile(
        width: usize,
        height: usize,
        border: usize,
        roi_size: usize,
    ) -> Result<RoiGrid, ImagingError> {
        if roi_size == 0 {
            return Err(ImagingError::invalid("ROI size", "it is zero"));
        }
        let inner_w = width.saturating_sub(border.saturating_mul(2));
        let inner_h = height.saturating_sub(border.saturating_mul(2));
        let (columns, rows) = (inner_w / roi_size, inner_h / roi_size);
        if columns == 0 || rows == 0 {
            return Err(ImagingError::invalid(
                "ROI grid",
                format!(
                    "no {roi_size}-pixel ROI fits in a {width}×{height} frame with a \
                     {border}-pixel border"
                ),
            ));
        }
        let x0 = border + (inner_w - columns * roi_size) / 2;
        let y0 = border + (inner_h - rows * roi_size) / 2;
        let rois = (0..rows)
            .flat_map(|r| {
                (0..columns).map(move |c| {
                    Roi::new(x0 + c * roi_size, y0 + r * roi_size, roi_size, roi_size)
                })
            })
            .collect();
        Ok(RoiGrid {
            rows,
            columns,
            roi_size,
            border,
            rois,
        })
    }
}

/// The detector's pixel pitch, in millimetres, along x (columns) and y (rows).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PixelPitch {
    /// The distance between column centres, mm.
    pub x_mm: f64,
    /// The distance between row centres, mm.
    pub y_mm: f64,
}

impl PixelPitch {
    /// Square pixels of `mm` on a side.
    pub fn square(mm: f64) -> PixelPitch {
        PixelPitch { x_mm: mm, y_mm: mm }
    }

    /// Fails unless both pitches are finite and positive.
    pub fn check(&self) -> Result<(), ImagingError> {
        if self.x_mm.is_finite() && self.y_mm.is_finite() && self.x_mm > 0.0 && self.y_mm > 0.0 {
            Ok(())
        } else {
            Err(ImagingError::invalid(
                "pixel pitch",
                format!("{} mm × {} mm is not positive", self.x_mm, self.y_mm),
            ))
        }
    }

    /// The number of whole pixels spanning `mm` along x (at least 1).
    pub fn pixels_x(&self, mm: f64) -> usize {
        ((mm / self.x_mm).round() as usize).max(1)
    }

    /// The number of whole pixels spanning `mm` along y (at least 1).
    pub fn pixels_y(&self, mm: f64) -> usize {
        ((mm / self.y_mm).round() as usize).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_size_is_checked() {
        assert!(Frame::new(2, 2, vec![0u16; 4]).is_ok());
        assert!(Frame::new(2, 2, vec![0u16; 3]).is_err());
        assert!(Frame::<u16>::new(0, 0, vec![]).is_err());
    }

    #[test]
    fn rois_are_checked_against_the_frame() {
        let f = Frame::filled(10, 8, 0u16).unwrap();
        assert!(f.check_roi(&Roi::new(2, 2, 8, 6)).is_ok());
        assert!(f.check_roi(&Roi::new(3, 2, 8, 6)).is_err());
        assert!(f.check_roi(&Roi::new(0, 0, 0, 1)).is_err());
        assert!(f.check_roi(&Roi::new(usize::MAX, 0, 2, 1)).is_err());
        assert_eq!(Roi::central(10, 8, 4, 4), Roi::new(3, 2, 4, 4));
        assert_eq!(Roi::centred(5, 5, 4, 4), Some(Roi::new(3, 3, 4, 4)));
        assert_eq!(Roi::centred(1, 5, 4, 4), None);
    }

    #[test]
    fn grid_tiles_inside_the_border_centred() {
        let g = RoiGrid::tile(100, 60, 10, 16).unwrap();
        assert_eq!((g.columns, g.rows), (5, 2));
        assert_eq!(g.rois[0], Roi::new(10, 14, 16, 16));
        assert_eq!(g.rois[9], Roi::new(74, 30, 16, 16));
        assert!(RoiGrid::tile(20, 20, 10, 4).is_err());
    }
}
