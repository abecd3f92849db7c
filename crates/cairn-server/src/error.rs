//! Errors: what a client is told ([`ApiError`], a JSON body with a stable
//! `code`), and why the daemon could not start or run ([`ServeError`]).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::config::ConfigError;
use crate::store::DataDirError;
use crate::tls::TlsError;

/// The stable, machine-readable kind of an error answer. `schemas/openapi.yaml`
/// lists the same codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: the one JSON decision is malformed or invalid.
    InvalidDecision,
    /// 400: lines of an NDJSON batch are malformed or invalid (see `lines`).
    InvalidBatch,
    /// 400: the body is not valid UTF-8.
    InvalidUtf8,
    /// 400: the NDJSON body holds no decision.
    EmptyBatch,
    /// 400: a query or path parameter is missing or malformed.
    BadRequest,
    /// 400: an OTLP body is not a valid export request in its encoding.
    InvalidOtlp,
    /// 401: no bearer token, or an unknown one.
    Unauthorized,
    /// 403: the token may not write to a stream of the request, or may not read.
    Forbidden,
    /// 404: no such route, entry, tree size or seq.
    NotFound,
    /// 404: no checkpoint has been signed yet.
    NoCheckpoint,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 408: the request's body did not arrive within `request_timeout_ms`.
    RequestTimeout,
    /// 503: the daemon did not answer within `request_timeout_ms` of the
    /// request's start, though its body had arrived (an append may still be
    /// stored).
    ServerTimeout,
    /// 413: the body is larger than `body_bytes_max`.
    BodyTooLarge,
    /// 413: a decision is larger than `line_bytes_max` or its entry would be.
    DecisionTooLarge,
    /// 413: the batch has more than `batch_len_max` decisions.
    BatchTooLong,
    /// 415: the content type is neither JSON nor NDJSON.
    UnsupportedMediaType,
    /// 429: the append queue is full; retry after `Retry-After`.
    QueueFull,
    /// 507: free disk space is below the reserve; nothing was written, and
    /// appends resume by themselves once space is freed.
    DiskFull,
    /// 503: a write failed; the daemon refuses appends until restarted.
    Poisoned,
    /// 503: the daemon is shutting down.
    ShuttingDown,
    /// 503: the group commit holding this request failed; nothing was stored.
    CommitFailed,
    /// 503: the entry's window is only in the archive, which could not be read.
    ArchiveUnavailable,
    /// 503: an operator's action took effect but could not be saved, so it
    /// would not outlive a restart.
    NotSaved,
    /// 500: damaged data or a broken invariant.
    Internal,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidDecision,
        ErrorCode::InvalidBatch,
        ErrorCode::InvalidUtf8,
        ErrorCode::EmptyBatch,
        ErrorCode::BadRequest,
        ErrorCode::InvalidOtlp,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::NoCheckpoint,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::ServerTimeout,
        ErrorCode::BodyTooLarge,
        ErrorCode::DecisionTooLarge,
        ErrorCode::BatchTooLong,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::QueueFull,
        ErrorCode::DiskFull,
        ErrorCode::Poisoned,
        ErrorCode::ShuttingDown,
        ErrorCode::CommitFailed,
        ErrorCode::ArchiveUnavailable,
        ErrorCode::NotSaved,
        ErrorCode::Internal,
    ];

    /// The code as sent in the `code` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidDecision => "invalid_decision",
            ErrorCode::InvalidBatch => "invalid_batch",
            ErrorCode::InvalidUtf8 => "invalid_utf8",
            ErrorCode::EmptyBatch => "empty_batch",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidOtlp => "invalid_otlp",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NoCheckpoint => "no_checkpoint",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::ServerTimeout => "server_timeout",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::DecisionTooLarge => "decision_too_large",
            ErrorCode::BatchTooLong => "batch_too_long",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::QueueFull => "queue_full",
            ErrorCode::DiskFull => "disk_full",
            ErrorCode::Poisoned => "poisoned",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::CommitFailed => "commit_failed",
            ErrorCode::ArchiveUnavailable => "archive_unavailable",
            ErrorCode::NotSaved => "not_saved",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status the code is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidDecision
            | ErrorCode::InvalidBatch
            | ErrorCode::InvalidUtf8
            | ErrorCode::EmptyBatch
            | ErrorCode::BadRequest
            | ErrorCode::InvalidOtlp => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound | ErrorCode::NoCheckpoint => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::BodyTooLarge | ErrorCode::DecisionTooLarge | ErrorCode::BatchTooLong => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::QueueFull => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::DiskFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::Poisoned
            | ErrorCode::ShuttingDown
            | ErrorCode::CommitFailed
            | ErrorCode::ArchiveUnavailable
            | ErrorCode::ServerTimeout
            | ErrorCode::NotSaved => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What is wrong with one line of an NDJSON batch (line numbers from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    /// Line number, counting every line of the body from 1.
    pub line: usize,
    /// What is wrong with it.
    pub error: String,
}

/// An error answer: status, `{"error": message, "code": code, "lines": [...]}`,
/// and `Retry-After` or `WWW-Authenticate` where they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    lines: Vec<LineError>,
    retry_after_s: Option<u64>,
}

/// Put on every error response so the metrics layer can count rejects by code.
#[derive(Debug, Clone, Copy)]
pub struct Rejected(pub ErrorCode);

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    code: &'static str,
    #[serde(skip_serializing_if = "<[LineError]>::is_empty")]
    lines: &'a [LineError],
}

impl ApiError {
    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            lines: Vec::new(),
            retry_after_s: None,
        }
    }

    /// Attach per-line errors.
    pub fn with_lines(mut self, lines: Vec<LineError>) -> ApiError {
        self.lines = lines;
        self
    }

    /// Ask the client to retry after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after_s = Some(seconds);
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` the answer carries, in seconds.
    pub fn retry_after_s(&self) -> Option<u64> {
        self.retry_after_s
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            code: self.code.as_str(),
            lines: &self.lines,
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(s) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.code == ErrorCode::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cairnd\""),
            );
        }
        response.extensions_mut().insert(Rejected(self.code));
        response
    }
}

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger directory could not be opened or created.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// An operating-system call failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_4xx_or_5xx() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{s}"
            );
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }

    #[test]
    fn queue_full_carries_retry_after_and_unauthorized_a_challenge() {
        let r = ApiError::new(ErrorCode::QueueFull, "full")
            .retry_after(2)
            .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = ApiError::new(ErrorCode::Unauthorized, "who?").into_response();
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
