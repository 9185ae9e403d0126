//! A documented subset of DICOM (PS3.5, PS3.10): uncompressed 16-bit monochrome images.
//!
//! Read, and nothing more (this is a small, purpose-built reader rather than a DICOM
//! toolkit, to keep the build light):
//!
//! - a Part 10 file (128-byte preamble, `DICM`, File Meta Information in explicit VR little
//!   endian), or a bare data set without preamble, taken as implicit VR little endian;
//! - transfer syntaxes implicit VR little endian (1.2.840.10008.1.2) and explicit VR little
//!   endian (1.2.840.10008.1.2.1); any other (compressed, deflated, big endian) is refused
//!   with its UID;
//! - Samples per Pixel 1, Photometric Interpretation MONOCHROME1 or MONOCHROME2, Bits
//!   Allocated 16, Pixel Representation 0 (unsigned), native Pixel Data of defined length,
//!   one or more frames (Number of Frames);
//! - sequences (defined or undefined length, nested) are skipped, not interpreted.
//!
//! Pixel values are returned as stored (bits above Bits Stored cleared); Rescale Slope and
//! Intercept are reported, not applied, and MONOCHROME1 (white is 0) is reported, not
//! inverted, so the analysis sees the detector's raw values.

use super::error::ImagingError;
use super::frame::Frame;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Implicit VR little endian.
pub const IMPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2";
/// Explicit VR little endian.
pub const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";

/// The image of a DICOM file and the attributes that describe its pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomImage {
    /// The frames, in file order.
    pub frames: Vec<Frame<u16>>,
    /// The attributes read.
    pub info: DicomInfo,
}

/// The attributes of a DICOM image this reader uses, for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DicomInfo {
    /// The transfer syntax UID.
    pub transfer_syntax: String,
    /// MONOCHROME1 or MONOCHROME2.
    pub photometric: String,
    /// Bits Stored.
    pub bits_stored: u16,
    /// Rescale Slope (1 when absent).
    pub rescale_slope: f64,
    /// Rescale Intercept (0 when absent).
    pub rescale_intercept: f64,
    /// Rows × Columns of each frame.
    pub rows: u16,
    /// Columns.
    pub columns: u16,
}

/// Reads a DICOM file of the supported subset.
pub fn read_dicom(path: &Path) -> Result<DicomImage, ImagingError> {
    let bytes = std::fs::read(path).map_err(|source| ImagingError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_dicom(&bytes, path)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
    explicit: bool,
}

const UNDEFINED: u32 = u32::MAX;

impl<'a> Cursor<'a> {
    fn malformed(&self, reason: impl Into<String>) -> ImagingError {
        ImagingError::MalformedDicom {
            path: self.path.to_path_buf(),
            offset: self.pos as u64,
            reason: reason.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ImagingError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.malformed(format!("{n} bytes needed past the end of the file")))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, ImagingError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, ImagingError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// Reads one element header: (group, element) and value length (the VR, in the explicit
    /// syntax, only tells how the length is encoded).
    fn header(&mut self) -> Result<((u16, u16), u32), ImagingError> {
        let tag = (self.u16()?, self.u16()?);
        if tag.0 == 0xFFFE || !self.explicit {
            return Ok((tag, self.u32()?));
        }
        let vr = self.take(2)?;
        let vr = [vr[0], vr[1]];
        let long = matches!(
            &vr,
            b"OB"
                | b"OD"
                | b"OF"
                | b"OL"
                | b"OV"
                | b"OW"
                | b"SQ"
                | b"SV"
                | b"UC"
                | b"UN"
                | b"UR"
                | b"UT"
                | b"UV"
        );
        let len = if long {
            self.take(2)?;
            self.u32()?
        } else {
            u32::from(self.u16()?)
        };
        Ok((tag, len))
    }

    /// Skips the items of a sequence of undefined length, up to its delimiter.
    fn skip_sequence(&mut self, depth: usize) -> Result<(), ImagingError> {
        if depth > 32 {
            return Err(self.malformed("sequences nested more than 32 deep"));
        }
        loop {
            let (tag, len) = self.header()?;
            match tag {
                (0xFFFE, 0xE0DD) => return Ok(()),
                (0xFFFE, 0xE000) if len == UNDEFINED => self.skip_item(depth)?,
                (0xFFFE, 0xE000) => {
                    self.take(len as usize)?;
                }
                other => {
                    return Err(self.malformed(format!(
                        "expected a sequence item, found tag ({:04X},{:04X})",
                        other.0, other.1
                    )));
                }
            }
        }
    }

    /// Skips the elements of an item of undefined length, up to its delimiter.
    fn skip_item(&mut self, depth: usize) -> Result<(), ImagingError> {
        loop {
            let (tag, len) = self.header()?;
            if tag == (0xFFFE, 0xE00D) {
                return Ok(());
            }
            if len == UNDEFINED {
                self.skip_sequence(depth + 1)?;
            } else {
                self.take(len as usize)?;
            }
        }
    }
}

fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .trim_end_matches(['\0', ' '])
        .trim()
        .to_string()
}

fn us(value: &[u8]) -> Option<u16> {
    (value.len() >= 2).then(|| u16::from_le_bytes([value[0], value[1]]))
}

/// Parses a DICOM file's bytes; `path` names it in errors.
pub fn parse_dicom(bytes: &[u8], path: &Path) -> Result<DicomImage, ImagingError> {
    let unsupported = |what: &'static str, detail: String| ImagingError::Unsupported {
        path: PathBuf::from(path),
        what,
        detail,
    };
    let part10 = bytes.len() >= 132 && &bytes[128..132] == b"DICM";
    let mut c = Cursor {
        bytes,
        pos: if part10 { 132 } else { 0 },
        path,
        explicit: true,
    };
    let mut syntax = IMPLICIT_VR_LITTLE_ENDIAN.to_string();
    if part10 {
        // The File Meta Information is always explicit VR little endian.
        while c.bytes.len() >= c.pos + 2 && us(&c.bytes[c.pos..]) == Some(0x0002) {
            let (tag, len) = c.header()?;
            if len == UNDEFINED {
                return Err(c.malformed("undefined length in the file meta information"));
            }
            let value = c.take(len as usize)?;
            if tag == (0x0002, 0x0010) {
                syntax = text(value);
            }
        }
    }
    c.explicit = match syntax.as_str() {
        IMPLICIT_VR_LITTLE_ENDIAN => false,
        EXPLICIT_VR_LITTLE_ENDIAN => true,
        other => {
            return Err(unsupported(
                "DICOM transfer syntax",
                format!(
                    "{other}; only uncompressed implicit ({IMPLICIT_VR_LITTLE_ENDIAN}) and \
                     explicit ({EXPLICIT_VR_LITTLE_ENDIAN}) VR little endian are read"
                ),
            ));
        }
    };
    let (mut samples, mut photometric, mut frames) = (1u16, String::new(), 1usize);
    let (mut rows, mut columns, mut allocated, mut stored, mut signed) = (0, 0, 0, 0, 0);
    let (mut slope, mut intercept) = (1.0, 0.0);
    let mut pixel_data: Option<&[u8]> = None;
    while !c.at_end() {
        let start = c.pos;
        let (tag, len) = c.header()?;
        if len == UNDEFINED {
            if tag == (0x7FE0, 0x0010) {
                return Err(unsupported(
                    "DICOM pixel data",
                    "encapsulated (compressed) pixel data; only native pixel data is read".into(),
                ));
            }
            c.skip_sequence(0)?;
            continue;
        }
        let value = c.take(len as usize)?;
        let number = |v: &[u8]| text(v).parse::<f64>().ok();
        match tag {
            (0x0028, 0x0002) => samples = us(value).unwrap_or(0),
            (0x0028, 0x0004) => photometric = text(value),
            (0x0028, 0x0008) => {
                frames = text(value).parse().map_err(|_| {
                    c.malformed(format!(
                        "number of frames `{}` is not a number",
                        text(value)
                    ))
                })?;
            }
            (0x0028, 0x0010) => rows = us(value).unwrap_or(0),
            (0x0028, 0x0011) => columns = us(value).unwrap_or(0),
            (0x0028, 0x0100) => allocated = us(value).unwrap_or(0),
            (0x0028, 0x0101) => stored = us(value).unwrap_or(0),
            (0x0028, 0x0103) => signed = us(value).unwrap_or(0),
            (0x0028, 0x1052) => intercept = number(value).unwrap_or(0.0),
            (0x0028, 0x1053) => slope = number(value).unwrap_or(1.0),
            (0x7FE0, 0x0010) => {
                pixel_data = Some(value);
                break;
            }
            _ => {}
        }
        if c.pos <= start {
            return Err(c.malformed("no progress"));
        }
    }
    if samples != 1 {
        return Err(unsupported(
            "DICOM samples per pixel",
            format!("{samples}; only 1 (monochrome) is read"),
        ));
    }
    if photometric != "MONOCHROME1" && photometric != "MONOCHROME2" {
        return Err(unsupported(
            "DICOM photometric interpretation",
            format!("`{photometric}`; only MONOCHROME1 and MONOCHROME2 are read"),
        ));
    }
    if allocated != 16 {
        return Err(unsupported(
            "DICOM bits allocated",
            format!("{allocated}; only 16 is read"),
        ));
    }
    if signed != 0 {
        return Err(unsupported(
            "DICOM pixel representation",
            "signed pixels; only unsigned are read".into(),
        ));
    }
    let Some(data) = pixel_data else {
        return Err(c.malformed("no pixel data (7FE0,0010)"));
    };
    let (w, h) = (usize::from(columns), usize::from(rows));
    let per_frame = w * h;
    if per_frame == 0 || frames == 0 {
        return Err(c.malformed(format!("{columns}×{rows} × {frames} frames holds no pixel")));
    }
    let needed = per_frame.saturating_mul(2).saturating_mul(frames);
    if data.len() < needed {
        return Err(c.malformed(format!(
            "pixel data of {} bytes is shorter than {frames} frame(s) of {columns}×{rows} 16-bit pixels",
            data.len()
        )));
    }
    let stored = if (1..=16).contains(&stored) {
        stored
    } else {
        16
    };
    let mask = if stored == 16 {
        u16::MAX
    } else {
        (1u16 << stored) - 1
    };
    let frames = data
        .chunks_exact(per_frame * 2)
        .take(frames)
        .map(|chunk| {
            let pixels = chunk
                .chunks_exact(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) & mask)
                .collect();
            Frame::new(w, h, pixels)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DicomImage {
        frames,
        info: DicomInfo {
            transfer_syntax: syntax,
            photometric,
            bits_stored: stored,
            rescale_slope: slope,
            rescale_intercept: intercept,
            rows,
            columns,
        },
    })
}

/// Builds small DICOM files for tests: a data set with the image attributes, in either
/// syntax, with an undefined-length sequence to skip before the image.
#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    fn element(out: &mut Vec<u8>, explicit: bool, tag: (u16, u16), vr: &[u8; 2], value: &[u8]) {
        out.extend(tag.0.to_le_bytes());
        out.extend(tag.1.to_le_bytes());
        let mut value = value.to_vec();
        if value.len() % 2 == 1 {
            value.push(if vr == b"UI" { 0 } else { b' ' });
        }
        if explicit {
            out.extend(vr);
            if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN" | b"UT") {
                out.extend([0, 0]);
                out.extend((value.len() as u32).to_le_bytes());
            } else {
                out.extend((value.len() as u16).to_le_bytes());
            }
        } else {
            out.extend((value.len() as u32).to_le_bytes());
        }
        out.extend(value);
    }

    /// A DICOM file of `frames` (all the same size), in `syntax`, with `bits` allocated.
    pub(crate) fn dicom_bytes(frames: &[Frame<u16>], syntax: &str, bits: u16) -> Vec<u8> {
        let explicit = syntax != IMPLICIT_VR_LITTLE_ENDIAN;
        let mut out = vec![0u8; 128];
        out.extend(b"DICM");
        let mut meta = Vec::new();
        element(&mut meta, true, (0x0002, 0x0010), b"UI", syntax.as_bytes());
        element(
            &mut out,
            true,
            (0x0002, 0x0000),
            b"UL",
            &(meta.len() as u32).to_le_bytes(),
        );
        out.extend(meta);
        element(&mut out, explicit, (0x0008, 0x0060), b"CS", b"DX");
        // An undefined-length sequence holding one undefined-length item with one element.
        out.extend([0x08, 0x00, 0x15, 0x11]);
        if explicit {
            out.extend(b"SQ");
            out.extend([0, 0]);
        }
        out.extend(u32::MAX.to_le_bytes());
        out.extend([0xFE, 0xFF, 0x00, 0xE0]);
        out.extend(u32::MAX.to_le_bytes());
        element(&mut out, explicit, (0x0008, 0x1150), b"UI", b"1.2.3");
        out.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        out.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let (w, h) = (frames[0].width() as u16, frames[0].height() as u16);
        element(
            &mut out,
            explicit,
            (0x0028, 0x0002),
            b"US",
            &1u16.to_le_bytes(),
        );
        element(&mut out, explicit, (0x0028, 0x0004), b"CS", b"MONOCHROME2");
        element(
            &mut out,
            explicit,
            (0x0028, 0x0008),
            b"IS",
            frames.len().to_string().as_bytes(),
        );
        element(
            &mut out,
            explicit,
            (0x0028, 0x0010),
            b"US",
            &h.to_le_bytes(),
        );
        element(
            &mut out,
            explicit,
            (0x0028, 0x0011),
            b"US",
            &w.to_le_bytes(),
        );
        element(
            &mut out,
            explicit,
            (0x0028, 0x0100),
            b"US",
            &bits.to_le_bytes(),
        );
        element(
            &mut out,
            explicit,
            (0x0028, 0x0101),
            b"US",
            &bits.to_le_bytes(),
        );
        element(
            &mut out,
            explicit,
            (0x0028, 0x0103),
            b"US",
            &0u16.to_le_bytes(),
        );
        let mut data = Vec::new();
        for f in frames {
            for p in f.pixels() {
                data.extend(p.to_le_bytes());
            }
        }
        element(&mut out, explicit, (0x7FE0, 0x0010), b"OW", &data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::dicom_bytes;
    use super::*;

    fn frames() -> Vec<Frame<u16>> {
        (0..2)
            .map(|k| Frame::from_fn(5, 3, |x, y| (k * 1000 + x * 10 + y) as u16).unwrap())
            .collect()
    }

    #[test]
    fn reads_both_little_endian_syntaxes() {
        for syntax in [IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN] {
            let bytes = dicom_bytes(&frames(), syntax, 16);
            let image = parse_dicom(&bytes, Path::new("a.dcm")).unwrap();
            assert_eq!(image.frames, frames(), "{syntax}");
            assert_eq!(image.info.photometric, "MONOCHROME2");
            assert_eq!(image.info.transfer_syntax, syntax);
        }
    }

    #[test]
    fn reads_a_file_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flat.dcm");
        std::fs::write(&path, dicom_bytes(&frames(), EXPLICIT_VR_LITTLE_ENDIAN, 16)).unwrap();
        assert_eq!(read_dicom(&path).unwrap().frames.len(), 2);
        let e = read_dicom(&dir.path().join("none.dcm")).unwrap_err();
        assert!(e.to_string().contains("none.dcm"), "{e}");
    }

    #[test]
    fn refuses_what_it_does_not_read_naming_the_file() {
        let jpeg = dicom_bytes(&frames(), "1.2.840.10008.1.2.4.50", 16);
        let e = parse_dicom(&jpeg, Path::new("ct.dcm")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("ct.dcm") && text.contains("1.2.840.10008.1.2.4.50"),
            "{text}"
        );
        let eight = dicom_bytes(&frames(), EXPLICIT_VR_LITTLE_ENDIAN, 8);
        let e = parse_dicom(&eight, Path::new("b.dcm")).unwrap_err();
        assert!(e.to_string().contains("bits allocated"), "{e}");
        let full = dicom_bytes(&frames(), EXPLICIT_VR_LITTLE_ENDIAN, 16);
        for cut in [140, full.len() / 2, full.len() - 3] {
            let e = parse_dicom(&full[..cut], Path::new("cut.dcm")).unwrap_err();
            assert!(
                matches!(e, ImagingError::MalformedDicom { .. }),
                "cut at {cut}: {e}"
            );
        }
    }
}
