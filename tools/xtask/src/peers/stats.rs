//! What is measured per system: durable ingest with ack latency, bytes on
//! disk, verification of the whole chain, and one read. MB are 10^6 bytes.

use std::time::Duration;

use serde::Serialize;

/// Durable ingest: every batch acknowledged only once it is on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Ingest {
    /// Decisions acknowledged.
    pub decisions: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// From the first batch sent to the last acknowledgement.
    pub seconds: f64,
    /// Decisions acknowledged per second.
    pub decisions_per_s: f64,
    /// MB of NDJSON acknowledged per second.
    pub mb_per_s: f64,
    /// Median time from sending a batch to its acknowledgement, ms.
    pub ack_p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub ack_p99_ms: f64,
    /// Slowest acknowledgement, ms.
    pub ack_max_ms: f64,
}

impl Ingest {
    /// Summarise a run from each batch's ack latency.
    pub fn new(
        latencies: &mut [Duration],
        decisions: u64,
        bytes: u64,
        elapsed: Duration,
    ) -> Ingest {
        latencies.sort_unstable();
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Ingest {
            decisions,
            batches: latencies.len() as u64,
            seconds,
            decisions_per_s: decisions as f64 / seconds,
            mb_per_s: bytes as f64 / 1e6 / seconds,
            ack_p50_ms: ms(percentile(latencies, 0.50)),
            ack_p99_ms: ms(percentile(latencies, 0.99)),
            ack_max_ms: ms(latencies.last().copied().unwrap_or_default()),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Nearest-rank percentile of sorted values (zero for none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Bytes on disk once the data is settled.
#[derive(Debug, Clone, Serialize)]
pub struct Disk {
    /// Total bytes.
    pub bytes: u64,
    /// Bytes per decision.
    pub bytes_per_decision: f64,
    /// Fraction of the raw NDJSON.
    pub of_raw: f64,
    /// What was counted.
    pub what: String,
}

impl Disk {
    /// `bytes` for `decisions` decisions of `raw` NDJSON bytes.
    pub fn new(bytes: u64, decisions: u64, raw: u64, what: impl Into<String>) -> Disk {
        Disk {
            bytes,
            bytes_per_decision: bytes as f64 / decisions.max(1) as f64,
            of_raw: bytes as f64 / raw.max(1) as f64,
            what: what.into(),
        }
    }
}

/// A check of the whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verify {
    /// Seconds it took.
    pub seconds: f64,
    /// Entries (rows, lines) checked.
    pub entries: u64,
    /// Whether every entry checked out and none was missing.
    pub intact: bool,
    /// MB of the workload's NDJSON checked per second.
    pub mb_per_s: f64,
    /// How it was checked.
    pub how: String,
}

impl Verify {
    /// A check of `entries` entries (of `raw` NDJSON bytes) that took `took`.
    pub fn new(
        took: Duration,
        entries: u64,
        intact: bool,
        raw: u64,
        how: impl Into<String>,
    ) -> Verify {
        let seconds = took.as_secs_f64().max(1e-9);
        Verify {
            seconds,
            entries,
            intact,
            mb_per_s: raw as f64 / 1e6 / seconds,
            how: how.into(),
        }
    }
}

/// One subject's hour, fetched whole (inputs and outputs included).
#[derive(Debug, Clone, Serialize)]
pub struct Fetch {
    /// Median seconds over the runs.
    pub seconds: f64,
    /// Every run's seconds, in order.
    pub runs: Vec<f64>,
    /// Decisions returned.
    pub rows: u64,
    /// How it was fetched.
    pub how: String,
}

/// Times this many runs of the read; the median is reported.
pub const FETCH_RUNS: usize = 3;

impl Fetch {
    /// Run `fetch` [`FETCH_RUNS`] times; every run must return the same rows.
    pub fn measure(
        how: impl Into<String>,
        mut fetch: impl FnMut() -> anyhow::Result<u64>,
    ) -> anyhow::Result<Fetch> {
        let mut runs = Vec::with_capacity(FETCH_RUNS);
        let mut rows = None;
        for _ in 0..FETCH_RUNS {
            let started = std::time::Instant::now();
            let n = fetch()?;
            runs.push(started.elapsed().as_secs_f64());
            if rows.is_some_and(|r| r != n) {
                anyhow::bail!("the same read returned {n} rows after {rows:?}");
            }
            rows = Some(n);
        }
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        Ok(Fetch {
            seconds: sorted[sorted.len() / 2],
            runs,
            rows: rows.unwrap_or(0),
            how: how.into(),
        })
    }
}

/// Everything measured for one system.
#[derive(Debug, Clone, Serialize)]
pub struct SystemReport {
    /// Short key: `cairnd`, `embedded`, `postgres`, `jsonl`.
    pub key: &'static str,
    /// Name for tables.
    pub name: &'static str,
    /// Concurrent writers.
    pub writers: usize,
    /// Durable ingest.
    pub ingest: Ingest,
    /// Bytes on disk.
    pub disk: Disk,
    /// Whole-chain verification.
    pub verify: Verify,
    /// One subject's hour.
    pub subject_hour: Fetch,
    /// 1-, 5- and 15-minute load average right after the ingest.
    pub load_average_after_ingest: [f64; 3],
    /// Further figures particular to the system.
    pub extra: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
