//! A fresh working directory holding copies of the shipped procedures and fixtures, and a
//! builder that runs the real `qbench` binary in it with a time limit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary directory with `procedures/` and `fixtures/` copied from the repository.
pub struct Dir {
    temp: tempfile::TempDir,
}

impl Dir {
    /// A new directory with the shipped procedures and fixtures.
    pub fn new() -> Dir {
        let temp = tempfile::tempdir().expect("temporary directory");
        for folder in ["procedures", "fixtures"] {
            copy_tree(&repo().join(folder), &temp.path().join(folder));
        }
        Dir { temp }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Writes `text` to `name` inside the directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&path, text).expect("write file");
        path
    }

    /// Reads a file inside the directory.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    /// A `qbench` command run in this directory.
    pub fn qbench(&self, args: &[&str]) -> Output {
        run_qbench(self.path(), args, Duration::from_secs(60))
    }

    /// `qbench run PROCEDURE --fixture FIXTURE --yes --json --out run`: an unattended run
    /// into `run/`, as most end-to-end tests make one.
    pub fn run_unattended(&self, procedure: &str, fixture: &str) -> Output {
        self.qbench(&[
            "run",
            procedure,
            "--fixture",
            fixture,
            "--yes",
            "--json",
            "--out",
            "run",
        ])
    }

    /// The record of the run in `run/`.
    pub fn record(&self) -> qbench::record::Record {
        qbench::record::read_record(&self.path().join("run/record.json")).expect("record")
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Output {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// The JSON object on the last line of standard output.
    pub fn json(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs the real binary in `dir`, killing it if it outlives `limit` (a hang is a failure).
pub fn run_qbench(dir: &Path, args: &[&str], limit: Duration) -> Output {
    // Output goes to files, not pipes: a chatty run must never block on a full pipe.
    let out_path = dir.join(".qbench-stdout");
    let err_path = dir.join(".qbench-stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qbench"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn qbench");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "qbench {args:?} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// A `qbench` process started in the background, its output going to files in `dir`.
pub struct Background {
    /// The process.
    pub child: std::process::Child,
    out_path: PathBuf,
    err_path: PathBuf,
}

/// A process still running when its test ends (or fails) is killed: a failed assertion
/// never leaves a `qbench sim` serving behind.
impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Dir {
    /// Starts `qbench` in this directory without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let out_path = self.path().join(".bg-stdout");
        let err_path = self.path().join(".bg-stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_qbench"))
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("spawn qbench");
        Background {
            child,
            out_path,
            err_path,
        }
    }

    /// Waits (at most `limit`) until `file` holds at least `lines` lines.
    pub fn wait_for_lines(&self, file: &str, lines: usize, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            let n = std::fs::read_to_string(self.path().join(file))
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if n >= lines {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Background {
    /// For `qbench sim`: waits (at most 10 s) for the port list and returns the path it
    /// printed for `device`.
    pub fn served_port(&self, device: &str) -> String {
        let started = Instant::now();
        loop {
            let out = std::fs::read_to_string(&self.out_path).unwrap_or_default();
            if let Some(port) = out
                .lines()
                .find(|l| l.trim_start().starts_with(device))
                .and_then(|l| l.split_whitespace().nth(1))
            {
                return port.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "qbench sim printed no port for {device}: {out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (a `kill` name such as `INT`, `TERM`, `KILL`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits at most `limit` for the process to end and returns its output.
    pub fn finish(mut self, limit: Duration) -> Output {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "qbench did not finish within {limit:?}\nstdout:\n{}",
                    std::fs::read_to_string(&self.out_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&self.out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err_path).unwrap_or_default(),
        }
    }
}

/// The resident memory of process `pid`, in KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
