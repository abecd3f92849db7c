//! Tampering below the API, on real RocksDB ledgers: `cairn verify` must exit 1
//! and name the first damaged seq and the kind of damage.

use std::path::Path;

use crate::support::{copy_dir, run, verify_json, TestLedger};

fn tamper(data: &Path, args: &[&str]) {
    let mut all = vec!["--data", data.to_str().unwrap()];
    all.extend(args);
    run("cairn-tamper", &all).ok();
}

fn first_damage(data: &Path, extra: &[&str]) -> (Option<u64>, String, String) {
    let out = verify_json(data, extra);
    assert_eq!(
        out.code, 1,
        "damage gives exit 1: {}\n{}",
        out.stdout, out.stderr
    );
    let v = out.json();
    assert_eq!(v["status"], "damaged");
    let d = &v["first_damage"];
    (
        d["seq"].as_u64(),
        d["kind"].as_str().unwrap().to_owned(),
        d["detail"].as_str().unwrap().to_owned(),
    )
}

fn ledger_with_checkpoint() -> TestLedger {
    let l = TestLedger::new("e2e.example/tamper");
    l.append_synth(21, 300);
    l.cairn(
        &["checkpoint"],
        &["--out", l.path("cp-300").to_str().unwrap()],
    )
    .ok();
    l
}

#[test]
fn each_kind_of_tampering_is_named() {
    let l = ledger_with_checkpoint();
    let cases: &[(&[&str], Option<u64>, &str)] = &[
        (
            &["entry", "--seq", "100", "--byte", "70"],
            Some(100),
            "altered",
        ),
        (&["delete", "--seq", "42"], Some(42), "missing"),
        (&["swap", "--a", "10", "--b", "11"], Some(10), "reordered"),
        (&["payload", "--seq", "7"], Some(7), "commitment-mismatch"),
        (
            &["forge-checkpoint", "--size", "300"],
            None,
            "bad-signature",
        ),
    ];
    for (i, (args, seq, kind)) in cases.iter().enumerate() {
        let copy = l.copy(&format!("case-{i}"));
        tamper(&copy, args);
        let (got_seq, got_kind, detail) = first_damage(&copy, &[]);
        assert_eq!(
            (got_seq, got_kind.as_str()),
            (*seq, *kind),
            "{args:?}: {detail}"
        );
    }
    // The untouched original still verifies.
    assert_eq!(verify_json(&l.data, &[]).code, 0);
}

#[test]
fn text_output_names_the_first_damaged_seq() {
    let l = ledger_with_checkpoint();
    tamper(&l.data, &["entry", "--seq", "150"]);
    let out = l.cairn(&["verify"], &[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("DAMAGED at seq 150: altered"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_rewritten_history_is_caught_against_an_old_checkpoint() {
    let l = ledger_with_checkpoint();
    let cp = l.path("cp-300");
    let cp = cp.to_str().unwrap();

    // Truncated: cut back to 200 entries.
    let cut = l.copy("cut");
    tamper(&cut, &["truncate", "--size", "200"]);
    let (seq, kind, detail) = first_damage(&cut, &["--checkpoint", cp]);
    assert_eq!((seq, kind.as_str()), (Some(200), "truncated"), "{detail}");

    // Rolled back and re-appended differently: the ledger alone looks fine ...
    tamper(&l.data, &["truncate", "--size", "200"]);
    let file = l.path("other.ndjson");
    run(
        "cairn-synth",
        &[
            "--seed",
            "99",
            "--count",
            "150",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .ok();
    l.cairn(&["append", "--quiet"], &[file.to_str().unwrap()])
        .ok();
    let alone = verify_json(&l.data, &[]);
    assert_eq!(
        alone.code, 0,
        "without an outside checkpoint a rewrite is self-consistent: {}",
        alone.stdout
    );
    // ... but not against the checkpoint the auditor kept.
    let (_, kind, detail) = first_damage(&l.data, &["--checkpoint", cp]);
    assert_eq!(kind, "rewritten", "{detail}");
    assert!(detail.contains("300"), "{detail}");
}

#[test]
fn a_checkpoint_from_another_key_cannot_be_checked() {
    let l = ledger_with_checkpoint();
    let other = TestLedger::new("e2e.example/tamper");
    let out = verify_json(
        &l.data,
        &[
            "--key",
            &other.verifier,
            "--checkpoint",
            l.path("cp-300").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert_eq!(out.json()["status"], "error");
    let _ = copy_dir;
}

#[test]
fn a_rewritten_origin_or_size_is_damage_not_an_error() {
    let l = ledger_with_checkpoint();
    let cp = l.path("cp-300");
    let cp = cp.to_str().unwrap();

    // The name every checkpoint was signed for, rewritten.
    let renamed = l.copy("renamed");
    tamper(&renamed, &["origin", "--to", "e2e.example/other"]);
    for extra in [&[][..], &["--checkpoint", cp][..]] {
        let (seq, kind, detail) = first_damage(&renamed, extra);
        assert_eq!((seq, kind.as_str()), (None, "origin-mismatch"), "{detail}");
        assert!(detail.contains("e2e.example/tamper"), "{detail}");
    }

    // The recorded size, raised past the entries: the entries above are missing.
    let grown = l.copy("grown");
    tamper(&grown, &["size", "--to", "340"]);
    let (seq, kind, detail) = first_damage(&grown, &[]);
    assert_eq!((seq, kind.as_str()), (Some(300), "missing"), "{detail}");

    // Lowered below the entries (and below a signed checkpoint): damage at the
    // recorded size, with or without the auditor's checkpoint.
    let shrunk = l.copy("shrunk");
    tamper(&shrunk, &["size", "--to", "250"]);
    for extra in [&[][..], &["--checkpoint", cp][..]] {
        let (seq, kind, detail) = first_damage(&shrunk, extra);
        assert_eq!(seq, Some(250), "{kind}: {detail}");
        assert!(
            ["altered", "truncated"].contains(&kind.as_str()),
            "{kind}: {detail}"
        );
    }
}
