//! Errors of the imaging stage.
//!
//! An `ImagingError` means an image could not be read or an analysis could not be carried
//! out at all (frames of different sizes, a region of interest outside the frame, a file in a
//! format this stage does not read). A detector that fails a limit is a verdict decided later,
//! never an error.

use super::frame::Roi;
use crate::analysis::AnalysisError;
use std::io;
use std::path::PathBuf;

/// Why an image could not be read or analysed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImagingError {
    /// A pixel buffer whose length is not width × height (or a zero dimension).
    #[error("a {width}×{height} frame needs {} pixels, got {len}", width * height)]
    FrameSize {
        /// The width in pixels.
        width: usize,
        /// The height in pixels.
        height: usize,
        /// The number of pixels given.
        len: usize,
    },
    /// Frames that an analysis combines but whose sizes differ.
    #[error(
        "{what}: a {expected_width}×{expected_height} frame was expected, got {width}×{height}"
    )]
    SizeMismatch {
        /// What was being computed.
        what: &'static str,
        /// The expected width.
        expected_width: usize,
        /// The expected height.
        expected_height: usize,
        /// The width given.
        width: usize,
        /// The height given.
        height: usize,
    },
    /// A region of interest that does not lie inside the frame.
    #[error("region of interest {roi} does not fit in a {width}×{height} frame")]
    RoiOutside {
        /// The region.
        roi: Roi,
        /// The frame's width.
        width: usize,
        /// The frame's height.
        height: usize,
    },
    /// A parameter outside its domain (a zero ROI size, a negative pixel pitch, ...).
    #[error("invalid {what}: {reason}")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Fewer frames, regions or points than an analysis needs.
    #[error("{what} needs at least {needed}, got {got}")]
    TooFew {
        /// What was being computed, and of what it needs more.
        what: &'static str,
        /// The minimum.
        needed: usize,
        /// The number given.
        got: usize,
    },
    /// A statistic or fit of the analysis stage failed.
    #[error("cannot compute {what}")]
    Analysis {
        /// What was being computed.
        what: &'static str,
        /// The cause.
        #[source]
        source: AnalysisError,
    },
    /// A file that could not be opened or read.
    #[error("cannot read `{path}`", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A file that could not be created or written.
    #[error("cannot write `{path}`", path = path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A TIFF file the decoder or encoder rejected.
    #[error("`{path}` is not a readable 16-bit grayscale TIFF image", path = path.display())]
    Tiff {
        /// The file.
        path: PathBuf,
        /// The cause, from the TIFF library.
        #[source]
        source: tiff::TiffError,
    },
    /// A well-formed file using a feature this stage does not read.
    #[error("`{path}`: unsupported {what}: {detail}", path = path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Which feature ("TIFF pixel type", "DICOM transfer syntax").
        what: &'static str,
        /// The value found, and what is supported instead.
        detail: String,
    },
    /// A DICOM file whose structure is broken (truncated, a length past its end).
    #[error("`{path}`: malformed DICOM at byte {offset}: {reason}", path = path.display())]
    MalformedDicom {
        /// The file.
        path: PathBuf,
        /// The byte offset where the problem was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl ImagingError {
    /// An [`ImagingError::InvalidParameter`].
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> ImagingError {
        ImagingError::InvalidParameter {
            what,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_lowercase_line() {
        let errors = [
            ImagingError::FrameSize {
                width: 2,
                height: 2,
                len: 3,
            },
            ImagingError::RoiOutside {
                roi: Roi::new(0, 0, 10, 10),
                width: 4,
                height: 4,
            },
            ImagingError::Unsupported {
                path: "a.tif".into(),
                what: "TIFF pixel type",
                detail: "RGB(8); only Gray(16) is read".into(),
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(!text.starts_with(char::is_uppercase), "{text}");
        }
    }
}
