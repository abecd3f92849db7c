use std::collections::BTreeMap;

use cairn_core::entry::ModelRef;
use serde_json::{json, Value};

use super::*;
use crate::candidate::CallFailure;
use crate::run::Answer;

fn record(seq: u64, output: Value) -> Record {
    Record {
        seq,
        input: json!({}),
        output,
        params: None,
        model: ModelRef {
            name: "m".into(),
            version: "1".into(),
            digest: None,
        },
        session: None,
        latency_ms: Some(10.0 + seq as f64),
        decision: None,
        score: None,
    }
}

fn answered(output: Value) -> Reply {
    Reply::Answered(Answer {
        output: Some(output),
        latency_ms: 2.0,
        attempts: 1,
    })
}

fn info(baseline: bool) -> RunInfo {
    let endpoint = |e: &str| Endpoint {
        endpoint: e.into(),
        model: None,
    };
    RunInfo {
        candidate: endpoint("cand"),
        baseline: baseline.then(|| endpoint("base")),
        selection: Selection::default(),
        settings: Settings {
            concurrency: 1,
            rate_per_s: None,
            timeout_ms: 1000,
            retries: 0,
            tolerances: vec![],
            ignore: vec![],
            label_path: "$.decision".into(),
            score_path: "$.score".into(),
        },
        started_at: "2026-11-20T10:00:00Z".into(),
        duration_ms: 1.0,
        interrupted: false,
    }
}

fn options() -> AnalyzeOptions {
    AnalyzeOptions {
        rules: DiffRules::default(),
        label_path: PathPattern::parse("$.decision").expect("parses"),
        score_path: PathPattern::parse("$.score").expect("parses"),
        examples_max: 10,
        noise: NoiseRule::default(),
    }
}

#[test]
fn flips_errors_and_examples_are_counted_per_entry() {
    let out = |d: &str, s: f64| json!({"decision": d, "score": s});
    let records: Vec<Record> = vec![
        record(0, out("approve", 0.1)),
        record(1, out("approve", 0.45)),
        record(2, out("review", 0.6)),
        record(3, out("approve", 0.2)),
        record(4, out("approve", 0.2)),
    ];
    let outcomes = vec![
        Outcome {
            seq: 0,
            candidate: answered(out("approve", 0.1)),
            baseline: None,
        },
        Outcome {
            seq: 1,
            candidate: answered(out("review", 0.45)),
            baseline: None,
        },
        Outcome {
            seq: 2,
            candidate: answered(out("review", 0.7)),
            baseline: None,
        },
        Outcome {
            seq: 3,
            candidate: Reply::Failed {
                failure: CallFailure::new(FailureKind::Timeout, "slow", true),
                attempts: 2,
            },
            baseline: None,
        },
        Outcome {
            seq: 4,
            candidate: Reply::Cancelled,
            baseline: None,
        },
    ];
    let nr = vec![NotReplayable {
        seq: 9,
        reason: "input erased by redaction 10".into(),
    }];
    let r = analyze(&records, &outcomes, nr, info(false), &options());
    assert_eq!(
        (r.selected, r.replayed, r.errors, r.cancelled),
        (6, 3, 1, 1)
    );
    assert_eq!(r.agreeing, 1);
    assert_eq!(r.agreement_rate, Some(1.0 / 3.0));
    let mut want: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    want.entry("approve".into())
        .or_default()
        .insert("approve".into(), 1);
    want.entry("approve".into())
        .or_default()
        .insert("review".into(), 1);
    want.entry("review".into())
        .or_default()
        .insert("review".into(), 1);
    assert_eq!(r.flips, want);
    assert_eq!((r.label.compared, r.label.changed), (3, 1));
    let seqs: Vec<u64> = r.differing.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
    // The flip ranks before the larger score change.
    assert_eq!(
        r.examples.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(r.error_details[0].seq, 3);
    assert_eq!(r.error_kinds.get("timeout"), Some(&1));
    let score = r.score.as_ref().expect("scores compared");
    assert_eq!(score.compared, 3);
    assert!((score.mean_delta.unwrap_or(0.0) - 0.1 / 3.0).abs() < 1e-9);
    let json: Value = serde_json::from_slice(&r.to_json_bytes()).expect("json");
    for key in [
        "selected",
        "replayed",
        "agreement_rate",
        "flips",
        "errors",
        "examples",
        "not_replayable",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["examples"][0]["differences"][0]["path"], "$.decision");
}

#[test]
fn a_baseline_turns_shared_nondeterminism_into_noise() {
    // `nonce` differs on every entry for both; `price` only for the candidate, on 1 in 4.
    let n = 200u64;
    let records: Vec<Record> = (0..n)
        .map(|s| record(s, json!({"nonce": 0, "price": 1.0})))
        .collect();
    let outcomes: Vec<Outcome> = (0..n)
        .map(|s| {
            let price = if s % 4 == 0 { 2.0 } else { 1.0 };
            Outcome {
                seq: s,
                candidate: answered(json!({"nonce": s + 1, "price": price})),
                baseline: Some(answered(json!({"nonce": s + 7, "price": 1.0}))),
            }
        })
        .collect();
    let r = analyze(&records, &outcomes, vec![], info(true), &options());
    let verdict = |p: &str| r.paths.iter().find(|x| x.path == p).map(|x| x.verdict);
    assert_eq!(verdict("$.nonce"), Some(Verdict::Noise));
    assert_eq!(verdict("$.price"), Some(Verdict::Difference));
    assert_eq!(
        r.noise.as_ref().map(|x| x.noise_paths.clone()),
        Some(vec!["$.nonce".to_owned()])
    );
    assert_eq!(r.differing.len(), 50);
    assert!(r.differing.iter().all(|d| d.paths == ["$.price"]));
    // Without the baseline the nonce is a difference on every entry.
    let mut info = info(false);
    info.baseline = None;
    let plain: Vec<Outcome> = outcomes
        .into_iter()
        .map(|o| Outcome {
            baseline: None,
            ..o
        })
        .collect();
    let r = analyze(&records, &plain, vec![], info, &options());
    assert_eq!(r.differing.len(), n as usize);
    assert!(r.noise.is_none());
}

#[test]
fn entries_examined_during_the_run_give_the_same_report() {
    // Enough entries for the examination to run on several threads; agreeing,
    // differing, reordered, failed and cancelled entries, with a baseline.
    let n = 3000u64;
    let recorded =
        |s: u64| json!({"decision": "approve", "score": 0.25, "reasons": ["a", "b"], "k": s});
    let records: Vec<Record> = (0..n).map(|s| record(s, recorded(s))).collect();
    let outcomes: Vec<Outcome> = (0..n)
        .map(|s| {
            let candidate = match s % 7 {
                0 => answered(json!({"decision": "review", "score": 0.75, "reasons": ["a"], "k": s})),
                1 => answered(json!({"decision": "approve", "score": 0.25, "reasons": ["b", "a"], "k": s})),
                2 => Reply::Failed {
                    failure: CallFailure::new(FailureKind::Transport, "reset", true),
                    attempts: 2,
                },
                3 if s > n - 20 => Reply::Cancelled,
                _ => answered(recorded(s)),
            };
            let baseline = Some(answered(json!({"decision": "approve", "score": 0.25, "reasons": ["a", "b"], "k": s + s % 2})));
            Outcome {
                seq: s,
                candidate,
                baseline,
            }
        })
        .collect();
    let opts = options();
    let want = analyze(&records, &outcomes, vec![], info(true), &opts);
    assert!(want.replayed > 0 && want.errors > 0 && want.cancelled > 0);
    assert!(!want.differing.is_empty() && !want.examples.is_empty());
    let all: Vec<Option<Examined>> = records
        .iter()
        .zip(&outcomes)
        .map(|(r, o)| Some(examine(r, o, &opts)))
        .collect();
    let some: Vec<Option<Examined>> = all
        .iter()
        .enumerate()
        .map(|(i, e)| e.clone().filter(|_| i % 3 != 0))
        .collect();
    for examined in [all, some, vec![None; 5], Vec::new()] {
        let got = analyze_examined(
            &records,
            &outcomes,
            examined.clone(),
            vec![],
            info(true),
            &opts,
        );
        assert_eq!(got, want);
        assert_eq!(got.to_json_bytes(), want.to_json_bytes());
        // As a run leaves them: the outputs of examined entries let go where the
        // report will not need them.
        let mut let_go = outcomes.clone();
        for (o, e) in let_go.iter_mut().zip(&examined) {
            if let Some(e) = e {
                o.let_go(e);
            }
        }
        let got = analyze_examined(&records, &let_go, examined, vec![], info(true), &opts);
        assert_eq!(got.to_json_bytes(), want.to_json_bytes());
    }
}

#[test]
fn free_text_labels_are_summed_up_as_the_largest_flips_not_a_matrix() {
    let n = 2000u64;
    let records: Vec<Record> = (0..n)
        .map(|seq| record(seq, json!({"decision": format!("old-{seq}")})))
        .collect();
    let outcomes: Vec<Outcome> = (0..n)
        .map(|seq| Outcome {
            seq,
            candidate: answered(json!({"decision": format!("new-{}", seq % 1000)})),
            baseline: None,
        })
        .collect();
    let r = analyze(&records, &outcomes, vec![], info(false), &options());
    let text = crate::render::text::summary(&r);
    // A matrix of 3,000 labels would be 9 million cells; the summary stays
    // a page long and names the largest flips.
    assert!(text.len() < 20_000, "{} bytes", text.len());
    assert!(text.contains("old-0 -> new-0: 1"), "{text}");
    assert!(text.contains("... and 1980 more kinds of flip"), "{text}");
}

#[test]
fn long_labels_are_kept_short_and_still_compared_whole() {
    let long = "x".repeat(5000);
    let records = vec![
        record(0, json!({"decision": long.clone()})),
        record(1, json!({"decision": long.clone()})),
    ];
    let outcomes = vec![
        Outcome {
            seq: 0,
            candidate: answered(json!({"decision": long.clone()})),
            baseline: None,
        },
        Outcome {
            seq: 1,
            candidate: answered(json!({"decision": format!("{long}y")})),
            baseline: None,
        },
    ];
    let r = analyze(&records, &outcomes, vec![], info(false), &options());
    assert_eq!((r.label.compared, r.label.changed), (2, 1));
    for (old, row) in &r.flips {
        assert!(old.len() < 300, "{} bytes", old.len());
        assert!(row.keys().all(|new| new.len() < 300));
        assert!(old.contains("(5000 bytes, blake3 "), "{old}");
    }
}
