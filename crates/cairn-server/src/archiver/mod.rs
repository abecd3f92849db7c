//! The background archiver: a thread of its own that extends the archive in a
//! bucket (`--archive URL`) to the ledger's newest signed checkpoint, every
//! `archive_interval_ms`, in the order of `schemas/archive-v1.md` (entry and
//! payload bundles, then tiles, then checkpoints, then the `checkpoint`
//! object), through the ledger's read side only.
//!
//! - It never touches the commit path: the sequencer does not know it exists,
//!   and it reads committed, checkpointed data that no append changes.
//! - Its watermark is durable and lives in the bucket: the `checkpoint` object
//!   names the archive's size, so a restarted daemon (after a crash too)
//!   resumes from it; a run stopped halfway rewrites the same bytes.
//! - A bucket that cannot be reached (or opened) is retried with exponential
//!   backoff from `archive_interval_ms` up to [`BACKOFF_MAX_MS`], each failure
//!   logged and counted; local data is never touched, appends go on.
//! - Its lag (committed entries not in the bucket, and the age of the oldest of
//!   them) is in `/metrics` and `/readyz`, with an alarm past
//!   `archive_max_lag_s` that is also logged.
//! - With `--local-retention`, each successful run is followed by a retention
//!   pass ([`retain`]) that drops the local copy of archived windows beyond
//!   the retention; a failed pass is logged and counted, and the next run
//!   tries again.

pub mod retain;
pub mod settings;
pub mod status;

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cairn_archive::{archive, archived_size, ArchiveError, ArchiveReport, Bucket};
use cairn_store::retention::Retention;
use tracing::{debug, error, info, warn};

pub use settings::{ArchiveConfig, ArchiveSettings};
pub use status::{ArchiveStatus, ArchiveView};

use crate::store::ServedLedger;

/// Longest pause between attempts while the bucket fails.
pub const BACKOFF_MAX_MS: u64 = 30_000;

/// Longest time between two checks of the lag alarm.
const ALARM_CHECK_MS: u64 = 1000;

/// The running archiver thread.
pub struct Archiver {
    stop: mpsc::Sender<()>,
    done: mpsc::Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl Archiver {
    /// Start archiving `ledger` on a thread of its own.
    pub fn start(
        config: &ArchiveConfig,
        ledger: Arc<ServedLedger>,
        status: Arc<ArchiveStatus>,
    ) -> std::io::Result<Archiver> {
        let (stop, stopped) = mpsc::channel();
        let (finished, done) = mpsc::channel();
        let config = config.clone();
        let handle = std::thread::Builder::new()
            .name("cairn-archiver".into())
            .spawn(move || {
                Worker {
                    ledger,
                    status,
                    url: config.url.clone(),
                    bucket: None,
                    alarmed: false,
                    retention: config.retention,
                    retained_once: false,
                }
                .run(&config, &stopped);
                let _ = finished.send(());
            })?;
        Ok(Archiver {
            stop,
            done,
            handle: Some(handle),
        })
    }

    /// Make one last run (so that a clean shutdown leaves its last checkpoint
    /// archived) and stop, waiting at most `grace`: past it the upload in
    /// progress is abandoned, and the next start resumes it.
    pub fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(());
        match self.done.recv_timeout(grace) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                if let Some(h) = self.handle.take() {
                    if h.join().is_err() {
                        error!("the archiver thread panicked");
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => warn!(
                "the archive upload in progress did not finish within shutdown_grace_ms; \
                 the next start resumes it from the bucket's checkpoint"
            ),
        }
    }
}

struct Worker {
    ledger: Arc<ServedLedger>,
    status: Arc<ArchiveStatus>,
    url: String,
    bucket: Option<Bucket>,
    alarmed: bool,
    retention: Option<Retention>,
    /// Whether a retention pass succeeded since the start.
    retained_once: bool,
}

impl Worker {
    fn run(mut self, config: &ArchiveConfig, stop: &mpsc::Receiver<()>) {
        info!(url = %self.url, "archiving to the bucket");
        let interval = Duration::from_millis(config.interval_ms);
        let mut backoff = interval;
        loop {
            let started = Instant::now();
            let pause = match self.once() {
                Ok(report) => {
                    self.retain(report.through);
                    backoff = interval;
                    interval.saturating_sub(started.elapsed())
                }
                Err(e) => {
                    let pause = backoff;
                    backoff = (backoff * 2).min(Duration::from_millis(BACKOFF_MAX_MS));
                    let reason = chain(&e);
                    warn!(
                        url = %self.url,
                        error = %reason,
                        retry_in_ms = pause.as_millis() as u64,
                        "archiving failed; local data is untouched, retrying"
                    );
                    self.status.failed(reason);
                    pause
                }
            };
            if self.pause(pause, stop) {
                break;
            }
        }
        match self.once() {
            Ok(r) => info!(url = %self.url, archived = r.through, "archive up to date at shutdown"),
            Err(e) => {
                warn!(url = %self.url, error = %chain(&e), "the last archiving run failed; the next start resumes it")
            }
        }
    }

    /// Wait `pause`, checking the alarm at least every [`ALARM_CHECK_MS`] (so
    /// that it is logged while the archiver backs off); true once told to stop.
    fn pause(&mut self, pause: Duration, stop: &mpsc::Receiver<()>) -> bool {
        let until = Instant::now() + pause;
        loop {
            self.check_alarm();
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match stop.recv_timeout(left.min(Duration::from_millis(ALARM_CHECK_MS))) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return true,
            }
        }
    }

    /// One run: open the bucket if need be, then extend the archive to the
    /// newest checkpoint.
    fn once(&mut self) -> Result<ArchiveReport, ArchiveError> {
        // Before anything that can fail: until the bucket's watermark is read,
        // the lag counts from the first entry, so an archive that cannot be
        // reached from the start still raises the alarm.
        note_oldest_pending(&self.ledger, &self.status)?;
        let bucket = match self.bucket.take() {
            Some(b) => b,
            None => Bucket::open(&self.url)?,
        };
        let bucket = self.bucket.insert(bucket);
        if self.status.archived().is_none() {
            self.status
                .set_archived(archived_size(&self.ledger, bucket)?);
        }
        note_oldest_pending(&self.ledger, &self.status)?;
        let report = archive(&self.ledger, bucket, &mut |_, _| {})?;
        self.status.set_archived(report.through);
        self.status.add_uploaded(report.objects, report.bytes);
        self.status.succeeded();
        note_oldest_pending(&self.ledger, &self.status)?;
        if report.objects > 0 {
            debug!(
                from = report.from,
                through = report.through,
                objects = report.objects,
                bytes = report.bytes,
                "archived"
            );
        }
        Ok(report)
    }

    /// Drop what the retention lets go, below the watermark the bucket just
    /// confirmed.
    fn retain(&mut self, archived: u64) {
        let Some(retention) = self.retention else {
            return;
        };
        let first = !self.retained_once;
        match retain::retain(
            &self.ledger,
            retention,
            archived,
            &self.status,
            now_us(),
            first,
        ) {
            Ok(()) => self.retained_once = true,
            Err(e) => {
                warn!(error = %e, "dropping archived windows failed; local data is kept, retrying after the next run");
                self.status.retention_failed();
            }
        }
    }

    /// Log when the lag passes its bound, and when it is back within it.
    fn check_alarm(&mut self) {
        let view = self.status.view(self.ledger.size(), now_us());
        if view.alarm && !self.alarmed {
            error!(
                url = %self.url,
                lag_seconds = view.lag_seconds,
                lag_entries = view.lag_entries,
                max_lag_s = self.status.max_lag_s,
                "ARCHIVE LAG ALARM: the oldest entry not in the archive is older than archive_max_lag_s"
            );
        } else if !view.alarm && self.alarmed {
            info!(url = %self.url, lag_seconds = view.lag_seconds, "archive lag back within its bound");
        }
        self.alarmed = view.alarm;
    }
}

/// Record when the oldest entry that is not archived yet was recorded, so
/// that the lag in seconds keeps growing while a run is stuck.
fn note_oldest_pending(ledger: &ServedLedger, status: &ArchiveStatus) -> Result<(), ArchiveError> {
    let archived = status.archived().unwrap_or(0);
    let oldest = match archived < ledger.size() {
        true => Some(ledger.entry(archived)?.recorded_at_us),
        false => None,
    };
    status.set_oldest_pending_us(oldest);
    Ok(())
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Now, in microseconds since the epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
