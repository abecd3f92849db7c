//! `POST /v1/replays`: append the evidence of a replay run (a `replay` entry)
//! through the daemon, for `cairn replay` while `cairnd` holds the ledger.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_core::entry::{ModelRef, ReplayV1};
use cairn_store::Append;
use serde::Deserialize;

use super::append::{
    admit, discard, read_body, submit_error, Framing, ReceiptJson, DRAIN_BYTES_MAX,
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

fn to_entry(input: ReplayInput) -> Result<ReplayV1, ApiError> {
    let digest = hex::decode(&input.results_digest)
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| invalid("results_digest must be 64 hex digits (a BLAKE3 hash)"))?;
    if input.candidate.is_empty() || input.candidate.len() > 4096 {
        return Err(invalid("candidate must be 1 to 4096 bytes"));
    }
    let selection =
        serde_json::to_string(&input.selection).map_err(|e| invalid(format!("selection: {e}")))?;
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
    let (bytes, held) = read_body(&app, &headers, body).await?;
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
