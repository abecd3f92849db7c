//! The tree's right edge as it grows ([`TreeEdge`]), and a whole tree held in
//! memory ([`MemoryTree`]) for tests and small callers.

use super::NodeSource;
use crate::hash::{Hash, TreeHasher};

/// The compact right edge of an append-only tree: one complete subtree hash per
/// set bit of the size, enough to append leaves and compute the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TreeEdge {
    size: u64,
    /// Roots of the maximal complete subtrees, largest (leftmost) first: the one
    /// for bit `l` of `size` covers `2^l` leaves.
    peaks: Vec<Hash>,
}

impl TreeEdge {
    /// The edge of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The maximal complete subtrees, largest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf hash. Returns every complete subtree this leaf completes as
    /// `(level, index, hash)` — the leaf itself at level 0 first, then each
    /// merged parent — so that the caller can store them for [`NodeSource`].
    pub fn push<H>(&mut self, hasher: &H, leaf: Hash) -> Vec<(u8, u64, Hash)>
    where
        H: TreeHasher + ?Sized,
    {
        let mut index = self.size;
        let mut node = leaf;
        let mut level = 0u8;
        let mut completed = vec![(level, index, node)];
        // Each trailing one bit of the old size is a peak of the same height as
        // the node being carried; merge them like a binary increment.
        while index & 1 == 1 {
            let Some(left) = self.peaks.pop() else {
                // Unreachable: there is one peak per set bit of the size.
                break;
            };
            node = hasher.hash_children(&left, &node);
            level += 1;
            index >>= 1;
            completed.push((level, index, node));
        }
        self.peaks.push(node);
        self.size += 1;
        completed
    }

    /// The root of the tree of the current size.
    pub fn root<H>(&self, hasher: &H) -> Hash
    where
        H: TreeHasher + ?Sized,
    {
        // RFC 9162 splits off the largest complete subtree on the left, so the
        // root folds the peaks from the right.
        let mut peaks = self.peaks.iter().rev();
        match peaks.next() {
            None => hasher.empty_root(),
            Some(last) => peaks.fold(*last, |acc, peak| hasher.hash_children(peak, &acc)),
        }
    }

    /// Rebuilds the edge of the tree of `size` leaves from stored complete
    /// subtrees: one read per set bit of `size`.
    pub fn from_source<S>(src: &S, size: u64) -> Result<TreeEdge, S::Error>
    where
        S: NodeSource + ?Sized,
    {
        let mut peaks = Vec::with_capacity(size.count_ones() as usize);
        for level in (0..64u8).rev() {
            if size >> level & 1 == 1 {
                // Bit `level` is set, so clearing it gives the peak's index.
                peaks.push(src.subtree(level, (size >> level) - 1)?);
            }
        }
        Ok(TreeEdge { size, peaks })
    }
}

/// A complete subtree that a [`MemoryTree`] does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no complete subtree at level {level}, index {index}")]
pub struct MissingNode {
    /// The requested level.
    pub level: u8,
    /// The requested index within the level.
    pub index: u64,
}

/// A tree holding every complete subtree in memory, for tests and verifiers.
#[derive(Debug, Clone)]
pub struct MemoryTree<H> {
    hasher: H,
    /// `levels[l][i]`: the complete subtree at level `l`, index `i`.
    levels: Vec<Vec<Hash>>,
    edge: TreeEdge,
}

impl<H: TreeHasher> MemoryTree<H> {
    /// An empty tree hashing with `hasher`.
    pub fn new(hasher: H) -> Self {
        Self {
            hasher,
            levels: Vec::new(),
            edge: TreeEdge::new(),
        }
    }

    /// A tree of the given leaf hashes.
    pub fn from_leaves(hasher: H, leaves: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new(hasher);
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// The hasher the tree is built with.
    pub fn hasher(&self) -> &H {
        &self.hasher
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        for (level, _index, hash) in self.edge.push(&self.hasher, leaf) {
            let level = usize::from(level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            // Subtrees of a level complete in index order, so `_index` is
            // always the level's current length.
            self.levels[level].push(hash);
        }
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.edge.root(&self.hasher)
    }

    /// The compact edge of the whole tree.
    pub fn edge(&self) -> &TreeEdge {
        &self.edge
    }
}

impl<H> NodeSource for MemoryTree<H> {
    type Error = MissingNode;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(usize::from(level))
            .and_then(|nodes| nodes.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
