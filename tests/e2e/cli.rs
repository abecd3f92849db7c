//! The main job end to end: init, append, checkpoint, prove, get, verify.

use cairn_core::checkpoint::{open_checkpoint, NoteVerifier};
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle;

use crate::support::{run, verify_json, TestLedger};

fn hash(v: &serde_json::Value) -> Hash {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn appended_decisions_verify_and_prove_against_a_signed_checkpoint() {
    let l = TestLedger::new("e2e.example/main");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(l.data.join("signing.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the signing key is readable by its owner only"
    );
    let receipts = l.append_synth(11, 1500);
    assert_eq!(receipts.len(), 1500);
    for (i, r) in receipts.iter().enumerate() {
        assert_eq!(r["seq"], i as u64, "receipts come in input order");
        assert_eq!(r["leaf_hash"].as_str().unwrap().len(), 64);
    }

    let cp_file = l.path("auditor.checkpoint");
    let note = l
        .cairn(&["checkpoint"], &["--out", cp_file.to_str().unwrap()])
        .ok()
        .stdout;
    let verifier = NoteVerifier::parse(&l.verifier).unwrap();
    let cp = open_checkpoint(&note, &verifier).unwrap().checkpoint;
    assert_eq!((cp.origin.as_str(), cp.size), ("e2e.example/main", 1500));

    // Every sampled receipt is provably in the tree the checkpoint signs.
    for seq in [0u64, 1, 700, 1023, 1024, 1499] {
        let p = l
            .cairn(
                &["prove", "inclusion"],
                &["--seq", &seq.to_string(), "--json"],
            )
            .ok()
            .json();
        assert_eq!(hash(&p["root"]), cp.root);
        assert_eq!(p["leaf_hash"], receipts[seq as usize]["leaf_hash"]);
        let proof: Vec<Hash> = p["proof"].as_array().unwrap().iter().map(hash).collect();
        let leaf = hash(&p["leaf_hash"]);
        merkle::verify_inclusion(&Blake3Hasher, seq, 1500, &leaf, &proof, &cp.root).unwrap();
    }

    // The ledger grows; the old checkpoint is a prefix of the new tree.
    l.append_synth(12, 300);
    let c = l
        .cairn(&["prove", "consistency"], &["--from", "1500", "--json"])
        .ok()
        .json();
    assert_eq!(hash(&c["from_root"]), cp.root);
    let proof: Vec<Hash> = c["proof"].as_array().unwrap().iter().map(hash).collect();
    merkle::verify_consistency(
        &Blake3Hasher,
        1500,
        1800,
        &cp.root,
        &hash(&c["to_root"]),
        &proof,
    )
    .unwrap();

    let v = verify_json(
        &l.data,
        &[
            "--checkpoint",
            cp_file.to_str().unwrap(),
            "--key",
            &l.verifier,
        ],
    );
    assert_eq!(v.code, 0, "{}", v.stdout);
    let v = v.json();
    assert_eq!(v["status"], "intact");
    assert_eq!(v["entries_checked"], 1800);
    assert_eq!(v["payloads_checked"], 3600);
    assert_eq!(v["trusted_size"], 1500);
    assert_eq!(v["checkpoints_checked"], 1);

    let text = l.cairn(&["verify"], &[]).ok().stdout;
    assert!(text.contains("INTACT"), "{text}");
}

#[test]
fn every_decision_gets_salts_of_its_own() {
    // The same payloads three times in one file: each commitment must differ,
    // or a commitment would tell which decisions share a payload.
    let l = TestLedger::new("e2e.example/salts");
    let line = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"amount":12.5},"output":"approve"}"#;
    let file = l.path("three.ndjson");
    std::fs::write(&file, format!("{line}\n{line}\n{line}\n")).unwrap();
    l.cairn(&["append"], &[file.to_str().unwrap()]).ok();
    let mut commitments = std::collections::BTreeSet::new();
    for seq in ["0", "1", "2"] {
        let e = l.cairn(&["get"], &["--seq", seq, "--json"]).ok().json();
        assert_eq!(e["input"]["amount"], 12.5);
        for slot in ["input_commitment", "output_commitment"] {
            let c = e[slot]["commitment"].as_str().unwrap().to_owned();
            assert_eq!(c.len(), 64, "{e}");
            commitments.insert(c);
        }
    }
    assert_eq!(commitments.len(), 6, "{commitments:?}");
}

#[test]
fn get_shows_the_decision_its_payloads_and_receipt() {
    let l = TestLedger::new("e2e.example/get");
    let line = r#"{"stream":"payments.fraud","model":{"name":"fraud","version":"7"},"input":{"amount":12.5},"output":{"decision":"approve"},"subject":"cust-1","decision":"approve","score":0.25,"event_time":"2026-11-20T10:00:00Z"}"#;
    let file = l.path("one.ndjson");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let receipt: serde_json::Value = serde_json::from_str(
        l.cairn(&["append"], &[file.to_str().unwrap()])
            .ok()
            .stdout
            .trim(),
    )
    .unwrap();
    let e = l.cairn(&["get"], &["--seq", "0", "--json"]).ok().json();
    assert_eq!(e["kind"], "decision");
    assert_eq!(e["stream"], "payments.fraud");
    assert_eq!(e["model"]["version"], "7");
    assert_eq!(e["subject"], "cust-1");
    assert_eq!(e["event_time"], "2026-11-20T10:00:00Z");
    assert_eq!(e["input"]["amount"], 12.5);
    assert_eq!(e["output"]["decision"], "approve");
    assert_eq!(e["receipt"]["leaf_hash"], receipt["leaf_hash"]);
    let missing = l.cairn(&["get"], &["--seq", "5"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("out of range"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_bad_line_rejects_the_whole_input_and_stores_nothing() {
    let l = TestLedger::new("e2e.example/bad");
    let good = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2}"#;
    let cases = [
        (
            r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2,"colour":"red"}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1}"#,
            "missing field `output`",
        ),
        (
            r#"{"stream":"s","model":{"name":"m","version":1},"input":1,"output":2}"#,
            "invalid type",
        ),
        (
            r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2,"event_time":"noon"}"#,
            "event_time",
        ),
        (r#"{"stream":"s","#, "EOF"),
        ("[1,2,3]", "must be a JSON object"),
    ];
    for (bad, want) in cases {
        let file = l.path("input.ndjson");
        std::fs::write(&file, format!("{good}\n{good}\n{bad}\n{good}\n")).unwrap();
        let out = l.cairn(&["append"], &[file.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("line 3:"), "{bad}: {}", out.stderr);
        assert!(
            out.stderr.contains(want),
            "{bad}: want {want:?} in {}",
            out.stderr
        );
        assert!(out.stderr.contains("nothing was stored"), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "no receipts for a rejected input");
    }
    // Invalid UTF-8 on a line.
    let file = l.path("utf8.ndjson");
    let mut bytes = format!("{good}\n").into_bytes();
    bytes.extend_from_slice(b"{\"stream\":\"\xff\xfe\",\"model\":{\"name\":\"m\",\"version\":\"1\"},\"input\":1,\"output\":2}\n");
    std::fs::write(&file, bytes).unwrap();
    let out = l.cairn(&["append"], &[file.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("line 2:"), "{}", out.stderr);

    let v = verify_json(&l.data, &[]).json();
    assert_eq!(v["size"], 0, "the ledger is unchanged");
}

#[test]
fn a_long_input_keeps_its_line_numbers_and_its_order_across_batches() {
    let l = TestLedger::new("e2e.example/long");
    let line = |i: usize| {
        format!(
            r#"{{"stream":"s","model":{{"name":"m","version":"1"}},"input":{{"i":{i}}},"output":2,"request_id":"r{i}"}}"#
        )
    };
    // 5,000 decisions with a blank line after every 100th: more lines than
    // are validated or appended at a time.
    let mut text = String::new();
    let mut line_of = Vec::new();
    let mut number = 0;
    for i in 0..5000 {
        number += 1;
        line_of.push(number);
        text.push_str(&line(i));
        text.push('\n');
        if i % 100 == 99 {
            number += 1;
            text.push('\n');
        }
    }
    let file = l.path("long.ndjson");
    // One bad decision far into the input is named by its own line number.
    let bad = text.replacen(&line(4500), r#"{"stream":"s"}"#, 1);
    std::fs::write(&file, &bad).unwrap();
    let out = l.cairn(&["append"], &[file.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let want = format!("line {}:", line_of[4500]);
    assert!(out.stderr.contains(&want), "want {want} in {}", out.stderr);
    assert_eq!(verify_json(&l.data, &[]).json()["size"], 0);

    std::fs::write(&file, &text).unwrap();
    let out = l
        .cairn(&["append"], &["--batch-size", "7", file.to_str().unwrap()])
        .ok();
    let seqs: Vec<u64> = out
        .stdout
        .lines()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        (0..5000).collect::<Vec<u64>>(),
        "one receipt per decision, in order"
    );
    for i in [0usize, 6, 7, 4095, 4096, 4999] {
        let e = l
            .cairn(&["get"], &["--seq", &i.to_string(), "--json"])
            .ok()
            .json();
        assert_eq!(e["request_id"], format!("r{i}"), "seq {i}");
        assert_eq!(e["input"]["i"], i, "seq {i}");
    }
    assert_eq!(verify_json(&l.data, &[]).json()["size"], 5000);
}

#[test]
fn helpful_errors_without_a_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nothing");
    let out = run("cairn", &["verify", "--data", dir.to_str().unwrap()]);
    assert_eq!(out.code, 2, "could not check");
    assert!(out.stderr.contains("cairn init"), "{}", out.stderr);
    let out = run("cairn", &["append"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--data"), "{}", out.stderr);
}
