//! The live monitor over HTTP: `GET /v1/monitor/breakers` (for deploy tools and
//! load balancers to poll), `GET /v1/monitor/streams` (everything `cairn watch`
//! and `/ui/monitor` show) and `POST /v1/monitor/breakers/{stream}/reset` (the
//! operator's reset: needs a token that may write to the stream).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::append::unauthorized;
use super::AppState;
use crate::error::{ApiError, ErrorCode};
use crate::monitor::state::{Breaker, Version};

fn monitor(app: &AppState) -> Result<&crate::monitor::Shared, ApiError> {
    app.monitor.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "the monitor is off (start cairnd with --monitor true)",
        )
    })
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
    let access = app.auth.authenticate(&headers).map_err(unauthorized)?;
    if !access.may_write(&stream) {
        let who = access.name().unwrap_or("the token");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{who} may not reset the breaker of {stream:?} (needs write rights to it)"),
        ));
    }
    if !monitor(&app)?.lock().reset(&stream) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("the monitor has seen no decision of stream {stream:?}"),
        ));
    }
    Ok(Json(json!({"stream": stream, "state": "closed"})).into_response())
}

/// The body of a pin: a model version, or nothing to unpin.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PinBody {
    model: Option<String>,
    version: Option<String>,
}

/// `POST /v1/monitor/streams/{stream}/reference`: compare the stream's newest
/// version with this one (`{"model": M, "version": V}`) instead of the previous
/// version; `{}` unpins. Needs a token that may write to the stream.
pub async fn pin(
    State(app): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let access = app.auth.authenticate(&headers).map_err(unauthorized)?;
    if !access.may_write(&stream) {
        let who = access.name().unwrap_or("the token");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("{who} may not pin the reference of {stream:?} (needs write rights to it)"),
        ));
    }
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
    monitor(&app)?
        .lock()
        .pin(&stream, version.clone())
        .map_err(|e| ApiError::new(ErrorCode::NotFound, format!("{stream:?}: {e}")))?;
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
