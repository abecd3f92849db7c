//! An archive as a read-only [`Backend`]: the ledger's column families
//! computed from the archive's checkpoint (`schemas/archive-v1.md`), each
//! value fetched from the bucket when read. A [`Ledger`] opened over it reads
//! entries, payloads, proofs and checkpoints, and `verify` checks it, from the
//! bucket alone.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use cairn_core::checkpoint::Checkpoint;
use cairn_store::backend::{Backend, Cf, KeyValue, WriteBatch};
use cairn_store::error::EngineErrorKind;
use cairn_store::keys::{self, meta};
use cairn_store::pieces::BUNDLE_ENTRIES;
use cairn_store::tiles::{tile_key, TILE_WIDTH};
use cairn_store::{Ledger, StoreError};

use crate::bucket::Bucket;
use crate::error::{ArchiveError, Result};
use crate::layout;
use crate::upload::note_checkpoint;

/// Tiles kept in memory (8 KiB each): proofs and `verify` read the same
/// tiles again and again.
const CACHED_TILES: usize = 256;

/// Fetched tiles by key, oldest first.
type TileCache = Mutex<VecDeque<(Vec<u8>, Arc<Vec<u8>>)>>;

/// A read-only backend over an archive.
pub struct BucketBackend {
    bucket: Bucket,
    checkpoint: Checkpoint,
    /// The `checkpoint` object's bytes, as read.
    head_note: Vec<u8>,
    /// Whether `checkpoints/<size>` at the archive's size was listed (and so
    /// is what `checkpoints` holds at that size, rather than `head_note`).
    head_listed: bool,
    /// Every archived checkpoint at or below the archive's size, by size.
    checkpoints: Vec<(u64, Vec<u8>)>,
    tiles: TileCache,
}

impl std::fmt::Debug for BucketBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketBackend")
            .field("url", &self.bucket.url())
            .field("size", &self.checkpoint.size)
            .finish()
    }
}

impl BucketBackend {
    /// Open the archive in `bucket`: read its checkpoint and the list of
    /// archived checkpoints. Signatures are not checked here (`verify` does).
    pub fn open(bucket: Bucket) -> Result<BucketBackend> {
        let note = bucket
            .get(layout::CHECKPOINT)?
            .ok_or_else(|| ArchiveError::Empty {
                url: bucket.url().to_owned(),
            })?;
        let checkpoint = note_checkpoint(layout::CHECKPOINT, &note)?;
        let mut checkpoints = Vec::new();
        let mut latest_listed = false;
        for name in bucket.list(layout::CHECKPOINTS)? {
            let Some(size) = layout::parse_checkpoint_name(&name) else {
                continue;
            };
            if size > checkpoint.size {
                // Written by an archiver that stopped before it moved the
                // watermark: not part of this archive yet.
                continue;
            }
            let bytes = bucket.get(&name)?.ok_or_else(|| ArchiveError::Damaged {
                name: name.clone(),
                reason: "listed but missing".into(),
            })?;
            latest_listed |= size == checkpoint.size;
            checkpoints.push((size, bytes));
        }
        if !latest_listed {
            checkpoints.push((checkpoint.size, note.clone()));
        }
        checkpoints.sort_by_key(|(s, _)| *s);
        Ok(BucketBackend {
            bucket,
            checkpoint,
            head_note: note,
            head_listed: latest_listed,
            checkpoints,
            tiles: Mutex::new(VecDeque::new()),
        })
    }

    /// The `checkpoint` object's bytes, and, when `checkpoints/<size>` at its
    /// size is archived too, that object's bytes (which must be the same).
    pub fn head_notes(&self) -> (&[u8], Option<&[u8]>) {
        let listed = self
            .head_listed
            .then(|| {
                self.checkpoints
                    .iter()
                    .find(|(s, _)| *s == self.checkpoint.size)
                    .map(|(_, n)| n.as_slice())
            })
            .flatten();
        (&self.head_note, listed)
    }

    /// The archive's checkpoint (its signature not checked).
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The archive's checkpoint note, as signed.
    pub fn get_note(&self) -> Result<String> {
        let note = self
            .checkpoints
            .iter()
            .rev()
            .find(|(s, _)| *s == self.checkpoint.size)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        String::from_utf8(note).map_err(|_| ArchiveError::Damaged {
            name: layout::CHECKPOINT.into(),
            reason: "is not UTF-8".into(),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// A ledger over the archive: reads, proofs and `verify`, no appends.
    pub fn into_ledger(self) -> Result<Ledger<BucketBackend>> {
        Ok(Ledger::open_unchecked(self)?)
    }

    fn size(&self) -> u64 {
        self.checkpoint.size
    }

    /// Every key of `cf` in the archive, in order, that lies in `[from, to)`.
    fn keys_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> Vec<Vec<u8>> {
        let inside = |k: &[u8]| k >= from && k < to;
        let all: Vec<Vec<u8>> = match cf {
            Cf::Bundles | Cf::PayloadBundles => {
                let (lo, hi) = (seq_bound(from), seq_bound(to));
                let first = lo.div_ceil(BUNDLE_ENTRIES);
                let end = hi
                    .div_ceil(BUNDLE_ENTRIES)
                    .min(self.size().div_ceil(BUNDLE_ENTRIES));
                return (first..end)
                    .map(|n| keys::seq_key(n * BUNDLE_ENTRIES).to_vec())
                    .filter(|k| inside(k))
                    .collect();
            }
            Cf::Tiles => layout::tiles(self.size())
                .into_iter()
                .map(|(l, i, _)| tile_key(l, i).to_vec())
                .collect(),
            Cf::Checkpoints => self
                .checkpoints
                .iter()
                .map(|(s, _)| keys::seq_key(*s).to_vec())
                .collect(),
            Cf::Meta => {
                let mut k: Vec<Vec<u8>> = [
                    meta::FORMAT,
                    meta::INDEXED,
                    meta::LAYOUT,
                    meta::ORIGIN,
                    meta::SIZE,
                ]
                .iter()
                .map(|k| k.to_vec())
                .collect();
                k.sort();
                k
            }
            _ => Vec::new(),
        };
        all.into_iter().filter(|k| inside(k)).collect()
    }

    fn fetch(&self, name: &str) -> cairn_store::Result<Option<Vec<u8>>> {
        self.bucket.get(name).map_err(|e| StoreError::Backend {
            op: "reading the archive",
            kind: EngineErrorKind::Io,
            reason: cairn_store::error::chain(&e),
        })
    }

    fn tile(&self, key: &[u8]) -> cairn_store::Result<Option<Vec<u8>>> {
        let lock = || self.tiles.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, v)) = lock().iter().find(|(k, _)| k == key) {
            return Ok(Some(v.to_vec()));
        }
        let (Some(&level), Some(index)) = (key.first(), keys::parse_seq(&key[1.min(key.len())..]))
        else {
            return Ok(None);
        };
        let Some(width) = layout::tile_width(self.size(), level, index) else {
            return Ok(None);
        };
        let got = self.fetch(&layout::tile(level, index, width))?;
        if let Some(v) = &got {
            let mut cache = lock();
            if cache.len() >= CACHED_TILES {
                cache.pop_front();
            }
            cache.push_back((key.to_vec(), Arc::new(v.clone())));
        }
        Ok(got)
    }
}

/// The seq a key bound stands for (shorter keys padded with zeros, longer
/// keys past the 8 bytes of a seq rounded up).
fn seq_bound(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    let v = u64::from_be_bytes(b);
    if key.len() > 8 && key[8..].iter().any(|&x| x != 0) {
        v.saturating_add(1)
    } else {
        v
    }
}

impl Backend for BucketBackend {
    fn write(&self, _batch: WriteBatch) -> cairn_store::Result<()> {
        Err(StoreError::Invalid(
            "an archive is read-only; restore it to a directory with `cairn restore`".into(),
        ))
    }

    fn get(&self, cf: Cf, key: &[u8]) -> cairn_store::Result<Option<Vec<u8>>> {
        let size = self.size();
        match cf {
            Cf::Meta => Ok(match key {
                k if k == meta::ORIGIN => Some(self.checkpoint.origin.as_bytes().to_vec()),
                k if k == meta::FORMAT => Some(vec![cairn_core::entry::FORMAT_VERSION]),
                k if k == meta::LAYOUT => Some(vec![cairn_store::ledger::LAYOUT]),
                k if k == meta::SIZE => Some(size.to_be_bytes().to_vec()),
                // The archive holds no indexes: queries read its entries.
                k if k == meta::INDEXED => Some(0u64.to_be_bytes().to_vec()),
                _ => None,
            }),
            Cf::Checkpoints => {
                let Some(at) = keys::parse_seq(key) else {
                    return Ok(None);
                };
                Ok(self
                    .checkpoints
                    .iter()
                    .find(|(s, _)| *s == at)
                    .map(|(_, v)| v.clone()))
            }
            Cf::Bundles | Cf::PayloadBundles => {
                let Some(first) = keys::parse_seq(key) else {
                    return Ok(None);
                };
                if key.len() != 8 || first % BUNDLE_ENTRIES != 0 || first >= size {
                    return Ok(None);
                }
                let n = first / BUNDLE_ENTRIES;
                let width = (size - first).min(BUNDLE_ENTRIES);
                let name = match cf {
                    Cf::Bundles => layout::entries(n, width),
                    _ => layout::payloads(n, width),
                };
                self.fetch(&name)
            }
            Cf::Tiles => self.tile(key),
            _ => Ok(None),
        }
    }

    fn scan<'a>(
        &'a self,
        cf: Cf,
        from: &[u8],
        to: &[u8],
    ) -> Box<dyn Iterator<Item = cairn_store::Result<KeyValue>> + 'a> {
        let keys = self.keys_in(cf, from, to);
        Box::new(
            keys.into_iter()
                .filter_map(move |k| match self.get(cf, &k) {
                    Ok(Some(v)) => Some(Ok((k, v))),
                    // An object missing from the archive is a key the store lacks:
                    // the reader (`verify`) reports what is missing.
                    Ok(None) => None,
                    Err(e) => Some(Err(e)),
                }),
        )
    }

    fn last_in(&self, cf: Cf, from: &[u8], to: &[u8]) -> cairn_store::Result<Option<KeyValue>> {
        let last = match cf {
            // Computed, not listed: the size comes from the checkpoint
            // object, which is checked only later, and may be anything.
            Cf::Bundles | Cf::PayloadBundles => {
                let (lo, hi) = (seq_bound(from), seq_bound(to));
                let end = hi
                    .div_ceil(BUNDLE_ENTRIES)
                    .min(self.size().div_ceil(BUNDLE_ENTRIES));
                end.checked_sub(1)
                    .filter(|&n| n >= lo.div_ceil(BUNDLE_ENTRIES))
                    .map(|n| keys::seq_key(n * BUNDLE_ENTRIES).to_vec())
                    .filter(|k| k.as_slice() >= from && k.as_slice() < to)
            }
            _ => self.keys_in(cf, from, to).pop(),
        };
        let Some(k) = last else {
            return Ok(None);
        };
        Ok(self.get(cf, &k)?.map(|v| (k, v)))
    }

    fn read_all(&self, cf: Cf) -> cairn_store::Result<u64> {
        // Every object is read and checked by the walk itself; here only
        // count, without listing (the size may be forged).
        let size = self.size();
        Ok(match cf {
            Cf::Bundles | Cf::PayloadBundles => size.div_ceil(BUNDLE_ENTRIES),
            Cf::Tiles => (0..=u8::MAX)
                .map(|level| layout::level_hashes(size, level).div_ceil(TILE_WIDTH))
                .take_while(|&n| n > 0)
                .sum(),
            _ => self.keys_in(cf, &[], &[0xff; 32]).len() as u64,
        })
    }
}
