//! The live monitor over HTTP: `GET /v1/monitor/breakers` (for deploy tools and
//! load balancers to poll), `GET /v1/monitor/streams` (everything `cairn watch`
//! and `/ui/monitor` show), `POST /v1/monitor/breakers/{stream}/reset` and
//! `POST /v1/monitor/streams/{stream}/reference` (operator actions: they need a
//! token with the `admin` right, and are saved before they are answered, so
//! they outlive a restart).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::append::{discard, unauthorized, DRAIN_BYTES_MAX};
use super::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::monitor::state::{Breaker, Version};

fn monitor(app: &AppState) -> Result<&Arc<crate::monitor::Shared>, ApiError> {
    app.monitor.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "the monitor is off (start cairnd with --monitor true)",
        )
    })
}

/// Only an operator (a token with `admin = true`, or anyone when no token is
/// configured) may reset a breaker or pin a reference.
fn operator(app: &AppState, headers: &HeaderMap, what: &str) -> Result<(), ApiError> {
    let access = app.auth.authenticate(headers).map_err(unauthorized)?;
    if access.may_administer() {
        return Ok(());
    }
    let who = access.name().unwrap_or("the token");
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!("{who} may not {what}: it is an operator action (the token needs admin = true)"),
    ))
}

/// Save the monitor's state (off the async workers) before answering; an
/// action that could not be saved is answered 503, since it would not outlive
/// a restart.
async fn save(shared: &Arc<crate::monitor::Shared>, what: &str) -> Result<(), ApiError> {
    let saving = Arc::clone(shared);
    let failed = match tokio::task::spawn_blocking(move || saving.save()).await {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(e) => format!("saving panicked: {e}"),
    };
    let path = shared
        .saved_at()
        .map_or_else(String::new, |p| format!(" to {}", p.display()));
    Err(ApiError::new(
        ErrorCode::NotSaved,
        format!(
            "{what} took effect but could not be saved{path} ({failed}), so it would not \
             outlive a restart; free space or fix the file's permissions, then send it again"
        ),
    ))
}

/// `GET /v1/monitor/breakers`: every stream's breaker; `open` counts the open ones.
pub async fn breakers(State(app): State<AppState>) -> Result<Response, ApiError> {
    let streams = monitor(&app)?.lock().view();
    let open = streams
        .iter()
        .filter(|s| matches!(s.breaker, Breaker::Open { .. }))
        .count();
    let breakers: Vec<_> = streams
        .iter()
        .map(|s| {
            let mut b = serde_json::to_value(&s.breaker).unwrap_or_default();
            if let Some(o) = b.as_object_mut() {
                o.insert("stream".into(), json!(s.stream));
                o.insert("compared".into(), json!(s.compared));
                o.insert("accepted".into(), json!(s.accepted));
            }
            b
        })
        .collect();
    Ok(Json(json!({"open": open, "breakers": breakers})).into_response())
}

/// `GET /v1/monitor/streams`: per stream the breaker, the checks and every
/// tracked version's window.
pub async fn streams(State(app): State<AppState>) -> Result<Response, ApiError> {
    let shared = monitor(&app)?;
    let (streams, limits) = {
        let state = shared.lock();
        (state.view(), state.limits().clone())
    };
    Ok(Json(json!({"limits": limits, "streams": streams})).into_response())
}

/// `POST /v1/monitor/breakers/{stream}/reset`.
pub async fn reset(
    State(app): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    operator(&app, &headers, &format!("reset the breaker of {stream:?}"))?;
    let shared = monitor(&app)?;
    if !shared.lock().reset(&stream) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the monitor has seen no decision of stream {stream:?}"),
        ));
    }
    save(shared, &format!("the reset of the breaker of {stream:?}")).await?;
    Ok(Json(json!({"stream": stream, "state": "closed"})).into_response())
}

/// Longest body of a pin: a model name and version, with room to spare.
const PIN_BODY_BYTES_MAX: usize = 8 << 10;

/// The body of a pin: a model version, or nothing to unpin.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    model: Option<String>,
    version: Option<String>,
}

/// `POST /v1/monitor/streams/{stream}/reference`: compare the stream's newest
/// version with this one (`{"model": M, "version": V}`) instead of the previous
/// version; `{}` unpins. Needs a token with the `admin` right.
pub async fn pin(
    State(app): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // The token first: nothing is read for a caller that may not pin.
    if let Err(e) = operator(&app, &headers, &format!("pin the reference of {stream:?}")) {
        discard(body, &headers, DRAIN_BYTES_MAX).await;
        return Err(e);
    }
    let body = axum::body::to_bytes(body, PIN_BODY_BYTES_MAX)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            match too_large {
                true => ApiError::new(
                    ErrorCode::BodyTooLarge,
                    format!("a pin is a small JSON object of at most {PIN_BODY_BYTES_MAX} bytes"),
                ),
                false => ApiError::new(ErrorCode::BadRequest, format!("reading the body: {e}")),
            }
        })?;
    let pin: PinBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("expected {{\"model\": NAME, \"version\": VERSION}} or {{}}: {e}"),
        )
    })?;
    let version = match (pin.model, pin.version) {
        (Some(model), Some(version)) => Some(Version { model, version }),
        (None, None) => None,
        _ => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "give both model and version, or neither to unpin",
            ))
        }
    };
    let shared = monitor(&app)?;
    shared
        .lock()
        .pin(&stream, version.clone())
        .map_err(|e| ApiError::new(ErrorCode::NotFound, format!("{stream:?}: {e}")))?;
    save(shared, &format!("the pin of {stream:?}")).await?;
    Ok(Json(json!({"stream": stream, "pinned": version})).into_response())
}

/// The page, with `/*INITIAL*/` where the first snapshot goes.
const PAGE: &str = include_str!("monitor.html");

/// `GET /ui/monitor`: the live page (plain HTML, JS and SVG; nothing from the
/// network but this daemon). The current snapshot is written into the page, so
/// it shows the streams before its first refresh; then it polls
/// `/v1/monitor/streams` every second.
pub async fn page(State(app): State<AppState>) -> Result<Html<String>, ApiError> {
    let shared = monitor(&app)?;
    let (streams, limits) = {
        let state = shared.lock();
        (state.view(), state.limits().clone())
    };
    let snapshot = json!({"limits": limits, "streams": streams}).to_string();
    // Inside <script>, "</" could end the element: JSON allows "<\/" for it.
    let snapshot = snapshot.replace("</", "<\\/");
    Ok(Html(PAGE.replacen("/*INITIAL*/", &snapshot, 1)))
}
