//! Evidence bundles end to end: exported from a ledger of synthetic decisions
//! (one of them erased), verified in a fresh process with nothing but the file
//! and the key, and every kind of alteration named precisely with exit 1.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{run, Run, TestLedger};

struct Exported {
    /// A directory holding only the bundle; the ledger is gone.
    dir: tempfile::TempDir,
    bundle: PathBuf,
    verifier: String,
    /// Decisions in the bundle, and the erased one.
    decisions: u64,
    erased_seq: u64,
}

/// The subject with the most decisions among the first `count` synthetic ones.
fn busiest_subject(l: &TestLedger, count: u64) -> (String, Vec<u64>) {
    let report = l.cairn(&["incident"], &["--json"]).ok().json();
    let mut by: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for e in report["entries"].as_array().unwrap() {
        if let Some(s) = e["subject"].as_str() {
            by.entry(s.to_owned())
                .or_default()
                .push(e["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(report["summary"]["count"], count);
    by.into_iter().max_by_key(|(_, v)| v.len()).unwrap()
}

/// Exports the decisions of the busiest subject, one of them erased, then
/// deletes the ledger.
fn exported() -> Exported {
    let l = TestLedger::new("e2e.example/bundle");
    l.append_synth(5, 3000);
    let (subject, seqs) = busiest_subject(&l, 3000);
    let erased_seq = seqs[seqs.len() / 2];
    l.cairn(
        &["redact"],
        &[
            "--seq",
            &erased_seq.to_string(),
            "--reason",
            "GDPR request 77",
            "--actor",
            "dpo",
        ],
    )
    .ok();
    let file = l.path("incident.bundle");
    let no_cp = l.cairn(
        &["bundle", "export"],
        &["--subject", &subject, "--out", file.to_str().unwrap()],
    );
    assert_eq!(no_cp.code, 2, "no checkpoint covers the redaction yet");
    assert!(
        no_cp.stderr.contains("cairn checkpoint"),
        "{}",
        no_cp.stderr
    );
    assert!(!file.exists(), "nothing written");
    l.cairn(&["checkpoint"], &[]).ok();
    let out = l
        .cairn(
            &["bundle", "export"],
            &["--subject", &subject, "--out", file.to_str().unwrap()],
        )
        .ok();
    assert!(
        out.stdout.contains(&format!(
            "wrote {}: {} decisions",
            file.display(),
            seqs.len()
        )),
        "{}",
        out.stdout
    );

    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("evidence.json");
    std::fs::copy(&file, &bundle).unwrap();
    let verifier = l.verifier.clone();
    drop(l);
    Exported {
        dir,
        bundle,
        verifier,
        decisions: seqs.len() as u64,
        erased_seq,
    }
}

fn verify(bundle: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["bundle", "verify", bundle.to_str().unwrap()];
    args.extend(extra);
    run("cairn", &args)
}

#[test]
fn a_bundle_verifies_offline_with_only_the_file_and_the_key() {
    let e = exported();
    let out = verify(&e.bundle, &["--key", &e.verifier]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let text = out.stdout;
    assert!(text.starts_with("VALID"), "{text}");
    assert!(
        text.contains(&format!(
            "  {} decisions (and 1 other entry: a redaction)",
            e.decisions
        )),
        "{text}"
    );
    assert!(
        text.contains("all included in the ledger of origin e2e.example/bundle at size 3001"),
        "{text}"
    );
    assert!(
        text.contains(&format!("signed by key {} (the key you gave)", e.verifier)),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "erased: the input and output payloads of seq {}, by redaction 3000 (reason \"GDPR request 77\", asked by \"dpo\")",
            e.erased_seq
        )),
        "{text}"
    );
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);

    let v = verify(&e.bundle, &["--key", &e.verifier, "--json", "--entries"])
        .ok()
        .json();
    assert_eq!(v["status"], "valid");
    assert_eq!(v["decisions"], e.decisions);
    assert_eq!(v["payloads_checked"], 2 * (e.decisions - 1));
    assert_eq!(v["erased"].as_array().unwrap().len(), 2);
    let shown = v["entries"].as_array().unwrap();
    assert_eq!(shown.len() as u64, e.decisions + 1);
    let erased = shown.iter().find(|x| x["seq"] == e.erased_seq).unwrap();
    assert_eq!(erased["input"]["erased"], true);
    assert!(shown[0]["input"].is_object(), "payloads are shown decoded");

    // Without a key the bundle is only self-consistent, and the user is told,
    // by its own exit status too.
    let out = verify(&e.bundle, &[]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("VALID ONLY AGAINST ITS OWN KEY"),
        "{}",
        out.stdout
    );
    let v = verify(&e.bundle, &["--json"]).json();
    assert_eq!(v["status"], "valid_untrusted_key");
    assert!(
        out.stdout.contains("(the key inside the bundle)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("warning: no --key given"),
        "{}",
        out.stderr
    );
    drop(e.dir);
}

fn flip_hex_digit(s: &str, at: usize) -> String {
    let mut c: Vec<char> = s.chars().collect();
    c[at] = if c[at] == '0' { '1' } else { '0' };
    c.into_iter().collect()
}

type Alter = fn(&mut Value, &Exported);
/// The start of the first problem reported for an alteration.
type Want = fn(&Value, &Exported) -> String;

/// Index in `entries` of a decision whose payloads are present.
fn present(v: &Value, e: &Exported) -> usize {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .position(|x| x["seq"] != e.erased_seq && x.get("payloads").is_some())
        .unwrap()
}

#[test]
fn every_alteration_is_named_and_exits_1() {
    let e = exported();
    let original: Value =
        serde_json::from_str(&std::fs::read_to_string(&e.bundle).unwrap()).unwrap();
    let cases: Vec<(&str, Alter, Want)> = vec![
        (
            "entry bytes",
            |v, e| {
                let i = present(v, e);
                let hex = v["entries"][i]["entry"].as_str().unwrap().to_owned();
                v["entries"][i]["entry"] = flip_hex_digit(&hex, hex.len() - 90).into();
            },
            |v, e| {
                format!(
                    "entry seq {} (entries[{}]): the entry bytes were altered",
                    v["entries"][present(v, e)]["seq"],
                    present(v, e)
                )
            },
        ),
        (
            "payload",
            |v, e| {
                let i = present(v, e);
                let t = v["entries"][i]["payloads"]["output"]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let mut c: Vec<char> = t.chars().collect();
                c[2] = if c[2] == 'a' { 'b' } else { 'a' };
                v["entries"][i]["payloads"]["output"]["text"] =
                    c.into_iter().collect::<String>().into();
            },
            |v, e| {
                format!(
                    "output payload of seq {}: the payload",
                    v["entries"][present(v, e)]["seq"]
                )
            },
        ),
        (
            "salt",
            |v, e| {
                let i = present(v, e);
                let s = v["entries"][i]["payloads"]["input"]["salt"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                v["entries"][i]["payloads"]["input"]["salt"] = flip_hex_digit(&s, 10).into();
            },
            |v, e| {
                format!(
                    "input payload of seq {}: the payload or its salt was altered",
                    v["entries"][present(v, e)]["seq"]
                )
            },
        ),
        (
            "proof hash",
            |v, _| {
                let proof = v["entries"][3]["proof"].as_array_mut().unwrap();
                let last = proof.len() - 1;
                let h = proof[last].as_str().unwrap().to_owned();
                proof[last] = flip_hex_digit(&h, 7).into();
            },
            |v, _| {
                format!(
                    "inclusion proof of seq {}, hash #{}: altered",
                    v["entries"][3]["seq"],
                    v["entries"][3]["proof"].as_array().unwrap().len() - 1
                )
            },
        ),
        (
            "checkpoint root",
            |v, _| {
                let cp = v["checkpoint"].as_str().unwrap().to_owned();
                let root = cp.lines().nth(2).unwrap().to_owned();
                let other = if root.starts_with('A') {
                    root.replacen('A', "B", 1)
                } else {
                    format!("A{}", &root[1..])
                };
                v["checkpoint"] = cp.replacen(&root, &other, 1).into();
            },
            |_, _| "checkpoint: the checkpoint text was altered".into(),
        ),
        (
            "checkpoint size",
            |v, _| {
                let cp = v["checkpoint"]
                    .as_str()
                    .unwrap()
                    .replacen("\n3001\n", "\n3000\n", 1);
                v["checkpoint"] = cp.into();
            },
            |_, _| "checkpoint: the checkpoint text was altered".into(),
        ),
        (
            "signature",
            |v, _| {
                let cp = v["checkpoint"].as_str().unwrap().to_owned();
                let at = cp.rfind(' ').unwrap() + 40;
                let mut c: Vec<char> = cp.chars().collect();
                c[at] = if c[at] == 'Q' { 'R' } else { 'Q' };
                v["checkpoint"] = c.into_iter().collect::<String>().into();
            },
            |_, _| {
                "checkpoint signature: the signature by key \"e2e.example/bundle\" does not verify"
                    .into()
            },
        ),
        (
            "embedded key",
            |v, _| {
                v["verifier_key"] =
                    "e2e.example/bundle+00000000+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
                        .into();
            },
            |_, _| "verifier key: ".into(),
        ),
        (
            "redaction entry removed",
            |v, _| {
                v["entries"].as_array_mut().unwrap().pop();
            },
            |_, e| {
                format!("input payload of seq {}: `erased_by` names seq 3000, which is not in the bundle", e.erased_seq)
            },
        ),
        (
            "seq field",
            |v, _| {
                let s = v["entries"][1]["seq"].as_u64().unwrap();
                v["entries"][1]["seq"] = (s + 1).into();
            },
            |v, _| {
                let s = v["entries"][1]["seq"].as_u64().unwrap();
                format!(
                    "entry seq {} (entries[1]): `seq` says {} but the entry bytes are seq {s}",
                    s + 1,
                    s + 1
                )
            },
        ),
    ];
    for (name, alter, want) in cases {
        let mut v = original.clone();
        alter(&mut v, &e);
        let file = e
            .dir
            .path()
            .join(format!("{}.json", name.replace(' ', "-")));
        std::fs::write(&file, v.to_string()).unwrap();
        let out = verify(&file, &["--key", &e.verifier]);
        assert_eq!(out.code, 1, "{name}: {}{}", out.stdout, out.stderr);
        assert!(out.stdout.starts_with("INVALID"), "{name}: {}", out.stdout);
        let first = out.stdout.lines().nth(1).unwrap_or_default().trim();
        let want = want(&original, &e);
        assert!(
            first.starts_with(&want),
            "{name}: want {want:?}, got:\n{}",
            out.stdout
        );
    }
}

#[test]
fn wrong_keys_damaged_files_and_other_versions() {
    let e = exported();
    // The key of another ledger: the bundle was not signed by it.
    let other = TestLedger::new("e2e.example/bundle");
    let out = verify(&e.bundle, &["--key", &other.verifier]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("no signature by key") || out.stdout.contains("carries no signature"),
        "{}",
        out.stdout
    );

    let text = std::fs::read_to_string(&e.bundle).unwrap();
    let cut = e.dir.path().join("cut.json");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let out = verify(&cut, &["--key", &e.verifier]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("bundle: not valid JSON"),
        "{}",
        out.stdout
    );

    let newer = e.dir.path().join("v2.json");
    std::fs::write(&newer, text.replacen("\"version\":1", "\"version\":2", 1)).unwrap();
    let out = verify(&newer, &["--key", &e.verifier]);
    assert_eq!(out.code, 2, "cannot check another version: {}", out.stdout);
    assert!(
        out.stderr.contains("version 2 is not supported"),
        "{}",
        out.stderr
    );

    let out = verify(&e.dir.path().join("missing.json"), &[]);
    assert_eq!(out.code, 2);
    let out = verify(&e.bundle, &["--key", "not-a-key"]);
    assert_eq!(out.code, 2);
    let out = verify(&e.bundle, &["--key", &e.verifier, "--json"]);
    assert_eq!(out.code, 0);
}
