//! From an OTLP trace export to Cairn decisions: which spans are model
//! decisions, and each one's fields, as `schemas/otlp-mapping.md` writes them
//! down. Pure: no I/O, no clock.
//!
//! A span is built into the decision object of `schemas/decision.schema.json`
//! and then parsed by [`DecisionInput::parse_str`], the same parser and checks
//! as `POST /v1/decisions`, so an OTLP decision can be nothing a producer could
//! not have sent directly.

use cairn_core::decision::{format_time_us, DecisionInput, FIELD_BYTES_MAX};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span};
use serde_json::{json, Map, Value};

use super::settings::OtlpConfig;
use super::value::{content, json as any_json, object, text, Attrs};

/// The version of the OpenTelemetry GenAI semantic conventions the mapping follows.
pub const SEMCONV_VERSION: &str = "1.37.0";
/// The stream of a span whose resource names no service (the SDKs' own default).
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// Most `gen_ai.usage.*` attributes carried over.
const USAGE_ATTRIBUTES_MAX: usize = 16;
/// Attributes copied as they are, when present.
const COPIED: &[&str] = &[
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.output.type",
    "gen_ai.agent.id",
    "gen_ai.agent.name",
    "error.type",
    "server.address",
];
/// Operations that are not a model's decision even when a model is named.
const NOT_DECISIONS: &[&str] = &["execute_tool"];

/// A decision made from a span, and the span's place in the request.
#[derive(Debug)]
pub struct SpanDecision {
    /// 1-based position of the span in the request, in document order.
    pub span: usize,
    /// The decision.
    pub decision: DecisionInput,
}

/// What became of the spans of one request.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Spans that are model decisions, valid.
    pub decisions: Vec<SpanDecision>,
    /// Spans that are not model decisions.
    pub ignored: usize,
    /// Spans that are model decisions but cannot be recorded: why, one each.
    pub rejected: Vec<String>,
}

/// An export holds more model decisions than one batch may
/// (`batch_len_max`); mapping stopped at the first one over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyDecisions {
    /// The most one export may hold.
    pub max: usize,
}

/// Map every span of `request`. A decision's JSON may be at most
/// `decision_bytes_max` long (`line_bytes_max`, as for one NDJSON line), and
/// an export may hold at most `decisions_max` decisions (`batch_len_max`):
/// mapping stops at the first over, so that an export of many spans never
/// holds more decisions in memory than one batch may.
pub fn map_request(
    request: &ExportTraceServiceRequest,
    config: &OtlpConfig,
    decision_bytes_max: usize,
    decisions_max: usize,
) -> Result<Mapped, TooManyDecisions> {
    let mut out = Mapped::default();
    let mut n = 0;
    for rs in &request.resource_spans {
        let resource = Attrs(rs.resource.as_ref().map_or(&[], |r| &r.attributes));
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                n += 1;
                let from = Origin {
                    resource,
                    scope: ss.scope.as_ref(),
                };
                match map_span(span, from, config) {
                    None => out.ignored += 1,
                    Some(object) => match parse(&object, decision_bytes_max) {
                        Ok(_) if out.decisions.len() == decisions_max => {
                            return Err(TooManyDecisions { max: decisions_max })
                        }
                        Ok(decision) => out.decisions.push(SpanDecision { span: n, decision }),
                        Err(reason) => out.rejected.push(format!(
                            "span {} ({:?}): {reason}",
                            hex::encode(&span.span_id),
                            span.name
                        )),
                    },
                }
            }
        }
    }
    Ok(out)
}

fn parse(object: &Value, max: usize) -> Result<DecisionInput, String> {
    let text = object.to_string();
    if text.len() > max {
        return Err(format!(
            "the decision would be {} bytes, over line_bytes_max ({max} bytes)",
            text.len()
        ));
    }
    DecisionInput::parse_str(&text).map_err(|e| e.to_string())
}

/// Where a span came from.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    resource: Attrs<'a>,
    scope: Option<&'a InstrumentationScope>,
}

/// The decision object of a span, or `None` when the span is not a model decision.
fn map_span(span: &Span, from: Origin<'_>, config: &OtlpConfig) -> Option<Value> {
    let a = Attrs(&span.attributes);
    let operation = a.text("gen_ai.operation.name");
    let genai = operation.is_some()
        || a.get("gen_ai.provider.name").is_some()
        || a.get("gen_ai.system").is_some();
    let requested = a.text("gen_ai.request.model");
    let responded = a.text("gen_ai.response.model");
    let name = requested.clone().or_else(|| responded.clone())?;
    if !genai
        || operation
            .as_deref()
            .is_some_and(|o| NOT_DECISIONS.contains(&o))
    {
        return None;
    }
    let either = |key: &str| a.text(key).or_else(|| from.resource.text(key));
    let first = |keys: &[String]| keys.iter().find_map(|k| either(k));
    let version = config
        .version_attribute
        .as_deref()
        .and_then(either)
        .or(responded)
        .unwrap_or_else(|| name.clone());
    let stream = config
        .stream_attribute
        .as_deref()
        .and_then(either)
        .or_else(|| from.resource.text("service.name"))
        .unwrap_or_else(|| UNKNOWN_SERVICE.to_owned());
    let (input, input_captured) = input(a, &span.events);
    let (output, output_captured) = output(a, &span.events);
    let mut d = Map::new();
    d.insert("stream".into(), json!(stream));
    d.insert("model".into(), json!({"name": name, "version": version}));
    d.insert("input".into(), input);
    d.insert("output".into(), output);
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            d.insert(k.into(), v);
        }
    };
    let trace_id = id_hex(&span.trace_id, 16);
    let span_id = id_hex(&span.span_id, 8);
    put("operation", operation.map(Value::String));
    put("trace_id", trace_id.clone().map(Value::String));
    put("span_id", span_id.clone().map(Value::String));
    put(
        "subject",
        first(&config.subject_attributes).map(Value::String),
    );
    put(
        "session",
        first(&config.session_attributes).map(Value::String),
    );
    put("event_time", event_time(span).map(Value::String));
    put("latency_ms", latency_ms(span).map(Value::from));
    put("params", params(a));
    let key = trace_id.zip(span_id).map(|(t, s)| format!("otlp:{t}:{s}"));
    put("idempotency_key", key.map(Value::String));
    let mut attributes = attributes(span, a, from);
    if !input_captured {
        attributes.insert("otlp.input".into(), json!("not_captured"));
    }
    if !output_captured {
        attributes.insert("otlp.output".into(), json!("not_captured"));
    }
    put("attributes", Some(Value::Object(attributes)));
    Some(Value::Object(d))
}

/// Lower-case hex of an id of `len` bytes; `None` when absent, all zeros
/// (invalid in W3C trace context) or of another length.
fn id_hex(id: &[u8], len: usize) -> Option<String> {
    (id.len() == len && id.iter().any(|&b| b != 0)).then(|| hex::encode(id))
}

fn event_time(span: &Span) -> Option<String> {
    let us = i64::try_from(span.start_time_unix_nano / 1000).ok()?;
    (span.start_time_unix_nano > 0).then(|| format_time_us(us))
}

fn latency_ms(span: &Span) -> Option<f64> {
    let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
    (start > 0 && end >= start).then(|| (end - start) as f64 / 1e6)
}

/// `gen_ai.request.*` but the model, keys without the prefix.
fn params(a: Attrs<'_>) -> Option<Value> {
    let params: Map<String, Value> = a
        .iter()
        .filter(|(k, _)| *k != "gen_ai.request.model")
        .filter_map(|(k, v)| Some((k.strip_prefix("gen_ai.request.")?.to_owned(), any_json(v))))
        .collect();
    (!params.is_empty()).then_some(Value::Object(params))
}

/// The input payload, and whether the instrumentation captured it.
fn input(a: Attrs<'_>, events: &[Event]) -> (Value, bool) {
    let mut input = Map::new();
    let details = details_event(events);
    if let Some(m) = a
        .get("gen_ai.input.messages")
        .or_else(|| details?.get("gen_ai.input.messages"))
    {
        input.insert("messages".into(), content(m));
    } else if let Some(m) = legacy_messages(events, &INPUT_EVENTS) {
        input.insert("messages".into(), m);
    } else if let Some(p) = event_attribute(events, "gen_ai.content.prompt", "gen_ai.prompt") {
        input.insert("prompt".into(), p);
    }
    let system = a
        .get("gen_ai.system_instructions")
        .or_else(|| details?.get("gen_ai.system_instructions"));
    if let Some(s) = system {
        input.insert("system_instructions".into(), content(s));
    }
    match input.is_empty() {
        true => (Value::Null, false),
        false => (Value::Object(input), true),
    }
}

/// The output payload, and whether the instrumentation captured it.
fn output(a: Attrs<'_>, events: &[Event]) -> (Value, bool) {
    let details = details_event(events);
    let found = if let Some(m) = a
        .get("gen_ai.output.messages")
        .or_else(|| details?.get("gen_ai.output.messages"))
    {
        Some(("messages", content(m)))
    } else if let Some(m) = legacy_messages(events, &["gen_ai.choice"]) {
        Some(("messages", m))
    } else {
        event_attribute(events, "gen_ai.content.completion", "gen_ai.completion")
            .map(|c| ("completion", c))
    };
    match found {
        Some((key, value)) => (json!({ key: value }), true),
        None => (Value::Null, false),
    }
}

/// The event of semantic conventions 1.37 that carries a call's content.
fn details_event(events: &[Event]) -> Option<Attrs<'_>> {
    events
        .iter()
        .find(|e| e.name == "gen_ai.client.inference.operation.details")
        .map(|e| Attrs(&e.attributes))
}

/// The per-message span events of semantic conventions 1.28 to 1.36.
const INPUT_EVENTS: [&str; 4] = [
    "gen_ai.system.message",
    "gen_ai.user.message",
    "gen_ai.assistant.message",
    "gen_ai.tool.message",
];

/// Per-message events in order, each as an object of its attributes with a
/// `role` from its name when it has none.
fn legacy_messages(events: &[Event], names: &[&str]) -> Option<Value> {
    let messages: Vec<Value> = events
        .iter()
        .filter(|e| names.contains(&e.name.as_str()))
        .map(|e| {
            let mut m = object(&e.attributes);
            let role = e
                .name
                .trim_start_matches("gen_ai.")
                .trim_end_matches(".message");
            if role != "choice" {
                m.entry("role").or_insert_with(|| json!(role));
            }
            Value::Object(m)
        })
        .collect();
    (!messages.is_empty()).then_some(Value::Array(messages))
}

/// `attribute` of the first event called `event` (semantic conventions 1.26, 1.27).
fn event_attribute(events: &[Event], event: &str, attribute: &str) -> Option<Value> {
    events
        .iter()
        .filter(|e| e.name == event)
        .find_map(|e| Attrs(&e.attributes).get(attribute))
        .map(content)
}

/// Token usage, provider, response and span facts, as strings.
fn attributes(span: &Span, a: Attrs<'_>, from: Origin<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: String| {
        out.insert(k.to_owned(), Value::String(attribute_value(v)));
    };
    for (k, v) in a
        .iter()
        .filter(|(k, _)| k.starts_with("gen_ai.usage."))
        .take(USAGE_ATTRIBUTES_MAX)
    {
        put(k, text(v));
    }
    for &k in COPIED {
        if let Some(v) = a.text(k) {
            put(k, v);
        }
    }
    if let Some(service) = from.resource.text("service.name") {
        put("service.name", service);
    }
    if !span.name.is_empty() {
        put("otel.span_name", span.name.clone());
    }
    if let Some(parent) = id_hex(&span.parent_span_id, 8) {
        put("otel.parent_span_id", parent);
    }
    if let Some(scope) = from.scope.filter(|s| !s.name.is_empty()) {
        put("otel.scope.name", scope.name.clone());
        if !scope.version.is_empty() {
            put("otel.scope.version", scope.version.clone());
        }
    }
    if let Some(status) = &span.status {
        match StatusCode::try_from(status.code) {
            Ok(StatusCode::Ok) => put("otel.status_code", "OK".into()),
            Ok(StatusCode::Error) => put("otel.status_code", "ERROR".into()),
            _ => {}
        }
        if !status.message.is_empty() {
            put("otel.status_description", status.message.clone());
        }
    }
    out
}

/// An attribute value as a decision accepts it: control characters as spaces,
/// at most `FIELD_BYTES_MAX` bytes (cut at a character boundary).
fn attribute_value(v: String) -> String {
    let mut v: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if v.len() > FIELD_BYTES_MAX {
        let mut end = FIELD_BYTES_MAX;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v.truncate(end);
    }
    v
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
