//! The retention pass (`--local-retention`): after a successful archiving
//! run, drop the local bundles of the windows the retention lets go, which
//! the ledger bounds to what the bucket's checkpoint covers
//! (`Ledger::drop_windows`, `schemas/storage-v2.md` "Local retention").
//! Reads of those windows then go to the archive (`cairn_archive::Layered`).

use cairn_store::pieces::BUNDLE_ENTRIES;
use cairn_store::retention::Retention;
use cairn_store::{Backend, Cf, StoreError};
use tracing::info;

use super::status::ArchiveStatus;
use crate::store::ServedLedger;

/// Windows dropped at most per pass: a first pass over a large ledger drops
/// (and compacts) a million entries at a time, so that the archiver's next
/// run is not held back for long.
const WINDOWS_PER_PASS: u64 = 4096;

/// Bytes of entry and payload bundles in the local store.
fn local_bytes(ledger: &ServedLedger) -> Result<u64, StoreError> {
    let b = ledger.backend();
    Ok(b.family_bytes(Cf::Bundles)? + b.family_bytes(Cf::PayloadBundles)?)
}

/// One pass: drop what `retention` lets go of the windows the archive holds
/// below `archived`, and report it. The first pass of a process (`first`)
/// also compacts the windows dropped before, whose space a crash between a
/// drop and its compaction would otherwise leave to later compactions.
pub fn retain(
    ledger: &ServedLedger,
    retention: Retention,
    archived: u64,
    status: &ArchiveStatus,
    now_us: i64,
    first: bool,
) -> Result<(), StoreError> {
    if first {
        ledger.reclaim_dropped()?;
    }
    let dropped = ledger.dropped_below()?;
    let below = retention
        .below(ledger, archived, now_us)?
        .min(dropped + WINDOWS_PER_PASS * BUNDLE_ENTRIES);
    let before = local_bytes(ledger)?;
    if below <= dropped {
        status.retained(0, 0, before);
        return Ok(());
    }
    let dropped = ledger.drop_windows(below, archived)?;
    let after = local_bytes(ledger)?;
    status.retained(dropped.windows(), before.saturating_sub(after), after);
    if dropped.windows() > 0 {
        info!(
            from = dropped.from,
            to = dropped.to,
            windows = dropped.windows(),
            reclaimed_bytes = before.saturating_sub(after),
            local_bytes = after,
            %retention,
            "dropped the local copy of archived windows; reads fetch them from the archive"
        );
    }
    Ok(())
}
