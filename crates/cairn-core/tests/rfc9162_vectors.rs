//! Checks the Merkle tree against the published RFC 6962 / RFC 9162 SHA-256
//! reference vectors: roots, generated proofs (byte for byte) and verification.

#![allow(clippy::unwrap_used)]

use cairn_core::hash::{Hash, TreeHasher};
use cairn_core::merkle::{
    consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion, MemoryTree,
    Sha256Hasher,
};
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/test-vectors/rfc9162-sha256.json"
);

struct Vectors {
    leaves: Vec<Vec<u8>>,
    roots: Vec<Hash>,
    /// `(index, size, proof)`.
    inclusion: Vec<(u64, u64, Vec<Hash>)>,
    /// `(size1, size2, proof)`.
    consistency: Vec<(u64, u64, Vec<Hash>)>,
}

fn hash(v: &Value) -> Hash {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

fn load() -> Vectors {
    let text = std::fs::read_to_string(VECTORS).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let leaves = v["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| hex::decode(l.as_str().unwrap()).unwrap())
        .collect();
    let roots = hashes(&v["roots_by_size_hex"]);
    let inclusion = v["inclusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["size"].as_u64().unwrap(),
                hashes(&c["proof_hex"]),
            )
        })
        .collect();
    let consistency = v["consistency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["size1"].as_u64().unwrap(),
                c["size2"].as_u64().unwrap(),
                hashes(&c["proof_hex"]),
            )
        })
        .collect();
    Vectors {
        leaves,
        roots,
        inclusion,
        consistency,
    }
}

fn tree(v: &Vectors) -> MemoryTree<Sha256Hasher> {
    MemoryTree::from_leaves(
        Sha256Hasher,
        v.leaves.iter().map(|l| Sha256Hasher.hash_leaf(l)),
    )
}

#[test]
fn roots_match() {
    let v = load();
    let t = tree(&v);
    assert_eq!(v.roots.len(), v.leaves.len() + 1);
    for (size, expected) in v.roots.iter().enumerate() {
        assert_eq!(&root(&Sha256Hasher, &t, size as u64).unwrap(), expected);
    }
    assert_eq!(&t.root(), v.roots.last().unwrap());
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let v = load();
    let t = tree(&v);
    assert!(!v.inclusion.is_empty());
    for (index, size, expected) in &v.inclusion {
        let (index, size) = (*index, *size);
        let proof = inclusion_proof(&Sha256Hasher, &t, index, size).unwrap();
        assert_eq!(&proof, expected, "inclusion proof of {index} in {size}");
        let leaf = Sha256Hasher.hash_leaf(&v.leaves[index as usize]);
        let r = &v.roots[size as usize];
        verify_inclusion(&Sha256Hasher, index, size, &leaf, expected, r).unwrap();
        for i in 0..expected.len() {
            for byte in [0, 17, 31] {
                let mut bad = expected.clone();
                bad[i][byte] ^= 0x01;
                assert!(
                    verify_inclusion(&Sha256Hasher, index, size, &leaf, &bad, r).is_err(),
                    "tampered inclusion proof of {index} in {size} verified"
                );
            }
        }
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let v = load();
    let t = tree(&v);
    assert!(!v.consistency.is_empty());
    for (size1, size2, expected) in &v.consistency {
        let (size1, size2) = (*size1, *size2);
        let proof = consistency_proof(&Sha256Hasher, &t, size1, size2).unwrap();
        assert_eq!(&proof, expected, "consistency proof of {size1} to {size2}");
        let (r1, r2) = (&v.roots[size1 as usize], &v.roots[size2 as usize]);
        verify_consistency(&Sha256Hasher, size1, size2, r1, r2, expected).unwrap();
        for i in 0..expected.len() {
            for byte in [0, 17, 31] {
                let mut bad = expected.clone();
                bad[i][byte] ^= 0x01;
                assert!(
                    verify_consistency(&Sha256Hasher, size1, size2, r1, r2, &bad).is_err(),
                    "tampered consistency proof of {size1} to {size2} verified"
                );
            }
        }
    }
}
