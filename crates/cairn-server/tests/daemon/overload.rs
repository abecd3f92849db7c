//! Saturation and failure: a full queue answers 429 with Retry-After instead of
//! buffering; a failed write answers 503, refuses appends, keeps serving reads.

use std::sync::Arc;
use std::time::Duration;

use cairn_server::Settings;
use cairn_store::MemoryBackend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{decision, start, start_with, FaultyDisk, Gate, TestDaemon};

/// Fire `n` single appends at once; return (status, Retry-After, code, seq) of each.
async fn burst(d: &TestDaemon, n: usize) -> Vec<(u16, Option<String>, String, Option<u64>)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let req = d
            .client
            .post(d.url("/v1/decisions"))
            .header("content-type", "application/json")
            .body(decision(i));
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let v: serde_json::Value = r.json().await.unwrap();
            let code = v["code"].as_str().unwrap_or("").to_owned();
            (status, retry, code, v["seq"].as_u64())
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn check_overload(d: TestDaemon) {
    let results = burst(&d, 40).await;
    let accepted: Vec<u64> = results.iter().filter_map(|r| r.3).collect();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert!(!refused.is_empty(), "no 429 under overload: {results:?}");
    for r in &refused {
        assert_eq!(r.1.as_deref(), Some("1"), "429 without Retry-After: {r:?}");
        assert_eq!(r.2, "queue_full");
    }
    assert_eq!(
        accepted.len() + refused.len(),
        40,
        "only 200 or 429: {results:?}"
    );
    assert_eq!(
        d.size(),
        accepted.len() as u64,
        "every receipt is an entry, nothing more"
    );
    assert_eq!(
        d.metric("cairn_rejects_total{reason=\"queue_full\"}").await,
        refused.len() as f64
    );
    assert_eq!(
        d.metric("cairn_admitted_bytes").await,
        0.0,
        "answered requests give their bytes back"
    );
    let r = d.post_json(&decision(99)).await;
    assert_eq!(
        r.status, 200,
        "the daemon recovers once the burst is over: {r:?}"
    );
    d.stop().await;
}

fn slow() -> FaultyDisk {
    FaultyDisk::slow(Duration::from_millis(50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_request_queue_answers_429_with_retry_after() {
    let d = start_with(
        slow(),
        Settings {
            queue_requests_max: Some(1),
            ..Settings::default()
        },
    )
    .await;
    check_overload(d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_byte_budget_answers_429_with_retry_after() {
    let d = start_with(
        slow(),
        Settings {
            body_bytes_max: Some(1024),
            line_bytes_max: Some(1024),
            // A decision of this test holds about 1.3 KB while it is parsed
            // and prepared: three at a time.
            queue_bytes_max: Some(4096),
            ..Settings::default()
        },
    )
    .await;
    check_overload(d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_refuses_appends_with_503_and_keeps_serving_reads() {
    let memory = Arc::new(MemoryBackend::new());
    let d = start_with(Arc::clone(&memory), Settings::default()).await;
    assert_eq!(d.post_json(&decision(0)).await.status, 200);
    assert_eq!(d.get("/readyz").await.status, 200);

    memory.fail_writes("disk on fire");
    let r = d.post_json(&decision(1)).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.json()["code"], "poisoned");
    assert!(r.headers.contains_key("retry-after"));
    assert!(
        r.json()["error"].as_str().unwrap().contains("disk on fire"),
        "{r:?}"
    );

    let ready = d.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.json()["reason"]
            .as_str()
            .unwrap()
            .contains("disk on fire"),
        "{ready:?}"
    );
    let r = d.post_json(&decision(2)).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (503, Some("poisoned"))
    );

    assert_eq!(d.get("/healthz").await.status, 200);
    let e = d.get("/v1/entries/0").await;
    assert_eq!(e.status, 200, "reads go on: {e:?}");
    assert_eq!(d.metric("cairn_poisoned").await, 1.0);
    assert_eq!(d.size(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_be_stored_refuses_appends_and_says_why() {
    // Appends are stored; the checkpoint that follows cannot be.
    let d = start_with(FaultyDisk::no_checkpoints(), Settings::default()).await;
    assert_eq!(d.post_json(&decision(0)).await.status, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let r = d.get("/readyz").await;
        if r.status != 200 || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready.status, 503, "{ready:?}");
    let reason = ready.json()["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("storing a checkpoint") && reason.contains("disk on fire"),
        "{ready:?}"
    );
    let r = d.post_json(&decision(1)).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (503, Some("poisoned"))
    );
    assert_eq!(d.get("/v1/entries/0").await.status, 200, "reads go on");
    assert_eq!(d.metric("cairn_poisoned").await, 1.0);
    assert!(d.metric("cairn_checkpoint_failures_total").await >= 1.0);
    assert_eq!(d.size(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_turned_away_for_a_full_budget_still_gets_its_answer() {
    // Bodies of 2.4 MB, which hold 4.8 MB while they are parsed and
    // prepared, against a budget of 6 MB: most of 16 at once are refused while
    // their bodies are still arriving. Each client must read a 429 with
    // Retry-After (or a receipt), never a connection reset.
    let d = start(Settings {
        queue_bytes_max: Some(6 << 20),
        body_bytes_max: Some(3 << 20),
        ..Settings::default()
    })
    .await;
    let pad = "x".repeat(100_000);
    let mut tasks = Vec::new();
    for r in 0..16 {
        let lines: Vec<String> = (0..24)
            .map(|i| {
                serde_json::json!({
                    "stream": "s", "model": {"name": "m", "version": "1"},
                    "input": {"pad": pad, "r": r, "i": i}, "output": {"ok": true},
                })
                .to_string()
            })
            .collect();
        let req = d
            .client
            .post(d.url("/v1/decisions"))
            .header("content-type", "application/x-ndjson")
            .body(lines.join("\n") + "\n");
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.map_err(|e| format!("{e:?}"))?;
            let retry = r.headers().contains_key("retry-after");
            Ok::<_, String>((r.status().as_u16(), retry))
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, retry) = t.await.unwrap().expect("every request gets an answer");
        assert!(status == 200 || (status == 429 && retry), "{status}");
        statuses.push(status);
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    let accepted = statuses.iter().filter(|&&s| s == 200).count() as u64;
    assert_eq!(d.size(), 24 * accepted);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_but_not_sent_holds_no_more_than_its_first_bytes() {
    // Four clients declare 3 MB bodies against a 6 MB budget and send
    // nothing more: bytes are held as they arrive (each request holds only
    // its buffer's first 64 KiB), so a decision sent meanwhile is admitted.
    let d = start(Settings {
        queue_bytes_max: Some(6 << 20),
        body_bytes_max: Some(3 << 20),
        ..Settings::default()
    })
    .await;
    let addr = d.url("").trim_start_matches("http://").to_owned();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/decisions HTTP/1.1\r\nhost: cairn\r\n\
             content-type: application/x-ndjson\r\ncontent-length: {}\r\n\r\n{{",
            3 << 20
        );
        s.write_all(head.as_bytes()).await.unwrap();
        stalled.push(s);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut held = d.metric("cairn_admitted_bytes").await;
    while held != (4 << 16) as f64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        held = d.metric("cairn_admitted_bytes").await;
    }
    assert_eq!(
        held,
        (4 << 16) as f64,
        "four stalled bodies hold 64 KiB each"
    );
    let r = d.post_json(&decision(0)).await;
    assert_eq!(r.status, 200, "{r:?}");
    drop(stalled);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_append_holds_its_bytes_until_it_is_written() {
    // The request times out (503: its body had arrived) while its decisions
    // wait for a disk that hangs; they are still in memory, so the byte
    // budget must go on counting them until the disk lets the write through.
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
    let r = d.post_json(&decision(0)).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (503, Some("server_timeout")),
        "{r:?}"
    );
    assert!(r.headers.contains_key("retry-after"), "{r:?}");
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("retry it with the same idempotency_key"),
        "{r:?}"
    );
    let held = d.metric("cairn_admitted_bytes").await;
    assert!(
        held >= decision(0).len() as f64,
        "the queued request's bytes are still counted: {held}"
    );
    gate.open();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while d.metric("cairn_admitted_bytes").await > 0.0 {
        assert!(std::time::Instant::now() < deadline, "never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(d.size(), 1, "the timed-out append was stored all the same");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_times_out_with_408_and_stores_nothing() {
    let d = start(Settings {
        request_timeout_ms: Some(200),
        ..Settings::default()
    })
    .await;
    let addr = d.url("").trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let line = decision(0);
    let head = format!(
        "POST /v1/decisions HTTP/1.1\r\nhost: cairn\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        line.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&line.as_bytes()[..10]).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("}") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(answer.contains("body did not arrive"), "{answer}");
    assert_eq!(d.size(), 0);
    d.stop().await;
}

/// A batch of `n` of the smallest decisions: its bytes are a small part of
/// what it holds in memory once parsed and prepared.
fn tiny_batch(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"stream\":\"s\",\"model\":{{\"name\":\"m\",\"version\":\"1\"}},\"input\":{i},\"output\":1}}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_counted_by_what_it_holds_not_by_its_bytes() {
    let budget = 64 << 10;
    let gate = Arc::new(Gate::default());
    let d = start_with(
        FaultyDisk::gated(Arc::clone(&gate)),
        Settings {
            queue_bytes_max: Some(budget),
            body_bytes_max: Some(budget),
            line_bytes_max: Some(budget),
            ..Settings::default()
        },
    )
    .await;
    // 100 decisions in 7 KB of NDJSON would hold far more than 64 KiB while
    // parsed and prepared: refused as too large for the budget, nothing stored.
    let big = tiny_batch(100);
    assert!(big.len() < 8 << 10);
    let r = d.post("application/x-ndjson", None, big.into_bytes()).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (413, Some("body_too_large")),
        "{r:?}"
    );
    let error = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("queue_bytes_max") && error.contains("smaller batches"),
        "{error}"
    );
    assert_eq!(d.size(), 0);

    // 20 of them fit; while their write waits in the disk, the budget counts
    // the prepared appends, several times the batch's bytes.
    gate.shut();
    let small = tiny_batch(20);
    let body_len = small.len();
    let writer = {
        let req = d
            .client
            .post(d.url("/v1/decisions"))
            .header("content-type", "application/x-ndjson")
            .body(small);
        tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gate.waiting() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never reached the disk"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let held = d.metric("cairn_admitted_bytes").await as usize;
    let appends = 20 * std::mem::size_of::<cairn_store::Append>();
    assert!(
        held >= appends && held > 3 * body_len,
        "{held} bytes counted for a batch of {body_len} bytes whose appends alone are {appends}"
    );
    assert!(held <= budget);
    gate.open();
    assert_eq!(writer.await.unwrap(), 200);
    assert_eq!(
        d.metric("cairn_admitted_bytes").await,
        0.0,
        "given back once answered"
    );
    assert_eq!(d.size(), 20);
    d.stop().await;
}
