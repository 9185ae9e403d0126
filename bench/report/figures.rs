//! Figures of imaging runs for the HTML report: the conversion function with its residuals
//! (from a collected series, in the record), and, from the artefacts a detector driver stored
//! in the run directory, a thumbnail of a flat field, the uniformity map, the defect map and
//! the NPS curves.
//!
//! An artefact is shown only when the record names it (a `stored as <path> sha256 <hex>`
//! instrument note) and the file's SHA-256 still matches: an altered or missing file is
//! reported as such, never drawn. Thumbnails are PNG data URIs, plots inline SVG, so the
//! report stays one self-contained file. Runs without such notes or series get no figure.

use super::format::{push_escaped_xml, short};
use crate::analysis::LinearFit;
use crate::imaging::{Frame, read_tiff};
use crate::record::Record;
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;

/// One figure, ready for the template.
#[derive(Clone, Debug, Serialize)]
pub struct FigureView {
    /// The title.
    pub title: String,
    /// What it shows, and which file (with its SHA-256) it comes from.
    pub caption: String,
    /// The figure: an `<svg>` or an `<img>` with a data URI; empty when the file could not be
    /// used (the caption then says why).
    pub html: String,
}

/// Draws a figure from an artefact's bytes, or says why it cannot.
type MakeFigure<'a> = dyn Fn(&[u8]) -> Result<String, String> + 'a;

/// The largest side of a thumbnail, pixels.
const THUMBNAIL: usize = 256;

/// A plot of (x, y) points with their least-squares line, and the residuals below it in %
/// of the line; empty with fewer than two points.
pub(crate) fn fit_plot(points: &[(f64, f64)], x_unit: &str, y_unit: &str) -> String {
    let (xs, ys): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    let Ok(fit) = LinearFit::new(&xs, &ys) else {
        return String::new();
    };
    let line = |x: f64| fit.slope * x + fit.intercept;
    let residuals: Vec<(f64, f64)> = points
        .iter()
        .map(|&(x, y)| {
            let l = line(x);
            (x, if l != 0.0 { 100.0 * (y - l) / l } else { 0.0 })
        })
        .collect();
    let (x0, x1) = range(xs.iter().copied().chain([0.0]));
    let (y0, y1) = range(ys.iter().copied().chain([line(x0), line(x1)]));
    let r_max = residuals.iter().map(|r| r.1.abs()).fold(0.5, f64::max) * 1.2;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="400" viewBox="0 0 640 400" role="img"><title>Conversion function and residuals</title><rect width="640" height="400" fill="white"/>"#
    );
    let top = Panel::new(60.0, 10.0, 560.0, 240.0, (x0, x1), (y0, y1));
    let bottom = Panel::new(60.0, 290.0, 560.0, 80.0, (x0, x1), (-r_max, r_max));
    top.frame(&mut svg, &labelled("y", y_unit));
    bottom.frame(&mut svg, "residual [%]");
    bottom.axis_line(&mut svg, 0.0);
    let _ = write!(
        svg,
        r##"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="#555" stroke-width="1.5"/>"##,
        top.x(x0),
        top.y(line(x0)),
        top.x(x1),
        top.y(line(x1))
    );
    for (&(x, y), &(_, r)) in points.iter().zip(&residuals) {
        let _ = write!(
            svg,
            r##"<circle cx="{:.2}" cy="{:.2}" r="4" fill="#1565c0"/><circle cx="{:.2}" cy="{:.2}" r="3" fill="#1565c0"/>"##,
            top.x(x),
            top.y(y),
            bottom.x(x),
            bottom.y(r)
        );
    }
    text(&mut svg, 340.0, 395.0, "middle", &labelled("x", x_unit));
    text(
        &mut svg,
        80.0,
        28.0,
        "start",
        &format!(
            "y = {} · x + {}   R² = {}",
            short(fit.slope),
            short(fit.intercept),
            short(fit.r_squared)
        ),
    );
    svg.push_str("</svg>");
    svg
}

/// The figures of the artefacts the record names, in the order they were stored.
pub fn detector_figures(record: &Record, run_dir: &Path) -> Vec<FigureView> {
    let stored: Vec<(String, String, String)> = record
        .events
        .iter()
        .filter(|e| e.kind == "instrument")
        .filter_map(|e| {
            let (what, rest) = e.text.split_once(" stored as ")?;
            let (path, sha) = rest.split_once(" sha256 ")?;
            Some((what.to_string(), path.to_string(), sha.to_string()))
        })
        .collect();
    let mut figures = Vec::new();
    // The last exposed frame stands for the flat fields.
    if let Some((what, path, sha)) = stored.iter().rev().find(|(w, ..)| w.contains("(exposed")) {
        figures.push(figure(
            run_dir,
            path,
            sha,
            "Flat field (thumbnail)",
            what,
            |bytes| {
                let _ = bytes;
                frame_of(run_dir, path).map(|f| thumbnail(&f, false))
            },
        ));
    }
    for (what, path, sha) in &stored {
        let make: Option<(&str, Box<MakeFigure>)> = if path.ends_with("-uniformity-map.csv") {
            Some((
                "Uniformity map (TG-150 ROI means)",
                Box::new(uniformity_map),
            ))
        } else if path.ends_with("-defect-map.tiff") {
            Some((
                "Defect map (thumbnail: black where any pixel below is defective)",
                Box::new(|_| frame_of(run_dir, path).map(|f| thumbnail(&f, true))),
            ))
        } else if path.ends_with("-nps.csv") {
            Some(("Noise power spectrum", Box::new(nps_plot)))
        } else {
            None
        };
        if let Some((title, make)) = make {
            figures.push(figure(run_dir, path, sha, title, what, make));
        }
    }
    figures
}

fn figure(
    run_dir: &Path,
    path: &str,
    sha: &str,
    title: &str,
    what: &str,
    make: impl Fn(&[u8]) -> Result<String, String>,
) -> FigureView {
    let caption = format!("{what}: {path}, SHA-256 {sha}");
    let outcome = std::fs::read(run_dir.join(path))
        .map_err(|e| format!("cannot be read: {e}"))
        .and_then(|bytes| {
            if hex::encode(Sha256::digest(&bytes)) == sha {
                make(&bytes)
            } else {
                Err("does not match its recorded SHA-256: not shown".into())
            }
        });
    match outcome {
        Ok(html) => FigureView {
            title: title.to_string(),
            caption,
            html,
        },
        Err(why) => FigureView {
            title: title.to_string(),
            caption: format!("{caption} — the file {why}"),
            html: String::new(),
        },
    }
}

/// The 16-bit image stored at `path` (its hash already checked by [`figure`]).
fn frame_of(run_dir: &Path, path: &str) -> Result<Frame<u16>, String> {
    read_tiff(&run_dir.join(path)).map_err(|e| format!("is not a readable image: {e}"))
}

/// A grey PNG thumbnail as an `<img>`: block means windowed to their range, or (for a defect
/// map) black wherever a block holds any flagged pixel.
fn thumbnail(frame: &Frame<u16>, defects: bool) -> String {
    let (w, h) = (frame.width(), frame.height());
    let step = w.max(h).div_ceil(THUMBNAIL).max(1);
    let (tw, th) = (w.div_ceil(step), h.div_ceil(step));
    let mut blocks = vec![0f64; tw * th];
    for ty in 0..th {
        for tx in 0..tw {
            let (mut sum, mut n, mut any) = (0.0, 0.0, false);
            for y in ty * step..((ty + 1) * step).min(h) {
                for x in tx * step..((tx + 1) * step).min(w) {
                    let v = frame.pixels()[y * w + x];
                    sum += f64::from(v);
                    n += 1.0;
                    any |= v != 0;
                }
            }
            blocks[ty * tw + tx] = if defects {
                if any { 0.0 } else { 255.0 }
            } else {
                sum / n
            };
        }
    }
    let gray: Vec<u8> = if defects {
        blocks.iter().map(|&v| v as u8).collect()
    } else {
        let (lo, hi) = range(blocks.iter().copied());
        blocks
            .iter()
            .map(|&v| (255.0 * (v - lo) / (hi - lo)).round().clamp(0.0, 255.0) as u8)
            .collect()
    };
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, tw as u32, th as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&gray));
    if written.is_err() {
        return String::new();
    }
    format!(
        r#"<img class="thumbnail" width="{tw}" height="{th}" alt="thumbnail" src="data:image/png;base64,{}">"#,
        base64::engine::general_purpose::STANDARD.encode(&png)
    )
}

/// The uniformity CSV (`row,column,x,y,width,height,mean,std_dev`) as a heat map: each ROI
/// shaded by its mean's deviation from the overall mean (blue below, red above).
fn uniformity_map(bytes: &[u8]) -> Result<String, String> {
    let csv = std::str::from_utf8(bytes).map_err(|_| "is not text".to_string())?;
    let cells: Vec<(usize, usize, f64)> = csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                f.get(6)?.parse().ok()?,
            ))
        })
        .collect();
    if cells.is_empty() {
        return Err("holds no ROI".into());
    }
    let rows = cells.iter().map(|c| c.0).max().unwrap_or(0) + 1;
    let columns = cells.iter().map(|c| c.1).max().unwrap_or(0) + 1;
    let mean = cells.iter().map(|c| c.2).sum::<f64>() / cells.len() as f64;
    let spread = cells
        .iter()
        .map(|c| ((c.2 - mean) / mean).abs())
        .fold(1e-9, f64::max);
    let cell = (320.0 / rows.max(columns) as f64).floor().max(4.0);
    let (width, height) = (cell * columns as f64 + 20.0, cell * rows as f64 + 40.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img"><title>Uniformity map</title>"#
    );
    for (r, c, m) in &cells {
        let t = ((m - mean) / mean / spread).clamp(-1.0, 1.0);
        let (red, blue) = if t >= 0.0 {
            (255.0, 255.0 * (1.0 - t))
        } else {
            (255.0 * (1.0 + t), 255.0)
        };
        let green = 255.0 * (1.0 - t.abs());
        let _ = write!(
            svg,
            r#"<rect x="{:.2}" y="{:.2}" width="{cell:.2}" height="{cell:.2}" fill="rgb({:.0},{:.0},{:.0})"/>"#,
            10.0 + cell * *c as f64,
            10.0 + cell * *r as f64,
            red,
            green,
            blue
        );
    }
    text(
        &mut svg,
        10.0,
        height - 10.0,
        "start",
        &format!(
            "{rows} × {columns} ROIs; colour scale ±{} % of the mean {}",
            short(100.0 * spread),
            short(mean)
        ),
    );
    svg.push_str("</svg>");
    Ok(svg)
}

/// The NPS CSV (`curve,frequency_per_mm,nps,nnps_mm2`) as curves on a logarithmic axis: the
/// NNPS when it is defined, else the NPS.
fn nps_plot(bytes: &[u8]) -> Result<String, String> {
    let csv = std::str::from_utf8(bytes).map_err(|_| "is not text".to_string())?;
    let mut curves: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut normalised = true;
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    if rows.iter().any(|f| f.get(3).is_none_or(|v| v.is_empty())) {
        normalised = false;
    }
    for f in &rows {
        let (Some(name), Some(freq)) = (f.first(), f.get(1).and_then(|v| v.parse::<f64>().ok()))
        else {
            continue;
        };
        let value = f
            .get(if normalised { 3 } else { 2 })
            .and_then(|v| v.parse::<f64>().ok());
        let Some(value) = value.filter(|v| *v > 0.0 && freq > 0.0) else {
            continue;
        };
        match curves.iter_mut().find(|(n, _)| n == name) {
            Some((_, points)) => points.push((freq, value.log10())),
            None => curves.push((name.to_string(), vec![(freq, value.log10())])),
        }
    }
    if curves.is_empty() {
        return Err("holds no positive point".into());
    }
    let all = || curves.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1) = range(all().map(|p| p.0).chain([0.0]));
    let (y0, y1) = range(all().map(|p| p.1));
    let (y0, y1) = (y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let mut svg = String::from(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="640" height="320" viewBox="0 0 640 320" role="img"><title>Noise power spectrum</title><rect width="640" height="320" fill="white"/>"#,
    );
    let panel = Panel::new(70.0, 10.0, 540.0, 260.0, (x0, x1), (y0, y1));
    let unit = if normalised {
        "NNPS [mm²]"
    } else {
        "NPS [pixel value² · mm²]"
    };
    panel.frame(&mut svg, &format!("log10 {unit}"));
    for (i, (name, points)) in curves.iter().enumerate() {
        let colour = ["#1565c0", "#c62828", "#2e7d32"][i % 3];
        let mut d = String::new();
        for (j, (x, y)) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.2},{:.2} ",
                if j == 0 { "M" } else { "L" },
                panel.x(*x),
                panel.y(*y)
            );
        }
        let _ = write!(
            svg,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
            d.trim_end()
        );
        text(&mut svg, 520.0, 30.0 + 16.0 * i as f64, "start", name);
        let _ = write!(
            svg,
            r#"<line x1="500" y1="{y:.2}" x2="515" y2="{y:.2}" stroke="{colour}" stroke-width="2"/>"#,
            y = 26.0 + 16.0 * i as f64
        );
    }
    text(
        &mut svg,
        340.0,
        310.0,
        "middle",
        "spatial frequency [cycles/mm]",
    );
    svg.push_str("</svg>");
    Ok(svg)
}

/// An axis label with its unit in brackets (none for a pure number).
fn labelled(name: &str, unit: &str) -> String {
    if unit.is_empty() {
        name.to_string()
    } else {
        format!("{name} [{unit}]")
    }
}

/// The range of `values`, widened when empty or flat.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

fn text(svg: &mut String, x: f64, y: f64, anchor: &str, content: &str) {
    let _ = write!(
        svg,
        r#"<text x="{x:.2}" y="{y:.2}" font-family="sans-serif" font-size="12" text-anchor="{anchor}">"#
    );
    push_escaped_xml(svg, content);
    svg.push_str("</text>");
}

/// A plotting area mapping data to SVG coordinates.
struct Panel {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
    xr: (f64, f64),
    yr: (f64, f64),
}

impl Panel {
    fn new(left: f64, top: f64, width: f64, height: f64, xr: (f64, f64), yr: (f64, f64)) -> Panel {
        Panel {
            left,
            top,
            width,
            height,
            xr,
            yr,
        }
    }

    fn x(&self, x: f64) -> f64 {
        self.left + self.width * (x - self.xr.0) / (self.xr.1 - self.xr.0)
    }

    fn y(&self, y: f64) -> f64 {
        self.top + self.height * (1.0 - (y - self.yr.0) / (self.yr.1 - self.yr.0))
    }

    /// The border, the extreme values of each axis, and the y label.
    fn frame(&self, svg: &mut String, y_label: &str) {
        let _ = write!(
            svg,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="none" stroke="#999"/>"##,
            self.left, self.top, self.width, self.height
        );
        let bottom = self.top + self.height;
        text(svg, self.left, bottom + 14.0, "middle", &short(self.xr.0));
        text(
            svg,
            self.left + self.width,
            bottom + 14.0,
            "middle",
            &short(self.xr.1),
        );
        text(svg, self.left - 4.0, bottom, "end", &short(self.yr.0));
        text(
            svg,
            self.left - 4.0,
            self.top + 10.0,
            "end",
            &short(self.yr.1),
        );
        text(
            svg,
            self.left + 4.0,
            self.top + self.height / 2.0,
            "start",
            y_label,
        );
    }

    fn axis_line(&self, svg: &mut String, y: f64) {
        let _ = write!(
            svg,
            r##"<line x1="{:.2}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="#bbb" stroke-dasharray="4 3"/>"##,
            self.left,
            self.y(y),
            self.left + self.width,
            self.y(y)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fit_plot_shows_the_line_its_equation_and_residuals() {
        let svg = fit_plot(&[(1.0, 1010.0), (2.0, 2000.0), (3.0, 3020.0)], "µGy", "");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains("R² = 0.99"), "{svg}");
        assert!(fit_plot(&[(1.0, 1.0)], "", "").is_empty());
    }

    #[test]
    fn maps_and_spectra_are_drawn_from_their_csv() {
        let csv = b"row,column,x,y,width,height,mean,std_dev\n0,0,0,0,8,8,100,1\n0,1,8,0,8,8,110,1\n1,0,0,8,8,8,90,1\n1,1,8,8,8,8,100,1\n";
        let svg = uniformity_map(csv).unwrap();
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains("2 × 2 ROIs"));
        let nps = b"curve,frequency_per_mm,nps,nnps_mm2\nradial,0,5,0.001\nradial,1,4,0.0008\nradial,2,3,0.0006\nhorizontal,1,4,0.0009\n";
        let svg = nps_plot(nps).unwrap();
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("NNPS"));
        assert!(nps_plot(b"curve,frequency_per_mm,nps,nnps_mm2\n").is_err());
    }

    #[test]
    fn a_thumbnail_is_a_small_png_and_keeps_isolated_defects_visible() {
        let mut flags = vec![0u16; 1000 * 600];
        flags[300 * 1000 + 777] = 1;
        let map = Frame::new(1000, 600, flags).unwrap();
        let html = thumbnail(&map, true);
        assert!(html.contains(r#"width="250" height="150""#), "{html}");
        let data = html
            .split("base64,")
            .nth(1)
            .unwrap()
            .trim_end_matches("\">");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        assert_eq!(buf.iter().filter(|&&v| v == 0).count(), 1);
    }
}
