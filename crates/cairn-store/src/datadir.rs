//! The ledger directory: `DIR/ledger` (RocksDB), `DIR/signing.key` (the Ed25519
//! signing key, mode 0600) and `DIR/verifier.key`. `cairn` and `cairnd` share it,
//! so `cairn verify --data DIR` checks a daemon's directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cairn_core::checkpoint::{CheckpointError, NoteSigner, NoteVerifier};

use crate::error::StoreError;
use crate::ledger::Ledger;
use crate::rocks::RocksBackend;

/// RocksDB directory inside the ledger directory.
pub const DB_DIR: &str = "ledger";
/// Signing key file inside the ledger directory.
pub const SIGNING_KEY: &str = "signing.key";
/// Verifier key file inside the ledger directory.
pub const VERIFIER_KEY: &str = "verifier.key";

/// Why the ledger directory could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// There is no ledger in the directory.
    #[error(
        "no ledger in {path}: create one with `cairn init --data {path}` (or start cairnd with --init)"
    )]
    NoLedger {
        /// The directory.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file does not hold a valid key.
    #[error("{path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong with it.
        source: CheckpointError,
    },
    /// A ledger already exists where one was to be created.
    #[error("a ledger already exists in {path}")]
    Exists {
        /// The directory.
        path: PathBuf,
    },
    /// The store refused (damaged tail, locked by another process, ...).
    #[error("opening the ledger in {path}: {source}")]
    Store {
        /// The directory.
        path: PathBuf,
        /// The store's error.
        source: StoreError,
    },
    /// No origin was given and none can be derived from the directory name.
    #[error("cannot derive an origin from {path}: pass --origin")]
    NoOrigin {
        /// The directory.
        path: PathBuf,
    },
    /// The operating system gave no randomness for the key.
    #[error("no randomness for the signing key: {0}")]
    Randomness(String),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_owned();
    move |source| DataDirError::Io {
        action,
        path,
        source,
    }
}

/// Whether `dir` already holds a ledger.
pub fn exists(dir: &Path) -> bool {
    dir.join(DB_DIR).exists()
}

/// The RocksDB directory of the ledger in `dir`, which must exist.
fn db_path(dir: &Path) -> Result<PathBuf, DataDirError> {
    if !exists(dir) {
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

/// Open the ledger in `dir` for appending: exclusively, its tail checked.
pub fn open(dir: &Path) -> Result<Ledger<RocksBackend>, DataDirError> {
    let backend = RocksBackend::open(&db_path(dir)?).map_err(store_error(dir))?;
    let ledger = Ledger::open(backend).map_err(store_error(dir))?;
    // A redaction whose purge a crash interrupted is purged now, before
    // anything else is written.
    ledger.finish_purges().map_err(store_error(dir))?;
    // Indexes of an older format are dropped, to be built again.
    ledger.upgrade_indexes().map_err(store_error(dir))?;
    Ok(ledger)
}

/// Open the ledger in `dir` exclusively without checking its tail (for `verify`,
/// which must read damaged ledgers); appends are refused.
pub fn open_unchecked(dir: &Path) -> Result<Ledger<RocksBackend>, DataDirError> {
    let backend = RocksBackend::open(&db_path(dir)?).map_err(store_error(dir))?;
    Ledger::open_unchecked(backend).map_err(store_error(dir))
}

/// Open the ledger in `dir` read-only, without its lock: for reading a ledger a
/// running daemon is writing to. It shows the ledger as it was when opened.
pub fn open_read_only(dir: &Path) -> Result<Ledger<RocksBackend>, DataDirError> {
    let backend = RocksBackend::open_read_only(&db_path(dir)?).map_err(store_error(dir))?;
    Ledger::open_unchecked(backend).map_err(store_error(dir))
}

/// The ledger's signing key.
pub fn signer(dir: &Path) -> Result<NoteSigner, DataDirError> {
    let path = dir.join(SIGNING_KEY);
    let text = fs::read_to_string(&path).map_err(io("reading the signing key", &path))?;
    NoteSigner::parse(text.trim()).map_err(|source| DataDirError::Key { path, source })
}

/// The ledger's verifier key.
pub fn verifier(dir: &Path) -> Result<NoteVerifier, DataDirError> {
    let path = dir.join(VERIFIER_KEY);
    let text = fs::read_to_string(&path).map_err(io("reading the verifier key", &path))?;
    NoteVerifier::parse(text.trim()).map_err(|source| DataDirError::Key { path, source })
}

/// Create a ledger in `dir` as `cairn init` does: a fresh Ed25519 key named after
/// the origin, then an empty ledger. Returns the verifier key.
pub fn init(dir: &Path, origin: Option<&str>) -> Result<NoteVerifier, DataDirError> {
    if exists(dir) {
        return Err(DataDirError::Exists {
            path: dir.to_owned(),
        });
    }
    let origin = match origin {
        Some(o) => o.to_owned(),
        None => default_origin(dir)?,
    };
    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| DataDirError::Randomness(e.to_string()))?;
    let signer = NoteSigner::new(&origin, &seed).map_err(|source| DataDirError::Key {
        path: dir.join(SIGNING_KEY),
        source,
    })?;
    write_new(&dir.join(SIGNING_KEY), &signer.to_string(), 0o600)?;
    let verifier = signer.verifier();
    write_new(&dir.join(VERIFIER_KEY), &format!("{verifier}\n"), 0o644)?;
    let backend = RocksBackend::create(&dir.join(DB_DIR)).map_err(store_error(dir))?;
    Ledger::create(backend, &origin).map_err(store_error(dir))?;
    Ok(verifier)
}

fn default_origin(dir: &Path) -> Result<String, DataDirError> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace) && !n.contains('+'))
        .map(|n| format!("cairn/{n}"))
        .ok_or_else(|| DataDirError::NoOrigin {
            path: dir.to_owned(),
        })
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), DataDirError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io("creating", path))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io("writing", path))
}

/// Migrate the version 1 ledger in `dir` to layout version 2: into the new
/// directory `to` (its key files copied; the original is left as it was), or,
/// without `to`, in place. Either way the new layout is built under another
/// name (`ledger.v2-new`) and renamed into place only once it is whole, so a
/// migration stopped half way leaves no ledger that looks finished (it is
/// started again from the beginning); in place, the old one is then removed.
pub fn migrate(
    dir: &Path,
    to: Option<&Path>,
    progress: impl FnMut(u64, u64),
) -> Result<crate::migrate::MigrateReport, DataDirError> {
    let src_path = db_path(dir)?;
    let src = RocksBackend::open(&src_path).map_err(store_error(dir))?;
    if !crate::migrate::is_v1(&src).map_err(store_error(dir))? {
        return Err(DataDirError::Store {
            path: dir.to_owned(),
            source: StoreError::Invalid("the ledger is already in layout version 2".into()),
        });
    }
    let target = match to {
        Some(to) => {
            if exists(to) {
                return Err(DataDirError::Exists {
                    path: to.to_owned(),
                });
            }
            fs::create_dir_all(to).map_err(io("creating", to))?;
            for key in [SIGNING_KEY, VERIFIER_KEY] {
                let (from, into) = (dir.join(key), to.join(key));
                if from.exists() {
                    fs::copy(&from, &into).map_err(io("copying", &from))?;
                }
            }
            to
        }
        None => dir,
    };
    let new_path = target.join("ledger.v2-new");
    if new_path.exists() {
        // An earlier migration stopped before it finished: start again.
        fs::remove_dir_all(&new_path).map_err(io("removing", &new_path))?;
    }
    let dst = RocksBackend::create(&new_path).map_err(store_error(dir))?;
    let (ledger, report) =
        crate::migrate::from_v1(&src, dst, progress).map_err(store_error(dir))?;
    ledger.backend().flush().map_err(store_error(dir))?;
    drop(ledger);
    drop(src);
    let final_path = target.join(DB_DIR);
    if to.is_none() {
        let old = dir.join("ledger.v1-old");
        fs::rename(&src_path, &old).map_err(io("renaming", &src_path))?;
        fs::rename(&new_path, &final_path).map_err(io("renaming", &new_path))?;
        fs::remove_dir_all(&old).map_err(io("removing", &old))?;
    } else {
        fs::rename(&new_path, &final_path).map_err(io("renaming", &new_path))?;
    }
    Ok(report)
}
