//! What an auditor gets: signed checkpoints, and proofs that verify against
//! them with nothing but the verifier key.

use cairn_core::checkpoint::open_checkpoint;
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle::{verify_consistency, verify_inclusion};
use cairn_server::store;
use cairn_server::Settings;
use cairn_store::verify::{verify, VerifyOptions};
use serde_json::Value;

use crate::support::{decision, reopen, start, start_in};

fn hash(v: &Value) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut h).unwrap();
    h
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inclusion_and_consistency_proofs_verify_against_signed_checkpoints() {
    let publish = tempfile::tempdir().unwrap();
    let d = start(Settings {
        publish_dir: Some(publish.path().to_owned()),
        ..Settings::default()
    })
    .await;
    let verifier = store::verifier(d.dir.path()).unwrap();
    let lines: Vec<String> = (0..10).map(decision).collect();
    let receipts = d.post_ndjson(&lines).await.json()["receipts"].clone();

    let note = d.checkpoint_at(10).await;
    let signed = open_checkpoint(&note, &verifier).expect("the daemon signs with the ledger's key");
    assert_eq!(signed.checkpoint.origin, crate::support::ORIGIN);
    assert_eq!(signed.checkpoint.size, 10);
    for (seq, receipt) in receipts.as_array().unwrap().iter().enumerate() {
        let p = d
            .get(&format!("/v1/proofs/inclusion?seq={seq}"))
            .await
            .json();
        assert_eq!(p["size"], 10, "defaults to the newest checkpoint");
        assert_eq!(p["checkpoint"], note.as_str());
        let leaf = hash(&receipt["leaf_hash"]);
        verify_inclusion(
            &Blake3Hasher,
            seq as u64,
            10,
            &leaf,
            &hashes(&p["proof"]),
            &signed.checkpoint.root,
        )
        .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
    }
    let published = std::fs::read_to_string(publish.path().join("latest.checkpoint")).unwrap();
    assert_eq!(published, note);
    assert_eq!(
        std::fs::read_to_string(publish.path().join("10.checkpoint")).unwrap(),
        note
    );

    // Grow, then prove the new checkpoint extends the old one.
    let more: Vec<String> = (10..15).map(decision).collect();
    d.post_ndjson(&more).await;
    let note2 = d.checkpoint_at(15).await;
    let signed2 = open_checkpoint(&note2, &verifier).unwrap();
    let c = d.get("/v1/proofs/consistency?from=10").await.json();
    assert_eq!(c["to"], 15);
    verify_consistency(
        &Blake3Hasher,
        10,
        15,
        &signed.checkpoint.root,
        &signed2.checkpoint.root,
        &hashes(&c["proof"]),
    )
    .expect("the new checkpoint extends the old");
    // An explicit, uncheckpointed size works too.
    let p = d.get("/v1/proofs/inclusion?seq=3&size=12").await.json();
    assert_eq!(p["size"], 12);
    assert!(p.get("checkpoint").is_none());

    let dir = d.stop().await;
    let ledger = reopen(dir.path());
    let report = verify(
        &ledger,
        VerifyOptions {
            verifier: Some(&verifier),
            trusted: Some(&note),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(report.intact(), "{:?}", report.damage);
    assert!(report.checkpoints_checked >= 2);
    assert_eq!(report.trusted_size, Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seq_newer_than_the_checkpoint_is_404_with_a_hint() {
    let d = start(Settings::default()).await;
    d.post_json(&decision(0)).await;
    let dir = d.stop().await;
    // A decision appended while no daemon ran: the checkpoint of the first
    // run's shutdown covers seq 0 only.
    {
        let ledger = reopen(dir.path());
        let input = cairn_core::decision::DecisionInput::parse(decision(1).as_bytes()).unwrap();
        let append = cairn_store::Append::Decision(input.prepare([1; 32], [2; 32]));
        ledger.append(vec![append], 1).unwrap();
    }
    // Restarted with checkpoints far apart, the daemon signs the one entry
    // its startup pass finds uncovered; after that pass nothing is signed
    // until shutdown.
    let d = start_in(
        dir,
        Settings {
            checkpoint_interval_ms: Some(3_600_000),
            checkpoint_every_entries: Some(1_000_000),
            ..Settings::default()
        },
    )
    .await;
    d.checkpoint_at(2).await;
    d.post_json(&decision(2)).await;
    let r = d.get("/v1/proofs/inclusion?seq=2").await;
    assert_eq!(r.status, 404);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("newer than the newest checkpoint"),
        "{r:?}"
    );
    let r = d.get("/v1/proofs/inclusion?seq=2&size=3").await;
    assert_eq!(r.status, 200, "{r:?}");
    // Shutdown signs a last checkpoint that covers everything.
    let dir = d.stop().await;
    let (size, _) = reopen(dir.path()).latest_checkpoint().unwrap().unwrap();
    assert_eq!(size, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_signed_every_n_entries() {
    let d = start(Settings {
        checkpoint_interval_ms: Some(3_600_000),
        checkpoint_every_entries: Some(5),
        ..Settings::default()
    })
    .await;
    let lines: Vec<String> = (0..5).map(decision).collect();
    d.post_ndjson(&lines).await;
    d.checkpoint_at(5).await;
    d.post_ndjson(&lines[..3]).await;
    d.post_ndjson(&lines[..3]).await;
    d.checkpoint_at(11).await;
    d.stop().await;
}
