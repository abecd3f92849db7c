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
// The entry vectors.
// ---------------------------------------------------------------------------

/// One entry vector before it is written out as JSON.
struct EntryVector {
    name: &'static str,
    description: &'static str,
    entry: Entry,
    /// For decisions: the JSON line and the two stored payloads.
    decision: Option<DecisionFixture>,
}

struct DecisionFixture {
    json_line: &'static str,
    input: Vec<u8>,
    output: Vec<u8>,
}

/// The chain of vector entries: the six decisions, then a redaction of the
/// `full` decision's payloads, then a replay.
fn entry_vectors() -> Vec<EntryVector> {
    let mut bodies: Vec<(&str, &str, EntryBody, Option<DecisionFixture>)> = Vec::new();
    for &(name, description, line) in DECISIONS {
        let parsed = DecisionInput::parse(line.as_bytes())
            .unwrap_or_else(|e| panic!("decision vector {name} is rejected: {e}"));
        let prepared = parsed.prepare(INPUT_SALT, OUTPUT_SALT);
        assert_eq!(prepared.input.salt, INPUT_SALT);
        assert_eq!(prepared.output.salt, OUTPUT_SALT);
        bodies.push((
            name,
            description,
            EntryBody::DecisionV1(prepared.body),
            Some(DecisionFixture {
                json_line: line,
                input: prepared.input.bytes,
                output: prepared.output.bytes,
            }),
        ));
    }
    let full_seq = DECISIONS.iter().position(|d| d.0 == "full").unwrap() as u64;
    bodies.push((
        "redaction",
        "A RedactionV1 entry: both payloads of the `full` decision were erased.",
        EntryBody::RedactionV1(RedactionV1 {
            target_seq: full_seq,
            slots: vec![PayloadSlot::Input, PayloadSlot::Output],
            reason: "GDPR erasure request #4711".into(),
            actor: "dpo@example.com".into(),
        }),
        None,
    ));
    bodies.push((
        "replay",
        "A ReplayV1 entry with a candidate model (Option<ModelRef> = Some, digest None).",
        EntryBody::ReplayV1(ReplayV1 {
            candidate: "http://127.0.0.1:8080/v1/score".into(),
            candidate_model: Some(ModelRef {
                name: "fraud-model".into(),
                version: "8.0.0-rc1".into(),
                digest: None,
            }),
            selection: r#"{"from":"2026-05-01T00:00:00Z","stream":"payments.fraud","to":"2026-05-02T00:00:00Z"}"#.into(),
            selected: 1200,
            replayed: 1198,
            errors: 2,
            results_digest: *blake3::hash(b"cairn test vector: replay results").as_bytes(),
        }),
        None,
    ));
    bodies.push((
        "alert",
        "An AlertV1 entry: the label-mix check opened the breaker of a stream (p_value Some).",
        EntryBody::AlertV1(AlertV1 {
            stream: "payments.fraud".into(),
            check: "label_mix".into(),
            statistic: 0.625,
            threshold: 0.2,
            p_value: Some(1.5e-12),
            current: ModelRef {
                name: "fraud-model".into(),
                version: "8".into(),
                digest: None,
            },
            reference: ModelRef {
                name: "fraud-model".into(),
                version: "7".into(),
                digest: None,
            },
            samples: 200,
            reference_samples: 3000,
            window_start_us: 1_780_000_000_000_000,
            window_end_us: 1_780_000_060_000_000,
        }),
        None,
    ));

    let mut prev = ZERO_HASH;
    let mut out = Vec::new();
    for (seq, (name, description, body, decision)) in bodies.into_iter().enumerate() {
        let seq = seq as u64;
        let entry = Entry {
            seq,
            prev_hash: prev,
            recorded_at_us: RECORDED_BASE_US + RECORDED_STEP_US * seq as i64,
            body,
        };
        prev = entry.leaf_hash();
        out.push(EntryVector {
            name,
            description,
            entry,
            decision,
        });
    }
    out
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

fn model_json(m: &ModelRef) -> Value {
    json!({"name": m.name, "version": m.version, "digest": opt_str(&m.digest)})
}

fn payload_ref_json(p: &PayloadRef) -> Value {
    json!({"len": p.len, "commitment": hex::encode(p.commitment)})
}

/// The decoded form of an entry, as described in `entry-v1.md` ("Decoded form in
/// the vectors"): every field, in JSON, with byte strings as lower-case hex.
fn decoded_json(e: &Entry) -> Value {
    let body = match &e.body {
        EntryBody::DecisionV1(d) => json!({
            "variant": "DecisionV1",
            "stream": d.stream,
            "model": model_json(&d.model),
            "event_time_us": d.event_time_us,
            "request_id": opt_str(&d.request_id),
            "trace_id": opt_str(&d.trace_id),
            "span_id": opt_str(&d.span_id),
            "subject": opt_str(&d.subject),
            "session": opt_str(&d.session),
            "operation": opt_str(&d.operation),
            "params": opt_str(&d.params),
            "decision": opt_str(&d.decision),
            "score": opt_f64(d.score),
            "latency_ms": opt_f64(d.latency_ms),
            "attributes": d.attributes.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "idempotency_key": opt_str(&d.idempotency_key),
            "input": payload_ref_json(&d.input),
            "output": payload_ref_json(&d.output),
        }),
        EntryBody::RedactionV1(r) => json!({
            "variant": "RedactionV1",
            "target_seq": r.target_seq,
            "slots": r.slots.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "reason": r.reason,
            "actor": r.actor,
        }),
        EntryBody::ReplayV1(r) => json!({
            "variant": "ReplayV1",
            "candidate": r.candidate,
            "candidate_model": r.candidate_model.as_ref().map_or(Value::Null, model_json),
            "selection": r.selection,
            "selected": r.selected,
            "replayed": r.replayed,
            "errors": r.errors,
            "results_digest": hex::encode(r.results_digest),
        }),
        EntryBody::AlertV1(a) => json!({
            "variant": "AlertV1",
            "stream": a.stream,
            "check": a.check,
            "statistic": a.statistic,
            "threshold": a.threshold,
            "p_value": opt_f64(a.p_value),
            "current": model_json(&a.current),
            "reference": model_json(&a.reference),
            "samples": a.samples,
            "reference_samples": a.reference_samples,
            "window_start_us": a.window_start_us,
            "window_end_us": a.window_end_us,
        }),
    };
    json!({
        "seq": e.seq,
        "prev_hash": hex::encode(e.prev_hash),
        "recorded_at_us": e.recorded_at_us,
        "body": body,
    })
}

fn entry_vector_json(v: &EntryVector) -> Value {
    let bytes = v.entry.encode();
    let mut out = json!({
        "name": v.name,
        "description": v.description,
        "kind": v.entry.kind(),
        "entry": decoded_json(&v.entry),
        "entry_hex": hex::encode(&bytes),
        "entry_len": bytes.len(),
        "leaf_hash_hex": hex::encode(leaf_hash(&bytes)),
    });
    if let Some(d) = &v.decision {
        let fields = json!({
            "decision_json": d.json_line,
            "input_salt_hex": hex::encode(INPUT_SALT),
            "input_payload_hex": hex::encode(&d.input),
            "input_payload_utf8": String::from_utf8(d.input.clone()).unwrap(),
            "input_commitment_hex": hex::encode(payload_commitment(&INPUT_SALT, &d.input)),
            "output_salt_hex": hex::encode(OUTPUT_SALT),
            "output_payload_hex": hex::encode(&d.output),
            "output_payload_utf8": String::from_utf8(d.output.clone()).unwrap(),
            "output_commitment_hex": hex::encode(payload_commitment(&OUTPUT_SALT, &d.output)),
        });
        if let (Value::Object(o), Value::Object(f)) = (&mut out, fields) {
            o.extend(f);
        }
    }
    out
}

/// Byte strings that are not valid entries, each with the reason a decoder must
/// give up, built by damaging valid vector entries.
fn invalid_entries(vectors: &[EntryVector]) -> Vec<(&'static str, String, Vec<u8>)> {
    let minimal = vectors[0].entry.encode();
    let redaction = vectors
        .iter()
        .find(|v| v.name == "redaction")
        .unwrap()
        .entry
        .encode();
    // Offsets in the minimal entry: fixed prefix (53 bytes), then stream "s"
    // (8 + 1), model.name "m" (8 + 1), model.version "1" (8 + 1), model.digest tag.
    let stream_len_at = 53;
    let stream_byte_at = 61;
    let digest_tag_at = 53 + 9 + 9 + 9;
    assert_eq!(&minimal[stream_byte_at..=stream_byte_at], b"s");
    assert_eq!(minimal[digest_tag_at], 0);
    // In the redaction entry: prefix, target_seq (8), slot count (8), first slot.
    let first_slot_at = 53 + 8 + 8;
    assert_eq!(&redaction[first_slot_at..first_slot_at + 4], &[0, 0, 0, 0]);

    let with = |base: &[u8], at: usize, new: &[u8]| {
        let mut b = base.to_vec();
        b[at..at + new.len()].copy_from_slice(new);
        b
    };
    let mut trailing = minimal.clone();
    trailing.push(0);
    vec![
        ("empty", "no bytes at all".into(), Vec::new()),
        (
            "version_0",
            "format version byte 0x00 is unknown".into(),
            with(&minimal, 0, &[0]),
        ),
        (
            "version_2",
            "format version byte 0x02 is unknown".into(),
            with(&minimal, 0, &[2]),
        ),
        (
            "trailing_byte",
            "the `minimal` entry followed by one extra 0x00 byte".into(),
            trailing,
        ),
        (
            "truncated",
            "the `minimal` entry without its last byte".into(),
            minimal[..minimal.len() - 1].to_vec(),
        ),
        (
            "truncated_prefix",
            "only the first 20 bytes of the `minimal` entry".into(),
            minimal[..20].to_vec(),
        ),
        (
            "unknown_body_variant",
            "EntryBody variant index 4 (only 0 to 3 exist)".into(),
            with(&minimal, 49, &4u32.to_le_bytes()),
        ),
        (
            "option_tag_2",
            format!("model.digest option tag 0x02 at offset {digest_tag_at} (only 0x00 and 0x01 exist)"),
            with(&minimal, digest_tag_at, &[2]),
        ),
        (
            "invalid_utf8",
            format!("stream byte at offset {stream_byte_at} replaced by 0xff, which is not UTF-8"),
            with(&minimal, stream_byte_at, &[0xff]),
        ),
        (
            "length_past_end",
            format!("stream length at offset {stream_len_at} is larger than the remaining bytes"),
            with(&minimal, stream_len_at, &(minimal.len() as u64).to_le_bytes()),
        ),
        (
            "huge_length",
            format!("stream length at offset {stream_len_at} is 2^64 - 1"),
            with(&minimal, stream_len_at, &u64::MAX.to_le_bytes()),
        ),
        (
            "unknown_payload_slot",
            format!("the redaction entry's first PayloadSlot (offset {first_slot_at}) has variant index 2"),
            with(&redaction, first_slot_at, &2u32.to_le_bytes()),
        ),
    ]
}

fn entries_file(vectors: &[EntryVector]) -> Value {
    let leaves: Vec<Hash> = vectors.iter().map(|v| v.entry.leaf_hash()).collect();
    let tree = MemoryTree::from_leaves(Blake3Hasher, leaves.iter().copied());
    let (limit_entries, over_limit) = size_limit_entries(vectors);
    let mut invalid: Vec<Value> = invalid_entries(vectors)
        .into_iter()
        .map(
            |(name, why, bytes)| json!({"name": name, "why": why, "entry_hex": hex::encode(bytes)}),
        )
        .collect();
    invalid.push(over_limit);
    json!({
        "about": "Cairn entry format version 1 test vectors. The layout, hashes and the meaning of each field \
                  are specified in schemas/entry-v1.md. The entries form one chain: seq 0..7, each prev_hash \
                  is the leaf hash of the entry before (zeros for seq 0), and tree_root_hex is the RFC 9162 \
                  Merkle root (BLAKE3) of their leaf hashes. Decisions were produced from decision_json with \
                  input salt 0x11 x 32 and output salt 0x22 x 32. invalid_entries must all be rejected by a \
                  decoder; limit_entries must all be accepted. An entry too long to write out is given as \
                  entry_parts, a list of [hex, count]: each hex string repeated count times, concatenated. \
                  Regenerate with CAIRN_REGENERATE_VECTORS=1 (see crates/cairn-core/tests/format_vectors.rs).",
        "format_version": FORMAT_VERSION,
        "entries": vectors.iter().map(entry_vector_json).collect::<Vec<_>>(),
        "tree_size": vectors.len(),
        "tree_root_hex": hex::encode(tree.root()),
        "invalid_entries": invalid,
        "limit_entries": limit_entries,
    })
}

// ---------------------------------------------------------------------------
// The annotated worked example: a second, field-by-field encoder that follows
// the layout of entry-v1.md and records what each run of bytes is.
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Annotated {
    bytes: Vec<u8>,
    rows: Vec<(usize, Vec<u8>, String)>,
}

impl Annotated {
    fn push(&mut self, bytes: &[u8], what: String) {
        self.rows.push((self.bytes.len(), bytes.to_vec(), what));
        self.bytes.extend_from_slice(bytes);
    }
    fn variant(&mut self, index: u32, name: &str, what: &str) {
        self.push(
            &index.to_le_bytes(),
            format!("{what}: variant index (u32) = {index} ({name})"),
        );
    }
    fn u64(&mut self, v: u64, what: &str) {
        self.push(&v.to_le_bytes(), format!("{what} (u64) = {v}"));
    }
    fn i64(&mut self, v: i64, what: &str) {
        self.push(&v.to_le_bytes(), format!("{what} (i64) = {v}"));
    }
    fn f64(&mut self, v: f64, what: &str) {
        self.push(&v.to_le_bytes(), format!("{what} (f64) = {v}"));
    }
    fn hash(&mut self, v: &Hash, what: &str) {
        self.push(v, format!("{what} ([u8; 32])"));
    }
    fn string(&mut self, v: &str, what: &str) {
        self.push(
            &(v.len() as u64).to_le_bytes(),
            format!("{what}: length (u64) = {}", v.len()),
        );
        if !v.is_empty() {
            self.push(v.as_bytes(), format!("{what} = {v:?}"));
        }
    }
    fn tag(&mut self, some: bool, what: &str) {
        let t = u8::from(some);
        let name = if some { "Some" } else { "None" };
        self.push(&[t], format!("{what}: Option tag = {t} ({name})"));
    }
    fn opt_string(&mut self, v: &Option<String>, what: &str) {
        self.tag(v.is_some(), what);
        if let Some(s) = v {
            self.string(s, what);
        }
    }
    fn model(&mut self, m: &ModelRef, what: &str) {
        self.string(&m.name, &format!("{what}.name"));
        self.string(&m.version, &format!("{what}.version"));
        self.opt_string(&m.digest, &format!("{what}.digest"));
    }
    fn payload(&mut self, p: &PayloadRef, what: &str) {
        self.u64(p.len, &format!("{what}.len"));
        self.hash(&p.commitment, &format!("{what}.commitment"));
    }

    fn decision(&mut self, d: &DecisionV1) {
        self.string(&d.stream, "stream");
        self.model(&d.model, "model");
        self.tag(d.event_time_us.is_some(), "event_time_us");
        if let Some(t) = d.event_time_us {
            self.i64(t, "event_time_us");
        }
        self.opt_string(&d.request_id, "request_id");
        self.opt_string(&d.trace_id, "trace_id");
        self.opt_string(&d.span_id, "span_id");
        self.opt_string(&d.subject, "subject");
        self.opt_string(&d.session, "session");
        self.opt_string(&d.operation, "operation");
        self.opt_string(&d.params, "params");
        self.opt_string(&d.decision, "decision");
        self.tag(d.score.is_some(), "score");
        if let Some(s) = d.score {
            self.f64(s, "score");
        }
        self.tag(d.latency_ms.is_some(), "latency_ms");
        if let Some(l) = d.latency_ms {
            self.f64(l, "latency_ms");
        }
        self.u64(d.attributes.len() as u64, "attributes: count");
        for (i, (k, v)) in d.attributes.iter().enumerate() {
            self.string(k, &format!("attributes[{i}].key"));
            self.string(v, &format!("attributes[{i}].value"));
        }
        self.opt_string(&d.idempotency_key, "idempotency_key");
        self.payload(&d.input, "input");
        self.payload(&d.output, "output");
    }

    fn entry(e: &Entry) -> Annotated {
        let mut a = Annotated::default();
        a.push(
            &[FORMAT_VERSION],
            format!("format version = {FORMAT_VERSION}"),
        );
        a.u64(e.seq, "seq");
        a.hash(&e.prev_hash, "prev_hash");
        a.i64(e.recorded_at_us, "recorded_at_us");
        match &e.body {
            EntryBody::DecisionV1(d) => {
                a.variant(0, "DecisionV1", "body: EntryBody");
                a.decision(d);
            }
            EntryBody::RedactionV1(r) => {
                a.variant(1, "RedactionV1", "body: EntryBody");
                a.u64(r.target_seq, "target_seq");
                a.u64(r.slots.len() as u64, "slots: count");
                for (i, s) in r.slots.iter().enumerate() {
                    let idx = match s {
                        PayloadSlot::Input => 0,
                        PayloadSlot::Output => 1,
                    };
                    a.variant(idx, s.name(), &format!("slots[{i}]: PayloadSlot"));
                }
                a.string(&r.reason, "reason");
                a.string(&r.actor, "actor");
            }
            EntryBody::ReplayV1(r) => {
                a.variant(2, "ReplayV1", "body: EntryBody");
                a.string(&r.candidate, "candidate");
                a.tag(r.candidate_model.is_some(), "candidate_model");
                if let Some(m) = &r.candidate_model {
                    a.model(m, "candidate_model");
                }
                a.string(&r.selection, "selection");
                a.u64(r.selected, "selected");
                a.u64(r.replayed, "replayed");
                a.u64(r.errors, "errors");
                a.hash(&r.results_digest, "results_digest");
            }
            EntryBody::AlertV1(al) => {
                a.variant(3, "AlertV1", "body: EntryBody");
                a.string(&al.stream, "stream");
                a.string(&al.check, "check");
                a.f64(al.statistic, "statistic");
                a.f64(al.threshold, "threshold");
                a.tag(al.p_value.is_some(), "p_value");
                if let Some(p) = al.p_value {
                    a.f64(p, "p_value");
                }
                a.model(&al.current, "current");
                a.model(&al.reference, "reference");
                a.u64(al.samples, "samples");
                a.u64(al.reference_samples, "reference_samples");
                a.i64(al.window_start_us, "window_start_us");
                a.i64(al.window_end_us, "window_end_us");
            }
        }
        a
    }

    /// The rows as a text table: offset, hex (at most 32 bytes a line), meaning.
    fn table(&self) -> String {
        let mut s = String::from(
            "offset  bytes (hex)                                                        field\n",
        );
        for (offset, bytes, what) in &self.rows {
            for (i, chunk) in bytes.chunks(32).enumerate() {
                let label = if i == 0 {
                    what.as_str()
                } else {
                    "  (continued)"
                };
                writeln!(
                    s,
                    "{:>6}  {:<66} {label}",
                    offset + 32 * i,
                    hex::encode(chunk)
                )
                .unwrap();
            }
        }
        s
    }
}

const EXAMPLE_BEGIN: &str =
    "<!-- BEGIN GENERATED worked-example (crates/cairn-core/tests/format_vectors.rs) -->";
const EXAMPLE_END: &str = "<!-- END GENERATED worked-example -->";

fn worked_example_block(v: &EntryVector) -> String {
    let bytes = v.entry.encode();
    let a = Annotated::entry(&v.entry);
    assert_eq!(
        a.bytes, bytes,
        "the annotated layout differs from the encoder"
    );
    let d = v.decision.as_ref().unwrap();
    let mut s = String::new();
    writeln!(s, "{EXAMPLE_BEGIN}").unwrap();
    writeln!(
        s,
        "The `{}` vector of `entries-v1.json`: entry seq {}, decision input\n",
        v.name, v.entry.seq
    )
    .unwrap();
    writeln!(s, "```json\n{}\n```\n", d.json_line).unwrap();
    writeln!(
        s,
        "with input salt `11` × 32 and output salt `22` × 32. Stored payloads:\n"
    )
    .unwrap();
    writeln!(
        s,
        "```text\ninput  payload ({} bytes): {}\noutput payload ({} bytes): {}\ninput  commitment = BLAKE3(salt ‖ payload) = {}\noutput commitment = BLAKE3(salt ‖ payload) = {}\n```\n",
        d.input.len(),
        String::from_utf8_lossy(&d.input),
        d.output.len(),
        String::from_utf8_lossy(&d.output),
        hex::encode(payload_commitment(&INPUT_SALT, &d.input)),
        hex::encode(payload_commitment(&OUTPUT_SALT, &d.output)),
    )
    .unwrap();
    writeln!(s, "Entry bytes ({} bytes), field by field:\n", bytes.len()).unwrap();
    writeln!(s, "```text\n{}```\n", a.table()).unwrap();
    writeln!(
        s,
        "```text\nleaf hash = BLAKE3(00 ‖ entry bytes) = {}\n```",
        hex::encode(leaf_hash(&bytes))
    )
    .unwrap();
    write!(s, "{EXAMPLE_END}").unwrap();
    s
}

fn write_or_compare_spec(block: &str) {
    let spec = std::fs::read_to_string(SPEC_PATH).unwrap();
    let (Some(begin), Some(end)) = (spec.find(EXAMPLE_BEGIN), spec.find(EXAMPLE_END)) else {
        panic!("{SPEC_PATH} lacks the generated worked-example markers");
    };
    let current = &spec[begin..end + EXAMPLE_END.len()];
    if regenerate() {
        let updated = format!(
            "{}{block}{}",
            &spec[..begin],
            &spec[end + EXAMPLE_END.len()..]
        );
        std::fs::write(SPEC_PATH, updated).unwrap();
        return;
    }
    assert_eq!(
        current, block,
        "the worked example in {SPEC_PATH} is out of date; run with {REGENERATE_VAR}=1"
    );
}

// ---------------------------------------------------------------------------
// The Merkle and checkpoint vectors.
// ---------------------------------------------------------------------------

fn inclusion_cases() -> Vec<(u64, u64)> {
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

fn consistency_cases() -> Vec<(u64, u64)> {
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

fn merkle_leaf_inputs() -> Vec<Vec<u8>> {
    (0..MERKLE_LEAVES).map(|i| vec![i as u8]).collect()
}

fn checkpoint_json(signer: &NoteSigner, cp: &Checkpoint) -> Value {
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

fn merkle_file() -> Value {
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
fn invalid_checkpoints(signer: &NoteSigner, root8: Hash) -> Vec<Value> {
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
