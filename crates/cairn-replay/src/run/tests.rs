//! Tests of `run`.

use super::*;
use cairn_core::entry::ModelRef;
use serde_json::json;

fn rec(seq: u64, session: Option<&str>) -> Record {
    Record {
        seq,
        input: json!({"n": seq}),
        output: json!({"n": seq}),
        params: None,
        model: ModelRef {
            name: "m".into(),
            version: "1".into(),
            digest: None,
        },
        session: session.map(str::to_owned),
        latency_ms: None,
        decision: None,
        score: None,
    }
}

/// The long sessions in the order the workers take them, then the other
/// records in order, each with its session queue's place (`None` alone).
type Listed = (Vec<Vec<usize>>, Vec<(usize, Option<usize>)>);

fn listed(records: &[Record], workers: usize) -> Listed {
    let s = Schedule::new(records, workers);
    let long = (0..s.long_bounds.len())
        .filter_map(|g| s.long_session(g).map(<[usize]>::to_vec))
        .collect();
    let rest = s
        .rest
        .iter()
        .zip(&s.queue_of)
        .map(|(&i, &(q, place))| (i, (q != ALONE).then_some(place)))
        .collect();
    (long, rest)
}

#[test]
fn long_sessions_go_first_whole_and_the_rest_in_record_order() {
    // For one worker every session is long: the longest first, then by first
    // record.
    let r = [
        rec(0, Some("a")),
        rec(1, None),
        rec(2, Some("b")),
        rec(3, Some("a")),
        rec(4, None),
    ];
    let (long, rest) = listed(&r, 1);
    assert_eq!(long, vec![vec![0, 3], vec![1], vec![2], vec![4]]);
    assert!(rest.is_empty());
    // 64 records for 2 workers: a session of 4 or more is long.
    let session = |s: u64| match s {
        30..=35 => Some("long"),
        5 | 40 => Some("pair"),
        _ => None,
    };
    let r: Vec<Record> = (0..64).map(|s| rec(s, session(s))).collect();
    let (long, rest) = listed(&r, 2);
    assert_eq!(long, vec![(30..=35).collect::<Vec<usize>>()]);
    let want: Vec<(usize, Option<usize>)> = (0..64)
        .filter(|i| !(30..=35).contains(i))
        .map(|i| match i {
            5 => (5, Some(0)),
            40 => (40, Some(1)),
            _ => (i, None),
        })
        .collect();
    assert_eq!(rest, want);
    // For many workers every session is long: the longest first.
    let (long, _) = listed(&r, 64);
    assert_eq!((long[0].len(), long[1].clone()), (6, vec![5, 40]));
}

#[test]
fn a_sessions_records_go_one_at_a_time_in_order_whoever_takes_them_first() {
    // 200 records for 4 workers: a session of three is short.
    let session = |s: u64| matches!(s, 3 | 7 | 11).then_some("s");
    let r: Vec<Record> = (0..200).map(|s| rec(s, session(s))).collect();
    let s = Schedule::new(&r, 4);
    assert!(s.long_bounds.is_empty());
    let k = |i: usize| s.rest.iter().position(|&x| x == i).expect("in rest");
    // A record alone goes at once.
    assert_eq!(s.take(k(4)), Some(4));
    // The session's second record is taken before its first: it waits.
    assert_eq!(s.take(k(7)), None);
    assert_eq!(s.take(k(3)), Some(3));
    // While the first is in flight, the third waits too.
    assert_eq!(s.take(k(11)), None);
    // Done with the first: the second is next, then the third, then nothing.
    assert_eq!(s.done(k(3)), Some(7));
    assert_eq!(s.done(k(3)), Some(11));
    assert_eq!(s.done(k(3)), None);
    // Records alone have no session to continue.
    assert_eq!(s.done(k(4)), None);
}

#[test]
fn a_free_session_takes_its_next_record_at_once() {
    let session = |s: u64| matches!(s, 3 | 7).then_some("s");
    let r: Vec<Record> = (0..200).map(|s| rec(s, session(s))).collect();
    let s = Schedule::new(&r, 4);
    let k = |i: usize| s.rest.iter().position(|&x| x == i).expect("in rest");
    assert_eq!(s.take(k(3)), Some(3));
    assert_eq!(s.done(k(3)), None);
    assert_eq!(s.take(k(7)), Some(7));
    assert_eq!(s.done(k(7)), None);
}

#[tokio::test]
async fn every_record_gets_an_outcome_and_failures_are_per_record() {
    // Echo the request back, except for seqs divisible by 3.
    let script = r#"while IFS= read -r l; do case "$l" in *'"seq":3,'*|*'"seq":6,'*) echo '{"error":"nope"}';; *) echo "$l";; esac; done"#;
    let c = Arc::new(Candidate::command(script).await.expect("starts"));
    let records: Vec<Record> = (0..8)
        .map(|s| rec(s, Some(if s % 2 == 0 { "x" } else { "y" })))
        .collect();
    let opts = RunOptions {
        concurrency: 4,
        ..RunOptions::default()
    };
    let out = replay(Arc::new(records), c.clone(), None, &opts).await;
    c.shutdown().await;
    let failed: Vec<u64> = out
        .iter()
        .filter(|o| matches!(o.candidate, Reply::Failed { .. }))
        .map(|o| o.seq)
        .collect();
    assert_eq!(failed, vec![3, 6]);
    assert_eq!(
        out.iter().map(|o| o.seq).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    assert_eq!(opts.progress.load(Ordering::Relaxed), 8);
}

#[tokio::test]
async fn entries_are_examined_as_their_answers_arrive() {
    // Echo the request back: the output is the request object, unlike the record's.
    let c = Arc::new(Candidate::command("cat").await.expect("starts"));
    let mut records: Vec<Record> = (0..6)
        .map(|s| rec(s, Some(if s % 2 == 0 { "x" } else { "y" })))
        .collect();
    // One record whose output is what the candidate will answer.
    let echo: Value =
        serde_json::from_slice(&crate::candidate::request_bytes(&records[4])).expect("json");
    records[4].output = echo;
    let options = crate::report::AnalyzeOptions {
        rules: crate::diff::DiffRules::default(),
        label_path: crate::path::PathPattern::parse("$.seq").expect("path"),
        score_path: crate::path::PathPattern::parse("$.n").expect("path"),
        examples_max: 3,
        noise: crate::noise::NoiseRule::default(),
    };
    let records = Arc::new(records);
    let run = replay_examined(
        records.clone(),
        c.clone(),
        None,
        &RunOptions::default(),
        &options,
    )
    .await;
    // The same records replayed without examining keep every output.
    let plain = replay(records.clone(), c.clone(), None, &RunOptions::default()).await;
    c.shutdown().await;
    assert_eq!(run.examined.len(), records.len());
    for (((r, o), e), p) in records
        .iter()
        .zip(&run.outcomes)
        .zip(&run.examined)
        .zip(&plain)
    {
        assert!(p.candidate.answer().is_some(), "{p:?}");
        let e = e.as_ref().expect("examined");
        assert_eq!(e, &examine(r, p, &options), "seq {}", r.seq);
        // Only a differing entry's output is kept.
        let kept = o.candidate.answer().and_then(|a| a.output.as_ref());
        assert_eq!(kept.is_some(), !e.diffs.is_empty(), "seq {}", r.seq);
        if let Some(output) = kept {
            assert_eq!(
                Some(output),
                p.candidate.answer().and_then(|a| a.output.as_ref())
            );
        }
    }
    let diffs = |i: usize| run.examined[i].as_ref().map(|e| e.diffs.len());
    assert_eq!(diffs(4), Some(0));
    assert!(diffs(3).is_some_and(|n| n > 0));
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let c = Arc::new(Candidate::command("sleep 5").await.expect("starts"));
    let opts = RunOptions {
        timeout: Duration::from_millis(50),
        retries: 2,
        ..RunOptions::default()
    };
    let out = replay(Arc::new(vec![rec(0, None)]), c.clone(), None, &opts).await;
    match &out[0].candidate {
        Reply::Failed { failure, attempts } => {
            assert_eq!((failure.kind, *attempts), (FailureKind::Timeout, 3));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    c.shutdown().await;
}

#[tokio::test]
async fn a_timeout_too_long_for_the_clock_means_no_timeout() {
    let c = Arc::new(Candidate::command("cat").await.expect("starts"));
    let opts = RunOptions {
        timeout: Duration::MAX,
        ..RunOptions::default()
    };
    let out = replay(Arc::new(vec![rec(0, None)]), c.clone(), None, &opts).await;
    c.shutdown().await;
    assert!(out[0].candidate.answer().is_some(), "{:?}", out[0]);
}

#[tokio::test]
async fn cancelling_reports_the_rest_as_cancelled() {
    let c = Arc::new(Candidate::command("sleep 5").await.expect("starts"));
    let opts = RunOptions {
        timeout: Duration::from_secs(30),
        ..RunOptions::default()
    };
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    let records: Vec<Record> = (0..5).map(|s| rec(s, Some("one"))).collect();
    let out = replay(Arc::new(records), c.clone(), None, &opts).await;
    assert!(out.iter().all(|o| o.candidate == Reply::Cancelled));
    c.shutdown().await;
}

#[test]
fn a_rate_too_small_for_the_clock_paces_at_the_slowest_interval() {
    assert_eq!(Pacer::new(1e-20).interval, PACE_INTERVAL_MAX);
    assert_eq!(Pacer::new(f64::MIN_POSITIVE).interval, PACE_INTERVAL_MAX);
    assert_eq!(Pacer::new(4.0).interval, Duration::from_millis(250));
    assert_eq!(Pacer::new(0.0).interval, Duration::ZERO);
}
