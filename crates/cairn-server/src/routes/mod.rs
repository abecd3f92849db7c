//! The HTTP API: the route table, the router built from it, and the layer every
//! request passes through (request timeout, reject counting, request logs).
//!
//! [`ROUTES`] is the single list of routes: the router is built from it and a
//! test checks it against `schemas/openapi.yaml`.

mod append;
mod lines;
mod monitor;
mod ops;
mod read;
mod replay;
mod traces;

pub use replay::REPLAY_STREAM;

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tracing::debug;

use crate::admission::ByteBudget;
use crate::auth::Auth;
use crate::config::Limits;
use crate::error::{ApiError, ErrorCode, Rejected};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::otlp::wire::{self, Encoding};
use crate::otlp::OtlpConfig;
use crate::sequencer::SequencerHandle;
use crate::store::ServedLedger;

/// Every route the daemon serves: (method, path), paths in the router's and
/// OpenAPI's `{param}` syntax.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/decisions"),
    ("POST", "/v1/replays"),
    ("POST", "/v1/traces"),
    ("GET", "/v1/checkpoint"),
    ("GET", "/v1/proofs/inclusion"),
    ("GET", "/v1/proofs/consistency"),
    ("GET", "/v1/entries/{seq}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/monitor/breakers"),
    ("GET", "/v1/monitor/streams"),
    ("POST", "/v1/monitor/breakers/{stream}/reset"),
    ("POST", "/v1/monitor/streams/{stream}/reference"),
    ("GET", "/ui/monitor"),
];

/// What every handler can reach. Every request gets a clone, so it is one `Arc`
/// (one count to change) rather than one per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state handed to every request.
    pub fn new(parts: AppParts) -> AppState {
        AppState(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct AppParts {
    /// The ledger, for reads (appends go through the sequencer).
    pub ledger: Arc<ServedLedger>,
    /// The sequencer's queue.
    pub sequencer: SequencerHandle,
    /// Tokens and rights.
    pub auth: Arc<Auth>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Readiness.
    pub health: Arc<Health>,
    /// Append body bytes admitted at once.
    pub budget: Arc<ByteBudget>,
    /// Request limits.
    pub limits: Limits,
    /// How OTLP spans become decisions.
    pub otlp: Arc<OtlpConfig>,
    /// The live monitor, when it runs.
    pub monitor: Option<Arc<crate::monitor::Shared>>,
    /// The archiver's state, when the daemon archives.
    pub archive: Option<Arc<crate::archiver::ArchiveStatus>>,
}

fn handler(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    Some(match (method, path) {
        ("POST", "/v1/decisions") => post(append::decisions),
        ("POST", "/v1/replays") => post(replay::replays),
        ("POST", "/v1/traces") => post(traces::traces),
        ("GET", "/v1/checkpoint") => get(read::checkpoint),
        ("GET", "/v1/proofs/inclusion") => get(read::inclusion),
        ("GET", "/v1/proofs/consistency") => get(read::consistency),
        ("GET", "/v1/entries/{seq}") => get(read::entry),
        ("GET", "/healthz") => get(ops::healthz),
        ("GET", "/readyz") => get(ops::readyz),
        ("GET", "/metrics") => get(ops::metrics),
        ("GET", "/v1/monitor/breakers") => get(monitor::breakers),
        ("GET", "/v1/monitor/streams") => get(monitor::streams),
        ("POST", "/v1/monitor/breakers/{stream}/reset") => post(monitor::reset),
        ("POST", "/v1/monitor/streams/{stream}/reference") => post(monitor::pin),
        ("GET", "/ui/monitor") => get(monitor::page),
        _ => return None,
    })
}

/// The router over [`ROUTES`], with JSON answers for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for &(method, path) in ROUTES {
        if let Some(h) = handler(method, path) {
            router = router.route(path, h);
        }
    }
    router
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn no_route(request: Request) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no route {} {}", request.method(), request.uri().path()),
    )
}

async fn wrong_method(matched: Option<MatchedPath>, request: Request) -> Response {
    // The methods the route does take, from the table (RFC 9110 wants them in `Allow`).
    let mut allow: Vec<&str> = ROUTES
        .iter()
        .filter(|(_, path)| matched.as_ref().is_some_and(|m| m.as_str() == *path))
        .map(|(method, _)| *method)
        .collect();
    // axum answers HEAD wherever it answers GET.
    if allow.contains(&"GET") {
        allow.push("HEAD");
    }
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} does not accept {}; it takes {}",
            request.uri().path(),
            request.method(),
            allow.join(", ")
        ),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        response.headers_mut().insert(header::ALLOW, v);
    }
    response
}

/// Bound the request's time, count rejects by code, log the request.
async fn guard(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // OTLP clients are answered in their own encoding, errors included.
    let otlp =
        (path == "/v1/traces").then(|| Encoding::of(request.headers()).unwrap_or(Encoding::Json));
    let started = Instant::now();
    let limit = Duration::from_millis(app.limits.request_timeout_ms);
    let (request, arrived) = tracked(request);
    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            // A read's body, if one was sent at all, is not what it waits for.
            let reads = method == Method::GET || method == Method::HEAD;
            let arrived = reads || arrived.load(Ordering::Acquire);
            let e = timed_out(app.limits.request_timeout_ms, arrived, !reads);
            match otlp {
                Some(encoding) => wire::failure(encoding, e),
                None => e.into_response(),
            }
        }
    };
    if let Some(Rejected(code)) = response.extensions().get::<Rejected>() {
        app.metrics.reject(code.as_str());
    }
    debug!(
        %method,
        path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Why a request ran out of time: its body had not all arrived (the client's
/// doing, 408, nothing stored), or it had and the daemon was too slow (503:
/// an append may still be stored).
fn timed_out(limit_ms: u64, body_arrived: bool, writes: bool) -> ApiError {
    if !body_arrived {
        return ApiError::new(
            ErrorCode::RequestTimeout,
            format!(
                "the request's body did not arrive within request_timeout_ms ({limit_ms} ms); \
                 nothing was stored: send it again"
            ),
        );
    }
    let what = match writes {
        true => {
            "an append may still be stored: retry it with the same idempotency_key (a \
                 decision without one may then be stored twice)"
        }
        false => "retry it",
    };
    ApiError::new(
        ErrorCode::ServerTimeout,
        format!("the daemon did not answer within request_timeout_ms ({limit_ms} ms); {what}"),
    )
    .retry_after(1)
}

/// The request, with a flag that is set once its body has been read to its
/// end (at once for a request without a body).
fn tracked(request: Request) -> (Request, Arc<AtomicBool>) {
    let arrived = Arc::new(AtomicBool::new(request.body().is_end_stream()));
    let done = Arc::clone(&arrived);
    let request = request.map(|inner| axum::body::Body::new(Tracked { inner, done }));
    (request, arrived)
}

/// A body that sets `done` when its last frame has been read.
struct Tracked {
    inner: axum::body::Body,
    done: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_the_clients_only_while_its_body_is_arriving() {
        let slow_body = timed_out(200, false, true);
        assert_eq!(slow_body.code(), ErrorCode::RequestTimeout);
        let slow_append = timed_out(200, true, true);
        assert_eq!(slow_append.code(), ErrorCode::ServerTimeout);
        assert!(slow_append.message().contains("same idempotency_key"));
        assert_eq!(slow_append.retry_after_s(), Some(1));
        let slow_read = timed_out(200, true, false);
        assert_eq!(slow_read.code(), ErrorCode::ServerTimeout);
        assert!(
            !slow_read.message().contains("append"),
            "{}",
            slow_read.message()
        );
    }
}
