//! The simulated flat-panel detector: a CANopen node on the simulated bus (arm, integration
//! window, gain mode, state, temperature, frame counter) and an image channel that delivers
//! each frame over loopback TCP (the `image_frame` protocol) or drops it as a TIFF file into
//! a folder, as many vendor tools do.
//!
//! It shares the X-ray bench's physics: when an integration window ends, the air kerma of
//! every exposure the generator finished during the window, divided by the square of the
//! source–image distance, is what the frame integrated; with no exposure the frame is dark.
//! Frames come from the seeded image model (`sim::detector_image`), on a thread of their own
//! so that generating a full-field frame never delays the node's heartbeat or SDO answers.
//!
//! The object dictionary is documented in `docs/flat-panel-detector.md`. Faults: frames whose
//! payload is corrupted after the checksum was computed, frames cut short (the connection, or
//! the file, ends halfway through the pixels).

use super::node::{Access, ObjectDictionary, SdoServer, SdoTarget};
use super::xray_generator::Exposure;
use crate::can::canopen::sdo::SdoRequest;
use crate::can::canopen::{
    NmtCommand, NmtState, SDO_RX_BASE, SDO_TX_BASE, SdoAbort, heartbeat_frame,
};
use crate::can::memory::MemoryEndpoint;
use crate::can::{CanBus, CanFrame, CanId};
use crate::imaging::write_tiff;
use crate::protocol::image_frame;
use crate::sim::SimError;
use crate::sim::detector_image::{DetectorImageConfig, DetectorImageModel};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Controlword: 0 idle (ends an integration, resets a fault), 1 arm.
pub const CONTROLWORD: u16 = 0x2100;
/// Statusword: bit 0 integrating, bit 1 reading out, bit 2 last frame delivered, bit 7 fault.
pub const STATUSWORD: u16 = 0x2101;
/// Integration window, ms.
pub const WINDOW: u16 = 0x2102;
/// Gain mode: 0 standard, 1 high (twice the pixel value per quantum).
pub const GAIN_MODE: u16 = 0x2103;
/// Panel temperature, 0.1 °C.
pub const TEMPERATURE: u16 = 0x2104;
/// Frames read out since power-up (the frame number of the last frame).
pub const FRAME_COUNTER: u16 = 0x2105;
/// Frame geometry: sub 1 width, sub 2 height (pixels), sub 3 pixel pitch (µm).
pub const GEOMETRY: u16 = 0x2106;

/// Statusword bits.
pub const INTEGRATING: u16 = 0x01;
/// Reading out: the window ended, the frame is not delivered yet.
pub const READING_OUT: u16 = 0x02;
/// The last frame read out has been delivered on the image channel.
pub const DELIVERED: u16 = 0x04;

/// The longest a thread waits before checking its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// Frames kept for a host that is not connected yet (older ones are dropped).
const PENDING_FRAMES: usize = 4;

/// The simulated detector's configuration: `simulation: { can: { flat_panel_detector: ... } }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlatPanelSimConfig {
    /// Node id, 1 to 127 (10 unless stated).
    pub node_id: u8,
    /// Heartbeat period, ms (real time); 0 turns heartbeats off.
    pub heartbeat_ms: u16,
    /// Serial number (object 1018h sub 4).
    pub serial: u32,
    /// Source–image distance, m: the generator's kerma at 1 m is divided by its square.
    pub distance_m: f64,
    /// Integration window at power-up, ms (bench time).
    pub integration_window_ms: u32,
    /// Panel temperature, °C.
    pub temperature_c: f64,
    /// Pixel pitch, µm.
    pub pixel_pitch_um: u32,
    /// Drop frames as TIFF files into this folder instead of sending them over TCP.
    pub tiff_folder: Option<PathBuf>,
    /// Fault: these frame numbers are sent with a corrupted payload (TCP only: a TIFF file
    /// carries no checksum).
    pub corrupt_frames: Vec<u32>,
    /// Fault: these frame numbers are cut short halfway through the pixels (the connection
    /// closes, or the file ends).
    pub truncate_frames: Vec<u32>,
    /// The image model (size, offset, gain, noise, defects, non-linearity, lag).
    pub image: DetectorImageConfig,
}

impl Default for FlatPanelSimConfig {
    fn default() -> Self {
        FlatPanelSimConfig {
            node_id: 10,
            heartbeat_ms: 100,
            serial: 6_200_001,
            distance_m: 1.5,
            integration_window_ms: 300,
            temperature_c: 31.5,
            pixel_pitch_um: 139,
            tiff_folder: None,
            corrupt_frames: Vec::new(),
            truncate_frames: Vec::new(),
            image: DetectorImageConfig::default(),
        }
    }
}

impl FlatPanelSimConfig {
    /// Checks the values a model cannot check itself.
    pub(crate) fn validate(&self) -> Result<(), SimError> {
        let bad = |field: &'static str, reason: String| Err(SimError::BadConfig { field, reason });
        if !(1..=127).contains(&self.node_id) {
            return bad(
                "can.flat_panel_detector.node_id",
                format!("{} is not in 1 to 127", self.node_id),
            );
        }
        if !(self.distance_m.is_finite() && self.distance_m > 0.0) {
            return bad(
                "can.flat_panel_detector.distance_m",
                format!("{} is not positive", self.distance_m),
            );
        }
        if !(10..=60_000).contains(&self.integration_window_ms) {
            return bad(
                "can.flat_panel_detector.integration_window_ms",
                format!("{} is not in 10 to 60000", self.integration_window_ms),
            );
        }
        if !(self.temperature_c.is_finite() && (0.0..=100.0).contains(&self.temperature_c)) {
            return bad(
                "can.flat_panel_detector.temperature_c",
                format!("{} is not in 0 to 100", self.temperature_c),
            );
        }
        if !(1..=10_000).contains(&self.pixel_pitch_um) {
            return bad(
                "can.flat_panel_detector.pixel_pitch_um",
                format!("{} is not in 1 to 10000", self.pixel_pitch_um),
            );
        }
        Ok(())
    }
}

/// Where the simulated detector delivers its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageChannel {
    /// A loopback TCP address.
    Tcp(SocketAddr),
    /// A folder of TIFF files named `frame-NNNNNN.tiff`.
    Folder(PathBuf),
}

/// A frame to make: its number, the kerma it integrated, the gain mode.
struct Job {
    number: u32,
    kerma_ugy: f64,
    high_gain: bool,
}

/// A running simulated detector: its node thread and its image thread.
pub(crate) struct SimFlatPanel {
    pub(crate) channel: ImageChannel,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SimFlatPanel {
    /// Starts the node on `endpoint` and the image channel.
    pub(crate) fn start(
        config: &FlatPanelSimConfig,
        endpoint: MemoryEndpoint,
        exposures: Arc<Mutex<Vec<Exposure>>>,
        time_scale: f64,
    ) -> Result<SimFlatPanel, SimError> {
        config.validate()?;
        let standard = DetectorImageModel::new(config.image.clone())?;
        let mut high = config.image.clone();
        high.adu_per_quantum *= 2.0;
        let high = DetectorImageModel::new(high)?;
        let thread_error = |source| SimError::Thread {
            device: "flat_panel_detector",
            source,
        };
        let (output, image_channel) = match &config.tiff_folder {
            Some(folder) => {
                std::fs::create_dir_all(folder).map_err(thread_error)?;
                (
                    Output::Folder(folder.clone()),
                    ImageChannel::Folder(folder.clone()),
                )
            }
            None => {
                let listener = TcpListener::bind("127.0.0.1:0").map_err(thread_error)?;
                listener.set_nonblocking(true).map_err(thread_error)?;
                let address = listener.local_addr().map_err(thread_error)?;
                (
                    Output::Tcp {
                        listener,
                        client: None,
                        pending: VecDeque::new(),
                    },
                    ImageChannel::Tcp(address),
                )
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(AtomicU32::new(0));
        let (jobs, receiver) = channel();
        let images = Images {
            models: [standard, high],
            output,
            corrupt: config.corrupt_frames.clone(),
            truncate: config.truncate_frames.clone(),
            delivered: Arc::clone(&delivered),
        };
        let flag = Arc::clone(&stop);
        let image_thread = std::thread::Builder::new()
            .name("sim-detector-images".into())
            .spawn(move || images.run(&receiver, &flag))
            .map_err(thread_error)?;
        let node = Node::new(config, exposures, time_scale, jobs, delivered);
        let flag = Arc::clone(&stop);
        let node_thread = std::thread::Builder::new()
            .name("sim-detector-node".into())
            .spawn(move || node.run(endpoint, &flag))
            .map_err(thread_error)?;
        Ok(SimFlatPanel {
            channel: image_channel,
            stop,
            threads: vec![node_thread, image_thread],
        })
    }
}

impl Drop for SimFlatPanel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn dictionary(config: &FlatPanelSimConfig) -> ObjectDictionary {
    let mut od = ObjectDictionary::with_identity(
        "qbench simulated flat-panel detector",
        0x0000_0F9D,
        config.heartbeat_ms,
        config.serial,
    );
    od.number(CONTROLWORD, 0, Access::Rw, 2, 0, Some((0, 1)));
    od.number(STATUSWORD, 0, Access::Ro, 2, 0, None);
    od.number(
        WINDOW,
        0,
        Access::Rw,
        4,
        u64::from(config.integration_window_ms),
        Some((10, 60_000)),
    );
    od.number(GAIN_MODE, 0, Access::Rw, 1, 0, Some((0, 1)));
    let tenths = (config.temperature_c * 10.0).round().max(0.0) as u64;
    od.number(TEMPERATURE, 0, Access::Ro, 2, tenths, None);
    od.number(FRAME_COUNTER, 0, Access::Ro, 4, 0, None);
    od.number(GEOMETRY, 1, Access::Ro, 2, config.image.width as u64, None);
    od.number(GEOMETRY, 2, Access::Ro, 2, config.image.height as u64, None);
    od.number(
        GEOMETRY,
        3,
        Access::Ro,
        2,
        u64::from(config.pixel_pitch_um),
        None,
    );
    od
}

/// The CANopen side: state, object dictionary, integration windows.
struct Node {
    config: FlatPanelSimConfig,
    od: ObjectDictionary,
    state: NmtState,
    time_scale: f64,
    exposures: Arc<Mutex<Vec<Exposure>>>,
    /// While integrating: when the window ends, and how many exposures existed at arming.
    window: Option<(Instant, usize)>,
    jobs: Sender<Job>,
    delivered: Arc<AtomicU32>,
    out: Vec<CanFrame>,
}

impl Node {
    fn new(
        config: &FlatPanelSimConfig,
        exposures: Arc<Mutex<Vec<Exposure>>>,
        time_scale: f64,
        jobs: Sender<Job>,
        delivered: Arc<AtomicU32>,
    ) -> Node {
        Node {
            od: dictionary(config),
            config: config.clone(),
            state: NmtState::BootUp,
            time_scale,
            exposures,
            window: None,
            jobs,
            delivered,
            out: Vec::new(),
        }
    }

    fn node(&self) -> u8 {
        self.config.node_id
    }

    fn exposure_count(&self) -> usize {
        self.exposures.lock().map_or(0, |e| e.len())
    }

    /// The air kerma at the detector of the exposures finished since exposure `since`.
    fn kerma_since(&self, since: usize) -> f64 {
        let d2 = self.config.distance_m * self.config.distance_m;
        self.exposures.lock().map_or(0.0, |e| {
            e.iter()
                .skip(since)
                .map(|x| x.air_kerma_ugy_at_1m / d2)
                .sum()
        })
    }

    fn status(&self) -> u16 {
        let counter = self.od.get(FRAME_COUNTER, 0) as u32;
        let mut s = 0;
        if self.window.is_some() {
            s |= INTEGRATING;
        }
        if counter > 0 {
            if self.delivered.load(Ordering::Acquire) >= counter {
                s |= DELIVERED;
            } else {
                s |= READING_OUT;
            }
        }
        s
    }

    fn end_window(&mut self) {
        let Some((_, since)) = self.window.take() else {
            return;
        };
        let number = self.od.get(FRAME_COUNTER, 0) as u32 + 1;
        self.od.set(FRAME_COUNTER, 0, u64::from(number));
        let job = Job {
            number,
            kerma_ugy: self.kerma_since(since),
            high_gain: self.od.get(GAIN_MODE, 0) == 1,
        };
        // The image thread only goes away when the bench stops.
        let _ = self.jobs.send(job);
    }

    fn controlword(&mut self, word: u64) -> Result<(), SdoAbort> {
        match word {
            0 => {
                self.window = None;
                Ok(())
            }
            _ => {
                if self.state != NmtState::Operational || self.window.is_some() {
                    return Err(SdoAbort::DEVICE_STATE);
                }
                let window_ms = self.od.get(WINDOW, 0) as f64;
                let real = Duration::from_secs_f64(window_ms / 1000.0 / self.time_scale);
                self.window = Some((Instant::now() + real, self.exposure_count()));
                Ok(())
            }
        }
    }

    fn handle(&mut self, frame: &CanFrame, server: &mut SdoServer) {
        if let Some((command, target)) = NmtCommand::parse(frame) {
            if target == 0 || target == self.node() {
                match command {
                    NmtCommand::Start => self.state = NmtState::Operational,
                    NmtCommand::Stop => self.state = NmtState::Stopped,
                    NmtCommand::EnterPreOperational => self.state = NmtState::PreOperational,
                    NmtCommand::ResetNode | NmtCommand::ResetCommunication => {
                        *server = SdoServer::new();
                        self.window = None;
                        self.state = NmtState::PreOperational;
                        self.out
                            .push(heartbeat_frame(self.node(), NmtState::BootUp));
                    }
                }
                if self.state != NmtState::Operational {
                    self.window = None;
                }
            }
            return;
        }
        let sdo = CanId::Standard(SDO_RX_BASE + u16::from(self.node()));
        if frame.id() != sdo || self.state == NmtState::Stopped {
            return;
        }
        let Ok(request) = SdoRequest::decode(frame.data_bytes()) else {
            return;
        };
        if let Some(response) = server.handle(request, self) {
            let id = CanId::Standard(SDO_TX_BASE + u16::from(self.node()));
            self.out.push(CanFrame::raw_classic(id, &response.encode()));
        }
    }

    fn run(mut self, mut endpoint: MemoryEndpoint, stop: &AtomicBool) {
        let mut server = SdoServer::new();
        endpoint.post(&heartbeat_frame(self.node(), NmtState::BootUp));
        self.state = NmtState::PreOperational;
        let mut next_heartbeat = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            for frame in self.out.drain(..) {
                endpoint.post(&frame);
            }
            let now = Instant::now();
            let period = Duration::from_millis(self.od.get(0x1017, 0));
            if !period.is_zero() && now >= next_heartbeat {
                endpoint.post(&heartbeat_frame(self.node(), self.state));
                next_heartbeat = now + period;
            }
            if self.window.is_some_and(|(end, _)| now >= end) {
                self.end_window();
                continue;
            }
            let mut wait = POLL;
            if !period.is_zero() {
                wait = wait.min(next_heartbeat.saturating_duration_since(now));
            }
            if let Some((end, _)) = self.window {
                wait = wait.min(end.saturating_duration_since(now));
            }
            if let Ok(frame) = endpoint.receive(wait) {
                self.handle(&frame, &mut server);
            }
        }
    }
}

impl SdoTarget for Node {
    fn sdo_read(&mut self, index: u16, sub: u8) -> Result<Vec<u8>, SdoAbort> {
        if index == STATUSWORD && sub == 0 {
            return Ok(self.status().to_le_bytes().to_vec());
        }
        self.od.read(index, sub)
    }

    fn sdo_write(&mut self, index: u16, sub: u8, data: &[u8]) -> Result<(), SdoAbort> {
        if index == WINDOW && self.window.is_some() {
            // The window cannot change while it runs.
            return Err(SdoAbort::DEVICE_STATE);
        }
        self.od.write(index, sub, data)?;
        if (index, sub) == (CONTROLWORD, 0) {
            let word = self.od.get(CONTROLWORD, 0);
            return self.controlword(word);
        }
        Ok(())
    }
}

/// Where frames go.
enum Output {
    Tcp {
        listener: TcpListener,
        client: Option<TcpStream>,
        pending: VecDeque<Vec<u8>>,
    },
    Folder(PathBuf),
}

/// The image side: the models (standard and high gain) and the output.
struct Images {
    models: [DetectorImageModel; 2],
    output: Output,
    corrupt: Vec<u32>,
    truncate: Vec<u32>,
    delivered: Arc<AtomicU32>,
}

/// The file name of frame `number` in a TIFF folder.
pub fn tiff_name(number: u32) -> String {
    format!("frame-{number:06}.tiff")
}

impl Images {
    fn run(mut self, jobs: &Receiver<Job>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            self.accept();
            match jobs.recv_timeout(POLL) {
                Ok(job) => self.make(&job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.flush();
        }
    }

    fn accept(&mut self) {
        if let Output::Tcp {
            listener, client, ..
        } = &mut self.output
            && let Ok((stream, _)) = listener.accept()
            && stream.set_nonblocking(false).is_ok()
            && stream
                .set_write_timeout(Some(Duration::from_secs(5)))
                .is_ok()
        {
            let _ = stream.set_nodelay(true);
            // A new connection replaces the old one, as a vendor's image server does.
            *client = Some(stream);
        }
    }

    fn make(&mut self, job: &Job) {
        let model = &mut self.models[usize::from(job.high_gain)];
        let frame = model.acquire(job.kerma_ugy);
        let truncate = self.truncate.contains(&job.number);
        match &mut self.output {
            Output::Folder(folder) => {
                // Written under a temporary name then renamed, so a reader never sees half
                // a file, unless the fault asks for exactly that.
                let name = folder.join(tiff_name(job.number));
                let part = folder.join(format!("{}.part", tiff_name(job.number)));
                if write_tiff(&part, &frame).is_ok() {
                    if truncate {
                        truncate_file(&part);
                    }
                    let _ = std::fs::rename(&part, &name);
                }
            }
            Output::Tcp { pending, .. } => {
                let mut bytes = image_frame::encode(job.number, &frame);
                if self.corrupt.contains(&job.number) {
                    let middle =
                        image_frame::HEADER_LEN + (bytes.len() - image_frame::HEADER_LEN) / 2;
                    bytes[middle] ^= 0xA5;
                }
                if truncate {
                    let keep =
                        image_frame::HEADER_LEN + (bytes.len() - image_frame::HEADER_LEN) / 2;
                    bytes.truncate(keep);
                }
                if pending.len() == PENDING_FRAMES {
                    pending.pop_front();
                }
                pending.push_back(bytes);
                if truncate {
                    self.flush();
                    // The rest of the frame never comes: the connection closes.
                    if let Output::Tcp { client, .. } = &mut self.output {
                        *client = None;
                    }
                }
            }
        }
        self.delivered.store(job.number, Ordering::Release);
    }

    fn flush(&mut self) {
        if let Output::Tcp {
            client: Some(stream),
            pending,
            ..
        } = &mut self.output
        {
            while let Some(bytes) = pending.pop_front() {
                if stream
                    .write_all(&bytes)
                    .and_then(|()| stream.flush())
                    .is_err()
                {
                    // The host went away; the frame is lost with the connection.
                    if let Output::Tcp { client, .. } = &mut self.output {
                        *client = None;
                    }
                    return;
                }
            }
        }
    }
}

fn truncate_file(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && let Ok(file) = std::fs::OpenOptions::new().write(true).open(path)
    {
        let _ = file.set_len(meta.len() / 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::can::canopen::CanOpenClient;
    use crate::can::memory::MemoryBus;
    use crate::imaging::Frame;
    use std::io::Read;

    fn small() -> FlatPanelSimConfig {
        FlatPanelSimConfig {
            integration_window_ms: 50,
            image: DetectorImageConfig {
                width: 64,
                height: 48,
                ..DetectorImageConfig::default()
            },
            ..FlatPanelSimConfig::default()
        }
    }

    fn frame_of(bytes: &[u8]) -> Frame<u16> {
        image_frame::decode(bytes).map(|(_, f)| f).unwrap()
    }

    fn read_message(stream: &mut TcpStream) -> Vec<u8> {
        let mut head = [0u8; image_frame::HEADER_LEN];
        stream.read_exact(&mut head).unwrap();
        let h = image_frame::decode_header(&head).unwrap();
        let mut all = head.to_vec();
        let mut payload = vec![0u8; h.length as usize];
        stream.read_exact(&mut payload).unwrap();
        all.extend_from_slice(&payload);
        all
    }

    #[test]
    fn a_window_with_an_exposure_gives_a_frame_of_its_kerma_and_one_without_a_dark_frame() {
        let bus = MemoryBus::new("test bus");
        let exposures = Arc::new(Mutex::new(Vec::new()));
        let panel =
            SimFlatPanel::start(&small(), bus.endpoint(), Arc::clone(&exposures), 1.0).unwrap();
        let ImageChannel::Tcp(address) = panel.channel.clone() else {
            panic!("tcp expected");
        };
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut c = CanOpenClient::new(Box::new(bus.endpoint()), Duration::from_millis(300));
        c.nmt(NmtCommand::Start, 10).unwrap();
        c.wait_for_state(10, NmtState::Operational, Duration::from_millis(500))
            .unwrap();
        assert_eq!(c.read_u16(10, GEOMETRY, 1).unwrap(), 64);
        // Dark: armed with no exposure.
        c.write_u16(10, CONTROLWORD, 0, 1).unwrap();
        assert_eq!(c.read_u16(10, STATUSWORD, 0).unwrap() & INTEGRATING, 1);
        let dark = frame_of(&read_message(&mut stream));
        assert_eq!(c.read_u32(10, FRAME_COUNTER, 0).unwrap(), 1);
        // Exposed: 22.5 µGy at 1 m is 10 µGy at 1.5 m, 10 000 above the offset.
        c.write_u16(10, CONTROLWORD, 0, 1).unwrap();
        exposures.lock().unwrap().push(Exposure {
            counter: 1,
            set_kv: 70.0,
            set_ma: 100.0,
            set_time_ms: 10.0,
            kv: 70.0,
            ma: 100.0,
            time_ms: 10.0,
            mas: 1.0,
            air_kerma_ugy_at_1m: 22.5,
            label: String::new(),
        });
        let bright = frame_of(&read_message(&mut stream));
        let mean = |f: &Frame<u16>| {
            f.pixels().iter().map(|&p| f64::from(p)).sum::<f64>() / f.pixels().len() as f64
        };
        assert!((mean(&dark) - 1000.0).abs() < 10.0, "{}", mean(&dark));
        assert!((mean(&bright) - mean(&dark) - 10_000.0).abs() < 300.0);
        let deadline = Instant::now() + Duration::from_secs(2);
        while c.read_u16(10, STATUSWORD, 0).unwrap() & DELIVERED == 0 {
            assert!(Instant::now() < deadline);
        }
        // Arming twice is refused; the window cannot change while it runs.
        c.write_u16(10, CONTROLWORD, 0, 1).unwrap();
        assert!(c.write_u16(10, CONTROLWORD, 0, 1).is_err());
        assert!(c.write_u32(10, WINDOW, 0, 100).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let bus = MemoryBus::new("test bus");
        let mut c = small();
        c.distance_m = 0.0;
        let e = SimFlatPanel::start(&c, bus.endpoint(), Arc::default(), 1.0).err();
        assert!(e.is_some_and(|e| e.to_string().contains("distance_m")));
    }
}
