//! Receipts for everything, in batches, in order.

use std::collections::BTreeSet;

use cairn_client::Client;
use cairn_server::Settings;

use crate::support::{decision, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_are_batched_and_each_gets_its_own_receipt() {
    let d = start(Settings::default()).await;
    let client = Client::builder(d.url())
        .batch_entries_max(50)
        .flush_interval_ms(20)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..400)
        .map(|i| tokio::spawn(client.record(decision(i, 100))))
        .collect();
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.push(t.await.unwrap().unwrap());
    }
    let seqs: BTreeSet<u64> = receipts.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..400).collect(),
        "one entry per decision, none twice"
    );
    assert!(receipts.iter().all(|r| !r.duplicate));
    for r in receipts.iter().step_by(7) {
        assert_eq!(d.leaf_hash(r.seq).await, r.leaf_hash_hex(), "seq {}", r.seq);
    }
    let requests = d.metric("cairn_append_requests_total").await;
    assert!(
        (8.0..=40.0).contains(&requests),
        "400 decisions in batches of at most 50 took {requests} requests"
    );
    assert_eq!(client.stats().requests as f64, requests);
    assert_eq!(client.stats().recorded, 400);
    assert_eq!(d.metric("cairn_ledger_size").await, 400.0);
    client.shutdown().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_returns_every_receipt_in_record_order_and_the_ledger_keeps_that_order() {
    let d = start(Settings::default()).await;
    let client = Client::builder(d.url())
        .batch_entries_max(64)
        .flush_interval_ms(60_000)
        .build()
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..300 {
        pending.push(client.enqueue(decision(i, 10)).await.unwrap());
    }
    let flushed = client.flush().await.unwrap();
    let seqs: Vec<u64> = flushed.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..300).collect::<Vec<_>>(),
        "record order is ledger order"
    );
    for (p, f) in pending.into_iter().zip(&flushed) {
        assert_eq!(
            p.await.unwrap(),
            *f,
            "the caller and the flush see one receipt"
        );
    }
    assert!(
        client.flush().await.unwrap().is_empty(),
        "a flush returns what was recorded since the previous one"
    );
    // A lone decision in a batch that would wait a minute goes out on flush.
    let lone = client.enqueue(decision(300, 10)).await.unwrap();
    let flushed = client.flush().await.unwrap();
    let r = lone.await.unwrap();
    assert_eq!((r.seq, flushed), (300, vec![r]));
    assert!(client.shutdown().await.unwrap().is_empty());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_every_handle_refuses_decisions() {
    let d = start(Settings::default()).await;
    let client = Client::builder(d.url()).build().unwrap();
    let other = client.clone();
    for i in 0..5 {
        drop(client.enqueue(decision(i, 10)).await.unwrap());
    }
    let receipts = client.shutdown().await.unwrap();
    assert_eq!(receipts.len(), 5, "shutdown sends what is queued");
    let err = other.record(decision(9, 10)).await.unwrap_err();
    assert_eq!(err, cairn_client::ClientError::Closed);
    assert_eq!(d.metric("cairn_ledger_size").await, 5.0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_over_https_with_a_private_root_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (cert, key) = (keys.path().join("cert.pem"), keys.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let d = start(Settings {
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..Settings::default()
    })
    .await;
    let url = format!("https://localhost:{}", d.addr.port());
    let untrusting = Client::builder(&url).retries(0).build().unwrap();
    let err = untrusting.record(decision(0, 10)).await.unwrap_err();
    assert!(
        matches!(err, cairn_client::ClientError::GaveUp { .. }),
        "an unknown certificate is refused: {err:?}"
    );
    let client = Client::builder(&url)
        .root_certificate_pem(certified.cert.pem())
        .build()
        .unwrap();
    let r = client.record(decision(1, 10)).await.unwrap();
    assert_eq!(r.seq, 0);
    client.shutdown().await.unwrap();
    d.stop().await;
}
