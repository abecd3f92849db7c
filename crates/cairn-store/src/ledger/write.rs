//! The write path: one group commit is one write batch with one fsync, holding
//! the commit's entry and payload bundles, the tree tiles it changed, its
//! idempotency keys and the new size. Secondary indexes are not on this path
//! (see `index`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use cairn_core::entry::{Entry, EntryBody, PayloadSlot, RedactionV1};
use cairn_core::hash::{leaf_hash, Blake3Hasher};
use rayon::prelude::*;

use super::layout::{cuts, Early, Job};
use super::salt::{key_of, pack, Packed, Plan};
use super::{Append, Head, Ledger, OpenWindow, Receipt, State};
use crate::backend::{Backend, Cf, WriteBatch};
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::pieces::{self, Record, Slot, WindowKey, BUNDLE_ENTRIES};
use crate::tiles::TileEdge;

/// Decisions salted and laid out per task on the pool, while the appending
/// thread stages the chunks before.
const PACK_CHUNK_ITEMS: usize = 64;

/// An erasure staged by a redaction: (target seq, slot, redaction seq).
pub(super) type Erasure = (u64, PayloadSlot, u64);

/// What an append builds before it writes.
pub(super) struct Staged {
    pub(super) batch: WriteBatch,
    pub(super) head: Head,
    pub(super) tiles: TileEdge,
    /// Full tiles completed by this batch.
    pub(super) tile_puts: Vec<([u8; 9], Vec<u8>)>,
    /// Entries durable before this batch.
    pub(super) committed: u64,
    pub(super) seen_keys: HashMap<Vec<u8>, Receipt>,
    /// The batch's new records, seqs `committed..head.size`.
    pub(super) records: Vec<Record>,
    pub(super) erasures: Vec<Erasure>,
    /// Payload pieces rewritten by erasures, by key.
    pub(super) rewrites: BTreeMap<u64, Vec<[Slot; 2]>>,
    /// The salt keys of the windows this batch writes to, by window start:
    /// the open window's, and a new one for each window the batch starts.
    /// `None` for a window whose salts are drawn at random.
    pub(super) keys: BTreeMap<u64, Option<WindowKey>>,
}

impl<B: Backend> Ledger<B> {
    /// Append entries as one atomic, durable batch (one write, one fsync), and
    /// return one receipt per item in order. On a failed write nothing is stored
    /// and the ledger refuses appends until reopened.
    pub fn append(&self, items: Vec<Append>, recorded_at_us: i64) -> Result<Vec<Receipt>> {
        let mut state = self.state();
        if let Some(reason) = &state.poisoned {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        self.check_free_space()?;
        let mut st = self.staged(&state);
        let plan = self.plan(&items)?;
        let seqs = self.seqs(&mut st.keys, st.head.size, &plan)?;
        // The salts are drawn from the window keys as they are before staging
        // (a redaction staged later drops its window's key from `st.keys`).
        let keys = st.keys.clone();
        let mut receipts = Vec::with_capacity(items.len());
        let mut early = Early::new(st.committed);
        // A redaction may change records of the windows before it, so a batch
        // that holds one lays its windows out only once it is staged whole.
        let overlap = !items.iter().any(|i| matches!(i, Append::Redaction(_)));
        let mut plan = plan.into_iter();
        let mut stage = |st: &mut Staged, item: Packed| -> Result<()> {
            let plan = plan.next().ok_or_else(|| {
                StoreError::Invalid("more items than the batch was planned for".into())
            })?;
            receipts.push(self.stage(st, item, plan, recorded_at_us)?);
            let size = st.head.size;
            if overlap && size.is_multiple_of(BUNDLE_ENTRIES) && size > early.laid_out {
                self.lay_out_early(&state.open, st, &mut early, size);
            }
            Ok(())
        };
        let inline = items.len() < self.pool_min_items.max(PACK_CHUNK_ITEMS);
        let pairs = items.into_iter().zip(seqs);
        if inline {
            // A small group is packed on this thread
            // (`Ledger::set_small_groups_inline`), or in one piece.
            for (item, seq) in pairs {
                stage(&mut st, pack(item, seq, &keys)?)?;
            }
        } else {
            pack_on_pool(pairs, &keys, |item| stage(&mut st, item))?;
        }
        if st.head.size == state.head.size {
            state.last_append_sync = None;
            return Ok(receipts);
        }
        self.commit(&mut state, st, early)?;
        Ok(receipts)
    }

    /// Write a staged batch (bundles, tiles, size) with one fsync and adopt it.
    /// The bundles of `early`'s windows are already being compressed.
    fn commit(&self, state: &mut State, mut st: Staged, early: Early) -> Result<()> {
        // A merge: this commit seals a window whose earlier fragments it deletes.
        let merge = Self::sealing(&state.open, &st) && !state.open.fragments.is_empty();
        let jobs = self.bundle_jobs(&state.open, &mut st, early.laid_out);
        // A small group's pieces may be compressed on this thread
        // (`Ledger::set_small_groups_inline`).
        let rest: Vec<(Cf, u64, Vec<u8>)> = if st.records.len() < self.pool_min_items {
            jobs.into_iter().map(Job::run).collect()
        } else {
            jobs.into_par_iter().map(Job::run).collect()
        };
        let mut stored = early.collect()?;
        stored.extend(rest);
        for (cf, key, value) in stored {
            st.batch.put(cf, keys::seq_key(key), value);
        }
        for (k, v) in st.tile_puts.drain(..).chain(st.tiles.take()) {
            st.batch.put(Cf::Tiles, k, v);
        }
        st.batch
            .put(Cf::Meta, meta::SIZE, st.head.size.to_be_bytes());
        // Durable with the redaction: the windows whose old copies must still
        // be purged, so that a crash before the purge is finished by the next
        // writer to open the ledger (`finish_purges`).
        for (target, _, _) in &st.erasures {
            st.batch
                .put(Cf::Meta, meta::purge(pieces::window_start(*target)), []);
        }
        if merge {
            crate::failpoint::hit("merge-before-write");
        }
        if let Err(e) = self.backend.write(std::mem::take(&mut st.batch)) {
            let e = self.classify_failed_write(e);
            state.poisoned = Some(e.to_string());
            return Err(e);
        }
        if merge {
            crate::failpoint::hit("merge-after-write");
        }
        state.last_append_sync = self.backend.last_sync();
        if !st.erasures.is_empty() {
            self.cache.clear_payloads();
        }
        adopt(state, st);
        self.size.store(state.head.size, Ordering::Release);
        Ok(())
    }

    /// Append records whose entries are already encoded (a migration from an
    /// older layout), as one batch. Each entry must be the next seq and link
    /// to the entry before; payload slots are stored as given.
    pub(crate) fn import(&self, records: Vec<Record>) -> Result<()> {
        let mut state = self.state();
        if let Some(reason) = &state.poisoned {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        let mut st = self.staged(&state);
        for r in records {
            let seq = st.head.size;
            let entry = Entry::decode(&r.entry).map_err(|e| {
                StoreError::corrupt(
                    format!("entry {seq}"),
                    format!("{e}; run `cairn verify` on the original"),
                )
            })?;
            if entry.seq != seq || entry.prev_hash != st.head.last_leaf {
                return Err(StoreError::corrupt(
                    format!("entry {seq}"),
                    "does not follow the entry before it; run `cairn verify` on the original",
                ));
            }
            let leaf = leaf_hash(&r.entry);
            self.push_leaf(&mut st, leaf);
            st.records.push(r);
            st.head.size += 1;
            st.head.last_leaf = leaf;
        }
        if st.records.is_empty() {
            return Ok(());
        }
        let early = Early::new(st.committed);
        self.commit(&mut state, st, early)
    }

    /// Refuse the append, writing nothing, while free space is below the reserve.
    fn check_free_space(&self) -> Result<()> {
        if self.disk_reserve == 0 {
            return Ok(());
        }
        match self.backend.free_bytes() {
            Some(free) if free < self.disk_reserve => Err(StoreError::DiskFull {
                free,
                reserve: self.disk_reserve,
                poisoned: false,
            }),
            _ => Ok(()),
        }
    }

    /// A failed write on a file system with next to no space left failed for
    /// want of space (told by the free space measured, not by the message).
    fn classify_failed_write(&self, e: StoreError) -> StoreError {
        match self.backend.free_bytes() {
            Some(free) if free < self.disk_reserve.max(super::DISK_FULL_BELOW) => {
                StoreError::DiskFull {
                    free,
                    reserve: self.disk_reserve,
                    poisoned: true,
                }
            }
            _ => e,
        }
    }

    fn staged(&self, state: &State) -> Staged {
        Staged {
            batch: WriteBatch::default(),
            head: state.head.clone(),
            tiles: state.tiles.clone(),
            tile_puts: Vec::new(),
            committed: state.head.size,
            seen_keys: HashMap::new(),
            records: Vec::new(),
            erasures: Vec::new(),
            rewrites: BTreeMap::new(),
            keys: if state.open.records.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([(state.open.start, state.open.key)])
            },
        }
    }

    fn push_leaf(&self, st: &mut Staged, leaf: cairn_core::hash::Hash) {
        for (level, index, hash) in st.head.edge.push(&Blake3Hasher, leaf) {
            if let Some(full) = st.tiles.push(level, index, &hash) {
                st.tile_puts.push(full);
            }
        }
    }

    /// Make sure the payloads erased by redactions of `targets` leave no copy
    /// in the storage engine's files (call after the redactions are appended).
    pub fn purge_erased(&self, targets: &[u64]) -> Result<()> {
        let windows: Vec<u64> = targets.iter().map(|t| pieces::window_start(*t)).collect();
        self.purge_windows(&windows)
    }

    /// Finish the purges a redaction left pending (a process stopped between
    /// the redaction's write and its purge); returns how many windows were
    /// purged. Writers call this when they open the ledger.
    pub fn finish_purges(&self) -> Result<usize> {
        let mut end = meta::PURGE_PREFIX.to_vec();
        end.push(0xff);
        let mut windows = Vec::new();
        for row in self.backend.scan(Cf::Meta, meta::PURGE_PREFIX, &end) {
            let (key, _) = row?;
            let window = key
                .get(meta::PURGE_PREFIX.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| {
                    StoreError::corrupt("pending purges", "a key that is not a window")
                })?;
            windows.push(window);
        }
        self.purge_windows(&windows)?;
        Ok(windows.len())
    }

    fn purge_windows(&self, windows: &[u64]) -> Result<()> {
        for &w in windows {
            self.backend.purge(
                Cf::PayloadBundles,
                &keys::seq_key(w),
                &keys::seq_key(w + BUNDLE_ENTRIES),
            )?;
        }
        if windows.is_empty() {
            return Ok(());
        }
        let mut done = WriteBatch::default();
        for &w in windows {
            done.delete(Cf::Meta, meta::purge(w));
        }
        self.backend.write(done)
    }

    fn stage(
        &self,
        st: &mut Staged,
        item: Packed,
        plan: Plan,
        recorded_at_us: i64,
    ) -> Result<Receipt> {
        let ik = match plan {
            Plan::Fresh(ik) => ik,
            Plan::Stored(r) => return Ok(r),
            Plan::InBatch(ik) => {
                let r = st.seen_keys.get(&ik).ok_or_else(|| {
                    StoreError::corrupt("idempotency keys", "a repeat before its first")
                })?;
                return Ok(Receipt {
                    duplicate: true,
                    ..*r
                });
            }
        };
        let seq = st.head.size;
        let prev_hash = st.head.last_leaf;
        let framed = |body| {
            Entry {
                seq,
                prev_hash,
                recorded_at_us,
                body,
            }
            .encode()
        };
        let none = || [Slot::None, Slot::None];
        let (bytes, payloads) = match item {
            Packed::Decision { body, stored } => (
                Entry::encode_framed(seq, &prev_hash, recorded_at_us, &body),
                stored.map(Slot::Stored),
            ),
            Packed::Other(other) => match *other {
                Append::Redaction(r) => {
                    self.stage_redaction(st, &r, seq)?;
                    (framed(EntryBody::RedactionV1(r)), none())
                }
                Append::Replay(r) => (framed(EntryBody::ReplayV1(r)), none()),
                Append::Alert(a) => (framed(EntryBody::AlertV1(a)), none()),
                // `pack` packs every decision that is appended.
                Append::Decision(_) | Append::Unsalted(_) => {
                    return Err(StoreError::Invalid("a decision was not packed".into()))
                }
            },
        };
        if bytes.len() > cairn_core::entry::ENTRY_WRITE_BYTES_MAX {
            return Err(StoreError::Invalid(format!(
                "entry would be {} bytes, over the limit of {}",
                bytes.len(),
                cairn_core::entry::ENTRY_WRITE_BYTES_MAX
            )));
        }
        let leaf = leaf_hash(&bytes);
        self.push_leaf(st, leaf);
        let receipt = Receipt {
            seq,
            leaf_hash: leaf,
            duplicate: false,
        };
        if let Some(ik) = ik {
            st.batch.put(Cf::Index, ik.clone(), keys::seq_key(seq));
            st.seen_keys.insert(ik, receipt);
        }
        st.records.push(Record {
            entry: bytes,
            payloads,
        });
        st.head.size += 1;
        st.head.last_leaf = leaf;
        Ok(receipt)
    }

    fn stage_redaction(&self, st: &mut Staged, r: &RedactionV1, seq: u64) -> Result<()> {
        match self.read_entry(r.target_seq, st.committed)?.body {
            EntryBody::DecisionV1(_) => {}
            other => {
                return Err(StoreError::Invalid(format!(
                    "seq {} is a {} entry; only decisions have payloads to erase",
                    r.target_seq,
                    other.kind()
                )))
            }
        }
        if r.slots.is_empty() {
            return Err(StoreError::Invalid(
                "nothing to erase: no payload named".into(),
            ));
        }
        let target = r.target_seq;
        // Every piece of its window is rewritten with its salts stored, not
        // derived, so that the window's key (from which the erased salt could
        // be derived again) is left nowhere; the window is read once per batch.
        let window = pieces::window_start(target);
        if st
            .rewrites
            .range(window..window + BUNDLE_ENTRIES)
            .next()
            .is_none()
        {
            let (from, to) = (
                keys::seq_key(window),
                keys::seq_key((window + BUNDLE_ENTRIES).min(st.committed)),
            );
            for row in self.backend.scan(Cf::PayloadBundles, &from, &to) {
                let (k, raw) = row?;
                let piece = keys::parse_seq(&k)
                    .ok_or_else(|| StoreError::corrupt("payload bundles", "key is not a seq"))?;
                st.rewrites
                    .insert(piece, self.decode_payload_piece(piece, &raw)?);
            }
        }
        if let Some(key) = st.keys.get_mut(&window) {
            *key = None;
        }
        // The piece that holds the target: the last of its window at or before it.
        let missing = || StoreError::corrupt(format!("payloads of entry {target}"), "missing");
        let (first, slots) = st
            .rewrites
            .range_mut(window..=target)
            .next_back()
            .ok_or_else(missing)?;
        let slots = slots
            .get_mut((target - *first) as usize)
            .ok_or_else(missing)?;
        for slot in &r.slots {
            let held = &mut slots[slot.as_byte() as usize];
            if !matches!(held, Slot::Stored(_)) {
                return Err(StoreError::Invalid(format!(
                    "the {} of seq {target} is already erased",
                    slot.name(),
                )));
            }
            *held = Slot::Erased(seq);
            st.erasures.push((target, *slot, seq));
        }
        Ok(())
    }

    /// Store a signed checkpoint note for tree size `size` (durably).
    pub fn put_checkpoint(&self, size: u64, note: &str) -> Result<()> {
        let mut state = self.state();
        if let Some(reason) = &state.poisoned {
            return Err(StoreError::Poisoned {
                reason: reason.clone(),
            });
        }
        let mut batch = WriteBatch::default();
        batch.put(Cf::Checkpoints, keys::seq_key(size), note.as_bytes());
        // A failed write here says what a failed append says: the store can no
        // longer be trusted to keep what it is given.
        self.backend.write(batch).inspect_err(|e| {
            state.poisoned = Some(e.to_string());
        })
    }
}

/// Salt and lay out `pairs` on the pool, a chunk per task, and hand each
/// packed item to `stage`, in order, as soon as its chunk is packed: this
/// thread stages the chunks already packed while the pool packs the rest.
fn pack_on_pool(
    mut pairs: impl Iterator<Item = (Append, Option<u64>)>,
    keys: &BTreeMap<u64, Option<WindowKey>>,
    mut stage: impl FnMut(Packed) -> Result<()>,
) -> Result<()> {
    rayon::in_place_scope(|scope| {
        let mut chunks = Vec::new();
        loop {
            let chunk: Vec<_> = pairs.by_ref().take(PACK_CHUNK_ITEMS).collect();
            if chunk.is_empty() {
                break;
            }
            let (sent, done) = mpsc::sync_channel(1);
            scope.spawn(move |_| {
                let packed: Result<Vec<Packed>> = chunk
                    .into_iter()
                    .map(|(item, seq)| pack(item, seq, keys))
                    .collect();
                // A send fails only once staging gave up.
                drop(sent.send(packed));
            });
            chunks.push(done);
        }
        for (at, done) in chunks.iter().enumerate() {
            let packed = done.recv().map_err(|_| StoreError::Backend {
                op: "pack decisions",
                kind: crate::error::EngineErrorKind::Other,
                reason: format!("chunk {at} of {} was never packed", chunks.len()),
            })?;
            for item in packed? {
                stage(item)?;
            }
        }
        Ok(())
    })
}

/// Take a written batch's state as the ledger's.
fn adopt(state: &mut State, st: Staged) {
    for (target, slot, by) in &st.erasures {
        if *target >= state.open.start {
            if let Some(r) = state
                .open
                .records
                .get_mut((target - state.open.start) as usize)
            {
                r.payloads[slot.as_byte() as usize] = Slot::Erased(*by);
            }
        }
    }
    let size = st.head.size;
    if size.is_multiple_of(BUNDLE_ENTRIES) {
        state.open = OpenWindow {
            start: size,
            ..OpenWindow::default()
        };
    } else {
        let window = pieces::window_start(size);
        let fresh = (window.max(st.committed) - st.committed) as usize;
        let mut records = st.records;
        let tail = records.split_off(fresh);
        let key = key_of(&st.keys, window);
        // Every piece this commit wrote in the window: one, or several where
        // its records were too large for one (`layout::cuts`).
        let first = st.committed.max(window);
        let pieces: Vec<u64> = cuts(&tail.iter().collect::<Vec<_>>())
            .into_iter()
            .map(|cut| first + cut.start as u64)
            .collect();
        if st.committed > window {
            state.open.fragments.extend(pieces);
            state.open.records.extend(tail);
            state.open.key = key;
        } else {
            state.open = OpenWindow {
                start: window,
                fragments: pieces,
                records: tail,
                key,
            };
        }
    }
    state.head = st.head;
    state.tiles = st.tiles;
}
