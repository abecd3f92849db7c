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

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use cairn_core::decision::{DecisionInput, SALT_LEN};
use cairn_core::entry::ENTRY_WRITE_BYTES_MAX;
use cairn_store::{Append, Receipt};
use http_body_util::BodyExt;
use serde::Serialize;

use super::AppState;
use crate::admission::{decisions_cost, Reservation, DECISION_OVERHEAD_BYTES};
use crate::auth::{Access, AuthError};
use crate::config::Limits;
use crate::error::{ApiError, ErrorCode, LineError};
use crate::health::NotReady;
use crate::sequencer::SubmitError;
use crate::store::ServedLedger;

/// Most per-line errors listed in one answer.
pub const LINE_ERRORS_SHOWN: usize = 100;
/// Bodies up to this size are parsed on the request's task; larger ones on the
/// blocking pool, so a big batch does not stall other connections.
const INLINE_BYTES_MAX: usize = 64 << 10;
/// A batch body is parsed and prepared in pieces of at least this size, one per
/// core, so that one large request does not wait on a single core.
const PIECE_BYTES_MIN: usize = 128 << 10;
/// Most pieces one body is cut into.
const PIECES_MAX: usize = 8;
/// Fewer bytes than the shortest valid decision line
/// (`{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1}`
/// is 70).
const DECISION_BYTES_MIN: usize = 64;
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
    let ledger = Arc::clone(&app.ledger);
    let items = match pieces {
        1 => off_thread(len, &held, move || prepare(&ledger, parsed, framing)).await??,
        n => prepare_in_pieces(ledger, parsed, n, &held).await?,
    };
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
    if access.may_write_some() {
        return Ok((access, framing));
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

/// Most decisions `body` can hold: its lines, but no more than
/// `batch_len_max` of them nor more than its bytes could make.
fn decisions_at_most(body: &[u8], limits: &Limits) -> usize {
    let ends = memchr::memchr_iter(b'\n', body).count();
    (ends + 1)
        .min(limits.batch_len_max)
        .min(body.len() / DECISION_BYTES_MIN + 1)
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
    mut body: Body,
) -> Result<(Bytes, Arc<Reservation>), ApiError> {
    let max = app.limits.body_bytes_max;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if let Some(n) = declared.filter(|&n| n > max) {
        discard(body, headers, DRAIN_BYTES_MAX).await;
        return Err(body_too_large(&app.limits, n));
    }
    let Some(held) = app.budget.reserve(declared.unwrap_or(0)) else {
        discard(body, headers, max).await;
        return Err(queue_full(app));
    };
    let mut buf = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("reading the body: {e}")))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let total = buf.len() + data.len();
        if total > max {
            discard(body, headers, DRAIN_BYTES_MAX).await;
            return Err(body_too_large(&app.limits, total));
        }
        if !held.grow_to(total) {
            discard(body, headers, max - total).await;
            return Err(queue_full(app));
        }
        buf.extend_from_slice(data);
    }
    Ok((Bytes::from(buf), Arc::new(held)))
}

/// Run `work` on the blocking pool, keeping the request's bytes counted in the
/// admission budget until it is done (even if the request is gone by then).
fn spawn_holding<T: Send + 'static>(
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

fn parse(framing: Framing, body: &[u8], limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    match framing {
        Framing::Single => parse_single(body, limits),
        Framing::Batch => parse_batch(body, limits),
    }
}

fn parse_single(body: &[u8], limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    if body.len() > limits.line_bytes_max {
        return Err(ApiError::new(
            ErrorCode::DecisionTooLarge,
            format!(
                "the decision is {} bytes, over line_bytes_max ({} bytes)",
                body.len(),
                limits.line_bytes_max
            ),
        ));
    }
    let body = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            return Err(ApiError::new(
                ErrorCode::InvalidUtf8,
                format!(
                    "the body is not valid UTF-8 (first bad byte at offset {})",
                    e.valid_up_to()
                ),
            ))
        }
    };
    let decision = DecisionInput::parse_str(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidDecision, e.to_string()))?;
    Ok(vec![Numbered { line: 1, decision }])
}

/// One line's problem: its message and whether it is one of size.
struct LineProblem {
    too_large: bool,
    message: String,
}

fn parse_line(line: &[u8], limits: &Limits) -> Result<DecisionInput, LineProblem> {
    if line.len() > limits.line_bytes_max {
        return Err(LineProblem {
            too_large: true,
            message: format!(
                "the line is {} bytes, over line_bytes_max ({} bytes)",
                line.len(),
                limits.line_bytes_max
            ),
        });
    }
    let line = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            return Err(LineProblem {
                too_large: false,
                message: format!(
                    "not valid UTF-8 (first bad byte at column {})",
                    e.valid_up_to() + 1
                ),
            })
        }
    };
    DecisionInput::parse_str(line).map_err(|e| LineProblem {
        too_large: false,
        message: e.to_string(),
    })
}

/// What parsing some lines of a batch found.
struct Lines {
    good: Vec<Numbered>,
    bad: Vec<LineError>,
    /// Non-blank lines seen.
    count: usize,
    too_large: bool,
}

fn parse_batch(body: &[u8], limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    finish_batch(vec![parse_lines(body, 1, limits)], limits)
}

/// Parse the lines of `body`, numbering them from `first_line`. Stops early once
/// there are more than `batch_len_max` (the whole batch is refused then).
fn parse_lines(body: &[u8], first_line: usize, limits: &Limits) -> Lines {
    // Sized once for every line (memchr counts a megabyte in microseconds):
    // growing a vector of decisions by doubling copies it several times over.
    // Never more than the body could hold decisions, so that a body of blank
    // lines cannot reserve memory it never uses.
    let mut lines = Lines {
        good: Vec::with_capacity(decisions_at_most(body, limits)),
        bad: Vec::new(),
        count: 0,
        too_large: false,
    };
    for (i, raw) in split_lines(body).enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.count += 1;
        if lines.count > limits.batch_len_max {
            break;
        }
        match parse_line(line, limits) {
            Ok(decision) => lines.good.push(Numbered {
                line: first_line + i,
                decision,
            }),
            Err(p) => {
                lines.too_large |= p.too_large;
                lines.bad.push(LineError {
                    line: first_line + i,
                    error: p.message,
                });
            }
        }
    }
    lines
}

/// The lines of `body`, split at `\n` as `[u8]::split` would (a final empty
/// line when it ends with one), finding each end with memchr.
fn split_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let text = rest?;
        match memchr::memchr(b'\n', text) {
            Some(at) => {
                rest = Some(&text[at + 1..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// Put the parsed pieces of a batch together, in order, and judge the whole.
fn finish_batch(pieces: Vec<Lines>, limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    let count: usize = pieces.iter().map(|p| p.count).sum();
    if count > limits.batch_len_max {
        return Err(ApiError::new(
            ErrorCode::BatchTooLong,
            format!(
                "the batch has more than batch_len_max ({}) decisions: split it",
                limits.batch_len_max
            ),
        ));
    }
    if count == 0 {
        return Err(ApiError::new(
            ErrorCode::EmptyBatch,
            "the batch holds no decision: send one JSON object per line",
        ));
    }
    let too_large = pieces.iter().any(|p| p.too_large);
    let mut good = Vec::with_capacity(count);
    let mut bad = Vec::new();
    for p in pieces {
        good.extend(p.good);
        bad.extend(p.bad);
    }
    if bad.is_empty() {
        return Ok(good);
    }
    let code = if too_large {
        ErrorCode::DecisionTooLarge
    } else {
        ErrorCode::InvalidBatch
    };
    Err(lines_rejected(code, bad, count))
}

/// How many pieces to parse and prepare a body in: one, unless it is a large
/// batch and there is more than one core to share it.
fn pieces_for(len: usize, framing: Framing) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    if framing == Framing::Single || len < 2 * PIECE_BYTES_MIN {
        return 1;
    }
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(PIECES_MAX))
    });
    cores.min(len / PIECE_BYTES_MIN).max(1)
}

/// Cut `body` into about `n` pieces at line ends: (range, number of its first line).
fn line_pieces(body: &[u8], n: usize) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut pieces = Vec::with_capacity(n);
    let (mut start, mut line) = (0, 1);
    for k in 1..=n {
        let target = body.len() * k / n;
        let end = if k == n || target <= start {
            body.len()
        } else {
            memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |at| target + at + 1)
        };
        if end <= start {
            continue;
        }
        pieces.push((start..end, line));
        line += memchr::memchr_iter(b'\n', &body[start..end]).count();
        start = end;
    }
    pieces
}

/// Parse a large NDJSON batch on several blocking threads, one piece each.
async fn parse_in_pieces(
    bytes: Bytes,
    n: usize,
    limits: Limits,
    held: &Arc<Reservation>,
) -> Result<Vec<Numbered>, ApiError> {
    let tasks: Vec<_> = line_pieces(&bytes, n)
        .into_iter()
        .map(|(range, first_line)| {
            let bytes = bytes.clone();
            spawn_holding(held, move || {
                parse_lines(&bytes[range], first_line, &limits)
            })
        })
        .collect();
    let mut pieces = Vec::with_capacity(tasks.len());
    for task in tasks {
        pieces.push(
            task.await
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("parsing failed: {e}")))?,
        );
    }
    finish_batch(pieces, &limits)
}

fn lines_rejected(code: ErrorCode, mut bad: Vec<LineError>, count: usize) -> ApiError {
    let message = format!(
        "{} of {count} lines rejected (first: line {}: {}); nothing was stored",
        bad.len(),
        bad.first().map_or(0, |l| l.line),
        bad.first().map_or("", |l| l.error.as_str()),
    );
    bad.truncate(LINE_ERRORS_SHOWN);
    ApiError::new(code, message).with_lines(bad)
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

/// Salt, commit, check and compress every decision (compression here, on the
/// request's thread, keeps it off the sequencer).
fn prepare(
    ledger: &ServedLedger,
    parsed: Vec<Numbered>,
    framing: Framing,
) -> Result<Vec<Append>, ApiError> {
    let count = parsed.len();
    let (items, bad) = prepare_part(ledger, parsed)?;
    finish_prepare(items, bad, count, framing)
}

/// [`prepare`] on several blocking threads, for a large batch.
async fn prepare_in_pieces(
    ledger: Arc<ServedLedger>,
    mut parsed: Vec<Numbered>,
    n: usize,
    held: &Arc<Reservation>,
) -> Result<Vec<Append>, ApiError> {
    let count = parsed.len();
    let size = count.div_ceil(n).max(1);
    let mut parts = Vec::with_capacity(n);
    while !parsed.is_empty() {
        let rest = parsed.split_off(size.min(parsed.len()));
        parts.push(std::mem::replace(&mut parsed, rest));
    }
    let tasks: Vec<_> = parts
        .into_iter()
        .map(|part| {
            let ledger = Arc::clone(&ledger);
            spawn_holding(held, move || prepare_part(&ledger, part))
        })
        .collect();
    let (mut items, mut bad) = (Vec::with_capacity(count), Vec::new());
    for task in tasks {
        let (i, b) = task
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("preparing failed: {e}")))??;
        items.extend(i);
        bad.extend(b);
    }
    finish_prepare(items, bad, count, Framing::Batch)
}

/// The decisions that could be prepared, and the lines that could not.
pub(super) fn prepare_part(
    ledger: &ServedLedger,
    parsed: Vec<Numbered>,
) -> Result<(Vec<Append>, Vec<LineError>), ApiError> {
    let mut salts = vec![0u8; parsed.len() * 2 * SALT_LEN];
    getrandom::fill(&mut salts)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("no randomness for salts: {e}")))?;
    let mut items = Vec::with_capacity(parsed.len());
    let mut bad = Vec::new();
    for (n, salt) in parsed.into_iter().zip(salts.chunks_exact(2 * SALT_LEN)) {
        let (mut input_salt, mut output_salt) = ([0u8; SALT_LEN], [0u8; SALT_LEN]);
        input_salt.copy_from_slice(&salt[..SALT_LEN]);
        output_salt.copy_from_slice(&salt[SALT_LEN..]);
        let prepared = n.decision.prepare(input_salt, output_salt);
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
            items.push(ledger.pack(prepared));
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
    use super::*;

    const OK: &str = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2}"#;

    fn limits() -> Limits {
        Limits {
            line_bytes_max: 200,
            batch_len_max: 3,
            ..Limits::default()
        }
    }

    fn in_pieces(body: &[u8], n: usize, limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
        let pieces = line_pieces(body, n)
            .into_iter()
            .map(|(range, first)| parse_lines(&body[range], first, limits))
            .collect();
        finish_batch(pieces, limits)
    }

    #[test]
    fn the_fixed_cost_of_a_decision_covers_its_parsed_and_prepared_forms() {
        // The two structs, and the allocator's rounding of a dozen allocations.
        let structs = std::mem::size_of::<Numbered>() + std::mem::size_of::<Append>();
        assert!(structs + 12 * 16 <= DECISION_OVERHEAD_BYTES, "{structs}");
    }

    #[test]
    fn pieces_cover_the_body_at_line_ends_and_number_lines_like_one_piece() {
        let limits = Limits {
            batch_len_max: 1000,
            ..Limits::default()
        };
        let mut body = String::new();
        for i in 0..300 {
            match i % 7 {
                0 => body.push_str("\r\n"),
                3 => body.push_str("{\"stream\":1}\n"),
                _ => body.push_str(&format!(
                    "{}\n",
                    OK.replace("\"input\":1", &format!("\"input\":{i}"))
                )),
            }
        }
        body.push_str(OK);
        for n in 1..=8 {
            let pieces = line_pieces(body.as_bytes(), n);
            assert_eq!(pieces.first().map(|p| p.0.start), Some(0));
            assert_eq!(pieces.last().map(|p| p.0.end), Some(body.len()));
            for w in pieces.windows(2) {
                assert_eq!(w[0].0.end, w[1].0.start, "no gap, no overlap");
                assert_eq!(
                    body.as_bytes()[w[0].0.end - 1],
                    b'\n',
                    "cut after a line end"
                );
            }
            let one = parse_batch(body.as_bytes(), &limits).unwrap_err();
            let many = in_pieces(body.as_bytes(), n, &limits).unwrap_err();
            assert_eq!(many.message(), one.message(), "{n} pieces");
            assert_eq!(format!("{many:?}"), format!("{one:?}"), "{n} pieces");
        }
        let good: String = body
            .lines()
            .filter(|l| !l.contains("\"stream\":1"))
            .map(|l| format!("{l}\n"))
            .collect();
        let one = parse_batch(good.as_bytes(), &limits).unwrap();
        for n in 1..=8 {
            let many = in_pieces(good.as_bytes(), n, &limits).unwrap();
            let lines = |v: &[Numbered]| v.iter().map(|x| x.line).collect::<Vec<_>>();
            assert_eq!(lines(&many), lines(&one), "{n} pieces");
        }
        let short = Limits {
            batch_len_max: 50,
            ..Limits::default()
        };
        let err = in_pieces(good.as_bytes(), 4, &short).unwrap_err();
        assert!(err.message().contains("batch_len_max"), "{}", err.message());
    }

    #[test]
    fn lines_split_like_the_standard_split() {
        let bodies: [&[u8]; 8] = [
            b"",
            b"\n",
            b"\n\n",
            b"a",
            b"a\n",
            b"a\nb",
            b"\na\r\n\nbc\n",
            b"{\"x\":1}\n{\"y\":2}",
        ];
        for body in bodies {
            let ours: Vec<&[u8]> = split_lines(body).collect();
            let std: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
            assert_eq!(ours, std, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn blank_lines_reserve_no_room_for_decisions() {
        let limits = Limits::default();
        let body = vec![b'\n'; 64 << 10];
        assert!(limits.batch_len_max > body.len() / DECISION_BYTES_MIN + 1);
        let lines = parse_lines(&body, 1, &limits);
        assert_eq!(lines.count, 0);
        assert!(lines.good.capacity() <= body.len() / DECISION_BYTES_MIN + 1);
        // The shortest decision is longer than the bound assumes.
        let shortest = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1}"#;
        assert!(DecisionInput::parse_str(shortest).is_ok());
        assert!(shortest.len() > DECISION_BYTES_MIN);
        let body = format!("{shortest}\n").repeat(100);
        let lines = parse_lines(body.as_bytes(), 1, &limits);
        assert_eq!(lines.good.len(), 100);
    }

    #[test]
    fn batch_skips_blank_lines_and_numbers_lines_from_one() {
        let body = format!("\n{OK}\r\n  \n{OK}\n");
        let parsed = parse_batch(body.as_bytes(), &limits()).unwrap();
        let lines: Vec<_> = parsed.iter().map(|n| n.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn batch_reports_every_bad_line_and_size_wins_the_status() {
        let long = format!(r#"{{"stream":"{}"}}"#, "x".repeat(300));
        let body = format!("{OK}\n{{\"stream\":1}}\n{long}\n");
        let err = parse_batch(body.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecisionTooLarge);
        assert!(
            err.message().starts_with("2 of 3 lines rejected"),
            "{}",
            err.message()
        );
        let body = format!("{OK}\n{{\"stream\":1}}\n");
        let err = parse_batch(body.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidBatch);
    }

    #[test]
    fn batch_length_and_emptiness_are_checked() {
        let body = format!("{OK}\n{OK}\n{OK}\n{OK}\n");
        let err = parse_batch(body.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BatchTooLong);
        let err = parse_batch(b"\n \n", &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::EmptyBatch);
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
        let d = parsed
            .remove(0)
            .decision
            .prepare([0; SALT_LEN], [0; SALT_LEN]);
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
        let ledger: ServedLedger = cairn_store::Ledger::create(
            Box::new(cairn_store::MemoryBackend::default()) as crate::store::AnyStore,
            "test",
        )
        .unwrap();
        let err = parse_single(line.as_bytes(), &Limits::default())
            .and_then(|parsed| prepare(&ledger, parsed, Framing::Single).map(|_| ()))
            .unwrap_err();
        assert!(err.message().contains("params"), "{}", err.message());
    }
}
