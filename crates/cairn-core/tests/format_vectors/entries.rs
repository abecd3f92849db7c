//! The entry vectors: the chain of vector entries, their decoded form, and the
//! invalid entries built by damaging them.

use super::*;

/// One entry vector before it is written out as JSON.
pub(super) struct EntryVector {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    pub(super) entry: Entry,
    /// For decisions: the JSON line and the two stored payloads.
    pub(super) decision: Option<DecisionFixture>,
}

pub(super) struct DecisionFixture {
    pub(super) json_line: &'static str,
    pub(super) input: Vec<u8>,
    pub(super) output: Vec<u8>,
}

/// The chain of vector entries: the six decisions, then a redaction of the
/// `full` decision's payloads, then a replay.
pub(super) fn entry_vectors() -> Vec<EntryVector> {
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

pub(super) fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

pub(super) fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!(x))
}

pub(super) fn model_json(m: &ModelRef) -> Value {
    json!({"name": m.name, "version": m.version, "digest": opt_str(&m.digest)})
}

pub(super) fn payload_ref_json(p: &PayloadRef) -> Value {
    json!({"len": p.len, "commitment": hex::encode(p.commitment)})
}

/// The decoded form of an entry, as described in `entry-v1.md` ("Decoded form in
/// the vectors"): every field, in JSON, with byte strings as lower-case hex.
pub(super) fn decoded_json(e: &Entry) -> Value {
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

pub(super) fn entry_vector_json(v: &EntryVector) -> Value {
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
pub(super) fn invalid_entries(vectors: &[EntryVector]) -> Vec<(&'static str, String, Vec<u8>)> {
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

pub(super) fn entries_file(vectors: &[EntryVector]) -> Value {
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
