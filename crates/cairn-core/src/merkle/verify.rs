//! Proof verification, following RFC 9162 §2.1.3.2 and §2.1.4.2 step by step,
//! with the proof length checked up front; and the verifiers' fuzzing entry
//! point.

use super::VerifyError;
use crate::hash::{Hash, TreeHasher};

/// The number of hashes in the inclusion proof of `index` in a tree of `size`
/// leaves (`index < size`): one per level below the point where the paths to
/// `index` and to the last leaf diverge, plus one per left sibling above it.
pub(super) fn inclusion_proof_len(index: u64, size: u64) -> usize {
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
