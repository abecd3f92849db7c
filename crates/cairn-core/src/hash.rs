//! Hash functions of the ledger: BLAKE3 leaf and node hashes (RFC 9162 §2.1 domain
//! separation), and the `TreeHasher` trait the Merkle tree is generic over.

/// A 32-byte digest: leaf hashes, node hashes, roots, commitments.
pub type Hash = [u8; 32];

/// The all-zero hash: `prev_hash` of the entry at seq 0.
pub const ZERO_HASH: Hash = [0u8; 32];

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
pub const NODE_PREFIX: u8 = 0x01;

/// The hash function a Merkle tree is built with.
///
/// Cairn's ledgers use [`Blake3Hasher`]; the tree code is generic so that it can be
/// checked against the RFC 9162 reference vectors computed with SHA-256.
pub trait TreeHasher {
    /// Hash of the empty tree (the hash of the empty string).
    fn empty_root(&self) -> Hash;
    /// `H(0x00 ‖ leaf)`.
    fn hash_leaf(&self, leaf: &[u8]) -> Hash;
    /// `H(0x01 ‖ left ‖ right)`.
    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash;
}

/// BLAKE3, the hash of every Cairn ledger.
#[derive(Debug, Clone, Copy, Default)]
pub struct Blake3Hasher;

impl TreeHasher for Blake3Hasher {
    fn empty_root(&self) -> Hash {
        *blake3::hash(b"").as_bytes()
    }

    fn hash_leaf(&self, leaf: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[LEAF_PREFIX]);
        h.update(leaf);
        *h.finalize().as_bytes()
    }

    fn hash_children(&self, left: &Hash, right: &Hash) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&[NODE_PREFIX]);
        h.update(left);
        h.update(right);
        *h.finalize().as_bytes()
    }
}

/// The leaf hash of canonical entry bytes: `blake3(0x00 ‖ entry_bytes)`.
pub fn leaf_hash(entry_bytes: &[u8]) -> Hash {
    Blake3Hasher.hash_leaf(entry_bytes)
}

/// The commitment to a payload: `blake3(salt ‖ payload)`.
pub fn payload_commitment(salt: &[u8], payload: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(salt);
    h.update(payload);
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_and_node_hashes_are_domain_separated() {
        let leaf = leaf_hash(b"abc");
        assert_ne!(leaf, *blake3::hash(b"abc").as_bytes());
        let node = Blake3Hasher.hash_children(&leaf, &leaf);
        let mut concat = Vec::new();
        concat.extend_from_slice(&leaf);
        concat.extend_from_slice(&leaf);
        assert_ne!(node, leaf_hash(&concat));
    }
}
