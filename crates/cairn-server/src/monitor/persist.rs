//! What of the monitor outlives a restart: per stream an open breaker (with its
//! trip), the pinned reference version and the pair of versions accepted by a
//! reset, in `DIR/monitor-state.json`. The windows do not: they start empty.
//!
//! The file is replaced whole: written to a temporary file beside it, fsynced,
//! renamed over it, and the directory fsynced, so a crash leaves the old file or
//! the new one, never a mix. A file that cannot be read back is reported by
//! [`load`] and the monitor starts with every breaker closed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::state::{Breaker, Version};

/// The file's name in the ledger directory.
pub const FILE_NAME: &str = "monitor-state.json";
/// The `format` field of the file.
pub const FORMAT: &str = "cairn-monitor-state-v1";
/// Larger files are refused unread (256 streams of trips are far smaller).
const FILE_BYTES_MAX: u64 = 16 << 20;

/// The saved state of one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedStream {
    /// The breaker, with its trip when open.
    pub breaker: Breaker,
    /// The reference version the operator pinned.
    pub pinned: Option<Version>,
    /// The (current, reference) pair the operator accepted by a reset.
    pub accepted: Option<(Version, Version)>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    /// [`FORMAT`].
    pub format: String,
    /// Streams with something to keep, by name.
    pub streams: BTreeMap<String, SavedStream>,
}

/// Why the saved state could not be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than any state the monitor writes.
    #[error("{path} is {bytes} bytes, more than the monitor ever writes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The file is not the monitor's JSON.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Read the saved state; `None` if there is none yet.
pub fn load(path: &Path) -> Result<Option<Saved>, LoadError> {
    let read = |source| LoadError::Read {
        path: path.to_owned(),
        source,
    };
    let bytes = match std::fs::metadata(path) {
        Ok(m) if m.len() > FILE_BYTES_MAX => {
            return Err(LoadError::TooLarge {
                path: path.to_owned(),
                bytes: m.len(),
            })
        }
        Ok(_) => std::fs::read(path).map_err(read)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read(e)),
    };
    let damaged = |reason: String| LoadError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
    if saved.format != FORMAT {
        return Err(damaged(format!(
            "format {:?}, expected {FORMAT:?}",
            saved.format
        )));
    }
    Ok(Some(saved))
}

/// Replace the saved state atomically (temp file, fsync, rename, fsync the
/// directory).
pub fn save(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(saved).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_saved_state_reads_back_and_damage_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert!(load(&path).unwrap().is_none(), "no file yet");
        let v = |n: &str| Version {
            model: "fraud".into(),
            version: n.into(),
        };
        let mut streams = BTreeMap::new();
        streams.insert(
            "payments.fraud".to_owned(),
            SavedStream {
                breaker: Breaker::Closed,
                pinned: Some(v("6")),
                accepted: Some((v("7"), v("6"))),
            },
        );
        let saved = Saved {
            format: FORMAT.into(),
            streams,
        };
        save(&path, &saved).unwrap();
        assert_eq!(load(&path).unwrap(), Some(saved));
        assert!(!path.with_extension("json.tmp").exists());
        for bad in [
            &b"{\"format\": \"cairn-monitor-state-v1\", \"streams\": {"[..],
            b"\x00\x01 not json",
            b"{\"format\": \"v0\", \"streams\": {}}",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(load(&path), Err(LoadError::Damaged { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
