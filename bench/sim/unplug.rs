//! Stable paths for the simulated devices' pseudo-terminals, so that a device can be unplugged
//! and plugged back in (the `disconnect` fault) and reappear where its driver found it.
//!
//! A pseudo-terminal's slave gets whatever `/dev/pts/N` the kernel hands out, and a new pair
//! gets a new N. A USB serial adapter, by contrast, comes back under the name a udev rule
//! gives it (`/dev/serial/by-id/...`). The bench therefore serves each device through a
//! symbolic link in a directory of its own (`<temp>/qbench-sim-<pid>-<n>/<device>`), and
//! that link is what [`super::SimBench::port`] returns. Unplugging removes the link first and
//! then closes both ends of the pair (the driver's open descriptor sees a hang-up); plugging
//! back creates a new pair and a new link at the same path. While the device is away, opening
//! the path fails, as opening an unplugged adapter's node does.
//!
//! The directory is removed when the bench is dropped. A process killed outright leaves it
//! behind; the next bench removes those of processes that no longer exist.

use super::SimError;
use serialport::{SerialPort, TTYPort};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a device thread waits for input before checking its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// The prefix of every bench's port directory.
const DIR_PREFIX: &str = "qbench-sim-";

/// Distinguishes the port directories of several benches in one process.
static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// The directory holding one bench's stable device paths; removed on drop.
pub(crate) struct PortDir {
    path: PathBuf,
}

impl PortDir {
    /// Creates a fresh directory under the system's temporary directory, after removing
    /// those left behind by benches whose process is gone.
    pub(crate) fn create() -> Result<PortDir, SimError> {
        let base = std::env::temp_dir();
        remove_orphans(&base);
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
        // A directory left by an earlier process with the same pid is stale.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|source| SimError::PortPath {
            path: path.clone(),
            source,
        })?;
        Ok(PortDir { path })
    }

    /// The stable path of `device`.
    pub(crate) fn port(&self, device: &str) -> PathBuf {
        self.path.join(device)
    }
}

impl Drop for PortDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes port directories whose process no longer runs (killed outright, so never
/// dropped). Only names of the form `qbench-sim-<pid>-<n>` are touched.
fn remove_orphans(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A plugged-in device: its pseudo-terminal pair, reachable through its stable path.
pub(crate) struct Plug {
    /// The side the simulated device reads and writes.
    pub(crate) master: TTYPort,
    /// Held so the master never polls as hung up between two driver sessions (see
    /// `serve.rs`); closing it with the master is what a driver sees as a disconnection.
    _slave: TTYPort,
}

impl Plug {
    /// Creates a pseudo-terminal pair for `device` and points `link` at its slave.
    pub(crate) fn connect(device: &'static str, link: &Path) -> Result<Plug, SimError> {
        let pty = |source| SimError::Pty { device, source };
        let (mut master, slave) = TTYPort::pair().map_err(pty)?;
        let target = slave.name().map(PathBuf::from).ok_or_else(|| {
            pty(serialport::Error::new(
                serialport::ErrorKind::Unknown,
                "the pty slave has no path",
            ))
        })?;
        master.set_timeout(POLL).map_err(pty)?;
        // Replaced in one rename, so a driver never finds the path half made.
        let fresh = link.with_extension("new");
        let _ = std::fs::remove_file(&fresh);
        let made = std::os::unix::fs::symlink(&target, &fresh)
            .and_then(|()| std::fs::rename(&fresh, link));
        made.map_err(|source| SimError::PortPath {
            path: link.to_path_buf(),
            source,
        })?;
        Ok(Plug {
            master,
            _slave: slave,
        })
    }

    /// Unplugs the device: its path disappears, then both ends of the pair close.
    pub(crate) fn unplug(self, link: &Path) {
        let _ = std::fs::remove_file(link);
        drop(self);
    }
}

/// Waits while the device is unplugged: `away`, or until stopped when it never comes back.
/// Returns whether to plug it back in (false: the bench is stopping).
pub(crate) fn stay_away(stop: &AtomicBool, away: Option<Duration>) -> bool {
    let end = away.map(|d| Instant::now() + d);
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let left = match end {
            Some(end) => end.saturating_duration_since(Instant::now()),
            None => POLL,
        };
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(POLL.min(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_unplugged_and_plugged_back_reappears_at_the_same_path() {
        let dir = PortDir::create().expect("port directory");
        let link = dir.port("meter");
        let first = Plug::connect("meter", &link).expect("plugged in");
        assert!(std::fs::read_link(&link).is_ok_and(|t| t.starts_with("/dev")));
        first.unplug(&link);
        assert!(!link.exists(), "an unplugged device has no path");
        let second = Plug::connect("meter", &link).expect("plugged back");
        assert!(link.exists());
        assert!(std::fs::read_link(&link).is_ok());
        drop(second);
        let root = dir.path.clone();
        drop(dir);
        assert!(!root.exists(), "the directory goes with the bench");
    }

    #[test]
    fn staying_away_ends_with_the_interval_or_the_stop_flag() {
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        assert!(stay_away(&stop, Some(Duration::from_millis(30))));
        assert!(start.elapsed() >= Duration::from_millis(30));
        stop.store(true, Ordering::Relaxed);
        assert!(!stay_away(&stop, None), "a device that never comes back");
    }
}
