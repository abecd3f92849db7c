//! The decision input format (`schemas/decision.schema.json`): parsing, validation,
//! and conversion into a ledger entry body plus its two payloads.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use crate::canon::{CanonicalJson, CanonicalObject};
use crate::entry::{DecisionV1, ModelRef, PayloadRef};
use crate::hash::payload_commitment;

mod fast;

pub use fast::fuzz_parse;

/// Longest accepted identifier-like string (stream, model name, ids, labels), in bytes.
pub const FIELD_BYTES_MAX: usize = 1024;
/// Most attributes accepted on one decision.
pub const ATTRIBUTES_MAX: usize = 64;
/// Longest accepted `params` object, as compact JSON, in bytes.
pub const PARAMS_BYTES_MAX: usize = 64 * 1024;
/// Length of the random salt stored beside each payload.
pub const SALT_LEN: usize = 32;

/// A decision as a producer sends it: one JSON object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The producer's stream.
    pub stream: String,
    /// The model and version.
    pub model: ModelInput,
    /// What the model saw (any JSON), as canonical bytes.
    pub input: CanonicalJson,
    /// What the model answered (any JSON), as canonical bytes.
    pub output: CanonicalJson,
    /// Producer's request id.
    pub request_id: Option<String>,
    /// W3C trace id.
    pub trace_id: Option<String>,
    /// W3C span id.
    pub span_id: Option<String>,
    /// Who the decision is about.
    pub subject: Option<String>,
    /// Session or conversation.
    pub session: Option<String>,
    /// RFC 3339 time of the decision.
    pub event_time: Option<String>,
    /// Operation name.
    pub operation: Option<String>,
    /// Model parameters (temperature, seed, ...).
    pub params: Option<CanonicalObject>,
    /// Decision label.
    pub decision: Option<String>,
    /// Decision score.
    pub score: Option<f64>,
    /// Model latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Free-form string attributes; a repeated key is an error.
    #[serde(default, deserialize_with = "unique_attributes")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// Makes retries safe: a repeat with the same key on the same stream appends nothing.
    pub idempotency_key: Option<String>,
}

/// The `model` object of a decision.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    /// Model name.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Optional artefact digest.
    pub digest: Option<String>,
}

/// Why a decision was rejected. Messages name the field and say what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Not valid JSON, or not the right shape (unknown, missing or mistyped field).
    #[error("{reason}")]
    Json {
        /// The parser's explanation, with column.
        reason: String,
    },
    /// A field is present but its value is not acceptable.
    #[error("field `{field}`: {reason}")]
    Field {
        /// Field path, e.g. `model.version`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A validated decision turned into its entry body and its two payloads.
#[derive(Debug, Clone)]
pub struct PreparedDecision {
    /// The entry body, payloads committed.
    pub body: DecisionV1,
    /// Input payload bytes and salt.
    pub input: Payload,
    /// Output payload bytes and salt.
    pub output: Payload,
}

/// A payload as stored: its salt and its bytes (compact JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Random salt, stored beside the payload; erased with it.
    pub salt: [u8; SALT_LEN],
    /// The payload bytes.
    pub bytes: Vec<u8>,
}

impl Payload {
    /// The commitment and length that the entry carries.
    pub fn reference(&self) -> PayloadRef {
        PayloadRef {
            len: self.bytes.len() as u64,
            commitment: payload_commitment(&self.salt, &self.bytes),
        }
    }
}

impl DecisionInput {
    /// Bytes this decision holds on the heap (its strings, payloads and
    /// attributes), for a caller that bounds what parsed requests cost in memory.
    pub fn heap_bytes(&self) -> usize {
        /// What a B-tree map's node costs per element, beyond the key and value.
        const MAP_ELEMENT_BYTES: usize = 64;
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let strings = [
            &self.request_id,
            &self.trace_id,
            &self.span_id,
            &self.subject,
            &self.session,
            &self.event_time,
            &self.operation,
            &self.decision,
            &self.idempotency_key,
            &self.model.digest,
        ];
        self.stream.capacity()
            + self.model.name.capacity()
            + self.model.version.capacity()
            + strings.into_iter().map(opt).sum::<usize>()
            + self.input.as_bytes().len()
            + self.output.as_bytes().len()
            + self.params.as_ref().map_or(0, |p| p.as_bytes().len())
            + self.attributes.as_ref().map_or(0, |a| {
                a.iter()
                    .map(|(k, v)| k.capacity() + v.capacity() + MAP_ELEMENT_BYTES)
                    .sum()
            })
    }

    /// Parse one JSON object (one NDJSON line) strictly.
    pub fn parse(text: &[u8]) -> Result<DecisionInput, InputError> {
        let text = std::str::from_utf8(text).map_err(|e| InputError::Json {
            reason: format!(
                "not valid UTF-8 (first bad byte at offset {})",
                e.valid_up_to()
            ),
        })?;
        DecisionInput::parse_str(text)
    }

    /// [`DecisionInput::parse`] of text already known to be UTF-8: the parser
    /// then does not check every string again.
    pub fn parse_str(text: &str) -> Result<DecisionInput, InputError> {
        // serde would also accept a struct written as a JSON array; a decision is an object.
        if text.bytes().find(|b| !b.is_ascii_whitespace()) != Some(b'{') {
            return Err(InputError::Json {
                reason: "a decision must be a JSON object".into(),
            });
        }
        // The hand-written scanner reads nearly every decision; what it is
        // not sure of, serde reads again and explains.
        let input = match fast::decision(text) {
            Some(input) => input,
            None => DecisionInput::parse_serde(text)?,
        };
        crate::canon::check_integers(text.as_bytes()).map_err(|e| InputError::Json {
            reason: e.to_string(),
        })?;
        input.validate()?;
        Ok(input)
    }

    /// The decision as serde's derived deserializer reads it.
    fn parse_serde(text: &str) -> Result<DecisionInput, InputError> {
        serde_json::from_str(text).map_err(|e| InputError::Json {
            reason: located(text, &e),
        })
    }

    fn validate(&self) -> Result<(), InputError> {
        ident("stream", &self.stream, true)?;
        ident("model.name", &self.model.name, true)?;
        ident("model.version", &self.model.version, true)?;
        let optional = [
            ("model.digest", &self.model.digest),
            ("request_id", &self.request_id),
            ("trace_id", &self.trace_id),
            ("span_id", &self.span_id),
            ("subject", &self.subject),
            ("session", &self.session),
            ("operation", &self.operation),
            ("decision", &self.decision),
            ("idempotency_key", &self.idempotency_key),
        ];
        for (field, value) in optional {
            if let Some(v) = value {
                ident(field, v, true)?;
            }
        }
        if let Some(t) = &self.event_time {
            parse_time_us(t).map_err(|reason| InputError::Field {
                field: "event_time",
                reason,
            })?;
        }
        if let Some(l) = self.latency_ms {
            if l < 0.0 {
                return Err(InputError::Field {
                    field: "latency_ms",
                    reason: format!("must not be negative, got {l}"),
                });
            }
        }
        if let Some(params) = &self.params {
            let len = params.as_bytes().len();
            if len > PARAMS_BYTES_MAX {
                return Err(InputError::Field {
                    field: "params",
                    reason: format!("at most {PARAMS_BYTES_MAX} bytes of JSON, got {len}"),
                });
            }
        }
        if let Some(attrs) = &self.attributes {
            if attrs.len() > ATTRIBUTES_MAX {
                return Err(InputError::Field {
                    field: "attributes",
                    reason: format!("at most {ATTRIBUTES_MAX} attributes, got {}", attrs.len()),
                });
            }
            for (k, v) in attrs {
                ident("attributes", k, true)?;
                ident("attributes", v, false)?;
            }
        }
        Ok(())
    }

    /// Commit the payloads with the given salts and build the entry body.
    pub fn prepare(
        self,
        input_salt: [u8; SALT_LEN],
        output_salt: [u8; SALT_LEN],
    ) -> PreparedDecision {
        self.unsalted().salt(input_salt, output_salt)
    }

    /// The entry body and the payloads' bytes, not yet salted: the ledger
    /// chooses the salts (and so the commitments) when it sequences the
    /// decision (`schemas/storage-v2.md`, "Payload piece").
    pub fn unsalted(self) -> UnsaltedDecision {
        let input = self.input.into_bytes();
        let output = self.output.into_bytes();
        let event_time_us = self
            .event_time
            .as_deref()
            .and_then(|t| parse_time_us(t).ok());
        // Canonical JSON is written by serde_json from `str`s: always UTF-8.
        let params = self.params.map(|p| {
            String::from_utf8(p.into_bytes())
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        });
        // The commitments are placeholders until `salt`; the lengths are
        // final, so the entry's encoded length already is.
        let unsalted = |bytes: &[u8]| PayloadRef {
            len: bytes.len() as u64,
            commitment: [0; 32],
        };
        let body = DecisionV1 {
            stream: self.stream,
            model: ModelRef {
                name: self.model.name,
                version: self.model.version,
                digest: self.model.digest,
            },
            event_time_us,
            request_id: self.request_id,
            trace_id: self.trace_id,
            span_id: self.span_id,
            subject: self.subject,
            session: self.session,
            operation: self.operation,
            params,
            decision: self.decision,
            score: self.score,
            latency_ms: self.latency_ms,
            attributes: self.attributes.unwrap_or_default().into_iter().collect(),
            idempotency_key: self.idempotency_key,
            input: unsalted(&input),
            output: unsalted(&output),
        };
        UnsaltedDecision {
            body,
            input,
            output,
        }
    }
}

/// A validated decision whose payloads are not salted yet: its entry body
/// (payload commitments still zero) and the two payloads' canonical bytes.
#[derive(Debug, Clone)]
pub struct UnsaltedDecision {
    /// The entry body; `input.commitment` and `output.commitment` are zero
    /// until [`UnsaltedDecision::salt`].
    pub body: DecisionV1,
    /// The input payload's canonical bytes.
    pub input: Vec<u8>,
    /// The output payload's canonical bytes.
    pub output: Vec<u8>,
}

impl UnsaltedDecision {
    /// Commit the payloads with the given salts.
    pub fn salt(self, input_salt: [u8; SALT_LEN], output_salt: [u8; SALT_LEN]) -> PreparedDecision {
        let input = Payload {
            salt: input_salt,
            bytes: self.input,
        };
        let output = Payload {
            salt: output_salt,
            bytes: self.output,
        };
        let mut body = self.body;
        body.input = input.reference();
        body.output = output.reference();
        PreparedDecision {
            body,
            input,
            output,
        }
    }

    /// Bytes this decision holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.body.heap_bytes() + self.input.capacity() + self.output.capacity()
    }
}

/// `attributes`: an object of strings (or null) in which no key repeats.
fn unique_attributes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    struct Unique;
    impl<'de> serde::de::Visitor<'de> for Unique {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if out.contains_key(&k) {
                    return Err(serde::de::Error::custom(format_args!(
                        "duplicate key {k:?}: send each attribute once"
                    )));
                }
                out.insert(k, v);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_option(Unique)
}

fn ident(field: &'static str, value: &str, non_empty: bool) -> Result<(), InputError> {
    if non_empty && value.is_empty() {
        return Err(InputError::Field {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.len() > FIELD_BYTES_MAX {
        return Err(InputError::Field {
            field,
            reason: format!("at most {FIELD_BYTES_MAX} bytes, got {}", value.len()),
        });
    }
    // ASCII (nearly always) is checked byte by byte; control characters
    // beyond it (U+0080..U+009F) only by decoding.
    let control = if value.is_ascii() {
        value.bytes().any(|b| b.is_ascii_control())
    } else {
        value.chars().any(char::is_control)
    };
    if control {
        return Err(InputError::Field {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}

/// Parse an RFC 3339 time into microseconds since the Unix epoch.
pub fn parse_time_us(text: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("not an RFC 3339 time ({e}): {text:?}"))?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000))
        .map_err(|_| format!("time out of range: {text:?}"))
}

/// Format microseconds since the epoch as RFC 3339 UTC.
pub fn format_time_us(us: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{us}us"))
}

/// [`json_reason`], led by the field it is about (`field model.version: ...`).
/// The path is found by parsing again with path tracking, only once parsing
/// has failed: tracking every field of every good line would cost the hot path.
fn located(text: &str, e: &serde_json::Error) -> String {
    let reason = json_reason(e);
    if !e.is_data() {
        // Syntax errors: the column says where.
        return reason;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, DecisionInput>(&mut de) {
        Err(again) => match again.path().to_string() {
            path if path.is_empty() || path == "." => reason,
            path => format!("field `{path}`: {reason}"),
        },
        Ok(_) => reason,
    }
}

fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    // serde_json appends " at line L column C"; inside one NDJSON line only the column matters.
    match msg.rfind(" at line ") {
        Some(at) => {
            let col = msg[at..].rsplit(' ').next().unwrap_or("");
            format!("{} (column {col})", &msg[..at])
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OK: &str =
        r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"b":1,"a":2},"output":"yes"}"#;

    #[test]
    fn accepts_minimal_and_sorts_payload_keys() {
        let d = DecisionInput::parse(OK.as_bytes()).unwrap();
        let p = d.prepare([1; 32], [2; 32]);
        assert_eq!(p.input.bytes, br#"{"a":2,"b":1}"#);
        assert_eq!(p.body.input.len, 13);
        assert_eq!(
            p.body.input.commitment,
            payload_commitment(&[1; 32], br#"{"a":2,"b":1}"#)
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_with_their_offset() {
        let mut line = OK.as_bytes().to_vec();
        line[12] = 0xff;
        let err = DecisionInput::parse(&line).unwrap_err().to_string();
        assert!(err.contains("not valid UTF-8"), "{err}");
        assert!(err.contains("offset 12"), "{err}");
    }

    #[test]
    fn parsing_bytes_and_text_agree() {
        let text = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"z":"\u00e9\n","a":[1.50,-0,1E2]},"output":null,"attributes":{"k":"é"}}"#;
        let a = DecisionInput::parse(text.as_bytes()).unwrap();
        let b = DecisionInput::parse_str(text).unwrap();
        assert_eq!(a.input.as_bytes(), b.input.as_bytes());
        assert_eq!(
            a.input.as_bytes(),
            r#"{"a":[1.5,-0.0,100.0],"z":"é\n"}"#.as_bytes()
        );
        assert_eq!(a.attributes, b.attributes);
    }

    #[test]
    fn rejects_bad_shapes_with_the_field_named() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"extra":1}"#,
                "unknown field `extra`",
            ),
            (
                r#"{"model":{"name":"m","version":"1"},"input":1,"output":1}"#,
                "missing field `stream`",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"output":1}"#,
                "missing field `input`",
            ),
            (
                r#"{"stream":5,"model":{"name":"m","version":"1"},"input":1,"output":1}"#,
                "field `stream`: invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"stream":"","model":{"name":"m","version":"1"},"input":1,"output":1}"#,
                "field `stream`: must not be empty",
            ),
            (
                r#"{"stream":"a\tb","model":{"name":"m","version":"1"},"input":1,"output":1}"#,
                "field `stream`: must not contain control characters",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1\u007f"},"input":1,"output":1}"#,
                "field `model.version`: must not contain control characters",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"subject":"é\u0085"}"#,
                "field `subject`: must not contain control characters",
            ),
            (
                r#"{"stream":"s","model":{"name":"m"},"input":1,"output":1}"#,
                "field `model`: missing field `version`",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"event_time":"yesterday"}"#,
                "field `event_time`",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"latency_ms":-1}"#,
                "field `latency_ms`",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"params":[1]}"#,
                "field `params`: invalid type",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":1},"input":1,"output":1}"#,
                "field `model.version`: invalid type: integer `1`",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"score":"high"}"#,
                "field `score`: invalid type: string \"high\", expected f64 (column ",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"attributes":{"k":[1]}}"#,
                "field `attributes.k`: invalid type",
            ),
            (
                r#"{"stream":"s","stream":"t","model":{"name":"m","version":"1"},"input":1,"output":1}"#,
                "duplicate field `stream`",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"amount":1,"amount":1000},"output":1}"#,
                "field `input`: duplicate key \"amount\" in an object",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"params":{"t":1,"t":2}}"#,
                "field `params`: duplicate key \"t\"",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"attributes":{"k":"a","k":"b"}}"#,
                "field `attributes`: duplicate key \"k\"",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"id":12345678901234567890123},"output":1}"#,
                "the integer 12345678901234567890123 (column 64) does not fit in 64 bits",
            ),
            (
                r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1,"score":-99999999999999999999}"#,
                "the integer -99999999999999999999",
            ),
            (r#"{"stream":"s","#, "EOF"),
            (r#"["s",["m","1",null],1,2]"#, "must be a JSON object"),
        ];
        for (line, want) in cases {
            let err = DecisionInput::parse(line.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{line}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn event_time_round_trips_through_microseconds() {
        let us = parse_time_us("2026-11-20T10:00:00.123456Z").unwrap();
        assert_eq!(format_time_us(us), "2026-11-20T10:00:00.123456Z");
        assert_eq!(
            parse_time_us("1970-01-01T00:00:01+01:00").unwrap(),
            -3_599_000_000
        );
    }
}
