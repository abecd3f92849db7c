//! `POST /v1/traces`: an OTLP/HTTP trace export (protobuf or JSON, optionally
//! gzip). Its GenAI spans become decisions, appended through the same path as
//! `POST /v1/decisions` — token, admission budget, body limit, the sequencer's
//! group commit — and the answer is sent once they are durable.
//!
//! Whole-request problems (token, content type or coding, size, a body that
//! does not decode, a full queue, a failed write) are HTTP errors with a
//! `google.rpc.Status` body and nothing stored. Problems of single spans (a
//! field a decision refuses, a stream the token may not write to) reject those
//! spans only: the others are stored and the answer is a partial success
//! naming how many were rejected and why. Spans that are not model decisions
//! are ignored and counted in `cairn_otlp_spans_total{outcome="ignored"}`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use super::append::{
    discard, hold, off_thread, parsed_cost, prepare_part, queue_full, queued_cost, read_body,
    spawn_holding, submit_error, unauthorized, writable, writes_somewhere, Numbered,
    DRAIN_BYTES_MAX,
};
use super::AppState;
use crate::admission::Reservation;
use crate::error::{ApiError, ErrorCode};
use crate::otlp::wire::{self, Encoding};
use crate::otlp::{map_request, Mapped};

/// The handler.
pub async fn traces(State(app): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let encoding = match Encoding::of(&headers) {
        Ok(e) => e,
        Err(e) => {
            discard(body, &headers, DRAIN_BYTES_MAX).await;
            return wire::failure(Encoding::Json, e);
        }
    };
    match export(&app, &headers, body, encoding).await {
        Ok(response) => response,
        Err(e) => wire::failure(encoding, e),
    }
}

async fn export(
    app: &AppState,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Response, ApiError> {
    let checked = app
        .auth
        .authenticate(headers)
        .map_err(unauthorized)
        .and_then(|access| writes_somewhere(&access).map(|()| access))
        .and_then(|access| Ok((access, wire::gzipped(headers)?)))
        .and_then(|ok| writable(app).map(|()| ok));
    let (access, gzipped) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            discard(body, headers, DRAIN_BYTES_MAX).await;
            return Err(e);
        }
    };
    let (bytes, held) = read_body(app, headers, body).await?;
    let sent = bytes.len();
    let raw = match gzipped {
        true => gunzip(app, bytes, &held).await?,
        false => bytes,
    };
    // The decoded export and the decisions mapped from it, beside the bytes.
    hold(
        app,
        &held,
        sent.saturating_add(raw.len().saturating_mul(DECODED_BYTES_PER_BYTE)),
    )?;
    let config = Arc::clone(&app.otlp);
    let (line_bytes_max, batch_len_max) = (app.limits.line_bytes_max, app.limits.batch_len_max);
    let mapped = off_thread(raw.len(), &held, move || {
        let request = wire::decode(encoding, &raw)?;
        map_request(&request, &config, line_bytes_max, batch_len_max).map_err(|e| {
            ApiError::new(
                ErrorCode::BatchTooLong,
                format!(
                    "the export holds more than {} model-decision spans (batch_len_max); \
                     nothing was stored: export smaller batches",
                    e.max
                ),
            )
        })
    })
    .await??;
    let Mapped {
        decisions,
        ignored,
        mut rejected,
    } = mapped;
    let spans = decisions.len() + ignored + rejected.len();
    let who = access.name().unwrap_or("the token");
    let mut allowed = Vec::with_capacity(decisions.len());
    let mut names = Vec::with_capacity(decisions.len());
    for d in decisions {
        let name = span_name(d.span, d.decision.span_id.as_deref());
        if access.may_write(&d.decision.stream) {
            names.push((d.span, name));
            allowed.push(Numbered {
                line: d.span,
                decision: d.decision,
            });
        } else {
            rejected.push(format!(
                "{name}: {who} may not write to stream {:?}",
                d.decision.stream
            ));
        }
    }
    hold(app, &held, parsed_cost(&allowed))?;
    let (items, bad) = off_thread(prepare_bytes_hint(&allowed), &held, move || {
        prepare_part(allowed)
    })
    .await??;
    if !held.resize(queued_cost(&items)) {
        return Err(queue_full(app));
    }
    for b in bad {
        let name = names
            .iter()
            .find(|(span, _)| *span == b.line)
            .map_or_else(|| format!("span #{}", b.line), |(_, n)| n.clone());
        rejected.push(format!("{name}: {}", b.error));
    }
    let recorded = items.len();
    if recorded > 0 {
        app.sequencer
            .submit(items, sent, held)
            .await
            .map_err(|e| submit_error(app, e))?;
    }
    let m = &app.metrics;
    m.otlp_spans_recorded
        .fetch_add(recorded as u64, Ordering::Relaxed);
    m.otlp_spans_ignored
        .fetch_add(ignored as u64, Ordering::Relaxed);
    m.otlp_spans_rejected
        .fetch_add(rejected.len() as u64, Ordering::Relaxed);
    Ok(wire::success(
        encoding,
        rejected.len(),
        message(&rejected, spans),
    ))
}

/// Decompress a gzip body on the blocking pool (however small: a small body
/// may hold many megabytes), counting its decompressed bytes in the admission
/// budget as they come out (at most `body_bytes_max` of them).
async fn gunzip(app: &AppState, bytes: Bytes, held: &Arc<Reservation>) -> Result<Bytes, ApiError> {
    let max = app.limits.body_bytes_max;
    let sent = bytes.len();
    let (app, counted) = (app.clone(), Arc::clone(held));
    let raw = spawn_holding(held, move || {
        wire::gunzip(&bytes, max, |out| {
            hold(&app, &counted, sent.saturating_add(out))
        })
    })
    .await
    .map_err(|e| ApiError::new(ErrorCode::Internal, format!("decompressing failed: {e}")))??;
    Ok(Bytes::from(raw))
}

/// What an export holds in memory per byte of its (decompressed) encoding
/// once decoded, at most: protobuf messages of short attributes take several
/// times their wire size (a key-value of 25 bytes is a 64-byte struct and two
/// small allocations), and the decisions mapped from them sit beside them.
const DECODED_BYTES_PER_BYTE: usize = 6;

/// A rough size of the work of preparing `decisions`, so that few are
/// prepared on the request's thread and many on the blocking pool.
fn prepare_bytes_hint(decisions: &[Numbered]) -> usize {
    decisions.len().saturating_mul(1024)
}

fn span_name(n: usize, span_id: Option<&str>) -> String {
    match span_id {
        Some(id) => format!("span {id}"),
        None => format!("span #{n}"),
    }
}

/// The partial-success message: how many spans were rejected, and why the
/// first one was.
fn message(rejected: &[String], spans: usize) -> String {
    match rejected.first() {
        None => String::new(),
        Some(first) => format!(
            "{} of {spans} spans were model decisions that could not be recorded; the others are durable (first: {first})",
            rejected.len()
        ),
    }
}
