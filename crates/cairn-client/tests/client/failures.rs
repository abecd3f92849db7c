//! Overload, lost answers, refused decisions and a full queue.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_client::{Client, ClientError};
use cairn_server::config::TokenConfig;
use cairn_server::Settings;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{decision, lossy_proxy, start};

/// A daemon with room for one request of ~9 KiB at a time, answering 429 with
/// `Retry-After: retry_after_s` to the others, and a client that sends 4
/// batches of 8 at once and backs off 5-50 ms on its own.
async fn crowded(retry_after_s: u64) -> (crate::support::Daemon, Client) {
    let d = start(Settings {
        body_bytes_max: Some(16 << 10),
        line_bytes_max: Some(16 << 10),
        queue_bytes_max: Some(16 << 10),
        retry_after_s: Some(retry_after_s),
        ..Settings::default()
    })
    .await;
    let client = Client::builder(d.url())
        .batch_entries_max(8)
        .requests_in_flight_max(4)
        .backoff_ms(5, 50)
        .retries(100)
        .build()
        .unwrap();
    (d, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_429_are_retried_until_everything_is_stored_once() {
    let (d, client) = crowded(0).await;
    let tasks: Vec<_> = (0..400)
        .map(|i| tokio::spawn(client.record(decision(i, 1000))))
        .collect();
    let mut seqs = BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert!(!r.duplicate);
        assert!(seqs.insert(r.seq), "seq {} twice", r.seq);
    }
    let refused = d.metric("cairn_rejects_total{reason=\"queue_full\"}").await;
    assert!(refused > 0.0, "the daemon was never full: no 429 to retry");
    assert_eq!(client.stats().retries as f64, refused);
    assert_eq!(seqs, (0..400).collect(), "every decision stored, once");
    assert_eq!(d.metric("cairn_ledger_size").await, 400.0);
    assert_eq!(d.metric("cairn_duplicate_entries_total").await, 0.0);
    client.shutdown().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_answer_was_lost_is_resent_and_answered_with_the_original_receipts() {
    let d = start(Settings::default()).await;
    let proxy = lossy_proxy(d.addr).await;
    let client = Client::builder(format!("http://{proxy}"))
        .flush_interval_ms(60_000)
        .backoff_ms(5, 50)
        .build()
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..20 {
        pending.push(client.enqueue(decision(i, 50)).await.unwrap());
    }
    let receipts = client.flush().await.unwrap();
    assert_eq!(client.stats().retries, 1, "one lost answer, one retry");
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    assert!(
        receipts.iter().all(|r| r.duplicate),
        "the resend found the stored batch: {receipts:?}"
    );
    for (p, r) in pending.into_iter().zip(&receipts) {
        assert_eq!(p.await.unwrap(), *r);
        assert_eq!(d.leaf_hash(r.seq).await, r.leaf_hash_hex());
    }
    assert_eq!(d.metric("cairn_ledger_size").await, 20.0, "nothing twice");
    assert_eq!(d.metric("cairn_duplicate_entries_total").await, 20.0);
    client.shutdown().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_decision_fails_for_its_caller_only() {
    let token = "svc-token";
    let d = start(Settings {
        tokens: Some(vec![TokenConfig {
            name: Some("svc".into()),
            sha256: cairn_server::auth::hash_token(token),
            write_streams: vec!["payments.*".into()],
            read_streams: vec![],
            read: true,
            admin: false,
        }]),
        ..Settings::default()
    })
    .await
    .reading_with(token);
    let client = Client::builder(d.url())
        .token(token)
        .flush_interval_ms(60_000)
        .build()
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..10 {
        let p = match i {
            3 => {
                client
                    .enqueue(json!({"stream": "payments.fraud", "input": 1, "output": 2}))
                    .await
            }
            6 => {
                let mut other = decision(i, 10);
                other.stream = "hr.hiring".into();
                client.enqueue(other).await
            }
            _ => client.enqueue(decision(i, 10)).await,
        };
        pending.push(p.unwrap());
    }
    let receipts = client.flush().await.unwrap();
    assert_eq!(receipts.len(), 8, "the eight good decisions are stored");
    let mut outcomes = Vec::new();
    for p in pending {
        outcomes.push(p.await);
    }
    match &outcomes[3] {
        Err(ClientError::Rejected {
            status: 400,
            code,
            message,
        }) => {
            assert_eq!(code, "invalid_batch");
            assert!(message.contains("model"), "{message}");
        }
        other => panic!("decision 3: {other:?}"),
    }
    match &outcomes[6] {
        Err(ClientError::Rejected {
            status: 403,
            code,
            message,
        }) => {
            assert_eq!(code, "forbidden");
            assert!(message.contains("hr.hiring"), "{message}");
        }
        other => panic!("decision 6: {other:?}"),
    }
    let stored: Vec<_> = outcomes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 6)
        .map(|(_, o)| *o.as_ref().unwrap())
        .collect();
    assert_eq!(stored, receipts, "every other caller got its receipt");
    assert_eq!(client.stats().failed, 2);
    assert_eq!(d.metric("cairn_ledger_size").await, 8.0);

    let none = Client::builder(d.url()).build().unwrap();
    match none.record(decision(0, 10)).await {
        Err(ClientError::Rejected { status: 401, .. }) => {}
        other => panic!("without a token: {other:?}"),
    }
    client.shutdown().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_record_wait_instead_of_growing() {
    // A daemon that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let client = Client::builder(format!("http://{addr}"))
        .queue_entries_max(2)
        .flush_interval_ms(1)
        .build()
        .unwrap();
    let _first = client.enqueue(decision(0, 10)).await.unwrap();
    let _second = client.enqueue(decision(1, 10)).await.unwrap();
    let third = tokio::time::timeout(Duration::from_millis(300), client.enqueue(decision(2, 10)));
    assert!(
        third.await.is_err(),
        "a third decision was queued past queue_entries_max = 2"
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_daemon_is_retried_then_given_up_on() {
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = gone.local_addr().unwrap();
    drop(gone);
    let client = Client::builder(format!("http://{addr}"))
        .retries(3)
        .backoff_ms(1, 5)
        .build()
        .unwrap();
    match client.record(decision(0, 10)).await {
        Err(ClientError::GaveUp { attempts: 4, last }) => {
            assert!(last.contains("connect"), "{last}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.stats().requests, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_no_sooner_than_its_retry_after() {
    // The daemon asks for one second: the client's own backoff (5-50 ms) must
    // not cut that short.
    let (d, client) = crowded(1).await;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| tokio::spawn(client.record(decision(i, 1000))))
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let refused = d.metric("cairn_rejects_total{reason=\"queue_full\"}").await;
    assert!(refused > 0.0, "the daemon was never full: no 429 to retry");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retried after {:?}, sooner than Retry-After: 1",
        started.elapsed()
    );
    assert_eq!(d.metric("cairn_ledger_size").await, 200.0);
    client.shutdown().await.unwrap();
    d.stop().await;
}
