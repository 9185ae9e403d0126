//! Helpers shared by the benchmarks: timing, figures printed with units, resident memory.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Runs `f` once and returns how long it took.
pub fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

/// Prints one figure: what, value, unit, and the target it is held against.
pub fn figure(what: &str, value: f64, unit: &str, target: &str) {
    println!("{what:<58} {value:>12.3} {unit:<8} (target {target})");
}

/// The resident set size of this process, in MiB, from /proc.
pub fn resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// The peak resident set size of this process, in MiB, from /proc.
pub fn peak_resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// CPU time this thread has run so far, from the scheduler's account
/// (`/proc/thread-self/schedstat`, nanoseconds). Unlike wall-clock time it does not count time
/// spent waiting for a busy core, so it stays meaningful on a loaded machine.
pub fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Runs `f` once and returns its result, its wall-clock time and this thread's CPU time.
pub fn time_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let cpu = thread_cpu();
    let (out, wall) = time(f);
    (out, wall, thread_cpu().saturating_sub(cpu))
}

/// The best (least) and the median of some measurements.
pub fn best_and_median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let best = values.first().copied().unwrap_or(f64::NAN);
    let median = values.get(values.len() / 2).copied().unwrap_or(f64::NAN);
    (best, median)
}

/// A global allocator that counts what passes through the system allocator: bytes live now,
/// the most bytes live at once since [`CountingAllocator::reset_peak`], and allocations made.
/// A benchmark installs it with `#[global_allocator]` to tell live heap from what the
/// allocator holds on to (resident memory minus live heap: free lists, arenas, fragments).
pub struct CountingAllocator {
    live: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
    count: std::sync::atomic::AtomicU64,
}

impl CountingAllocator {
    /// A counter with nothing allocated yet.
    pub const fn new() -> CountingAllocator {
        CountingAllocator {
            live: std::sync::atomic::AtomicUsize::new(0),
            peak: std::sync::atomic::AtomicUsize::new(0),
            count: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Bytes allocated and not yet freed, in MiB.
    pub fn live_mib(&self) -> f64 {
        self.live.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1048576.0
    }

    /// The most bytes live at once since the last reset, in MiB.
    pub fn peak_mib(&self) -> f64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1048576.0
    }

    /// Allocations (and reallocations) made so far.
    pub fn allocations(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a new peak from what is live now.
    pub fn reset_peak(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.peak.store(self.live.load(Relaxed), Relaxed);
    }

    fn grew(&self, bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let live = self.live.fetch_add(bytes, Relaxed) + bytes;
        self.peak.fetch_max(live, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    fn shrank(&self, bytes: usize) {
        self.live
            .fetch_sub(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

// SAFETY: every call is passed unchanged to the system allocator; only counters are added.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded as is.
        let p = unsafe { std::alloc::System.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded as is.
        let p = unsafe { std::alloc::System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract is forwarded as is.
        unsafe { std::alloc::System.dealloc(ptr, layout) };
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is forwarded as is.
        let p = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.shrank(layout.size());
            self.grew(new_size);
        }
        p
    }
}

/// A field of `/proc/<pid>/status` given in kB (`VmRSS`, `VmHWM`), in MiB.
pub fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
