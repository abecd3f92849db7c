//! Decisions as the client takes them: a typed [`Decision`], or any JSON object
//! in the shape of `schemas/decision.schema.json`.
//!
//! Each decision is turned into one compact JSON line when it is recorded,
//! with an `idempotency_key` added if it has none, so that every retry of it
//! carries the same key and the daemon stores it at most once.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ClientError;

/// The model that decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    /// Model name, e.g. `fraud-model`.
    pub name: String,
    /// Model version, e.g. `7.2.0`.
    pub version: String,
    /// Content digest of the model artefact, e.g. `sha256:<hex>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Model {
    /// A model without a digest.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Model {
        Model {
            name: name.into(),
            version: version.into(),
            digest: None,
        }
    }
}

/// One model decision, with the fields of `schemas/decision.schema.json`.
///
/// Unset optional fields are left out of what is sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The producer's stream, e.g. `payments.fraud`.
    pub stream: String,
    /// The model that decided.
    pub model: Model,
    /// What the model saw.
    pub input: Value,
    /// What the model answered.
    pub output: Value,
    /// The producer's request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// W3C trace-context trace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// W3C trace-context span id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    /// Who the decision is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Conversation or session the decision belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// When the decision was made: RFC 3339 with a UTC offset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// Operation name, e.g. `score_transaction`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Model parameters (temperature, seed, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// Decision label, e.g. `approve`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    /// Decision score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Model latency in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Free-form string attributes (at most 64).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Makes retries safe; the client makes one up when it is `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl Decision {
    /// A decision with the four required fields and nothing else.
    pub fn new(stream: impl Into<String>, model: Model, input: Value, output: Value) -> Decision {
        Decision {
            stream: stream.into(),
            model,
            input,
            output,
            request_id: None,
            trace_id: None,
            span_id: None,
            subject: None,
            session: None,
            event_time: None,
            operation: None,
            params: None,
            decision: None,
            score: None,
            latency_ms: None,
            attributes: BTreeMap::new(),
            idempotency_key: None,
        }
    }
}

/// Something [`crate::Client::record`] accepts: a [`Decision`], or a JSON
/// object (`serde_json::Value` or `Map`) in the decision schema's shape.
///
/// The client checks only that it is an object; the daemon checks the rest and
/// its answer reaches the caller as [`ClientError::Rejected`].
pub trait IntoDecision {
    /// The decision as a JSON object.
    fn into_object(self) -> Result<Map<String, Value>, ClientError>;
}

impl IntoDecision for Map<String, Value> {
    fn into_object(self) -> Result<Map<String, Value>, ClientError> {
        Ok(self)
    }
}

impl IntoDecision for Value {
    fn into_object(self) -> Result<Map<String, Value>, ClientError> {
        match self {
            Value::Object(map) => Ok(map),
            other => Err(ClientError::InvalidDecision {
                reason: format!("expected an object, got {}", kind(&other)),
            }),
        }
    }
}

impl IntoDecision for Decision {
    fn into_object(self) -> Result<Map<String, Value>, ClientError> {
        serde_json::to_value(self)
            .map_err(|e| ClientError::InvalidDecision {
                reason: e.to_string(),
            })?
            .into_object()
    }
}

impl IntoDecision for &Decision {
    fn into_object(self) -> Result<Map<String, Value>, ClientError> {
        self.clone().into_object()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Makes idempotency keys that are unique across clients and processes: a
/// random prefix chosen once per client, then a counter.
#[derive(Debug)]
pub(crate) struct KeyMaker {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl KeyMaker {
    pub(crate) fn new() -> Result<KeyMaker, ClientError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| ClientError::Config {
            option: "idempotency keys",
            reason: format!("no randomness to make them from: {e}"),
        })?;
        Ok(KeyMaker {
            prefix: format!("cairn-client-{}", hex::encode(random)),
            next: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn make(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{n}", self.prefix)
    }

    /// The decision as one compact JSON line, with an idempotency key.
    pub(crate) fn line(&self, decision: impl IntoDecision) -> Result<bytes::Bytes, ClientError> {
        let mut object = decision.into_object()?;
        let has_key = matches!(object.get("idempotency_key"), Some(v) if !v.is_null());
        if !has_key {
            object.insert("idempotency_key".into(), Value::String(self.make()));
        }
        // Compact serialisation never writes a raw newline, so the line is one
        // NDJSON line.
        serde_json::to_vec(&object)
            .map(bytes::Bytes::from)
            .map_err(|e| ClientError::InvalidDecision {
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_key_is_added_once_and_kept_when_given() {
        let keys = KeyMaker::new().unwrap();
        let d = Decision::new("s", Model::new("m", "1"), json!(1), json!(2));
        let a: Value = serde_json::from_slice(&keys.line(&d).unwrap()).unwrap();
        let b: Value = serde_json::from_slice(&keys.line(&d).unwrap()).unwrap();
        assert_ne!(a["idempotency_key"], b["idempotency_key"]);
        assert_eq!(a["stream"], "s");
        assert!(a.get("request_id").is_none(), "unset fields are left out");

        let given = json!({"stream": "s", "idempotency_key": "mine"});
        let c: Value = serde_json::from_slice(&keys.line(given).unwrap()).unwrap();
        assert_eq!(c["idempotency_key"], "mine");
        let null = json!({"stream": "s", "idempotency_key": null});
        let d: Value = serde_json::from_slice(&keys.line(null).unwrap()).unwrap();
        assert!(d["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("cairn-client-"));
    }

    #[test]
    fn only_objects_are_decisions() {
        let keys = KeyMaker::new().unwrap();
        let err = keys.line(json!([1, 2])).unwrap_err();
        assert_eq!(
            err,
            ClientError::InvalidDecision {
                reason: "expected an object, got an array".into()
            }
        );
    }

    #[test]
    fn lines_have_no_newline() {
        let keys = KeyMaker::new().unwrap();
        let line = keys.line(json!({"input": "a\nb"})).unwrap();
        assert!(!line.contains(&b'\n'));
    }
}
