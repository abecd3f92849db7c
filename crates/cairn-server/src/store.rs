//! The ledger the daemon serves, in the ledger directory `cairn init` creates
//! (see [`cairn_store::datadir`]), so `cairn verify --data DIR` checks a daemon's
//! directory.
//!
//! The daemon runs over [`AnyStore`], a boxed backend, so that tests can serve a
//! ledger whose writes fail on demand without making every type generic.

use std::path::Path;

use cairn_core::checkpoint::NoteSigner;
use cairn_store::{Backend, Ledger, RocksBackend};

pub use cairn_store::datadir::{
    exists, init, signer, verifier, DataDirError, DB_DIR, SIGNING_KEY, VERIFIER_KEY,
};

/// Any backend, boxed.
pub type AnyStore = Box<dyn Backend>;

/// The ledger type the daemon serves.
pub type ServedLedger = Ledger<AnyStore>;

/// Open the ledger in `dir` (its tail checked) and its signing key.
pub fn open(dir: &Path) -> Result<(ServedLedger, NoteSigner), DataDirError> {
    if !exists(dir) {
        return Err(DataDirError::NoLedger {
            path: dir.to_owned(),
        });
    }
    let store = |source| DataDirError::Store {
        path: dir.to_owned(),
        source,
    };
    let backend = RocksBackend::open(&dir.join(DB_DIR)).map_err(store)?;
    let ledger = Ledger::open(Box::new(backend) as AnyStore).map_err(store)?;
    ledger.finish_purges().map_err(store)?;
    Ok((ledger, signer(dir)?))
}
