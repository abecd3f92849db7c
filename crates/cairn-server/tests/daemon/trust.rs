//! Trust boundaries of the daemon: a signer that checks the tree against what
//! it signed before, read rights per stream, rights checked before a body
//! counts against the byte budget, and a bad request that fails only itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::checkpoint::{Checkpoint, NoteSigner};
use cairn_server::auth::hash_token;
use cairn_server::config::TokenConfig;
use cairn_server::Settings;
use cairn_store::MemoryBackend;
use serde_json::{json, Value};

use crate::support::{decision, start_with, FaultyDisk, Gate, TestDaemon, ORIGIN};

/// Wait (bounded) until `done` holds.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn token(name: &str, write: &[&str], read: &[&str]) -> TokenConfig {
    TokenConfig {
        name: Some(name.into()),
        sha256: hash_token(name),
        write_streams: write.iter().map(|s| s.to_string()).collect(),
        read_streams: read.iter().map(|s| s.to_string()).collect(),
        read: false,
        admin: false,
    }
}

/// GET with an optional bearer token: status and JSON body.
async fn get(d: &TestDaemon, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = d.client.get(d.url(path));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POST a replay record: status and body.
async fn post_replay(d: &TestDaemon, record: Value) -> (u16, String) {
    let r = d
        .client
        .post(d.url("/v1/replays"))
        .json(&record)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn replay_record(candidate: &str, selection: Value) -> Value {
    json!({
        "candidate": candidate, "candidate_model": {"name": "fraud", "version": "9"},
        "selection": selection, "selected": 1, "replayed": 1, "errors": 0,
        "results_digest": "00".repeat(32),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_that_contradicts_the_last_signed_checkpoint_is_never_signed() {
    let d = start_with(MemoryBackend::new(), Settings::default()).await;
    assert_eq!(d.post_json(&decision(0)).await.status, 200);
    assert_eq!(d.post_json(&decision(1)).await.status, 200);
    d.checkpoint_at(2).await;
    // What the ledger signed at size 2 no longer matches its stored tree, as
    // when stored tree nodes are altered: stored through the Ledger API, so
    // the test does not depend on how the tree is laid out on disk.
    let signer = NoteSigner::new(ORIGIN, &[7; 32]).unwrap();
    let other_history = signer.sign_checkpoint(&Checkpoint {
        origin: ORIGIN.into(),
        size: 2,
        root: [0xee; 32],
        extensions: vec![],
    });
    let ledger = d.ledger.clone().unwrap();
    ledger.put_checkpoint(2, &other_history).unwrap();

    assert_eq!(d.post_json(&decision(2)).await.status, 200);
    let dr = &d;
    until("the next checkpoint is refused", move || async move {
        dr.get("/readyz").await.status == 503
    })
    .await;
    let ready = d.get("/readyz").await.json();
    let reason = ready["reason"].as_str().unwrap();
    assert!(
        reason.contains("refusing to sign a checkpoint")
            && reason.contains("not a consistent extension of the signed checkpoint of size 2"),
        "{ready}"
    );
    let r = d.post_json(&decision(3)).await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (503, Some("poisoned"))
    );
    assert_eq!(
        ledger.latest_checkpoint().unwrap().unwrap().0,
        2,
        "nothing signed"
    );
    assert_eq!(d.size(), 3);
    assert_eq!(d.get("/v1/entries/2").await.status, 200, "reads go on");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_read_per_stream_and_checkpoints_and_proofs_are_public() {
    let d = start_with(
        MemoryBackend::new(),
        Settings {
            tokens: Some(vec![
                token("writer", &["*"], &[]),
                token("payments-reader", &[], &["payments.*"]),
                token("auditor", &[], &["*"]),
            ]),
            ..Settings::default()
        },
    )
    .await;
    let hr = decision(1).replace("payments.fraud", "hr.hiring");
    for body in [decision(0), hr] {
        let r = d
            .post("application/json", Some("writer"), body.into_bytes())
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    d.checkpoint_at(2).await;
    assert_eq!(
        get(&d, "/v1/entries/0", Some("payments-reader")).await.0,
        200
    );
    let (status, body) = get(&d, "/v1/entries/1", Some("payments-reader")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("may not read entry 1") && body.contains("\\\"hr.hiring\\\""),
        "{body}"
    );
    assert_eq!(get(&d, "/v1/entries/1", Some("auditor")).await.0, 200);
    assert_eq!(get(&d, "/v1/entries/0", Some("writer")).await.0, 403);
    assert_eq!(get(&d, "/v1/entries/0", None).await.0, 401);
    // Hashes only: anyone may fetch them.
    for path in [
        "/v1/checkpoint",
        "/v1/proofs/inclusion?seq=1",
        "/v1/proofs/consistency?from=1",
    ] {
        let (status, body) = get(&d, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_may_write_nothing_is_refused_before_its_body_counts() {
    let gate = Arc::new(Gate::default());
    let d = start_with(
        FaultyDisk::gated(Arc::clone(&gate)),
        Settings {
            body_bytes_max: Some(8192),
            line_bytes_max: Some(8192),
            queue_bytes_max: Some(8192),
            tokens: Some(vec![
                token("writer", &["*"], &[]),
                token("auditor", &[], &["*"]),
            ]),
            ..Settings::default()
        },
    )
    .await;
    // A writer's batch holds part of the budget while the disk hangs.
    let batch: String = (0..3).map(|i| decision(i) + "\n").collect();
    gate.shut();
    let client = d.client.clone();
    let url = d.url("/v1/decisions");
    let writer = tokio::spawn(async move {
        let r = client
            .post(url)
            .bearer_auth("writer")
            .header("content-type", "application/x-ndjson")
            .body(batch)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    });
    let (g, w) = (&gate, &writer);
    until("the batch waits in the disk", move || async move {
        g.waiting() >= 1 || w.is_finished()
    })
    .await;
    assert!(!writer.is_finished(), "{:?}", writer.await);
    // The auditor's decision would hold more than is left (twice its bytes
    // and a fixed cost per decision), so counting its body would refuse it
    // for a full queue.
    let free = 8192.0 - d.metric("cairn_admitted_bytes").await;
    let body = serde_json::json!({
        "stream": "s", "model": {"name": "m", "version": "1"},
        "input": {"pad": "x".repeat(3000)}, "output": 1,
    })
    .to_string();
    assert!((2 * body.len() + 1536) as f64 > free, "{free} bytes left");
    // A token with no write rights is told so, not that the queue is full.
    let r = d
        .post("application/json", Some("auditor"), body.into_bytes())
        .await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("forbidden")),
        "{r:?}"
    );
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("auditor may not write"));
    gate.open();
    assert_eq!(writer.await.unwrap(), 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_record_out_of_bounds_is_refused_and_fails_no_other_request() {
    let gate = Arc::new(Gate::default());
    let d = Arc::new(start_with(FaultyDisk::gated(Arc::clone(&gate)), Settings::default()).await);
    gate.shut();
    // The first append waits in the disk; what comes next queues behind it and
    // is committed as one group.
    let post = |body: String| {
        let d = Arc::clone(&d);
        tokio::spawn(async move { d.post_json(&body).await.status })
    };
    let first = post(decision(0));
    let dr = &*d;
    until("the first append is being written", move || async move {
        dr.metric("cairn_admitted_bytes").await > 0.0
            && dr.metric("cairn_queue_requests").await == 0.0
    })
    .await;
    let second = post(decision(1));
    let huge = replay_record(
        "cairn-candidate --version v2",
        json!({"note": "x".repeat(100_000)}),
    );
    let replay = {
        let d = Arc::clone(&d);
        tokio::spawn(async move { post_replay(&d, huge).await })
    };
    let refused = &replay;
    until("both wait, or the replay record was refused", move || async move {
        refused.is_finished() || dr.metric("cairn_queue_requests").await >= 2.0
    })
    .await;
    gate.open();
    let (status, body) = replay.await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("selection must be at most"), "{body}");
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(
        second.await.unwrap(),
        200,
        "a bad neighbour fails only itself"
    );
    assert_eq!(d.size(), 2);

    for (record, why) in [
        (
            replay_record("cmd\u{7}", json!({})),
            "candidate must not contain control characters",
        ),
        (
            replay_record(&"c".repeat(4097), json!({})),
            "candidate must be 1 to 4096 bytes",
        ),
        (
            replay_record("cmd", json!({"k\u{85}": 1})),
            "selection must not contain control",
        ),
    ] {
        let (status, body) = post_replay(&d, record).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(why), "{body}");
    }
    // A body larger than any replay record can be is refused before it is
    // parsed.
    let (status, body) = post_replay(
        &d,
        replay_record("cmd", json!({"note": "x".repeat(2 << 20)})),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body.contains("a replay record is at most 262144 bytes"),
        "{body}"
    );
    let mut bad_model = replay_record("cmd", json!({}));
    bad_model["candidate_model"]["version"] = json!("");
    let (status, body) = post_replay(&d, bad_model).await;
    assert!(
        status == 400 && body.contains("candidate_model.version"),
        "{body}"
    );
    assert_eq!(d.size(), 2);
    let Ok(d) = Arc::try_unwrap(d) else {
        panic!("a request still holds the daemon")
    };
    d.stop().await;
}
