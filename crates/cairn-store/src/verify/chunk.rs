//! Checking one chunk of consecutive entries: the bundles that hold them,
//! each entry's seq, leaf (against the tree's level-0 tile), link to the entry
//! before and payload commitments. Chunks are checked in parallel; the links
//! between chunks and the tree are checked by the walk in `verify`.

use cairn_core::decision::SALT_LEN;
use cairn_core::entry::{BodyView, EntryView, PayloadSlot};
use cairn_core::hash::{leaf_hash, payload_commitment, Hash, ZERO_HASH};

use super::{push_damage, Damage, DamageKind, Erasure};
use crate::backend::{Backend, Cf, KeyValue};
use crate::error::{Result, StoreError};
use crate::keys;
use crate::ledger::Ledger;
use crate::pieces::{self, Slot};
use crate::tiles::{tile_key, TILE_WIDTH};

type Rows<'a> = std::iter::Peekable<Box<dyn Iterator<Item = Result<KeyValue>> + 'a>>;

/// Reads one column family in key order alongside the entry walk, so that the
/// walk costs iterator steps rather than point reads.
struct Cursor<'a> {
    rows: Rows<'a>,
}

impl<'a> Cursor<'a> {
    fn new<B: Backend>(backend: &'a B, cf: Cf, from: &[u8], to: &[u8]) -> Cursor<'a> {
        Cursor {
            rows: backend.scan(cf, from, to).peekable(),
        }
    }

    /// The value at `key`, skipping smaller keys; `None` if absent.
    fn take(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        loop {
            match self.rows.peek() {
                None => return Ok(None),
                Some(Ok((k, _))) if k.as_slice() < key => {
                    self.rows.next();
                }
                Some(Ok((k, _))) if k.as_slice() > key => return Ok(None),
                Some(_) => return self.rows.next().transpose().map(|kv| kv.map(|(_, v)| v)),
            }
        }
    }
}

/// What checking one chunk of consecutive entries found. Chunks are checked in
/// parallel; the tree and the links between chunks are checked afterwards.
#[derive(Default)]
pub(super) struct ChunkReport {
    /// The leaf each seq contributes to the tree, in order.
    pub(super) leaves: Vec<Hash>,
    /// `prev_hash` of the chunk's first entry, when it could be read.
    pub(super) first_prev: Option<Hash>,
    pub(super) entries: u64,
    pub(super) payloads: u64,
    pub(super) payload_bytes: u64,
    pub(super) erased: Vec<Erasure>,
    pub(super) damage: Vec<Damage>,
}

/// Checks consecutive entries `[from, to)`: decoding, seq, leaf, chain link and
/// payload commitments.
struct Chunk<'l, B: Backend> {
    ledger: &'l Ledger<B>,
    payloads: Cursor<'l>,
    /// The level-0 tile last read: its index and bytes.
    leaf_tile: Option<(u64, Option<Vec<u8>>)>,
    /// The leaf before the current entry, when known.
    prev: Option<Hash>,
    out: ChunkReport,
    /// The first read that failed for want of the data, not for its damage
    /// (an archive that could not be reached): the chunk could not be checked.
    unread: Option<StoreError>,
}

/// Check entries `[from, to)` on its own cursors.
pub(super) fn check_chunk<B: Backend>(
    ledger: &Ledger<B>,
    from: u64,
    to: u64,
    prev: Option<Hash>,
) -> Result<ChunkReport> {
    let backend = ledger.backend();
    let start = keys::seq_key(pieces::window_start(from));
    let mut chunk = Chunk {
        ledger,
        payloads: Cursor::new(backend, Cf::PayloadBundles, &start, &keys::seq_key(to)),
        leaf_tile: None,
        prev,
        out: ChunkReport {
            leaves: Vec::with_capacity((to - from) as usize),
            ..ChunkReport::default()
        },
        unread: None,
    };
    chunk.entries(from, to)?;
    // What could not be read is not damage: the chunk was not checked.
    if let Some(e) = chunk.unread.take() {
        return Err(e);
    }
    Ok(chunk.out)
}

impl<'l, B: Backend> Chunk<'l, B> {
    fn damage(&mut self, seq: Option<u64>, kind: DamageKind, detail: String) {
        push_damage(&mut self.out.damage, seq, kind, detail);
    }

    /// Walk the entry bundles that hold `[from, to)`.
    fn entries(&mut self, from: u64, to: u64) -> Result<()> {
        let ledger = self.ledger;
        let mut expected = from;
        let start = keys::seq_key(pieces::window_start(from));
        for row in ledger
            .backend()
            .scan(Cf::Bundles, &start, &keys::seq_key(to))
        {
            let (k, v) = match row {
                Ok(kv) => kv,
                Err(e) if e.is_engine_corruption() => {
                    self.damage(Some(expected), DamageKind::Unreadable, e.to_string());
                    break;
                }
                Err(e) => return Err(e),
            };
            let Some(first) = keys::parse_seq(&k) else {
                let detail = format!(
                    "an entry bundle's key ({}) is not a seq",
                    super::key_hex(&k)
                );
                self.damage(Some(expected), DamageKind::Unreadable, detail);
                continue;
            };
            let mut slots = self.payload_piece(first);
            let entries = match ledger.decode_entry_piece(first, &v) {
                Ok(e) => e,
                Err(e) => {
                    // The whole bundle is unreadable: its entries count as altered.
                    let end = to.min(pieces::window_start(first) + pieces::BUNDLE_ENTRIES);
                    while expected < end.max(expected.min(to)) && expected < to {
                        let detail = format!("entry {expected}: {e}");
                        self.damage(Some(expected), DamageKind::Altered, detail);
                        let stored = self.stored_leaf(expected);
                        self.advance(stored.unwrap_or(ZERO_HASH));
                        expected += 1;
                    }
                    continue;
                }
            };
            for (i, bytes) in entries.iter().enumerate() {
                let seq = first + i as u64;
                if seq < expected || seq >= to {
                    continue;
                }
                while expected < seq {
                    self.missing(expected);
                    expected += 1;
                }
                // Each entry's slots are taken, not copied: payloads are most
                // of the bytes a walk moves.
                let slot_pair = slots
                    .as_mut()
                    .and_then(|s| s.get_mut(i))
                    .map(|pair| std::mem::replace(pair, [Slot::None, Slot::None]));
                self.entry(seq, bytes, slot_pair)?;
                expected = seq + 1;
            }
        }
        while expected < to {
            self.missing(expected);
            expected += 1;
        }
        Ok(())
    }

    /// The payload piece stored under `first`, if it is there and readable.
    fn payload_piece(&mut self, first: u64) -> Option<Vec<[Slot; 2]>> {
        let read = self.payloads.take(&keys::seq_key(first));
        let v = self.readable(read)?;
        self.ledger.decode_payload_piece(first, &v).ok()
    }

    /// Whether entry `by` is a redaction that erased `slot` of `seq` (no when
    /// that cannot be read: damage, or `unread`).
    fn erased_by(&mut self, by: u64, seq: u64, slot: PayloadSlot) -> bool {
        match self.ledger.erases(by, seq, slot) {
            Ok(erased) => erased,
            Err(e) => {
                if e.is_unavailable() {
                    self.unread.get_or_insert(e);
                }
                false
            }
        }
    }

    /// The value a read found; `None` when there is none, or it is damaged,
    /// or it could not be read (remembered in `unread`).
    fn readable(&mut self, read: Result<Option<Vec<u8>>>) -> Option<Vec<u8>> {
        match read {
            Ok(v) => v,
            Err(e) if e.is_unavailable() => {
                self.unread.get_or_insert(e);
                None
            }
            Err(_) => None,
        }
    }

    /// The leaf the tree's level-0 tile holds for `seq`.
    fn stored_leaf(&mut self, seq: u64) -> Option<Hash> {
        let index = seq / TILE_WIDTH;
        if self.leaf_tile.as_ref().map(|(i, _)| *i) != Some(index) {
            let read = self.ledger.backend().get(Cf::Tiles, &tile_key(0, index));
            let tile = self.readable(read);
            self.leaf_tile = Some((index, tile));
        }
        let (_, tile) = self.leaf_tile.as_ref()?;
        let off = (seq % TILE_WIDTH) as usize * 32;
        tile.as_ref()?
            .get(off..off + 32)
            .and_then(|b| Hash::try_from(b).ok())
    }

    fn missing(&mut self, seq: u64) {
        let detail = format!("entry {seq} is missing");
        self.damage(Some(seq), DamageKind::Missing, detail);
        let stored = self.stored_leaf(seq).unwrap_or(ZERO_HASH);
        self.advance(stored);
    }

    /// Move past an entry whose leaf (for the chain and the tree) is `leaf`.
    fn advance(&mut self, leaf: Hash) {
        self.prev = Some(leaf);
        self.out.leaves.push(leaf);
    }

    fn entry(&mut self, seq: u64, bytes: &[u8], slots: Option<[Slot; 2]>) -> Result<()> {
        self.out.entries += 1;
        let stored_leaf = self.stored_leaf(seq);
        let leaf = leaf_hash(bytes);
        // Borrowed: a walk keeps nothing of an entry but what it checks.
        let entry = match EntryView::decode(bytes) {
            Ok(e) => e,
            Err(e) => {
                self.damage(
                    Some(seq),
                    DamageKind::Altered,
                    format!("entry {seq} does not decode: {e}"),
                );
                self.advance(stored_leaf.unwrap_or(leaf));
                return Ok(());
            }
        };
        if entry.seq != seq {
            let detail = format!("the entry stored at seq {seq} says it is seq {}", entry.seq);
            self.damage(Some(seq), DamageKind::Reordered, detail);
            self.advance(stored_leaf.unwrap_or(leaf));
            return Ok(());
        }
        if stored_leaf != Some(leaf) {
            let detail = format!(
                "entry {seq} was altered: its hash differs from the leaf recorded in the tree"
            );
            self.damage(Some(seq), DamageKind::Altered, detail);
            self.advance(stored_leaf.unwrap_or(leaf));
            return Ok(());
        }
        match self.prev {
            None => self.out.first_prev = Some(entry.prev_hash),
            Some(prev) if entry.prev_hash != prev && seq > 0 => {
                let detail = format!(
                    "entry {} was altered: entry {seq} records a different hash for it",
                    seq - 1
                );
                self.damage(Some(seq - 1), DamageKind::Altered, detail);
            }
            Some(_) if entry.prev_hash != ZERO_HASH && seq == 0 => {
                self.damage(
                    Some(0),
                    DamageKind::Altered,
                    "entry 0 must have a zero prev_hash".into(),
                );
            }
            Some(_) => {}
        }
        self.payloads(&entry, slots)?;
        self.redaction(&entry)?;
        self.advance(leaf);
        Ok(())
    }

    fn payloads(&mut self, entry: &EntryView, slots: Option<[Slot; 2]>) -> Result<()> {
        let BodyView::DecisionV1(d) = &entry.body else {
            return Ok(());
        };
        let seq = entry.seq;
        for slot in PayloadSlot::ALL {
            let committed = d.payload(slot);
            let held = slots.as_ref().map(|s| &s[slot.as_byte() as usize]);
            match held {
                Some(Slot::Stored(raw)) if raw.len() >= SALT_LEN => {
                    // `raw` is salt ‖ payload, so its hash is the commitment.
                    let len = (raw.len() - SALT_LEN) as u64;
                    self.out.payloads += 1;
                    self.out.payload_bytes += len;
                    let ok = len == committed.len
                        && payload_commitment(raw, &[]) == committed.commitment;
                    if !ok {
                        let detail = format!(
                            "the {} of entry {seq} does not match its commitment",
                            slot.name()
                        );
                        self.damage(Some(seq), DamageKind::CommitmentMismatch, detail);
                    }
                }
                Some(Slot::Stored(_)) => {
                    let detail = format!(
                        "the {} of entry {seq} is shorter than its salt",
                        slot.name()
                    );
                    self.damage(Some(seq), DamageKind::CommitmentMismatch, detail);
                }
                Some(Slot::Erased(by)) if self.erased_by(*by, seq, slot) => {
                    self.out.erased.push(Erasure { seq, slot, by: *by });
                }
                _ => {
                    let detail = format!(
                        "the {} of entry {seq} is gone and no redaction entry erased it",
                        slot.name()
                    );
                    self.damage(Some(seq), DamageKind::PayloadMissing, detail);
                }
            }
        }
        Ok(())
    }

    /// A redaction's payloads must be gone: one present again (restored from
    /// a backup) is damage, not an erasure.
    fn redaction(&mut self, entry: &EntryView) -> Result<()> {
        let BodyView::RedactionV1(r) = &entry.body else {
            return Ok(());
        };
        for slot in &r.slots {
            if let Ok(Some(Slot::Stored(_))) = self.ledger.payload_slot(r.target_seq, *slot) {
                let detail = format!(
                    "the {} of entry {} was erased by redaction {} but is stored again",
                    slot.name(),
                    r.target_seq,
                    entry.seq
                );
                self.damage(Some(r.target_seq), DamageKind::PayloadMissing, detail);
            }
        }
        Ok(())
    }
}
