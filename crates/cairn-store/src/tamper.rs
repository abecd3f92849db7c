//! Damage a ledger below its API, the way an attacker with disk access would:
//! rewrite an entry or payload inside its bundle, drop one, swap two, change a
//! leaf hash in a tile, or cut the ledger short. Used by `cairn-tamper` (demos)
//! and by the tests that check `verify` names each kind of damage; nothing in
//! Cairn's own paths calls it.

use cairn_core::entry::PayloadSlot;
use cairn_core::hash::Hash;

use crate::backend::{Backend, Cf, WriteBatch};
use crate::codec::Codec;
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::ledger::{Ledger, BUNDLE_LEVEL};
use crate::pieces::{self, Record, Slot};
use crate::tiles::{tile_key, TILE_HEIGHT, TILE_WIDTH};

/// The records of the pieces (entry and payload) that hold `seq`.
fn piece_of<B: Backend>(l: &Ledger<B>, seq: u64) -> Result<(u64, Vec<Record>)> {
    let from = keys::seq_key(pieces::window_start(seq));
    let to = keys::seq_key(seq + 1);
    let missing = || StoreError::Invalid(format!("no stored entry {seq}"));
    let (k, v) = l
        .backend()
        .last_in(Cf::Bundles, &from, &to)?
        .ok_or_else(missing)?;
    let first = keys::parse_seq(&k).ok_or_else(missing)?;
    let entries = l.decode_entry_piece(first, &v)?;
    let slots = match l.backend().get(Cf::PayloadBundles, &k)? {
        Some(p) => l.decode_payload_piece(first, &p)?,
        None => vec![[Slot::None, Slot::None]; entries.len()],
    };
    if seq >= first + entries.len() as u64 {
        return Err(missing());
    }
    Ok((
        first,
        entries
            .into_iter()
            .zip(slots)
            .map(|(entry, payloads)| Record { entry, payloads })
            .collect(),
    ))
}

fn put_piece(batch: &mut WriteBatch, first: u64, records: &[Record]) {
    if records.is_empty() {
        return;
    }
    let codec = Codec::new();
    let n = records.len();
    let e = pieces::encode_entries(records.iter().map(|r| r.entry.as_slice()), n);
    let p = pieces::encode_payloads(records.iter().map(|r| &r.payloads), n, first, None);
    batch.put(
        Cf::Bundles,
        keys::seq_key(first),
        codec.compress_at(&e, Some(BUNDLE_LEVEL)),
    );
    batch.put(
        Cf::PayloadBundles,
        keys::seq_key(first),
        codec.compress_at(&p, Some(BUNDLE_LEVEL)),
    );
}

/// Replace the canonical bytes of entry `seq` (its leaf in the tree stays).
/// Its `prev_hash` cannot be rewritten this way: bundles do not store it (it is
/// the leaf before, see [`set_leaf`]).
pub fn set_entry<B: Backend>(l: &Ledger<B>, seq: u64, bytes: Vec<u8>) -> Result<()> {
    let (first, mut records) = piece_of(l, seq)?;
    let chain = pieces::CHAIN_AT..pieces::CHAIN_END;
    if bytes.get(chain.clone()) != records[(seq - first) as usize].entry.get(chain) {
        return Err(StoreError::Invalid(format!(
            "bytes {}..{} of an entry are its prev_hash, which bundles do not store \
             (it is the leaf hash of the entry before): rewrite that leaf instead",
            pieces::CHAIN_AT,
            pieces::CHAIN_END
        )));
    }
    records[(seq - first) as usize].entry = bytes;
    let mut batch = WriteBatch::default();
    put_piece(&mut batch, first, &records);
    l.backend().write(batch)?;
    l.forget_cached();
    Ok(())
}

/// Remove entry `seq` and its payloads, leaving a gap: its piece is split in
/// two around it.
pub fn delete_entry<B: Backend>(l: &Ledger<B>, seq: u64) -> Result<()> {
    let (first, mut records) = piece_of(l, seq)?;
    let after = records.split_off((seq - first) as usize + 1);
    records.pop();
    let mut batch = WriteBatch::default();
    batch.delete(Cf::Bundles, keys::seq_key(first));
    batch.delete(Cf::PayloadBundles, keys::seq_key(first));
    put_piece(&mut batch, first, &records);
    put_piece(&mut batch, seq + 1, &after);
    l.backend().write(batch)?;
    l.forget_cached();
    Ok(())
}

/// Swap the stored entries (and payloads) at `a` and `b`, both in one piece.
pub fn swap_entries<B: Backend>(l: &Ledger<B>, a: u64, b: u64) -> Result<()> {
    let (first, mut records) = piece_of(l, a)?;
    let (ia, ib) = ((a - first) as usize, b.wrapping_sub(first) as usize);
    if ib >= records.len() {
        return Err(StoreError::Invalid(format!(
            "entries {a} and {b} are not in one bundle"
        )));
    }
    records.swap(ia, ib);
    let mut batch = WriteBatch::default();
    put_piece(&mut batch, first, &records);
    l.backend().write(batch)?;
    l.forget_cached();
    Ok(())
}

/// Replace what a payload slot of `seq` holds (`Slot::None` removes it).
pub fn set_payload<B: Backend>(
    l: &Ledger<B>,
    seq: u64,
    slot: PayloadSlot,
    held: Slot,
) -> Result<()> {
    let (first, mut records) = piece_of(l, seq)?;
    records[(seq - first) as usize].payloads[slot.as_byte() as usize] = held;
    let mut batch = WriteBatch::default();
    put_piece(&mut batch, first, &records);
    l.backend().write(batch)?;
    l.forget_cached();
    Ok(())
}

/// Replace the leaf hash the tree's level-0 tile holds for `seq`.
pub fn set_leaf<B: Backend>(l: &Ledger<B>, seq: u64, leaf: Hash) -> Result<()> {
    let key = tile_key(0, seq / TILE_WIDTH);
    let mut tile = l
        .backend()
        .get(Cf::Tiles, &key)?
        .ok_or_else(|| StoreError::Invalid(format!("no tile holds leaf {seq}")))?;
    let off = (seq % TILE_WIDTH) as usize * 32;
    tile.get_mut(off..off + 32)
        .ok_or_else(|| StoreError::Invalid(format!("no tile holds leaf {seq}")))?
        .copy_from_slice(&leaf);
    let mut batch = WriteBatch::default();
    batch.put(Cf::Tiles, key, tile);
    l.backend().write(batch)?;
    l.forget_cached();
    Ok(())
}

/// Rewrite the ledger's recorded origin (its name in every checkpoint).
pub fn set_origin<B: Backend>(l: &Ledger<B>, origin: &str) -> Result<()> {
    let mut batch = WriteBatch::default();
    batch.put(Cf::Meta, meta::ORIGIN, origin.as_bytes());
    l.backend().write(batch)
}

/// Rewrite the ledger's recorded size, leaving every entry where it is.
pub fn set_size<B: Backend>(l: &Ledger<B>, size: u64) -> Result<()> {
    let mut batch = WriteBatch::default();
    batch.put(Cf::Meta, meta::SIZE, size.to_be_bytes());
    l.backend().write(batch)
}

/// Cut the ledger back to `size` entries, with their tiles, payloads and any
/// checkpoint past `size`, as if the later history never happened.
pub fn truncate<B: Backend>(l: &Ledger<B>, size: u64) -> Result<()> {
    if size > l.size() {
        return Err(StoreError::Invalid(format!(
            "the ledger has only {} entries",
            l.size()
        )));
    }
    let mut batch = WriteBatch::default();
    if size > 0 && size < l.size() {
        let (first, mut records) = piece_of(l, size - 1)?;
        records.truncate((size - first) as usize);
        put_piece(&mut batch, first, &records);
    }
    for cf in [Cf::Bundles, Cf::PayloadBundles] {
        for row in l.backend().scan(cf, &keys::seq_key(size), &[0xff; 9]) {
            batch.delete(cf, row?.0);
        }
    }
    let mut level = 0u8;
    let mut n = size;
    let mut old = l.size();
    while old > 0 {
        // Tiles of this level past the new edge go; the edge tile is cut.
        let keep = n / TILE_WIDTH;
        for index in keep..=old / TILE_WIDTH {
            batch.delete(Cf::Tiles, tile_key(level, index));
        }
        if !n.is_multiple_of(TILE_WIDTH) {
            let hashes = l.nodes().hashes(level, keep * TILE_WIDTH, n % TILE_WIDTH)?;
            batch.put(Cf::Tiles, tile_key(level, keep), hashes.concat());
        }
        n >>= TILE_HEIGHT;
        old >>= TILE_HEIGHT;
        level += 1;
    }
    for row in l
        .backend()
        .scan(Cf::Checkpoints, &keys::seq_key(size + 1), &[0xff; 9])
    {
        batch.delete(Cf::Checkpoints, row?.0);
    }
    batch.put(Cf::Meta, meta::SIZE, size.to_be_bytes());
    batch.put(
        Cf::Meta,
        meta::INDEXED,
        l.indexed_through()?.min(size).to_be_bytes(),
    );
    l.backend().write(batch)?;
    l.forget_cached();
    Ok(())
}
