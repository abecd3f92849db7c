//! The store's error type.

/// What went wrong in the store. Corrupt data is an error, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (I/O, disk full, engine-level corruption).
    #[error("storage engine failed during {op}: {reason}")]
    Backend {
        /// What the store was doing.
        op: &'static str,
        /// What kind of failure the engine reported.
        kind: EngineErrorKind,
        /// The engine's message.
        reason: String,
    },
    /// A write failed earlier; the ledger refuses appends until it is reopened.
    #[error("ledger refuses appends after a failed write ({reason}); reopen it")]
    Poisoned {
        /// Why the first write failed.
        reason: String,
    },
    /// Stored data is damaged.
    #[error("damaged data in {what}: {reason}")]
    Corrupt {
        /// Where, e.g. `entry 12`.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The directory holds no ledger.
    #[error("no ledger at {path} (create one with `cairn init`)")]
    NotALedger {
        /// The path looked at.
        path: String,
    },
    /// A ledger already exists where one was to be created.
    #[error("a ledger already exists at {path}")]
    AlreadyExists {
        /// The path.
        path: String,
    },
    /// Another process (or another handle in this one) holds the ledger open
    /// for writing.
    #[error("the ledger at {path} is open for writing in another process (a running cairnd?): stop it first; `cairn verify`, `get`, `prove` and `incident` can read it meanwhile")]
    InUse {
        /// The path.
        path: String,
    },
    /// The tail of the chain failed its check on open; appends are refused.
    #[error("ledger tail is damaged at seq {seq}: {reason}; run `cairn verify`")]
    TailBroken {
        /// The damaged seq.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// A seq, size or range outside the ledger.
    #[error("{what} is out of range: the ledger has {size} entries")]
    OutOfRange {
        /// What was asked for.
        what: String,
        /// Entries in the ledger.
        size: u64,
    },
    /// The ledger is stored in an older layout; `cairn migrate` converts it.
    #[error("this ledger is stored in layout version {from}; convert it with `cairn migrate --data DIR` (add `--to NEW_DIR` to keep the original), then open it again")]
    NeedsMigration {
        /// The layout version found.
        from: u8,
    },
    /// The file system holding the ledger is (nearly) full. With `poisoned`
    /// false, nothing was written: the append was refused because free space
    /// fell below the reserve, and appends resume by themselves once space is
    /// freed. With `poisoned` true, a write failed for want of space: nothing of
    /// it was acknowledged, and the ledger refuses appends until it is reopened.
    #[error("{}", disk_full_message(*free, *reserve, *poisoned))]
    DiskFull {
        /// Bytes free when the append was refused.
        free: u64,
        /// The reserve appends leave free.
        reserve: u64,
        /// Whether a write failed (reopen needed) or was only refused.
        poisoned: bool,
    },
    /// A request the ledger cannot honour (e.g. redacting a non-decision).
    #[error("{0}")]
    Invalid(String),
    /// Data no longer stored locally (its window was dropped once archived)
    /// could not be read from the archive that holds it.
    #[error("seqs {seq}..{} are no longer stored locally and could not be read from the archive {url}: {reason}", seq + 255)]
    ArchiveUnavailable {
        /// The archive's URL.
        url: String,
        /// The first seq of the window (256 seqs) asked for.
        seq: u64,
        /// What went wrong (the object store's error, or a missing object).
        reason: String,
    },
}

fn disk_full_message(free: u64, reserve: u64, poisoned: bool) -> String {
    if poisoned {
        format!("the disk holding the ledger is full ({free} bytes free): a write failed and was not acknowledged; free space, then restart (reopen the ledger) to append again")
    } else {
        format!("the disk holding the ledger is nearly full ({free} bytes free, below the reserve of {reserve}): nothing was written; appends resume by themselves once space is freed")
    }
}

/// The kind of a storage engine failure, as the engine classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineErrorKind {
    /// Stored data failed a checksum or could not be parsed.
    Corruption,
    /// The operating system failed an I/O call (a full disk among them).
    Io,
    /// The database is locked by another process or handle.
    Busy,
    /// Anything else.
    Other,
}

impl StoreError {
    /// Whether a read failed for want of the data rather than for its damage:
    /// an archive out of reach, or the engine failing other than on corrupt
    /// data. A check that meets one could not check, and must not report
    /// damage.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::ArchiveUnavailable { .. } => true,
            StoreError::Backend { kind, .. } => *kind != EngineErrorKind::Corruption,
            _ => false,
        }
    }

    /// Whether this is the engine reporting damaged data.
    pub fn is_engine_corruption(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                kind: EngineErrorKind::Corruption,
                ..
            }
        )
    }

    pub(crate) fn corrupt(what: impl Into<String>, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// Result with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An error and its causes in one line, each said once: a cause whose text its
/// parent's message already ends with (errors that print their source and also
/// return it as `source()`) is not repeated.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if out != text && !out.ends_with(&format!(": {text}")) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("opening the ledger in /x: {source}")]
    struct Outer {
        source: StoreError,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading the key")]
    struct Quiet {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        let e = Outer {
            source: StoreError::InUse { path: "/x".into() },
        };
        let text = chain(&e);
        assert_eq!(text.matches("open for writing").count(), 1, "{text}");
        assert!(text.starts_with("opening the ledger in /x: the ledger at /x"));
        let q = Quiet {
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(chain(&q), "reading the key: disk on fire");
    }
}
