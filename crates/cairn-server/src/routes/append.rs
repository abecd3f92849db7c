//! `POST /v1/decisions`: one decision (`application/json`) or an NDJSON batch
//! (`application/x-ndjson`), answered with receipts once durable.
//!
//! The order of checks is the order of cost: token (401), content type (415),
//! readiness (503), a right to write to some stream (403) — all before a byte
//! of the body is admitted — then body size and admission budget (413, 429)
//! while the body is read, then every line is parsed (400, 413), then the
//! rights to each line's stream (403). Only a
//! request that passed all of them reaches the sequencer, so a batch is stored
//! whole or not at all.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cairn_core::decision::DecisionInput;
use cairn_core::entry::ENTRY_WRITE_BYTES_MAX;
use cairn_store::{Append, Receipt};
use http_body_util::BodyExt;
use serde::Serialize;

use super::lines::{
    decisions_at_most, lines_rejected, parse, parse_in_pieces, pieces_for, LINE_ERRORS_SHOWN,
};
use super::AppState;
use crate::admission::{decisions_cost, Reservation, DECISION_OVERHEAD_BYTES};
use crate::auth::{Access, AuthError};
use crate::config::Limits;
use crate::error::{ApiError, ErrorCode, LineError};
use crate::health::NotReady;
use crate::sequencer::SubmitError;

/// Bodies up to this size are parsed on the request's task; larger ones on the
/// blocking pool, so a big batch does not stall other connections.
const INLINE_BYTES_MAX: usize = 64 << 10;
/// A body refused before it is read (a token, a content type, a size over
/// `body_bytes_max`) is read and dropped up to this many bytes before
/// answering, so that a client that sends it whole still reads the answer
/// rather than a connection reset; past it the connection is closed. A body
/// refused for a full queue is within `body_bytes_max` and is drained whole:
/// it costs reading, not memory, and its client is one to keep.
pub(super) const DRAIN_BYTES_MAX: usize = 1 << 20;

/// How the body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// One JSON decision; answered with one receipt.
    Single,
    /// NDJSON, one decision per line; answered with `{"receipts": [...]}`.
    Batch,
}

/// A parsed decision and the line it came from.
#[derive(Debug)]
pub(super) struct Numbered {
    pub(super) line: usize,
    pub(super) decision: DecisionInput,
}

#[derive(Serialize)]
pub(super) struct ReceiptJson {
    seq: u64,
    leaf_hash: String,
    duplicate: bool,
}

impl From<Receipt> for ReceiptJson {
    fn from(r: Receipt) -> ReceiptJson {
        ReceiptJson {
            seq: r.seq,
            leaf_hash: hex::encode(r.leaf_hash),
            duplicate: r.duplicate,
        }
    }
}

#[derive(Serialize)]
struct Receipts {
    receipts: Vec<ReceiptJson>,
}

/// The handler.
pub async fn decisions(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (access, framing) = match admit(&app, &headers).and_then(may_write_some) {
        Ok(ok) => ok,
        Err(e) => {
            discard(body, &headers, DRAIN_BYTES_MAX).await;
            return Err(e);
        }
    };
    // The bytes stay counted until the last copy of the request is dropped:
    // parsing threads and the sequencer's queue hold `held` too, so a request
    // that times out does not hand back bytes still in memory.
    let (bytes, held) = read_body(&app, &headers, body).await?;
    let len = bytes.len();
    let limits = app.limits;
    // What parsing and preparing will hold, before any of it is made.
    let lines = match framing {
        Framing::Single => 1,
        Framing::Batch => decisions_at_most(&bytes, &limits),
    };
    hold(&app, &held, decisions_cost(len, lines))?;
    let pieces = pieces_for(len, framing);
    let parsed = match pieces {
        1 => off_thread(len, &held, move || parse(framing, &bytes, &limits)).await??,
        n => parse_in_pieces(bytes, n, limits, &held).await?,
    };
    authorize(&access, &parsed, framing)?;
    // What preparing will hold, now that the parsed decisions are known: an
    // unusual body (many tiny values) may hold more than it was expected to.
    hold(&app, &held, parsed_cost(&parsed))?;
    // Cheap now that salting and commitments are the ledger's: one thread.
    let items = off_thread(len, &held, move || prepare(parsed, framing)).await??;
    // What waits for the sequencer and its write: the prepared appends only.
    if !held.resize(queued_cost(&items)) {
        return Err(queue_full(&app));
    }
    let receipts = app
        .sequencer
        .submit(items, len, held)
        .await
        .map_err(|e| submit_error(&app, e))?;
    let mut receipts = receipts.into_iter().map(ReceiptJson::from);
    Ok(match framing {
        Framing::Single => match receipts.next() {
            Some(r) => Json(r).into_response(),
            None => return Err(ApiError::new(ErrorCode::Internal, "no receipt")),
        },
        Framing::Batch => Json(Receipts {
            receipts: receipts.collect(),
        })
        .into_response(),
    })
}

/// Checks that need no body: token, content type, readiness.
pub(super) fn admit<'a>(
    app: &'a AppState,
    headers: &HeaderMap,
) -> Result<(Access<'a>, Framing), ApiError> {
    let access = app.auth.authenticate(headers).map_err(unauthorized)?;
    let framing = framing(headers)?;
    writable(app)?;
    Ok((access, framing))
}

/// A token that may write to no stream is refused before its body is read,
/// so it never holds bytes of the admission budget.
fn may_write_some<'a>(
    (access, framing): (Access<'a>, Framing),
) -> Result<(Access<'a>, Framing), ApiError> {
    writes_somewhere(&access)?;
    Ok((access, framing))
}

/// Refuse a token that may write to no stream.
pub(super) fn writes_somewhere(access: &Access<'_>) -> Result<(), ApiError> {
    if access.may_write_some() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "{} may not write to any stream (it has no write_streams)",
            access.name().unwrap_or("the token")
        ),
    ))
}

/// Appends are refused after a failed write, until the daemon is restarted.
pub(super) fn writable(app: &AppState) -> Result<(), ApiError> {
    match app.health.ready() {
        Err(reason @ NotReady::Poisoned(_)) => {
            Err(ApiError::new(ErrorCode::Poisoned, reason.to_string())
                .retry_after(app.limits.retry_after_s))
        }
        _ => Ok(()),
    }
}

pub(super) fn unauthorized(e: AuthError) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, e.to_string())
}

fn framing(headers: &HeaderMap) -> Result<Framing, ApiError> {
    let value = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(Framing::Single)
    } else if essence.eq_ignore_ascii_case("application/x-ndjson")
        || essence.eq_ignore_ascii_case("application/ndjson")
    {
        Ok(Framing::Batch)
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "Content-Type {value:?} is not accepted: send application/json (one decision) \
                 or application/x-ndjson (a batch, one decision per line)"
            ),
        ))
    }
}

/// Read and drop a body that will not be used, up to `limit` bytes.
pub(super) async fn discard(mut body: Body, headers: &HeaderMap, limit: usize) {
    // A client waiting for `100 Continue` has sent nothing; do not invite it to.
    if headers.contains_key(EXPECT) {
        return;
    }
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen += data.len();
            if seen > limit {
                return;
            }
        }
    }
}

fn body_too_large(limits: &Limits, at_least: usize) -> ApiError {
    ApiError::new(
        ErrorCode::BodyTooLarge,
        format!(
            "the body is {at_least} bytes or more, over body_bytes_max ({} bytes): send smaller batches",
            limits.body_bytes_max
        ),
    )
}

pub(super) fn queue_full(app: &AppState) -> ApiError {
    ApiError::new(
        ErrorCode::QueueFull,
        format!(
            "the daemon holds as many append bytes as it may (queue_bytes_max = {}); retry later",
            app.limits.queue_bytes_max
        ),
    )
    .retry_after(app.limits.retry_after_s)
}

/// Hold at least `cost` bytes of the admission budget for the request, or
/// refuse it: 413 when even an idle daemon could never hold that much, 429
/// when the budget is spent for now.
pub(super) fn hold(app: &AppState, held: &Reservation, cost: usize) -> Result<(), ApiError> {
    if held.grow_to(cost) {
        return Ok(());
    }
    if cost > app.budget.max() {
        return Err(ApiError::new(
            ErrorCode::BodyTooLarge,
            format!(
                "the request would hold about {cost} bytes of memory while its decisions are \
                 parsed and prepared (twice its bytes and about {DECISION_OVERHEAD_BYTES} bytes \
                 per decision), more than queue_bytes_max ({} bytes): send smaller batches",
                app.limits.queue_bytes_max
            ),
        ));
    }
    Err(queue_full(app))
}

/// What parsed decisions hold while they are prepared: themselves, and
/// prepared appends about as large beside them.
pub(super) fn parsed_cost(parsed: &[Numbered]) -> usize {
    parsed
        .iter()
        .map(|n| 2 * n.decision.heap_bytes() + DECISION_OVERHEAD_BYTES)
        .sum()
}

/// What prepared appends hold while they wait for the sequencer.
pub(super) fn queued_cost(items: &[Append]) -> usize {
    items.iter().map(Append::memory_bytes).sum()
}

/// Read the body within `body_bytes_max`, holding its bytes in the admission
/// budget until the answer is sent.
pub(super) async fn read_body(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Arc<Reservation>), ApiError> {
    let limits = app.limits;
    read_body_within(app, headers, body, limits.body_bytes_max, |n| {
        body_too_large(&limits, n)
    })
    .await
}

/// What a body's buffer starts with before its bytes arrive, at most.
const BODY_BUFFER_START_MAX: usize = 64 << 10;

/// Read a body of at most `max` bytes (`too_large` says why a longer one is
/// refused), holding its bytes in the admission budget until the answer is
/// sent. Bytes are counted as they arrive, not as `Content-Length` declares
/// them: a client that declares a large body and sends nothing holds at most
/// the buffer's first 64 KiB.
pub(super) async fn read_body_within(
    app: &AppState,
    headers: &HeaderMap,
    mut body: Body,
    max: usize,
    too_large: impl Fn(usize) -> ApiError,
) -> Result<(Bytes, Arc<Reservation>), ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if let Some(n) = declared.filter(|&n| n > max) {
        discard(body, headers, DRAIN_BYTES_MAX).await;
        return Err(too_large(n));
    }
    // The buffer's first bytes are held at once (so a full budget refuses
    // the request before its body is read); the rest as they arrive.
    let first = declared.unwrap_or(0).min(BODY_BUFFER_START_MAX);
    let Some(held) = app.budget.reserve(first) else {
        discard(body, headers, max).await;
        return Err(queue_full(app));
    };
    let mut buf = Vec::with_capacity(first);
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("reading the body: {e}")))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let total = buf.len() + data.len();
        if total > max {
            discard(body, headers, DRAIN_BYTES_MAX).await;
            return Err(too_large(total));
        }
        // The buffer grows by doubling (at most to `max`): what it will hold
        // is counted before it grows, not only the bytes in it.
        if total > buf.capacity() {
            let room = total.max(buf.capacity().saturating_mul(2)).min(max);
            if !held.grow_to(room) {
                discard(body, headers, max - total).await;
                return Err(queue_full(app));
            }
            buf.reserve_exact(room - buf.len());
        }
        buf.extend_from_slice(data);
    }
    Ok((Bytes::from(buf), Arc::new(held)))
}

/// Run `work` on the blocking pool, keeping the request's bytes counted in the
/// admission budget until it is done (even if the request is gone by then).
pub(super) fn spawn_holding<T: Send + 'static>(
    held: &Arc<Reservation>,
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let held = Arc::clone(held);
    tokio::task::spawn_blocking(move || {
        let _held = held;
        work()
    })
}

/// Run CPU-bound work on the blocking pool when the body is large.
pub(super) async fn off_thread<T: Send + 'static>(
    bytes: usize,
    held: &Arc<Reservation>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if bytes <= INLINE_BYTES_MAX {
        return Ok(work());
    }
    spawn_holding(held, work)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("parsing failed: {e}")))
}

/// Every decision's stream must be writable by the token; otherwise nothing is.
fn authorize(access: &Access<'_>, parsed: &[Numbered], framing: Framing) -> Result<(), ApiError> {
    let who = access.name().unwrap_or("the token");
    let denied: Vec<LineError> = parsed
        .iter()
        .filter(|n| !access.may_write(&n.decision.stream))
        .map(|n| LineError {
            line: n.line,
            error: format!("{who} may not write to stream {:?}", n.decision.stream),
        })
        .collect();
    let Some(first) = denied.first() else {
        return Ok(());
    };
    let message = match framing {
        Framing::Single => first.error.clone(),
        Framing::Batch => format!(
            "{} of {} decisions are on streams {who} may not write to (first: line {}: {}); nothing was stored",
            denied.len(),
            parsed.len(),
            first.line,
            first.error
        ),
    };
    let error = ApiError::new(ErrorCode::Forbidden, message);
    Err(match framing {
        Framing::Single => error,
        Framing::Batch => {
            let mut lines = denied;
            lines.truncate(LINE_ERRORS_SHOWN);
            error.with_lines(lines)
        }
    })
}

/// Check every decision's entry length and turn it into an append (the
/// ledger salts and commits the payloads when it sequences them).
fn prepare(parsed: Vec<Numbered>, framing: Framing) -> Result<Vec<Append>, ApiError> {
    let count = parsed.len();
    let (items, bad) = prepare_part(parsed)?;
    finish_prepare(items, bad, count, framing)
}

/// The decisions that could be prepared, and the lines that could not.
pub(super) fn prepare_part(
    parsed: Vec<Numbered>,
) -> Result<(Vec<Append>, Vec<LineError>), ApiError> {
    let mut items = Vec::with_capacity(parsed.len());
    let mut bad = Vec::new();
    for n in parsed {
        // The ledger salts the payloads when it sequences them (from the key
        // of the window each lands in); the entry's length is final already.
        let prepared = n.decision.unsalted();
        let len = prepared.body.entry_len();
        if len > ENTRY_WRITE_BYTES_MAX {
            bad.push(LineError {
                line: n.line,
                error: format!(
                    "the ledger entry would be {len} bytes, over the {ENTRY_WRITE_BYTES_MAX}-byte \
                     entry limit: shrink `params` or `attributes` (payloads are stored apart)"
                ),
            });
        } else {
            items.push(Append::Unsalted(prepared));
        }
    }
    Ok((items, bad))
}

fn finish_prepare(
    items: Vec<Append>,
    bad: Vec<LineError>,
    count: usize,
    framing: Framing,
) -> Result<Vec<Append>, ApiError> {
    match (bad.first(), framing) {
        (None, _) => Ok(items),
        (Some(first), Framing::Single) => Err(ApiError::new(
            ErrorCode::DecisionTooLarge,
            first.error.clone(),
        )),
        (Some(_), Framing::Batch) => Err(lines_rejected(ErrorCode::DecisionTooLarge, bad, count)),
    }
}

pub(super) fn submit_error(app: &AppState, e: SubmitError) -> ApiError {
    let retry = app.limits.retry_after_s;
    match e {
        SubmitError::QueueFull => ApiError::new(
            ErrorCode::QueueFull,
            format!(
                "the append queue is full (queue_requests_max = {}); retry later",
                app.limits.queue_requests_max
            ),
        ),
        SubmitError::DiskFull { reason } => ApiError::new(ErrorCode::DiskFull, reason),
        SubmitError::Failed { reason } if app.health.is_poisoned() => ApiError::new(
            ErrorCode::Poisoned,
            format!(
                "the write failed ({reason}), so this request is not acknowledged; what of it reached the disk may reappear after a restart, so retry it with the same idempotency_key once the daemon is restarted; until then it refuses appends"
            ),
        ),
        SubmitError::Failed { reason } => ApiError::new(
            ErrorCode::CommitFailed,
            format!("the write failed and nothing of this request was stored: {reason}"),
        ),
        // Not worth a retry: the same request would be refused again.
        SubmitError::Invalid { reason } => {
            return ApiError::new(ErrorCode::DecisionTooLarge, reason);
        }
        SubmitError::Stopped => ApiError::new(
            ErrorCode::ShuttingDown,
            "the daemon is shutting down; nothing of this request was stored",
        ),
    }
    .retry_after(retry)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::lines::parse_single;
    use super::*;

    #[test]
    fn the_fixed_cost_of_a_decision_covers_its_parsed_and_prepared_forms() {
        // The two structs, and the allocator's rounding of a dozen allocations.
        let structs = std::mem::size_of::<Numbered>() + std::mem::size_of::<Append>();
        assert!(structs + 12 * 16 <= DECISION_OVERHEAD_BYTES, "{structs}");
    }

    #[test]
    fn the_entry_size_bound_is_an_upper_bound() {
        let attributes: serde_json::Map<String, serde_json::Value> = (0..64)
            .map(|i| (format!("k{i:03}"), serde_json::json!("v".repeat(1000))))
            .collect();
        let line = serde_json::json!({
            "stream": "s".repeat(1024), "model": {"name": "m", "version": "1", "digest": "d"},
            "input": 1, "output": 2, "request_id": "r", "trace_id": "t", "span_id": "s",
            "subject": "x", "session": "y", "operation": "o", "decision": "d", "score": 0.5,
            "latency_ms": 1.0, "idempotency_key": "k", "event_time": "2026-01-01T00:00:00Z",
            "params": {"p": "q".repeat(60_000)}, "attributes": attributes,
        })
        .to_string();
        let mut parsed = parse_single(line.as_bytes(), &Limits::default()).unwrap();
        let d = parsed.remove(0).decision.prepare([0; 32], [0; 32]);
        let entry = cairn_core::entry::Entry {
            seq: u64::MAX,
            prev_hash: [0; 32],
            recorded_at_us: i64::MAX,
            body: cairn_core::entry::EntryBody::DecisionV1(d.body.clone()),
        };
        assert_eq!(d.body.entry_len(), entry.encode().len());
        assert!(d.body.entry_len() < ENTRY_WRITE_BYTES_MAX);
    }

    #[test]
    fn oversized_params_are_refused_before_anything_is_encoded() {
        // `1e9` is 3 bytes of JSON but 12 once re-serialised as a float.
        let params = vec!["1e9"; 200_000].join(",");
        let line = format!(
            r#"{{"stream":"s","model":{{"name":"m","version":"1"}},"input":1,"output":2,"params":{{"p":[{params}]}}}}"#
        );
        let err = parse_single(line.as_bytes(), &Limits::default())
            .and_then(|parsed| prepare(parsed, Framing::Single).map(|_| ()))
            .unwrap_err();
        assert!(err.message().contains("params"), "{}", err.message());
    }
}
