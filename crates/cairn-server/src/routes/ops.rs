//! Operations: liveness, readiness and metrics. These need no token, so that
//! orchestrators and scrapers can reach them.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::archiver::now_us;
use crate::metrics::Snapshot;

/// `GET /healthz`: the process serves HTTP.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when appends are accepted; 503 with the reason when the
/// ledger is poisoned or the daemon is shutting down. With `--archive`, an
/// `archive` section says how far the archive is and raises `alarm` when it
/// lags beyond its bound; that alone does not make the daemon unready (it
/// still accepts and keeps appends), so a load balancer keeps sending.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let (status, mut body) = match app.health.ready() {
        Ok(()) => (StatusCode::OK, json!({"ready": true})),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"ready": false, "reason": reason.to_string()}),
        ),
    };
    if let Some(archive) = &app.archive {
        let view = archive.view(app.ledger.size(), now_us());
        body["archive"] = archive.json(&view);
    }
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut text = app.metrics.render(Snapshot {
        ledger_size: app.ledger.size(),
        admitted_bytes: app.budget.used() as u64,
        poisoned: app.health.is_poisoned(),
        engine_memory: app.ledger.backend().memory(),
    });
    if let Some(monitor) = &app.monitor {
        crate::monitor::prom::render(&mut text, monitor);
    }
    if let Some(archive) = &app.archive {
        let view = archive.view(app.ledger.size(), now_us());
        archive.render(&mut text, &view);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}
