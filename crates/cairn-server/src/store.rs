//! The ledger the daemon serves, and the ledger directory it lives in.
//!
//! The directory layout is the one `cairn init` creates, so `cairn verify --data
//! DIR` checks a daemon's directory: `DIR/ledger` (RocksDB), `DIR/signing.key`
//! (mode 0600) and `DIR/verifier.key`.
//!
//! The daemon runs over [`AnyStore`], a boxed backend, so that tests can serve a
//! ledger whose writes fail on demand without making every type generic.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cairn_core::checkpoint::{CheckpointError, NoteSigner, NoteVerifier};
use cairn_store::backend::KeyValue;
use cairn_store::{Backend, Cf, Ledger, MemoryBackend, RocksBackend, StoreError, WriteBatch};

/// RocksDB directory inside the ledger directory.
pub const DB_DIR: &str = "ledger";
/// Signing key file inside the ledger directory.
pub const SIGNING_KEY: &str = "signing.key";
/// Verifier key file inside the ledger directory.
pub const VERIFIER_KEY: &str = "verifier.key";

/// A backend the daemon can flush on shutdown.
pub trait DurableBackend: Backend + 'static {
    /// Push buffered state to disk (writes are already durable through the WAL).
    fn flush(&self) -> Result<(), StoreError>;
}

impl DurableBackend for RocksBackend {
    fn flush(&self) -> Result<(), StoreError> {
        RocksBackend::flush(self)
    }
}

impl DurableBackend for MemoryBackend {
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Any [`DurableBackend`], boxed.
pub struct AnyStore(Box<dyn DurableBackend>);

impl AnyStore {
    /// Box a backend.
    pub fn new(backend: impl DurableBackend) -> AnyStore {
        AnyStore(Box::new(backend))
    }

    /// Flush the backend.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.0.flush()
    }
}

impl std::fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyStore")
    }
}

impl Backend for AnyStore {
    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.0.write(batch)
    }

    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(cf, key)
    }

    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = Result<KeyValue, StoreError>> + 'a> {
        self.0.scan(cf, from, to)
    }

    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        self.0.last_in(cf, from, to)
    }
}

/// The ledger type the daemon serves.
pub type ServedLedger = Ledger<AnyStore>;

/// Why the ledger directory could not be opened or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// There is no ledger in the directory.
    #[error(
        "no ledger in {path}: start with --init to create one (or run `cairn init --data {path}`)"
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
    let ledger = Ledger::open(AnyStore::new(backend)).map_err(store)?;
    Ok((ledger, signer(dir)?))
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
    let store = |source| DataDirError::Store {
        path: dir.to_owned(),
        source,
    };
    let backend = RocksBackend::create(&dir.join(DB_DIR)).map_err(store)?;
    Ledger::create(backend, &origin).map_err(store)?;
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
