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

/// The number of hashes in the inclusion proof of `index` in a tree of `size`
/// leaves (`index < size`): one per level below the point where the paths to
/// `index` and to the last leaf diverge, plus one per left sibling above it.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = inclusion_decomposition(index, size);
    inner + border
}

fn inclusion_decomposition(index: u64, size: u64) -> (usize, usize) {
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner as usize, border as usize)
}

/// The number of hashes in the consistency proof for `0 < old_size < new_size`.
fn consistency_proof_len(old_size: u64, new_size: u64) -> usize {
    // The proof is an inclusion proof of the old tree's last leaf, except that
    // the levels inside the old tree's last complete subtree (of 2^shift leaves)
    // are replaced by that subtree's hash, which is omitted when it is the old
    // root itself (old_size a power of two).
    let shift = old_size.trailing_zeros() as usize;
    let (inner, border) = inclusion_decomposition(old_size - 1, new_size);
    let seed = usize::from(!old_size.is_power_of_two());
    seed + (inner - shift) + border
}

/// Verifies that `leaf_hash` is the leaf at `index` of the tree of `size` leaves
/// whose root is `root`, following RFC 9162 §2.1.3.2.
pub fn verify_inclusion<H>(
    hasher: &H,
    index: u64,
    size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError>
where
    H: TreeHasher + ?Sized,
{
    // Step 1.
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let wrong_length = VerifyError::WrongProofLength {
        expected: inclusion_proof_len(index, size),
        found: proof.len(),
    };
    if proof.len() != inclusion_proof_len(index, size) {
        return Err(wrong_length);
    }
    // Steps 2 and 3.
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf_hash;
    // Step 4.
    for p in proof {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = hasher.hash_children(p, &r);
            // A last node without a right sibling is promoted unchanged: skip
            // the levels where it is a left child with nothing to its right.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = hasher.hash_children(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if r != *root {
        return Err(VerifyError::RootMismatch {
            expected: *root,
            computed: r,
        });
    }
    Ok(())
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a prefix of
/// the tree of `new_size` leaves with root `new_root`, following RFC 9162 §2.1.4.2.
///
/// Cases the RFC leaves to the caller:
/// - `old_size == 0`: the empty tree is a prefix of every tree; the proof must be
///   empty and `old_root` must be the empty root.
/// - `old_size == new_size`: the proof must be empty and the roots equal.
pub fn verify_consistency<H>(
    hasher: &H,
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError>
where
    H: TreeHasher + ?Sized,
{
    if old_size > new_size {
        return Err(VerifyError::SizeOutOfRange {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old_size == 0 && *old_root != hasher.empty_root() {
            return Err(VerifyError::OldRootMismatch {
                expected: *old_root,
                computed: hasher.empty_root(),
            });
        }
        if old_size == new_size && old_root != new_root {
            return Err(VerifyError::RootMismatch {
                expected: *new_root,
                computed: *old_root,
            });
        }
        return Ok(());
    }
    let wrong_length = VerifyError::WrongProofLength {
        expected: consistency_proof_len(old_size, new_size),
        found: proof.len(),
    };
    // Step 1 (an empty proof) is covered: the expected length is at least 1.
    if proof.len() != consistency_proof_len(old_size, new_size) {
        return Err(wrong_length);
    }
    // Steps 2 and 5: when old_size is a power of two the old root is the seed
    // (conceptually prepended to the path); otherwise the proof's first hash is.
    let (seed, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some(split) => split,
            None => return Err(wrong_length),
        }
    };
    // Step 3.
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    // Step 4: skip the levels inside the old tree's last complete subtree.
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (*seed, *seed);
    // Step 6.
    for c in rest {
        if s_n == 0 {
            return Err(wrong_length);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = hasher.hash_children(c, &fr);
            sr = hasher.hash_children(c, &sr);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            // A node to the right of the old tree: only the new root covers it.
            sr = hasher.hash_children(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(wrong_length);
    }
    if fr != *old_root {
        return Err(VerifyError::OldRootMismatch {
            expected: *old_root,
            computed: fr,
        });
    }
    if sr != *new_root {
        return Err(VerifyError::RootMismatch {
            expected: *new_root,
            computed: sr,
        });
    }
    Ok(())
}

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

/// Fuzzing entry point: reads sizes, an index, roots and a proof from arbitrary
/// bytes and runs both verifiers on them. Must never panic; a proof that verifies
/// must verify against the tree it claims only, which the verifiers decide alone.
pub fn fuzz_verify_proofs(data: &[u8]) {
    use crate::hash::Blake3Hasher;
    let word = |at: usize| -> u64 {
        let mut b = [0u8; 8];
        for (i, x) in b.iter_mut().enumerate() {
            *x = data.get(at + i).copied().unwrap_or(0);
        }
        u64::from_le_bytes(b)
    };
    let hash = |at: usize| -> Hash {
        let mut h = [0u8; 32];
        for (i, x) in h.iter_mut().enumerate() {
            *x = data.get(at + i).copied().unwrap_or(0);
        }
        h
    };
    // Keep sizes small enough that proofs can be complete, and large ones too.
    let (a, b, index) = (word(0), word(8), word(16));
    let (r1, r2, leaf) = (hash(24), hash(56), hash(88));
    let proof: Vec<Hash> = data
        .get(120..)
        .unwrap_or_default()
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect();
    let _ = verify_inclusion(&Blake3Hasher, index, a, &leaf, &proof, &r1);
    let _ = verify_consistency(&Blake3Hasher, a, b, &r1, &r2, &proof);
    let _ = verify_inclusion(&Blake3Hasher, index % 64, a % 64, &leaf, &proof, &r1);
    let _ = verify_consistency(&Blake3Hasher, a % 64, b % 64, &r1, &r2, &proof);
}

#[cfg(test)]
mod tests;
