#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::decision::DecisionInput;
use crate::entry::{EntryBody, RedactionV1};
use crate::hash::{Blake3Hasher, ZERO_HASH};
use crate::merkle::{inclusion_proof, MemoryTree};

const ORIGIN: &str = "test.example/bundle";

struct Fixture {
    bundle: Bundle,
    signer: NoteSigner,
}

/// A ledger of `n` decisions (seq 0..n) and a redaction of seq 3 (seq n); the
/// bundle holds decisions 1, 3, 4 and 6 and the redaction.
fn fixture(n: u64) -> Fixture {
    let mut entries = Vec::new();
    let mut payloads = Vec::new();
    let mut prev = ZERO_HASH;
    for seq in 0..n {
        let line = format!(
            r#"{{"stream":"s","model":{{"name":"m","version":"{}"}},"input":{{"x":{seq}}},"output":"ok",
               "decision":"approve","event_time":"2026-11-20T10:00:{:02}Z","subject":"cust-1"}}"#,
            1 + seq / 4,
            seq % 60
        )
        .replace('\n', "");
        let p = DecisionInput::parse(line.as_bytes())
            .unwrap()
            .prepare([seq as u8; 32], [9; 32]);
        let entry = Entry {
            seq,
            prev_hash: prev,
            recorded_at_us: 1_800_000_000_000_000 + seq as i64,
            body: EntryBody::DecisionV1(p.body),
        };
        prev = entry.leaf_hash();
        entries.push(entry);
        payloads.push((p.input, p.output));
    }
    let redaction = Entry {
        seq: n,
        prev_hash: prev,
        recorded_at_us: 1_800_000_000_100_000,
        body: EntryBody::RedactionV1(RedactionV1 {
            target_seq: 3,
            slots: PayloadSlot::ALL.to_vec(),
            reason: "GDPR request 42".into(),
            actor: "dpo".into(),
        }),
    };
    entries.push(redaction);
    let tree = MemoryTree::from_leaves(Blake3Hasher, entries.iter().map(Entry::leaf_hash));
    let size = tree.size();
    let signer = NoteSigner::new(ORIGIN, &[7; 32]).unwrap();
    let checkpoint = signer.sign_checkpoint(&Checkpoint {
        origin: ORIGIN.into(),
        size,
        root: tree.root(),
        extensions: vec![],
    });
    let pick = [1u64, 3, 4, 6, n];
    let bundle_entries = pick
        .iter()
        .map(|&seq| {
            let entry = entries[seq as usize].clone();
            let slots = match (&entry.body, seq) {
                (EntryBody::DecisionV1(_), 3) => PayloadSlot::ALL
                    .iter()
                    .map(|s| (*s, SlotContent::Erased { by: n }))
                    .collect(),
                (EntryBody::DecisionV1(_), _) => {
                    let (i, o) = payloads[seq as usize].clone();
                    vec![
                        (PayloadSlot::Input, SlotContent::Present(i)),
                        (PayloadSlot::Output, SlotContent::Present(o)),
                    ]
                }
                _ => Vec::new(),
            };
            BundleEntry {
                proof: inclusion_proof(&Blake3Hasher, &tree, seq, size).unwrap(),
                entry,
                payloads: slots,
            }
        })
        .collect();
    Fixture {
        bundle: Bundle {
            verifier_key: signer.verifier(),
            checkpoint,
            entries: bundle_entries,
        },
        signer,
    }
}

fn check(text: &str, key: Option<&NoteVerifier>) -> BundleReport {
    verify(
        text.as_bytes(),
        VerifyOptions {
            trusted_key: key,
            keep_entries: false,
        },
    )
    .unwrap()
}

/// The JSON document, to alter.
fn doc(f: &Fixture) -> serde_json::Value {
    serde_json::from_str(&f.bundle.to_json()).unwrap()
}

fn only_finding(v: &serde_json::Value, key: &NoteVerifier) -> Finding {
    let r = check(&v.to_string(), Some(key));
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    r.findings[0].clone()
}

#[test]
fn a_valid_bundle_says_what_it_proves() {
    let f = fixture(10);
    let key = f.signer.verifier();
    let r = check(&f.bundle.to_json(), Some(&key));
    assert!(r.valid(), "{:#?}", r.findings);
    assert_eq!((r.decisions, r.other_entries), (4, 1));
    assert_eq!((r.origin.as_deref(), r.size), (Some(ORIGIN), Some(11)));
    assert_eq!(r.key_source, KeySource::Trusted);
    assert_eq!(r.seq_range, Some((1, 10)));
    assert_eq!(r.payloads_checked, 6);
    assert_eq!(r.erased.len(), 2);
    assert_eq!((r.erased[0].seq, r.erased[0].by), (3, 10));
    assert_eq!(r.erased[0].reason, "GDPR request 42");
    assert_eq!(
        crate::decision::format_time_us(r.first_time_us.unwrap()),
        "2026-11-20T10:00:01Z"
    );
    let embedded = check(&f.bundle.to_json(), None);
    assert!(embedded.valid());
    assert_eq!(embedded.key_source, KeySource::Embedded);
}

#[test]
fn each_alteration_is_named_precisely() {
    let f = fixture(40);
    let key = f.signer.verifier();
    let flip_hex = |s: &str, at: usize| {
        let mut c: Vec<char> = s.chars().collect();
        c[at] = if c[at] == '0' { '1' } else { '0' };
        c.into_iter().collect::<String>()
    };
    type Alter = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Alter, Location, &str)> = vec![
        (
            Box::new(move |v| {
                let e = v["entries"][2]["entry"].as_str().unwrap().to_owned();
                v["entries"][2]["entry"] = flip_hex(&e, e.len() - 20).into();
            }),
            Location::Entry {
                index: 2,
                seq: Some(4),
            },
            "entry bytes were altered",
        ),
        (
            Box::new(|v| v["entries"][0]["payloads"]["input"]["text"] = r#"{"x":2}"#.into()),
            Location::Payload {
                seq: 1,
                slot: PayloadSlot::Input,
            },
            "altered",
        ),
        (
            Box::new(move |v| {
                let s = v["entries"][0]["payloads"]["output"]["salt"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                v["entries"][0]["payloads"]["output"]["salt"] = flip_hex(&s, 3).into();
            }),
            Location::Payload {
                seq: 1,
                slot: PayloadSlot::Output,
            },
            "salt was altered",
        ),
        (
            Box::new(move |v| {
                let p = v["entries"][3]["proof"][4].as_str().unwrap().to_owned();
                v["entries"][3]["proof"][4] = flip_hex(&p, 0).into();
            }),
            Location::Proof {
                seq: 6,
                hash: Some(4),
            },
            "altered",
        ),
        (
            Box::new(move |v| {
                let h = v["entries"][1]["leaf_hash"].as_str().unwrap().to_owned();
                v["entries"][1]["leaf_hash"] = flip_hex(&h, 0).into();
            }),
            Location::LeafHash { seq: 3 },
            "`leaf_hash` was altered",
        ),
        (
            Box::new(|v| {
                let cp = v["checkpoint"]
                    .as_str()
                    .unwrap()
                    .replacen("\n41\n", "\n42\n", 1);
                v["checkpoint"] = cp.into();
            }),
            Location::Checkpoint,
            "checkpoint text was altered",
        ),
        (
            Box::new(move |v| {
                let cp = v["checkpoint"].as_str().unwrap().to_owned();
                let at = cp.rfind(' ').unwrap() + 30;
                v["checkpoint"] = flip_hex(&cp, at).into();
            }),
            Location::Signature,
            "signature itself",
        ),
        (
            Box::new(|v| v["entries"][4]["payloads"] = serde_json::json!({})),
            Location::Entry {
                index: 4,
                seq: Some(40),
            },
            "missing field `input`",
        ),
        (
            Box::new(|v| {
                let redaction = v["entries"][4].clone();
                v["entries"].as_array_mut().unwrap().pop();
                assert_eq!(redaction["seq"], 40);
            }),
            Location::Payload {
                seq: 3,
                slot: PayloadSlot::Input,
            },
            "not in the bundle",
        ),
    ];
    for (i, (alter, at, words)) in cases.into_iter().enumerate() {
        let mut v = doc(&f);
        alter(&mut v);
        let r = check(&v.to_string(), Some(&key));
        assert!(!r.valid(), "case {i} went unnoticed");
        let first = &r.findings[0];
        assert_eq!(first.at, at, "case {i}: {:#?}", r.findings);
        assert!(first.problem.contains(words), "case {i}: {first}");
    }
}

#[test]
fn a_changed_root_is_blamed_on_the_checkpoint_once() {
    let f = fixture(20);
    let key = f.signer.verifier();
    let mut v = doc(&f);
    let cp = v["checkpoint"].as_str().unwrap().to_owned();
    let lines: Vec<&str> = cp.split('\n').collect();
    let other = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [5u8; 32]);
    v["checkpoint"] = cp.replacen(lines[2], &other, 1).into();
    let finding = only_finding(&v, &key);
    assert_eq!(finding.at, Location::Checkpoint);
    assert!(
        finding.problem.contains("its root was altered"),
        "{finding}"
    );
}

#[test]
fn another_key_or_a_swapped_key_is_refused() {
    let f = fixture(8);
    let stranger = NoteSigner::new(ORIGIN, &[8; 32]).unwrap().verifier();
    let r = check(&f.bundle.to_json(), Some(&stranger));
    assert_eq!(r.findings[0].at, Location::VerifierKey);
    assert_eq!(r.findings[1].at, Location::Signature);
    // A bundle re-signed by someone else, with their key embedded, is
    // self-consistent, and fails against the key the auditor trusts.
    let mut forged = f.bundle.clone();
    let other = NoteSigner::new(ORIGIN, &[8; 32]).unwrap();
    let body = forged.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
    forged.checkpoint = other.sign_checkpoint(&Checkpoint::parse_body(&body).unwrap());
    forged.verifier_key = other.verifier();
    assert!(check(&forged.to_json(), None).valid());
    assert!(!check(&forged.to_json(), Some(&f.signer.verifier())).valid());
}

#[test]
fn malformed_documents_are_findings_and_other_versions_cannot_be_checked() {
    let f = fixture(8);
    let key = f.signer.verifier();
    let mut v = doc(&f);
    v["entries"][1]["extra"] = 1.into();
    let finding = only_finding(&v, &key);
    assert_eq!(
        finding.at,
        Location::Entry {
            index: 1,
            seq: Some(3)
        }
    );
    assert!(
        finding.problem.contains("unknown field `extra`"),
        "{finding}"
    );

    let r = check("{\"format\":\"cairn-bundle\"", Some(&key));
    assert!(r.findings[0].problem.contains("not valid JSON"));
    let r = check(r#"{"format":"zip","version":1}"#, Some(&key));
    assert!(r.findings[0]
        .problem
        .contains("not a Cairn evidence bundle"));

    let mut v = doc(&f);
    v["version"] = 2.into();
    v["something_new"] = true.into();
    let err = verify(v.to_string().as_bytes(), VerifyOptions::default()).unwrap_err();
    assert_eq!(err, CannotCheck::UnsupportedVersion { found: 2 });
}

#[test]
fn kept_entries_carry_their_payloads() {
    let f = fixture(8);
    let r = verify(
        f.bundle.to_json().as_bytes(),
        VerifyOptions {
            trusted_key: None,
            keep_entries: true,
        },
    )
    .unwrap();
    assert_eq!(r.entries.len(), 5);
    assert_eq!(
        r.entries[0].payloads[0].1.as_deref(),
        Some(&br#"{"x":1}"#[..])
    );
    assert_eq!(r.entries[1].payloads[0].1, None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_changed_character_is_caught_or_harmless(at in any::<prop::sample::Index>(), to in 0u8..128) {
        let f = fixture(12);
        let text = f.bundle.to_json();
        let mut bytes = text.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to && bytes[i].is_ascii());
        bytes[i] = to;
        fuzz_verify(&bytes);
        let r = verify(&bytes, VerifyOptions { trusted_key: Some(&f.signer.verifier()), keep_entries: false });
        if let Ok(r) = r {
            if r.valid() {
                // Only a change JSON does not see may pass: whitespace between tokens.
                let same: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(same, serde_json::from_str::<serde_json::Value>(&text).unwrap());
            }
        }
    }
}

#[test]
fn adjacent_entries_whose_chain_does_not_link_are_invalid() {
    // A signed tree over entries whose chain is broken at seq 2 (its prev_hash
    // is zeros): each entry is included, but the bundle shows the break.
    let mut entries = Vec::new();
    let mut prepared = Vec::new();
    let mut prev = ZERO_HASH;
    for seq in 0..4u64 {
        let line = format!(
            r#"{{"stream":"s","model":{{"name":"m","version":"1"}},"input":{seq},"output":"ok"}}"#
        );
        let p = DecisionInput::parse(line.as_bytes())
            .unwrap()
            .prepare([1; 32], [2; 32]);
        let entry = Entry {
            seq,
            prev_hash: if seq == 2 { ZERO_HASH } else { prev },
            recorded_at_us: seq as i64,
            body: EntryBody::DecisionV1(p.body),
        };
        prev = entry.leaf_hash();
        entries.push(entry);
        prepared.push((p.input, p.output));
    }
    let tree = MemoryTree::from_leaves(Blake3Hasher, entries.iter().map(Entry::leaf_hash));
    let signer = NoteSigner::new(ORIGIN, &[7; 32]).unwrap();
    let bundle_of = |seqs: &[u64]| Bundle {
        verifier_key: signer.verifier(),
        checkpoint: signer.sign_checkpoint(&Checkpoint {
            origin: ORIGIN.into(),
            size: 4,
            root: tree.root(),
            extensions: vec![],
        }),
        entries: seqs
            .iter()
            .map(|&seq| BundleEntry {
                entry: entries[seq as usize].clone(),
                proof: inclusion_proof(&Blake3Hasher, &tree, seq, 4).unwrap(),
                payloads: vec![
                    (
                        PayloadSlot::Input,
                        SlotContent::Present(prepared[seq as usize].0.clone()),
                    ),
                    (
                        PayloadSlot::Output,
                        SlotContent::Present(prepared[seq as usize].1.clone()),
                    ),
                ],
            })
            .collect(),
    };
    let key = signer.verifier();
    assert!(check(&bundle_of(&[0, 1, 3]).to_json(), Some(&key)).valid());
    let r = check(&bundle_of(&[1, 2, 3]).to_json(), Some(&key));
    assert_eq!(r.findings.len(), 1, "{:#?}", r.findings);
    assert_eq!(
        r.findings[0].to_string(),
        "entry seq 2 (entries[1]): prev_hash does not link to the leaf hash of seq 1"
    );
}

#[test]
fn an_oversized_checkpoint_or_proof_is_refused_before_it_is_parsed() {
    let f = fixture(8);
    let key = f.signer.verifier();
    let mut v = doc(&f);
    let note = v["checkpoint"].as_str().unwrap().to_owned();
    let (body, signatures) = note.split_once("\n\n").unwrap();
    let padded = format!("{body}\n{}\n{signatures}", "x\n".repeat(600_000));
    v["checkpoint"] = padded.into();
    let r = check(&v.to_string(), Some(&key));
    assert!(!r.valid());
    assert!(
        r.findings.iter().any(|f| f.at == Location::Checkpoint
            && f.problem.contains("over the 1048576 a signed note may be")),
        "{:#?}",
        r.findings
    );

    let mut v = doc(&f);
    let hash = v["entries"][0]["proof"][0].clone();
    v["entries"][0]["proof"] = serde_json::Value::Array(vec![hash; 65]);
    let r = check(&v.to_string(), Some(&key));
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem.contains("the proof holds 65 hashes")),
        "{:#?}",
        r.findings
    );
}
