//! Restore: copy an archive into an empty backend, as a ledger of layout v2
//! whose size is the archive's checkpoint, then let [`Ledger::open`] recover
//! it and build its indexes.

use cairn_store::backend::{Backend, Cf, WriteBatch};
use cairn_store::keys::meta;
use cairn_store::{Ledger, StoreError};

use crate::error::Result;
use crate::source::BucketBackend;

/// Bytes of values per write batch of a restore.
const BATCH_BYTES: usize = 32 << 20;

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Entries restored (the archive's checkpoint size).
    pub entries: u64,
    /// Objects read.
    pub objects: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// Copy the archive in `source` into `target`, which must hold nothing, then
/// open it as a ledger (its tail checked) and index every entry. `progress`
/// is called with (entries copied, entries to copy).
pub fn restore<B: Backend>(
    source: &BucketBackend,
    target: B,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(Ledger<B>, RestoreReport)> {
    if target.get(Cf::Meta, meta::ORIGIN)?.is_some() {
        return Err(StoreError::AlreadyExists {
            path: "the restore target".into(),
        }
        .into());
    }
    let size = source.checkpoint().size;
    let mut report = RestoreReport {
        entries: size,
        ..RestoreReport::default()
    };
    let mut batch = WriteBatch::default();
    let flush = |batch: &mut WriteBatch, report: &mut RestoreReport| -> Result<()> {
        report.objects += batch.ops.len() as u64;
        report.bytes += batch.bytes() as u64;
        target.write(std::mem::take(batch))?;
        Ok(())
    };
    for cf in [Cf::Tiles, Cf::Checkpoints] {
        for row in source.scan(cf, &[], &[0xff; 32]) {
            let (k, v) = row?;
            batch.put(cf, k, v);
            if batch.bytes() >= BATCH_BYTES {
                flush(&mut batch, &mut report)?;
            }
        }
    }
    // Entry and payload pieces are paired by key, not by position: a piece
    // missing from the bucket on one side must not shift or cut the other
    // (what is missing, `verify` then names).
    let mut payloads = source.scan(Cf::PayloadBundles, &[], &[0xff; 9]).peekable();
    for e in source.scan(Cf::Bundles, &[], &[0xff; 9]) {
        let (ek, ev) = e?;
        while let Some(p) = payloads.next_if(|p| p.as_ref().map_or(true, |(pk, _)| *pk <= ek)) {
            let (pk, pv) = p?;
            batch.put(Cf::PayloadBundles, pk, pv);
            if batch.bytes() >= BATCH_BYTES {
                flush(&mut batch, &mut report)?;
            }
        }
        let first = cairn_store::keys::parse_seq(&ek).unwrap_or(0);
        batch.put(Cf::Bundles, ek, ev);
        if batch.bytes() >= BATCH_BYTES {
            flush(&mut batch, &mut report)?;
            progress(first, size);
        }
    }
    for p in payloads {
        let (pk, pv) = p?;
        batch.put(Cf::PayloadBundles, pk, pv);
        if batch.bytes() >= BATCH_BYTES {
            flush(&mut batch, &mut report)?;
        }
    }
    // Metadata last: a restore that stopped before this is not a ledger.
    batch.put(
        Cf::Meta,
        meta::ORIGIN,
        source.checkpoint().origin.as_bytes(),
    );
    batch.put(
        Cf::Meta,
        meta::FORMAT,
        vec![cairn_core::entry::FORMAT_VERSION],
    );
    batch.put(Cf::Meta, meta::LAYOUT, vec![cairn_store::ledger::LAYOUT]);
    batch.put(Cf::Meta, meta::SIZE, size.to_be_bytes());
    batch.put(Cf::Meta, meta::INDEXED, 0u64.to_be_bytes());
    flush(&mut batch, &mut report)?;
    progress(size, size);
    let ledger = Ledger::open(target)?;
    ledger.index_all()?;
    Ok((ledger, report))
}
