//! A [`Driver`] for a CANopen flat-panel X-ray detector with the object dictionary of
//! qbench's simulated detector (`docs/flat-panel-detector.md`): control over CAN (arm, the
//! integration window, the gain mode, state, temperature, frame counter), frames over an
//! image channel (the `image_frame` protocol on TCP, or TIFF files a vendor tool drops into
//! a folder).
//!
//! Image analysis reaches procedures through this driver's quantities. `acquire` (after
//! `arm` and an exposure) and `acquire_dark` fetch one frame, store it in the run directory
//! as a 16-bit TIFF (noted with its SHA-256, so every figure can be recomputed from the raw
//! frames), and fold it into an [`AcquisitionSession`]; the frame itself is then dropped.
//! Quantities read either the last frame (`mean_pixel_value`, `noise`, `snr`) or the series
//! since `reset_series` (`dark_offset`, `dark_noise`, uniformity, defects, lag, NPS). The
//! series analyses also store their artefacts (NPS curve, uniformity map, defect map) beside
//! the frames, each noted with its SHA-256. The driver never decides a verdict.
//!
//! A frame that fails its checksum, is cut short, or cannot be read is an instrument error
//! naming this driver; CANopen errors map as for the generator ([`super::xray_generator`]).

use super::{CanOpenClient, CanOpenError, NmtCommand, NmtState};
use crate::driver::{
    Condition, DeviceEvent, Driver, DriverError, DriverErrorKind, DriverSpec, Identity,
    QuantitySpec, SettingSpec,
};
use crate::imaging::{
    AcquisitionSession, Frame, FrameKind, ImagingError, PixelPitch, SessionConfig, read_tiff,
    write_tiff,
};
use crate::link::ByteLink;
use crate::protocol::image_frame::{self, FrameError, HEADER_LEN};
use crate::units::Quantity;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The driver's name in fixtures.
pub const NAME: &str = "canopen-flat-panel-detector";

const CONTROLWORD: u16 = 0x2100;
const STATUSWORD: u16 = 0x2101;
const WINDOW: u16 = 0x2102;
const GAIN_MODE: u16 = 0x2103;
const TEMPERATURE: u16 = 0x2104;
const FRAME_COUNTER: u16 = 0x2105;
const GEOMETRY: u16 = 0x2106;
const INTEGRATING: u16 = 0x01;

/// What the driver offers.
pub const SPEC: DriverSpec = DriverSpec {
    name: NAME,
    kind: "flat_panel_detector",
    settings: &[
        SettingSpec {
            name: "integration_window",
            unit: "ms",
            description: "integration window after arming, 10 ms to 60 s",
        },
        SettingSpec {
            name: "gain_mode",
            unit: "",
            description: "gain mode: 0 standard, 1 high",
        },
    ],
    actions: &["arm", "acquire", "acquire_dark", "reset_series", "idle"],
    quantities: &[
        QuantitySpec {
            name: "mean_pixel_value",
            unit: "DN",
            description: "mean pixel value of the central ROI of the last frame",
        },
        QuantitySpec {
            name: "noise",
            unit: "DN",
            description: "standard deviation of the central ROI of the last frame",
        },
        QuantitySpec {
            name: "snr",
            unit: "",
            description: "mean / standard deviation of the central ROI of the last frame",
        },
        QuantitySpec {
            name: "frame_number",
            unit: "",
            description: "the detector's frame number of the last frame",
        },
        QuantitySpec {
            name: "temperature",
            unit: "°C",
            description: "panel temperature",
        },
        QuantitySpec {
            name: "dark_offset",
            unit: "DN",
            description: "central ROI mean of the mean dark frame of the series",
        },
        QuantitySpec {
            name: "dark_noise",
            unit: "DN",
            description: "temporal dark noise of the series (successive differences)",
        },
        QuantitySpec {
            name: "dark_fixed_pattern_noise",
            unit: "DN",
            description: "pixel-to-pixel spread of the mean dark frame in the central ROI",
        },
        QuantitySpec {
            name: "global_uniformity",
            unit: "%",
            description: "TG-150 global signal non-uniformity of the offset-corrected mean exposed frame",
        },
        QuantitySpec {
            name: "local_uniformity",
            unit: "%",
            description: "TG-150 local signal non-uniformity of the offset-corrected mean exposed frame",
        },
        QuantitySpec {
            name: "defective_pixels",
            unit: "",
            description: "pixels with at least one defect (dead, hot, noisy)",
        },
        QuantitySpec {
            name: "defective_lines",
            unit: "",
            description: "defective rows and columns",
        },
        QuantitySpec {
            name: "lag",
            unit: "%",
            description: "residual signal in the dark frame after an exposure (dark, exposed, dark)",
        },
        QuantitySpec {
            name: "nps_variance",
            unit: "DN^2",
            description: "variance recovered by integrating the NPS of the exposed frames",
        },
    ],
    events: &[],
};

/// Where frames come from.
pub enum ImageSource {
    /// The image channel: a TCP link carrying `image_frame` messages.
    Tcp(Box<dyn ByteLink>),
    /// A folder where frames appear as `frame-NNNNNN.tiff` (NNNNNN the frame number).
    Folder(PathBuf),
}

/// Where a fixture says frames come from (`image_tcp: host:port`, `image_folder: path`;
/// `sim:flat_panel_detector` on the simulated bench), before it is resolved and opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSourceSpec {
    /// `host:port` (or `sim:<device>`).
    Tcp(String),
    /// A folder path (or `sim:<device>`).
    Folder(String),
}

/// Options the driver accepts.
const OPTIONS: [&str; 4] = ["image_tcp", "image_folder", "frame_timeout_ms", "roi_mm"];

fn bad_option(option: &str, reason: String) -> DriverError {
    DriverError::new(
        NAME,
        DriverErrorKind::BadOption {
            option: option.to_string(),
            reason,
        },
    )
}

/// The image source the fixture's options name: exactly one of `image_tcp`, `image_folder`.
pub fn image_source_spec(
    options: &BTreeMap<String, String>,
) -> Result<ImageSourceSpec, DriverError> {
    if let Some(unknown) = options.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
        return Err(bad_option(
            unknown,
            format!("unknown option (known: {})", OPTIONS.join(", ")),
        ));
    }
    match (options.get("image_tcp"), options.get("image_folder")) {
        (Some(tcp), None) => Ok(ImageSourceSpec::Tcp(tcp.clone())),
        (None, Some(folder)) => Ok(ImageSourceSpec::Folder(folder.clone())),
        _ => Err(bad_option(
            "image_tcp",
            "give exactly one image source: `image_tcp: host:port` or `image_folder: path`".into(),
        )),
    }
}

fn option_number(
    options: &BTreeMap<String, String>,
    name: &str,
    default: f64,
) -> Result<f64, DriverError> {
    match options.get(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| bad_option(name, format!("`{text}` is not a positive number"))),
    }
}

/// A CANopen flat-panel detector on one node with its image channel.
pub struct FlatPanelDetectorDriver {
    client: CanOpenClient,
    node: u8,
    command_timeout: Duration,
    frame_timeout: Duration,
    images: ImageSource,
    /// Where frames and artefacts are stored, and the prefix of their names (the role).
    store: Option<(PathBuf, String)>,
    session: AcquisitionSession,
    /// The frame counter when the detector was last armed; `None` when not armed.
    armed_from: Option<u32>,
    last_frame: Option<u32>,
    /// Artefacts stored since the series last changed (each is stored once per state).
    stored: Vec<&'static str>,
    notes: Vec<String>,
}

impl FlatPanelDetectorDriver {
    /// Takes the detector on `node` into operation (heartbeat watched, NMT start), reads its
    /// geometry and prepares the analysis. `store` is the run directory's folder for images
    /// and the name prefix (the role); without it nothing is written (`qbench probe`).
    pub fn open(
        mut client: CanOpenClient,
        node: u8,
        heartbeat_timeout: Duration,
        command_timeout: Duration,
        images: ImageSource,
        options: &BTreeMap<String, String>,
        store: Option<(PathBuf, String)>,
    ) -> Result<FlatPanelDetectorDriver, DriverError> {
        let frame_timeout =
            Duration::from_secs_f64(option_number(options, "frame_timeout_ms", 5000.0)? / 1000.0);
        let roi_mm = option_number(options, "roi_mm", 10.0)?;
        let e = |e| map(node, e);
        client.watch_heartbeat(node, heartbeat_timeout).map_err(e)?;
        client.nmt(NmtCommand::Start, node).map_err(e)?;
        client
            .wait_for_state(
                node,
                NmtState::Operational,
                heartbeat_timeout + command_timeout,
            )
            .map_err(e)?;
        let width = client.read_u16(node, GEOMETRY, 1).map_err(e)?;
        let height = client.read_u16(node, GEOMETRY, 2).map_err(e)?;
        let pitch_um = client.read_u16(node, GEOMETRY, 3).map_err(e)?;
        let mut config = SessionConfig::standard(PixelPitch::square(f64::from(pitch_um) / 1000.0));
        config.roi_mm = roi_mm;
        let session = AcquisitionSession::new(config, usize::from(width), usize::from(height))
            .map_err(|err| analysis_error("preparing the analysis", &err))?;
        if let Some((dir, _)) = &store {
            std::fs::create_dir_all(dir).map_err(|err| {
                protocol(
                    "a writable image folder in the run directory",
                    format!("{}: {err}", dir.display()),
                )
            })?;
        }
        Ok(FlatPanelDetectorDriver {
            client,
            node,
            command_timeout,
            frame_timeout,
            images,
            store,
            session,
            armed_from: None,
            last_frame: None,
            stored: Vec::new(),
            notes: Vec::new(),
        })
    }

    fn err(&self, e: CanOpenError) -> DriverError {
        map(self.node, e)
    }

    fn arm(&mut self) -> Result<(), DriverError> {
        let counter = self
            .client
            .read_u32(self.node, FRAME_COUNTER, 0)
            .map_err(|e| self.err(e))?;
        self.client
            .write_u16(self.node, CONTROLWORD, 0, 1)
            .map_err(|e| self.err(e))?;
        self.armed_from = Some(counter);
        Ok(())
    }

    /// Waits for the end of the integration window and fetches its frame.
    fn acquire(&mut self, kind: FrameKind) -> Result<(), DriverError> {
        let Some(before) = self.armed_from.take() else {
            return Err(DriverError::new(
                NAME,
                DriverErrorKind::InstrumentRefused {
                    reply: "no frame to acquire: the detector is not armed (`arm` first)".into(),
                },
            ));
        };
        let window_ms = self
            .client
            .read_u32(self.node, WINDOW, 0)
            .map_err(|e| self.err(e))?;
        let waited = Duration::from_millis(u64::from(window_ms)) + self.command_timeout;
        let deadline = Instant::now() + waited;
        loop {
            let status = self
                .client
                .read_u16(self.node, STATUSWORD, 0)
                .map_err(|e| self.err(e))?;
            if status & INTEGRATING == 0 {
                break;
            }
            if Instant::now() >= deadline {
                return Err(DriverError::new(
                    NAME,
                    DriverErrorKind::NoEvent {
                        event: "end of the integration window".into(),
                        waited_ms: waited.as_millis(),
                    },
                ));
            }
            self.client
                .poll(Duration::from_millis(5))
                .map_err(|e| map(self.node, e))?;
        }
        let number = self
            .client
            .read_u32(self.node, FRAME_COUNTER, 0)
            .map_err(|e| self.err(e))?;
        if number != before.wrapping_add(1) {
            return Err(protocol(
                &format!("frame {} after arming", before.wrapping_add(1)),
                format!("frame counter {number}"),
            ));
        }
        let frame = self.receive(number)?;
        self.keep(number, kind, &frame)?;
        Ok(())
    }

    fn receive(&mut self, number: u32) -> Result<Frame<u16>, DriverError> {
        let deadline = Instant::now() + self.frame_timeout;
        match &mut self.images {
            ImageSource::Tcp(link) => {
                receive_tcp(link.as_mut(), number, deadline, self.frame_timeout)
            }
            ImageSource::Folder(folder) => {
                let path = folder.join(format!("frame-{number:06}.tiff"));
                while !path.exists() {
                    if Instant::now() >= deadline {
                        return Err(DriverError::new(
                            NAME,
                            DriverErrorKind::NoEvent {
                                event: format!("frame file {}", path.display()),
                                waited_ms: self.frame_timeout.as_millis(),
                            },
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                read_tiff(&path).map_err(|e| {
                    protocol(
                        &format!("an intact 16-bit TIFF for frame {number}"),
                        crate::runner::error_chain(&e),
                    )
                })
            }
        }
    }

    /// Stores the frame (TIFF, SHA-256 noted) and folds it into the analysis.
    fn keep(
        &mut self,
        number: u32,
        kind: FrameKind,
        frame: &Frame<u16>,
    ) -> Result<(), DriverError> {
        let kind_name = match kind {
            FrameKind::Dark => "dark",
            FrameKind::Exposed => "exposed",
        };
        if let Some((dir, prefix)) = &self.store {
            let name = format!("{prefix}-frame-{number:06}.tiff");
            let path = dir.join(&name);
            write_tiff(&path, frame).map_err(|e| analysis_error("storing the frame", &e))?;
            let sha = sha256_of_file(&path)?;
            self.notes.push(format!(
                "frame {number} ({kind_name}, {} × {}) stored as {} sha256 {sha}",
                frame.width(),
                frame.height(),
                relative(&path)
            ));
        }
        self.session
            .add(frame, kind)
            .map_err(|e| analysis_error("analysing the frame", &e))?;
        self.last_frame = Some(number);
        self.stored.clear();
        Ok(())
    }

    /// Writes an analysis artefact beside the frames and notes its SHA-256, once per state
    /// of the series.
    fn artefact(
        &mut self,
        what: &str,
        file: &'static str,
        bytes: &[u8],
    ) -> Result<(), DriverError> {
        if self.stored.contains(&file) {
            return Ok(());
        }
        self.stored.push(file);
        let Some((dir, prefix)) = &self.store else {
            return Ok(());
        };
        let path = dir.join(format!("{prefix}-{file}"));
        std::fs::write(&path, bytes).map_err(|e| {
            protocol(
                "a writable run directory",
                format!("{}: {e}", path.display()),
            )
        })?;
        let sha = hex::encode(Sha256::digest(bytes));
        self.notes
            .push(format!("{what} stored as {} sha256 {sha}", relative(&path)));
        Ok(())
    }

    fn series_value(&mut self, name: &str) -> Result<f64, DriverError> {
        let s = &self.session;
        let fail = |e: ImagingError| analysis_error(&format!("computing {name}"), &e);
        match name {
            "dark_offset" => Ok(s.dark_stats().map_err(fail)?.offset),
            "dark_noise" => Ok(s.dark_stats().map_err(fail)?.temporal_noise),
            "dark_fixed_pattern_noise" => Ok(s.dark_stats().map_err(fail)?.fixed_pattern_noise),
            "global_uniformity" | "local_uniformity" => {
                let u = s.uniformity().map_err(fail)?;
                let (columns, map) = s.uniformity_map().map_err(fail)?;
                let mut csv = String::from("row,column,x,y,width,height,mean,std_dev\n");
                for (i, r) in map.iter().enumerate() {
                    let _ = writeln!(
                        csv,
                        "{},{},{},{},{},{},{},{}",
                        i / columns,
                        i % columns,
                        r.roi.x,
                        r.roi.y,
                        r.roi.width,
                        r.roi.height,
                        r.mean,
                        r.std_dev
                    );
                }
                self.artefact(
                    "uniformity map (TG-150 ROIs)",
                    "uniformity-map.csv",
                    csv.as_bytes(),
                )?;
                Ok(100.0
                    * if name == "global_uniformity" {
                        u.signal.global
                    } else {
                        u.signal.local
                    })
            }
            "defective_pixels" | "defective_lines" => {
                let d = s.defects().map_err(fail)?;
                let first = !self.stored.contains(&"defect-map.tiff");
                self.stored.push("defect-map.tiff");
                let flags = &d.map.flags;
                let (w, h) = (flags.width(), flags.height());
                let pixels = flags.pixels().iter().map(|&b| u16::from(b)).collect();
                let map = Frame::new(w, h, pixels).map_err(fail)?;
                let report = d.report.clone();
                if let Some((dir, prefix)) = self.store.as_ref().filter(|_| first) {
                    let path = dir.join(format!("{prefix}-defect-map.tiff"));
                    write_tiff(&path, &map)
                        .map_err(|e| analysis_error("storing the defect map", &e))?;
                    let sha = sha256_of_file(&path)?;
                    self.notes.push(format!(
                        "defect map (flag bits per pixel) stored as {} sha256 {sha}",
                        relative(&path)
                    ));
                }
                Ok(if name == "defective_pixels" {
                    report.defective as f64
                } else {
                    (report.rows.len() + report.columns.len()) as f64
                })
            }
            "lag" => Ok(100.0 * s.lag().map_err(fail)?),
            "nps_variance" => {
                let nps = s.nps().map_err(fail)?;
                let mut csv = String::from("curve,frequency_per_mm,nps,nnps_mm2\n");
                for (curve, points) in [
                    ("radial", &nps.radial),
                    ("horizontal", &nps.horizontal),
                    ("vertical", &nps.vertical),
                ] {
                    for p in points {
                        let nnps = p.nnps.map(|v| v.to_string()).unwrap_or_default();
                        let _ = writeln!(csv, "{curve},{},{},{nnps}", p.frequency, p.nps);
                    }
                }
                self.artefact("noise power spectrum", "nps.csv", csv.as_bytes())?;
                Ok(nps.variance)
            }
            other => Err(DriverError::new(
                NAME,
                DriverErrorKind::Unsupported {
                    what: format!("quantity `{other}`"),
                },
            )),
        }
    }
}

/// Reads frame `number` from the image channel: stale frames are skipped, a frame from the
/// future, a corrupted header or payload, or a channel that ends mid-frame is an error.
fn receive_tcp(
    link: &mut dyn ByteLink,
    number: u32,
    deadline: Instant,
    timeout: Duration,
) -> Result<Frame<u16>, DriverError> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let head = link.receive_exact(HEADER_LEN, remaining).map_err(|e| {
            if e.is_timeout() {
                DriverError::new(
                    NAME,
                    DriverErrorKind::NoEvent {
                        event: format!("frame {number} on the image channel"),
                        waited_ms: timeout.as_millis(),
                    },
                )
            } else {
                DriverError::new(NAME, DriverErrorKind::Link(e))
            }
        })?;
        let head: [u8; HEADER_LEN] = head
            .try_into()
            .map_err(|_| protocol("a frame header", "a short read".into()))?;
        let header = image_frame::decode_header(&head).map_err(frame_error)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let payload = link
            .receive_exact(header.length as usize, remaining)
            .map_err(|e| {
                protocol(
                    "an intact image frame",
                    format!(
                        "frame {} truncated: the channel ended before its {} bytes ({e})",
                        header.frame_number, header.length
                    ),
                )
            })?;
        let frame = image_frame::decode_payload(&header, &payload).map_err(frame_error)?;
        match header.frame_number.cmp(&number) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Equal => return Ok(frame),
            std::cmp::Ordering::Greater => {
                return Err(protocol(
                    &format!("frame {number} on the image channel"),
                    format!("frame {}", header.frame_number),
                ));
            }
        }
    }
}

fn protocol(expected: &str, received: String) -> DriverError {
    DriverError::new(
        NAME,
        DriverErrorKind::Protocol {
            expected: expected.to_string(),
            received,
        },
    )
}

fn frame_error(e: FrameError) -> DriverError {
    protocol("an intact image frame", e.to_string())
}

fn analysis_error(doing: &str, e: &ImagingError) -> DriverError {
    protocol(
        &format!("frames enough for {doing}"),
        crate::runner::error_chain(e),
    )
}

fn sha256_of_file(path: &Path) -> Result<String, DriverError> {
    let bytes = std::fs::read(path).map_err(|e| {
        protocol(
            "a readable stored frame",
            format!("{}: {e}", path.display()),
        )
    })?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// `images/<file>`: stored paths are noted relative to the run directory.
fn relative(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .map(|d| d.to_string_lossy())
        .unwrap_or_default();
    format!("{dir}/{file}")
}

/// Maps a CANopen error onto the driver stage's kinds, naming this driver.
pub fn map(node: u8, e: CanOpenError) -> DriverError {
    let mut err = super::xray_generator::map(node, e);
    err.driver = NAME.to_string();
    err
}

/// `value` in the unit `symbol` of this driver's table.
fn quantity(value: f64, symbol: &str) -> Result<Quantity, DriverError> {
    Ok(Quantity::new(
        value,
        crate::driver::common::unit(NAME, symbol)?,
    ))
}

fn unit_of(name: &str) -> &'static str {
    SPEC.quantities
        .iter()
        .find(|q| q.name == name)
        .map_or("", |q| q.unit)
}

impl Driver for FlatPanelDetectorDriver {
    fn identify(&mut self) -> Result<Identity, DriverError> {
        let n = self.node;
        self.client.identity(n).map_err(|e| map(n, e))
    }

    fn set(&mut self, name: &str, value: &Quantity) -> Result<Quantity, DriverError> {
        let unit = SPEC
            .settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.unit)
            .ok_or_else(|| {
                DriverError::new(
                    NAME,
                    DriverErrorKind::Unsupported {
                        what: format!("setting `{name}` (known: integration_window, gain_mode)"),
                    },
                )
            })?;
        let target = quantity(0.0, unit)?.unit;
        let v = value.to_unit(&target).map_err(|e| {
            DriverError::new(
                NAME,
                DriverErrorKind::BadValue {
                    name: name.to_string(),
                    source: Box::new(e),
                },
            )
        })?;
        let raw = v.value.round();
        let (n, c) = (self.node, &mut self.client);
        let back = if name == "integration_window" {
            if !(0.0..=f64::from(u32::MAX)).contains(&raw) {
                return Err(out_of_range(name, v.value, "10 ms to 60 s"));
            }
            c.write_u32(n, WINDOW, 0, raw as u32)
                .and_then(|()| c.read_u32(n, WINDOW, 0).map(f64::from))
        } else {
            if !(0.0..=255.0).contains(&raw) {
                return Err(out_of_range(name, v.value, "0 or 1"));
            }
            c.write_u8(n, GAIN_MODE, 0, raw as u8)
                .and_then(|()| c.read_u8(n, GAIN_MODE, 0).map(f64::from))
        }
        .map_err(|e| map(n, e))?;
        quantity(back, unit)
    }

    fn act(&mut self, action: &str) -> Result<(), DriverError> {
        match action {
            "arm" => self.arm(),
            "acquire" => self.acquire(FrameKind::Exposed),
            "acquire_dark" => {
                self.arm()?;
                self.acquire(FrameKind::Dark)
            }
            "reset_series" => {
                self.session.reset();
                self.stored.clear();
                Ok(())
            }
            "idle" => {
                self.armed_from = None;
                self.client
                    .write_u16(self.node, CONTROLWORD, 0, 0)
                    .map_err(|e| self.err(e))
            }
            other => Err(DriverError::new(
                NAME,
                DriverErrorKind::Unsupported {
                    what: format!(
                        "action `{other}` (known: arm, acquire, acquire_dark, reset_series, idle)"
                    ),
                },
            )),
        }
    }

    fn read(&mut self, name: &str) -> Result<Quantity, DriverError> {
        let last = || {
            protocol(
                "an acquired frame (`arm`, an exposure, then `acquire`)",
                "no frame yet".into(),
            )
        };
        let value = match name {
            "mean_pixel_value" | "noise" | "snr" => {
                let figures = self.session.last().ok_or_else(last)?;
                let c = &figures.central;
                match name {
                    "mean_pixel_value" => c.mean,
                    "noise" => c.std_dev,
                    _ => c.snr.ok_or_else(|| {
                        protocol("a frame with noise", "a noiseless central ROI".into())
                    })?,
                }
            }
            "frame_number" => f64::from(self.last_frame.ok_or_else(last)?),
            "temperature" => {
                let tenths = self
                    .client
                    .read_u16(self.node, TEMPERATURE, 0)
                    .map_err(|e| self.err(e))?;
                f64::from(tenths) / 10.0
            }
            other => self.series_value(other)?,
        };
        quantity(value, unit_of(name))
    }

    fn await_event(&mut self, event: DeviceEvent, _timeout: Duration) -> Result<(), DriverError> {
        Err(DriverError::new(
            NAME,
            DriverErrorKind::Unsupported {
                what: format!("event {event:?}"),
            },
        ))
    }

    fn make_safe(&mut self) -> Result<(), DriverError> {
        // Disarm, then pre-operational; a detector emits nothing, but a node left armed
        // would integrate whatever comes next.
        self.armed_from = None;
        self.client
            .write_u16(self.node, CONTROLWORD, 0, 0)
            .map_err(|e| self.err(e))?;
        self.client
            .nmt(NmtCommand::EnterPreOperational, self.node)
            .map_err(|e| self.err(e))
    }

    fn conditions(&mut self) -> Result<Vec<Condition>, DriverError> {
        Ok(Vec::new())
    }

    /// Frames and artefacts stored (with their SHA-256), and EMCY messages.
    fn take_notes(&mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.notes);
        notes.extend(
            self.client
                .drain_emergencies()
                .iter()
                .map(|e| format!("EMCY {e}")),
        );
        notes
    }
}

fn out_of_range(name: &str, value: f64, range: &str) -> DriverError {
    DriverError::new(
        NAME,
        DriverErrorKind::OutOfRange {
            name: name.to_string(),
            value: value.to_string(),
            range: range.to_string(),
        },
    )
}
