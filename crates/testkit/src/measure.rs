//! Figures for the benchmarks and load runs: this process's memory (or another's, such as
//! moto's), and percentiles of timings.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The resident set now and its peak since the last [`Memory::reset_peak`], in KiB
/// (`VmRSS` and `VmHWM` of `/proc/self/status`; zero where there is none).
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_kib: u64,
}

impl Memory {
    pub fn now() -> Self {
        Self::read("/proc/self/status")
    }

    /// The same figures for another process (zero once it is gone).
    pub fn of(pid: u32) -> Self {
        Self::read(&format!("/proc/{pid}/status"))
    }

    fn read(path: &str) -> Self {
        let status = std::fs::read_to_string(path).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Self {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }

    /// Linux: writing 5 to `clear_refs` resets the peak (VmHWM) to the current RSS.
    pub fn reset_peak() {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RSS {:>6.1} MiB, peak {:>6.1} MiB",
            self.rss_kib as f64 / 1024.0,
            self.peak_kib as f64 / 1024.0
        )
    }
}

/// `p50 / p99 / max` of a sample, in milliseconds (the sample is sorted).
pub fn percentiles(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "no runs".to_owned();
    }
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:>8.1} ms   p99 {:>8.1} ms   max {:>8.1} ms   ({} runs)",
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

/// Timings by step name.
pub type StepTimes = BTreeMap<&'static str, Vec<Duration>>;

/// Records the time since `started` under `step`.
pub fn record(times: &mut StepTimes, step: &'static str, started: Instant) {
    times.entry(step).or_default().push(started.elapsed());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        samples.reverse();
        let text = percentiles(&mut samples);
        assert!(text.contains("p50     50.0 ms"), "{text}");
        assert!(text.contains("p99     99.0 ms"), "{text}");
        assert!(text.contains("(100 runs)"), "{text}");
        assert_eq!(percentiles(&mut []), "no runs");
    }
}
