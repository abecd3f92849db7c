//! The RocksDB backend: one column family per [`Cf`], every write batch fsynced.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamilyDescriptor, DBCompactionStyle, DBCompressionType,
    DBRecoveryMode, Direction, IteratorMode, Options, ReadOptions, WriteBufferManager,
    WriteOptions, DB,
};

use crate::backend::{Backend, Cf, EngineMemory, KeyValue, Op, WriteBatch};
use crate::error::{EngineErrorKind, Result, StoreError};

/// Most memory all memtables of a ledger may hold, those being flushed
/// included: past it RocksDB flushes, and writers wait while flushes catch up
/// (a write buffer manager that stalls), so that a flood of appends on a slow
/// disk cannot grow the process however long the flushes take.
pub const DB_WRITE_BUFFER_BYTES_MAX: usize = 64 << 20;

/// The block cache all column families share (RocksDB's default would be a
/// cache of its own per family).
pub const BLOCK_CACHE_BYTES: usize = 16 << 20;

/// Read-ahead of a whole-column-family read.
const READ_ALL_READAHEAD_BYTES: usize = 2 << 20;

/// Memtable size of the tiles column family.
const TILES_WRITE_BUFFER_BYTES: usize = 4 << 20;

/// Memtable size of each bundle column family.
const BUNDLES_WRITE_BUFFER_BYTES: usize = 16 << 20;

/// Memtable size of the index column family.
const INDEX_WRITE_BUFFER_BYTES: usize = 8 << 20;

/// Sorted runs of the index family before universal compaction merges them
/// (RocksDB's default is 4).
const INDEX_SORTED_RUNS_BEFORE_MERGE: i32 = 8;

/// How much larger than the last sorted run the runs above it may grow before
/// the index family is rewritten whole (RocksDB's default is 200).
const INDEX_SIZE_AMPLIFICATION_PERCENT: i32 = 400;

/// A ledger's RocksDB database.
pub struct RocksBackend {
    db: DB,
    /// The block cache the families share (kept to report its use).
    cache: Cache,
    /// Nanoseconds of the last write's fsync; `u64::MAX` before the first.
    last_sync_ns: AtomicU64,
    /// The writer's lock on [`LOCK_FILE`], held while the database is open
    /// for writing (released when the file is closed); none for a read-only open.
    _lock: Option<std::fs::File>,
}

/// The file a writer locks (`flock`, exclusive) before it opens the database,
/// so that a second writer is told the ledger is in use by the lock's own
/// answer rather than by RocksDB's message. Empty; mode 0600.
pub const LOCK_FILE: &str = "cairn.lock";

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend")
            .field("path", &self.db.path())
            .finish()
    }
}

fn engine(op: &'static str) -> impl Fn(rocksdb::Error) -> StoreError {
    move |e| StoreError::Backend {
        op,
        kind: engine_kind(&e),
        reason: e.into_string(),
    }
}

/// RocksDB's classification of an error, as the store's.
fn engine_kind(e: &rocksdb::Error) -> EngineErrorKind {
    match e.kind() {
        rocksdb::ErrorKind::Corruption => EngineErrorKind::Corruption,
        rocksdb::ErrorKind::IOError => EngineErrorKind::Io,
        rocksdb::ErrorKind::Busy | rocksdb::ErrorKind::TryAgain => EngineErrorKind::Busy,
        _ => EngineErrorKind::Other,
    }
}

/// The memory RocksDB may use beyond what it was configured with per family:
/// one block cache and one bound on all memtables together.
struct Memory {
    cache: Cache,
    write_buffers: WriteBufferManager,
}

impl Memory {
    fn new() -> Memory {
        Memory {
            cache: Cache::new_lru_cache(BLOCK_CACHE_BYTES),
            write_buffers: WriteBufferManager::new_write_buffer_manager(
                DB_WRITE_BUFFER_BYTES_MAX,
                true,
            ),
        }
    }
}

/// Block size of the index family's tables (RocksDB's default is 4 KiB).
const INDEX_BLOCK_BYTES: usize = 16 << 10;

fn db_options(create: bool, memory: &Memory) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(create);
    opts.create_missing_column_families(create);
    opts.set_error_if_exists(create);
    // A process killed in the middle of a WAL write leaves an incomplete last
    // record: that batch was never fsynced nor acknowledged, so it is dropped. Any
    // other WAL damage is an error, never skipped.
    opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
    opts.set_paranoid_checks(true);
    opts.increase_parallelism(2);
    opts.set_max_background_jobs(2);
    opts.set_keep_log_file_num(4);
    // Bound the memory of all memtables together, so that a long flood of appends
    // cannot grow the process without limit (RocksDB flushes when it is reached,
    // and stalls writes while the memtables being flushed still hold it).
    opts.set_write_buffer_manager(&memory.write_buffers);
    opts
}

fn cf_options(cf: Cf, memory: &Memory) -> Options {
    let mut opts = Options::default();
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&memory.cache);
    // Entries and payloads are compressed by the ledger with trained dictionaries;
    // node hashes are incompressible. Only the indexes benefit from RocksDB's own.
    let compression = match cf {
        Cf::Index | Cf::Checkpoints | Cf::Meta => DBCompressionType::Zstd,
        Cf::Entries | Cf::Payloads | Cf::Nodes => DBCompressionType::None,
        // Bundles are compressed by the ledger, whole; tiles are hashes.
        Cf::Bundles | Cf::PayloadBundles | Cf::Tiles => DBCompressionType::None,
    };
    opts.set_compression_type(compression);
    // The right edge of the tree (a partial tile of up to 8 KiB per tile
    // level) and the unsealed window's fragments are rewritten by commit after
    // commit: memtables of the default 64 MiB would hold mostly superseded
    // versions of them (measured: resident memory nearly doubled under a flood
    // of small commits). Smaller memtables flush that garbage early.
    match cf {
        Cf::Tiles => opts.set_write_buffer_size(TILES_WRITE_BUFFER_BYTES),
        Cf::Bundles | Cf::PayloadBundles => opts.set_write_buffer_size(BUNDLES_WRITE_BUFFER_BYTES),
        _ => {}
    }
    if cf == Cf::Index {
        // Index keys land all over the key space, so every memtable insert walks
        // the skip list from the top; a small memtable keeps that walk in the CPU
        // cache (measured: the daemon's sequencer spent most of its time there).
        opts.set_write_buffer_size(INDEX_WRITE_BUFFER_BYTES);
        // Every decision with an idempotency key looks its key up before it is
        // appended, nearly always to find nothing: bloom filters (on tables and
        // on the memtable) answer that without reading index blocks.
        table.set_bloom_filter(10.0, false);
        // Small keys compress better in larger blocks (zstd sees more of
        // their shared text at once).
        table.set_block_size(INDEX_BLOCK_BYTES);
        opts.set_memtable_whole_key_filtering(true);
        opts.set_memtable_prefix_bloom_ratio(0.1);
        // Index keys land all over the key space, so with leveled compaction
        // every flushed table overlaps the whole last level and each compaction
        // rewrote all of it (measured: growing with the ledger, 12 us of CPU per
        // decision at 650k decisions). Universal compaction merges sorted runs of
        // similar size instead: 8 us there, and the cost grows as a logarithm.
        opts.set_compaction_style(DBCompactionStyle::Universal);
        // Still, compacting the index was the largest background cost of
        // ingest, and it grows with the ledger: about five small keys per
        // decision, each rewritten several times (at 1 M decisions, 8.2 s of
        // compaction CPU against 0.9 s for both bundle families). Merging
        // only once 8 sorted runs wait, and rewriting everything only once
        // the runs above the last hold 4 times its size, cut the daemon's
        // compaction CPU from 9.8 to 6.3 µs per decision over 1 M decisions;
        // a query seeks in a few more runs.
        let mut universal = rocksdb::UniversalCompactOptions::default();
        universal.set_max_size_amplification_percent(INDEX_SIZE_AMPLIFICATION_PERCENT);
        opts.set_universal_compaction_options(&universal);
        opts.set_level_zero_file_num_compaction_trigger(INDEX_SORTED_RUNS_BEFORE_MERGE);
    }
    opts.set_block_based_table_factory(&table);
    opts
}

/// Attempts beyond the first at a read-only open that a live writer's
/// compaction raced (see `open_read_only`).
const READ_ONLY_OPEN_ATTEMPTS: u32 = 5;

impl RocksBackend {
    /// Create a new database at `path`; fails if one exists.
    pub fn create(path: &Path) -> Result<RocksBackend> {
        if path.join("CURRENT").exists() {
            return Err(StoreError::AlreadyExists {
                path: path.display().to_string(),
            });
        }
        RocksBackend::open_with(path, true)
    }

    /// Open an existing database at `path`.
    pub fn open(path: &Path) -> Result<RocksBackend> {
        if !path.join("CURRENT").exists() {
            return Err(StoreError::NotALedger {
                path: path.display().to_string(),
            });
        }
        RocksBackend::open_with(path, false)
    }

    /// Open a database read-only: no lock is taken, so this works while a daemon
    /// holds the ledger open for writing; it sees the state at the time of opening.
    /// Writes through it fail.
    pub fn open_read_only(path: &Path) -> Result<RocksBackend> {
        if !path.join("CURRENT").exists() {
            return Err(StoreError::NotALedger {
                path: path.display().to_string(),
            });
        }
        // A writer may be in the middle of its WAL: its incomplete last record is
        // tolerated, as on every open.
        let memory = Memory::new();
        let opts = db_options(false, &memory);
        // Only the families that exist: a ledger of an older layout lacks some,
        // and a read-only open cannot make them (reads of them find nothing).
        let existing = DB::list_cf(&opts, path).map_err(engine("list column families"))?;
        let cfs = || {
            Cf::ALL
                .iter()
                .filter(|cf| existing.iter().any(|name| name == cf.name()))
                .map(|&cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(cf, &memory)))
        };
        // A live writer's compaction may delete a table file between our read
        // of its MANIFEST and the open of that file: the open fails, and a
        // fresh attempt reads the new MANIFEST. Damage fails every attempt.
        let mut attempt = 0;
        let db = loop {
            match DB::open_cf_descriptors_read_only(&opts, path, cfs(), false) {
                Ok(db) => break db,
                Err(e)
                    if attempt < READ_ONLY_OPEN_ATTEMPTS
                        && matches!(
                            engine_kind(&e),
                            EngineErrorKind::Corruption | EngineErrorKind::Io
                        ) =>
                {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(engine("open read-only")(e)),
            }
        };
        Ok(RocksBackend {
            db,
            cache: memory.cache,
            last_sync_ns: AtomicU64::new(u64::MAX),
            _lock: None,
        })
    }

    fn open_with(path: &Path, create: bool) -> Result<RocksBackend> {
        let memory = Memory::new();
        let cfs = Cf::ALL
            .iter()
            .map(|&cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(cf, &memory)));
        let mut opts = db_options(create, &memory);
        // A ledger of an older layout lacks the newer families: they are made
        // empty, and the ledger then says it needs `cairn migrate`.
        opts.create_missing_column_families(true);
        let lock = lock_for_writing(path, create)?;
        let db = DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| StoreError::Backend {
            op: "open",
            kind: engine_kind(&e),
            reason: e.into_string(),
        })?;
        Ok(RocksBackend {
            db,
            cache: memory.cache,
            last_sync_ns: AtomicU64::new(u64::MAX),
            _lock: Some(lock),
        })
    }

    fn cf(&self, cf: Cf) -> Result<&rocksdb::ColumnFamily> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| StoreError::Backend {
                op: "open column family",
                kind: EngineErrorKind::Other,
                reason: format!("column family {} is missing", cf.name()),
            })
    }

    /// Flush memtables to SST files (the WAL already made them durable).
    pub fn flush(&self) -> Result<()> {
        for cf in Cf::ALL {
            if let Some(handle) = self.db.cf_handle(cf.name()) {
                self.db.flush_cf(handle).map_err(engine("flush"))?;
            }
        }
        Ok(())
    }

    /// Compact every column family (for measuring the settled size on disk).
    pub fn compact(&self) -> Result<()> {
        for cf in Cf::ALL {
            if let Some(handle) = self.db.cf_handle(cf.name()) {
                self.db
                    .compact_range_cf(handle, None::<&[u8]>, None::<&[u8]>);
            }
        }
        Ok(())
    }

    fn bounded(&self, from: &[u8], to: &[u8]) -> ReadOptions {
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(from.to_vec());
        ro.set_iterate_upper_bound(to.to_vec());
        ro
    }
}

/// An upper bound of the size of RocksDB's encoding of `batch`: a 12-byte
/// header, and per operation a tag, the column family and two lengths (varints
/// of at most 5 bytes each) before the key and value.
fn rep_bytes(batch: &WriteBatch) -> usize {
    const HEADER: usize = 12;
    const PER_OP: usize = 1 + 3 * 5;
    HEADER + batch.bytes() + PER_OP * batch.ops.len()
}

fn op_key(op: &Op) -> (Cf, &[u8]) {
    match op {
        Op::Put(cf, k, _) | Op::Delete(cf, k) | Op::DeleteRange(cf, k, _) => (*cf, k),
    }
}

impl Backend for RocksBackend {
    fn write(&self, batch: WriteBatch) -> Result<()> {
        // Applied in key order within each column family: RocksDB's memtable
        // skip list reuses the position of the previous insert, so sorted keys
        // cost a short search each instead of a full one from the top. The ops
        // are first grouped by family, so that the keys of a family which come
        // in order (entries, payloads: by seq) stay one run that the (stable)
        // sort only checks; two operations on one key keep their order.
        let mut by_cf: [Vec<&Op>; Cf::ALL.len()] = Default::default();
        for op in &batch.ops {
            by_cf[op_key(op).0 as usize].push(op);
        }
        // Sized up front: grown by doubling, RocksDB's buffer would copy the
        // whole batch several times over (measured: a tenth of the sequencer's
        // time in batches of 1000 decisions).
        let mut wb = rocksdb::WriteBatch::with_capacity_bytes(rep_bytes(&batch));
        for (cf, mut ops) in Cf::ALL.into_iter().zip(by_cf) {
            if ops.is_empty() {
                continue;
            }
            ops.sort_by(|a, b| op_key(a).1.cmp(op_key(b).1));
            let handle = self.cf(cf)?;
            for op in ops {
                match op {
                    Op::Put(_, k, v) => wb.put_cf(handle, k, v),
                    Op::Delete(_, k) => wb.delete_cf(handle, k),
                    Op::DeleteRange(_, from, to) => wb.delete_range_cf(handle, from, to),
                }
            }
        }
        // Written to the WAL, then the WAL fsynced in a call of its own, so that
        // the fsync can be timed apart from the rest. Durable on return all the
        // same; between the two calls the batch is readable but not yet durable,
        // and nobody has been told it is stored.
        self.db
            .write_opt(wb, &WriteOptions::default())
            .map_err(engine("write"))?;
        let syncing = Instant::now();
        self.db.flush_wal(true).map_err(engine("fsync"))?;
        let ns = u64::try_from(syncing.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        self.last_sync_ns.store(ns, Ordering::Relaxed);
        Ok(())
    }

    fn free_bytes(&self) -> Option<u64> {
        let st = rustix::fs::statvfs(self.db.path()).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }

    fn memory(&self) -> Option<EngineMemory> {
        // Per family: the database-wide properties read the default family only.
        let int = |name: &str| -> u64 {
            Cf::ALL
                .iter()
                .filter_map(|cf| self.db.cf_handle(cf.name()))
                .filter_map(|h| self.db.property_int_value_cf(h, name).ok().flatten())
                .sum()
        };
        Some(EngineMemory {
            memtables: int("rocksdb.size-all-mem-tables"),
            block_cache: self.cache.get_usage() as u64,
            table_readers: int("rocksdb.estimate-table-readers-mem"),
        })
    }

    fn last_sync(&self) -> Option<Duration> {
        match self.last_sync_ns.load(Ordering::Relaxed) {
            u64::MAX => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(None);
        };
        self.db.get_cf(handle, key).map_err(engine("read"))
    }

    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<KeyValue>> + 'a> {
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Box::new(std::iter::empty());
        };
        let it = self.db.iterator_cf_opt(
            handle,
            self.bounded(from, to),
            IteratorMode::From(from, Direction::Forward),
        );
        Box::new(it.map(|r| {
            r.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(engine("scan"))
        }))
    }

    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>> {
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(None);
        };
        let mut it = self
            .db
            .iterator_cf_opt(handle, self.bounded(from, to), IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(r) => r
                .map(|(k, v)| Some((k.into_vec(), v.into_vec())))
                .map_err(engine("scan")),
        }
    }

    fn flush(&self) -> Result<()> {
        RocksBackend::flush(self)
    }

    fn purge(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<()> {
        // Every memtable to tables first: the WAL files that still hold the old
        // values become obsolete and RocksDB deletes them (no WAL archive is
        // kept). Then the range is compacted down to the last level, dropping
        // the superseded values, and the tables that held them are deleted.
        RocksBackend::flush(self)?;
        crate::failpoint::hit("purge-before-compact");
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(());
        };
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        opts.set_exclusive_manual_compaction(true);
        self.db
            .compact_range_cf_opt(handle, Some(from), Some(to), &opts);
        Ok(())
    }

    fn family_bytes(&self, cf: Cf) -> Result<u64> {
        let handle = self.cf(cf)?;
        let int = |name: &str| -> Result<u64> {
            Ok(self
                .db
                .property_int_value_cf(handle, name)
                .map_err(engine("read a property"))?
                .unwrap_or(0))
        };
        // The table files of the current version (superseded ones are deleted
        // as soon as no reader holds them): what the family takes on disk. The
        // memtables are left out: their size is that of their arenas, which
        // says little about the data (a nearly empty memtable measured 2 MB),
        // and what they hold is bounded by the write buffer budget.
        int("rocksdb.live-sst-files-size")
    }

    fn check_tables(&self) -> Result<()> {
        verify_checksum(&self.db).map_err(|reason| StoreError::Backend {
            op: "check table checksums",
            kind: status_kind(&reason),
            reason,
        })
    }

    fn read_all(&self, cf: Cf) -> Result<u64> {
        let mut ro = ReadOptions::default();
        ro.set_verify_checksums(true);
        ro.fill_cache(false);
        ro.set_readahead_size(READ_ALL_READAHEAD_BYTES);
        let Some(handle) = self.db.cf_handle(cf.name()) else {
            return Ok(0);
        };
        let mut it = self.db.raw_iterator_cf_opt(handle, ro);
        it.seek_to_first();
        let mut keys = 0;
        while it.valid() {
            keys += 1;
            it.next();
        }
        it.status().map_err(engine("scan"))?;
        Ok(keys)
    }
}

/// The kind of a RocksDB status that came through the C API as text: its code
/// is the part before the first `": "`, written by `Status::ToString` from the
/// status's code (as the `rocksdb` crate's own `Error::kind` reads it).
fn status_kind(status: &str) -> EngineErrorKind {
    let code = status.split_once(": ").map_or(status, |(code, _)| code);
    match code {
        "Corruption" => EngineErrorKind::Corruption,
        "IO error" => EngineErrorKind::Io,
        "Resource busy" | "Operation failed. Try again." => EngineErrorKind::Busy,
        _ => EngineErrorKind::Other,
    }
}

/// Take the writer's lock of the database at `path` (made first when
/// `create`), or say the ledger is in use.
fn lock_for_writing(path: &Path, create: bool) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |op: &'static str| {
        move |e: std::io::Error| StoreError::Backend {
            op,
            kind: EngineErrorKind::Io,
            reason: format!("{}: {e}", path.display()),
        }
    };
    if create {
        std::fs::create_dir_all(path).map_err(io("create the database directory"))?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path.join(LOCK_FILE))
        .map_err(io("open the lock file"))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io("lock the database")(e)),
    }
}

/// RocksDB's `DB::VerifyChecksum`: reads every block of every live table file
/// (data, index, filter and meta blocks) and checks each against its checksum.
/// Scans never read the bloom filter blocks, and RocksDB treats a filter it
/// cannot read as "may match", so without this a damaged filter would go
/// unnoticed (and could let a retried idempotency key be appended twice).
#[allow(unsafe_code)]
fn verify_checksum(db: &DB) -> std::result::Result<(), String> {
    use rocksdb::AsRawPtr;
    let mut err: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: the handle comes from a live `DB` borrowed for the whole call;
    // `err` is either left null or set to a C string allocated by RocksDB,
    // which is copied and then released with `rocksdb_free`, once.
    unsafe {
        librocksdb_sys::rocksdb_verify_checksum(db.as_raw_ptr(), &mut err);
        if err.is_null() {
            return Ok(());
        }
        let reason = std::ffi::CStr::from_ptr(err).to_string_lossy().into_owned();
        librocksdb_sys::rocksdb_free(err.cast());
        Err(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_classified_by_its_code() {
        assert_eq!(
            status_kind("Corruption: block checksum mismatch: stored = 1"),
            EngineErrorKind::Corruption
        );
        assert_eq!(
            status_kind("IO error: No space left on device"),
            EngineErrorKind::Io
        );
        // The words appearing later in the message do not count.
        assert_eq!(
            status_kind("Invalid argument: Corruption of the options"),
            EngineErrorKind::Other
        );
    }

    #[test]
    fn a_second_writer_is_refused_by_the_lock_and_a_reader_is_not() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("db");
        let first = RocksBackend::create(&path).expect("a new database");
        assert!(matches!(
            RocksBackend::create(&path),
            Err(StoreError::AlreadyExists { .. })
        ));
        assert!(matches!(
            RocksBackend::open(&path),
            Err(StoreError::InUse { .. })
        ));
        assert!(RocksBackend::open_read_only(&path).is_ok());
        drop(first);
        assert!(
            RocksBackend::open(&path).is_ok(),
            "the lock goes with the handle"
        );
    }
}
