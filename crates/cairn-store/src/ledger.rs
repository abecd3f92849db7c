//! The ledger over a [`Backend`]: the single sequencer of appends (group commit),
//! reads, proofs, checkpoints, indexes, redaction and recovery on open.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard};

use cairn_core::decision::{Payload, PreparedDecision, SALT_LEN};
use cairn_core::entry::{DecisionV1, Entry, EntryBody, PayloadSlot, RedactionV1, ReplayV1};
use cairn_core::hash::{leaf_hash, Blake3Hasher, Hash, ZERO_HASH};
use cairn_core::merkle::{self, NodeSource, TreeEdge};

use crate::backend::{Backend, Cf, WriteBatch};
use crate::codec::{self, Codec};
use crate::error::{Result, StoreError};
use crate::keys::{self, meta, IndexKind};
use crate::postings;

/// After this many entries the ledger trains its compression dictionary.
pub const DICT_TRAIN_AT: u64 = 4096;
/// Batches at least this long compress on several threads.
const PARALLEL_BATCH_MIN: usize = 32;
/// Most entries sampled to train a dictionary.
const DICT_SAMPLES_MAX: u64 = 4096;

/// Something to append.
#[derive(Debug, Clone)]
// Decisions are nearly every append; boxing them would add an allocation each.
#[allow(clippy::large_enum_variant)]
pub enum Append {
    /// A validated decision with its payloads.
    Decision(PreparedDecision),
    /// Erase a decision's payloads and record why.
    Redaction(RedactionV1),
    /// Evidence of a replay run.
    Replay(ReplayV1),
    /// A decision whose payloads were already compressed by [`Ledger::pack`],
    /// off the appending thread.
    Packed(PackedDecision),
}

/// A decision ready to append, its payloads compressed (salt ‖ bytes, as
/// stored). Made only by [`Ledger::pack`], so what is stored is always what the
/// ledger's own codec produced.
#[derive(Debug, Clone)]
pub struct PackedDecision {
    body: DecisionV1,
    stored: [Vec<u8>; 2],
}

impl PackedDecision {
    /// The entry body.
    pub fn body(&self) -> &DecisionV1 {
        &self.body
    }
}

/// Proof that an entry is durable: its seq and leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's seq.
    pub seq: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
    /// True when an idempotency key matched an earlier entry and nothing was appended.
    pub duplicate: bool,
}

#[derive(Debug, Clone)]
struct Head {
    size: u64,
    edge: TreeEdge,
    last_leaf: Hash,
}

/// The ledger's mutable state: its head and whether appends are refused.
#[derive(Debug)]
struct State {
    head: Head,
    poisoned: Option<String>,
    dict_tried: bool,
    /// The fsync time of the last append that wrote, where the backend times it.
    last_append_sync: Option<std::time::Duration>,
}

/// What became of one payload of a decision ([`Ledger::payload_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadState {
    /// The payload, as stored.
    Stored(Payload),
    /// Erased by these redaction entries.
    Erased {
        /// Their seqs, ascending.
        by: Vec<u64>,
    },
    /// Gone, and no redaction erased it: the ledger is damaged.
    Missing,
}

impl PayloadState {
    /// The payload as readers are shown it (`GET /v1/entries`, `cairn get`): the
    /// stored JSON, or `{"erased_by": [seq, ...]}`; a missing payload is an error
    /// saying what to do.
    pub fn into_json(self, seq: u64, slot: PayloadSlot) -> Result<serde_json::Value, String> {
        match self {
            PayloadState::Stored(p) => Ok(cairn_core::render::stored_payload_json(&p.bytes)),
            PayloadState::Erased { by } => Ok(serde_json::json!({ "erased_by": by })),
            PayloadState::Missing => Err(format!(
                "the {} payload of seq {seq} is missing and no redaction erased it: the ledger is damaged; run `cairn verify` on its directory",
                slot.name()
            )),
        }
    }
}

/// One ledger: a totally ordered, hash-chained, Merkle-tree-backed log.
///
/// Reads take `&self` and may run on many threads while one thread appends:
/// appends are serialised by the state lock (one sequencer), and everything a
/// read can reach below the committed size is immutable.
pub struct Ledger<B: Backend> {
    backend: B,
    origin: String,
    codec: RwLock<Codec>,
    state: Mutex<State>,
    /// The committed size, readable without waiting for an append in progress.
    size: AtomicU64,
    dict_train_at: u64,
}

impl<B: Backend> std::fmt::Debug for Ledger<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.origin)
            .field("size", &self.size())
            .finish()
    }
}

/// Complete-subtree hashes read from the store.
pub struct StoredNodes<'a, B: Backend>(pub &'a B);

impl<B: Backend> NodeSource for StoredNodes<'_, B> {
    type Error = StoreError;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash> {
        let v = self
            .0
            .get(Cf::Nodes, &keys::node_key(level, index))?
            .ok_or_else(|| {
                StoreError::corrupt(format!("tree node ({level}, {index})"), "missing")
            })?;
        v.as_slice().try_into().map_err(|_| {
            StoreError::corrupt(format!("tree node ({level}, {index})"), "not 32 bytes")
        })
    }
}

fn proof_error(e: merkle::ProofError<StoreError>) -> StoreError {
    match e {
        merkle::ProofError::Source(e) => e,
        other => StoreError::Invalid(other.to_string()),
    }
}

impl<B: Backend> Ledger<B> {
    /// Create a new, empty ledger named `origin` on an empty backend.
    pub fn create(backend: B, origin: &str) -> Result<Ledger<B>> {
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(StoreError::Invalid(format!(
                "origin {origin:?} must be non-empty and without spaces, e.g. example.com/ledger"
            )));
        }
        if backend.get(Cf::Meta, meta::ORIGIN)?.is_some() {
            return Err(StoreError::AlreadyExists {
                path: "this backend".into(),
            });
        }
        let mut batch = WriteBatch::default();
        batch.put(Cf::Meta, meta::ORIGIN, origin.as_bytes());
        batch.put(
            Cf::Meta,
            meta::FORMAT,
            vec![cairn_core::entry::FORMAT_VERSION],
        );
        batch.put(Cf::Meta, meta::SIZE, 0u64.to_be_bytes());
        backend.write(batch)?;
        Ledger::open(backend)
    }

    /// Open a ledger, recover its head and check the tail of the chain. A ledger
    /// whose tail fails the check refuses appends (see [`Ledger::open_unchecked`]).
    pub fn open(backend: B) -> Result<Ledger<B>> {
        let mut ledger = Ledger::open_unchecked(backend)?;
        ledger.recover()?;
        Ok(ledger)
    }

    /// Open without checking the tail: for `verify`, which must read damaged ledgers.
    /// Appends are refused until [`Ledger::recover`] succeeds.
    pub fn open_unchecked(backend: B) -> Result<Ledger<B>> {
        let origin =
            backend
                .get(Cf::Meta, meta::ORIGIN)?
                .ok_or_else(|| StoreError::NotALedger {
                    path: "this backend".into(),
                })?;
        let origin = String::from_utf8(origin)
            .map_err(|_| StoreError::corrupt("metadata", "origin is not UTF-8"))?;
        let size = read_size(&backend)?;
        let mut codec = Codec::new();
        let dict_end = keys::prefix_end(meta::DICT_PREFIX);
        for row in backend.scan(Cf::Meta, meta::DICT_PREFIX, &dict_end) {
            let (k, v) = row?;
            let id = k[meta::DICT_PREFIX.len()..]
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::corrupt("metadata", "bad dictionary key"))?;
            codec.add_dictionary(id, &v)?;
        }
        Ok(Ledger {
            backend,
            origin,
            codec: RwLock::new(codec),
            state: Mutex::new(State {
                head: Head {
                    size,
                    edge: TreeEdge::new(),
                    last_leaf: ZERO_HASH,
                },
                poisoned: Some("ledger opened for reading only".into()),
                dict_tried: false,
                last_append_sync: None,
            }),
            size: AtomicU64::new(size),
            dict_train_at: DICT_TRAIN_AT,
        })
    }

    /// Rebuild the tree's right edge from stored nodes and check the chain's tail;
    /// on success, appends are accepted.
    pub fn recover(&mut self) -> Result<()> {
        let size = self.size();
        let end = self.backend.last_in(Cf::Entries, &[], &[0xff; 9])?;
        let stored_end = match end {
            Some((k, _)) => {
                keys::parse_seq(&k)
                    .ok_or_else(|| StoreError::corrupt("entries", "key is not a seq"))?
                    + 1
            }
            None => 0,
        };
        if stored_end != size {
            return Err(StoreError::TailBroken {
                seq: size.min(stored_end),
                reason: format!("metadata says {size} entries, the store ends at {stored_end}"),
            });
        }
        let edge = TreeEdge::from_source(&StoredNodes(&self.backend), size)?;
        let mut last_leaf = ZERO_HASH;
        if size > 0 {
            let tail = size - 1;
            let tail_fail = |reason: String| StoreError::TailBroken { seq: tail, reason };
            let bytes = self
                .entry_bytes(tail)?
                .ok_or_else(|| tail_fail("missing".into()))?;
            let entry = Entry::decode(&bytes).map_err(|e| tail_fail(e.to_string()))?;
            last_leaf = leaf_hash(&bytes);
            if entry.seq != tail {
                return Err(tail_fail(format!("entry says it is seq {}", entry.seq)));
            }
            if StoredNodes(&self.backend).subtree(0, tail)? != last_leaf {
                return Err(tail_fail("leaf hash differs from the tree".into()));
            }
            let prev = match tail {
                0 => ZERO_HASH,
                _ => StoredNodes(&self.backend).subtree(0, tail - 1)?,
            };
            if entry.prev_hash != prev {
                return Err(tail_fail(
                    "prev_hash does not link to the entry before".into(),
                ));
            }
        }
        let mut state = self.state();
        state.head = Head {
            size,
            edge,
            last_leaf,
        };
        state.poisoned = None;
        self.size.store(size, Ordering::Release);
        Ok(())
    }

    /// The ledger's origin: its name in checkpoints.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-updated head: the head
        // is replaced whole after a successful write. So a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn codec(&self) -> RwLockReadGuard<'_, Codec> {
        self.codec.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The backend, for tools that must reach below the ledger (tests, repair).
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Close the ledger, giving back its backend.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// Root of the tree over all entries.
    pub fn root(&self) -> Hash {
        self.state().head.edge.root(&Blake3Hasher)
    }

    /// Leaf hash of the last entry (zeros when empty).
    pub fn last_leaf(&self) -> Hash {
        self.state().head.last_leaf
    }

    /// How long the fsync of the last append that wrote anything took, where
    /// the backend times it apart from the write (RocksDB does). Read under the
    /// ledger's lock right after that write, so other writes (checkpoints, the
    /// dictionary) do not stand in for it.
    pub fn last_append_sync(&self) -> Option<std::time::Duration> {
        self.state().last_append_sync
    }

    /// Why appends are refused, if they are.
    pub fn poisoned(&self) -> Option<String> {
        self.state().poisoned.clone()
    }

    /// Change when the dictionary is trained (tests use small ledgers).
    pub fn set_dict_train_at(&mut self, entries: u64) {
        self.dict_train_at = entries;
    }

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
        let mut staged = Staged {
            batch: WriteBatch::default(),
            head: state.head.clone(),
            committed: state.head.size,
            seen_keys: HashMap::new(),
            entries: Vec::new(),
            postings: postings::Builder::default(),
        };
        let mut receipts = Vec::with_capacity(items.len());
        let compressed = self.compress_payloads(&items);
        for (item, payloads) in items.into_iter().zip(compressed) {
            receipts.push(self.stage(&mut staged, item, payloads, recorded_at_us)?);
        }
        if staged.head.size == state.head.size {
            state.last_append_sync = None;
            return Ok(receipts);
        }
        for (key, list) in std::mem::take(&mut staged.postings).finish() {
            staged.batch.put(Cf::Index, key, list);
        }
        // Entries are compressed once the chain is built, on several threads for
        // large batches (their bytes hold the previous leaf hash, so not before).
        {
            let codec = self.codec();
            let codec = &*codec;
            let stored = par_map(&staged.entries, |(_, bytes)| codec.compress(bytes));
            for ((seq, _), value) in staged.entries.iter().zip(stored) {
                staged.batch.put(Cf::Entries, keys::seq_key(*seq), value);
            }
        }
        staged
            .batch
            .put(Cf::Meta, meta::SIZE, staged.head.size.to_be_bytes());
        if let Err(e) = self.backend.write(staged.batch) {
            state.poisoned = Some(e.to_string());
            return Err(e);
        }
        state.last_append_sync = self.backend.last_sync();
        state.head = staged.head;
        self.size.store(state.head.size, Ordering::Release);
        self.maybe_train_dictionary(&mut state);
        Ok(receipts)
    }

    /// Compress a decision's payloads now, so that an append of it does not have
    /// to: request handlers call this on their own threads and the appending
    /// thread only sequences. A value compressed with a dictionary that is
    /// replaced before the append stays readable (every dictionary is kept).
    pub fn pack(&self, d: PreparedDecision) -> Append {
        let codec = self.codec();
        let stored = [&d.input, &d.output].map(|p| compress_payload(&codec, p));
        Append::Packed(PackedDecision {
            body: d.body,
            stored,
        })
    }

    /// Compress the payloads of a batch, on several threads for large batches:
    /// payloads are most of the bytes, and they do not depend on the chain.
    fn compress_payloads(&self, items: &[Append]) -> Vec<Vec<Vec<u8>>> {
        if !items.iter().any(|i| matches!(i, Append::Decision(_))) {
            return vec![Vec::new(); items.len()];
        }
        let codec = self.codec();
        let codec = &*codec;
        par_map(items, |item: &Append| -> Vec<Vec<u8>> {
            match item {
                Append::Decision(d) => [&d.input, &d.output]
                    .iter()
                    .map(|p| compress_payload(codec, p))
                    .collect(),
                _ => Vec::new(),
            }
        })
    }

    fn stage(
        &self,
        st: &mut Staged,
        item: Append,
        payloads: Vec<Vec<u8>>,
        recorded_at_us: i64,
    ) -> Result<Receipt> {
        let decision = match &item {
            Append::Decision(d) => Some(&d.body),
            Append::Packed(p) => Some(&p.body),
            Append::Redaction(_) | Append::Replay(_) => None,
        };
        if let Some(d) = decision {
            if let Some(key) = &d.idempotency_key {
                let ik = keys::idempotency_key(&d.stream, key);
                if let Some(r) = st.seen_keys.get(&ik) {
                    return Ok(Receipt {
                        duplicate: true,
                        ..*r
                    });
                }
                if let Some(seq) = self.backend.get(Cf::Index, &ik)? {
                    let seq = keys::parse_seq(&seq)
                        .ok_or_else(|| StoreError::corrupt("idempotency index", "bad seq"))?;
                    let leaf = StoredNodes(&self.backend).subtree(0, seq)?;
                    return Ok(Receipt {
                        seq,
                        leaf_hash: leaf,
                        duplicate: true,
                    });
                }
            }
        }
        let seq = st.head.size;
        let mut payloads = payloads;
        let body = match item {
            Append::Decision(d) => EntryBody::DecisionV1(d.body),
            Append::Packed(p) => {
                payloads = p.stored.into();
                EntryBody::DecisionV1(p.body)
            }
            Append::Redaction(r) => {
                self.stage_redaction(st, &r, seq)?;
                EntryBody::RedactionV1(r)
            }
            Append::Replay(r) => EntryBody::ReplayV1(r),
        };
        let entry = Entry {
            seq,
            prev_hash: st.head.last_leaf,
            recorded_at_us,
            body,
        };
        let bytes = entry.encode();
        if bytes.len() > cairn_core::entry::ENTRY_WRITE_BYTES_MAX {
            return Err(StoreError::Invalid(format!(
                "entry would be {} bytes, over the limit of {}",
                bytes.len(),
                cairn_core::entry::ENTRY_WRITE_BYTES_MAX
            )));
        }
        let leaf = leaf_hash(&bytes);
        let b = &mut st.batch;
        st.entries.push((seq, bytes));
        for (slot, p) in PayloadSlot::ALL.iter().zip(payloads) {
            b.put(Cf::Payloads, keys::payload_key(seq, *slot), p);
        }
        for (level, index, hash) in st.head.edge.push(&Blake3Hasher, leaf) {
            b.put(Cf::Nodes, keys::node_key(level, index), hash);
        }
        index_entry(b, &mut st.postings, &entry, seq);
        let receipt = Receipt {
            seq,
            leaf_hash: leaf,
            duplicate: false,
        };
        if let EntryBody::DecisionV1(d) = &entry.body {
            if let Some(key) = &d.idempotency_key {
                let ik = keys::idempotency_key(&d.stream, key);
                b.put(Cf::Index, ik.clone(), keys::seq_key(seq));
                st.seen_keys.insert(ik, receipt);
            }
        }
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
        for slot in &r.slots {
            let key = keys::payload_key(r.target_seq, *slot);
            if self.backend.get(Cf::Payloads, &key)?.is_none() {
                return Err(StoreError::Invalid(format!(
                    "the {} of seq {} is already erased",
                    slot.name(),
                    r.target_seq
                )));
            }
            st.batch.delete(Cf::Payloads, key);
        }
        st.batch
            .put(Cf::Index, keys::redaction_key(r.target_seq, seq), []);
        Ok(())
    }

    fn maybe_train_dictionary(&self, state: &mut State) {
        if state.dict_tried
            || self.codec().current_dictionary().is_some()
            || state.head.size < self.dict_train_at
        {
            return;
        }
        state.dict_tried = true;
        // A failed training only costs compression ratio; the ledger goes on without.
        let Ok(samples) = self.dictionary_samples(state.head.size) else {
            return;
        };
        let Ok(dict) = codec::train(&samples) else {
            return;
        };
        let mut batch = WriteBatch::default();
        batch.put(Cf::Meta, meta::dict(1), dict.clone());
        if self.backend.write(batch).is_ok() {
            if let Ok(mut codec) = self.codec.write() {
                let _ = codec.add_dictionary(1, &dict);
            }
        }
    }

    fn dictionary_samples(&self, size: u64) -> Result<Vec<Vec<u8>>> {
        let n = size.min(DICT_SAMPLES_MAX);
        let codec = self.codec();
        let mut samples = Vec::with_capacity(3 * n as usize);
        for row in self
            .backend
            .scan(Cf::Entries, &keys::seq_key(0), &keys::seq_key(n))
        {
            let (k, v) = row?;
            samples.push(codec.decompress(&v, &|| format!("entry {k:?}"))?);
        }
        for row in self.backend.scan(
            Cf::Payloads,
            &keys::payload_key(0, PayloadSlot::Input),
            &keys::payload_key(n, PayloadSlot::Input),
        ) {
            let (k, v) = row?;
            let raw = codec.decompress(&v, &|| format!("payload {k:?}"))?;
            samples.push(raw.get(SALT_LEN..).unwrap_or_default().to_vec());
        }
        Ok(samples)
    }

    /// The canonical (uncompressed) bytes of entry `seq`.
    pub fn entry_bytes(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        match self.backend.get(Cf::Entries, &keys::seq_key(seq))? {
            None => Ok(None),
            Some(v) => self.decompress_entry(seq, &v).map(Some),
        }
    }

    /// Decompress a stored entry value.
    pub fn decompress_entry(&self, seq: u64, stored: &[u8]) -> Result<Vec<u8>> {
        self.codec().decompress(stored, &|| format!("entry {seq}"))
    }

    /// Entry `seq`, decoded, with its link checked right after reading: the entry must
    /// say it is `seq` and hash to the leaf the tree holds.
    pub fn entry(&self, seq: u64) -> Result<Entry> {
        self.read_entry(seq, self.size())
    }

    fn read_entry(&self, seq: u64, size: u64) -> Result<Entry> {
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
        if StoredNodes(&self.backend).subtree(0, seq)? != leaf_hash(&bytes) {
            return Err(StoreError::corrupt(
                format!("entry {seq}"),
                "hash differs from the tree's leaf",
            ));
        }
        Ok(entry)
    }

    /// A stored payload, or `None` when it was erased (or is missing).
    pub fn payload(&self, seq: u64, slot: PayloadSlot) -> Result<Option<Payload>> {
        let Some(v) = self
            .backend
            .get(Cf::Payloads, &keys::payload_key(seq, slot))?
        else {
            return Ok(None);
        };
        self.decode_payload(seq, slot, &v).map(Some)
    }

    /// Decompress and split a stored payload value.
    pub fn decode_payload(&self, seq: u64, slot: PayloadSlot, stored: &[u8]) -> Result<Payload> {
        let raw = self.payload_raw(seq, slot, stored)?;
        let (salt, bytes) = raw.split_at(SALT_LEN);
        let mut s = [0u8; SALT_LEN];
        s.copy_from_slice(salt);
        Ok(Payload {
            salt: s,
            bytes: bytes.to_vec(),
        })
    }

    /// Decompress a stored payload value to `salt ‖ payload` (at least the salt long).
    /// Its commitment is the BLAKE3 hash of exactly these bytes.
    pub fn payload_raw(&self, seq: u64, slot: PayloadSlot, stored: &[u8]) -> Result<Vec<u8>> {
        let what = || format!("{} payload of entry {seq}", slot.name());
        let raw = self.codec().decompress(stored, &what)?;
        if raw.len() < SALT_LEN {
            return Err(StoreError::corrupt(what(), "shorter than its salt"));
        }
        Ok(raw)
    }

    /// A decision's payload as a reader should see it: stored, erased by
    /// redactions (in seq order), or missing with no redaction to explain it,
    /// which is damage.
    pub fn payload_state(&self, seq: u64, slot: PayloadSlot) -> Result<PayloadState> {
        if let Some(p) = self.payload(seq, slot)? {
            return Ok(PayloadState::Stored(p));
        }
        let mut by = Vec::new();
        for r in self.redactions_of(seq)? {
            if let EntryBody::RedactionV1(red) = self.entry(r)?.body {
                if red.target_seq == seq && red.slots.contains(&slot) && r > seq {
                    by.push(r);
                }
            }
        }
        Ok(if by.is_empty() {
            PayloadState::Missing
        } else {
            PayloadState::Erased { by }
        })
    }

    /// The redaction entries that erased payloads of `target`, by index.
    pub fn redactions_of(&self, target: u64) -> Result<Vec<u64>> {
        let from = keys::redaction_key(target, 0);
        let to = keys::redaction_key(target, u64::MAX);
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Index, &from, &to) {
            let (k, _) = row?;
            out.extend(keys::parse_seq(&k[9..]));
        }
        Ok(out)
    }

    /// Root of the tree over the first `size` entries, from stored nodes.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        merkle::root(&Blake3Hasher, &StoredNodes(&self.backend), size)
    }

    /// Inclusion proof of `seq` in the tree of `size` entries.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        merkle::inclusion_proof(&Blake3Hasher, &StoredNodes(&self.backend), seq, size)
            .map_err(proof_error)
    }

    /// Consistency proof from the tree of `old` entries to the tree of `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>> {
        self.check_size(new)?;
        merkle::consistency_proof(&Blake3Hasher, &StoredNodes(&self.backend), old, new)
            .map_err(proof_error)
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

    /// Every stored checkpoint, by size.
    pub fn checkpoints(&self) -> Result<Vec<(u64, String)>> {
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Checkpoints, &[], &[0xff; 9]) {
            let (k, v) = row?;
            let size = keys::parse_seq(&k)
                .ok_or_else(|| StoreError::corrupt("checkpoints", "key is not a size"))?;
            let note = String::from_utf8(v).map_err(|_| {
                StoreError::corrupt(format!("checkpoint at size {size}"), "not UTF-8")
            })?;
            out.push((size, note));
        }
        Ok(out)
    }

    /// The newest stored checkpoint.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, String)>> {
        let Some((k, v)) = self.backend.last_in(Cf::Checkpoints, &[], &[0xff; 9])? else {
            return Ok(None);
        };
        let size = keys::parse_seq(&k)
            .ok_or_else(|| StoreError::corrupt("checkpoints", "key is not a size"))?;
        let note = String::from_utf8(v)
            .map_err(|_| StoreError::corrupt(format!("checkpoint at size {size}"), "not UTF-8"))?;
        Ok(Some((size, note)))
    }

    /// Seqs indexed under `value`, ascending, at most `limit`.
    pub fn index_seqs(&self, kind: IndexKind, value: &str, limit: usize) -> Result<Vec<u64>> {
        let mut out = self.seqs_under(&kind.prefix(value), limit)?;
        if let Some(tag) = kind.posting_tag() {
            out.extend(self.posting_seqs(&postings::value_prefix(tag, value), limit)?);
            // Per-decision keys (older ledgers) and lists are each ascending and
            // hold no seq in common; the first `limit` of both together are
            // among the first `limit` of each.
            out.sort_unstable();
            out.truncate(limit);
        }
        Ok(out)
    }

    /// Seqs of every version of model `name`, ascending.
    pub fn model_name_seqs(&self, name: &str) -> Result<Vec<u64>> {
        // Keys are `m` name 0x00 version 0x00 seq (or, for lists, `M` … first
        // seq): the prefix up to the name's 0x00 covers every version of this
        // name and no other name.
        let mut out = self.seqs_under(&IndexKind::Model.prefix(name), usize::MAX)?;
        let lists = postings::value_prefix(postings::MODEL_TAG, name);
        out.extend(self.posting_seqs(&lists, usize::MAX)?);
        out.sort_unstable();
        Ok(out)
    }

    /// Seqs of per-decision index keys starting with `prefix` (the seq is
    /// each key's last eight bytes), in key order, at most `limit`.
    fn seqs_under(&self, prefix: &[u8], limit: usize) -> Result<Vec<u64>> {
        let to = keys::prefix_end(prefix);
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Index, prefix, &to).take(limit) {
            let (k, _) = row?;
            let tail = k.len().checked_sub(8).filter(|&t| t >= prefix.len());
            out.extend(tail.and_then(|t| keys::parse_seq(&k[t..])));
        }
        Ok(out)
    }

    /// Seqs of the posting lists whose keys start with `prefix`, in key order,
    /// at most `limit`.
    fn posting_seqs(&self, prefix: &[u8], limit: usize) -> Result<Vec<u64>> {
        let to = keys::prefix_end(prefix);
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Index, prefix, &to) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = row?;
            postings::decode_seqs(&k, prefix.len(), &v, &mut out)?;
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Seqs whose time falls in `[from_us, to_us)`, in time order (seq order
    /// among equal times), at most `limit`.
    pub fn time_range(&self, from_us: i64, to_us: i64, limit: usize) -> Result<Vec<u64>> {
        if from_us >= to_us {
            return Ok(Vec::new());
        }
        let mut found: Vec<(i64, u64)> = Vec::new();
        // Per-decision keys of older ledgers, already in time order.
        let from = keys::time_key(from_us, 0);
        let to = keys::time_key(to_us, 0);
        for row in self.backend.scan(Cf::Index, &from, &to).take(limit) {
            let (k, _) = row?;
            let time = k.get(1..9).and_then(keys::parse_ordered_i64);
            let seq = k.get(9..).and_then(keys::parse_seq);
            if let (Some(time), Some(seq)) = (time, seq) {
                found.push((time, seq));
            }
        }
        // Posting lists, one second at a time: once a whole second has brought
        // the count to `limit`, later seconds cannot come earlier in time order.
        let old = found.len();
        let (first, _) = postings::time_bucket(from_us);
        let (last, _) = postings::time_bucket(to_us - 1);
        let start = postings::time_prefix(first);
        let end = keys::prefix_end(&postings::time_prefix(last));
        let mut bucket: Option<[u8; 9]> = None;
        let mut listed: Vec<(i64, u64)> = Vec::new();
        let mut decoded = Vec::new();
        for row in self.backend.scan(Cf::Index, &start, &end) {
            let (k, v) = row?;
            let this = k.get(..9).and_then(|b| <[u8; 9]>::try_from(b).ok());
            if bucket != this {
                if listed.len() >= limit {
                    break;
                }
                bucket = this;
            }
            decoded.clear();
            postings::decode_times(&k, &v, &mut decoded)?;
            listed.extend(decoded.iter().filter(|(t, _)| (from_us..to_us).contains(t)));
        }
        found.extend(listed);
        if found.len() > old {
            found.sort_unstable();
        }
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, seq)| seq).collect())
    }
}

struct Staged {
    batch: WriteBatch,
    head: Head,
    /// Entries durable before this batch.
    committed: u64,
    seen_keys: HashMap<Vec<u8>, Receipt>,
    /// The batch's entries (seq, canonical bytes), compressed at the end.
    entries: Vec<(u64, Vec<u8>)>,
    /// The batch's posting lists (stream, model, subject, session, time),
    /// written at the end.
    postings: postings::Builder,
}

/// `f` over `items`, in order; on several threads when there are enough items
/// to be worth it.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    static THREADS: OnceLock<usize> = OnceLock::new();
    if items.len() < PARALLEL_BATCH_MIN {
        return items.iter().map(&f).collect();
    }
    let threads =
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
    if threads < 2 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn compress_payload(codec: &Codec, p: &Payload) -> Vec<u8> {
    let mut raw = Vec::with_capacity(p.salt.len() + p.bytes.len());
    raw.extend_from_slice(&p.salt);
    raw.extend_from_slice(&p.bytes);
    codec.compress(&raw)
}

fn read_size<B: Backend>(backend: &B) -> Result<u64> {
    let v = backend
        .get(Cf::Meta, meta::SIZE)?
        .ok_or_else(|| StoreError::corrupt("metadata", "size is missing"))?;
    keys::parse_seq(&v).ok_or_else(|| StoreError::corrupt("metadata", "size is not 8 bytes"))
}

fn index_entry(b: &mut WriteBatch, lists: &mut postings::Builder, entry: &Entry, seq: u64) {
    let EntryBody::DecisionV1(d) = &entry.body else {
        lists.add_time(entry.recorded_at_us, seq);
        return;
    };
    lists.add_time(d.event_time_us.unwrap_or(entry.recorded_at_us), seq);
    lists.add(postings::STREAM_TAG, &[&d.stream], seq);
    lists.add(postings::MODEL_TAG, &[&d.model.name, &d.model.version], seq);
    if let Some(v) = &d.subject {
        lists.add(postings::SUBJECT_TAG, &[v], seq);
    }
    if let Some(v) = &d.session {
        lists.add(postings::SESSION_TAG, &[v], seq);
    }
    // Request and trace ids are nearly always unique to one decision.
    for (kind, value) in [
        (IndexKind::Request, &d.request_id),
        (IndexKind::Trace, &d.trace_id),
    ] {
        if let Some(v) = value {
            b.put(Cf::Index, kind.key(v, seq), []);
        }
    }
}
