//! Candidates: where recorded inputs are sent. An HTTP endpoint ([`http`]) or a
//! long-lived subprocess speaking JSON lines ([`process`]); both speak the protocol
//! of `schemas/replay-protocol.md`.
//!
//! A call either yields the candidate's output JSON or a [`CallFailure`] saying
//! what went wrong and whether trying again may help. Timeouts and retries are
//! applied around calls by [`crate::run`].

pub mod http;
pub mod process;
pub mod template;

use serde::Serialize;
use serde_json::Value;

use crate::error::ReplayError;
use crate::record::{model_json, Record};

pub use template::Template;

/// Largest accepted answer from a candidate, in bytes.
pub const RESPONSE_BYTES_MAX: usize = 16 << 20;

/// How to talk to a candidate.
#[derive(Debug, Clone, Default)]
pub struct CandidateOptions {
    /// Most requests in flight at once (sizes the HTTP connection pool).
    pub concurrency: usize,
    /// Shape of the HTTP request body; the protocol's object when `None`.
    pub template: Option<Template>,
}

/// A candidate model.
#[derive(Debug)]
pub enum Candidate {
    /// An HTTP endpoint.
    Http(http::HttpCandidate),
    /// A subprocess speaking JSON lines.
    Process(process::ProcessCandidate),
}

impl Candidate {
    /// An HTTP candidate at `url` (`http://` or `https://`).
    pub fn http(url: &str, options: &CandidateOptions) -> Result<Candidate, ReplayError> {
        http::HttpCandidate::new(url, options).map(Candidate::Http)
    }

    /// Start a subprocess candidate: `command` is run by `sh -c`. Must be called
    /// within a Tokio runtime.
    pub async fn command(command: &str) -> Result<Candidate, ReplayError> {
        process::ProcessCandidate::start(command)
            .await
            .map(Candidate::Process)
    }

    /// The URL or the command line, as recorded in the replay entry.
    pub fn describe(&self) -> &str {
        match self {
            Candidate::Http(h) => h.url(),
            Candidate::Process(p) => p.command(),
        }
    }

    /// Send one record and read the answer.
    pub async fn call(&self, record: &Record) -> Result<Value, CallFailure> {
        match self {
            Candidate::Http(h) => h.call(record).await,
            Candidate::Process(p) => p.call(record).await,
        }
    }

    /// Let a subprocess finish (close its input, wait briefly, then kill it).
    pub async fn shutdown(&self) {
        if let Candidate::Process(p) = self {
            p.shutdown().await;
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No answer within the timeout.
    Timeout,
    /// The connection failed or broke.
    Transport,
    /// The endpoint answered with a non-2xx status.
    HttpStatus,
    /// The answer is not JSON, or too large.
    Protocol,
    /// The candidate answered `{"error": "..."}`.
    CandidateError,
    /// The subprocess exited or closed its output.
    ProcessExited,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// A human explanation.
    pub message: String,
    /// Whether trying again may help (timeouts, broken connections, 5xx, 429).
    #[serde(skip)]
    pub retryable: bool,
}

impl CallFailure {
    /// A failure of `kind`, retryable or not.
    pub fn new(kind: FailureKind, message: impl Into<String>, retryable: bool) -> CallFailure {
        CallFailure {
            kind,
            message: message.into(),
            retryable,
        }
    }
}

/// The protocol's request object: `{"seq", "input", "params", "model"}`.
#[derive(Serialize)]
struct Wire<'a> {
    seq: u64,
    input: &'a Value,
    params: Option<&'a Value>,
    model: Value,
}

/// The protocol's request object for a record, as compact JSON.
pub fn request_bytes(record: &Record) -> Vec<u8> {
    serde_json::to_vec(&Wire {
        seq: record.seq,
        input: &record.input,
        params: record.params.as_ref(),
        model: model_json(&record.model),
    })
    .unwrap_or_default()
}

/// Interpret a candidate's answer: JSON, where an object whose only member is a
/// string `error` means the candidate could not decide.
pub fn parse_answer(bytes: &[u8]) -> Result<Value, CallFailure> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        CallFailure::new(
            FailureKind::Protocol,
            format!("answer is not JSON ({e}): {}", preview(bytes)),
            false,
        )
    })?;
    if let Value::Object(m) = &value {
        if m.len() == 1 {
            if let Some(Value::String(e)) = m.get("error") {
                // Kept per failed decision until the report: the start only.
                let message = match e.len() > ERROR_MESSAGE_BYTES_MAX {
                    true => format!("{}... ({} bytes)", preview(e.as_bytes()), e.len()),
                    false => e.clone(),
                };
                return Err(CallFailure::new(
                    FailureKind::CandidateError,
                    message,
                    false,
                ));
            }
        }
    }
    Ok(value)
}

/// The longest candidate error message kept whole.
const ERROR_MESSAGE_BYTES_MAX: usize = 200;

/// The start of some bytes, for messages.
pub(crate) fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]);
    text.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::entry::ModelRef;
    use serde_json::json;

    pub(crate) fn record(seq: u64) -> Record {
        Record {
            seq,
            input: json!({"x": seq}),
            output: json!({"decision": "approve"}),
            params: None,
            model: ModelRef {
                name: "m".into(),
                version: "1".into(),
                digest: None,
            },
            session: None,
            latency_ms: None,
            decision: None,
            score: None,
        }
    }

    #[test]
    fn the_request_object_has_the_protocol_fields() {
        let body: Value = serde_json::from_slice(&request_bytes(&record(4))).expect("json");
        assert_eq!(
            body,
            json!({"seq": 4, "input": {"x": 4}, "params": null, "model": {"name": "m", "version": "1"}})
        );
    }

    #[test]
    fn error_objects_are_failures_and_other_answers_are_outputs() {
        let e = parse_answer(br#"{"error":"no model"}"#).expect_err("an error");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (FailureKind::CandidateError, "no model")
        );
        assert!(parse_answer(br#"{"error":"x","decision":"a"}"#).is_ok());
        assert_eq!(parse_answer(b"[1]").ok(), Some(json!([1])));
        assert_eq!(
            parse_answer(b"nope").map_err(|e| e.kind),
            Err(FailureKind::Protocol)
        );
    }

    #[test]
    fn a_long_error_answer_is_kept_as_its_start() {
        let answer = serde_json::to_vec(&json!({"error": "e".repeat(1 << 20)})).expect("JSON");
        let failure = parse_answer(&answer).expect_err("an error answer");
        assert_eq!(failure.kind, FailureKind::CandidateError);
        assert!(failure.message.len() < 300, "{}", failure.message.len());
        assert!(failure.message.ends_with("... (1048576 bytes)"));
    }
}
