//! The connection limits, over raw sockets: at most `connections_max` served at
//! once (the rest wait in the listen backlog), a client that sends no headers
//! is dropped after `header_read_timeout_ms`, and a chunked body (no
//! `Content-Length`) is held to `body_bytes_max` as it arrives.

use std::time::Duration;

use cairn_server::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{start, TestDaemon};

async fn connect(d: &TestDaemon) -> TcpStream {
    TcpStream::connect(d.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Send one keep-alive `GET /healthz` and read its answer (small, so one read
/// of the headers and body is enough for these tests).
async fn health(s: &mut TcpStream) -> String {
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_connections_max_a_client_waits_until_a_connection_closes() {
    let d = start(Settings {
        connections_max: Some(2),
        ..Settings::default()
    })
    .await;
    let mut first = connect(&d).await;
    let mut second = connect(&d).await;
    assert!(health(&mut first).await.starts_with("HTTP/1.1 200"));
    assert!(health(&mut second).await.starts_with("HTTP/1.1 200"));

    let mut third = connect(&d).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let early = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a third connection is not served while two are open"
    );

    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buf))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop((second, third));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_no_headers_is_dropped_and_frees_its_slot() {
    let d = start(Settings {
        connections_max: Some(1),
        header_read_timeout_ms: Some(200),
        ..Settings::default()
    })
    .await;
    let mut silent = connect(&d).await;
    silent.write_all(b"GET /healthz HT").await.unwrap();
    let mut buf = [0u8; 256];
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf))
        .await
        .expect("the daemon closes the connection");
    assert!(
        matches!(closed, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).contains("408"),
        "closed or answered 408: {closed:?}"
    );
    let mut next = connect(&d).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), health(&mut next))
        .await
        .expect("the slot was freed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_body_bytes_max_is_413_and_stores_nothing() {
    let d = start(Settings {
        body_bytes_max: Some(1000),
        line_bytes_max: Some(1000),
        ..Settings::default()
    })
    .await;
    let line = crate::support::decision(0);
    let body = format!("{line}\n").repeat(2000 / line.len() + 1);
    let mut s = connect(&d).await;
    let mut request = String::from(
        "POST /v1/decisions HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
    );
    for chunk in body.as_bytes().chunks(300) {
        request.push_str(&format!("{:x}\r\n", chunk.len()));
        request.push_str(std::str::from_utf8(chunk).unwrap());
        request.push_str("\r\n");
    }
    request.push_str("0\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert!(answer.contains("body_bytes_max (1000 bytes)"), "{answer}");
    assert_eq!(d.size(), 0);
    d.stop().await;
}
