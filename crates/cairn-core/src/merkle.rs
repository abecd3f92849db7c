//! The RFC 9162 Merkle tree: tree hashes, inclusion and consistency proofs, and
//! their verification.
//!
//! The tree shape is exactly that of RFC 9162 §2.1: a list of `n > 1` leaves is
//! split at the largest power of two `k < n`, the left part is a complete tree of
//! `k` leaves and the right part is the tree of the remaining `n - k` leaves.
//!
//! Storage is abstracted by [`NodeSource`], which hands out *complete* subtrees
//! only (`2^level` leaves, aligned on a multiple of `2^level`). Every node of an
//! RFC 9162 tree is either such a complete subtree or is built from at most one
//! complete subtree per level, so roots and proofs need `O(log n)` reads. Complete
//! subtrees never change once the tree has grown past them, which is what lets an
//! append-only store keep them forever; [`TreeEdge`] reports each one as it is
//! completed.
//!
//! Verification ([`verify_inclusion`], [`verify_consistency`]) follows the
//! algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 step by step. It additionally
//! checks the proof length up front, which the RFC algorithms imply (they fail on
//! any other length) but which gives a clearer error.

use crate::hash::{Hash, TreeHasher, LEAF_PREFIX, NODE_PREFIX};
use sha2::{Digest, Sha256};

mod edge;
mod verify;

pub use edge::{MemoryTree, MissingNode, TreeEdge};
pub use verify::{fuzz_verify_proofs, verify_consistency, verify_inclusion};

/// SHA-256 with RFC 9162 domain separation.
///
/// Cairn ledgers use BLAKE3; this hasher exists so that the tree code can be
/// checked against the published RFC 6962 / RFC 9162 SHA-256 test vectors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256Hasher;

impl TreeHasher for Sha256Hasher {
    fn empty_root(&self) -> Hash {
        Sha256::digest(b"").into()
    }

    fn hash_leaf(&self, leaf: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update([LEAF_PREFIX]);
        h.update(leaf);
        h.finalize().into()
    }

    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        let mut h = Sha256::new();
        h.update([NODE_PREFIX]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }
}

/// Read access to the complete subtrees of a tree.
pub trait NodeSource {
    /// Why a node could not be read.
    type Error;

    /// The hash of the complete subtree of height `level` covering the leaves
    /// `[index << level, (index + 1) << level)`. Level 0 holds the leaf hashes.
    ///
    /// Only subtrees that lie entirely within the tree are ever requested.
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The old tree size is larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOutOfRange {
        /// The old (smaller) tree size.
        old: u64,
        /// The new (larger) tree size.
        new: u64,
    },
    /// The node source failed.
    // Not `#[source]`: that would require `E: std::error::Error`, and a plain
    // `Display` error from a store should still be usable.
    #[error("reading a tree node failed: {0}")]
    Source(E),
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The old tree size is larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizeOutOfRange {
        /// The claimed old tree size.
        old: u64,
        /// The claimed new tree size.
        new: u64,
    },
    /// The proof does not have the number of hashes the sizes (and index) imply.
    #[error("proof has {found} hashes, expected {expected}")]
    WrongProofLength {
        /// The length implied by the sizes (and index).
        expected: usize,
        /// The length of the proof given.
        found: usize,
    },
    /// The root recomputed from the proof is not the claimed (new) root.
    #[error(
        "root mismatch: expected {}, computed {}",
        hex::encode(.expected),
        hex::encode(.computed)
    )]
    RootMismatch {
        /// The claimed root.
        expected: Hash,
        /// The root recomputed from the proof.
        computed: Hash,
    },
    /// The old root recomputed from a consistency proof is not the claimed old root.
    #[error(
        "old root mismatch: expected {}, computed {}",
        hex::encode(.expected),
        hex::encode(.computed)
    )]
    OldRootMismatch {
        /// The claimed old root.
        expected: Hash,
        /// The old root recomputed from the proof.
        computed: Hash,
    },
}

/// The largest power of two strictly less than `n`; `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for a range that is a node of an RFC 9162 tree.
///
/// Such a node's start is a multiple of the smallest power of two not below its
/// length, so its left part is always an aligned complete subtree and only the
/// right spine is split further: at most one read per level.
fn range_hash<H, S>(hasher: &H, src: &S, start: u64, end: u64) -> Result<Hash, S::Error>
where
    H: TreeHasher + ?Sized,
    S: NodeSource + ?Sized,
{
    debug_assert!(start < end);
    let len = end - start;
    if len.is_power_of_two() && start & (len - 1) == 0 {
        let level = len.trailing_zeros();
        // `level < 64`, so the cast cannot truncate.
        return src.subtree(level as u8, start >> level);
    }
    let k = split_point(len);
    let left = range_hash(hasher, src, start, start + k)?;
    let right = range_hash(hasher, src, start + k, end)?;
    Ok(hasher.hash_children(&left, &right))
}

/// The root of the tree made of the first `size` leaves of `src`
/// (`MTH(D[0:size])`); the empty tree's root is [`TreeHasher::empty_root`].
pub fn root<H, S>(hasher: &H, src: &S, size: u64) -> Result<Hash, S::Error>
where
    H: TreeHasher + ?Sized,
    S: NodeSource + ?Sized,
{
    if size == 0 {
        return Ok(hasher.empty_root());
    }
    range_hash(hasher, src, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves:
/// `PATH(index, D[0:size])` of RFC 9162 §2.1.3.1, the sibling of the leaf first.
pub fn inclusion_proof<H, S>(
    hasher: &H,
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>>
where
    H: TreeHasher + ?Sized,
    S: NodeSource + ?Sized,
{
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    // Walk from the root down to the leaf, taking the sibling at each level; the
    // RFC lists them leaf first, hence the reversal. Once the walk has gone left
    // every later sibling is complete, so the one non-complete sibling costs at
    // most O(log n) reads and the proof O(log n) in total.
    let mut path = Vec::new();
    let (mut start, mut end) = (0, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            path.push(range_hash(hasher, src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            path.push(range_hash(hasher, src, start, start + k).map_err(ProofError::Source)?);
            start += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between the trees of `old_size` and `new_size` leaves:
/// `PROOF(old_size, D[0:new_size])` of RFC 9162 §2.1.4.1.
///
/// The RFC defines proofs for `0 < old_size <= new_size`; the proof is empty when
/// the sizes are equal. For `old_size == 0` the proof is empty too, since the
/// empty tree is a prefix of every tree (see [`verify_consistency`]).
pub fn consistency_proof<H, S>(
    hasher: &H,
    src: &S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, ProofError<S::Error>>
where
    H: TreeHasher + ?Sized,
    S: NodeSource + ?Sized,
{
    if old_size > new_size {
        return Err(ProofError::SizeOutOfRange {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], b) unrolled: `old_size - start` is the RFC's `m`,
    // `end - start` its `n`. Nodes are collected top-down and reversed at the end,
    // because the RFC appends each level's node after the deeper subproof.
    let mut path = Vec::new();
    let (mut start, mut end) = (0, new_size);
    // `b`: whether the current subtree is still a prefix of the old tree's
    // left edge, in which case the verifier already knows its hash (it is, or
    // is derived from, the old root) and it is left out.
    let mut known = true;
    loop {
        if old_size == end {
            if !known {
                path.push(range_hash(hasher, src, start, end).map_err(ProofError::Source)?);
            }
            break;
        }
        let k = split_point(end - start);
        if old_size - start <= k {
            path.push(range_hash(hasher, src, start + k, end).map_err(ProofError::Source)?);
            end = start + k;
        } else {
            path.push(range_hash(hasher, src, start, start + k).map_err(ProofError::Source)?);
            start += k;
            known = false;
        }
    }
    path.reverse();
    Ok(path)
}

#[cfg(test)]
mod tests;
