//! A ledger's local store with its archive behind it: a [`Backend`] that
//! reads the local store first and, for the entry and payload bundles of
//! windows dropped once archived (`meta/dropped`, `schemas/storage-v2.md`
//! "Local retention"), the archive's objects (`schemas/archive-v1.md`),
//! through a bounded cache. Every reader of the ledger (daemon, CLI,
//! `verify`) goes through it, so dropped windows read as if they were local.
//!
//! - Local first, always: a window dropped and then rewritten by an erasure
//!   holds its erased payload bundle locally again, and that copy wins.
//! - Writes go to the local store. A write of `meta/dropped` raises the
//!   boundary before it is applied (raising it early is harmless: misses
//!   below it go to the archive, which holds those windows), and a write of a
//!   bundle forgets its cached archive copy.
//! - Fetching is lazy: the bucket is opened on the first read that needs it,
//!   so a ledger whose archive is unreachable still serves its local data; a
//!   failed fetch is [`StoreError::ArchiveUnavailable`], naming the URL and
//!   the seqs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_store::backend::{Backend, Cf, EngineMemory, KeyValue, Op, WriteBatch};
use cairn_store::keys::{self, meta};
use cairn_store::pieces::BUNDLE_ENTRIES;
use cairn_store::StoreError;

use crate::bucket::Bucket;
use crate::cache::{CacheStats, ObjectCache};
use crate::layout;

/// Bytes of fetched objects kept in memory unless set otherwise.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

type Result<T> = std::result::Result<T, StoreError>;

/// Which object of a window: (payloads?, window index).
type ObjectKey = (bool, u64);

/// The archive side of a [`Layered`] backend, shared with whoever reports on
/// it (`/metrics`).
pub struct ArchiveReads {
    url: String,
    bucket: Mutex<Option<Arc<Bucket>>>,
    dropped: AtomicU64,
    cache: ObjectCache<ObjectKey>,
    fetches: AtomicU64,
    fetched_bytes: AtomicU64,
    failures: AtomicU64,
}

/// What the archive side has done, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Seqs below this are read from the archive.
    pub dropped: u64,
    /// Objects fetched from the bucket.
    pub fetches: u64,
    /// Bytes fetched.
    pub fetched_bytes: u64,
    /// Fetches that failed.
    pub failures: u64,
    /// The cache.
    pub cache: CacheStats,
    /// The cache's bound.
    pub cache_bytes_max: u64,
}

impl std::fmt::Debug for ArchiveReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveReads")
            .field("url", &self.url)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl ArchiveReads {
    fn new(url: String, dropped: u64, cache_bytes: u64) -> ArchiveReads {
        ArchiveReads {
            url,
            bucket: Mutex::new(None),
            dropped: AtomicU64::new(dropped),
            cache: ObjectCache::new(cache_bytes),
            fetches: AtomicU64::new(0),
            fetched_bytes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// The archive's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Seqs below this are read from the archive.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Acquire)
    }

    /// What it has done.
    pub fn stats(&self) -> ReadStats {
        ReadStats {
            dropped: self.dropped(),
            fetches: self.fetches.load(Ordering::Relaxed),
            fetched_bytes: self.fetched_bytes.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            cache: self.cache.stats(),
            cache_bytes_max: self.cache.bytes_max(),
        }
    }

    fn unavailable(&self, first: u64, reason: String) -> StoreError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        StoreError::ArchiveUnavailable {
            url: self.url.clone(),
            seq: first,
            reason,
        }
    }

    fn bucket(&self, first: u64) -> Result<Arc<Bucket>> {
        let mut slot = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = slot.as_ref() {
            return Ok(Arc::clone(b));
        }
        let bucket = Bucket::open_for_reads(&self.url)
            .map_err(|e| self.unavailable(first, cairn_store::error::chain(&e)))?;
        Ok(Arc::clone(slot.insert(Arc::new(bucket))))
    }

    /// The archived object of the window starting at `first`.
    fn fetch(&self, cf: Cf, first: u64) -> Result<Vec<u8>> {
        let key = (cf == Cf::PayloadBundles, first / BUNDLE_ENTRIES);
        if let Some(v) = self.cache.get(&key) {
            return Ok(v.to_vec());
        }
        let n = first / BUNDLE_ENTRIES;
        let name = match cf {
            Cf::Bundles => layout::entries(n, BUNDLE_ENTRIES),
            _ => layout::payloads(n, BUNDLE_ENTRIES),
        };
        let got = self
            .bucket(first)?
            .get(&name)
            .map_err(|e| self.unavailable(first, cairn_store::error::chain(&e)))?;
        let bytes = got
            .ok_or_else(|| self.unavailable(first, format!("the archive has no object {name}")))?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        self.fetched_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.cache.insert(key, Arc::new(bytes.clone()));
        Ok(bytes)
    }

    /// Take note of a batch about to be written to the local store.
    fn before_write(&self, batch: &WriteBatch) {
        for op in &batch.ops {
            match op {
                Op::Put(Cf::Meta, k, v) if k == meta::DROPPED => {
                    if let Some(d) = keys::parse_seq(v) {
                        self.dropped.fetch_max(d, Ordering::AcqRel);
                    }
                }
                Op::Put(cf @ (Cf::Bundles | Cf::PayloadBundles), k, _)
                | Op::Delete(cf @ (Cf::Bundles | Cf::PayloadBundles), k) => {
                    if let Some(first) = keys::parse_seq(k) {
                        self.cache
                            .remove(&(*cf == Cf::PayloadBundles, first / BUNDLE_ENTRIES));
                    }
                }
                _ => {}
            }
        }
    }
}

/// A local backend with the archive behind its dropped windows.
pub struct Layered<B> {
    local: B,
    archive: Option<Arc<ArchiveReads>>,
}

impl<B> std::fmt::Debug for Layered<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("archive", &self.archive)
            .finish()
    }
}

fn meta_u64<B: Backend>(local: &B, key: &[u8]) -> Result<u64> {
    match local.get(Cf::Meta, key)? {
        None => Ok(0),
        Some(v) => keys::parse_seq(&v).ok_or_else(|| StoreError::Corrupt {
            what: "metadata".into(),
            reason: "a number is not 8 bytes".into(),
        }),
    }
}

fn meta_url<B: Backend>(local: &B) -> Result<Option<String>> {
    match local.get(Cf::Meta, meta::ARCHIVE)? {
        None => Ok(None),
        Some(v) => String::from_utf8(v)
            .map(Some)
            .map_err(|_| StoreError::Corrupt {
                what: "metadata".into(),
                reason: "the archive URL is not UTF-8".into(),
            }),
    }
}

impl<B: Backend> Layered<B> {
    /// Over `local`, reading its dropped windows (if any) from the archive
    /// its metadata names, keeping up to `cache_bytes` of fetched objects.
    pub fn open(local: B, cache_bytes: u64) -> Result<Layered<B>> {
        let dropped = meta_u64(&local, meta::DROPPED)?;
        let archive = match meta_url(&local)? {
            Some(url) => Some(Arc::new(ArchiveReads::new(url, dropped, cache_bytes))),
            None if dropped > 0 => {
                return Err(StoreError::Corrupt {
                    what: "metadata".into(),
                    reason: format!(
                        "the windows below seq {dropped} were dropped but no archive is named"
                    ),
                })
            }
            None => None,
        };
        Ok(Layered { local, archive })
    }

    /// Over `local`, with the archive at `url` behind it: the URL is recorded
    /// in the local store (`meta/archive`) so that every later reader finds
    /// it. Refused when windows are dropped already and another archive
    /// holds them.
    pub fn with_archive(local: B, url: &str, cache_bytes: u64) -> Result<Layered<B>> {
        let dropped = meta_u64(&local, meta::DROPPED)?;
        match meta_url(&local)? {
            Some(known) if known == url => {}
            Some(known) if dropped > 0 => {
                return Err(StoreError::Invalid(format!(
                    "the windows below seq {dropped} of this ledger are only in the archive {known}, not {url}: archive to {known}, or restore the ledger first (`cairn restore`)"
                )))
            }
            _ => {
                let mut batch = WriteBatch::default();
                batch.put(Cf::Meta, meta::ARCHIVE, url.as_bytes());
                local.write(batch)?;
            }
        }
        Ok(Layered {
            local,
            archive: Some(Arc::new(ArchiveReads::new(
                url.to_owned(),
                dropped,
                cache_bytes,
            ))),
        })
    }

    /// The archive side, when there is an archive.
    pub fn archive(&self) -> Option<&Arc<ArchiveReads>> {
        self.archive.as_ref()
    }

    /// The local store.
    pub fn local(&self) -> &B {
        &self.local
    }

    /// Close, giving back the local store.
    pub fn into_local(self) -> B {
        self.local
    }

    /// The archive, when `cf` has windows below the boundary.
    fn dropped_for(&self, cf: Cf) -> Option<(&ArchiveReads, u64)> {
        let a = self.archive.as_deref()?;
        let d = a.dropped();
        (matches!(cf, Cf::Bundles | Cf::PayloadBundles) && d > 0).then_some((a, d))
    }

    /// Keys of archived windows in `[from, to)` below the boundary `dropped`.
    fn archived_keys(from: &[u8], to: &[u8], dropped: u64) -> Vec<Vec<u8>> {
        let lo = seq_bound(from).div_ceil(BUNDLE_ENTRIES);
        let hi = seq_bound(to).min(dropped).div_ceil(BUNDLE_ENTRIES);
        (lo..hi)
            .map(|n| keys::seq_key(n * BUNDLE_ENTRIES).to_vec())
            .filter(|k| k.as_slice() >= from && k.as_slice() < to)
            .collect()
    }

    /// The greatest key of an archived window in `[from, to)` below `dropped`.
    fn last_archived_key(from: &[u8], to: &[u8], dropped: u64) -> Option<Vec<u8>> {
        let hi = seq_bound(to).min(dropped);
        let mut n = hi.checked_sub(1)? / BUNDLE_ENTRIES;
        loop {
            let k = keys::seq_key(n * BUNDLE_ENTRIES).to_vec();
            if k.as_slice() < from {
                return None;
            }
            if k.as_slice() < to {
                return Some(k);
            }
            n = n.checked_sub(1)?;
        }
    }
}

/// The seq a key bound stands for (shorter keys padded with zeros, longer
/// keys past the 8 bytes of a seq rounded up).
fn seq_bound(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    let v = u64::from_be_bytes(b);
    if key.len() > 8 && key[8..].iter().any(|&x| x != 0) {
        v.saturating_add(1)
    } else {
        v
    }
}

impl<B: Backend> Backend for Layered<B> {
    fn write(&self, batch: WriteBatch) -> Result<()> {
        if let Some(a) = &self.archive {
            a.before_write(&batch);
        }
        self.local.write(batch)
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.local.get(cf, key)? {
            return Ok(Some(v));
        }
        let Some((archive, dropped)) = self.dropped_for(cf) else {
            return Ok(None);
        };
        match keys::parse_seq(key) {
            Some(first) if first < dropped && first % BUNDLE_ENTRIES == 0 => {
                archive.fetch(cf, first).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<KeyValue>> + 'a> {
        let Some((archive, dropped)) = self.dropped_for(cf) else {
            return self.local.scan(cf, from, to);
        };
        let archived = Self::archived_keys(from, to, dropped);
        if archived.is_empty() {
            return self.local.scan(cf, from, to);
        }
        // Below the boundary the local store holds only the windows an erasure
        // rewrote: read them, then merge with the archive's, local first. The
        // archive's objects are fetched as the scan reaches them.
        let boundary = keys::seq_key(dropped).to_vec();
        let split = if to < boundary.as_slice() {
            to
        } else {
            &boundary
        };
        let mut local_low = BTreeMap::new();
        for row in self.local.scan(cf, from, split) {
            match row {
                Ok((k, v)) => {
                    local_low.insert(k, v);
                }
                Err(e) => return Box::new(std::iter::once(Err(e))),
            }
        }
        let mut low_keys: BTreeSet<Vec<u8>> = archived.into_iter().collect();
        low_keys.extend(local_low.keys().cloned());
        let low = low_keys
            .into_iter()
            .map(move |k| match local_low.remove(&k) {
                Some(v) => Ok((k, v)),
                None => archive.fetch(cf, seq_of(&k)).map(|v| (k, v)),
            });
        if to <= boundary.as_slice() {
            return Box::new(low);
        }
        let start = if from > boundary.as_slice() {
            from
        } else {
            &boundary
        };
        Box::new(low.chain(self.local.scan(cf, start, to)))
    }

    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>> {
        let local = self.local.last_in(cf, from, to)?;
        let Some((archive, dropped)) = self.dropped_for(cf) else {
            return Ok(local);
        };
        let Some(k) = Self::last_archived_key(from, to, dropped) else {
            return Ok(local);
        };
        match local {
            Some((lk, v)) if lk >= k => Ok(Some((lk, v))),
            _ => archive.fetch(cf, seq_of(&k)).map(|v| Some((k, v))),
        }
    }

    fn flush(&self) -> Result<()> {
        self.local.flush()
    }

    fn purge(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<()> {
        self.local.purge(cf, from, to)
    }

    fn last_sync(&self) -> Option<std::time::Duration> {
        self.local.last_sync()
    }

    fn free_bytes(&self) -> Option<u64> {
        self.local.free_bytes()
    }

    fn memory(&self) -> Option<EngineMemory> {
        self.local.memory()
    }

    fn check_tables(&self) -> Result<()> {
        self.local.check_tables()
    }

    fn read_all(&self, cf: Cf) -> Result<u64> {
        self.local.read_all(cf)
    }

    fn family_bytes(&self, cf: Cf) -> Result<u64> {
        self.local.family_bytes(cf)
    }
}

fn seq_of(key: &[u8]) -> u64 {
    keys::parse_seq(key).unwrap_or(0)
}
