//! Image analysis and image input for flat-panel detector qualification.
//!
//! This stage does no device I/O: it is handed frames (from a driver, the simulated
//! detector, or a file read here) and returns typed results that serialise into a run's
//! record. Files are the only outside world it touches, and only in [`read_tiff`],
//! [`write_tiff`] and [`read_dicom`]. Every analysis is a pure function; a series of frames is
//! processed streaming, frame by frame, through accumulators that keep no frame of the series.
//!
//! - [`frame`]: [`Frame`] (16-bit raw or `f32` working image), [`Roi`], [`RoiGrid`],
//!   [`PixelPitch`].
//! - [`stats`]: ROI mean, standard deviation and SNR ([`roi_stats`], [`five_rois`]), dark
//!   offset and noise ([`dark_stats`]), [`RunningStats`].
//! - [`flat_field`]: [`FlatFieldCorrection`] from dark and flat frames.
//! - [`uniformity`]: AAPM TG-150 local and global non-uniformity of signal, noise and SNR.
//! - [`defects`]: dead, hot and noisy pixels, defective rows and columns, a defect map.
//! - [`response`]: the conversion function (linearity, via [`crate::analysis::LinearFit`])
//!   and lag.
//! - [`nps`]: the noise power spectrum (IEC 62220-1-1), accumulated ROI by ROI.
//! - [`series`]: streaming accumulators: [`FrameSeries`], [`RoiSeries`], [`FlatSeries`].
//! - [`session`]: [`AcquisitionSession`], the frames a detector driver acquires during a run,
//!   dark or exposed, folded into those accumulators.
//! - [`tiff_file`] and [`dicom`]: 16-bit grayscale TIFF (read, write) and a documented
//!   subset of DICOM (read).
//!
//! Errors are [`ImagingError`]; a detector outside a limit is a verdict decided later by the
//! analysis stage, never an error here.

mod error;

pub mod defects;
pub mod dicom;
pub mod flat_field;
pub mod frame;
pub mod nps;
pub mod response;
pub mod series;
pub mod session;
pub mod stats;
pub mod tiff_file;
pub mod uniformity;

pub use defects::{
    DefectKind, DefectMap, DefectPixel, DefectReport, DefectThresholds, Defects, detect_defects,
};
pub use dicom::{DicomImage, DicomInfo, read_dicom};
pub use error::ImagingError;
pub use flat_field::{FlatFieldCorrection, FlatFieldSummary};
pub use frame::{Frame, Pixel, PixelPitch, Roi, RoiGrid};
pub use nps::{Detrend, NpsAccumulator, NpsConfig, NpsPoint, NpsRegion, NpsResult, nps};
pub use response::{
    ConversionFunction, ConversionPoint, Lag, MIN_KERMA_LEVELS, conversion_function, lag,
};
pub use series::{
    DarkSeriesStats, FlatFrameAnalysis, FlatSeries, FlatSeriesConfig, FlatSeriesResult,
    FrameSeries, RoiSeries, RoiSeriesStats,
};
pub use session::{AcquisitionSession, FrameFigures, FrameKind, SessionConfig};
pub use stats::{
    DarkStats, RoiStats, RunningStats, dark_stats, five_rois, multi_roi_stats, roi_stats,
};
pub use tiff_file::{read_tiff, write_tiff};
pub use uniformity::{Uniformity, UniformityConfig, UniformityMetric, uniformity};
