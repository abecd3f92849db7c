//! Tying a range of entries to a signed root.
//!
//! A full walk recomputes the whole tree from the entries, so every signed root
//! it meets vouches for every entry below it. A range walk (`--from`) sees only
//! some entries: checking them against their own stored leaves is not enough,
//! since an attacker who rewrites an entry can rewrite its leaf too. So the
//! leaves recomputed from the range's entries are hashed up to a signed root,
//! with the stored tree supplying only the nodes *outside* the range — exactly
//! a multi-leaf inclusion proof. A rewritten entry, leaf or tree node inside the
//! range then changes the root, and a stored node above the range that the
//! recomputed one no longer matches says where.

use cairn_core::hash::{Blake3Hasher, Hash, TreeHasher};
use cairn_core::merkle::{self, NodeSource};

use crate::tiles::TILE_HEIGHT;

/// The stored tree with the leaves `[from, from + leaves.len())` replaced by
/// leaves recomputed from the entries; every node above them is recomputed.
pub(super) struct Overlay<'a, S> {
    pub(super) stored: &'a S,
    pub(super) from: u64,
    pub(super) leaves: &'a [Hash],
}

impl<S: NodeSource> Overlay<'_, S> {
    fn to(&self) -> u64 {
        self.from + self.leaves.len() as u64
    }

    /// The root of the first `size` leaves, through the overlay.
    pub(super) fn root(&self, size: u64) -> Result<Hash, S::Error> {
        merkle::root(&Blake3Hasher, self, size)
    }

    /// The complete tile-level nodes (levels 8, 16, …) above the range whose
    /// recomputed hash differs from the stored one, lowest level first, as
    /// (level, index, first seq of the range below it). Only nodes that lie
    /// within the first `size` leaves are compared.
    pub(super) fn mismatched_nodes(&self, size: u64) -> Result<Vec<(u8, u64, u64)>, S::Error> {
        let mut out = Vec::new();
        let mut level = TILE_HEIGHT;
        while level < 64 && (1u64 << level) <= size {
            let first = self.from >> level;
            let last = (self.to() - 1) >> level;
            for index in first..=last {
                if (index + 1) << level > size {
                    break;
                }
                if self.subtree(level, index)? != self.stored.subtree(level, index)? {
                    out.push((level, index, self.from.max(index << level)));
                }
            }
            if !out.is_empty() {
                break;
            }
            level += TILE_HEIGHT;
        }
        Ok(out)
    }
}

impl<S: NodeSource> NodeSource for Overlay<'_, S> {
    type Error = S::Error;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, S::Error> {
        let lo = index << level;
        let hi = (index + 1) << level;
        if hi <= self.from || lo >= self.to() || self.leaves.is_empty() {
            return self.stored.subtree(level, index);
        }
        if level == 0 {
            // `from <= lo < to`, so the index is within the slice.
            return Ok(self.leaves[(lo - self.from) as usize]);
        }
        let left = self.subtree(level - 1, 2 * index)?;
        let right = self.subtree(level - 1, 2 * index + 1)?;
        Ok(Blake3Hasher.hash_children(&left, &right))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use cairn_core::hash::leaf_hash;
    use cairn_core::merkle::MemoryTree;

    fn tree(n: u64) -> (MemoryTree<Blake3Hasher>, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        (
            MemoryTree::from_leaves(Blake3Hasher, leaves.iter().copied()),
            leaves,
        )
    }

    #[test]
    fn true_leaves_give_the_true_root_for_any_range_and_size() {
        let (t, leaves) = tree(1000);
        for (from, to) in [(0, 1000), (300, 301), (255, 513), (999, 1000), (0, 1)] {
            let o = Overlay {
                stored: &t,
                from,
                leaves: &leaves[from as usize..to as usize],
            };
            for size in [to, 1000, to.max(700)] {
                let expected = merkle::root(&Blake3Hasher, &t, size).unwrap();
                assert_eq!(o.root(size).unwrap(), expected, "{from}..{to} at {size}");
            }
            assert!(o.mismatched_nodes(1000).unwrap().is_empty());
        }
    }

    #[test]
    fn a_forged_leaf_changes_the_root_and_names_the_node_above_it() {
        // The stored leaf 300 is forged along with its entry: the stored tree
        // above it still holds the true hashes.
        let (t, mut leaves) = tree(1000);
        leaves[300] = leaf_hash(b"forged");
        let o = Overlay {
            stored: &t,
            from: 290,
            leaves: &leaves[290..310],
        };
        assert_ne!(
            o.root(1000).unwrap(),
            merkle::root(&Blake3Hasher, &t, 1000).unwrap()
        );
        assert_eq!(o.mismatched_nodes(1000).unwrap(), vec![(8, 1, 290)]);
    }
}
