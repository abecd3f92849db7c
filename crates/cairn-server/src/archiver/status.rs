//! What the archiver reports: its watermark, its lag and its errors, for
//! `/metrics` (Prometheus text) and the `archive` section of `/readyz`.
//!
//! The archiver thread writes plain atomics; the handlers read them and the
//! ledger's size and derive the lag, so that a stalled upload shows a lag that
//! keeps growing even while the archiver is stuck in a request's retries.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_archive::ArchiveReads;
use cairn_store::pieces::BUNDLE_ENTRIES;
use cairn_store::retention::Retention;
use serde_json::{json, Value};

/// The archiver's state, shared with the HTTP handlers.
#[derive(Debug)]
pub struct ArchiveStatus {
    /// Where the archive is.
    pub url: String,
    /// The lag bound of the alarm, in seconds.
    pub max_lag_s: u64,
    /// The archive's size (the tree size of the bucket's `checkpoint`): every
    /// entry with a seq below it is in the bucket.
    archived: AtomicU64,
    /// Whether the bucket's watermark has been read since the start.
    known: AtomicBool,
    /// When the oldest entry not yet archived was recorded (µs since the
    /// epoch), as of the archiver's last look; 0 when it had archived all.
    oldest_pending_us: AtomicI64,
    errors: AtomicU64,
    objects: AtomicU64,
    bytes: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// How much of what is archived stays local (`None`: everything).
    pub retention: Option<Retention>,
    /// The archive behind the windows dropped locally.
    pub reads: Option<Arc<ArchiveReads>>,
    /// Windows this process dropped from the local store.
    dropped_windows: AtomicU64,
    /// Bytes the local store's bundles shrank by when they were dropped.
    reclaimed_bytes: AtomicU64,
    /// Bytes of entry and payload bundles in the local store, as last measured.
    local_bytes: AtomicU64,
    /// Retention passes that failed.
    retention_errors: AtomicU64,
}

/// The archive's state at one moment, as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveView {
    /// The archive's size; `None` until the bucket's watermark was read.
    pub archived: Option<u64>,
    /// Committed entries not yet in the bucket.
    pub lag_entries: u64,
    /// Age of the oldest entry not yet in the bucket, in seconds.
    pub lag_seconds: f64,
    /// Whether the lag is beyond the bound.
    pub alarm: bool,
    /// Entries in the ledger.
    pub size: u64,
}

impl ArchiveStatus {
    /// A status for the archive at `url`, nothing known yet.
    pub fn new(url: String, max_lag_s: u64) -> ArchiveStatus {
        ArchiveStatus {
            url,
            max_lag_s,
            archived: AtomicU64::new(0),
            known: AtomicBool::new(false),
            oldest_pending_us: AtomicI64::new(0),
            errors: AtomicU64::new(0),
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_error: Mutex::new(None),
            retention: None,
            reads: None,
            dropped_windows: AtomicU64::new(0),
            reclaimed_bytes: AtomicU64::new(0),
            local_bytes: AtomicU64::new(0),
            retention_errors: AtomicU64::new(0),
        }
    }

    /// Record the archive's size, read from the bucket or just written.
    pub fn set_archived(&self, size: u64) {
        self.archived.store(size, Ordering::Release);
        self.known.store(true, Ordering::Release);
    }

    /// The archive's size, once known.
    pub fn archived(&self) -> Option<u64> {
        self.known
            .load(Ordering::Acquire)
            .then(|| self.archived.load(Ordering::Acquire))
    }

    /// Record when the oldest entry not yet archived was recorded (`None`:
    /// every entry is archived).
    pub fn set_oldest_pending_us(&self, at_us: Option<i64>) {
        self.oldest_pending_us
            .store(at_us.unwrap_or(0), Ordering::Release);
    }

    /// Count objects and bytes written by a run.
    pub fn add_uploaded(&self, objects: u64, bytes: u64) {
        self.objects.fetch_add(objects, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Count a failed run (or a bucket that could not be opened).
    pub fn failed(&self, reason: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    /// Record a successful run.
    pub fn succeeded(&self) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Failed runs since the start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The state now, for a ledger of `ledger_size` entries at `now_us`.
    pub fn view(&self, ledger_size: u64, now_us: i64) -> ArchiveView {
        let archived = self.archived();
        let lag_entries = ledger_size.saturating_sub(archived.unwrap_or(0));
        let oldest = self.oldest_pending_us.load(Ordering::Acquire);
        let lag_seconds = if lag_entries == 0 || oldest == 0 {
            0.0
        } else {
            now_us.saturating_sub(oldest).max(0) as f64 / 1e6
        };
        ArchiveView {
            archived,
            lag_entries,
            lag_seconds,
            alarm: lag_seconds > self.max_lag_s as f64,
            size: ledger_size,
        }
    }

    /// Record a retention pass: windows dropped, bytes the local bundles
    /// shrank by, and what they hold now.
    pub fn retained(&self, windows: u64, reclaimed: u64, local_bytes: u64) {
        self.dropped_windows.fetch_add(windows, Ordering::Relaxed);
        self.reclaimed_bytes.fetch_add(reclaimed, Ordering::Relaxed);
        self.local_bytes.store(local_bytes, Ordering::Relaxed);
    }

    /// Count a retention pass that failed.
    pub fn retention_failed(&self) {
        self.retention_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Seqs below this are no longer local (read from the archive).
    pub fn local_from(&self) -> u64 {
        self.reads.as_ref().map_or(0, |r| r.dropped())
    }

    /// The `archive` section of `/readyz`.
    pub fn json(&self, view: &ArchiveView) -> Value {
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        json!({
            "url": self.url,
            "archived_size": view.archived,
            "lag_entries": view.lag_entries,
            "lag_seconds": view.lag_seconds,
            "max_lag_seconds": self.max_lag_s,
            "alarm": view.alarm,
            "errors_total": self.errors(),
            "last_error": last_error,
            "local_retention": self.retention.map(|r| r.to_string()),
            "local_from_seq": self.local_from(),
        })
    }

    /// The `cairn_archive_*` metrics.
    pub fn render(&self, out: &mut String, view: &ArchiveView) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counters = [
            (
                "cairn_archive_errors_total",
                "Archiving runs that failed (after their requests' retries), and failed attempts to open the bucket.",
                self.errors(),
            ),
            (
                "cairn_archive_uploaded_objects_total",
                "Objects written to the archive.",
                load(&self.objects),
            ),
            (
                "cairn_archive_uploaded_bytes_total",
                "Bytes written to the archive.",
                load(&self.bytes),
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
                "cairn_archive_archived_seq",
                "The archive's watermark: every entry with a seq below it is in the bucket, under the bucket's signed checkpoint (0 until read).".to_owned(),
                view.archived.unwrap_or(0).to_string(),
            ),
            (
                "cairn_archive_lag_entries",
                "Committed entries not yet in the archive.".to_owned(),
                view.lag_entries.to_string(),
            ),
            (
                "cairn_archive_lag_seconds",
                "Age of the oldest committed entry not yet in the archive.".to_owned(),
                view.lag_seconds.to_string(),
            ),
            (
                "cairn_archive_max_lag_seconds",
                "The configured bound of cairn_archive_lag_seconds.".to_owned(),
                self.max_lag_s.to_string(),
            ),
            (
                "cairn_archive_alarm",
                "1 when the archive lags beyond its bound.".to_owned(),
                u64::from(view.alarm).to_string(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        self.render_retention(out, view);
    }

    /// The `cairn_archive_local_*`, `_dropped_*`, `_fetch*` and `_cache_*`
    /// metrics: what is local, what only the archive holds, and the reads
    /// that fetch it.
    fn render_retention(&self, out: &mut String, view: &ArchiveView) {
        let Some(reads) = &self.reads else {
            return;
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let r = reads.stats();
        let windows = view.size.div_ceil(BUNDLE_ENTRIES);
        let archived_only = r.dropped / BUNDLE_ENTRIES;
        let gauges = [
            ("cairn_archive_local_from_seq", "Entries below this seq are no longer stored locally: reads fetch them from the archive.", r.dropped),
            ("cairn_archive_local_windows", "Windows of 256 entries whose bundles are stored locally (the open window included).", windows.saturating_sub(archived_only)),
            ("cairn_archive_archived_only_windows", "Windows of 256 entries stored only in the archive.", archived_only),
            ("cairn_archive_local_bundle_bytes", "Bytes of entry and payload bundles in the local store's table files (not counting memtables), as measured by the last retention pass.", load(&self.local_bytes)),
            ("cairn_archive_cache_bytes", "Bytes of archive objects held in the read cache.", r.cache.bytes),
            ("cairn_archive_cache_bytes_max", "The read cache's bound (--archive-cache-bytes).", r.cache_bytes_max),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let counters = [
            (
                "cairn_archive_dropped_windows_total",
                "Windows whose local bundles this process dropped once archived.",
                load(&self.dropped_windows),
            ),
            (
                "cairn_archive_reclaimed_bytes_total",
                "Bytes by which dropping shrank the local bundles.",
                load(&self.reclaimed_bytes),
            ),
            (
                "cairn_archive_retention_errors_total",
                "Retention passes that failed.",
                load(&self.retention_errors),
            ),
            (
                "cairn_archive_fetches_total",
                "Objects of dropped windows fetched from the archive.",
                r.fetches,
            ),
            (
                "cairn_archive_fetched_bytes_total",
                "Bytes fetched from the archive.",
                r.fetched_bytes,
            ),
            (
                "cairn_archive_fetch_errors_total",
                "Fetches from the archive that failed.",
                r.failures,
            ),
            (
                "cairn_archive_cache_hits_total",
                "Reads of dropped windows answered by the cache.",
                r.cache.hits,
            ),
            (
                "cairn_archive_cache_misses_total",
                "Reads of dropped windows that had to fetch.",
                r.cache.misses,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_age_of_the_oldest_pending_entry_and_alarms_past_the_bound() {
        let s = ArchiveStatus::new("file:///a".into(), 10);
        let v = s.view(100, 50_000_000);
        assert_eq!((v.archived, v.lag_entries, v.alarm), (None, 100, false));
        s.set_archived(40);
        s.set_oldest_pending_us(Some(30_000_000));
        let v = s.view(100, 50_000_000);
        assert_eq!(v.lag_entries, 60);
        assert!((v.lag_seconds - 20.0).abs() < 1e-9);
        assert!(v.alarm, "20 s is beyond 10 s");
        let mut out = String::new();
        s.render(&mut out, &v);
        assert!(out.contains("cairn_archive_archived_seq 40\n"), "{out}");
        assert!(out.contains("cairn_archive_lag_entries 60\n"), "{out}");
        assert!(out.contains("cairn_archive_alarm 1\n"), "{out}");
        s.set_archived(100);
        s.set_oldest_pending_us(None);
        let v = s.view(100, 90_000_000);
        assert_eq!((v.lag_entries, v.lag_seconds, v.alarm), (0, 0.0, false));
    }

    #[test]
    fn what_is_local_and_what_only_the_archive_holds_is_reported() {
        #![allow(clippy::unwrap_used)]
        use cairn_store::backend::{Backend, WriteBatch};
        use cairn_store::keys::meta;
        let local = cairn_store::MemoryBackend::new();
        let mut batch = WriteBatch::default();
        batch.put(cairn_store::Cf::Meta, meta::DROPPED, 1024u64.to_be_bytes());
        local.write(batch).unwrap();
        let layered = cairn_archive::Layered::with_archive(local, "file:///a", 4096).unwrap();
        let mut s = ArchiveStatus::new("file:///a".into(), 10);
        s.retention = Some(Retention::AgeSeconds(3600));
        s.reads = layered.archive().cloned();
        s.retained(4, 5000, 700);
        s.set_archived(1900);
        let v = s.view(2000, 0);
        let mut out = String::new();
        s.render(&mut out, &v);
        for line in [
            "cairn_archive_local_from_seq 1024\n",
            "cairn_archive_archived_only_windows 4\n",
            "cairn_archive_local_windows 4\n",
            "cairn_archive_local_bundle_bytes 700\n",
            "cairn_archive_dropped_windows_total 4\n",
            "cairn_archive_reclaimed_bytes_total 5000\n",
            "cairn_archive_cache_bytes_max 4096\n",
        ] {
            assert!(out.contains(line), "no {line:?} in {out}");
        }
        assert_eq!(s.json(&v)["local_from_seq"], 1024);
        assert_eq!(s.json(&v)["local_retention"], "3600 s");
    }

    #[test]
    fn errors_are_counted_and_the_last_one_is_shown_until_a_run_succeeds() {
        let s = ArchiveStatus::new("s3://b/p".into(), 300);
        s.failed("object store put of tile/0/000 failed".into());
        s.failed("connection refused".into());
        let v = s.view(0, 0);
        let j = s.json(&v);
        assert_eq!(j["errors_total"], 2);
        assert_eq!(j["last_error"], "connection refused");
        s.succeeded();
        assert_eq!(s.json(&v)["last_error"], Value::Null);
        assert_eq!(s.json(&v)["errors_total"], 2);
    }
}
