//! Format test vectors: `schemas/test-vectors/entries-v1.json`,
//! `schemas/test-vectors/merkle-blake3.json` and the worked example in
//! `schemas/entry-v1.md`.
//!
//! Every vector is recomputed here from fixed inputs (decision JSON lines, salts,
//! sequence numbers, times, keys) and compared with the checked-in files, so any
//! change to the canonical encoding, the hashes, the tree or the checkpoint format
//! fails this test. Beyond equality, the test decodes every `entry_hex` and checks
//! that it re-encodes byte for byte, checks the hash chain, checks that every
//! invalid entry is rejected, and verifies every inclusion and consistency proof and
//! every checkpoint read back from the files.
//!
//! To rewrite the files (after an intended change, which for the entry encoding
//! means a new format version or a new variant, see `schemas/entry-v1.md`), run:
//!
//! ```text
//! CAIRN_REGENERATE_VECTORS=1 cargo test -p cairn-core --release --test format_vectors
//! ```
//!
//! then re-run without the variable, and run `tools/pyverify/verify_vectors.py`.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cairn_core::checkpoint::{open_checkpoint, Checkpoint, NoteSigner, NoteVerifier};
use cairn_core::decision::{DecisionInput, ATTRIBUTES_MAX, FIELD_BYTES_MAX};
use cairn_core::entry::{
    AlertV1, DecisionV1, Entry, EntryBody, ModelRef, PayloadRef, PayloadSlot, RedactionV1,
    ReplayV1, ENTRY_WRITE_BYTES_MAX, FORMAT_VERSION,
};
use cairn_core::hash::{leaf_hash, payload_commitment, Blake3Hasher, Hash, TreeHasher, ZERO_HASH};
use cairn_core::merkle::{
    consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion, MemoryTree,
};
use serde_json::{json, Value};

#[path = "format_vectors/entries.rs"]
mod entries;
#[path = "format_vectors/merkle.rs"]
mod merkle;
#[path = "format_vectors/worked_example.rs"]
mod worked_example;

use entries::*;
use merkle::*;
use worked_example::*;

const ENTRIES_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/test-vectors/entries-v1.json"
);
const MERKLE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/test-vectors/merkle-blake3.json"
);
const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/entry-v1.md");
const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../schemas/decision.schema.json"
);

const REGENERATE_VAR: &str = "CAIRN_REGENERATE_VECTORS";

const INPUT_SALT: [u8; 32] = [0x11; 32];
const OUTPUT_SALT: [u8; 32] = [0x22; 32];
/// `recorded_at_us` of the entry at seq 0 (2026-05-28T20:26:40Z); each later entry
/// is 1.5 ms later.
const RECORDED_BASE_US: i64 = 1_780_000_000_000_000;
const RECORDED_STEP_US: i64 = 1_500;

/// The decision used for the annotated worked example in `entry-v1.md`.
const WORKED_EXAMPLE: &str = "typical";

/// Number of leaves of the Merkle vectors.
const MERKLE_LEAVES: u64 = 17;

/// Origin and key name of the checkpoint vectors, and the (public, test-only) seed
/// of their Ed25519 key.
const CHECKPOINT_ORIGIN: &str = "example.com/cairn-test-vectors";
const CHECKPOINT_SEED: [u8; 32] = [0x42; 32];

/// The decision inputs of the vectors: name, what it shows, and the JSON line.
const DECISIONS: &[(&str, &str, &str)] = &[
    (
        "minimal",
        "Only the required fields. Every optional field is None; the input payload's keys are sorted.",
        r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"b":1,"a":2},"output":"yes"}"#,
    ),
    (
        "typical",
        "A few optional fields: request id, event time, label, score and two attributes given out of order.",
        r#"{"stream":"loans.approval","model":{"name":"credit","version":"3"},"input":{"term_months":36,"income":52000},"output":{"approve":true},"request_id":"r-1","event_time":"2026-03-14T15:09:26.535897Z","decision":"approve","score":0.93,"attributes":{"region":"eu","channel":"web"}}"#,
    ),
    (
        "full",
        "Every optional field set, including model.digest, an event time with a UTC offset, and params with nested objects.",
        r#"{"stream":"payments.fraud","model":{"name":"fraud-model","version":"7.2.0","digest":"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},"input":{"amount":125.5,"currency":"EUR","customer":{"id":"c-1001","age_days":812}},"output":{"label":"review","scores":{"fraud":0.81,"ok":0.19}},"request_id":"req-7f3a","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","subject":"customer:c-1001","session":"sess-2026-05-01-0007","event_time":"2026-05-01T12:34:56.789012+02:00","operation":"score_transaction","params":{"temperature":0.2,"seed":42,"stop":["\n\n"],"sampling":{"top_p":0.9,"top_k":40,"extra":{"z":null,"a":true}}},"decision":"review","score":0.81,"latency_ms":12.5,"attributes":{"region":"eu-west-1","channel":"web"},"idempotency_key":"payments.fraud/req-7f3a"}"#,
    ),
    (
        "unicode",
        "Non-ASCII text in identifiers, attributes and payloads. Payload object keys are sorted by their UTF-8 bytes (U+FF46 sorts before U+1F600), and control characters in payload strings are escaped.",
        r#"{"stream":"paiements.fraude-é","model":{"name":"模型-β","version":"7"},"input":{"texte":"Größe 😀","😀":2,"ｆ":1,"z":3,"é":4,"\u0007ctl":"tab\there"},"output":["naïve","\u2028"],"subject":"Zoë Łukasiewicz","session":"セッション-1","decision":"refusé","attributes":{"país":"España","emoji":"🚀"}}"#,
    ),
    (
        "attributes",
        "Attribute ordering by UTF-8 bytes ('B' < 'a' < 'b' < 'empty' < 'é' < U+FF46 < U+1F600), an empty attribute value, a null output, and how numbers in a payload are written back (1.0, 1E2 -> 100.0, 1.50 -> 1.5, -0 -> -0.0, 1e-7 -> 1e-7).",
        r#"{"stream":"s","model":{"name":"m","version":"1"},"input":[1.0,1E2,1.50,-0,18446744073709551615,1e-7],"output":null,"attributes":{"b":"2","a":"1","B":"upper","é":"accent","😀":"emoji","ｆ":"fullwidth","empty":""}}"#,
    ),
    (
        "pre_epoch",
        "An event time before 1970 with a fractional second and a negative UTC offset (a negative i64), a negative score and a zero latency.",
        r#"{"stream":"archive.backfill","model":{"name":"legacy","version":"0"},"input":[],"output":{},"event_time":"1969-07-20T16:17:40.25-04:00","decision":"historic","score":-1.25,"latency_ms":0}"#,
    ),
];

// ---------------------------------------------------------------------------
// Small helpers.
// ---------------------------------------------------------------------------

fn regenerate() -> bool {
    std::env::var(REGENERATE_VAR).is_ok_and(|v| v == "1")
}

fn hexs(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

fn hash_from(v: &Value) -> Hash {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn hashes_from(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash_from).collect()
}

fn bytes_from(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// The bytes of a vector given as `entry_hex`, or as `entry_parts`: a list of
/// `[hex, count]`, each hex string repeated count times, concatenated (for
/// entries too long to write out).
fn vector_bytes(v: &Value) -> Vec<u8> {
    if let Some(parts) = v.get("entry_parts") {
        let mut out = Vec::new();
        for part in parts.as_array().unwrap() {
            let bytes = bytes_from(&part[0]);
            for _ in 0..part[1].as_u64().unwrap() {
                out.extend_from_slice(&bytes);
            }
        }
        return out;
    }
    bytes_from(&v["entry_hex"])
}

/// `base` with its `params` a run of `x` long enough to make the entry exactly
/// `len` bytes, as `entry_parts` (the run written as one repeated byte).
fn entry_of_len(base: &Entry, len: usize) -> (Vec<u8>, Value) {
    let mut e = base.clone();
    let set = |e: &mut Entry, params: String| {
        let EntryBody::DecisionV1(d) = &mut e.body else {
            panic!("a decision is needed")
        };
        d.params = Some(params);
    };
    set(&mut e, String::new());
    let run = len - e.encode().len();
    set(&mut e, "x".repeat(run));
    let bytes = e.encode();
    let start = bytes
        .windows(run)
        .position(|w| w.iter().all(|&b| b == b'x'))
        .unwrap();
    let parts = json!([
        [hex::encode(&bytes[..start]), 1],
        ["78", run],
        [hex::encode(&bytes[start + run..]), 1]
    ]);
    (bytes, parts)
}

/// Entries at the size limit, which decoders MUST accept, and one byte over
/// it, which they MUST reject (entry-v1.md, Decoding rule 6).
fn size_limit_entries(vectors: &[EntryVector]) -> (Value, Value) {
    let (at, at_parts) = entry_of_len(&vectors[0].entry, ENTRY_WRITE_BYTES_MAX);
    let (_, over_parts) = entry_of_len(&vectors[0].entry, ENTRY_WRITE_BYTES_MAX + 1);
    let accepted = json!([{
        "name": "at_size_limit",
        "why": format!("the `minimal` entry with `params` a string of `x` that makes it exactly {ENTRY_WRITE_BYTES_MAX} bytes, the size limit"),
        "entry_len": at.len(),
        "entry_parts": at_parts,
        "leaf_hash_hex": hex::encode(leaf_hash(&at)),
    }]);
    let rejected = json!({
        "name": "over_size_limit",
        "why": format!("the same entry one byte longer: {} bytes, over the size limit", ENTRY_WRITE_BYTES_MAX + 1),
        "entry_parts": over_parts,
    });
    (accepted, rejected)
}

/// The JSON pointer of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                match y.get(k) {
                    Some(vb) if va != vb => return first_difference(va, vb, &format!("{at}/{k}")),
                    None => return format!("{at}/{k} (missing on one side)"),
                    _ => {}
                }
            }
            match y.keys().find(|k| !x.contains_key(*k)) {
                Some(k) => format!("{at}/{k} (missing on one side)"),
                None => at.to_owned(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if va != vb {
                    return first_difference(va, vb, &format!("{at}/{i}"));
                }
            }
            format!("{at} (lengths {} and {})", x.len(), y.len())
        }
        _ => format!("{at}: {a} vs {b}"),
    }
}

/// Writes the generated file (regeneration mode) or checks that the checked-in
/// file holds exactly the generated vectors.
fn write_or_compare(path: &str, generated: &Value) {
    let text = serde_json::to_string_pretty(generated).unwrap() + "\n";
    if regenerate() {
        std::fs::write(path, text).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("cannot read {path}: {e}; run with {REGENERATE_VAR}=1 to create it")
    });
    let parsed: Value = serde_json::from_str(&on_disk).unwrap();
    assert!(
        parsed == *generated,
        "{path} does not match what the code computes; first difference at {}. \
         If the change is intended, run with {REGENERATE_VAR}=1.",
        first_difference(&parsed, generated, "")
    );
    assert_eq!(
        on_disk, text,
        "{path} has the right values but not the canonical layout; run with {REGENERATE_VAR}=1"
    );
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

#[test]
fn entry_vectors_match_and_round_trip() {
    let vectors = entry_vectors();
    let generated = entries_file(&vectors);
    write_or_compare(ENTRIES_PATH, &generated);

    // Whatever is on disk now: check it against the code from the bytes up.
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(ENTRIES_PATH).unwrap()).unwrap();
    let entries = file["entries"].as_array().unwrap();
    assert_eq!(entries.len(), vectors.len());
    let mut prev = ZERO_HASH;
    let mut leaves = Vec::new();
    for (i, v) in entries.iter().enumerate() {
        let name = v["name"].as_str().unwrap();
        let bytes = bytes_from(&v["entry_hex"]);
        let entry = Entry::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            entry.encode(),
            bytes,
            "{name}: decode then encode changes the bytes"
        );
        assert_eq!(bytes[0], FORMAT_VERSION);
        // The fixed prefix documented in entry-v1.md.
        assert_eq!(bytes[1..9], entry.seq.to_le_bytes(), "{name}: seq");
        assert_eq!(bytes[9..41], entry.prev_hash, "{name}: prev_hash");
        assert_eq!(
            bytes[41..49],
            entry.recorded_at_us.to_le_bytes(),
            "{name}: time"
        );
        let variant = u32::from_le_bytes(bytes[49..53].try_into().unwrap());
        let expected_variant = match entry.body {
            EntryBody::DecisionV1(_) => 0,
            EntryBody::RedactionV1(_) => 1,
            EntryBody::ReplayV1(_) => 2,
            EntryBody::AlertV1(_) => 3,
        };
        assert_eq!(variant, expected_variant, "{name}: variant index");
        assert_eq!(
            Annotated::entry(&entry).bytes,
            bytes,
            "{name}: documented layout"
        );
        assert_eq!(decoded_json(&entry), v["entry"], "{name}: decoded form");
        assert_eq!(v["entry_len"].as_u64(), Some(bytes.len() as u64));

        let leaf = hash_from(&v["leaf_hash_hex"]);
        assert_eq!(leaf_hash(&bytes), leaf, "{name}: leaf hash");
        assert_eq!(Blake3Hasher.hash_leaf(&bytes), leaf);
        assert_eq!(entry.seq, i as u64, "{name}: seq");
        assert_eq!(entry.prev_hash, prev, "{name}: chain");
        prev = leaf;
        leaves.push(leaf);

        if let EntryBody::DecisionV1(d) = &entry.body {
            for (slot, p) in [("input", &d.input), ("output", &d.output)] {
                let salt = bytes_from(&v[format!("{slot}_salt_hex")]);
                let payload = bytes_from(&v[format!("{slot}_payload_hex")]);
                assert_eq!(salt.len(), 32);
                assert_eq!(p.len, payload.len() as u64, "{name}: {slot} length");
                let c = payload_commitment(&salt, &payload);
                assert_eq!(p.commitment, c, "{name}: {slot} commitment");
                assert_eq!(hash_from(&v[format!("{slot}_commitment_hex")]), c);
                assert_eq!(
                    v[format!("{slot}_payload_utf8")]
                        .as_str()
                        .unwrap()
                        .as_bytes(),
                    payload
                );
            }
            // The decision JSON line, prepared with the vector salts, gives this body.
            let line = v["decision_json"].as_str().unwrap();
            let prepared = DecisionInput::parse(line.as_bytes())
                .unwrap()
                .prepare(INPUT_SALT, OUTPUT_SALT);
            assert_eq!(&prepared.body, d, "{name}: prepared body");
        }
    }
    let tree = MemoryTree::from_leaves(Blake3Hasher, leaves);
    assert_eq!(tree.root(), hash_from(&file["tree_root_hex"]));

    for bad in file["invalid_entries"].as_array().unwrap() {
        let name = bad["name"].as_str().unwrap();
        let bytes = vector_bytes(bad);
        assert!(
            Entry::decode(&bytes).is_err(),
            "invalid entry {name} decodes"
        );
    }
    for good in file["limit_entries"].as_array().unwrap() {
        let name = good["name"].as_str().unwrap();
        let bytes = vector_bytes(good);
        assert_eq!(
            bytes.len() as u64,
            good["entry_len"].as_u64().unwrap(),
            "{name}"
        );
        let entry = Entry::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(entry.encode(), bytes, "{name} re-encodes");
        assert_eq!(
            hex::encode(leaf_hash(&bytes)),
            good["leaf_hash_hex"],
            "{name}"
        );
    }
}

#[test]
fn worked_example_in_spec_matches() {
    let vectors = entry_vectors();
    let v = vectors.iter().find(|v| v.name == WORKED_EXAMPLE).unwrap();
    write_or_compare_spec(&worked_example_block(v));
}

#[test]
fn merkle_vectors_match_and_verify() {
    write_or_compare(MERKLE_PATH, &merkle_file());

    let h = Blake3Hasher;
    let file: Value = serde_json::from_str(&std::fs::read_to_string(MERKLE_PATH).unwrap()).unwrap();
    let inputs: Vec<Vec<u8>> = file["leaf_inputs_hex"]
        .as_array()
        .unwrap()
        .iter()
        .map(bytes_from)
        .collect();
    let leaves = hashes_from(&file["leaf_hashes_hex"]);
    let roots = hashes_from(&file["roots_by_size_hex"]);
    assert_eq!(inputs.len(), leaves.len());
    assert_eq!(roots.len(), leaves.len() + 1);
    for (input, leaf) in inputs.iter().zip(&leaves) {
        assert_eq!(h.hash_leaf(input), *leaf);
    }
    assert_eq!(roots[0], *blake3::hash(b"").as_bytes());
    assert_eq!(hash_from(&file["empty_root_hex"]), roots[0]);
    assert_eq!(roots[1], leaves[0]);

    for case in file["inclusion"].as_array().unwrap() {
        let index = case["index"].as_u64().unwrap();
        let size = case["size"].as_u64().unwrap();
        let proof = hashes_from(&case["proof_hex"]);
        verify_inclusion(
            &h,
            index,
            size,
            &leaves[index as usize],
            &proof,
            &roots[size as usize],
        )
        .unwrap_or_else(|e| panic!("inclusion {index} in {size}: {e}"));
        // A different leaf must not verify.
        let other = leaves[(index as usize + 1) % leaves.len()];
        assert!(verify_inclusion(&h, index, size, &other, &proof, &roots[size as usize]).is_err());
    }
    for case in file["consistency"].as_array().unwrap() {
        let old = case["size1"].as_u64().unwrap();
        let new = case["size2"].as_u64().unwrap();
        let proof = hashes_from(&case["proof_hex"]);
        let (old_root, new_root) = (&roots[old as usize], &roots[new as usize]);
        verify_consistency(&h, old, new, old_root, new_root, &proof)
            .unwrap_or_else(|e| panic!("consistency {old} -> {new}: {e}"));
        if old > 0 && old < new {
            let mut bad = *new_root;
            bad[0] ^= 1;
            assert!(verify_consistency(&h, old, new, old_root, &bad, &proof).is_err());
        }
    }

    let key = &file["checkpoint_key"];
    let verifier = NoteVerifier::parse(key["verifier_key"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode(verifier.public_key()), key["public_key_hex"]);
    assert_eq!(hex::encode(verifier.key_id()), key["key_id_hex"]);
    for cp in file["checkpoints"].as_array().unwrap() {
        let note = cp["note"].as_str().unwrap();
        let opened = open_checkpoint(note, &verifier).unwrap();
        let size = cp["size"].as_u64().unwrap();
        assert_eq!(opened.checkpoint.size, size);
        assert_eq!(opened.checkpoint.root, roots[size as usize]);
        assert_eq!(opened.checkpoint.body(), cp["body"].as_str().unwrap());
        assert!(note.starts_with(&format!("{}\n", opened.checkpoint.body())));
    }
    for bad in file["invalid_checkpoints"].as_array().unwrap() {
        let note = bad["note"].as_str().unwrap();
        assert!(
            open_checkpoint(note, &verifier).is_err(),
            "invalid checkpoint {} opens",
            bad["name"]
        );
    }
}

/// `decision.schema.json` describes the fields the parser knows: its examples parse,
/// every optional property may be null, every required one is required, unknown
/// members are rejected, and its limits are the parser's.
#[test]
fn decision_schema_agrees_with_parser() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA_PATH).unwrap()).unwrap();
    for example in schema["examples"].as_array().unwrap() {
        DecisionInput::parse(example.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("schema example rejected: {e}"));
    }
    let base =
        json!({"stream": "s", "model": {"name": "m", "version": "1"}, "input": 1, "output": 1});
    let parses = |v: &Value| DecisionInput::parse(v.to_string().as_bytes()).is_ok();
    assert!(parses(&base));

    // `path` leads from the decision to the object that `object_schema` describes.
    let check_object = |object_schema: &Value, path: &[&str]| {
        assert_eq!(
            object_schema["additionalProperties"],
            json!(false),
            "{path:?}"
        );
        let required: Vec<&str> = object_schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for name in object_schema["properties"].as_object().unwrap().keys() {
            let mut v = base.clone();
            let object = member_mut(&mut v, path);
            if required.contains(&name.as_str()) {
                object.as_object_mut().unwrap().remove(name);
                assert!(
                    !parses(&v),
                    "{path:?} {name}: required by the schema, optional in the parser"
                );
            } else {
                object[name.as_str()] = Value::Null;
                assert!(
                    parses(&v),
                    "{path:?} {name}: optional in the schema, null rejected by the parser"
                );
            }
        }
        let mut v = base.clone();
        member_mut(&mut v, path)["not_a_field"] = json!(1);
        assert!(!parses(&v), "{path:?}: unknown members must be rejected");
    };
    check_object(&schema, &[]);
    check_object(&schema["properties"]["model"], &["model"]);

    let props = &schema["properties"];
    assert_eq!(props["stream"]["maxLength"], json!(FIELD_BYTES_MAX));
    assert_eq!(props["attributes"]["maxProperties"], json!(ATTRIBUTES_MAX));
    assert_eq!(
        props["attributes"]["additionalProperties"]["maxLength"],
        json!(FIELD_BYTES_MAX)
    );
}

fn member_mut<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    path.iter().fold(v, |cur, p| &mut cur[*p])
}
