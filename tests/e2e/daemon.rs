//! The real `cairnd` binary from the outside: a service appends over HTTP, an
//! auditor checks the daemon's proofs against its signed checkpoints with
//! nothing but the verifier key, and `cairn verify` finds the directory intact
//! and consistent with those checkpoints after a SIGTERM.

use std::time::{Duration, Instant};

use cairn_core::checkpoint::{open_checkpoint, NoteVerifier, SignedCheckpoint};
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle::{verify_consistency, verify_inclusion};
use serde_json::Value;

use crate::support::{request, run, Cairnd};

fn get(addr: &str, path: &str) -> (u16, String) {
    request(addr, "GET", path, "text/plain", "")
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn decision(i: usize) -> String {
    format!(
        r#"{{"stream":"payments","model":{{"name":"fraud","version":"8.0.0"}},"input":{{"amount":{i}}},"output":{{"label":"allow","n":{i}}},"idempotency_key":"k-{i}"}}"#
    )
}

fn hash(v: &Value) -> Hash {
    let mut h = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut h).unwrap();
    h
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

/// The newest signed checkpoint once it covers `size` entries.
fn checkpoint_at(addr: &str, size: u64, verifier: &NoteVerifier) -> SignedCheckpoint {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, note) = get(addr, "/v1/checkpoint");
        if status == 200 {
            let signed = open_checkpoint(&note, verifier)
                .unwrap_or_else(|e| panic!("the daemon's checkpoint does not verify: {e}\n{note}"));
            if signed.checkpoint.size == size {
                return signed;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint at size {size}: {status} {note}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn proofs_from_the_daemon_verify_against_its_signed_checkpoints_and_the_ledger_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger");
    let daemon = Cairnd::start(&data, &["--checkpoint-interval-ms", "50"]);
    let addr = daemon.addr.clone();
    let key_text = std::fs::read_to_string(data.join("verifier.key")).unwrap();
    let verifier: NoteVerifier = key_text.trim().parse().unwrap();

    // A service's appends: one NDJSON batch, then a single decision.
    let batch: String = (0..10).map(|i| decision(i) + "\n").collect();
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/decisions",
        "application/x-ndjson",
        &batch,
    );
    assert_eq!(status, 200, "{body}");
    let mut receipts: Vec<Value> = serde_json::from_str::<Value>(&body).unwrap()["receipts"]
        .as_array()
        .unwrap()
        .clone();
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/decisions",
        "application/json",
        &decision(10),
    );
    assert_eq!(status, 200, "{body}");
    receipts.push(serde_json::from_str(&body).unwrap());
    let seqs: Vec<u64> = receipts
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..11).collect::<Vec<u64>>(), "receipts in order");

    // An auditor's check: every receipt is in the signed tree.
    let first = checkpoint_at(&addr, 11, &verifier);
    for (seq, receipt) in receipts.iter().enumerate() {
        let p = get_json(&addr, &format!("/v1/proofs/inclusion?seq={seq}&size=11"));
        assert_eq!(p["leaf_hash"], receipt["leaf_hash"]);
        verify_inclusion(
            &Blake3Hasher,
            seq as u64,
            11,
            &hash(&receipt["leaf_hash"]),
            &hashes(&p["proof"]),
            &first.checkpoint.root,
        )
        .unwrap_or_else(|e| panic!("seq {seq}: {e}"));
    }
    // A proof for another receipt's leaf must not verify.
    let p = get_json(&addr, "/v1/proofs/inclusion?seq=3&size=11");
    assert!(verify_inclusion(
        &Blake3Hasher,
        3,
        11,
        &hash(&receipts[4]["leaf_hash"]),
        &hashes(&p["proof"]),
        &first.checkpoint.root,
    )
    .is_err());

    // The entry as stored, with its receipt.
    let e = get_json(&addr, "/v1/entries/10");
    assert_eq!(e["output"]["n"], 10);
    assert_eq!(e["receipt"]["leaf_hash"], receipts[10]["leaf_hash"]);

    // The ledger grows (one retry is a duplicate); the new checkpoint extends the old.
    let more: String = (10..16).map(|i| decision(i) + "\n").collect();
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/decisions",
        "application/x-ndjson",
        &more,
    );
    assert_eq!(status, 200, "{body}");
    let again: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(again["receipts"][0]["duplicate"], true);
    assert_eq!(again["receipts"][0]["seq"], 10);
    let second = checkpoint_at(&addr, 16, &verifier);
    let c = get_json(&addr, "/v1/proofs/consistency?from=11&to=16");
    verify_consistency(
        &Blake3Hasher,
        11,
        16,
        &first.checkpoint.root,
        &second.checkpoint.root,
        &hashes(&c["proof"]),
    )
    .expect("the newer checkpoint extends the older");

    // SIGTERM drains and exits 0; the directory then verifies against the
    // first checkpoint the auditor kept, with the key they were given.
    let status = daemon.stop();
    assert!(status.success(), "cairnd exited with {status}");
    let kept = tmp.path().join("kept.checkpoint");
    std::fs::write(&kept, &first.note).unwrap();
    let v = run(
        "cairn",
        &[
            "verify",
            "--json",
            "--data",
            data.to_str().unwrap(),
            "--checkpoint",
            kept.to_str().unwrap(),
            "--key",
            key_text.trim(),
        ],
    );
    assert_eq!(v.code, 0, "{} {}", v.stdout, v.stderr);
    let report = v.json();
    assert_eq!(report["entries_checked"], 16);
    assert_eq!(report["trusted_size"], 11);
}

/// `cairnd` with `args`; its exit code and standard error.
fn cairnd(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(crate::support::bin("cairnd"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn startup_errors_say_what_to_do_and_init_creates_nothing_for_a_daemon_that_cannot_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();

    // A bad token in the configuration: nothing is created.
    let config = tmp.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[tokens]]\nname = \"svc\"\nsha256 = \"abc\"\nwrite_streams = [\"*\"]\n",
    )
    .unwrap();
    let (code, err) = cairnd(&[
        "--init",
        "--data",
        &dir("a"),
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cairnd hash-token"), "{err}");
    assert!(
        !tmp.path().join("a").exists(),
        "no ledger for a daemon that did not start"
    );

    // A second daemon on a directory in use: told so, once, and what to do.
    let data = tmp.path().join("b");
    let first = Cairnd::start(&data, &[]);
    let (code, err) = cairnd(&["--data", &dir("b"), "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("open for writing in another process"), "{err}");
    assert!(err.contains("stop it first"), "{err}");
    assert_eq!(err.matches("LOCK").count(), 0, "no engine internals: {err}");

    // An address in use: nothing created either.
    let (code, err) = cairnd(&["--init", "--data", &dir("c"), "--listen", &first.addr]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("listening on {}", first.addr)),
        "{err}"
    );
    assert!(!tmp.path().join("c").exists());
    first.kill();

    // A bad value from the environment names the variable, not only the flag.
    let out = std::process::Command::new(crate::support::bin("cairnd"))
        .args(["--data", &dir("b")])
        .env("CAIRND_BODY_BYTES_MAX", "lots")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("came from the environment variable CAIRND_BODY_BYTES_MAX"),
        "{err}"
    );

    // A missing configuration file is named, and its cause said once.
    let (code, err) = cairnd(&["--data", &dir("b"), "--config", &dir("nope.toml")]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}
