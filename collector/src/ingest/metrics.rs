//! The figures of ingest and their Prometheus text exposition: every submission's outcome (they
//! add up to the submissions received), the group commit's flush latency and batch size, and the
//! size of the store. Served at `GET /metrics` (admin token).

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

/// A fixed-bucket histogram that can be updated from any thread without a lock.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One counter per bound, plus one for `+Inf`; not cumulative (rendering adds them up).
    buckets: Vec<AtomicU64>,
    /// The sum of observations, in millionths of the unit.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(bound) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

/// Flush latency buckets, in seconds.
pub const FLUSH_SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Writes covered by one flush.
pub const FLUSH_WRITES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Figures about flushes, for metrics and benchmarks.
#[derive(Debug)]
pub struct FlushStats {
    pub flushes: AtomicU64,
    pub writes_covered: AtomicU64,
    pub micros_total: AtomicU64,
    pub failures: AtomicU64,
    /// The newest flush failed or is overdue: new writes are refused until a flush succeeds.
    pub failing: AtomicBool,
    pub latency: Histogram,
    pub batch: Histogram,
}

impl Default for FlushStats {
    fn default() -> Self {
        Self {
            flushes: AtomicU64::new(0),
            writes_covered: AtomicU64::new(0),
            micros_total: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            latency: Histogram::new(FLUSH_SECONDS),
            batch: Histogram::new(FLUSH_WRITES),
        }
    }
}

/// The outcome codes that mean "accepted"; every other code is a rejection reason.
const ACCEPTED: [&str; 2] = ["stored", "duplicate"];

/// Renders everything `/metrics` shows.
pub fn render(
    outcomes: &std::collections::BTreeMap<&'static str, u64>,
    flush: &FlushStats,
    store_bytes: u64,
) -> String {
    let mut out = String::with_capacity(4096);
    let received: u64 = outcomes.values().sum();
    let _ = writeln!(
        out,
        "# HELP touchpoint_submissions_received_total Submissions received (one per item of a batch).\n\
         # TYPE touchpoint_submissions_received_total counter\n\
         touchpoint_submissions_received_total {received}\n\
         # HELP touchpoint_submissions_total Submissions by outcome: stored, duplicate (a retry, nothing new stored) or rejected with a reason.\n\
         # TYPE touchpoint_submissions_total counter"
    );
    for outcome in ACCEPTED {
        let n = outcomes.get(outcome).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "touchpoint_submissions_total{{outcome=\"{outcome}\"}} {n}"
        );
    }
    for (reason, n) in outcomes.iter().filter(|(code, _)| !ACCEPTED.contains(code)) {
        let _ = writeln!(
            out,
            "touchpoint_submissions_total{{outcome=\"rejected\",reason=\"{reason}\"}} {n}"
        );
    }
    flush.latency.render(
        &mut out,
        "touchpoint_flush_seconds",
        "Time of one group-commit flush.",
    );
    flush.batch.render(
        &mut out,
        "touchpoint_flush_writes",
        "Writes made durable by one flush.",
    );
    let failures = flush.failures.load(Ordering::Relaxed);
    let writable = u8::from(!flush.failing.load(Ordering::Relaxed));
    let _ = writeln!(
        out,
        "# HELP touchpoint_flush_failures_total Flushes that failed (their writes were answered 503).\n\
         # TYPE touchpoint_flush_failures_total counter\n\
         touchpoint_flush_failures_total {failures}\n\
         # HELP touchpoint_store_writable 1 while answers can be stored, 0 while storage is failing (answers are refused with 503).\n\
         # TYPE touchpoint_store_writable gauge\n\
         touchpoint_store_writable {writable}\n\
         # HELP touchpoint_store_bytes Bytes the store occupies on disk.\n\
         # TYPE touchpoint_store_bytes gauge\n\
         touchpoint_store_bytes {store_bytes}\n\
         # HELP touchpoint_memory_releases_total Times the memory a large read (an export, a stats rebuild, the business view read in) freed was given back to the system.\n\
         # TYPE touchpoint_memory_releases_total counter\n\
         touchpoint_memory_releases_total {releases}",
        releases = crate::allocator::releases()
    );
    out
}

/// The comment themes' phrase table, where the store keeps theme cells: `(phrases, bytes)`.
pub fn render_phrases(table: Option<(usize, usize)>) -> String {
    let Some((phrases, bytes)) = table else {
        return String::new();
    };
    format!(
        "# HELP touchpoint_theme_phrases Phrases the comment themes have seen, each kept once (the table only grows).\n\
         # TYPE touchpoint_theme_phrases gauge\n\
         touchpoint_theme_phrases {phrases}\n\
         # HELP touchpoint_theme_phrase_bytes Memory the phrase table takes, about.\n\
         # TYPE touchpoint_theme_phrase_bytes gauge\n\
         touchpoint_theme_phrase_bytes {bytes}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.5, 1.5, 3.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum 6.5\nx_count 4\n"), "{out}");
    }
}
