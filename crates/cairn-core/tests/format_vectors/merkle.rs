//! The Merkle and checkpoint vectors.

use super::*;

pub(super) fn inclusion_cases() -> Vec<(u64, u64)> {
    let mut cases: Vec<(u64, u64)> = (1..=8u64)
        .flat_map(|size| (0..size).map(move |index| (index, size)))
        .collect();
    cases.extend([
        (0, 13),
        (5, 13),
        (12, 13),
        (7, 16),
        (15, 16),
        (0, 17),
        (9, 17),
        (16, 17),
    ]);
    cases
}

pub(super) fn consistency_cases() -> Vec<(u64, u64)> {
    let mut cases: Vec<(u64, u64)> = (1..=8u64)
        .flat_map(|new| (1..=new).map(move |old| (old, new)))
        .collect();
    cases.extend([
        (5, 11),
        (6, 15),
        (7, 13),
        (8, 16),
        (1, 17),
        (3, 17),
        (4, 17),
        (8, 17),
        (13, 17),
        (16, 17),
        (17, 17),
        // Size 0: the empty tree is a prefix of every tree; the proof is empty.
        (0, 0),
        (0, 5),
    ]);
    cases
}

pub(super) fn merkle_leaf_inputs() -> Vec<Vec<u8>> {
    (0..MERKLE_LEAVES).map(|i| vec![i as u8]).collect()
}

pub(super) fn checkpoint_json(signer: &NoteSigner, cp: &Checkpoint) -> Value {
    let note = signer.sign_checkpoint(cp);
    let blob_b64 = note.rsplit_once(' ').unwrap().1.trim_end();
    let blob = STANDARD.decode(blob_b64).unwrap();
    json!({
        "origin": cp.origin,
        "size": cp.size,
        "root_hex": hex::encode(cp.root),
        "extensions": cp.extensions,
        "body": cp.body(),
        "note": note,
        "signature_hex": hex::encode(&blob[4..]),
    })
}

pub(super) fn merkle_file() -> Value {
    let h = Blake3Hasher;
    let inputs = merkle_leaf_inputs();
    let leaves: Vec<Hash> = inputs.iter().map(|l| h.hash_leaf(l)).collect();
    let tree = MemoryTree::from_leaves(h, leaves.iter().copied());
    let roots: Vec<Hash> = (0..=MERKLE_LEAVES)
        .map(|size| root(&h, &tree, size).unwrap())
        .collect();
    let inclusion: Vec<Value> = inclusion_cases()
        .into_iter()
        .map(|(index, size)| {
            let proof = inclusion_proof(&h, &tree, index, size).unwrap();
            json!({"index": index, "size": size, "proof_hex": hexs(&proof)})
        })
        .collect();
    let consistency: Vec<Value> = consistency_cases()
        .into_iter()
        .map(|(old, new)| {
            let proof = consistency_proof(&h, &tree, old, new).unwrap();
            json!({"size1": old, "size2": new, "proof_hex": hexs(&proof)})
        })
        .collect();

    let signer = NoteSigner::new(CHECKPOINT_ORIGIN, &CHECKPOINT_SEED).unwrap();
    let verifier = signer.verifier();
    let checkpoints = vec![
        checkpoint_json(
            &signer,
            &Checkpoint {
                origin: CHECKPOINT_ORIGIN.into(),
                size: MERKLE_LEAVES,
                root: roots[MERKLE_LEAVES as usize],
                extensions: Vec::new(),
            },
        ),
        checkpoint_json(
            &signer,
            &Checkpoint {
                origin: CHECKPOINT_ORIGIN.into(),
                size: 8,
                root: roots[8],
                extensions: vec!["cairn-test-vectors extension line".into()],
            },
        ),
    ];
    json!({
        "about": "RFC 9162 section 2.1 Merkle tree vectors with BLAKE3, as used by Cairn ledgers \
                  (schemas/entry-v1.md, \"Merkle tree and proofs\"). Leaf input i is the single byte i \
                  (0 <= i < 17); leaf hash = BLAKE3(0x00 || input); node = BLAKE3(0x01 || left || right); \
                  root of the empty tree = BLAKE3 of the empty string. roots_by_size_hex[n] is the root of \
                  the first n leaves. Proof hashes are listed in RFC 9162 order. Consistency proofs with \
                  size1 = 0 or size1 = size2 are empty. The checkpoints are signed with a test-only Ed25519 \
                  key whose seed is given. Regenerate with CAIRN_REGENERATE_VECTORS=1 (see \
                  crates/cairn-core/tests/format_vectors.rs).",
        "hash": "BLAKE3-256",
        "leaf_inputs_hex": inputs.iter().map(hex::encode).collect::<Vec<_>>(),
        "leaf_hashes_hex": hexs(&leaves),
        "empty_root_hex": hex::encode(h.empty_root()),
        "roots_by_size_hex": hexs(&roots),
        "inclusion": inclusion,
        "consistency": consistency,
        "checkpoint_key": {
            "name": CHECKPOINT_ORIGIN,
            "seed_hex": hex::encode(CHECKPOINT_SEED),
            "public_key_hex": hex::encode(verifier.public_key()),
            "key_id_hex": hex::encode(verifier.key_id()),
            "verifier_key": verifier.to_string(),
        },
        "checkpoints": checkpoints,
        "invalid_checkpoints": invalid_checkpoints(&signer, roots[8]),
    })
}

/// Notes validly signed by the test key that a verifier MUST still reject:
/// their origin holds a control character (entry-v1.md, Checkpoints), C1 ones
/// included.
pub(super) fn invalid_checkpoints(signer: &NoteSigner, root8: Hash) -> Vec<Value> {
    [
        ("origin_u007f", '\u{7f}', "U+007F DELETE in the origin"),
        ("origin_u0085", '\u{85}', "U+0085 NEXT LINE in the origin"),
        (
            "origin_u009f",
            '\u{9f}',
            "U+009F, the last C1 control, in the origin",
        ),
        ("origin_u0009", '\t', "U+0009 TAB in the origin"),
    ]
    .into_iter()
    .map(|(name, c, why)| {
        let note = signer.sign_checkpoint(&Checkpoint {
            origin: format!("{CHECKPOINT_ORIGIN}{c}x"),
            size: 8,
            root: root8,
            extensions: Vec::new(),
        });
        json!({"name": name, "why": why, "note": note})
    })
    .collect()
}
