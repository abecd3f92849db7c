//! Entries as JSON, for people and programs reading them (`cairn get`, the daemon).

use serde_json::{json, Map, Value};

use crate::decision::format_time_us;
use crate::entry::{Entry, EntryBody, ModelRef, PayloadRef};

fn model_json(m: &ModelRef) -> Value {
    let mut v = json!({"name": m.name, "version": m.version});
    if let Some(d) = &m.digest {
        v["digest"] = json!(d);
    }
    v
}

fn payload_json(p: &PayloadRef) -> Value {
    json!({"len": p.len, "commitment": hex::encode(p.commitment)})
}

/// A stored payload's bytes as JSON: they are compact JSON text, and anything
/// else (which validation never lets in) is shown as a string.
pub fn stored_payload_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(bytes)))
}

/// The entry as a JSON object: `seq`, `kind`, `prev_hash`, `recorded_at`, and the
/// fields of its kind. Payloads appear as their commitments.
pub fn entry_json(entry: &Entry) -> Value {
    let mut v = json!({
        "seq": entry.seq,
        "kind": entry.kind(),
        "prev_hash": hex::encode(entry.prev_hash),
        "recorded_at": format_time_us(entry.recorded_at_us),
    });
    let body = match &entry.body {
        EntryBody::DecisionV1(d) => {
            let mut b = Map::new();
            b.insert("stream".into(), json!(d.stream));
            b.insert("model".into(), model_json(&d.model));
            let optional = [
                ("request_id", &d.request_id),
                ("trace_id", &d.trace_id),
                ("span_id", &d.span_id),
                ("subject", &d.subject),
                ("session", &d.session),
                ("operation", &d.operation),
                ("decision", &d.decision),
                ("idempotency_key", &d.idempotency_key),
            ];
            for (k, val) in optional {
                if let Some(s) = val {
                    b.insert(k.into(), json!(s));
                }
            }
            if let Some(t) = d.event_time_us {
                b.insert("event_time".into(), json!(format_time_us(t)));
            }
            if let Some(p) = &d.params {
                let parsed = serde_json::from_str::<Value>(p).unwrap_or_else(|_| json!(p));
                b.insert("params".into(), parsed);
            }
            if let Some(s) = d.score {
                b.insert("score".into(), json!(s));
            }
            if let Some(l) = d.latency_ms {
                b.insert("latency_ms".into(), json!(l));
            }
            if !d.attributes.is_empty() {
                let attrs: Map<String, Value> = d
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                b.insert("attributes".into(), Value::Object(attrs));
            }
            b.insert("input_commitment".into(), payload_json(&d.input));
            b.insert("output_commitment".into(), payload_json(&d.output));
            Value::Object(b)
        }
        EntryBody::RedactionV1(r) => json!({
            "target_seq": r.target_seq,
            "slots": r.slots.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "reason": r.reason,
            "actor": r.actor,
        }),
        EntryBody::ReplayV1(r) => json!({
            "candidate": r.candidate,
            "candidate_model": r.candidate_model.as_ref().map(model_json),
            "selection": serde_json::from_str::<Value>(&r.selection).unwrap_or_else(|_| json!(r.selection)),
            "selected": r.selected,
            "replayed": r.replayed,
            "errors": r.errors,
            "results_digest": hex::encode(r.results_digest),
        }),
        EntryBody::AlertV1(a) => json!({
            "stream": a.stream,
            "check": a.check,
            "statistic": a.statistic,
            "threshold": a.threshold,
            "p_value": a.p_value,
            "current": model_json(&a.current),
            "reference": model_json(&a.reference),
            "samples": a.samples,
            "reference_samples": a.reference_samples,
            "window_start_us": a.window_start_us,
            "window_end_us": a.window_end_us,
        }),
    };
    if let (Value::Object(o), Value::Object(b)) = (&mut v, body) {
        o.extend(b);
    }
    v
}
