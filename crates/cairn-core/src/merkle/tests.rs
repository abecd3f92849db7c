//! Tests of `merkle`.

#![allow(clippy::unwrap_used)]

use super::verify::inclusion_proof_len;
use super::*;
use crate::hash::Blake3Hasher;
use proptest::prelude::*;
use std::cell::Cell;

// ---- Naive reference: RFC 9162 §2.1 definitions, transcribed literally. ----

fn largest_pow2_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
fn mth<H: TreeHasher>(h: &H, d: &[Hash]) -> Hash {
    match d.len() {
        0 => h.empty_root(),
        1 => d[0],
        n => {
            let k = largest_pow2_below(n);
            h.hash_children(&mth(h, &d[..k]), &mth(h, &d[k..]))
        }
    }
}

/// PATH(m, D[n]).
fn path<H: TreeHasher>(h: &H, m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return Vec::new();
    }
    let k = largest_pow2_below(n);
    if m < k {
        let mut p = path(h, m, &d[..k]);
        p.push(mth(h, &d[k..]));
        p
    } else {
        let mut p = path(h, m - k, &d[k..]);
        p.push(mth(h, &d[..k]));
        p
    }
}

/// Whether each proof hash is a right sibling, leaf first: the shape of
/// PATH(m, D[n]) independent of the hashes.
fn path_shape(m: u64, n: u64) -> Vec<bool> {
    if n == 1 {
        return Vec::new();
    }
    let k = largest_pow2_below(n as usize) as u64;
    if m < k {
        let mut s = path_shape(m, k);
        s.push(true);
        s
    } else {
        let mut s = path_shape(m - k, n - k);
        s.push(false);
        s
    }
}

/// SUBPROOF(m, D[n], b).
fn subproof<H: TreeHasher>(h: &H, m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(h, d)] };
    }
    let k = largest_pow2_below(n);
    if m <= k {
        let mut p = subproof(h, m, &d[..k], b);
        p.push(mth(h, &d[k..]));
        p
    } else {
        let mut p = subproof(h, m - k, &d[k..], false);
        p.push(mth(h, &d[..k]));
        p
    }
}

fn leaves(seed: u64, n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| Blake3Hasher.hash_leaf(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
        .collect()
}

fn flip(h: &Hash, byte: usize) -> Hash {
    let mut h = *h;
    h[byte % 32] ^= 1;
    h
}

/// Counts reads, to check the O(log n) claims.
struct Counting<'a, S> {
    inner: &'a S,
    reads: Cell<usize>,
}

impl<S: NodeSource> NodeSource for Counting<'_, S> {
    type Error = S::Error;
    fn subtree(&self, level: u8, index: u64) -> Result<Hash, S::Error> {
        self.reads.set(self.reads.get() + 1);
        self.inner.subtree(level, index)
    }
}

// ---- Property checks, generic over the hasher. ----

fn check_inclusion<H: TreeHasher>(
    h: &H,
    tree: &MemoryTree<H>,
    d: &[Hash],
    index: u64,
    size: u64,
    salt: usize,
) {
    let root_n = mth(h, &d[..size as usize]);
    assert_eq!(root(h, tree, size).unwrap(), root_n);
    let proof = inclusion_proof(h, tree, index, size).unwrap();
    assert_eq!(proof, path(h, index as usize, &d[..size as usize]));
    assert_eq!(proof.len(), inclusion_proof_len(index, size));
    let leaf = d[index as usize];
    verify_inclusion(h, index, size, &leaf, &proof, &root_n).unwrap();

    // Any changed hash fails.
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i] = flip(&bad[i], salt + i);
        assert!(verify_inclusion(h, index, size, &leaf, &bad, &root_n).is_err());
    }
    let bad_root = flip(&root_n, salt);
    assert!(verify_inclusion(h, index, size, &leaf, &proof, &bad_root).is_err());
    let bad_leaf = flip(&leaf, salt);
    assert!(verify_inclusion(h, index, size, &bad_leaf, &proof, &root_n).is_err());

    // Any other index fails.
    for other in [
        index.wrapping_sub(1),
        index + 1,
        (index + 1 + salt as u64) % size,
    ] {
        if other != index {
            assert!(verify_inclusion(h, other, size, &leaf, &proof, &root_n).is_err());
        }
    }

    // Another size: against that size's true root it fails (the proof for
    // another size differs, if only in its last hash). Against the
    // same root, the RFC algorithm fails exactly when the proof's shape differs
    // (it does not bind the size otherwise; checkpoints bind it).
    for other in [
        size - 1,
        size + 1,
        (size + salt as u64) % d.len() as u64 + 1,
    ] {
        if other == size || other <= index || other as usize > d.len() {
            continue;
        }
        let other_root = mth(h, &d[..other as usize]);
        assert!(verify_inclusion(h, index, other, &leaf, &proof, &other_root).is_err());
        let same_shape = path_shape(index, other) == path_shape(index, size);
        let res = verify_inclusion(h, index, other, &leaf, &proof, &root_n);
        assert_eq!(
            res.is_ok(),
            same_shape,
            "index {index} size {size}->{other}"
        );
    }

    // Any other length fails.
    let mut longer = proof.clone();
    longer.push(root_n);
    assert!(matches!(
        verify_inclusion(h, index, size, &leaf, &longer, &root_n),
        Err(VerifyError::WrongProofLength { .. })
    ));
    if !proof.is_empty() {
        let shorter = &proof[..proof.len() - 1];
        assert!(matches!(
            verify_inclusion(h, index, size, &leaf, shorter, &root_n),
            Err(VerifyError::WrongProofLength { .. })
        ));
        let dropped_first = &proof[1..];
        assert!(verify_inclusion(h, index, size, &leaf, dropped_first, &root_n).is_err());
    }
}

fn check_consistency<H: TreeHasher>(
    h: &H,
    tree: &MemoryTree<H>,
    d: &[Hash],
    m: u64,
    n: u64,
    salt: usize,
) {
    let old = mth(h, &d[..m as usize]);
    let new = mth(h, &d[..n as usize]);
    let proof = consistency_proof(h, tree, m, n).unwrap();
    if m > 0 {
        assert_eq!(proof, subproof(h, m as usize, &d[..n as usize], true));
    } else {
        assert!(proof.is_empty());
    }
    verify_consistency(h, m, n, &old, &new, &proof).unwrap();

    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i] = flip(&bad[i], salt + i);
        assert!(verify_consistency(h, m, n, &old, &new, &bad).is_err());
    }
    assert!(verify_consistency(h, m, n, &flip(&old, salt), &new, &proof).is_err());
    if m > 0 {
        // (The empty tree is a prefix of any tree, whatever its root.)
        assert!(verify_consistency(h, m, n, &old, &flip(&new, salt), &proof).is_err());
    }

    // Claims about other sizes, with those sizes' true roots, are accepted
    // exactly when this proof is also the RFC proof for them (e.g. both
    // empty), i.e. a proof never vouches for a pair it was not made for.
    let len = d.len() as u64;
    let reference = |m: u64, n: u64| {
        if m == 0 {
            Vec::new()
        } else {
            subproof(h, m as usize, &d[..n as usize], true)
        }
    };
    for other in [m.wrapping_sub(1), m + 1, (m + 1 + salt as u64) % (n + 1)] {
        if other != m && other <= n {
            let other_root = mth(h, &d[..other as usize]);
            let res = verify_consistency(h, other, n, &other_root, &new, &proof);
            assert_eq!(
                res.is_ok(),
                reference(other, n) == proof,
                "{m}->{other}, {n}"
            );
        }
    }
    for other in [n.wrapping_sub(1), n + 1, (n + salt as u64) % (len + 1)] {
        if other != n && other >= m && other <= len {
            let other_root = mth(h, &d[..other as usize]);
            let res = verify_consistency(h, m, other, &old, &other_root, &proof);
            assert_eq!(
                res.is_ok(),
                reference(m, other) == proof,
                "{m}, {n}->{other}"
            );
        }
    }

    let mut longer = proof.clone();
    longer.push(new);
    assert!(verify_consistency(h, m, n, &old, &new, &longer).is_err());
    if !proof.is_empty() {
        assert!(verify_consistency(h, m, n, &old, &new, &proof[..proof.len() - 1]).is_err());
        assert!(verify_consistency(h, m, n, &old, &new, &proof[1..]).is_err());
    }
}

fn check_tree<H: TreeHasher + Clone>(
    h: &H,
    seed: u64,
    n: usize,
    incl: &[(u64, u64)],
    cons: &[(u64, u64)],
) {
    let d = leaves(seed, n);
    let tree = MemoryTree::from_leaves(h.clone(), d.iter().copied());
    assert_eq!(tree.size(), n as u64);
    assert_eq!(tree.root(), mth(h, &d));
    assert_eq!(
        &TreeEdge::from_source(&tree, n as u64).unwrap(),
        tree.edge()
    );
    for (i, &(a, b)) in incl.iter().enumerate() {
        let size = a % n as u64 + 1;
        let index = b % size;
        check_inclusion(h, &tree, &d, index, size, (seed as usize).wrapping_add(i));
        let edge = TreeEdge::from_source(&tree, size).unwrap();
        assert_eq!(edge.root(h), mth(h, &d[..size as usize]));
    }
    for (i, &(a, b)) in cons.iter().enumerate() {
        let new = a % (n as u64 + 1);
        let old = b % (new + 1);
        check_consistency(h, &tree, &d, old, new, (seed as usize).wrapping_add(i));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proofs_verify_and_tampering_fails(
        n in 1usize..=2000,
        seed in any::<u64>(),
        incl in proptest::collection::vec((any::<u64>(), any::<u64>()), 4),
        cons in proptest::collection::vec((any::<u64>(), any::<u64>()), 4),
    ) {
        check_tree(&Blake3Hasher, seed, n, &incl, &cons);
        // SHA-256 is slow in debug builds and the code is generic; smaller
        // trees suffice to cover the second hasher.
        check_tree(&Sha256Hasher, seed, n % 256 + 1, &incl, &cons);
    }
}

#[test]
fn exhaustive_small_trees() {
    let h = Blake3Hasher;
    let d = leaves(7, 33);
    let tree = MemoryTree::from_leaves(h, d.iter().copied());
    for size in 1..=33u64 {
        for index in 0..size {
            check_inclusion(&h, &tree, &d, index, size, (index * 31 + size) as usize);
        }
    }
    for n in 0..=33u64 {
        for m in 0..=n {
            check_consistency(&h, &tree, &d, m, n, (m * 17 + n) as usize);
        }
    }
}

#[test]
fn edge_root_matches_reference_for_every_size() {
    let h = Blake3Hasher;
    let d = leaves(1, 600);
    let mut edge = TreeEdge::new();
    let mut tree = MemoryTree::new(h);
    assert_eq!(edge.root(&h), h.empty_root());
    for (i, leaf) in d.iter().enumerate() {
        let completed = edge.push(&h, *leaf);
        tree.push(*leaf);
        let size = i as u64 + 1;
        assert_eq!(edge.size(), size);
        assert_eq!(edge.root(&h), mth(&h, &d[..=i]));
        assert_eq!(edge.peaks().len(), size.count_ones() as usize);
        // One completed subtree per trailing one bit of the old size, plus
        // the leaf, each matching what the store would read back.
        assert_eq!(completed.len(), (i as u64).trailing_ones() as usize + 1);
        assert_eq!(completed[0], (0, i as u64, *leaf));
        for (level, index, hash) in completed {
            assert_eq!(tree.subtree(level, index).unwrap(), hash);
            let lo = (index << level) as usize;
            assert_eq!(hash, mth(&h, &d[lo..lo + (1 << level)]));
        }
        assert_eq!(TreeEdge::from_source(&tree, size).unwrap(), edge);
    }
}

#[test]
fn reads_are_logarithmic() {
    let h = Blake3Hasher;
    let n = 5000u64;
    let tree = MemoryTree::from_leaves(h, leaves(3, n as usize));
    let src = Counting {
        inner: &tree,
        reads: Cell::new(0),
    };
    // ceil(log2 5000) = 13; allow one read per level for the path and one
    // per level for the single non-complete sibling.
    let bound = 2 * 13 + 2;
    for size in [1, 2, 3, 1000, 4095, 4096, 4097, 4999, 5000] {
        src.reads.set(0);
        root(&h, &src, size).unwrap();
        assert!(src.reads.get() <= size.count_ones() as usize);
        for index in [0, size / 3, size / 2, size - 1] {
            src.reads.set(0);
            inclusion_proof(&h, &src, index, size).unwrap();
            assert!(src.reads.get() <= bound, "{} reads", src.reads.get());
        }
        for old in [1, size / 3, size / 2, size - 1] {
            src.reads.set(0);
            consistency_proof(&h, &src, old, size).unwrap();
            assert!(src.reads.get() <= bound, "{} reads", src.reads.get());
        }
    }
}

#[test]
fn out_of_range_requests() {
    let h = Blake3Hasher;
    let tree = MemoryTree::from_leaves(h, leaves(0, 5));
    assert_eq!(
        inclusion_proof(&h, &tree, 5, 5),
        Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
    );
    assert_eq!(
        consistency_proof(&h, &tree, 6, 5),
        Err(ProofError::SizeOutOfRange { old: 6, new: 5 })
    );
    assert_eq!(
        inclusion_proof(&h, &tree, 0, 6),
        Err(ProofError::Source(MissingNode { level: 1, index: 2 }))
    );
    assert!(root(&h, &tree, 6).is_err());
    let r = tree.root();
    assert_eq!(
        verify_inclusion(&h, 0, 0, &r, &[], &r),
        Err(VerifyError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        verify_consistency(&h, 6, 5, &r, &r, &[]),
        Err(VerifyError::SizeOutOfRange { old: 6, new: 5 })
    );
}

#[test]
fn trivial_consistency_cases() {
    let h = Blake3Hasher;
    let d = leaves(0, 4);
    let r = mth(&h, &d);
    let empty = h.empty_root();
    verify_consistency(&h, 0, 0, &empty, &empty, &[]).unwrap();
    verify_consistency(&h, 0, 4, &empty, &r, &[]).unwrap();
    verify_consistency(&h, 4, 4, &r, &r, &[]).unwrap();
    assert!(matches!(
        verify_consistency(&h, 0, 4, &r, &r, &[]),
        Err(VerifyError::OldRootMismatch { .. })
    ));
    assert!(matches!(
        verify_consistency(&h, 0, 4, &empty, &r, &[r]),
        Err(VerifyError::WrongProofLength {
            expected: 0,
            found: 1
        })
    ));
    assert!(matches!(
        verify_consistency(&h, 4, 4, &r, &flip(&r, 0), &[]),
        Err(VerifyError::RootMismatch { .. })
    ));
    assert!(verify_consistency(&h, 4, 4, &r, &r, &[r]).is_err());
    // Step 1 of RFC 9162 §2.1.4.2: an empty proof for old < new fails.
    let r3 = mth(&h, &d[..3]);
    assert!(verify_consistency(&h, 3, 4, &r3, &r, &[]).is_err());
    assert!(verify_consistency(&h, 2, 4, &mth(&h, &d[..2]), &r, &[]).is_err());
}

#[test]
fn rfc_inclusion_does_not_bind_size_by_itself() {
    // Leaf 0's path has the same shape in trees of 3 and 4 leaves, so the
    // RFC algorithm accepts either size for the same proof and root. The size
    // is bound by the signed checkpoint that carries the root.
    let h = Blake3Hasher;
    let d = leaves(0, 3);
    let tree = MemoryTree::from_leaves(h, d.iter().copied());
    let proof = inclusion_proof(&h, &tree, 0, 3).unwrap();
    verify_inclusion(&h, 0, 3, &d[0], &proof, &tree.root()).unwrap();
    verify_inclusion(&h, 0, 4, &d[0], &proof, &tree.root()).unwrap();
}

#[test]
fn errors_display_hex() {
    let e = VerifyError::RootMismatch {
        expected: [0xab; 32],
        computed: [0x01; 32],
    };
    let s = e.to_string();
    assert!(s.contains(&"ab".repeat(32)) && s.contains(&"01".repeat(32)));
    let p: ProofError<MissingNode> = ProofError::Source(MissingNode { level: 2, index: 9 });
    assert!(p.to_string().contains("level 2, index 9"));
}
