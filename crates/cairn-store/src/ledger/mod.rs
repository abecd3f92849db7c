//! The ledger over a [`Backend`], storage layout v2 (`schemas/storage-v2.md`):
//! the single sequencer of appends (group commit, [`write`]), reads and proofs
//! ([`read`]), the derived indexes and the queries over them ([`index`]), and
//! recovery on open (here).

mod index;
mod layout;
mod read;
mod retain;
mod salt;
mod write;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use cairn_core::decision::{Payload, PreparedDecision, UnsaltedDecision};
use cairn_core::entry::{AlertV1, DecisionV1, Entry, PayloadSlot, RedactionV1, ReplayV1};
use cairn_core::hash::{leaf_hash, Blake3Hasher, Hash, ZERO_HASH};
use cairn_core::merkle::{NodeSource, TreeEdge};

use crate::backend::{Backend, Cf, WriteBatch};
use crate::error::{Result, StoreError};
use crate::keys::{self, meta};
use crate::pieces::{self, Record};
use crate::tiles::{TileEdge, TileNodes};

pub use index::{entry_time, IndexProblem, INDEX_BATCH_ENTRIES};
pub use read::PieceCache;
pub use retain::Dropped;

/// The storage layout this code writes (`meta/layout`).
pub const LAYOUT: u8 = 2;

/// zstd level of entry and payload bundles unless set otherwise. Level 1:
/// compressing is about 60% of an append's CPU, and level 1 costs about a
/// quarter fewer instructions than level 3 for a footprint within a point of it
/// (BENCHMARKS.md, "Storage layout v2").
pub const BUNDLE_LEVEL: i32 = 1;

/// Free bytes below which appends are refused unless set otherwise: room for
/// RocksDB to flush its memtables and finish a compaction.
pub const DISK_RESERVE: u64 = 256 << 20;

/// A write that fails with fewer bytes than this free (or than the reserve,
/// if larger) is taken as failed for want of space.
const DISK_FULL_BELOW: u64 = 64 << 20;
/// What [`Ledger::set_small_groups_inline`] keeps off the pool: groups of
/// fewer items than this.
pub const SMALL_GROUP_ITEMS: usize = 256;

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
    /// The live monitor's breaker opened.
    Alert(AlertV1),
    /// A validated decision whose payloads the ledger salts: their salts are
    /// derived from the key of the window the decision lands in, so that
    /// they take no room on disk (`schemas/storage-v2.md`, "Payload piece").
    Unsalted(UnsaltedDecision),
}

impl Append {
    /// The decision's entry body, for the appends that are decisions.
    pub fn decision(&self) -> Option<&DecisionV1> {
        match self {
            Append::Decision(d) => Some(&d.body),
            Append::Unsalted(d) => Some(&d.body),
            Append::Redaction(_) | Append::Replay(_) | Append::Alert(_) => None,
        }
    }

    /// The key under which a decision's idempotency key is indexed.
    fn idempotency_key(&self) -> Option<Vec<u8>> {
        let d = self.decision()?;
        let key = d.idempotency_key.as_ref()?;
        Some(keys::idempotency_key(&d.stream, key))
    }

    /// Bytes this append holds in memory (itself and what it owns on the
    /// heap), for a caller that bounds what queued appends cost.
    pub fn memory_bytes(&self) -> usize {
        let heap = match self {
            Append::Decision(d) => {
                d.body.heap_bytes() + d.input.bytes.capacity() + d.output.bytes.capacity()
            }
            Append::Unsalted(d) => d.heap_bytes(),
            // Made by the daemon itself or by a replay's report, one at a time:
            // their size is their encoding's, about.
            Append::Redaction(_) | Append::Replay(_) | Append::Alert(_) => 0,
        };
        std::mem::size_of::<Append>() + heap
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

/// The window at the right edge that is not sealed yet: its fragments' keys
/// and its records, so that the commit that fills it seals it without reading.
#[derive(Debug, Clone, Default)]
struct OpenWindow {
    start: u64,
    fragments: Vec<u64>,
    records: Vec<Record>,
    /// The key its derived salts come from; none once a redaction erased a
    /// payload of the window (its later salts are drawn at random).
    key: Option<pieces::WindowKey>,
}

/// The ledger's mutable state: its head and whether appends are refused.
#[derive(Debug)]
struct State {
    head: Head,
    tiles: TileEdge,
    open: OpenWindow,
    poisoned: Option<String>,
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
/// read can reach below the committed size is immutable, but for payloads that
/// a redaction erases.
pub struct Ledger<B: Backend> {
    backend: B,
    origin: String,
    state: Mutex<State>,
    /// The committed size, readable without waiting for an append in progress.
    size: AtomicU64,
    /// zstd level of entry bundles (`None`: stored as they are).
    entry_level: Option<i32>,
    /// zstd level of payload bundles (`None`: stored as they are).
    payload_level: Option<i32>,
    /// Appends are refused while fewer bytes than this are free on the disk.
    disk_reserve: u64,
    /// Groups of fewer items are salted and compressed on the appending
    /// thread, not on the rayon pool (0: every group on the pool).
    pool_min_items: usize,
    cache: PieceCache,
    /// Held by the one indexing pass that may run at a time.
    indexing: Mutex<()>,
}

impl<B: Backend> std::fmt::Debug for Ledger<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.origin)
            .field("size", &self.size())
            .finish()
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
        batch.put(Cf::Meta, meta::LAYOUT, vec![LAYOUT]);
        batch.put(Cf::Meta, meta::SIZE, 0u64.to_be_bytes());
        batch.put(Cf::Meta, meta::INDEXED, 0u64.to_be_bytes());
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
    /// Appends are refused until [`Ledger::recover`] succeeds. A ledger of an
    /// older layout is refused with [`StoreError::NeedsMigration`].
    pub fn open_unchecked(backend: B) -> Result<Ledger<B>> {
        let origin =
            backend
                .get(Cf::Meta, meta::ORIGIN)?
                .ok_or_else(|| StoreError::NotALedger {
                    path: "this backend".into(),
                })?;
        let origin = String::from_utf8(origin)
            .map_err(|_| StoreError::corrupt("metadata", "origin is not UTF-8"))?;
        match backend.get(Cf::Meta, meta::LAYOUT)?.as_deref() {
            Some([LAYOUT]) => {}
            None => return Err(StoreError::NeedsMigration { from: 1 }),
            Some([other]) if *other < LAYOUT => {
                return Err(StoreError::NeedsMigration { from: *other })
            }
            Some(other) => {
                return Err(StoreError::corrupt(
                    "metadata",
                    format!("layout {other:?} is not one this version of Cairn reads"),
                ))
            }
        }
        let size = read_u64(&backend, meta::SIZE)?
            .ok_or_else(|| StoreError::corrupt("metadata", "size is missing"))?;
        Ok(Ledger {
            backend,
            origin,
            state: Mutex::new(State {
                head: Head {
                    size,
                    edge: TreeEdge::new(),
                    last_leaf: ZERO_HASH,
                },
                tiles: TileEdge::default(),
                open: OpenWindow::default(),
                poisoned: Some("ledger opened for reading only".into()),
                last_append_sync: None,
            }),
            size: AtomicU64::new(size),
            entry_level: Some(BUNDLE_LEVEL),
            payload_level: Some(BUNDLE_LEVEL),
            disk_reserve: DISK_RESERVE,
            pool_min_items: 0,
            cache: PieceCache::default(),
            indexing: Mutex::new(()),
        })
    }

    /// Rebuild the tree's right edge and the open window from storage and check
    /// the chain's tail; on success, appends are accepted.
    pub fn recover(&mut self) -> Result<()> {
        let size = self.size();
        let stored_end = match self.backend.last_in(Cf::Bundles, &[], &[0xff; 9])? {
            Some((k, v)) => {
                let first = keys::parse_seq(&k)
                    .ok_or_else(|| StoreError::corrupt("bundles", "key is not a seq"))?;
                let count = self.decode_entry_piece(first, &v)?.len() as u64;
                first.checked_add(count).ok_or_else(|| {
                    StoreError::corrupt(format!("entry bundle at {first}"), "ends beyond any seq")
                })?
            }
            None => 0,
        };
        if stored_end != size {
            return Err(StoreError::TailBroken {
                seq: size.min(stored_end),
                reason: format!("metadata says {size} entries, the store ends at {stored_end}"),
            });
        }
        let nodes = TileNodes::new(&self.backend);
        let edge = TreeEdge::from_source(&nodes, size)?;
        let tiles = TileEdge::load(&self.backend, size)?;
        let open = self.load_open_window(size)?;
        let mut last_leaf = ZERO_HASH;
        if size > 0 {
            let tail = size - 1;
            let tail_fail = |reason: String| StoreError::TailBroken { seq: tail, reason };
            let bytes = match open.records.last() {
                Some(r) => r.entry.clone(),
                None => self
                    .entry_bytes(tail)?
                    .ok_or_else(|| tail_fail("missing".into()))?,
            };
            let entry = Entry::decode(&bytes).map_err(|e| tail_fail(e.to_string()))?;
            last_leaf = leaf_hash(&bytes);
            if entry.seq != tail {
                return Err(tail_fail(format!("entry says it is seq {}", entry.seq)));
            }
            if nodes.subtree(0, tail)? != last_leaf {
                return Err(tail_fail("leaf hash differs from the tree".into()));
            }
            let prev = match tail {
                0 => ZERO_HASH,
                _ => nodes.subtree(0, tail - 1)?,
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
        state.tiles = tiles;
        state.open = open;
        state.poisoned = None;
        self.size.store(size, Ordering::Release);
        Ok(())
    }

    /// The records of the unsealed window at the right edge, from its fragments.
    fn load_open_window(&self, size: u64) -> Result<OpenWindow> {
        let start = match size % pieces::BUNDLE_ENTRIES {
            0 => size,
            _ => pieces::window_start(size),
        };
        let mut open = OpenWindow {
            start,
            ..OpenWindow::default()
        };
        let (from, to) = (keys::seq_key(start), keys::seq_key(size));
        let mut payloads = self.backend.scan(Cf::PayloadBundles, &from, &to);
        for row in self.backend.scan(Cf::Bundles, &from, &to) {
            let (k, v) = row?;
            let first = keys::parse_seq(&k)
                .ok_or_else(|| StoreError::corrupt("bundles", "key is not a seq"))?;
            if first != start + open.records.len() as u64 {
                return Err(StoreError::TailBroken {
                    seq: start + open.records.len() as u64,
                    reason: "the bundles of the last window do not follow each other".into(),
                });
            }
            let entries = self.decode_entry_piece(first, &v)?;
            let slots = match payloads.next() {
                Some(row) => {
                    let (pk, pv) = row?;
                    if pk != k {
                        return Err(StoreError::corrupt(
                            format!("payload bundle at {first}"),
                            "does not match its entry bundle",
                        ));
                    }
                    let (key, slots) = self.decode_payload_piece_keyed(first, &pv)?;
                    // Every fragment of a window that has a key carries it;
                    // one that does not predates it (or its redaction).
                    open.key = open.key.or(key);
                    slots
                }
                None => {
                    return Err(StoreError::corrupt(
                        format!("payload bundle at {first}"),
                        "missing",
                    ))
                }
            };
            if slots.len() != entries.len() {
                return Err(StoreError::corrupt(
                    format!("payload bundle at {first}"),
                    "does not match its entry bundle",
                ));
            }
            open.fragments.push(first);
            open.records.extend(
                entries
                    .into_iter()
                    .zip(slots)
                    .map(|(entry, payloads)| Record { entry, payloads }),
            );
        }
        Ok(open)
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

    /// Forget decoded bundles held in memory, after data was changed below
    /// the ledger (`tamper`).
    pub fn forget_cached(&self) {
        self.cache.clear();
    }

    /// The stored tree, for proofs and checks.
    pub fn nodes(&self) -> TileNodes<'_, B> {
        TileNodes::new(&self.backend)
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
    /// the backend times it apart from the write (RocksDB does).
    pub fn last_append_sync(&self) -> Option<std::time::Duration> {
        self.state().last_append_sync
    }

    /// Why appends are refused, if they are.
    pub fn poisoned(&self) -> Option<String> {
        self.state().poisoned.clone()
    }

    /// Refuse appends (with [`StoreError::DiskFull`], nothing written) while
    /// fewer than `bytes` are free on the file system of the ledger, so that a
    /// filling disk stops appends cleanly before a write fails half-way; 0
    /// turns the check off. Applies to later appends.
    pub fn set_disk_reserve(&mut self, bytes: u64) {
        self.disk_reserve = bytes;
    }

    /// Salt and compress groups of fewer than [`SMALL_GROUP_ITEMS`] items on
    /// the appending thread instead of the rayon pool. For a process whose
    /// cores are already busy with other work (a daemon parsing requests),
    /// waking the pool's workers for a small group (they spin before they
    /// sleep again) costs more CPU than the parallel work saves; a caller that
    /// appends alone, with cores to spare, is better served by the pool (the
    /// default). Applies to later appends.
    pub fn set_small_groups_inline(&mut self, inline: bool) {
        self.pool_min_items = if inline { SMALL_GROUP_ITEMS } else { 0 };
    }

    /// The reserve [`Ledger::set_disk_reserve`] set.
    pub fn disk_reserve(&self) -> u64 {
        self.disk_reserve
    }

    /// Set the zstd levels of entry and payload bundles (`None`: store them
    /// uncompressed; `cairnd --payload-compression none`). Applies to later
    /// appends; what is stored stays readable whatever its codec.
    pub fn set_compression(&mut self, entries: Option<i32>, payloads: Option<i32>) {
        self.entry_level = entries;
        self.payload_level = payloads;
    }
}

fn read_u64<B: Backend>(backend: &B, key: &[u8]) -> Result<Option<u64>> {
    match backend.get(Cf::Meta, key)? {
        None => Ok(None),
        Some(v) => keys::parse_seq(&v)
            .map(Some)
            .ok_or_else(|| StoreError::corrupt("metadata", "a number is not 8 bytes")),
    }
}
