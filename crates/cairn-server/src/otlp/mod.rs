//! OTLP ingest: OpenTelemetry trace exports (`POST /v1/traces`, OTLP/HTTP in
//! protobuf or JSON, optionally gzip) whose GenAI spans become decisions.
//!
//! [`wire`] decodes requests and encodes answers, [`map`] turns spans into
//! decisions (pure), [`value`] reads attribute values, [`settings`] says which
//! attributes name a decision's stream, subject, session and model version.
//! The HTTP handler, which appends through the same path as
//! `POST /v1/decisions`, is `routes::traces`.

pub mod map;
pub mod settings;
pub mod value;
pub mod wire;

pub use map::{map_request, Mapped, SpanDecision, TooManyDecisions, SEMCONV_VERSION};
pub use settings::{OtlpConfig, OtlpSettings};
