//! Bundle test vectors: `schemas/test-vectors/bundles-v1.json`.
//!
//! Each vector is a complete bundle (`schemas/bundle-v1.md`) made here from
//! fixed inputs and signed with the test-only key of the format vectors, and
//! whether a verifier MUST accept it. The file is compared with what this test
//! computes, and every bundle is verified with `cairn_core::bundle::verify`;
//! `tools/pyverify` checks the same file independently. Regenerate with
//! `CAIRN_REGENERATE_VECTORS=1 cargo test -p cairn-core --release --test bundle_vectors`.

#![allow(clippy::unwrap_used)]

use cairn_core::bundle::{self, Bundle, BundleEntry, SlotContent, VerifyOptions};
use cairn_core::checkpoint::{Checkpoint, NoteSigner};
use cairn_core::decision::DecisionInput;
use cairn_core::entry::{Entry, EntryBody, PayloadSlot};
use cairn_core::hash::{Blake3Hasher, ZERO_HASH};
use cairn_core::merkle::{inclusion_proof, MemoryTree};
use serde_json::{json, Value};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/test-vectors/bundles-v1.json"
);
/// The key of `merkle-blake3.json`'s checkpoints.
const ORIGIN: &str = "example.com/cairn-test-vectors";
const SEED: [u8; 32] = [0x42; 32];
const SIZE: u64 = 4;

/// A signed ledger of 4 decisions; with `break_at`, that entry's `prev_hash`
/// is 32 zero bytes instead of the leaf hash before it.
fn bundle(break_at: Option<u64>, seqs: &[u64]) -> String {
    let mut entries = Vec::new();
    let mut payloads = Vec::new();
    let mut prev = ZERO_HASH;
    for seq in 0..SIZE {
        let line = format!(
            r#"{{"stream":"vectors","model":{{"name":"m","version":"1"}},"input":{{"n":{seq}}},"output":"ok"}}"#
        );
        let p = DecisionInput::parse(line.as_bytes())
            .unwrap()
            .prepare([0x11; 32], [0x22; 32]);
        let entry = Entry {
            seq,
            prev_hash: if break_at == Some(seq) {
                ZERO_HASH
            } else {
                prev
            },
            recorded_at_us: 1_780_000_000_000_000 + seq as i64 * 1_500,
            body: EntryBody::DecisionV1(p.body),
        };
        prev = entry.leaf_hash();
        entries.push(entry);
        payloads.push([p.input, p.output]);
    }
    let tree = MemoryTree::from_leaves(Blake3Hasher, entries.iter().map(Entry::leaf_hash));
    let signer = NoteSigner::new(ORIGIN, &SEED).unwrap();
    let checkpoint = signer.sign_checkpoint(&Checkpoint {
        origin: ORIGIN.into(),
        size: SIZE,
        root: tree.root(),
        extensions: vec![],
    });
    let entries = seqs
        .iter()
        .map(|&seq| {
            let [input, output] = payloads[seq as usize].clone();
            BundleEntry {
                entry: entries[seq as usize].clone(),
                proof: inclusion_proof(&Blake3Hasher, &tree, seq, SIZE).unwrap(),
                payloads: vec![
                    (PayloadSlot::Input, SlotContent::Present(input)),
                    (PayloadSlot::Output, SlotContent::Present(output)),
                ],
            }
        })
        .collect();
    Bundle {
        verifier_key: signer.verifier(),
        checkpoint,
        entries,
    }
    .to_json()
}

fn file() -> Value {
    let cases = [
        (
            "linked",
            "seq 1 and 2 of a ledger whose chain links",
            true,
            None,
        ),
        (
            "unlinked",
            "seq 1 and 2 of a signed ledger whose entry 2 has a prev_hash of zeros: each entry is \
             included, but adjacent entries whose prev_hash does not link MUST be rejected",
            false,
            Some(2),
        ),
    ];
    let bundles: Vec<Value> = cases
        .into_iter()
        .map(|(name, why, valid, break_at)| {
            let text = bundle(break_at, &[1, 2]);
            json!({"name": name, "why": why, "valid": valid, "bundle": text})
        })
        .collect();
    json!({
        "about": "Cairn evidence bundle (schemas/bundle-v1.md) test vectors. Each `bundle` is the text of \
                  a bundle file; `valid` says whether a verifier given `verifier_key` as the trusted key \
                  MUST accept it. The key is the test-only key of merkle-blake3.json. Regenerate with \
                  CAIRN_REGENERATE_VECTORS=1 (see crates/cairn-core/tests/bundle_vectors.rs).",
        "verifier_key": NoteSigner::new(ORIGIN, &SEED).unwrap().verifier().to_string(),
        "bundles": bundles,
    })
}

#[test]
fn bundle_vectors_match_and_verify() {
    let generated = file();
    let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
    if std::env::var("CAIRN_REGENERATE_VECTORS").is_ok_and(|v| v == "1") {
        std::fs::write(PATH, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(PATH).unwrap();
    assert_eq!(
        on_disk, text,
        "{PATH} differs from what the code computes; if intended, run with CAIRN_REGENERATE_VECTORS=1"
    );
    let key =
        cairn_core::checkpoint::NoteVerifier::parse(generated["verifier_key"].as_str().unwrap())
            .unwrap();
    for v in generated["bundles"].as_array().unwrap() {
        let report = bundle::verify(
            v["bundle"].as_str().unwrap().as_bytes(),
            VerifyOptions {
                trusted_key: Some(&key),
                keep_entries: false,
            },
        )
        .unwrap();
        assert_eq!(
            report.valid(),
            v["valid"].as_bool().unwrap(),
            "{}: {:#?}",
            v["name"],
            report.findings
        );
    }
}
