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
