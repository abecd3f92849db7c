//! The ledger the daemon serves, in the ledger directory `cairn init` creates
//! (see [`cairn_store::datadir`]), so `cairn verify --data DIR` checks a daemon's
//! directory.
//!
//! The daemon runs over [`AnyStore`], a boxed backend, so that tests can serve a
//! ledger whose writes fail on demand without making every type generic. The
//! directory's RocksDB is opened through `cairn_archive::Layered`, so windows
//! dropped once archived (`--local-retention`) are read from the archive.

use std::path::Path;
use std::sync::Arc;

use cairn_archive::{ArchiveReads, Layered, DEFAULT_CACHE_BYTES};
use cairn_core::checkpoint::NoteSigner;
use cairn_store::{Backend, Ledger, RocksBackend};

use crate::archiver::ArchiveConfig;

pub use cairn_store::datadir::{
    exists, init, signer, verifier, DataDirError, DB_DIR, SIGNING_KEY, VERIFIER_KEY,
};

/// Any backend, boxed.
pub type AnyStore = Box<dyn Backend>;

/// The ledger type the daemon serves.
pub type ServedLedger = Ledger<AnyStore>;

/// An opened ledger directory.
pub struct Opened {
    /// The ledger.
    pub ledger: ServedLedger,
    /// Its signing key.
    pub signer: NoteSigner,
    /// The archive behind its dropped windows, if it has one.
    pub archive: Option<Arc<ArchiveReads>>,
}

/// Open the ledger in `dir` (its tail checked) and its signing key. With
/// local retention on, the archive's URL is recorded in the ledger so that
/// every reader of the directory finds the windows it drops.
pub fn open(dir: &Path, archive: Option<&ArchiveConfig>) -> Result<Opened, DataDirError> {
    if !exists(dir) {
        return Err(DataDirError::NoLedger {
            path: dir.to_owned(),
        });
    }
    let store = |source| DataDirError::Store {
        path: dir.to_owned(),
        source,
    };
    let local = RocksBackend::open(&dir.join(DB_DIR)).map_err(store)?;
    let layered = match archive {
        Some(a) if a.retention.is_some() => Layered::with_archive(local, &a.url, a.cache_bytes),
        Some(a) => Layered::open(local, a.cache_bytes),
        None => Layered::open(local, DEFAULT_CACHE_BYTES),
    }
    .map_err(store)?;
    let reads = layered.archive().cloned();
    let ledger = Ledger::open(Box::new(layered) as AnyStore).map_err(store)?;
    // A redaction whose purge a crash interrupted is purged before serving.
    ledger.finish_purges().map_err(store)?;
    // Indexes of an older format are dropped, to be built again.
    ledger.upgrade_indexes().map_err(store)?;
    Ok(Opened {
        ledger,
        signer: signer(dir)?,
        archive: reads,
    })
}
