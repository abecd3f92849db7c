//! Appends: single and NDJSON, receipts in order, idempotency, group commit.

use std::time::Duration;

use cairn_server::Settings;
use serde_json::json;

use crate::support::{decision, reopen, start, start_with, FaultyDisk};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_decision_gets_a_receipt_matching_the_stored_entry() {
    let d = start(Settings::default()).await;
    let r = d.post_json(&decision(1)).await;
    assert_eq!(r.status, 200, "{r:?}");
    let receipt = r.json();
    assert_eq!(receipt["seq"], 0);
    assert_eq!(receipt["duplicate"], false);
    let leaf = receipt["leaf_hash"].as_str().unwrap().to_owned();
    assert_eq!(leaf.len(), 64);

    let e = d.get("/v1/entries/0").await.json();
    assert_eq!(e["kind"], "decision");
    assert_eq!(e["stream"], "payments.fraud");
    assert_eq!(e["request_id"], "req-1");
    assert_eq!(e["input"], json!({"amount": 1, "currency": "EUR"}));
    assert_eq!(e["output"], json!({"approve": false}));
    assert_eq!(e["receipt"]["leaf_hash"], leaf.as_str());

    let dir = d.stop().await;
    let ledger = reopen(dir.path());
    assert_eq!(ledger.size(), 1);
    assert_eq!(hex::encode(ledger.entry(0).unwrap().leaf_hash()), leaf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ndjson_batch_gets_receipts_in_line_order() {
    let d = start(Settings::default()).await;
    d.post_json(&decision(100)).await;
    let lines: Vec<String> = (0..5).map(decision).collect();
    let r = d.post_ndjson(&lines).await;
    assert_eq!(r.status, 200, "{r:?}");
    let receipts = r.json()["receipts"].as_array().unwrap().clone();
    assert_eq!(receipts.len(), 5);
    for (i, receipt) in receipts.iter().enumerate() {
        let seq = receipt["seq"].as_u64().unwrap();
        assert_eq!(seq, 1 + i as u64, "receipts follow the lines");
        let e = d.get(&format!("/v1/entries/{seq}")).await.json();
        assert_eq!(e["request_id"], format!("req-{i}"));
        assert_eq!(e["receipt"]["leaf_hash"], receipt["leaf_hash"]);
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_idempotency_key_returns_the_first_receipt() {
    let d = start(Settings::default()).await;
    let with_key = |i: usize, key: &str| {
        let mut v: serde_json::Value = serde_json::from_str(&decision(i)).unwrap();
        v["idempotency_key"] = json!(key);
        v.to_string()
    };
    let first = d.post_json(&with_key(1, "k-1")).await.json();
    assert_eq!(first["duplicate"], false);
    let retry = d.post_json(&with_key(1, "k-1")).await.json();
    assert_eq!(retry["seq"], first["seq"]);
    assert_eq!(retry["leaf_hash"], first["leaf_hash"]);
    assert_eq!(retry["duplicate"], true);
    assert_eq!(d.size(), 1, "the retry appended nothing");

    // Within one batch, and a batch retried whole.
    let batch = vec![with_key(2, "k-2"), with_key(2, "k-2"), with_key(3, "k-3")];
    let r1 = d.post_ndjson(&batch).await.json();
    let seqs: Vec<_> = r1["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 1, 2]);
    let r2 = d.post_ndjson(&batch).await.json();
    assert_eq!(
        r2["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        seqs
    );
    assert!(r2["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["duplicate"] == true));
    assert_eq!(d.size(), 3);
    assert_eq!(d.metric("cairn_duplicate_entries_total").await, 5.0);
    d.stop().await;
}

async fn concurrent_singles(d: &crate::support::TestDaemon, n: usize) -> Vec<u64> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let client = d.client.clone();
        let url = d.url("/v1/decisions");
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(decision(i))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: serde_json::Value = r.json().await.unwrap();
            v["seq"].as_u64().unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_group_commits() {
    // A disk where each write takes 20 ms: while one commit is on disk, the
    // other requests queue and must go into the next commit together.
    let slow = FaultyDisk::slow(Duration::from_millis(20));
    let d = start_with(slow, Settings::default()).await;
    let seqs = concurrent_singles(&d, 64).await;
    assert_eq!(
        seqs,
        (0..64).collect::<Vec<u64>>(),
        "every request got its own seq"
    );
    assert_eq!(d.metric("cairn_append_requests_total").await, 64.0);
    let commits = d.metric("cairn_commits_total").await;
    assert!(
        commits <= 16.0,
        "64 requests took {commits} commits: not grouped"
    );
    assert_eq!(d.metric("cairn_commit_requests_sum").await, 64.0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_on_rocksdb_all_land_with_no_more_commits_than_requests() {
    let d = start(Settings::default()).await;
    let seqs = concurrent_singles(&d, 48).await;
    assert_eq!(seqs, (0..48).collect::<Vec<u64>>());
    let commits = d.metric("cairn_commits_total").await;
    assert!((1.0..=48.0).contains(&commits), "{commits}");
    let dir = d.stop().await;
    assert_eq!(reopen(dir.path()).size(), 48);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_shows_which_redaction_erased_which_payload_and_damage_as_damage() {
    use cairn_core::entry::{PayloadSlot, RedactionV1};
    use cairn_store::pieces::Slot;
    use cairn_store::{tamper, Append};

    let d = start(Settings::default()).await;
    let lines: Vec<String> = (0..3).map(decision).collect();
    assert_eq!(d.post_ndjson(&lines).await.status, 200);
    let dir = d.stop().await;
    {
        // Erase seq 0's input (as `cairn redact` does), and lose seq 1's output
        // below the API (as a damaged disk would).
        let ledger = reopen(dir.path());
        let red = RedactionV1 {
            target_seq: 0,
            slots: vec![PayloadSlot::Input],
            reason: "GDPR request 9".into(),
            actor: "dpo@example.com".into(),
        };
        ledger.append(vec![Append::Redaction(red)], 1).unwrap();
        tamper::set_payload(&ledger, 1, PayloadSlot::Output, Slot::None).unwrap();
    }
    let d = crate::support::start_in(dir, Settings::default()).await;
    let e = d.get("/v1/entries/0").await.json();
    assert_eq!(e["input"], json!({"erased_by": [3]}));
    assert_eq!(
        e["output"],
        json!({"approve": true}),
        "only the input was erased"
    );

    let r = d.get("/v1/entries/1").await;
    assert_eq!(r.status, 500, "{r:?}");
    let msg = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("output payload of seq 1 is missing and no redaction erased it")
            && msg.contains("cairn verify"),
        "{msg}"
    );
    assert_eq!(d.get("/v1/entries/2").await.status, 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_appends_batch_sizes_and_fsync_time() {
    let d = start(Settings::default()).await;
    let lines: Vec<String> = (0..5).map(decision).collect();
    assert_eq!(d.post_ndjson(&lines).await.status, 200);
    assert_eq!(d.post_json(&decision(9)).await.status, 200);
    assert_eq!(d.metric("cairn_appended_entries_total").await, 6.0);
    assert_eq!(d.metric("cairn_append_requests_total").await, 2.0);
    assert_eq!(d.metric("cairn_request_entries_count").await, 2.0);
    assert_eq!(d.metric("cairn_request_entries_sum").await, 6.0);
    assert_eq!(d.metric("cairn_ledger_size").await, 6.0);
    let commits = d.metric("cairn_commits_total").await;
    assert!(commits >= 1.0);
    // Every group commit on RocksDB is fsynced, and the fsync is part of it.
    assert_eq!(d.metric("cairn_fsync_seconds_count").await, commits);
    let fsync = d.metric("cairn_fsync_seconds_sum").await;
    assert!(fsync > 0.0 && fsync <= d.metric("cairn_commit_seconds_sum").await);
    d.stop().await;
}
