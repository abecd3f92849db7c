//! Reads for auditors and investigators: the latest signed checkpoint, inclusion
//! and consistency proofs, and entries by seq.
//!
//! Checkpoints and proofs are public: they hold hashes, which reveal nothing of
//! a decision, and auditors must be able to fetch them. An entry and its
//! payloads are read only by a token with read rights to the entry's stream
//! (entries of no stream, redactions and replay runs, need rights to every
//! stream); a token that may not read it gets 403.
//!
//! Proofs default to the tree size of the newest checkpoint, so that what the
//! daemon proves is what it signed; each answer is checked before it is sent.
//! RocksDB reads block, so they run on the blocking pool.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cairn_core::entry::{Entry, EntryBody, PayloadSlot};
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle;
use cairn_core::render::entry_json;
use cairn_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::auth::Access;
use crate::error::{ApiError, ErrorCode};
use crate::store::ServedLedger;

/// `Ok` when `access` may read `entry`.
fn may_read(access: Access<'_>, entry: &Entry) -> Result<(), ApiError> {
    let (allowed, what) = match &entry.body {
        EntryBody::DecisionV1(d) => (access.may_read(&d.stream), format!("stream {:?}", d.stream)),
        _ => (access.may_read_all(), "every stream".to_owned()),
    };
    if allowed {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "{} may not read entry {} (it needs read rights to {what}: add it to the token's \
             read_streams)",
            access.name().unwrap_or("the token"),
            entry.seq
        ),
    ))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::OutOfRange { .. } => ApiError::new(ErrorCode::NotFound, e.to_string()),
        StoreError::ArchiveUnavailable { .. } => {
            ApiError::new(ErrorCode::ArchiveUnavailable, e.to_string())
        }
        other => ApiError::new(ErrorCode::Internal, other.to_string()),
    }
}

/// Run a read on the blocking pool.
async fn blocking<T: Send + 'static>(
    app: &AppState,
    read: impl FnOnce(&ServedLedger) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let ledger = Arc::clone(&app.ledger);
    tokio::task::spawn_blocking(move || read(&ledger))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("read failed: {e}")))?
}

fn hexes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(hex::encode).collect()
}

fn no_checkpoint() -> ApiError {
    ApiError::new(
        ErrorCode::NoCheckpoint,
        "no checkpoint has been signed yet: the ledger is empty, or its first checkpoint is \
         due within checkpoint_interval_ms",
    )
}

/// The tree size asked for, or the newest checkpoint's with its note.
fn size_or_checkpoint(
    ledger: &ServedLedger,
    asked: Option<u64>,
) -> Result<(u64, Option<String>), ApiError> {
    let (size, note) = match asked {
        Some(size) => (size, None),
        None => {
            let (size, note) = ledger
                .latest_checkpoint()
                .map_err(store_error)?
                .ok_or_else(no_checkpoint)?;
            (size, Some(note))
        }
    };
    if size > ledger.size() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "tree size {size} is larger than the ledger ({} entries)",
                ledger.size()
            ),
        ));
    }
    Ok((size, note))
}

/// `GET /v1/checkpoint`: the newest signed checkpoint note.
pub async fn checkpoint(State(app): State<AppState>) -> Result<Response, ApiError> {
    let latest = blocking(&app, |l| l.latest_checkpoint().map_err(store_error)).await?;
    let (_, note) = latest.ok_or_else(no_checkpoint)?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// Query of `GET /v1/proofs/inclusion`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    seq: u64,
    size: Option<u64>,
}

/// `GET /v1/proofs/inclusion?seq=&size=`.
pub async fn inclusion(
    State(app): State<AppState>,
    query: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    blocking(&app, move |ledger| inclusion_proof(ledger, q))
        .await
        .map(Json)
}

fn inclusion_proof(ledger: &ServedLedger, q: InclusionQuery) -> Result<Value, ApiError> {
    let (size, note) = size_or_checkpoint(ledger, q.size)?;
    if q.seq >= size {
        let hint = match note {
            Some(_) => {
                "; it is newer than the newest checkpoint: retry after the next one, or pass size="
            }
            None => "",
        };
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("seq {} is not in the tree of {size} entries{hint}", q.seq),
        ));
    }
    let proof = ledger.inclusion_proof(q.seq, size).map_err(store_error)?;
    let root = ledger.root_at(size).map_err(store_error)?;
    let leaf = ledger.entry(q.seq).map_err(store_error)?.leaf_hash();
    // Check our own answer before handing it to an auditor.
    merkle::verify_inclusion(&Blake3Hasher, q.seq, size, &leaf, &proof, &root).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("the ledger produced an inclusion proof that does not verify ({e}); run `cairn verify`"),
        )
    })?;
    let mut v = json!({"seq": q.seq, "size": size, "leaf_hash": hex::encode(leaf),
                       "root": hex::encode(root), "proof": hexes(&proof)});
    if let Some(note) = note {
        v["checkpoint"] = json!(note);
    }
    Ok(v)
}

/// Query of `GET /v1/proofs/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/proofs/consistency?from=&to=`.
pub async fn consistency(
    State(app): State<AppState>,
    query: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    blocking(&app, move |ledger| consistency_proof(ledger, q))
        .await
        .map(Json)
}

fn consistency_proof(ledger: &ServedLedger, q: ConsistencyQuery) -> Result<Value, ApiError> {
    let (to, note) = size_or_checkpoint(ledger, q.to)?;
    if q.from > to {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("from ({}) is larger than to ({to})", q.from),
        ));
    }
    let proof = ledger.consistency_proof(q.from, to).map_err(store_error)?;
    let old = ledger.root_at(q.from).map_err(store_error)?;
    let new = ledger.root_at(to).map_err(store_error)?;
    merkle::verify_consistency(&Blake3Hasher, q.from, to, &old, &new, &proof).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("the ledger produced a consistency proof that does not verify ({e}); run `cairn verify`"),
        )
    })?;
    let mut v = json!({"from": q.from, "to": to, "from_root": hex::encode(old),
                       "to_root": hex::encode(new), "proof": hexes(&proof)});
    if let Some(note) = note {
        v["checkpoint"] = json!(note);
    }
    Ok(v)
}

/// `GET /v1/entries/{seq}`: the entry, its payloads unless erased, its receipt.
pub async fn entry(
    State(app): State<AppState>,
    headers: HeaderMap,
    seq: Result<Path<u64>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let access = app
        .auth
        .authenticate(&headers)
        .map_err(|e| ApiError::new(ErrorCode::Unauthorized, e.to_string()))?;
    let Path(seq) = seq.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let entry = blocking(&app, move |ledger| ledger.entry(seq).map_err(store_error)).await?;
    may_read(access, &entry)?;
    blocking(&app, move |ledger| entry_with_payloads(ledger, entry))
        .await
        .map(Json)
}

fn entry_with_payloads(ledger: &ServedLedger, entry: Entry) -> Result<Value, ApiError> {
    let seq = entry.seq;
    let mut v = entry_json(&entry);
    if entry.kind() == "decision" {
        for slot in PayloadSlot::ALL {
            v[slot.name()] = ledger
                .payload_state(seq, slot)
                .map_err(store_error)?
                .into_json(seq, slot)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e))?;
        }
    }
    v["receipt"] = json!({"seq": seq, "leaf_hash": hex::encode(entry.leaf_hash())});
    Ok(v)
}
