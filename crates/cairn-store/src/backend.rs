//! The storage trait: the small interface every backend implements.
//!
//! A backend is an ordered key-value store with a fixed set of column families,
//! atomic durable batch writes, point reads and ordered range scans. Everything
//! ledger-specific (sequencing, hashing, compression, indexes) lives above it in
//! [`crate::Ledger`], so the in-memory and RocksDB backends share that code.

use std::time::Duration;

use crate::error::Result;

/// The column families of a ledger. Storage v2 (`schemas/storage-v2.md`)
/// writes bundles, payload bundles, tiles, checkpoints, index and meta;
/// `Entries`, `Payloads` and `Nodes` hold a version 1 ledger and are only read,
/// by `cairn migrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    /// v1: seq (u64 BE) → compressed entry bytes.
    Entries,
    /// v1: seq (u64 BE) ‖ slot (u8) → compressed salt ‖ payload.
    Payloads,
    /// v1: level (u8) ‖ index (u64 BE) → 32-byte complete-subtree hash.
    Nodes,
    /// tree size (u64 BE) → signed checkpoint note.
    Checkpoints,
    /// secondary indexes: tag ‖ value ‖ 0x00 ‖ seq (u64 BE) → empty.
    Index,
    /// ledger metadata: origin, size, layout, index watermark.
    Meta,
    /// v2: first seq (u64 BE) → a compressed piece of consecutive entries.
    Bundles,
    /// v2: first seq (u64 BE) → the compressed payloads of the same entries.
    PayloadBundles,
    /// v2: tile level (u8) ‖ tile index (u64 BE) → up to 256 hashes.
    Tiles,
}

impl Cf {
    /// Every column family.
    pub const ALL: [Cf; 9] = [
        Cf::Entries,
        Cf::Payloads,
        Cf::Nodes,
        Cf::Checkpoints,
        Cf::Index,
        Cf::Meta,
        Cf::Bundles,
        Cf::PayloadBundles,
        Cf::Tiles,
    ];

    /// The column family's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Entries => "entries",
            Cf::Payloads => "payloads",
            Cf::Nodes => "nodes",
            Cf::Checkpoints => "checkpoints",
            Cf::Index => "index",
            Cf::Meta => "meta",
            Cf::Bundles => "bundles",
            Cf::PayloadBundles => "payload_bundles",
            Cf::Tiles => "tiles",
        }
    }
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set key to value.
    Put(Cf, Vec<u8>, Vec<u8>),
    /// Remove key.
    Delete(Cf, Vec<u8>),
    /// Remove every key in `[from, to)`.
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// Operations applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The operations, in order.
    pub ops: Vec<Op>,
}

impl WriteBatch {
    /// Add a put.
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put(cf, key.into(), value.into()));
    }

    /// Add a delete.
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(cf, key.into()));
    }

    /// Add a delete of every key in `[from, to)`.
    pub fn delete_range(&mut self, cf: Cf, from: impl Into<Vec<u8>>, to: impl Into<Vec<u8>>) {
        self.ops.push(Op::DeleteRange(cf, from.into(), to.into()));
    }

    /// Bytes of keys and values in the batch.
    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Put(_, k, v) => k.len() + v.len(),
                Op::Delete(_, k) => k.len(),
                Op::DeleteRange(_, from, to) => from.len() + to.len(),
            })
            .sum()
    }
}

/// What a storage engine holds in memory now, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineMemory {
    /// Memtables, those waiting to be flushed included.
    pub memtables: u64,
    /// The block cache's use.
    pub block_cache: u64,
    /// Table readers' index and filter blocks held outside the block cache.
    pub table_readers: u64,
}

/// A key and its value from a scan.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// An ordered key-value store with column families.
pub trait Backend: Send + Sync {
    /// Apply the batch atomically and durably (fsync) before returning.
    fn write(&self, batch: WriteBatch) -> Result<()>;

    /// The value of one key.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Keys in `[from, to)` in ascending order, with their values.
    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<KeyValue>> + 'a>;

    /// The greatest key in `[from, to)`, with its value.
    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>>;

    /// Push buffered state to its final place on disk. Writes are already durable
    /// when `write` returns; this only makes reopening cheaper.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Make sure no older copy of the values of `cf` in `[from, to)` survives
    /// in the engine's files (write-ahead log, superseded tables): after an
    /// erasure rewrote them. A backend that keeps no files has nothing to do.
    fn purge(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<()> {
        let _ = (cf, from, to);
        Ok(())
    }

    /// How long the fsync of the last successful `write` took, for a backend that
    /// syncs as a step of its own (the daemon reports it in `/metrics`).
    fn last_sync(&self) -> Option<Duration> {
        None
    }

    /// Bytes an unprivileged writer may still add on the file system that holds
    /// the store's files; `None` for a backend that keeps no files.
    fn free_bytes(&self) -> Option<u64> {
        None
    }

    /// What the engine holds in memory; `None` for a backend that does not say.
    fn memory(&self) -> Option<EngineMemory> {
        None
    }

    /// Check every block of every stored table against its checksum, the
    /// blocks that reads never touch (bloom filters) included. A backend without
    /// such files has nothing to check.
    fn check_tables(&self) -> Result<()> {
        Ok(())
    }

    /// Bytes the keys and values of `cf` take in the engine (for an engine
    /// with files: its table files, leaving out what is still only in
    /// memory). By default, the sum of every key's and value's length.
    fn family_bytes(&self, cf: Cf) -> Result<u64> {
        let mut bytes = 0u64;
        for row in self.scan(cf, &[], &[0xff; 32]) {
            let (k, v) = row?;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok(bytes)
    }

    /// Read every key and value of `cf` once, so that the storage engine checks
    /// them (block checksums), and return how many keys there are. Nothing is
    /// handed back, so a backend can do this without copying.
    fn read_all(&self, cf: Cf) -> Result<u64> {
        let mut keys = 0;
        for row in self.scan(cf, &[], &[0xff; 32]) {
            row?;
            keys += 1;
        }
        Ok(keys)
    }
}

/// Forwards every call, so that a boxed or shared backend is a backend too.
macro_rules! forward_backend {
    ($ty:ty) => {
        impl<T: Backend + ?Sized> Backend for $ty {
            fn write(&self, batch: WriteBatch) -> Result<()> {
                (**self).write(batch)
            }

            fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
                (**self).get(cf, key)
            }

            fn scan<'a>(
                &'a self,
                cf: Cf,
                from: &[u8],
                to: &[u8],
            ) -> Box<dyn Iterator<Item = Result<KeyValue>> + 'a> {
                (**self).scan(cf, from, to)
            }

            fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>> {
                (**self).last_in(cf, from, to)
            }

            fn flush(&self) -> Result<()> {
                (**self).flush()
            }

            fn last_sync(&self) -> Option<Duration> {
                (**self).last_sync()
            }

            fn purge(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<()> {
                (**self).purge(cf, from, to)
            }

            fn read_all(&self, cf: Cf) -> Result<u64> {
                (**self).read_all(cf)
            }

            fn family_bytes(&self, cf: Cf) -> Result<u64> {
                (**self).family_bytes(cf)
            }

            fn check_tables(&self) -> Result<()> {
                (**self).check_tables()
            }

            fn memory(&self) -> Option<EngineMemory> {
                (**self).memory()
            }
            fn free_bytes(&self) -> Option<u64> {
                (**self).free_bytes()
            }
        }
    };
}

forward_backend!(Box<T>);
forward_backend!(std::sync::Arc<T>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_as_a_number_is_its_place_in_all() {
        // The RocksDB backend groups a batch's operations by `cf as usize`.
        for (i, cf) in Cf::ALL.into_iter().enumerate() {
            assert_eq!(cf as usize, i, "{}", cf.name());
        }
    }
}
