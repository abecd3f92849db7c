//! What the caller hands over: one recorded decision with its payloads, or the
//! reason it cannot be replayed.

use cairn_core::entry::ModelRef;
use serde::Serialize;
use serde_json::Value;

/// A recorded decision ready to be replayed.
#[derive(Debug, Clone)]
pub struct Record {
    /// The decision's seq in the ledger.
    pub seq: u64,
    /// What the model saw.
    pub input: Value,
    /// What the model answered.
    pub output: Value,
    /// The recorded parameters (temperature, seed, thresholds), if any.
    pub params: Option<Value>,
    /// The model that made the decision.
    pub model: ModelRef,
    /// The session the decision belongs to: decisions of one session are replayed
    /// one after the other, in seq order.
    pub session: Option<String>,
    /// The recorded model latency.
    pub latency_ms: Option<f64>,
    /// The recorded top-level decision label.
    pub decision: Option<String>,
    /// The recorded top-level score.
    pub score: Option<f64>,
}

/// A selected decision that cannot be replayed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotReplayable {
    /// The decision's seq.
    pub seq: u64,
    /// Why, e.g. `input erased by redaction 812`.
    pub reason: String,
}

/// The model as a JSON object: `{"name", "version", "digest"?}`.
pub fn model_json(model: &ModelRef) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), Value::from(model.name.as_str()));
    m.insert("version".into(), Value::from(model.version.as_str()));
    if let Some(d) = &model.digest {
        m.insert("digest".into(), Value::from(d.as_str()));
    }
    Value::Object(m)
}

/// Parse `NAME@VERSION[#DIGEST]` (as given to `--candidate-model`). The version is
/// required; the digest is optional.
pub fn parse_model_ref(text: &str) -> Option<ModelRef> {
    let (rest, digest) = match text.split_once('#') {
        Some((r, d)) if !d.is_empty() => (r, Some(d.to_owned())),
        Some(_) => return None,
        None => (text, None),
    };
    let (name, version) = rest.rsplit_once('@')?;
    if name.is_empty() || version.is_empty() {
        return None;
    }
    Some(ModelRef {
        name: name.to_owned(),
        version: version.to_owned(),
        digest,
    })
}

/// `NAME@VERSION[#DIGEST]`, the inverse of [`parse_model_ref`].
pub fn format_model_ref(model: &ModelRef) -> String {
    match &model.digest {
        Some(d) => format!("{}@{}#{d}", model.name, model.version),
        None => format!("{}@{}", model.name, model.version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_parse_and_print() {
        let m = parse_model_ref("fraud-model@8.1.0#sha256:ab").expect("parses");
        assert_eq!(
            (m.name.as_str(), m.version.as_str(), m.digest.as_deref()),
            ("fraud-model", "8.1.0", Some("sha256:ab"))
        );
        assert_eq!(format_model_ref(&m), "fraud-model@8.1.0#sha256:ab");
        assert!(parse_model_ref("fraud-model").is_none());
        assert!(parse_model_ref("@1").is_none());
        assert!(parse_model_ref("m@1#").is_none());
        let at_in_name = parse_model_ref("team@org/m@2").expect("last @ splits");
        assert_eq!(
            (at_in_name.name.as_str(), at_in_name.version.as_str()),
            ("team@org/m", "2")
        );
    }
}
