//! The background indexer: a thread that keeps the ledger's secondary indexes
//! up with its committed entries, off the commit path. It waits until
//! [`PASS_MIN_ENTRIES`] entries are pending or the oldest of them has waited
//! [`PASS_WAIT_MAX_MS`], then indexes them in one pass: each pass costs a write
//! and a posting list per value it touches, so passes of a few entries each
//! (single-decision traffic) cost twice the CPU per entry of large ones. Its
//! watermark is durable, so after a restart or a crash it resumes where it
//! stopped. Queries never wait for it: they read the unindexed tail directly,
//! which these bounds keep short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_store::ledger::INDEX_BATCH_ENTRIES;
use tracing::warn;

use crate::metrics::Metrics;
use crate::store::ServedLedger;

/// Pause between looks at what is pending.
const IDLE_MS: u64 = 20;
/// A pass starts once this many entries are pending...
const PASS_MIN_ENTRIES: u64 = 2048;
/// ...or once entries have been pending this long.
const PASS_WAIT_MAX_MS: u64 = 200;
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
    // How long entries have been pending without a pass.
    let mut waited = 0;
    while !stop.load(Ordering::Acquire) {
        let pending = ledger
            .indexed_through()
            .map_or(u64::MAX, |w| ledger.size().saturating_sub(w));
        if !pass_now(pending, waited) {
            if pending > 0 {
                waited += IDLE_MS;
            }
            std::thread::sleep(Duration::from_millis(IDLE_MS));
            continue;
        }
        waited = 0;
        match ledger.index_pending(INDEX_BATCH_ENTRIES) {
            Ok(_) => {
                warned = false;
                if let Ok(w) = ledger.indexed_through() {
                    metrics.indexed_through.store(w, Ordering::Relaxed);
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

/// Whether to index now, with `pending` entries waiting for `waited_ms`.
fn pass_now(pending: u64, waited_ms: u64) -> bool {
    pending > 0 && (pending >= PASS_MIN_ENTRIES || waited_ms >= PASS_WAIT_MAX_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_waits_for_enough_entries_but_never_long() {
        assert!(!pass_now(0, 10_000), "nothing to index");
        assert!(!pass_now(1, 0), "one entry waits for company");
        assert!(!pass_now(PASS_MIN_ENTRIES - 1, PASS_WAIT_MAX_MS - IDLE_MS));
        assert!(pass_now(PASS_MIN_ENTRIES, 0), "enough entries go at once");
        assert!(
            pass_now(1, PASS_WAIT_MAX_MS),
            "a lone entry waits no longer"
        );
        // The loop adds IDLE_MS per look, so the wait is a whole number of them.
        assert_eq!(PASS_WAIT_MAX_MS % IDLE_MS, 0);
    }
}
