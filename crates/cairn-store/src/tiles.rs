//! The Merkle tree as tiles of hashes (storage v2; the C2SP tlog-tiles layout).
//!
//! Tile level `t` holds the hashes of tree level `8t`, 256 to a tile: tile
//! `(t, n)` is the hashes of the complete subtrees `n·256 … n·256 + 255` of
//! height `8t`, concatenated (32 bytes each). The tile at the right edge of a
//! level is *partial*: it holds fewer hashes and is rewritten, under the same
//! key, as the tree grows, until it is full. The levels between (1–7, 9–15, …)
//! are not stored: a node at level `8t + r` is recomputed from the `2^r` hashes
//! below it in one tile (at most 255 hash operations), so the tree costs 32
//! bytes per entry and a little more, and a proof reads one tile per 8 levels.

use std::sync::{Arc, Mutex};

use cairn_core::hash::{Blake3Hasher, Hash, TreeHasher};
use cairn_core::merkle::NodeSource;

use crate::backend::{Backend, Cf};
use crate::error::{Result, StoreError};

/// Hashes per tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels per tile level.
pub const TILE_HEIGHT: u8 = 8;

/// Key of tile `index` of tile level `level`: level (u8) ‖ index (u64 BE).
pub fn tile_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Complete-subtree hashes read from stored tiles, with the last tile read
/// kept (a proof asks for several nodes of one tile in a row).
pub struct TileNodes<'a, B: Backend> {
    backend: &'a B,
    last: Mutex<Option<CachedTile>>,
}

/// A tile's key and its bytes.
type CachedTile = ([u8; 9], Arc<Vec<u8>>);

impl<'a, B: Backend> TileNodes<'a, B> {
    /// Read the tiles of `backend`.
    pub fn new(backend: &'a B) -> TileNodes<'a, B> {
        TileNodes {
            backend,
            last: Mutex::new(None),
        }
    }

    /// The stored tile at `key`, through the one-tile cache (shared, not
    /// copied: a proof reads several nodes of one tile in a row).
    fn tile(&self, key: [u8; 9]) -> Result<Option<Arc<Vec<u8>>>> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, v)) = last.as_ref() {
            if *k == key {
                return Ok(Some(Arc::clone(v)));
            }
        }
        let v = self.backend.get(Cf::Tiles, &key)?.map(Arc::new);
        if let Some(v) = &v {
            *last = Some((key, Arc::clone(v)));
        }
        Ok(v)
    }

    /// The `count` hashes of tile level `level` from position `first`.
    pub fn hashes(&self, level: u8, first: u64, count: u64) -> Result<Vec<Hash>> {
        let index = first / TILE_WIDTH;
        let what = || format!("tree tile ({level}, {index})");
        let tile = self
            .tile(tile_key(level, index))?
            .ok_or_else(|| StoreError::corrupt(what(), "missing"))?;
        let off = (first % TILE_WIDTH) as usize * 32;
        let end = off + count as usize * 32;
        if tile.len() % 32 != 0 || tile.len() > TILE_WIDTH as usize * 32 {
            return Err(StoreError::corrupt(
                what(),
                format!("is {} bytes", tile.len()),
            ));
        }
        let bytes = tile.get(off..end).ok_or_else(|| {
            StoreError::corrupt(what(), format!("holds {} hashes", tile.len() / 32))
        })?;
        Ok(bytes
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect())
    }
}

impl<B: Backend> NodeSource for TileNodes<'_, B> {
    type Error = StoreError;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash> {
        let t = level / TILE_HEIGHT;
        let r = level % TILE_HEIGHT;
        let mut row = self.hashes(t, index << r, 1 << r)?;
        while row.len() > 1 {
            row = row
                .chunks_exact(2)
                .map(|p| Blake3Hasher.hash_children(&p[0], &p[1]))
                .collect();
        }
        row.pop()
            .ok_or_else(|| StoreError::corrupt(format!("tree node ({level}, {index})"), "missing"))
    }
}

/// The partial tile at the right edge of each tile level, kept by the writer
/// so that a commit rewrites it without reading it back.
#[derive(Debug, Clone, Default)]
pub struct TileEdge {
    /// Per tile level: the index of its right-edge tile and that tile's hashes.
    partial: Vec<(u64, Vec<u8>)>,
    /// Tile levels whose partial tile changed since the last [`TileEdge::take`].
    dirty: Vec<bool>,
}

impl TileEdge {
    /// The right edge of the tree of `size` leaves, read from stored tiles.
    pub fn load<B: Backend>(backend: &B, size: u64) -> Result<TileEdge> {
        let nodes = TileNodes::new(backend);
        let mut edge = TileEdge::default();
        let mut level = 0u8;
        let mut n = size;
        while n > 0 {
            let index = n / TILE_WIDTH;
            let have = n % TILE_WIDTH;
            let mut bytes = Vec::with_capacity(TILE_WIDTH as usize * 32);
            if have > 0 {
                for h in nodes.hashes(level, index * TILE_WIDTH, have)? {
                    bytes.extend_from_slice(&h);
                }
            }
            edge.partial.push((index, bytes));
            edge.dirty.push(false);
            n >>= TILE_HEIGHT;
            level += 1;
        }
        Ok(edge)
    }

    /// Take a node completed by an append (`TreeEdge::push`); nodes of levels
    /// that tiles do not store are ignored. A tile that fills is returned to be
    /// written.
    pub fn push(&mut self, level: u8, index: u64, hash: &Hash) -> Option<([u8; 9], Vec<u8>)> {
        if !level.is_multiple_of(TILE_HEIGHT) {
            return None;
        }
        let t = usize::from(level / TILE_HEIGHT);
        while self.partial.len() <= t {
            self.partial.push((0, Vec::new()));
            self.dirty.push(false);
        }
        let (tile, bytes) = &mut self.partial[t];
        if bytes.is_empty() {
            *tile = index / TILE_WIDTH;
        }
        bytes.extend_from_slice(hash);
        self.dirty[t] = true;
        if bytes.len() == TILE_WIDTH as usize * 32 {
            let full = (tile_key(t as u8, *tile), std::mem::take(bytes));
            *tile += 1;
            self.dirty[t] = false;
            return Some(full);
        }
        None
    }

    /// The partial tiles that changed since the last call, to be written.
    pub fn take(&mut self) -> Vec<([u8; 9], Vec<u8>)> {
        let mut out = Vec::new();
        for (t, ((tile, bytes), dirty)) in self.partial.iter().zip(&mut self.dirty).enumerate() {
            if *dirty && !bytes.is_empty() {
                out.push((tile_key(t as u8, *tile), bytes.clone()));
            }
            *dirty = false;
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::WriteBatch;
    use crate::memory::MemoryBackend;
    use cairn_core::hash::leaf_hash;
    use cairn_core::merkle::{self, TreeEdge};

    /// Appends `n` leaves in commits of `step`, writing tiles as a ledger does.
    fn grow(backend: &MemoryBackend, n: u64, step: u64) -> TreeEdge {
        let mut tree = TreeEdge::new();
        let mut tiles = TileEdge::default();
        let mut i = 0;
        while i < n {
            let mut batch = WriteBatch::default();
            for j in i..n.min(i + step) {
                let leaf = leaf_hash(&j.to_le_bytes());
                for (level, index, hash) in tree.push(&Blake3Hasher, leaf) {
                    if let Some((k, v)) = tiles.push(level, index, &hash) {
                        batch.put(Cf::Tiles, k, v);
                    }
                }
            }
            for (k, v) in tiles.take() {
                batch.put(Cf::Tiles, k, v);
            }
            backend.write(batch).unwrap();
            i += step;
            // Reloading the edge from disk must give what the writer holds.
            let reloaded = TileEdge::load(backend, tree.size()).unwrap();
            assert_eq!(reloaded.partial, tiles.partial, "size {}", tree.size());
        }
        tree
    }

    #[test]
    fn every_subtree_and_root_comes_back_from_tiles() {
        for (n, step) in [(1, 1), (300, 7), (70_000, 1000), (65_536, 65_536)] {
            let backend = MemoryBackend::new();
            let tree = grow(&backend, n, step);
            let nodes = TileNodes::new(&backend);
            let mut reference = merkle::MemoryTree::new(Blake3Hasher);
            for j in 0..n {
                reference.push(leaf_hash(&j.to_le_bytes()));
            }
            assert_eq!(
                merkle::root(&Blake3Hasher, &nodes, n).unwrap(),
                tree.root(&Blake3Hasher)
            );
            for level in 0..=17u8 {
                let count = n >> level;
                for index in [0, count / 2, count.saturating_sub(1)] {
                    if index < count {
                        assert_eq!(
                            nodes.subtree(level, index).unwrap(),
                            reference.subtree(level, index).unwrap(),
                            "n {n} node ({level}, {index})"
                        );
                    }
                }
            }
            let edge = TreeEdge::from_source(&nodes, n).unwrap();
            assert_eq!(edge.root(&Blake3Hasher), tree.root(&Blake3Hasher));
        }
    }

    #[test]
    fn a_short_or_missing_tile_is_damage() {
        let backend = MemoryBackend::new();
        grow(&backend, 10, 10);
        let nodes = TileNodes::new(&backend);
        assert!(nodes.subtree(0, 9).is_ok());
        assert!(matches!(
            nodes.subtree(0, 10),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            nodes.subtree(8, 0),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
