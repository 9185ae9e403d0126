//! 16-bit grayscale TIFF files: read (the first image of the file) and write (uncompressed).
//!
//! The `tiff` crate decodes; uncompressed, LZW and Deflate strips and tiles are read. Any
//! other pixel type (8-bit, RGB, floating point, signed) is refused with an error naming the
//! file and the type found.

use super::error::ImagingError;
use super::frame::Frame;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;
use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::encoder::{TiffEncoder, colortype};

/// Reads the first image of a 16-bit grayscale TIFF file.
pub fn read_tiff(path: &Path) -> Result<Frame<u16>, ImagingError> {
    let file = File::open(path).map_err(|source| ImagingError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    decode_tiff(BufReader::new(file), path)
}

/// Decodes a 16-bit grayscale TIFF image from `reader`; `path` names it in errors.
pub fn decode_tiff<R: Read + Seek>(reader: R, path: &Path) -> Result<Frame<u16>, ImagingError> {
    let tiff_error = |source| ImagingError::Tiff {
        path: path.to_path_buf(),
        source,
    };
    let mut decoder = Decoder::new(reader).map_err(tiff_error)?;
    let color = decoder.colortype().map_err(tiff_error)?;
    if color != ColorType::Gray(16) {
        return Err(ImagingError::Unsupported {
            path: path.to_path_buf(),
            what: "TIFF pixel type",
            detail: format!("{color:?}; only 16-bit grayscale (Gray(16)) is read"),
        });
    }
    let (w, h) = decoder.dimensions().map_err(tiff_error)?;
    match decoder.read_image().map_err(tiff_error)? {
        DecodingResult::U16(pixels) => Frame::new(w as usize, h as usize, pixels),
        other => Err(ImagingError::Unsupported {
            path: path.to_path_buf(),
            what: "TIFF sample format",
            detail: format!(
                "{}; only unsigned 16-bit integers are read",
                match other {
                    DecodingResult::I16(_) => "signed 16-bit integers",
                    DecodingResult::F16(_) => "16-bit floating point",
                    _ => "another sample type",
                }
            ),
        }),
    }
}

/// Writes `frame` as an uncompressed 16-bit grayscale TIFF file.
pub fn write_tiff(path: &Path, frame: &Frame<u16>) -> Result<(), ImagingError> {
    let file = File::create(path).map_err(|source| ImagingError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    let mut writer = BufWriter::new(file);
    encode_tiff(&mut writer, frame, path)?;
    writer.flush().map_err(|source| ImagingError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Encodes `frame` as an uncompressed 16-bit grayscale TIFF image into `writer`; `path`
/// names it in errors.
pub fn encode_tiff<W: Write + Seek>(
    writer: W,
    frame: &Frame<u16>,
    path: &Path,
) -> Result<(), ImagingError> {
    let tiff_error = |source| ImagingError::Tiff {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || {
        ImagingError::invalid(
            "frame size",
            format!("{}×{} is too large for TIFF", frame.width(), frame.height()),
        )
    };
    let w = u32::try_from(frame.width()).map_err(|_| too_large())?;
    let h = u32::try_from(frame.height()).map_err(|_| too_large())?;
    let mut encoder = TiffEncoder::new(writer).map_err(tiff_error)?;
    encoder
        .write_image::<colortype::Gray16>(w, h, frame.pixels())
        .map_err(tiff_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn a_frame_survives_a_round_trip() {
        let frame = Frame::from_fn(37, 11, |x, y| (x * 1000 + y * 7) as u16).unwrap();
        let mut bytes = Cursor::new(Vec::new());
        encode_tiff(&mut bytes, &frame, Path::new("mem.tif")).unwrap();
        bytes.set_position(0);
        let back = decode_tiff(bytes, Path::new("mem.tif")).unwrap();
        assert_eq!(back, frame);
    }

    #[test]
    fn an_8_bit_image_is_refused_by_name() {
        let mut bytes = Cursor::new(Vec::new());
        TiffEncoder::new(&mut bytes)
            .unwrap()
            .write_image::<colortype::Gray8>(2, 2, &[1, 2, 3, 4])
            .unwrap();
        bytes.set_position(0);
        let e = decode_tiff(bytes, Path::new("scan.tif")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("scan.tif") && text.contains("Gray(8)"),
            "{text}"
        );
        let e = read_tiff(Path::new("/nonexistent/x.tif")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.tif"));
    }
}
