//! `POST /v1/traces`: OTLP/HTTP exports in protobuf, JSON and gzip become
//! decisions once durable; other spans are ignored and counted; spans a
//! decision refuses are a partial success; bad bodies get OTLP error answers
//! and store nothing.

use std::io::Write as _;
use std::sync::Arc;

use cairn_server::auth::hash_token;
use cairn_server::config::TokenConfig;
use cairn_server::Settings;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::Value;

use crate::support::{start, start_with, FaultyDisk, Gate, Reply, TestDaemon};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn s(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Any::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// A chat span of trace `t`, span `n`.
fn chat(t: u8, n: u8, extra: Vec<KeyValue>) -> Span {
    let mut attributes = vec![
        s("gen_ai.operation.name", "chat"),
        s("gen_ai.request.model", "gpt-4o"),
        s("gen_ai.response.model", "gpt-4o-2024-08-06"),
        int("gen_ai.usage.input_tokens", 12),
        int("gen_ai.usage.output_tokens", 3),
        int("gen_ai.request.seed", 7),
        s("enduser.id", "cust-1"),
        s(
            "gen_ai.input.messages",
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
        ),
    ];
    attributes.extend(extra);
    Span {
        trace_id: vec![t; 16],
        span_id: vec![n; 8],
        name: "chat gpt-4o".into(),
        start_time_unix_nano: 1_764_000_000_000_000_000,
        end_time_unix_nano: 1_764_000_000_250_000_000,
        attributes,
        ..Span::default()
    }
}

fn plain(n: u8) -> Span {
    Span {
        trace_id: vec![0x77; 16],
        span_id: vec![n; 8],
        name: "GET /orders".into(),
        attributes: vec![s("http.request.method", "GET")],
        ..Span::default()
    }
}

fn export(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", service)],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn post(
    d: &TestDaemon,
    content_type: &str,
    encoding: Option<&str>,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = d
        .client
        .post(d.url("/v1/traces"))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// `google.rpc.Status`, as the daemon sends it on errors.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn entry(d: &TestDaemon, seq: u64) -> Value {
    let r: Reply = d.get(&format!("/v1/entries/{seq}")).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_json_and_gzip_exports_become_decisions_once_durable() {
    let d = start(Settings::default()).await;
    let pb = export(
        "support-bot",
        vec![chat(1, 1, vec![]), plain(2), chat(1, 3, vec![])],
    );
    let (status, headers, body) = post(&d, PROTOBUF, None, None, pb.encode_to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], PROTOBUF);
    let answer = ExportTraceServiceResponse::decode(body.as_slice()).unwrap();
    assert_eq!(answer.partial_success, None, "full success");
    assert_eq!(d.size(), 2, "two GenAI spans, the HTTP span ignored");

    let json = serde_json::to_vec(&export("support-bot", vec![chat(2, 1, vec![])])).unwrap();
    assert!(
        String::from_utf8_lossy(&json).contains(&"02".repeat(16)),
        "hex ids"
    );
    let (status, headers, body) = post(&d, JSON, None, None, json).await;
    assert_eq!((status, body.as_slice()), (200, b"{}".as_slice()));
    assert_eq!(headers["content-type"], JSON);

    let zipped = gzip(&export("support-bot", vec![chat(3, 1, vec![])]).encode_to_vec());
    let (status, _, _) = post(&d, PROTOBUF, Some("gzip"), None, zipped).await;
    assert_eq!(status, 200);
    let zipped =
        gzip(&serde_json::to_vec(&export("support-bot", vec![chat(4, 1, vec![])])).unwrap());
    let (status, _, body) = post(&d, JSON, Some("gzip"), None, zipped).await;
    assert_eq!((status, body.as_slice()), (200, b"{}".as_slice()));
    assert_eq!(d.size(), 5);

    let e = entry(&d, 0).await;
    assert_eq!(e["stream"], "support-bot");
    assert_eq!(e["model"]["name"], "gpt-4o");
    assert_eq!(e["model"]["version"], "gpt-4o-2024-08-06");
    assert_eq!(e["trace_id"], "01".repeat(16));
    assert_eq!(e["span_id"], "01".repeat(8));
    assert_eq!(e["subject"], "cust-1");
    assert_eq!(e["operation"], "chat");
    assert_eq!(e["latency_ms"], 250.0);
    assert_eq!(e["params"]["seed"], 7);
    assert_eq!(e["attributes"]["gen_ai.usage.input_tokens"], "12");
    assert_eq!(e["input"]["messages"][0]["parts"][0]["content"], "hi");
    assert_eq!(e["output"], Value::Null);
    assert_eq!(e["attributes"]["otlp.output"], "not_captured");
    assert_eq!(entry(&d, 3).await["trace_id"], "03".repeat(16));
    assert_eq!(entry(&d, 4).await["trace_id"], "04".repeat(16));

    let ignored = r#"cairn_otlp_spans_total{outcome="ignored"}"#;
    assert_eq!(d.metric(ignored).await, 1.0);
    assert_eq!(
        d.metric(r#"cairn_otlp_spans_total{outcome="recorded"}"#)
            .await,
        5.0
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_export_is_stored_once() {
    let d = start(Settings::default()).await;
    let body = export("svc", vec![chat(9, 1, vec![]), chat(9, 2, vec![])]).encode_to_vec();
    for _ in 0..3 {
        let (status, _, _) = post(&d, PROTOBUF, None, None, body.clone()).await;
        assert_eq!(status, 200);
    }
    assert_eq!(d.size(), 2, "the span ids are the idempotency key");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_a_decision_refuses_are_a_partial_success_and_the_rest_is_stored() {
    const TOKEN: &str = "otel-collector-secret";
    let d = start(Settings {
        tokens: Some(vec![TokenConfig {
            name: Some("collector".into()),
            sha256: hash_token(TOKEN),
            write_streams: vec!["chat.*".into()],
            read: true,
            admin: false,
            read_streams: vec![],
        }]),
        ..Settings::default()
    })
    .await;
    let mut too_long = chat(5, 2, vec![]);
    too_long.attributes.retain(|kv| kv.key != "enduser.id");
    too_long.attributes.push(s("enduser.id", &"x".repeat(1500)));
    let mut req = export("chat.support", vec![chat(5, 1, vec![]), too_long, plain(3)]);
    req.resource_spans
        .extend(export("billing", vec![chat(5, 4, vec![])]).resource_spans);
    let (status, _, body) = post(&d, PROTOBUF, None, Some(TOKEN), req.encode_to_vec()).await;
    assert_eq!(status, 200);
    let partial = ExportTraceServiceResponse::decode(body.as_slice())
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    let msg = &partial.error_message;
    assert!(msg.starts_with("2 of 4 spans"), "{msg}");
    assert!(msg.contains("subject"), "{msg}");
    assert_eq!(d.size(), 1, "the good span is stored");
    assert_eq!(
        d.metric(r#"cairn_otlp_spans_total{outcome="rejected"}"#)
            .await,
        2.0
    );

    // The same in JSON: the answer is OTLP/JSON.
    let json = serde_json::to_vec(&export("billing", vec![chat(6, 1, vec![])])).unwrap();
    let (status, _, body) = post(&d, JSON, None, Some(TOKEN), json).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 1);
    let msg = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("collector may not write to stream \"billing\""),
        "{msg}"
    );
    assert_eq!(d.size(), 1);
    d.stop().await;
}

struct Bad {
    name: &'static str,
    content_type: &'static str,
    encoding: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    grpc: i32,
    message: &'static str,
}

fn bad_cases() -> Vec<Bad> {
    let good = export("svc", vec![chat(1, 1, vec![])]).encode_to_vec();
    let big = export("svc", vec![chat(1, 1, vec![s("pad", &"p".repeat(70_000))])]);
    vec![
        Bad {
            name: "truncated protobuf",
            content_type: PROTOBUF,
            encoding: None,
            body: good[..good.len() - 5].to_vec(),
            status: 400,
            grpc: 3,
            message: "invalid_otlp: the body is not an OTLP ExportTraceServiceRequest in protobuf",
        },
        Bad {
            name: "JSON that is not an export",
            content_type: JSON,
            encoding: None,
            body: br#"{"resourceSpans": 5}"#.to_vec(),
            status: 400,
            grpc: 3,
            message: "invalid_otlp: the body is not an OTLP ExportTraceServiceRequest in OTLP/JSON",
        },
        Bad {
            name: "wrong content type",
            content_type: "text/plain",
            encoding: None,
            body: good.clone(),
            status: 415,
            grpc: 3,
            message: "unsupported_media_type: Content-Type \"text/plain\" is not accepted",
        },
        Bad {
            name: "unknown content coding",
            content_type: PROTOBUF,
            encoding: Some("br"),
            body: good.clone(),
            status: 415,
            grpc: 3,
            message: "unsupported_media_type: Content-Encoding \"br\"",
        },
        Bad {
            name: "gzip header, not gzip",
            content_type: PROTOBUF,
            encoding: Some("gzip"),
            body: good,
            status: 400,
            grpc: 3,
            message: "invalid_otlp: the body is not valid gzip",
        },
        Bad {
            name: "body over body_bytes_max",
            content_type: PROTOBUF,
            encoding: None,
            body: big.encode_to_vec(),
            status: 413,
            grpc: 8,
            message: "body_too_large: the body is",
        },
        Bad {
            name: "gzip that decompresses over body_bytes_max",
            content_type: PROTOBUF,
            encoding: Some("gzip"),
            body: gzip(&big.encode_to_vec()),
            status: 413,
            grpc: 8,
            message: "body_too_large: the body decompresses to more than body_bytes_max",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_otlp_errors_and_store_nothing() {
    let d = start(Settings {
        body_bytes_max: Some(64 << 10),
        line_bytes_max: Some(32 << 10),
        ..Settings::default()
    })
    .await;
    for case in bad_cases() {
        let json = case.content_type == JSON;
        let (status, headers, body) =
            post(&d, case.content_type, case.encoding, None, case.body).await;
        assert_eq!(
            status,
            case.status,
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&body)
        );
        let status = match json || case.content_type == "text/plain" {
            true => {
                assert_eq!(headers["content-type"], JSON, "{}", case.name);
                let v: Value = serde_json::from_slice(&body).unwrap();
                RpcStatus {
                    code: v["code"].as_i64().unwrap() as i32,
                    message: v["message"].as_str().unwrap().to_owned(),
                }
            }
            false => {
                assert_eq!(headers["content-type"], PROTOBUF, "{}", case.name);
                RpcStatus::decode(body.as_slice()).unwrap()
            }
        };
        assert_eq!(status.code, case.grpc, "{}", case.name);
        assert!(
            status.message.starts_with(case.message),
            "{}: {:?}",
            case.name,
            status.message
        );
    }
    assert_eq!(d.size(), 0, "nothing stored");
    assert_eq!(
        d.metric(r#"cairn_rejects_total{reason="invalid_otlp"}"#)
            .await,
        3.0
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_token_is_refused_with_a_challenge() {
    let d = start(Settings {
        tokens: Some(vec![TokenConfig {
            name: None,
            sha256: hash_token("t"),
            write_streams: vec!["*".into()],
            read: false,
            admin: false,
            read_streams: vec![],
        }]),
        ..Settings::default()
    })
    .await;
    let body = export("svc", vec![chat(1, 1, vec![])]).encode_to_vec();
    let (status, headers, body) = post(&d, PROTOBUF, None, None, body).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(RpcStatus::decode(body.as_slice()).unwrap().code, 16);
    assert_eq!(d.size(), 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_may_write_nowhere_is_refused_whole() {
    // An exporter must not read a 200 for an export of which nothing could
    // ever be stored: it would drop the spans without a word.
    let d = start(Settings {
        tokens: Some(vec![TokenConfig {
            name: Some("dashboard".into()),
            sha256: hash_token("r"),
            write_streams: vec![],
            read: true,
            admin: false,
            read_streams: vec![],
        }]),
        ..Settings::default()
    })
    .await;
    let body = export("svc", vec![chat(1, 1, vec![])]).encode_to_vec();
    let (status, headers, body) = post(&d, PROTOBUF, None, Some("r"), body).await;
    assert_eq!(status, 403);
    assert_eq!(headers["content-type"], PROTOBUF);
    let rpc = RpcStatus::decode(body.as_slice()).unwrap();
    assert_eq!(rpc.code, 7, "PERMISSION_DENIED");
    assert!(
        rpc.message
            .contains("dashboard may not write to any stream"),
        "{rpc:?}"
    );
    assert_eq!(d.size(), 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_more_decisions_than_a_batch_may_hold_is_refused_whole() {
    let d = start(Settings {
        batch_len_max: Some(3),
        ..Settings::default()
    })
    .await;
    // Three decisions and any number of other spans are one batch.
    let three = (1..=3)
        .map(|n| chat(1, n, vec![]))
        .chain((4..=9).map(plain));
    let (status, _, body) = post(
        &d,
        PROTOBUF,
        None,
        None,
        export("svc", three.collect()).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(d.size(), 3);
    let four = (1..=4).map(|n| chat(2, n, vec![])).collect();
    let (status, _, body) = post(
        &d,
        PROTOBUF,
        None,
        None,
        export("svc", four).encode_to_vec(),
    )
    .await;
    assert_eq!(status, 413);
    let rpc = RpcStatus::decode(body.as_slice()).unwrap();
    assert!(
        rpc.message.starts_with(
            "batch_too_long: the export holds more than 3 model-decision spans (batch_len_max)"
        ),
        "{rpc:?}"
    );
    assert_eq!(d.size(), 3, "nothing of the refused export was stored");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_that_outlasts_the_request_timeout_is_told_so_in_its_encoding() {
    // The disk hangs: the export's body has arrived, so the answer is a
    // 503 an exporter retries, as a google.rpc.Status in protobuf.
    let gate = Arc::new(Gate::default());
    let d = start_with(
        FaultyDisk::gated(Arc::clone(&gate)),
        Settings {
            request_timeout_ms: Some(200),
            ..Settings::default()
        },
    )
    .await;
    gate.shut();
    let body = export("svc", vec![chat(1, 1, vec![])]).encode_to_vec();
    let (status, headers, body) = post(&d, PROTOBUF, None, None, body).await;
    assert_eq!(status, 503);
    assert_eq!(headers["content-type"], PROTOBUF);
    assert!(headers.contains_key("retry-after"));
    let rpc = RpcStatus::decode(body.as_slice()).unwrap();
    assert_eq!(rpc.code, 14, "UNAVAILABLE: {rpc:?}");
    assert!(rpc.message.starts_with("server_timeout: "), "{rpc:?}");
    gate.open();
    d.stop().await;
}
