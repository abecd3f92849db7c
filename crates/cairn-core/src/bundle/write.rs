//! Writing a bundle as JSON: one entry per line, so that a bundle reads (and
//! diffs) well in a text editor.

use serde_json::{json, Map, Value};

use super::lowerhex;
use super::{Bundle, BundleEntry, SlotContent, FORMAT, VERSION};

impl Bundle {
    /// The bundle as a JSON document (`schemas/bundle-v1.md`).
    pub fn to_json(&self) -> String {
        // Written by hand rather than through a map so that the fields come in
        // the order a reader wants them: what it is, the key, the checkpoint,
        // then the entries, one per line.
        let mut out = format!(
            "{{\"format\":{},\"version\":{VERSION},\"verifier_key\":{},\"checkpoint\":{},\"entries\":[",
            string(FORMAT),
            string(&self.verifier_key.to_string()),
            string(&self.checkpoint),
        );
        for (i, e) in self.entries.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&entry_json(e));
        }
        out.push_str("\n]}\n");
        out
    }
}

/// A JSON string literal.
fn string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn entry_json(e: &BundleEntry) -> String {
    let bytes = e.entry.encode();
    let mut out = String::with_capacity(2 * bytes.len() + 68 * e.proof.len() + 256);
    out.push_str("{\"seq\":");
    out.push_str(&e.entry.seq.to_string());
    out.push_str(",\"leaf_hash\":\"");
    lowerhex::encode_into(&crate::hash::leaf_hash(&bytes), &mut out);
    out.push_str("\",\"entry\":\"");
    lowerhex::encode_into(&bytes, &mut out);
    out.push_str("\",\"proof\":[");
    for (i, h) in e.proof.iter().enumerate() {
        out.push_str(if i == 0 { "\"" } else { ",\"" });
        lowerhex::encode_into(h, &mut out);
        out.push('"');
    }
    out.push(']');
    if !e.payloads.is_empty() {
        let slots: Map<String, Value> = e
            .payloads
            .iter()
            .map(|(slot, content)| (slot.name().to_owned(), slot_json(content)))
            .collect();
        out.push_str(",\"payloads\":");
        out.push_str(&Value::Object(slots).to_string());
    }
    out.push('}');
    out
}

fn slot_json(content: &SlotContent) -> Value {
    match content {
        SlotContent::Present(p) => json!({
            "salt": lowerhex::encode(&p.salt),
            // Payloads are JSON text, so UTF-8; a JSON string holds them exactly.
            "text": String::from_utf8_lossy(&p.bytes),
        }),
        SlotContent::Erased { by } => json!({ "erased_by": by }),
    }
}
