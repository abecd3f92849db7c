//! A ledger directory (`cairn_store::datadir`) opened through [`Layered`], so
//! that a ledger whose daemon dropped archived windows (`cairnd
//! --local-retention`) reads them from the archive its metadata names; a
//! ledger without dropped windows reads as before.

use std::path::{Path, PathBuf};

use cairn_store::datadir::{self, DataDirError, DB_DIR};
use cairn_store::{Ledger, RocksBackend, StoreError};

use crate::layered::{Layered, DEFAULT_CACHE_BYTES};

/// The store of a ledger directory.
pub type DirStore = Layered<RocksBackend>;

fn db_path(dir: &Path) -> Result<PathBuf, DataDirError> {
    if !datadir::exists(dir) {
        return Err(DataDirError::NoLedger {
            path: dir.to_owned(),
        });
    }
    Ok(dir.join(DB_DIR))
}

fn store_error(dir: &Path) -> impl FnOnce(StoreError) -> DataDirError {
    let path = dir.to_owned();
    move |source| DataDirError::Store { path, source }
}

fn layered(dir: &Path, local: RocksBackend) -> Result<DirStore, DataDirError> {
    Layered::open(local, DEFAULT_CACHE_BYTES).map_err(store_error(dir))
}

/// Open the ledger in `dir` for appending: exclusively, its tail checked.
pub fn open(dir: &Path) -> Result<Ledger<DirStore>, DataDirError> {
    let local = RocksBackend::open(&db_path(dir)?).map_err(store_error(dir))?;
    let ledger = Ledger::open(layered(dir, local)?).map_err(store_error(dir))?;
    // A redaction whose purge a crash interrupted is purged now, before
    // anything else is written.
    ledger.finish_purges().map_err(store_error(dir))?;
    // Indexes of an older format are dropped, to be built again.
    ledger.upgrade_indexes().map_err(store_error(dir))?;
    Ok(ledger)
}

/// Open the ledger in `dir` exclusively without checking its tail.
pub fn open_unchecked(dir: &Path) -> Result<Ledger<DirStore>, DataDirError> {
    let local = RocksBackend::open(&db_path(dir)?).map_err(store_error(dir))?;
    Ledger::open_unchecked(layered(dir, local)?).map_err(store_error(dir))
}

/// Open the ledger in `dir` read-only, without its lock (a running daemon
/// may be writing it). It shows the ledger as it was when opened; a window
/// the daemon drops meanwhile is still read from the local files this
/// reader holds open.
pub fn open_read_only(dir: &Path) -> Result<Ledger<DirStore>, DataDirError> {
    let local = RocksBackend::open_read_only(&db_path(dir)?).map_err(store_error(dir))?;
    Ledger::open_unchecked(layered(dir, local)?).map_err(store_error(dir))
}
