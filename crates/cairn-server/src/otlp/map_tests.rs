//! The span-to-decision mapping, field by field, as `schemas/otlp-mapping.md`
//! writes it down.

#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status};

use super::*;

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, Any::StringValue(value.into()))
}

const TRACE: [u8; 16] = [0xab; 16];

fn chat_span(extra: Vec<KeyValue>) -> Span {
    let mut attributes = vec![
        s("gen_ai.operation.name", "chat"),
        s("gen_ai.provider.name", "openai"),
        s("gen_ai.request.model", "gpt-4o"),
        s("gen_ai.response.model", "gpt-4o-2024-08-06"),
        kv("gen_ai.request.temperature", Any::DoubleValue(0.2)),
        kv("gen_ai.request.seed", Any::IntValue(42)),
        kv("gen_ai.request.max_tokens", Any::IntValue(200)),
        kv("gen_ai.usage.input_tokens", Any::IntValue(31)),
        kv("gen_ai.usage.output_tokens", Any::IntValue(7)),
        kv(
            "gen_ai.response.finish_reasons",
            Any::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Any::StringValue("stop".into())),
                }],
            }),
        ),
        s("enduser.id", "cust-7"),
        s("session.id", "sess-1"),
    ];
    attributes.extend(extra);
    Span {
        trace_id: TRACE.to_vec(),
        span_id: vec![0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08],
        parent_span_id: vec![0x09; 8],
        name: "chat gpt-4o".into(),
        start_time_unix_nano: 1_764_000_000_123_456_789,
        end_time_unix_nano: 1_764_000_000_123_456_789 + 1_500_000_000,
        attributes,
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", "support-bot"),
                    s("app.stream", "chat.prod"),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai".into(),
                    version: "0.50b0".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn one(span: Span, config: &OtlpConfig) -> Value {
    let req = request(vec![span]);
    let rs = &req.resource_spans[0];
    let from = Origin {
        resource: Attrs(&rs.resource.as_ref().unwrap().attributes),
        scope: rs.scope_spans[0].scope.as_ref(),
    };
    map_span(&rs.scope_spans[0].spans[0], from, config).expect("a decision")
}

#[test]
fn a_chat_span_becomes_a_decision_field_by_field() {
    let msgs = r#"[{"role":"user","parts":[{"type":"text","content":"Where is my parcel?"}]}]"#;
    let out = r#"[{"role":"assistant","parts":[{"type":"text","content":"On its way."}],"finish_reason":"stop"}]"#;
    let span = chat_span(vec![
        s("gen_ai.input.messages", msgs),
        s("gen_ai.output.messages", out),
        s(
            "gen_ai.system_instructions",
            r#"[{"type":"text","content":"Be brief."}]"#,
        ),
    ]);
    let d = one(span, &OtlpConfig::default());
    assert_eq!(d["stream"], "support-bot");
    assert_eq!(
        d["model"],
        json!({"name": "gpt-4o", "version": "gpt-4o-2024-08-06"})
    );
    assert_eq!(d["operation"], "chat");
    assert_eq!(d["trace_id"], "ab".repeat(16));
    assert_eq!(d["span_id"], "0102030405060708");
    assert_eq!(d["subject"], "cust-7");
    assert_eq!(d["session"], "sess-1");
    assert_eq!(d["event_time"], "2025-11-24T16:00:00.123456Z");
    assert_eq!(d["latency_ms"], 1500.0);
    assert_eq!(
        d["params"],
        json!({"temperature": 0.2, "seed": 42, "max_tokens": 200})
    );
    assert_eq!(
        d["input"]["messages"][0]["parts"][0]["content"],
        "Where is my parcel?"
    );
    assert_eq!(d["input"]["system_instructions"][0]["content"], "Be brief.");
    assert_eq!(d["output"]["messages"][0]["finish_reason"], "stop");
    assert_eq!(
        d["idempotency_key"],
        format!("otlp:{}:0102030405060708", "ab".repeat(16))
    );
    let a = &d["attributes"];
    assert_eq!(a["gen_ai.usage.input_tokens"], "31");
    assert_eq!(a["gen_ai.usage.output_tokens"], "7");
    assert_eq!(a["gen_ai.provider.name"], "openai");
    assert_eq!(a["gen_ai.response.finish_reasons"], r#"["stop"]"#);
    assert_eq!(a["otel.span_name"], "chat gpt-4o");
    assert_eq!(a["otel.parent_span_id"], "0909090909090909");
    assert_eq!(a["otel.scope.name"], "opentelemetry.instrumentation.openai");
    assert!(a.get("otlp.input").is_none() && a.get("otlp.output").is_none());
    // The object is a valid decision for the daemon's own parser.
    DecisionInput::parse_str(&d.to_string()).unwrap();
}

#[test]
fn content_not_captured_is_recorded_and_marked() {
    let d = one(chat_span(vec![]), &OtlpConfig::default());
    assert_eq!(d["input"], Value::Null);
    assert_eq!(d["output"], Value::Null);
    assert_eq!(d["attributes"]["otlp.input"], "not_captured");
    assert_eq!(d["attributes"]["otlp.output"], "not_captured");
    DecisionInput::parse_str(&d.to_string()).unwrap();
}

#[test]
fn content_from_events_of_each_convention_version() {
    let event = |name: &str, attributes: Vec<KeyValue>| Event {
        name: name.into(),
        attributes,
        ..Event::default()
    };
    // 1.37: one details event with the messages as attributes.
    let mut span = chat_span(vec![]);
    span.events = vec![event(
        "gen_ai.client.inference.operation.details",
        vec![
            s("gen_ai.input.messages", r#"[{"role":"user","parts":[]}]"#),
            s(
                "gen_ai.output.messages",
                r#"[{"role":"assistant","parts":[]}]"#,
            ),
        ],
    )];
    let d = one(span, &OtlpConfig::default());
    assert_eq!(d["input"]["messages"][0]["role"], "user");
    assert_eq!(d["output"]["messages"][0]["role"], "assistant");
    // 1.28 to 1.36: one event per message, the role from its name.
    let mut span = chat_span(vec![]);
    span.events = vec![
        event("gen_ai.system.message", vec![s("content", "Be brief.")]),
        event("gen_ai.user.message", vec![s("content", "Hello")]),
        event(
            "gen_ai.choice",
            vec![kv("index", Any::IntValue(0)), s("finish_reason", "stop")],
        ),
    ];
    let d = one(span, &OtlpConfig::default());
    assert_eq!(
        d["input"]["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}])
    );
    assert_eq!(
        d["output"]["messages"],
        json!([{"index": 0, "finish_reason": "stop"}])
    );
    // 1.26 and 1.27: prompt and completion events.
    let mut span = chat_span(vec![]);
    span.events = vec![
        event(
            "gen_ai.content.prompt",
            vec![s("gen_ai.prompt", r#"[{"role":"user","content":"Hi"}]"#)],
        ),
        event(
            "gen_ai.content.completion",
            vec![s("gen_ai.completion", "plain text")],
        ),
    ];
    let d = one(span, &OtlpConfig::default());
    assert_eq!(
        d["input"],
        json!({"prompt": [{"role": "user", "content": "Hi"}]})
    );
    assert_eq!(d["output"], json!({"completion": "plain text"}));
    assert!(d["attributes"].get("otlp.input").is_none());
}

#[test]
fn configured_attributes_name_stream_subject_session_and_version() {
    let config = OtlpConfig {
        stream_attribute: Some("app.stream".into()),
        subject_attributes: vec!["app.customer".into(), "enduser.id".into()],
        session_attributes: vec!["gen_ai.conversation.id".into()],
        version_attribute: Some("app.model_version".into()),
    };
    let span = chat_span(vec![
        s("app.customer", "acct-9"),
        s("gen_ai.conversation.id", "conv-3"),
        s("app.model_version", "2026-11-rollout"),
    ]);
    let d = one(span, &config);
    assert_eq!(d["stream"], "chat.prod", "found on the resource");
    assert_eq!(d["subject"], "acct-9");
    assert_eq!(d["session"], "conv-3");
    assert_eq!(d["model"]["version"], "2026-11-rollout");
    // Configured but absent: back to the defaults' sources.
    let config = OtlpConfig {
        stream_attribute: Some("nowhere".into()),
        version_attribute: Some("nowhere".into()),
        ..OtlpConfig::default()
    };
    let d = one(chat_span(vec![]), &config);
    assert_eq!(d["stream"], "support-bot");
    assert_eq!(d["model"]["version"], "gpt-4o-2024-08-06");
}

#[test]
fn only_model_calls_are_decisions() {
    let plain = Span {
        name: "GET /orders".into(),
        attributes: vec![s("http.request.method", "GET")],
        ..Span::default()
    };
    let tool = Span {
        attributes: vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.request.model", "gpt-4o"),
        ],
        ..Span::default()
    };
    let no_model = Span {
        attributes: vec![s("gen_ai.operation.name", "invoke_agent")],
        ..Span::default()
    };
    let model_only = Span {
        attributes: vec![s("gen_ai.request.model", "gpt-4o")],
        ..Span::default()
    };
    let response_only = Span {
        attributes: vec![
            s("gen_ai.system", "openai"),
            s("gen_ai.response.model", "gpt-4o-mini"),
        ],
        ..Span::default()
    };
    let req = request(vec![
        plain,
        tool,
        no_model,
        model_only,
        response_only,
        chat_span(vec![]),
    ]);
    let m = map_request(&req, &OtlpConfig::default(), 1 << 20, 10).unwrap();
    assert_eq!(m.ignored, 4);
    assert!(m.rejected.is_empty(), "{:?}", m.rejected);
    let spans: Vec<usize> = m.decisions.iter().map(|d| d.span).collect();
    assert_eq!(spans, [5, 6]);
    let legacy = &m.decisions[0].decision;
    assert_eq!(
        (legacy.model.name.as_str(), legacy.model.version.as_str()),
        ("gpt-4o-mini", "gpt-4o-mini")
    );
    assert!(
        legacy.trace_id.is_none() && legacy.idempotency_key.is_none(),
        "zero ids are absent"
    );
}

#[test]
fn a_span_a_decision_refuses_is_rejected_alone_with_its_reason() {
    let mut long = chat_span(vec![]);
    long.attributes.retain(|kv| kv.key != "enduser.id");
    long.attributes.push(s("enduser.id", &"x".repeat(1100)));
    let mut huge = chat_span(vec![s("gen_ai.input.messages", &"y".repeat(8192))]);
    huge.span_id = vec![0x0f; 8];
    let mut status = chat_span(vec![]);
    status.span_id = vec![0x0e; 8];
    status.status = Some(Status {
        code: 2,
        message: "rate limited\nretry later".into(),
    });
    let req = request(vec![long, huge, status]);
    let m = map_request(&req, &OtlpConfig::default(), 4096, 10).unwrap();
    assert_eq!(m.decisions.len(), 1);
    assert_eq!(m.rejected.len(), 2);
    assert!(m.rejected[0].contains("subject"), "{}", m.rejected[0]);
    assert!(
        m.rejected[0].starts_with("span 0102030405060708"),
        "{}",
        m.rejected[0]
    );
    assert!(
        m.rejected[1].contains("line_bytes_max"),
        "{}",
        m.rejected[1]
    );
    let attrs = m.decisions[0].decision.attributes.as_ref().unwrap();
    assert_eq!(attrs["otel.status_code"], "ERROR");
    assert_eq!(attrs["otel.status_description"], "rate limited retry later");
}

#[test]
fn mapping_stops_at_the_first_decision_over_the_batch_limit() {
    let spans = |n: usize| request((0..n).map(|_| chat_span(vec![])).collect());
    let fits = map_request(&spans(4), &OtlpConfig::default(), 1 << 20, 4).unwrap();
    assert_eq!(fits.decisions.len(), 4);
    assert_eq!(
        map_request(&spans(5), &OtlpConfig::default(), 1 << 20, 4).unwrap_err(),
        TooManyDecisions { max: 4 }
    );
}
