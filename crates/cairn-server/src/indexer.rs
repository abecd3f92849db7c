//! The background indexer: a thread that keeps the ledger's secondary indexes
//! up with its committed entries, off the commit path. It indexes in batches
//! while entries are waiting and sleeps briefly when caught up; its watermark
//! is durable, so after a restart or a crash it resumes where it stopped.
//! Queries never wait for it: they read the unindexed tail directly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_store::ledger::INDEX_BATCH_ENTRIES;
use tracing::warn;

use crate::metrics::Metrics;
use crate::store::ServedLedger;

/// Pause when there is nothing to index.
const IDLE_MS: u64 = 20;
/// Pause after a failed pass before trying again.
const RETRY_MS: u64 = 1000;

/// The running indexer thread.
pub struct Indexer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Start indexing `ledger` on a thread of its own.
    pub fn start(ledger: Arc<ServedLedger>, metrics: Arc<Metrics>) -> std::io::Result<Indexer> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("cairn-indexer".into())
            .spawn(move || run(&ledger, &metrics, &stopping))?;
        Ok(Indexer {
            stop,
            handle: Some(handle),
        })
    }

    /// Finish the pass in progress and stop.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                warn!("the indexer thread panicked");
            }
        }
    }
}

fn run(ledger: &ServedLedger, metrics: &Metrics, stop: &AtomicBool) {
    let mut warned = false;
    while !stop.load(Ordering::Acquire) {
        match ledger.index_pending(INDEX_BATCH_ENTRIES) {
            Ok(done) => {
                warned = false;
                if let Ok(w) = ledger.indexed_through() {
                    metrics.indexed_through.store(w, Ordering::Relaxed);
                }
                if done == 0 {
                    std::thread::sleep(Duration::from_millis(IDLE_MS));
                }
            }
            Err(e) => {
                // Derived data only: queries still answer from the entries.
                if !warned {
                    warn!(error = %e, "indexing failed; queries read unindexed entries directly meanwhile");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(RETRY_MS));
            }
        }
    }
}
