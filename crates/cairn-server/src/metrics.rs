//! The daemon's counters, gauges and histograms, rendered in the Prometheus text
//! exposition format for `GET /metrics`.
//!
//! Everything is a plain atomic so that the sequencer thread and the request
//! handlers update them without locks; only reject reasons, which are rare, sit
//! behind a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Bucket bounds of the group-commit size histograms (entries or requests).
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0,
];
/// Bucket bounds of the latency histograms, in seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, then the `+Inf` bucket; not cumulative.
    counts: Vec<AtomicU64>,
    sum_bits: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Record one value.
    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the values recorded.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum_bits.load(Ordering::Relaxed))
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = match self.bounds.get(i) {
                Some(b) => b.to_string(),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum());
        let _ = writeln!(out, "{name}_count {}", self.count());
    }
}

/// Everything `/metrics` reports, apart from what is read at render time.
#[derive(Debug)]
pub struct Metrics {
    /// Append requests answered with receipts.
    pub append_requests: AtomicU64,
    /// Decisions appended (new entries).
    pub appended_entries: AtomicU64,
    /// Decisions answered with an earlier receipt through their idempotency key.
    pub duplicate_entries: AtomicU64,
    /// Group commits: calls to the ledger's append, each one write and one fsync.
    pub commits: AtomicU64,
    /// Group commits that failed.
    pub commit_failures: AtomicU64,
    /// Decisions per group commit.
    pub commit_entries: Histogram,
    /// Requests per group commit.
    pub commit_requests: Histogram,
    /// Time of one group commit (write batch and fsync), in seconds.
    pub commit_seconds: Histogram,
    /// Time of the fsync of one group commit, in seconds.
    pub fsync_seconds: Histogram,
    /// Entries per request answered with receipts.
    pub request_entries: Histogram,
    /// Time from queueing a request to its receipts, in seconds.
    pub append_wait_seconds: Histogram,
    /// Requests waiting for the sequencer.
    pub queue_requests: AtomicU64,
    /// Checkpoints signed and stored.
    pub checkpoints: AtomicU64,
    /// Checkpoints that could not be signed, stored or published.
    pub checkpoint_failures: AtomicU64,
    /// Tree size of the newest checkpoint.
    pub checkpoint_size: AtomicU64,
    /// The indexer's watermark: entries below it are in the indexes.
    pub indexed_through: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// OTLP spans recorded as decisions.
    pub otlp_spans_recorded: AtomicU64,
    /// OTLP spans that are not model decisions.
    pub otlp_spans_ignored: AtomicU64,
    /// OTLP spans that are model decisions but were rejected (partial success).
    pub otlp_spans_rejected: AtomicU64,
    rejects: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            append_requests: AtomicU64::new(0),
            appended_entries: AtomicU64::new(0),
            duplicate_entries: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            commit_failures: AtomicU64::new(0),
            commit_entries: Histogram::new(SIZE_BUCKETS),
            commit_requests: Histogram::new(SIZE_BUCKETS),
            commit_seconds: Histogram::new(SECONDS_BUCKETS),
            fsync_seconds: Histogram::new(SECONDS_BUCKETS),
            request_entries: Histogram::new(SIZE_BUCKETS),
            append_wait_seconds: Histogram::new(SECONDS_BUCKETS),
            queue_requests: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoint_failures: AtomicU64::new(0),
            checkpoint_size: AtomicU64::new(0),
            indexed_through: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            otlp_spans_recorded: AtomicU64::new(0),
            otlp_spans_ignored: AtomicU64::new(0),
            otlp_spans_rejected: AtomicU64::new(0),
            rejects: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Values read from elsewhere when `/metrics` is rendered.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Entries in the ledger.
    pub ledger_size: u64,
    /// Append body bytes admitted now.
    pub admitted_bytes: u64,
    /// Whether appends are refused after a failed write.
    pub poisoned: bool,
    /// What the storage engine holds in memory, when it says.
    pub engine_memory: Option<cairn_store::EngineMemory>,
}

impl Metrics {
    /// Count one rejected request under `reason` (the error code it was answered with).
    pub fn reject(&self, reason: &'static str) {
        let mut map = self.rejects.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(reason).or_insert(0) += 1;
    }

    /// Requests rejected with `reason` so far.
    pub fn rejects(&self, reason: &str) -> u64 {
        let map = self.rejects.lock().unwrap_or_else(|p| p.into_inner());
        map.get(reason).copied().unwrap_or(0)
    }

    /// Record one group commit.
    pub fn observe_commit(&self, entries: usize, requests: usize, took: Duration, ok: bool) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.commit_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.commit_entries.observe(entries as f64);
        self.commit_requests.observe(requests as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self, snap: Snapshot) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counters = [
            (
                "cairn_append_requests_total",
                "Append requests answered with receipts.",
                load(&self.append_requests),
            ),
            (
                "cairn_appended_entries_total",
                "Decisions appended as new entries.",
                load(&self.appended_entries),
            ),
            (
                "cairn_duplicate_entries_total",
                "Decisions answered with an earlier receipt (idempotency key).",
                load(&self.duplicate_entries),
            ),
            (
                "cairn_commits_total",
                "Group commits: one write batch and one fsync each.",
                load(&self.commits),
            ),
            (
                "cairn_commit_failures_total",
                "Group commits that failed.",
                load(&self.commit_failures),
            ),
            (
                "cairn_checkpoints_total",
                "Checkpoints signed and stored.",
                load(&self.checkpoints),
            ),
            (
                "cairn_checkpoint_failures_total",
                "Checkpoints that could not be signed, stored or published.",
                load(&self.checkpoint_failures),
            ),
            (
                "cairn_connections_total",
                "Connections accepted.",
                load(&self.connections_total),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let gauges = [
            (
                "cairn_ledger_size",
                "Entries in the ledger.",
                snap.ledger_size,
            ),
            (
                "cairn_checkpoint_size",
                "Tree size of the newest checkpoint.",
                load(&self.checkpoint_size),
            ),
            (
                "cairn_index_watermark_entries",
                "Entries the background indexer has indexed (queries read the rest directly).",
                load(&self.indexed_through),
            ),
            (
                "cairn_index_lag_entries",
                "Committed entries not yet in the indexes.",
                snap.ledger_size.saturating_sub(load(&self.indexed_through)),
            ),
            (
                "cairn_queue_requests",
                "Append requests waiting for the sequencer.",
                load(&self.queue_requests),
            ),
            (
                "cairn_admitted_bytes",
                "Memory held by admitted append requests (being read, parsed, queued or written).",
                snap.admitted_bytes,
            ),
            (
                "cairn_connections_open",
                "Connections open.",
                load(&self.connections_open),
            ),
            (
                "cairn_poisoned",
                "1 when appends are refused after a failed write.",
                u64::from(snap.poisoned),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        if let Some(m) = snap.engine_memory {
            let _ = writeln!(
                out,
                "# HELP cairn_store_memory_bytes What the storage engine holds in memory, by part.\n\
                 # TYPE cairn_store_memory_bytes gauge\n\
                 cairn_store_memory_bytes{{part=\"memtables\"}} {}\n\
                 cairn_store_memory_bytes{{part=\"block_cache\"}} {}\n\
                 cairn_store_memory_bytes{{part=\"table_readers\"}} {}",
                m.memtables, m.block_cache, m.table_readers
            );
        }
        self.commit_entries.render(
            &mut out,
            "cairn_commit_entries",
            "Decisions per group commit.",
        );
        self.commit_requests.render(
            &mut out,
            "cairn_commit_requests",
            "Requests per group commit.",
        );
        self.commit_seconds.render(
            &mut out,
            "cairn_commit_seconds",
            "Time of one group commit (write and fsync).",
        );
        self.fsync_seconds.render(
            &mut out,
            "cairn_fsync_seconds",
            "Time of the fsync of one group commit (part of cairn_commit_seconds).",
        );
        self.request_entries.render(
            &mut out,
            "cairn_request_entries",
            "Entries per request answered with receipts (decisions; 1 for a replay record).",
        );
        self.append_wait_seconds.render(
            &mut out,
            "cairn_append_wait_seconds",
            "Time from queueing an append request to its receipts.",
        );
        let _ = writeln!(
            out,
            "# HELP cairn_otlp_spans_total OTLP spans received, by outcome: recorded (a decision), \
             ignored (not a model decision), rejected (a model decision that could not be recorded).\n\
             # TYPE cairn_otlp_spans_total counter"
        );
        for (outcome, n) in [
            ("recorded", &self.otlp_spans_recorded),
            ("ignored", &self.otlp_spans_ignored),
            ("rejected", &self.otlp_spans_rejected),
        ] {
            let _ = writeln!(
                out,
                "cairn_otlp_spans_total{{outcome=\"{outcome}\"}} {}",
                load(n)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cairn_rejects_total Requests rejected, by error code.\n# TYPE cairn_rejects_total counter"
        );
        let map = self.rejects.lock().unwrap_or_else(|p| p.into_inner());
        for (reason, n) in map.iter() {
            let _ = writeln!(out, "cairn_rejects_total{{reason=\"{reason}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_sum_and_count() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 3.0, 50.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"1\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum 54.5\n"), "{out}");
        assert!(out.contains("x_count 4\n"), "{out}");
    }

    #[test]
    fn render_reports_rejects_by_reason_and_snapshot_values() {
        let m = Metrics::default();
        m.reject("queue_full");
        m.reject("queue_full");
        m.reject("unauthorized");
        m.observe_commit(10, 3, Duration::from_millis(2), true);
        let out = m.render(Snapshot {
            ledger_size: 42,
            admitted_bytes: 7,
            poisoned: true,
            engine_memory: Some(cairn_store::EngineMemory {
                memtables: 3,
                block_cache: 4,
                table_readers: 5,
            }),
        });
        assert!(out.contains("cairn_rejects_total{reason=\"queue_full\"} 2\n"));
        assert!(out.contains("cairn_rejects_total{reason=\"unauthorized\"} 1\n"));
        assert!(out.contains("cairn_ledger_size 42\n"));
        assert!(out.contains("cairn_poisoned 1\n"));
        assert!(out.contains("cairn_store_memory_bytes{part=\"memtables\"} 3\n"));
        assert!(out.contains("cairn_store_memory_bytes{part=\"table_readers\"} 5\n"));
        assert!(out.contains("cairn_commits_total 1\n"));
        assert!(out.contains("cairn_commit_entries_sum 10\n"));
    }
}
