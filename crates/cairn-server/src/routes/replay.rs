//! `POST /v1/replays`: append the evidence of a replay run (a `replay` entry)
//! through the daemon, for `cairn replay` while `cairnd` holds the ledger.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_core::decision::{FIELD_BYTES_MAX, PARAMS_BYTES_MAX};
use cairn_core::entry::{ModelRef, ReplayV1};
use cairn_store::Append;
use serde::Deserialize;

use super::append::{
    admit, discard, read_body_within, submit_error, Framing, ReceiptJson, DRAIN_BYTES_MAX,
};
use super::AppState;
use crate::error::{ApiError, ErrorCode};

/// The pseudo-stream a token needs write rights to in order to record replay runs.
pub const REPLAY_STREAM: &str = "cairn.replay";

/// The body: the fields of a `replay` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    candidate: String,
    candidate_model: Option<ModelInput>,
    selection: serde_json::Value,
    selected: u64,
    replayed: u64,
    errors: u64,
    results_digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelInput {
    name: String,
    version: String,
    digest: Option<String>,
}

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, reason.into())
}

/// Longest `candidate` (a URL or a command line), in bytes.
pub const CANDIDATE_BYTES_MAX: usize = 4096;
/// Longest `selection`, as compact JSON, in bytes (as a decision's `params`).
pub const SELECTION_BYTES_MAX: usize = PARAMS_BYTES_MAX;
/// Longest body: room for every field at its longest, written with spaces.
/// A longer body is refused before it is read, so that no request can make
/// the daemon parse a large document for a record this small.
pub const REPLAY_BODY_BYTES_MAX: usize = 4 * SELECTION_BYTES_MAX;

/// A text field: 1 to `max` bytes, no control characters (as decision fields).
fn text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max {
        return Err(invalid(format!(
            "{field} must be 1 to {max} bytes, got {}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// Every string of the selection, keys included, without control characters.
fn selection_text(v: &serde_json::Value) -> Result<(), ApiError> {
    let bad = |s: &str| s.chars().any(char::is_control);
    let found = match v {
        serde_json::Value::String(s) => bad(s),
        serde_json::Value::Array(items) => return items.iter().try_for_each(selection_text),
        serde_json::Value::Object(map) => {
            map.keys().any(|k| bad(k)) || map.values().try_for_each(selection_text).is_err()
        }
        _ => false,
    };
    match found {
        true => Err(invalid("selection must not contain control characters")),
        false => Ok(()),
    }
}

fn to_entry(input: ReplayInput) -> Result<ReplayV1, ApiError> {
    let digest = hex::decode(&input.results_digest)
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| invalid("results_digest must be 64 hex digits (a BLAKE3 hash)"))?;
    text("candidate", &input.candidate, CANDIDATE_BYTES_MAX)?;
    if let Some(m) = &input.candidate_model {
        text("candidate_model.name", &m.name, FIELD_BYTES_MAX)?;
        text("candidate_model.version", &m.version, FIELD_BYTES_MAX)?;
        if let Some(digest) = &m.digest {
            text("candidate_model.digest", digest, FIELD_BYTES_MAX)?;
        }
    }
    selection_text(&input.selection)?;
    let selection =
        serde_json::to_string(&input.selection).map_err(|e| invalid(format!("selection: {e}")))?;
    if selection.len() > SELECTION_BYTES_MAX {
        return Err(invalid(format!(
            "selection must be at most {SELECTION_BYTES_MAX} bytes of JSON, got {}",
            selection.len()
        )));
    }
    Ok(ReplayV1 {
        candidate: input.candidate,
        candidate_model: input.candidate_model.map(|m| ModelRef {
            name: m.name,
            version: m.version,
            digest: m.digest,
        }),
        selection,
        selected: input.selected,
        replayed: input.replayed,
        errors: input.errors,
        results_digest: digest,
    })
}

/// The handler.
pub async fn replays(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let access = match admit(&app, &headers) {
        Ok((access, Framing::Single)) => access,
        Ok((_, Framing::Batch)) => {
            discard(body, &headers, DRAIN_BYTES_MAX).await;
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send one replay record as application/json",
            ));
        }
        Err(e) => {
            discard(body, &headers, DRAIN_BYTES_MAX).await;
            return Err(e);
        }
    };
    if !access.may_write(REPLAY_STREAM) {
        discard(body, &headers, DRAIN_BYTES_MAX).await;
        let who = access.name().unwrap_or("the token");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{who} may not record replay runs (needs write rights to {REPLAY_STREAM:?})"),
        ));
    }
    let (bytes, held) =
        read_body_within(&app, &headers, body, REPLAY_BODY_BYTES_MAX, |n| {
            ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "a replay record is at most {REPLAY_BODY_BYTES_MAX} bytes; this one is {n} \
                     bytes or more (its selection may be at most {SELECTION_BYTES_MAX} bytes of JSON)"
                ),
            )
        })
        .await?;
    let input: ReplayInput =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("replay record: {e}")))?;
    let entry = to_entry(input)?;
    let receipts = app
        .sequencer
        .submit(vec![Append::Replay(entry)], bytes.len(), held)
        .await
        .map_err(|e| submit_error(&app, e))?;
    match receipts.into_iter().next() {
        Some(r) => Ok(Json(ReceiptJson::from(r)).into_response()),
        None => Err(ApiError::new(ErrorCode::Internal, "no receipt")),
    }
}
