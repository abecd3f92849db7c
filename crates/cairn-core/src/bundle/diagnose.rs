//! Pinpointing what was altered when an inclusion proof fails.
//!
//! Every hash in an inclusion proof is the hash of one node of the tree, a
//! known range of leaves. Proofs of other entries in the same bundle that did
//! verify vouch for the nodes on their paths and for their siblings; where a
//! failed proof disagrees with such a node, that hash (or the leaf itself) is
//! the one that was altered.

use std::collections::HashMap;

use crate::hash::{Blake3Hasher, Hash, TreeHasher};

/// A node of the tree: the leaves `[start, end)`.
type Range = (u64, u64);

/// Tree nodes vouched for by proofs that verified.
#[derive(Debug, Default)]
pub(super) struct KnownNodes(HashMap<Range, Hash>);

/// What a failed proof's disagreement with the known nodes points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Blame {
    /// The leaf: the entry was altered.
    Leaf,
    /// This hash of the proof, counted from the leaf's sibling.
    ProofHash(usize),
    /// Nothing known contradicts the proof at a single place.
    Unknown,
}

impl KnownNodes {
    /// Records the nodes of a proof that verified.
    pub(super) fn learn(&mut self, index: u64, size: u64, leaf: &Hash, proof: &[Hash]) {
        let ranges = sibling_ranges(index, size);
        let Some(path) = path_nodes(index, leaf, &ranges, proof) else {
            return;
        };
        self.0.extend(ranges.into_iter().zip(proof.iter().copied()));
        self.0.extend(path);
    }

    /// Which part of a failed proof the known nodes contradict.
    pub(super) fn blame(&self, index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> Blame {
        let ranges = sibling_ranges(index, size);
        let Some(path) = path_nodes(index, leaf, &ranges, proof) else {
            return Blame::Unknown;
        };
        let contradicts = |range: &Range, h: &Hash| self.0.get(range).is_some_and(|k| k != h);
        if contradicts(&(index, index + 1), leaf) {
            return Blame::Leaf;
        }
        if let Some(i) = (0..ranges.len()).find(|&i| contradicts(&ranges[i], &proof[i])) {
            return Blame::ProofHash(i);
        }
        // A wrong node on the path: the culprit lies below it, among the hashes
        // nothing confirmed. Only a single such suspect can be named.
        let confirmed = |range: &Range| self.0.contains_key(range);
        for (level, (range, h)) in path.iter().enumerate().skip(1) {
            if !contradicts(range, h) {
                continue;
            }
            let mut suspects = (0..level)
                .filter(|&i| !confirmed(&ranges[i]))
                .map(Blame::ProofHash);
            let leaf_suspect = (!confirmed(&(index, index + 1))).then_some(Blame::Leaf);
            let all: Vec<Blame> = leaf_suspect.into_iter().chain(&mut suspects).collect();
            return match all.as_slice() {
                [one] => *one,
                _ => Blame::Unknown,
            };
        }
        Blame::Unknown
    }
}

/// The root every given proof leads to, if they all lead to the same one.
pub(super) fn computed_roots<'a>(
    proofs: impl Iterator<Item = (u64, &'a Hash, &'a [Hash])>,
    size: u64,
) -> Option<Hash> {
    let mut root = None;
    for (index, leaf, proof) in proofs {
        if index >= size {
            return None;
        }
        let ranges = sibling_ranges(index, size);
        let (_, top) = *path_nodes(index, leaf, &ranges, proof)?.last()?;
        match root {
            None => root = Some(top),
            Some(r) if r == top => {}
            Some(_) => return None,
        }
    }
    root
}

/// The leaf ranges of the hashes of the inclusion proof of `index` in a tree of
/// `size` leaves, the leaf's sibling first (RFC 9162 §2.1.3.1).
fn sibling_ranges(index: u64, size: u64) -> Vec<Range> {
    let mut out = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end.saturating_sub(start) > 1 {
        let n = end - start;
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if index < start + k {
            out.push((start + k, end));
            end = start + k;
        } else {
            out.push((start, start + k));
            start += k;
        }
    }
    out.reverse();
    out
}

/// The nodes from the leaf up to the root, computed from the proof: the leaf
/// first, the root last. `None` when the proof has the wrong length.
fn path_nodes(
    index: u64,
    leaf: &Hash,
    ranges: &[Range],
    proof: &[Hash],
) -> Option<Vec<(Range, Hash)>> {
    if ranges.len() != proof.len() {
        return None;
    }
    let mut node = (index, index + 1);
    let mut h = *leaf;
    let mut out = Vec::with_capacity(ranges.len() + 1);
    out.push((node, h));
    for (range, p) in ranges.iter().zip(proof) {
        if range.0 < node.0 {
            h = Blake3Hasher.hash_children(p, &h);
            node = (range.0, node.1);
        } else {
            h = Blake3Hasher.hash_children(&h, p);
            node = (node.0, range.1);
        }
        out.push((node, h));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::merkle::{inclusion_proof, MemoryTree};

    fn tree(n: u64) -> MemoryTree<Blake3Hasher> {
        MemoryTree::from_leaves(
            Blake3Hasher,
            (0..n).map(|i| crate::hash::leaf_hash(&i.to_le_bytes())),
        )
    }

    #[test]
    fn ranges_and_paths_agree_with_the_tree() {
        for size in 1..40u64 {
            let t = tree(size);
            for index in 0..size {
                let proof = inclusion_proof(&Blake3Hasher, &t, index, size).unwrap();
                let leaf = crate::hash::leaf_hash(&index.to_le_bytes());
                let ranges = sibling_ranges(index, size);
                let path = path_nodes(index, &leaf, &ranges, &proof).unwrap();
                assert_eq!(
                    path.last().unwrap(),
                    &((0, size), t.root()),
                    "{index} of {size}"
                );
            }
        }
    }

    #[test]
    fn an_altered_proof_hash_is_named_by_a_neighbour() {
        let size = 37;
        let t = tree(size);
        let leaf = |i: u64| crate::hash::leaf_hash(&i.to_le_bytes());
        let proof = |i: u64| inclusion_proof(&Blake3Hasher, &t, i, size).unwrap();
        let mut known = KnownNodes::default();
        known.learn(5, size, &leaf(5), &proof(5));
        let mut bad = proof(4);
        bad[2][0] ^= 1;
        assert_eq!(known.blame(4, size, &leaf(4), &bad), Blame::ProofHash(2));
        let mut other = leaf(4);
        other[0] ^= 1;
        assert_eq!(known.blame(4, size, &other, &proof(4)), Blame::Leaf);
    }
}
