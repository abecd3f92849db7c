//! `cairn migrate`: turn a ledger stored in layout version 1
//! (`schemas/storage-v1.md`: a key per entry, payload and tree node) into
//! layout version 2 (`schemas/storage-v2.md`) on another backend.
//!
//! The entries' canonical bytes, salts and payloads are carried over byte for
//! byte, so every leaf hash, root, checkpoint, proof and evidence bundle made
//! before stays valid; the new tree's root is checked against the old stored
//! tree's before the migration is declared done. Payloads erased in version 1
//! become erased slots naming their redaction; idempotency keys and
//! checkpoints are copied, and the indexes are built anew.

use std::collections::HashMap;

use cairn_core::entry::{Entry, EntryBody, PayloadSlot};
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle::{self, NodeSource};

use crate::backend::{Backend, Cf, WriteBatch};
use crate::codec::Codec;
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::ledger::Ledger;
use crate::pieces::{Record, Slot};

/// Entries copied per batch.
const MIGRATE_BATCH_ENTRIES: usize = 4096;

/// The stored tree of a version 1 ledger: one key per complete subtree.
struct V1Nodes<'a, S: Backend>(&'a S);

impl<S: Backend> NodeSource for V1Nodes<'_, S> {
    type Error = StoreError;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash> {
        let what = || format!("version 1 tree node ({level}, {index})");
        let v = self
            .0
            .get(Cf::Nodes, &keys::node_key(level, index))?
            .ok_or_else(|| StoreError::corrupt(what(), "missing"))?;
        Hash::try_from(v.as_slice()).map_err(|_| StoreError::corrupt(what(), "not 32 bytes"))
    }
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// The ledger's origin.
    pub origin: String,
    /// Entries carried over.
    pub entries: u64,
    /// Checkpoints carried over.
    pub checkpoints: u64,
    /// The root of the whole tree, the same before and after.
    pub root: Hash,
}

/// Whether `src` holds a version 1 ledger (no layout mark).
pub fn is_v1<S: Backend>(src: &S) -> Result<bool> {
    Ok(src.get(Cf::Meta, meta::ORIGIN)?.is_some() && src.get(Cf::Meta, meta::LAYOUT)?.is_none())
}

/// Copy the version 1 ledger in `src` into the empty backend `dst` as a
/// version 2 ledger; `progress` is called with (entries done, entries).
pub fn from_v1<S: Backend, D: Backend>(
    src: &S,
    dst: D,
    mut progress: impl FnMut(u64, u64),
) -> Result<(Ledger<D>, MigrateReport)> {
    if !is_v1(src)? {
        return Err(StoreError::Invalid(
            "the source is not a version 1 ledger".into(),
        ));
    }
    let origin = src
        .get(Cf::Meta, meta::ORIGIN)?
        .and_then(|o| String::from_utf8(o).ok())
        .ok_or_else(|| StoreError::corrupt("metadata", "origin is unreadable"))?;
    let size = src
        .get(Cf::Meta, meta::SIZE)?
        .and_then(|v| keys::parse_seq(&v))
        .ok_or_else(|| StoreError::corrupt("metadata", "size is unreadable"))?;
    let codec = v1_codec(src)?;
    let erased = v1_erasures(src, &codec, size)?;
    let ledger = Ledger::create(dst, &origin)?;
    let mut records = Vec::with_capacity(MIGRATE_BATCH_ENTRIES);
    for seq in 0..size {
        records.push(v1_record(src, &codec, &erased, seq)?);
        if records.len() == MIGRATE_BATCH_ENTRIES || seq + 1 == size {
            ledger.import(std::mem::take(&mut records))?;
            progress(seq + 1, size);
        }
    }
    // Entries copied; checkpoints and idempotency keys not yet.
    crate::failpoint::hit("migrate-after-entries");
    let old_root = match size {
        0 => ledger.root(),
        _ => merkle::root(&Blake3Hasher, &V1Nodes(src), size)?,
    };
    if ledger.root() != old_root {
        return Err(StoreError::corrupt(
            "version 1 tree",
            "its root differs from the root of its entries; run `cairn verify` on the original",
        ));
    }
    let mut batch = WriteBatch::default();
    let mut checkpoints = 0;
    for row in src.scan(Cf::Checkpoints, &[], &[0xff; 9]) {
        let (k, v) = row?;
        batch.put(Cf::Checkpoints, k, v);
        checkpoints += 1;
    }
    for row in src.scan(Cf::Index, b"k", b"l") {
        let (k, v) = row?;
        batch.put(Cf::Index, k, v);
    }
    ledger.backend().write(batch)?;
    ledger.index_all()?;
    let report = MigrateReport {
        origin,
        entries: size,
        checkpoints,
        root: old_root,
    };
    Ok((ledger, report))
}

fn v1_codec<S: Backend>(src: &S) -> Result<Codec> {
    let mut codec = Codec::new();
    let end = keys::prefix_end(meta::DICT_PREFIX);
    for row in src.scan(Cf::Meta, meta::DICT_PREFIX, &end) {
        let (k, v) = row?;
        let id = k[meta::DICT_PREFIX.len()..]
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::corrupt("metadata", "bad dictionary key"))?;
        codec.add_dictionary(id, &v)?;
    }
    Ok(codec)
}

/// Which payloads the redaction entries of a version 1 ledger erased.
fn v1_erasures<S: Backend>(src: &S, codec: &Codec, size: u64) -> Result<HashMap<(u64, u8), u64>> {
    let mut erased = HashMap::new();
    for row in src.scan(Cf::Entries, &keys::seq_key(0), &keys::seq_key(size)) {
        let (k, v) = row?;
        let bytes = codec.decompress(&v, &|| format!("version 1 entry {k:?}"))?;
        if let Ok(Entry {
            seq,
            body: EntryBody::RedactionV1(r),
            ..
        }) = Entry::decode(&bytes)
        {
            for slot in &r.slots {
                erased.insert((r.target_seq, slot.as_byte()), seq);
            }
        }
    }
    Ok(erased)
}

fn v1_record<S: Backend>(
    src: &S,
    codec: &Codec,
    erased: &HashMap<(u64, u8), u64>,
    seq: u64,
) -> Result<Record> {
    let stored = src.get(Cf::Entries, &keys::seq_key(seq))?.ok_or_else(|| {
        StoreError::corrupt(
            format!("version 1 entry {seq}"),
            "missing; run `cairn verify` on the original",
        )
    })?;
    let entry = codec.decompress(&stored, &|| format!("version 1 entry {seq}"))?;
    let is_decision = matches!(
        Entry::decode(&entry).map(|e| e.body),
        Ok(EntryBody::DecisionV1(_))
    );
    let mut payloads = [Slot::None, Slot::None];
    if is_decision {
        for slot in PayloadSlot::ALL {
            let key = keys::payload_key(seq, slot);
            let held = match src.get(Cf::Payloads, &key)? {
                Some(v) => {
                    Slot::Stored(codec.decompress(&v, &|| format!("version 1 payload of {seq}"))?)
                }
                None => match erased.get(&(seq, slot.as_byte())) {
                    Some(by) => Slot::Erased(*by),
                    None => Slot::None,
                },
            };
            payloads[slot.as_byte() as usize] = held;
        }
    }
    Ok(Record { entry, payloads })
}
