//! The checkpointer: signs a checkpoint of the ledger every N entries or M
//! milliseconds (whichever comes first, and only when the ledger grew), stores
//! it in the ledger, and optionally publishes it to a directory as
//! `<size>.checkpoint` and `latest.checkpoint`, each written atomically.
//!
//! On shutdown it signs a last checkpoint covering every entry, so an auditor
//! holding the newest checkpoint holds the whole ledger.
//!
//! Before signing, the stored tree must prove a consistent extension of the
//! last checkpoint the ledger signed ([`cairn_core::signing`]). If it does not
//! (the stored tree or checkpoint was altered below the API), nothing is
//! signed, appends are refused from then on, and `/readyz` and the log say
//! why: a ledger must never sign two histories that contradict each other.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn_core::checkpoint::{Checkpoint, NoteSigner};
use cairn_core::signing::{check_extends, LastSigned, NextTree, RefuseToSign};
use cairn_store::StoreError;
use tokio::sync::{watch, Notify};
use tracing::{debug, error, warn};

use crate::health::Health;
use crate::metrics::Metrics;
use crate::store::ServedLedger;

/// File name of the newest published checkpoint.
pub const LATEST: &str = "latest.checkpoint";

/// Wakes the checkpointer once enough entries were appended since the last
/// checkpoint.
#[derive(Debug)]
pub struct Trigger {
    notify: Notify,
    every_entries: u64,
    last_size: AtomicU64,
}

impl Trigger {
    /// A trigger firing every `every_entries` entries past `last_size`.
    pub fn new(every_entries: u64, last_size: u64) -> Arc<Trigger> {
        Arc::new(Trigger {
            notify: Notify::new(),
            every_entries,
            last_size: AtomicU64::new(last_size),
        })
    }

    /// Called by the sequencer after each commit with the ledger's new size.
    pub fn after_commit(&self, size: u64) {
        let last = self.last_size.load(Ordering::Acquire);
        if size >= last.saturating_add(self.every_entries) {
            self.notify.notify_one();
        }
    }
}

/// Why a checkpoint could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointFailure {
    /// Reading the root or storing the note failed.
    #[error("storing the checkpoint: {0}")]
    Store(#[from] StoreError),
    /// The stored tree does not extend the last signed checkpoint.
    #[error("refusing to sign a checkpoint: {0}")]
    Refused(#[from] RefuseToSign),
    /// Writing the note to the publish directory failed.
    #[error("publishing the checkpoint to {path}: {source}")]
    Publish {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Signs, stores and publishes checkpoints.
#[derive(Debug)]
pub struct Checkpointer {
    /// The ledger.
    pub ledger: Arc<ServedLedger>,
    /// The ledger's signing key.
    pub signer: NoteSigner,
    /// Where checkpoints are also written.
    pub publish_dir: Option<PathBuf>,
    /// Longest time between checkpoints while the ledger grows.
    pub interval: Duration,
    /// Shared with the sequencer.
    pub trigger: Arc<Trigger>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Readiness, poisoned when a checkpoint cannot be stored.
    pub health: Arc<Health>,
}

impl Checkpointer {
    /// Run until `stop` turns true, then sign a last checkpoint.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut tick = tokio::time::interval(this.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = this.trigger.notify.notified() => {}
                () = crate::server::stopped(&mut stop) => break,
            }
            Arc::clone(&this).checkpoint().await;
        }
        this.checkpoint().await;
    }

    async fn checkpoint(self: Arc<Self>) {
        let this = Arc::clone(&self);
        match tokio::task::spawn_blocking(move || this.make()).await {
            Ok(Ok(Some(size))) => debug!(size, "checkpoint signed"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                self.metrics
                    .checkpoint_failures
                    .fetch_add(1, Ordering::Relaxed);
                match (&e, self.ledger.poisoned()) {
                    (CheckpointFailure::Refused(_), _) => {
                        let reason = e.to_string();
                        error!(%reason, "refusing appends from now on, still serving reads");
                        self.health.poison(reason);
                    }
                    // An append's failed write, said where it happened.
                    (CheckpointFailure::Store(StoreError::Poisoned { .. }), _) => {}
                    (_, Some(reason)) => {
                        let reason = format!("storing a checkpoint: {reason}");
                        error!(%reason, "write failed; refusing appends from now on, still serving reads");
                        self.health.poison(reason);
                    }
                    _ => warn!(error = %e, "checkpoint failed"),
                }
            }
            Err(e) => warn!(error = %e, "checkpoint task failed"),
        }
    }

    /// Sign, store and publish a checkpoint of the current size, unless the
    /// newest checkpoint already covers it. Returns the size signed.
    pub fn make(&self) -> Result<Option<u64>, CheckpointFailure> {
        let size = self.ledger.size();
        let last = self.trigger.last_size.load(Ordering::Acquire);
        // A ledger that refuses writes cannot store one (and says why elsewhere).
        if size == 0
            || size <= last
            || self.ledger.poisoned().is_some()
            || self.health.is_poisoned()
        {
            return Ok(None);
        }
        let checkpoint = Checkpoint {
            origin: self.ledger.origin().to_owned(),
            size,
            root: self.ledger.root_at(size)?,
            extensions: vec![],
        };
        self.check_extends_last(&checkpoint)?;
        let note = self.signer.sign_checkpoint(&checkpoint);
        // Published before it is served, so that whoever read it from the daemon
        // finds it in the publish directory too; a failure to publish does not
        // keep it from being stored.
        let published = match &self.publish_dir {
            Some(dir) => publish(dir, size, &note),
            None => Ok(()),
        };
        self.ledger.put_checkpoint(size, &note)?;
        self.trigger.last_size.store(size, Ordering::Release);
        self.metrics.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.metrics.checkpoint_size.store(size, Ordering::Relaxed);
        published.map(|()| Some(size))
    }
}

impl Checkpointer {
    /// `Err` unless `next` consistently extends the newest stored checkpoint.
    fn check_extends_last(&self, next: &Checkpoint) -> Result<(), CheckpointFailure> {
        let Some((size, note)) = self.ledger.latest_checkpoint()? else {
            return Ok(());
        };
        let proof = self
            .ledger
            .consistency_proof(size.min(next.size), next.size)?;
        check_extends(
            LastSigned { size, note: &note },
            &self.signer.verifier(),
            NextTree {
                origin: &next.origin,
                size: next.size,
                root: &next.root,
                proof: &proof,
            },
        )?;
        Ok(())
    }
}

/// Write `<size>.checkpoint` and `latest.checkpoint` into `dir`, each atomically.
pub fn publish(dir: &Path, size: u64, note: &str) -> Result<(), CheckpointFailure> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| CheckpointFailure::Publish { path, source }
    };
    if !dir.is_dir() {
        fs::create_dir_all(dir)
            .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o755)))
            .map_err(failed(dir))?;
    }
    for name in [format!("{size}.checkpoint"), LATEST.to_owned()] {
        let path = dir.join(&name);
        write_atomic(dir, &name, note).map_err(failed(&path))?;
    }
    // Make the renames durable.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed(dir))
}

/// Write to a temporary file in the same directory, fsync, then rename over the
/// target: readers see the old note or the new one, never half of one.
fn write_atomic(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    // Published for anyone to fetch, whatever the daemon's umask.
    f.set_permissions(fs::Permissions::from_mode(0o644))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trigger_fires_only_past_the_interval() {
        let t = Trigger::new(10, 5);
        t.after_commit(14);
        // A fired Notify stores one permit; check by polling without waiting.
        let fired = || {
            let n = t.notify.notified();
            tokio::pin!(n);
            n.as_mut().enable()
        };
        assert!(!fired());
        t.after_commit(15);
        assert!(fired());
    }

    #[test]
    fn publish_writes_numbered_and_latest_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("pub");
        publish(&out, 3, "note 3\n").unwrap();
        publish(&out, 7, "note 7\n").unwrap();
        assert_eq!(
            fs::read_to_string(out.join("3.checkpoint")).unwrap(),
            "note 3\n"
        );
        assert_eq!(fs::read_to_string(out.join(LATEST)).unwrap(), "note 7\n");
        // Published for anyone to fetch, whatever the umask.
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&out), mode(&out.join(LATEST))), (0o755, 0o644));
        let names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(names.is_empty(), "temporary files left: {names:?}");
    }
}
