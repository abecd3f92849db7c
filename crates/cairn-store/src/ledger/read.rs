//! The read path: entries and payloads out of their bundles (through a small
//! cache of decoded pieces, since neighbours are usually read together),
//! proofs and roots out of the tiles, and checkpoints.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_core::decision::{Payload, SALT_LEN};
use cairn_core::entry::{Entry, EntryBody, PayloadSlot};
use cairn_core::hash::{Blake3Hasher, Hash, ZERO_HASH};
use cairn_core::merkle::{self, NodeSource};
use rayon::prelude::*;

use super::{Ledger, PayloadState};
use crate::backend::{Backend, Cf};
use crate::codec::Codec;
use crate::error::{Result, StoreError};
use crate::keys;
use crate::pieces::{self, Slot};

// A piece never crosses a window, and a window is one level-0 tile: the chain
// hashes of a piece come from at most two tiles.
const _: () = assert!(pieces::BUNDLE_ENTRIES == crate::tiles::TILE_WIDTH);

/// Decoded pieces kept per ledger.
const CACHED_PIECES: usize = 8;

type EntryPiece = Arc<Vec<Vec<u8>>>;
type PayloadPiece = Arc<Vec<[Slot; 2]>>;

/// The last few decoded entry and payload pieces, by first seq, and the
/// targets the redaction index names.
#[derive(Debug, Default)]
pub struct PieceCache {
    entries: Mutex<Vec<(u64, EntryPiece)>>,
    payloads: Mutex<Vec<(u64, PayloadPiece)>>,
    /// How many times the payload pieces were forgotten: a piece read before
    /// a redaction's rewrite is not remembered after it (changed under the
    /// `payloads` lock, and compared under it).
    payload_generation: AtomicU64,
    /// Every target seq of the redaction index, read with one scan when a
    /// payload is first read and forgotten whenever the indexer may have added
    /// one: a payload whose seq is not in it needs no look-up of its own (a
    /// scan per payload read cost more than the rest of the read).
    redacted: Mutex<Option<Arc<HashSet<u64>>>>,
}

/// Decoded pieces by first seq, most recent last.
type Pieces<T> = Mutex<Vec<(u64, Arc<Vec<T>>)>>;

fn cached<T: Clone>(list: &Pieces<T>, seq: u64) -> Option<(u64, Arc<Vec<T>>)> {
    let list = list.lock().unwrap_or_else(|p| p.into_inner());
    list.iter()
        .find(|(first, p)| *first <= seq && seq < first + p.len() as u64)
        .cloned()
}

fn remember<T>(list: &Pieces<T>, first: u64, piece: Arc<Vec<T>>) {
    let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|(f, _)| *f != first);
    if list.len() >= CACHED_PIECES {
        list.remove(0);
    }
    list.push((first, piece));
}

impl PieceCache {
    /// Forget every decoded piece (data was changed below the ledger).
    pub fn clear(&self) {
        self.clear_payloads();
        self.forget_redactions();
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Forget the redaction index's targets (the indexer wrote to it). Called
    /// after the write, and the set is loaded under the same lock, so a load
    /// that raced the write is dropped here.
    pub fn forget_redactions(&self) {
        *self.redacted.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Forget decoded payload pieces (a redaction rewrote some).
    pub fn clear_payloads(&self) {
        let mut list = self.payloads.lock().unwrap_or_else(|p| p.into_inner());
        self.payload_generation.fetch_add(1, Ordering::AcqRel);
        list.clear();
    }

    /// The generation to hand to `remember_payload` for a piece about to be read.
    fn payload_generation(&self) -> u64 {
        self.payload_generation.load(Ordering::Acquire)
    }

    /// Remember a payload piece read in generation `read_in`, unless the
    /// pieces were forgotten since (the stored piece may have changed).
    fn remember_payload(&self, first: u64, piece: PayloadPiece, read_in: u64) {
        let mut list = self.payloads.lock().unwrap_or_else(|p| p.into_inner());
        if self.payload_generation.load(Ordering::Acquire) != read_in {
            return;
        }
        list.retain(|(f, _)| *f != first);
        if list.len() >= CACHED_PIECES {
            list.remove(0);
        }
        list.push((first, piece));
    }
}

fn proof_error(e: merkle::ProofError<StoreError>) -> StoreError {
    match e {
        merkle::ProofError::Source(e) => e,
        other => StoreError::Invalid(other.to_string()),
    }
}

impl<B: Backend> Ledger<B> {
    /// Decode a stored entry piece whose first seq is `first`.
    pub fn decode_entry_piece(&self, first: u64, stored: &[u8]) -> Result<Vec<Vec<u8>>> {
        let what = || format!("entry bundle at {first}");
        let raw = Codec::new().decompress(stored, &what)?;
        pieces::decode_entries(&raw, &what, &mut |n| self.chain(first, n))
    }

    /// How many entries a stored entry piece holds (its chain is not needed).
    pub fn entry_piece_len(&self, first: u64, stored: &[u8]) -> Result<usize> {
        let what = || format!("entry bundle at {first}");
        let raw = Codec::new().decompress(stored, &what)?;
        pieces::entry_count(&raw, &what)
    }

    /// The `prev_hash` of seqs `first … first + n − 1`, which a form-2 entry
    /// piece does not store: the leaf hashes before them, from the level-0 tiles
    /// (a piece never crosses a window, and a window is one tile).
    fn chain(&self, first: u64, n: usize) -> Result<Vec<Hash>> {
        let nodes = self.nodes();
        let mut out = Vec::with_capacity(n);
        out.push(match first {
            0 => ZERO_HASH,
            _ => nodes.hashes(0, first - 1, 1)?[0],
        });
        if n > 1 {
            out.extend(nodes.hashes(0, first, n as u64 - 1)?);
        }
        Ok(out)
    }

    /// Decode a stored payload piece whose first seq is `first`.
    /// Every salt is in place, derived ones put back.
    pub fn decode_payload_piece(&self, first: u64, stored: &[u8]) -> Result<Vec<[Slot; 2]>> {
        Ok(self.decode_payload_piece_keyed(first, stored)?.1)
    }

    /// [`Ledger::decode_payload_piece`], with the piece's window key if it has one.
    pub(crate) fn decode_payload_piece_keyed(
        &self,
        first: u64,
        stored: &[u8],
    ) -> Result<(Option<pieces::WindowKey>, Vec<[Slot; 2]>)> {
        let what = || format!("payload bundle at {first}");
        let raw = Codec::new().decompress(stored, &what)?;
        pieces::decode_payloads(&raw, first, &what)
    }

    /// The stored piece of `cf` that may hold `seq`: the one with the greatest
    /// first seq at most `seq` within its window.
    fn piece_value(&self, cf: Cf, seq: u64) -> Result<Option<(u64, Vec<u8>)>> {
        let from = keys::seq_key(pieces::window_start(seq));
        let to = keys::seq_key(seq.saturating_add(1));
        match self.backend.last_in(cf, &from, &to)? {
            None => Ok(None),
            Some((k, v)) => {
                let first = keys::parse_seq(&k)
                    .ok_or_else(|| StoreError::corrupt(cf.name(), "key is not a seq"))?;
                Ok(Some((first, v)))
            }
        }
    }

    /// The decoded entry piece holding `seq`, if one does.
    pub(crate) fn entry_piece(&self, seq: u64) -> Result<Option<(u64, EntryPiece)>> {
        if let Some(hit) = cached(&self.cache.entries, seq) {
            return Ok(Some(hit));
        }
        let Some((first, v)) = self.piece_value(Cf::Bundles, seq)? else {
            return Ok(None);
        };
        let piece = Arc::new(self.decode_entry_piece(first, &v)?);
        if seq >= first + piece.len() as u64 {
            return Ok(None);
        }
        remember(&self.cache.entries, first, piece.clone());
        Ok(Some((first, piece)))
    }

    /// The decoded payload piece holding `seq`, if one does.
    pub(crate) fn payload_piece(&self, seq: u64) -> Result<Option<(u64, PayloadPiece)>> {
        if let Some(hit) = cached(&self.cache.payloads, seq) {
            return Ok(Some(hit));
        }
        let generation = self.cache.payload_generation();
        let Some((first, v)) = self.piece_value(Cf::PayloadBundles, seq)? else {
            return Ok(None);
        };
        let piece = Arc::new(self.decode_payload_piece(first, &v)?);
        if seq >= first + piece.len() as u64 {
            return Ok(None);
        }
        self.cache
            .remember_payload(first, piece.clone(), generation);
        Ok(Some((first, piece)))
    }

    /// The canonical (uncompressed) bytes of entry `seq`.
    pub fn entry_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .entry_piece(seq)?
            .and_then(|(first, p)| p.get((seq - first) as usize).cloned()))
    }

    /// The leaf hash the tree holds for `seq`.
    pub fn leaf(&self, seq: u64) -> Result<Hash> {
        self.nodes().subtree(0, seq)
    }

    /// Entry `seq`, decoded, with its link checked right after reading: the entry must
    /// say it is `seq` and hash to the leaf the tree holds.
    pub fn entry(&self, seq: u64) -> Result<Entry> {
        self.read_entry(seq, self.size())
    }

    pub(crate) fn read_entry(&self, seq: u64, size: u64) -> Result<Entry> {
        if seq >= size {
            return Err(StoreError::OutOfRange {
                what: format!("seq {seq}"),
                size,
            });
        }
        let bytes = self
            .entry_bytes(seq)?
            .ok_or_else(|| StoreError::corrupt(format!("entry {seq}"), "missing"))?;
        let entry = Entry::decode(&bytes)
            .map_err(|e| StoreError::corrupt(format!("entry {seq}"), e.to_string()))?;
        if entry.seq != seq {
            return Err(StoreError::corrupt(
                format!("entry {seq}"),
                format!("says it is seq {}", entry.seq),
            ));
        }
        if self.leaf(seq)? != cairn_core::hash::leaf_hash(&bytes) {
            return Err(StoreError::corrupt(
                format!("entry {seq}"),
                "hash differs from the tree's leaf",
            ));
        }
        Ok(entry)
    }

    /// What slot `slot` of `seq` holds, as stored (`None` when no piece has it).
    pub fn payload_slot(&self, seq: u64, slot: PayloadSlot) -> Result<Option<Slot>> {
        Ok(self.payload_piece(seq)?.and_then(|(first, p)| {
            p.get((seq - first) as usize)
                .map(|s| s[slot.as_byte() as usize].clone())
        }))
    }

    /// A stored payload, or `None` when it was erased (or is missing).
    /// A payload that a redaction erased but that is stored again (restored
    /// from a backup) is never returned.
    pub fn payload(&self, seq: u64, slot: PayloadSlot) -> Result<Option<Payload>> {
        match self.payload_slot(seq, slot)? {
            Some(Slot::Stored(_)) if self.erased_by(seq, slot)?.is_some() => Ok(None),
            Some(Slot::Stored(raw)) => split_payload(seq, slot, &raw).map(Some),
            _ => Ok(None),
        }
    }

    /// The redaction, found through the redaction index, that erased `slot` of
    /// entry `seq`, if any: what keeps a payload stored again after its
    /// redaction (restored from a backup) from being served. (A redaction
    /// above the indexer's watermark rewrote the slot in its own commit.)
    fn erased_by(&self, seq: u64, slot: PayloadSlot) -> Result<Option<u64>> {
        if !self.redacted_targets()?.contains(&seq) {
            return Ok(None);
        }
        let from = keys::redaction_key(seq, 0);
        let to = keys::prefix_end(&from[..9]);
        for row in self.backend.scan(Cf::Index, &from, &to) {
            let (k, _) = row?;
            let (_, by) = redaction_key(&k)?;
            if self.erases(by, seq, slot)? {
                return Ok(Some(by));
            }
        }
        Ok(None)
    }

    /// Every target seq the redaction index names (loaded once, see
    /// [`PieceCache`]).
    fn redacted_targets(&self) -> Result<Arc<HashSet<u64>>> {
        let mut held = self
            .cache
            .redacted
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(set) = &*held {
            return Ok(set.clone());
        }
        let from = [keys::REDACTION_TAG];
        let to = [keys::REDACTION_TAG + 1];
        let mut set = HashSet::new();
        for row in self.backend.scan(Cf::Index, &from, &to) {
            let (k, _) = row?;
            let (target, _) = redaction_key(&k)?;
            set.insert(target);
        }
        let set = Arc::new(set);
        *held = Some(set.clone());
        Ok(set)
    }

    /// A decision's payload as a reader should see it: stored, erased by a
    /// redaction entry that names it, or missing with no redaction to explain
    /// it, which is damage.
    pub fn payload_state(&self, seq: u64, slot: PayloadSlot) -> Result<PayloadState> {
        self.state_of(seq, slot, self.payload_slot(seq, slot)?)
    }

    /// [`Ledger::payload_state`] of both payloads of each of `seqs`, in the
    /// order given. Each piece they lie in is read and decoded once, and the
    /// windows are read in parallel: a selection scattered over the ledger
    /// (one subject's decisions, say) costs a decompression per window, not
    /// one per payload, spread over the cores.
    pub fn payload_states(&self, seqs: &[u64]) -> Result<Vec<[PayloadState; 2]>> {
        let mut windows: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, &seq) in seqs.iter().enumerate() {
            windows
                .entry(pieces::window_start(seq))
                .or_default()
                .push(i);
        }
        let windows: Vec<Vec<usize>> = windows.into_values().collect();
        let read: Vec<Vec<(usize, [PayloadState; 2])>> = windows
            .par_iter()
            .map(|at| {
                let mut held: Option<(u64, PayloadPiece)> = None;
                at.iter()
                    .map(|&i| {
                        let seq = seqs[i];
                        let fits = |(first, p): &(u64, PayloadPiece)| {
                            *first <= seq && seq < first + p.len() as u64
                        };
                        if !held.as_ref().is_some_and(fits) {
                            held = self.payload_piece(seq)?;
                        }
                        let stored = |slot: PayloadSlot| {
                            held.as_ref().filter(|h| fits(h)).and_then(|(first, p)| {
                                p.get((seq - first) as usize)
                                    .map(|s| s[slot.as_byte() as usize].clone())
                            })
                        };
                        let [a, b] = PayloadSlot::ALL;
                        Ok((
                            i,
                            [
                                self.state_of(seq, a, stored(a))?,
                                self.state_of(seq, b, stored(b))?,
                            ],
                        ))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let mut out: Vec<Option<[PayloadState; 2]>> = vec![None; seqs.len()];
        for (i, states) in read.into_iter().flatten() {
            out[i] = Some(states);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// What `stored` (slot `slot` of `seq` as its piece holds it) is to a reader.
    fn state_of(&self, seq: u64, slot: PayloadSlot, stored: Option<Slot>) -> Result<PayloadState> {
        match stored {
            Some(Slot::Stored(raw)) => match self.erased_by(seq, slot)? {
                Some(by) => Ok(PayloadState::Erased { by: vec![by] }),
                None => Ok(PayloadState::Stored(split_payload(seq, slot, &raw)?)),
            },
            Some(Slot::Erased(by)) if self.erases(by, seq, slot)? => {
                Ok(PayloadState::Erased { by: vec![by] })
            }
            _ => Ok(PayloadState::Missing),
        }
    }

    /// Whether entry `by` is a redaction, after `seq`, that erased `slot` of it.
    pub fn erases(&self, by: u64, seq: u64, slot: PayloadSlot) -> Result<bool> {
        if by <= seq || by >= self.size() {
            return Ok(false);
        }
        Ok(match self.entry(by)?.body {
            EntryBody::RedactionV1(r) => r.target_seq == seq && r.slots.contains(&slot),
            _ => false,
        })
    }

    /// The redaction entries that erased payloads of `target`, ascending.
    pub fn redactions_of(&self, target: u64) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for slot in PayloadSlot::ALL {
            if let Some(Slot::Erased(by)) = self.payload_slot(target, slot)? {
                out.push(by);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Root of the tree over the first `size` entries, from stored tiles.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        merkle::root(&Blake3Hasher, &self.nodes(), size)
    }

    /// Inclusion proof of `seq` in the tree of `size` entries.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        merkle::inclusion_proof(&Blake3Hasher, &self.nodes(), seq, size).map_err(proof_error)
    }

    /// Consistency proof from the tree of `old` entries to the tree of `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.check_size(new)?;
        merkle::consistency_proof(&Blake3Hasher, &self.nodes(), old, new).map_err(proof_error)
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let have = self.size();
        if size > have {
            return Err(StoreError::OutOfRange {
                what: format!("tree size {size}"),
                size: have,
            });
        }
        Ok(())
    }

    /// Every stored checkpoint, by size.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Checkpoints, &[], &[0xff; 9]) {
            let (k, v) = row?;
            out.push(checkpoint_row(&k, v)?);
        }
        Ok(out)
    }

    /// The newest stored checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        match self.backend.last_in(Cf::Checkpoints, &[], &[0xff; 9])? {
            None => Ok(None),
            Some((k, v)) => checkpoint_row(&k, v).map(Some),
        }
    }

    /// Call `f` with every entry `[from, to)` in order (seq and canonical
    /// bytes), reading whole pieces; an entry that is missing is an error.
    pub fn for_each_entry(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut seq = from;
        while seq < to {
            let (first, piece) = self
                .entry_piece(seq)?
                .ok_or_else(|| StoreError::corrupt(format!("entry {seq}"), "missing"))?;
            let end = (first + piece.len() as u64).min(to);
            for s in seq..end {
                f(s, &piece[(s - first) as usize])?;
            }
            seq = end;
        }
        Ok(())
    }
}

fn checkpoint_row(k: &[u8], v: Vec<u8>) -> Result<(u64, String)> {
    let size = keys::parse_seq(k)
        .ok_or_else(|| StoreError::corrupt("checkpoints", "key is not a size"))?;
    let note = String::from_utf8(v)
        .map_err(|_| StoreError::corrupt(format!("checkpoint at size {size}"), "not UTF-8"))?;
    Ok((size, note))
}

/// A stored `salt ‖ payload` as a [`Payload`].
pub(crate) fn split_payload(seq: u64, slot: PayloadSlot, raw: &[u8]) -> Result<Payload> {
    if raw.len() < SALT_LEN {
        return Err(StoreError::corrupt(
            format!("{} payload of entry {seq}", slot.name()),
            "shorter than its salt",
        ));
    }
    let (salt, bytes) = raw.split_at(SALT_LEN);
    let mut s = [0u8; SALT_LEN];
    s.copy_from_slice(salt);
    Ok(Payload {
        salt: s,
        bytes: bytes.to_vec(),
    })
}

/// A redaction index key's target and redaction seqs.
pub(crate) fn redaction_key(k: &[u8]) -> Result<(u64, u64)> {
    keys::parse_redaction_key(k)
        .ok_or_else(|| StoreError::corrupt("redaction index key", "not 17 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_piece_read_before_its_window_was_rewritten_is_not_remembered() {
        let cache = PieceCache::default();
        let old = Arc::new(vec![[
            Slot::Stored(b"salt and payload".to_vec()),
            Slot::None,
        ]]);
        // A reader starts; a redaction rewrites the piece and forgets the
        // cached ones; the reader then offers the piece it read before.
        let read_in = cache.payload_generation();
        cache.clear_payloads();
        cache.remember_payload(0, old.clone(), read_in);
        assert!(cached(&cache.payloads, 0).is_none());
        // Read after the rewrite, it is remembered.
        cache.remember_payload(0, old, cache.payload_generation());
        assert!(cached(&cache.payloads, 0).is_some());
    }
}
