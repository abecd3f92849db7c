//! Bad input, table-driven: each case gets its documented status, code and
//! message, and the ledger is unchanged afterwards.

use cairn_server::auth::hash_token;
use cairn_server::config::TokenConfig;
use cairn_server::Settings;
use serde_json::Value;

use crate::support::{decision, start};

const WRITER: &str = "writer-secret";
const READER: &str = "reader-secret";

fn settings() -> Settings {
    Settings {
        body_bytes_max: Some(8192),
        line_bytes_max: Some(2048),
        queue_bytes_max: Some(1 << 20),
        batch_len_max: Some(4),
        tokens: Some(vec![
            TokenConfig {
                name: Some("payments-writer".into()),
                sha256: hash_token(WRITER),
                write_streams: vec!["payments.*".into()],
                read_streams: vec![],
                read: false,
                admin: false,
            },
            TokenConfig {
                name: Some("auditor".into()),
                sha256: hash_token(READER),
                write_streams: vec![],
                read_streams: vec![],
                read: true,
                admin: false,
            },
        ]),
        ..Settings::default()
    }
}

struct Case {
    name: &'static str,
    content_type: &'static str,
    token: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    message: &'static str,
    /// Line numbers reported, for batches.
    lines: &'static [u64],
}

fn ok() -> String {
    decision(1)
}

fn with(field: &str, value: &str) -> String {
    ok().replacen('{', &format!("{{\"{field}\":{value},"), 1)
}

fn cases() -> Vec<Case> {
    let json = "application/json";
    let ndjson = "application/x-ndjson";
    let w = Some(WRITER);
    let case = |name, content_type, token, body: Vec<u8>, status, code, message, lines| Case {
        name,
        content_type,
        token,
        body,
        status,
        code,
        message,
        lines,
    };
    let mut invalid_utf8 = ok().into_bytes();
    invalid_utf8.splice(12..12, [0xff, 0xfe]);
    let mut utf8_line = format!("{}\n", ok()).into_bytes();
    utf8_line.extend_from_slice(&invalid_utf8);
    let other_stream = ok().replace("payments.fraud", "hr.hiring");
    // Each field within its own limit, the whole over line_bytes_max.
    let long_line = with("subject", &format!("\"{}\"", "x".repeat(1000))).replacen(
        '{',
        &format!("{{\"session\":\"{}\",", "y".repeat(1000)),
        1,
    );
    vec![
        case(
            "malformed JSON",
            json,
            w,
            b"{\"stream\":".to_vec(),
            400,
            "invalid_decision",
            "EOF",
            &[],
        ),
        case(
            "unknown field",
            json,
            w,
            with("colour", "\"red\"").into_bytes(),
            400,
            "invalid_decision",
            "unknown field `colour`",
            &[],
        ),
        case(
            "missing field",
            json,
            w,
            br#"{"stream":"payments.x","input":1,"output":2}"#.to_vec(),
            400,
            "invalid_decision",
            "missing field `model`",
            &[],
        ),
        case(
            "wrong type",
            json,
            w,
            ok().replace("\"payments.fraud\"", "42").into_bytes(),
            400,
            "invalid_decision",
            "invalid type: integer `42`, expected a string",
            &[],
        ),
        case(
            "invalid UTF-8",
            json,
            w,
            invalid_utf8.clone(),
            400,
            "invalid_utf8",
            "not valid UTF-8",
            &[],
        ),
        case(
            "invalid UTF-8 on a line",
            ndjson,
            w,
            utf8_line,
            400,
            "invalid_batch",
            "1 of 2 lines rejected (first: line 2: not valid UTF-8",
            &[2],
        ),
        case(
            "one bad line rejects the batch",
            ndjson,
            w,
            format!("{}\n{}\n{{\"stream\":1}}\n", ok(), ok()).into_bytes(),
            400,
            "invalid_batch",
            "1 of 3 lines rejected (first: line 3",
            &[3],
        ),
        case(
            "oversized body",
            ndjson,
            w,
            vec![b' '; 9000],
            413,
            "body_too_large",
            "over body_bytes_max (8192 bytes)",
            &[],
        ),
        case(
            "oversized line",
            ndjson,
            w,
            format!("{}\n{long_line}\n", ok()).into_bytes(),
            413,
            "decision_too_large",
            "line 2: the line is",
            &[2],
        ),
        case(
            "oversized single decision",
            json,
            w,
            long_line.clone().into_bytes(),
            413,
            "decision_too_large",
            "over line_bytes_max (2048 bytes)",
            &[],
        ),
        case(
            "batch too long",
            ndjson,
            w,
            format!("{0}\n{0}\n{0}\n{0}\n{0}\n", ok()).into_bytes(),
            413,
            "batch_too_long",
            "more than batch_len_max (4)",
            &[],
        ),
        case(
            "empty batch",
            ndjson,
            w,
            b"\n\n  \n".to_vec(),
            400,
            "empty_batch",
            "holds no decision",
            &[],
        ),
        case(
            "missing token",
            json,
            None,
            ok().into_bytes(),
            401,
            "unauthorized",
            "missing bearer token",
            &[],
        ),
        case(
            "wrong token",
            json,
            Some("guess"),
            ok().into_bytes(),
            401,
            "unauthorized",
            "unknown bearer token",
            &[],
        ),
        case(
            "token without rights to the stream",
            json,
            w,
            other_stream.clone().into_bytes(),
            403,
            "forbidden",
            "payments-writer may not write to stream \"hr.hiring\"",
            &[],
        ),
        case(
            "one forbidden line rejects the batch",
            ndjson,
            w,
            format!("{}\n{other_stream}\n", ok()).into_bytes(),
            403,
            "forbidden",
            "1 of 2 decisions are on streams payments-writer may not write to",
            &[2],
        ),
        case(
            "read-only token",
            json,
            Some(READER),
            ok().into_bytes(),
            403,
            "forbidden",
            "auditor may not write",
            &[],
        ),
        case(
            "wrong content type",
            "text/plain",
            w,
            ok().into_bytes(),
            415,
            "unsupported_media_type",
            "send application/json",
            &[],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_its_status_and_message_and_stores_nothing() {
    let d = start(settings()).await;
    for c in cases() {
        let r = d.post(c.content_type, c.token, c.body).await;
        assert_eq!(r.status, c.status, "{}: {r:?}", c.name);
        let v = r.json();
        assert_eq!(v["code"], c.code, "{}: {v}", c.name);
        let error = v["error"].as_str().unwrap();
        assert!(
            error.contains(c.message),
            "{}: {error:?} lacks {:?}",
            c.name,
            c.message
        );
        let lines: Vec<u64> = v["lines"]
            .as_array()
            .map(|a| a.iter().map(|l| l["line"].as_u64().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(lines, c.lines, "{}: {v}", c.name);
        if c.status == 401 {
            assert!(r.headers.contains_key("www-authenticate"), "{}", c.name);
        }
        assert_eq!(d.size(), 0, "{}: the ledger changed", c.name);
    }
    // The same daemon takes good input from the right token.
    let r = d
        .post("application/json", Some(WRITER), ok().into_bytes())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(d.size(), 1);
    // Reading an entry needs read rights to its stream.
    let r = d
        .client
        .get(d.url("/v1/entries/0"))
        .bearer_auth(WRITER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("may not read entry 0"),
        "{v}"
    );
    let r = d
        .client
        .get(d.url("/v1/entries/0"))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        d.metric("cairn_rejects_total{reason=\"unauthorized\"}")
            .await,
        2.0
    );
    assert_eq!(
        d.metric("cairn_rejects_total{reason=\"forbidden\"}").await,
        4.0
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_read_parameters_are_400_or_404_with_json() {
    let d = start(Settings::default()).await;
    for (path, status, code, message) in [
        (
            "/v1/checkpoint",
            404,
            "no_checkpoint",
            "no checkpoint has been signed yet",
        ),
        ("/v1/entries/0", 404, "not_found", "seq 0 is out of range"),
        ("/v1/entries/abc", 400, "bad_request", "Cannot parse"),
        (
            "/v1/proofs/inclusion",
            400,
            "bad_request",
            "missing field `seq`",
        ),
        (
            "/v1/proofs/inclusion?seq=0&size=5",
            404,
            "not_found",
            "tree size 5 is larger than the ledger (0 entries)",
        ),
        (
            "/v1/proofs/consistency?from=x",
            400,
            "bad_request",
            "invalid digit",
        ),
        ("/v1/nothing", 404, "not_found", "no route GET /v1/nothing"),
    ] {
        let r = d.get(path).await;
        assert_eq!(r.status, status, "{path}: {r:?}");
        let v = r.json();
        assert_eq!(v["code"], code, "{path}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains(message),
            "{path}: {v}"
        );
    }
    let r = d
        .client
        .delete(d.url("/v1/decisions"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    d.stop().await;
}
