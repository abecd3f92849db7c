//! OTLP/HTTP on the wire (OTLP specification 1.x, "OTLP/HTTP"): the two
//! encodings and their content types, gzip bodies, and the answers — an
//! `ExportTraceServiceResponse` on success, a `google.rpc.Status` on failure,
//! each in the encoding of the request.

use std::io::Read as _;

use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;

use crate::error::{ApiError, ErrorCode, Rejected};

/// The content type of the binary encoding.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The content type of the JSON encoding.
pub const JSON: &str = "application/json";

/// How a request (and so its answer) is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf, `application/x-protobuf`.
    Protobuf,
    /// OTLP/JSON, `application/json`.
    Json,
}

impl Encoding {
    /// The encoding named by the request's `Content-Type`.
    pub fn of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
        let value = headers
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(PROTOBUF) {
            Ok(Encoding::Protobuf)
        } else if essence.eq_ignore_ascii_case(JSON) {
            Ok(Encoding::Json)
        } else {
            Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!(
                    "Content-Type {value:?} is not accepted: OTLP/HTTP sends {PROTOBUF} or {JSON}"
                ),
            ))
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF,
            Encoding::Json => JSON,
        }
    }
}

/// Whether the body is gzip-compressed (`Content-Encoding: gzip`); any coding
/// but gzip and identity is refused.
pub fn gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    let value = String::from_utf8_lossy(value.as_bytes());
    match value.trim() {
        v if v.eq_ignore_ascii_case("gzip") => Ok(true),
        v if v.eq_ignore_ascii_case("identity") || v.is_empty() => Ok(false),
        v => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("Content-Encoding {v:?} is not accepted: send gzip or no encoding"),
        )),
    }
}

/// Bytes decompressed between two calls of `gunzip`'s `grow`.
const GUNZIP_STEP_BYTES: u64 = 1 << 20;

/// Decompress a gzip body (every member), refusing more than `max` bytes out.
/// `grow` is told the bytes out so far after each step of at most 1 MiB, and
/// may stop the work with an error (the admission budget is full).
pub fn gunzip(
    body: &[u8],
    max: usize,
    mut grow: impl FnMut(usize) -> Result<(), ApiError>,
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(body);
    loop {
        let read = (&mut decoder)
            .take(GUNZIP_STEP_BYTES)
            .read_to_end(&mut out)
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidOtlp,
                    format!("the body is not valid gzip: {e}"),
                )
            })?;
        if out.len() > max {
            return Err(ApiError::new(
                ErrorCode::BodyTooLarge,
                format!(
                    "the body decompresses to more than body_bytes_max ({max} bytes): send smaller exports"
                ),
            ));
        }
        if read == 0 {
            return Ok(out);
        }
        grow(out.len())?;
    }
}

/// Decode an export request.
pub fn decode(encoding: Encoding, body: &[u8]) -> Result<ExportTraceServiceRequest, ApiError> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorCode::InvalidOtlp,
            format!("the body is not an OTLP ExportTraceServiceRequest in {what}: {e}"),
        )
    };
    match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|e| invalid("protobuf", &e))
        }
        Encoding::Json => serde_json::from_slice(body).map_err(|e| invalid("OTLP/JSON", &e)),
    }
}

/// The answer to an export whose accepted spans are durable: full success, or
/// partial success naming how many spans were rejected and why.
pub fn success(encoding: Encoding, rejected_spans: usize, error_message: String) -> Response {
    let partial_success =
        (rejected_spans > 0 || !error_message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected_spans).unwrap_or(i64::MAX),
            error_message,
        });
    let answer = ExportTraceServiceResponse { partial_success };
    let body = match encoding {
        Encoding::Protobuf => answer.encode_to_vec(),
        // A full success is `{}`, not `{"partialSuccess":null}`.
        Encoding::Json => match &answer.partial_success {
            None => b"{}".to_vec(),
            Some(_) => serde_json::to_vec(&answer).unwrap_or_else(|_| b"{}".to_vec()),
        },
    };
    respond(StatusCode::OK, encoding, body)
}

/// `google.rpc.Status`, the body of every OTLP/HTTP error answer (its
/// `details` are never sent). Not part of the OTLP protocol files, so it is
/// declared here: two fields.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The gRPC status code that goes with an error.
fn grpc_code(code: ErrorCode) -> i32 {
    match code.status() {
        StatusCode::UNAUTHORIZED => 16,          // UNAUTHENTICATED
        StatusCode::FORBIDDEN => 7,              // PERMISSION_DENIED
        StatusCode::NOT_FOUND => 5,              // NOT_FOUND
        StatusCode::REQUEST_TIMEOUT => 4,        // DEADLINE_EXCEEDED
        StatusCode::TOO_MANY_REQUESTS => 8,      // RESOURCE_EXHAUSTED
        StatusCode::PAYLOAD_TOO_LARGE => 8,      // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14,   // UNAVAILABLE
        StatusCode::INTERNAL_SERVER_ERROR => 13, // INTERNAL
        _ => 3,                                  // INVALID_ARGUMENT
    }
}

/// An error answer: the status of `error`, its `Retry-After` and challenge, and
/// a `google.rpc.Status` whose message starts with the daemon's error code.
pub fn failure(encoding: Encoding, error: ApiError) -> Response {
    let code = error.code();
    let status = RpcStatus {
        code: grpc_code(code),
        message: format!("{}: {}", code.as_str(), error.message()),
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&status).unwrap_or_default(),
    };
    let mut response = respond(code.status(), encoding, body);
    let headers = response.headers_mut();
    if let Some(s) = error.retry_after_s() {
        headers.insert(RETRY_AFTER, HeaderValue::from(s));
    }
    if code == ErrorCode::Unauthorized {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"cairnd\""),
        );
    }
    response.extensions_mut().insert(Rejected(code));
    response
}

fn respond(status: StatusCode, encoding: Encoding, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_reads_every_member_and_stops_at_the_limit() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        let free = |_| Ok(());
        assert_eq!(gunzip(&two, 100, free).unwrap(), b"hello world");
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 2048);
        let err = gunzip(&bomb, 4096, free).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BodyTooLarge);
        let err = gunzip(b"not gzip at all", 100, free).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidOtlp);
    }

    #[test]
    fn gunzip_counts_its_output_as_it_goes_and_stops_when_told() {
        let big = gzip(&vec![7u8; (5 << 20) / 2]);
        let mut told = Vec::new();
        let out = gunzip(&big, 16 << 20, |n| {
            told.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(out.len(), (5 << 20) / 2);
        assert_eq!(told, [1 << 20, 2 << 20, (5 << 20) / 2]);
        let full = gunzip(&big, 16 << 20, |n| match n > 1 << 20 {
            true => Err(ApiError::new(ErrorCode::QueueFull, "full")),
            false => Ok(()),
        });
        assert_eq!(full.unwrap_err().code(), ErrorCode::QueueFull);
    }

    #[test]
    fn content_types_and_codings() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        assert_eq!(Encoding::of(&h).unwrap(), Encoding::Protobuf);
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(Encoding::of(&h).unwrap(), Encoding::Json);
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            Encoding::of(&h).unwrap_err().code(),
            ErrorCode::UnsupportedMediaType
        );
        assert!(!gzipped(&h).unwrap());
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        assert!(gzipped(&h).unwrap());
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(
            gzipped(&h).unwrap_err().code(),
            ErrorCode::UnsupportedMediaType
        );
    }

    #[test]
    fn partial_success_round_trips_in_both_encodings() {
        let r = success(Encoding::Protobuf, 2, "two bad".into());
        assert_eq!(r.headers()[CONTENT_TYPE], PROTOBUF);
        let full = ExportTraceServiceResponse::default().encode_to_vec();
        assert!(full.is_empty(), "a full success is an empty message");
        let err = failure(
            Encoding::Json,
            ApiError::new(ErrorCode::QueueFull, "full").retry_after(3),
        );
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.headers()[RETRY_AFTER], "3");
        assert_eq!(err.headers()[CONTENT_TYPE], JSON);
    }
}
