//! Local retention: dropping the entry and payload bundles of archived, sealed
//! windows from the local store (`schemas/storage-v2.md`, "Local retention").
//!
//! The ledger only drops what the caller says the archive confirmed (the
//! archive's watermark), never the window holding the last entry, and never a
//! window whose payloads a redaction erased that the archive does not cover
//! yet (the archive's copy of that window still holds the erased payload
//! until the archiver rewrites it). The drop and the record of it
//! (`meta/dropped`) are one write batch, under the same lock as appends, so a
//! crash leaves both or neither, and no redaction rewrites a window while it
//! is being dropped.

use cairn_core::entry::{Entry, EntryBody};

use crate::backend::{Backend, Cf, WriteBatch};
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::pieces::{window_start, BUNDLE_ENTRIES};

use super::{read_u64, Ledger};

/// What one drop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// The local store held bundles from this seq on before the drop.
    pub from: u64,
    /// ... and from this seq on after it (`from` when nothing was dropped).
    pub to: u64,
}

impl Dropped {
    /// Windows dropped.
    pub fn windows(&self) -> u64 {
        (self.to - self.from) / BUNDLE_ENTRIES
    }
}

impl<B: Backend> Ledger<B> {
    /// The seq below which the local store holds no entry or payload bundles
    /// (a multiple of 256; 0 when nothing was dropped): those windows are
    /// read from the archive.
    pub fn dropped_below(&self) -> Result<u64> {
        Ok(read_u64(&self.backend, meta::DROPPED)?.unwrap_or(0))
    }

    /// The greatest seq below which windows may be dropped when the archive
    /// holds every entry below `archived`: whole windows only, all below
    /// `archived`, below the index's watermark (the indexer reads what it
    /// indexes) and below the window holding the last entry (which recovery
    /// reads).
    pub fn droppable_below(&self, archived: u64) -> Result<u64> {
        let size = self.size();
        let tail_window = match size {
            0 => 0,
            n => window_start(n - 1),
        };
        let bound = archived.min(size).min(self.indexed_through()?);
        Ok((bound / BUNDLE_ENTRIES * BUNDLE_ENTRIES).min(tail_window))
    }

    /// Drop the local bundles of the windows below `below` that the archive
    /// holds (`archived`: the archive's watermark, every entry below it is in
    /// the bucket), then have the engine reclaim their space. Returns what
    /// was dropped, possibly less than asked (see the module's rules).
    pub fn drop_windows(&self, below: u64, archived: u64) -> Result<Dropped> {
        let state = self.state();
        if let Some(reason) = &state.poisoned {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        let from = self.dropped_below()?;
        let mut to = below.min(self.droppable_below(archived)?);
        to = to / BUNDLE_ENTRIES * BUNDLE_ENTRIES;
        if to <= from {
            return Ok(Dropped { from, to: from });
        }
        if let Some(target) = self.unarchived_erasure(from, to, archived)? {
            to = window_start(target);
            if to <= from {
                return Ok(Dropped { from, to: from });
            }
        }
        let mut batch = WriteBatch::default();
        for cf in [Cf::Bundles, Cf::PayloadBundles] {
            batch.delete_range(cf, keys::seq_key(from), keys::seq_key(to));
        }
        batch.put(Cf::Meta, meta::DROPPED, to.to_be_bytes());
        self.backend.write(batch)?;
        drop(state);
        self.cache.clear();
        for cf in [Cf::Bundles, Cf::PayloadBundles] {
            self.backend
                .purge(cf, &keys::seq_key(from), &keys::seq_key(to))?;
        }
        Ok(Dropped { from, to })
    }

    /// Have the engine reclaim the space of every dropped window: after a
    /// restart, in case a crash came between a drop and its compaction.
    pub fn reclaim_dropped(&self) -> Result<()> {
        let below = self.dropped_below()?;
        if below > 0 {
            for cf in [Cf::Bundles, Cf::PayloadBundles] {
                self.backend
                    .purge(cf, &keys::seq_key(0), &keys::seq_key(below))?;
            }
        }
        Ok(())
    }

    /// The lowest seq in `[from, to)` whose payload a redaction at or past
    /// `archived` erased: that redaction is not archived yet, so the archive's
    /// copy of the window still holds the payload.
    fn unarchived_erasure(&self, from: u64, to: u64, archived: u64) -> Result<Option<u64>> {
        let mut lowest: Option<u64> = None;
        let mut note = |target: u64| {
            if (from..to).contains(&target) {
                lowest = Some(lowest.map_or(target, |l| l.min(target)));
            }
        };
        // Redactions the indexer has reached: the redaction index, by target.
        let indexed = self.indexed_through()?;
        let (lo, hi) = (keys::redaction_key(from, 0), keys::redaction_key(to, 0));
        for row in self.backend.scan(Cf::Index, &lo, &hi) {
            let (k, _) = row?;
            let (target, by) = super::read::redaction_key(&k)?;
            if by >= archived {
                note(target);
            }
        }
        // Above the index's watermark: the entries themselves.
        let size = self.size();
        let start = archived.max(indexed).min(size);
        self.for_each_entry(start, size, |seq, bytes| {
            let entry = Entry::decode(bytes)
                .map_err(|e| StoreError::corrupt(format!("entry {seq}"), e.to_string()))?;
            if let EntryBody::RedactionV1(r) = entry.body {
                note(r.target_seq);
            }
            Ok(())
        })?;
        Ok(lowest)
    }
}
