//! Palisade's resident memory during a run, sampled from `/proc`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

/// Memory figures in KiB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    /// Highest resident set seen while sampling during the run.
    pub(crate) peak_sampled_kib: u64,
    /// The kernel's high-water mark for the process's whole life (`VmHWM`).
    pub(crate) lifetime_peak_kib: u64,
}

/// Samples `VmRSS` every 50 ms on a thread until finished.
#[derive(Debug)]
pub(crate) struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: thread::JoinHandle<()>,
}

impl Sampler {
    pub(crate) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (stop_flag, peak_seen) = (stop.clone(), peak.clone());
        let thread = thread::spawn(move || {
            while !stop_flag.load(Ordering::Relaxed) {
                if let Some(rss) = status_field(pid, "VmRSS:") {
                    peak_seen.fetch_max(rss, Ordering::Relaxed);
                }
                thread::sleep(Duration::from_millis(50));
            }
        });
        Self { pid, stop, peak, thread }
    }

    pub(crate) fn finish(self) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        let _sampler_done = self.thread.join();
        Memory {
            peak_sampled_kib: self.peak.load(Ordering::Relaxed),
            lifetime_peak_kib: status_field(self.pid, "VmHWM:").unwrap_or(0),
        }
    }
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(name))?;
    line[name.len()..].split_whitespace().next()?.parse().ok()
}
