//! The archive's error type.

use cairn_core::checkpoint::CheckpointError;
use cairn_store::StoreError;

/// What went wrong while archiving, reading an archive or restoring from one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The archive URL is not one Cairn can use.
    #[error("archive URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The object store could not be set up (credentials, endpoint).
    #[error("setting up the object store for {url}")]
    Setup {
        /// The URL.
        url: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// An object store request failed after its retries.
    #[error("object store {op} of {name} failed")]
    Store {
        /// get, put, delete or list.
        op: &'static str,
        /// The object's name.
        name: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// The runtime that drives the object store could not start.
    #[error("starting the object store's I/O threads")]
    Runtime(#[source] std::io::Error),
    /// A written object of a `file://` archive could not be made durable.
    #[error("making {path} durable (fsync) failed: {source}")]
    Sync {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the ledger failed.
    #[error(transparent)]
    Ledger(#[from] StoreError),
    /// The bucket holds no archive (no `checkpoint` object).
    #[error("{url} holds no archive (no `checkpoint` object); write one with `cairn archive --data DIR --to {url}`")]
    Empty {
        /// The URL.
        url: String,
    },
    /// A checkpoint in the archive or the ledger cannot be read.
    #[error("checkpoint {what}")]
    Checkpoint {
        /// Which checkpoint.
        what: String,
        /// Why it cannot be read.
        #[source]
        source: CheckpointError,
    },
    /// The bucket archives another ledger.
    #[error("the archive holds ledger {archived:?}, this ledger is {origin:?}: archive each ledger under its own prefix")]
    OtherLedger {
        /// The origin in the bucket's checkpoint.
        archived: String,
        /// This ledger's origin.
        origin: String,
    },
    /// The archive's checkpoint is not one this ledger signed.
    #[error("the archive's checkpoint at size {size} has root {archived}, this ledger's tree at that size has root {local}: the archive and the ledger have diverged; archive to a new prefix and investigate with `cairn verify --source`")]
    Diverged {
        /// The archive's size.
        size: u64,
        /// Root in the archive (base64).
        archived: String,
        /// Root of the ledger (base64).
        local: String,
    },
    /// An object of the archive is damaged or missing.
    #[error("archive object {name}: {reason}")]
    Damaged {
        /// The object's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Result with [`ArchiveError`].
pub type Result<T, E = ArchiveError> = std::result::Result<T, E>;
