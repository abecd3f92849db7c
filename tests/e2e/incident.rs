//! `cairn incident` on a ledger of synthetic decisions: every filter returns
//! exactly what a brute-force pass over the appended NDJSON returns, in order,
//! with the same summary; the terminal report marks version changes; it works
//! while `cairnd` holds the ledger; and the HTML page renders in Chromium.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_core::decision::{format_time_us, parse_time_us};
use serde_json::Value;

use crate::support::{run, TestLedger};

/// One appended decision, as the brute-force pass sees it.
#[derive(Debug, Clone)]
struct Decision {
    seq: u64,
    stream: String,
    model: (String, String),
    subject: Option<String>,
    session: Option<String>,
    request_id: Option<String>,
    trace_id: Option<String>,
    label: Option<String>,
    time_us: i64,
    latency_ms: Option<f64>,
}

fn text(v: &Value, k: &str) -> Option<String> {
    v[k].as_str().map(str::to_owned)
}

/// The decisions of the synthetic NDJSON file, with the seqs the ledger gave them.
fn decisions(file: &Path, first_seq: u64) -> Vec<Decision> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let v: Value = serde_json::from_str(line).unwrap();
            Decision {
                seq: first_seq + i as u64,
                stream: text(&v, "stream").unwrap(),
                model: (
                    text(&v["model"], "name").unwrap(),
                    text(&v["model"], "version").unwrap(),
                ),
                subject: text(&v, "subject"),
                session: text(&v, "session"),
                request_id: text(&v, "request_id"),
                trace_id: text(&v, "trace_id"),
                label: text(&v, "decision"),
                time_us: parse_time_us(v["event_time"].as_str().unwrap()).unwrap(),
                latency_ms: v["latency_ms"].as_f64(),
            }
        })
        .collect()
}

/// A ledger of `count` synthetic decisions and the brute-force view of them.
fn synthetic(origin: &str, count: u64, extra_synth: &[&str]) -> (TestLedger, Vec<Decision>) {
    let l = TestLedger::new(origin);
    let file = l.path("synth.ndjson");
    let mut args = vec!["--seed", "5", "--count"];
    let count = count.to_string();
    args.push(&count);
    args.extend(["--out", file.to_str().unwrap()]);
    args.extend(extra_synth);
    run("cairn-synth", &args).ok();
    let receipts = l.cairn(&["append"], &[file.to_str().unwrap()]).ok();
    let first: Value = serde_json::from_str(receipts.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 0, "a fresh ledger numbers the lines from 0");
    let ds = decisions(&file, 0);
    (l, ds)
}

fn incident(l: &TestLedger, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    l.cairn(&["incident"], &all).ok().json()
}

fn seqs(report: &Value) -> Vec<u64> {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

fn nearest_rank(mut v: Vec<f64>, p: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(p * v.len()).div_ceil(100) - 1]
}

/// Checks a report's summary against the decisions it should hold.
fn check_summary(report: &Value, want: &[&Decision], what: &str) {
    let s = &report["summary"];
    assert_eq!(s["count"], want.len(), "{what}: count");
    let mut by_model: BTreeMap<String, u64> = BTreeMap::new();
    let mut mix: BTreeMap<String, u64> = BTreeMap::new();
    for d in want {
        *by_model
            .entry(format!("{}@{}", d.model.0, d.model.1))
            .or_default() += 1;
        *mix.entry(d.label.clone().unwrap_or("(none)".into()))
            .or_default() += 1;
    }
    let got: BTreeMap<String, u64> = s["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (text(m, "model").unwrap(), m["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, by_model, "{what}: counts per model version");
    let got: BTreeMap<String, u64> = serde_json::from_value(s["decisions"].clone()).unwrap();
    assert_eq!(got, mix, "{what}: decision mix");
    let lat: Vec<f64> = want.iter().filter_map(|d| d.latency_ms).collect();
    if !lat.is_empty() {
        assert_eq!(
            s["latency_ms"]["p50"],
            nearest_rank(lat.clone(), 50),
            "{what}: p50"
        );
        assert_eq!(s["latency_ms"]["p99"], nearest_rank(lat, 99), "{what}: p99");
    }
    let (mut gaps, mut skipped) = (0u64, 0u64);
    for w in want.windows(2) {
        if w[1].seq > w[0].seq + 1 {
            gaps += 1;
            skipped += w[1].seq - w[0].seq - 1;
        }
    }
    assert_eq!(s["seq_gaps"]["count"], gaps, "{what}: seq gaps");
    assert_eq!(s["seq_gaps"]["skipped"], skipped, "{what}: seqs skipped");
    check_changes(s, want, what);
}

/// Version changes per (stream, model name) and the mix on either side.
fn check_changes(s: &Value, want: &[&Decision], what: &str) {
    let mut groups: BTreeMap<(&str, &str), Vec<&Decision>> = BTreeMap::new();
    for d in want {
        groups
            .entry((d.stream.as_str(), d.model.0.as_str()))
            .or_default()
            .push(d);
    }
    let mut expected: Vec<(u64, String, String, u64, u64)> = Vec::new();
    for g in groups.values() {
        let mut runs: Vec<Vec<&Decision>> = Vec::new();
        for d in g {
            match runs.last_mut() {
                Some(run) if run[0].model.1 == d.model.1 => run.push(d),
                _ => runs.push(vec![d]),
            }
        }
        for pair in runs.windows(2) {
            expected.push((
                pair[1][0].seq,
                pair[0][0].model.1.clone(),
                pair[1][0].model.1.clone(),
                pair[0].len() as u64,
                pair[1].len() as u64,
            ));
        }
    }
    expected.sort();
    let got: Vec<(u64, String, String, u64, u64)> = s["version_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["seq"].as_u64().unwrap(),
                text(c, "from").unwrap(),
                text(c, "to").unwrap(),
                c["before"]["count"].as_u64().unwrap(),
                c["after"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected, "{what}: version changes");
}

fn most_common(ds: &[Decision], key: impl Fn(&Decision) -> Option<String>) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for d in ds {
        if let Some(k) = key(d) {
            *counts.entry(k).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).unwrap().0
}

type Filter = Box<dyn Fn(&Decision) -> bool>;

#[test]
fn every_filter_returns_exactly_the_brute_force_answer() {
    let (l, ds) = synthetic("e2e.example/incident", 3000, &[]);
    let subject = most_common(&ds, |d| d.subject.clone());
    let session = most_common(&ds, |d| d.session.clone());
    let request = ds[1234].request_id.clone().unwrap();
    let trace = ds.iter().rev().find_map(|d| d.trace_id.clone()).unwrap();
    let t = |us: i64| format_time_us(us);
    let (from, to) = (ds[700].time_us, ds[2100].time_us);
    let around = ds[1500].clone();
    let window_us = 200_000;
    let (s2, t2) = (subject.clone(), trace.clone());
    let (se2, r2) = (session.clone(), request.clone());
    let cases: Vec<(Vec<String>, &str, Filter)> = vec![
        (
            vec!["--subject".into(), subject.clone()],
            "subject",
            Box::new(move |d| d.subject.as_ref() == Some(&s2)),
        ),
        (
            vec!["--session".into(), session.clone()],
            "session",
            Box::new(move |d| d.session.as_ref() == Some(&se2)),
        ),
        (
            vec!["--request-id".into(), request.clone()],
            "request_id",
            Box::new(move |d| d.request_id.as_ref() == Some(&r2)),
        ),
        (
            vec!["--trace-id".into(), trace.clone()],
            "trace_id",
            Box::new(move |d| d.trace_id.as_ref() == Some(&t2)),
        ),
        (
            vec!["--stream".into(), "payments.fraud".into()],
            "stream",
            Box::new(|d| d.stream == "payments.fraud"),
        ),
        (
            vec!["--model".into(), "fraud-model@8.0.0".into()],
            "model",
            Box::new(|d| d.model == ("fraud-model".into(), "8.0.0".into())),
        ),
        (
            vec!["--model".into(), "dynamic-pricer".into()],
            "model",
            Box::new(|d| d.model.0 == "dynamic-pricer"),
        ),
        (
            vec!["--decision".into(), "review".into()],
            "none (every entry)",
            Box::new(|d| d.label.as_deref() == Some("review")),
        ),
        (
            vec!["--from".into(), t(from), "--to".into(), t(to)],
            "time",
            Box::new(move |d| d.time_us >= from && d.time_us < to),
        ),
        (
            vec![
                "--around".into(),
                "1500".into(),
                "--window".into(),
                "200ms".into(),
            ],
            "time",
            Box::new(move |d| (d.time_us - around.time_us).abs() <= window_us),
        ),
        (
            vec![
                "--stream".into(),
                "commerce.pricing".into(),
                "--decision".into(),
                "hold".into(),
                "--from".into(),
                t(from),
                "--to".into(),
                t(to),
            ],
            "stream",
            Box::new(move |d| {
                d.stream == "commerce.pricing"
                    && d.label.as_deref() == Some("hold")
                    && d.time_us >= from
                    && d.time_us < to
            }),
        ),
        (
            vec![
                "--subject".into(),
                subject.clone(),
                "--model".into(),
                "support-assistant".into(),
                "--to".into(),
                t(to),
            ],
            "subject",
            {
                let s = subject.clone();
                Box::new(move |d| {
                    d.subject.as_ref() == Some(&s)
                        && d.model.0 == "support-assistant"
                        && d.time_us < to
                })
            },
        ),
    ];
    for (args, index, keep) in &cases {
        let what = args.join(" ");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let report = incident(&l, &args);
        let want: Vec<&Decision> = ds.iter().filter(|d| keep(d)).collect();
        assert!(!want.is_empty(), "{what}: the case selects something");
        let want_seqs: Vec<u64> = want.iter().map(|d| d.seq).collect();
        assert_eq!(seqs(&report), want_seqs, "{what}: entries, in order");
        assert_eq!(report["index"], *index, "{what}: index used");
        check_summary(&report, &want, &what);
    }

    // An indexed filter reads only what its index names, never the whole ledger.
    let report = incident(&l, &["--subject", &subject]);
    let of_subject = ds
        .iter()
        .filter(|d| d.subject.as_ref() == Some(&subject))
        .count();
    assert_eq!(report["examined"], of_subject);
    assert!(
        of_subject < 100,
        "the subject is a small part of 3000 decisions"
    );

    // --limit keeps the first matches and says so.
    let report = incident(&l, &["--stream", "support.chat", "--limit", "10"]);
    let first: Vec<u64> = ds
        .iter()
        .filter(|d| d.stream == "support.chat")
        .take(10)
        .map(|d| d.seq)
        .collect();
    assert_eq!(seqs(&report), first);
    assert_eq!(report["summary"]["truncated"], true);
}

#[test]
fn the_terminal_timeline_marks_version_changes_and_erasures() {
    let (l, ds) = synthetic("e2e.example/incident-text", 3000, &[]);
    let fraud: Vec<&Decision> = ds.iter().filter(|d| d.stream == "payments.fraud").collect();
    let change = fraud
        .windows(2)
        .find(|w| w[0].model.1 != w[1].model.1)
        .unwrap()[1];
    let red = l
        .cairn(
            &["redact"],
            &["--seq", &change.seq.to_string(), "--reason", "ticket 9"],
        )
        .ok();
    let red_seq = red.json()["seq"].as_u64().unwrap();
    let got = l
        .cairn(&["get"], &["--json", "--seq", &change.seq.to_string()])
        .ok()
        .json();
    for slot in ["input", "output"] {
        let by = got[slot]["erased_by"].as_array().unwrap();
        assert_eq!(by, &[serde_json::json!(red_seq)], "{got}");
    }
    let out = l
        .cairn(&["incident"], &["--stream", "payments.fraud"])
        .ok()
        .stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("MODEL@VERSION"),
        "{}",
        lines[0]
    );
    let marker = lines
        .iter()
        .position(|l| l.contains("version change: fraud-model 7.3.1 → 8.0.0"))
        .unwrap_or_else(|| panic!("no version change marked:\n{out}"));
    let next = lines[marker + 1];
    assert!(next.contains(&format!(" {} ", change.seq)), "{next}");
    assert!(
        next.contains("[erased]"),
        "the erased decision says so: {next}"
    );
    assert!(
        out.contains(&format!("summary: {} decisions", fraud.len())),
        "{out}"
    );
    assert!(out.contains("fraud-model@7.3.1"));
    assert!(out.contains("before: approve"), "{out}");
    assert!(out.contains("latency: p50"), "{out}");
    let report = incident(&l, &["--stream", "payments.fraud"]);
    let erased: Vec<&Value> = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["erased"] == true)
        .collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0]["seq"], change.seq);
    assert_eq!(erased[0]["erased_payloads"][0]["by"], 3000);
    assert_eq!(report["summary"]["erased"], 1);
}

#[test]
fn relative_times_count_back_from_now() {
    let start = format_time_us(now_us() - 3 * 3_600_000_000);
    let (l, ds) = synthetic(
        "e2e.example/incident-relative",
        300,
        &["--start", &start, "--mean-gap-us", "36000000"],
    );
    let before = now_us();
    let report = incident(&l, &["--from", "-2h", "--to", "now"]);
    let after = now_us();
    let got = seqs(&report);
    // The window's start lies between the two clock readings.
    let must: Vec<u64> = ds
        .iter()
        .filter(|d| d.time_us >= after - 7_200_000_000 && d.time_us < before)
        .map(|d| d.seq)
        .collect();
    let may: Vec<u64> = ds
        .iter()
        .filter(|d| d.time_us >= before - 7_200_000_000 && d.time_us < after)
        .map(|d| d.seq)
        .collect();
    assert!(must.len() > 100, "two of three hours of decisions");
    assert!(must.iter().all(|s| got.contains(s)), "{got:?}");
    assert!(got.iter().all(|s| may.contains(s)), "{got:?}");
    let bad = l.cairn(&["incident"], &["--from", "yesterday"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("relative to now"), "{}", bad.stderr);
}

fn now_us() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    d.as_micros() as i64
}

#[test]
fn works_while_the_daemon_holds_the_ledger() {
    let (l, ds) = synthetic("e2e.example/incident-live", 1000, &[]);
    l.cairn(&["checkpoint"], &[]).ok();
    let daemon = crate::support::Cairnd::start(&l.data, &[]);
    let subject = most_common(&ds, |d| d.subject.clone());
    let report = incident(&l, &["--subject", &subject]);
    let want: Vec<u64> = ds
        .iter()
        .filter(|d| d.subject.as_ref() == Some(&subject))
        .map(|d| d.seq)
        .collect();
    assert_eq!(seqs(&report), want);
    let bundle = l.path("live.bundle");
    l.cairn(
        &["bundle", "export"],
        &["--subject", &subject, "--out", bundle.to_str().unwrap()],
    )
    .ok();
    run(
        "cairn",
        &[
            "bundle",
            "verify",
            bundle.to_str().unwrap(),
            "--key",
            &l.verifier,
        ],
    )
    .ok();
    assert!(daemon.stop().success());
}

#[test]
fn the_html_page_renders_in_chromium_without_errors() {
    let (l, _) = synthetic("e2e.example/incident-html", 3000, &[]);
    l.cairn(&["redact"], &["--seq", "42", "--reason", "ticket 1"])
        .ok();
    let page = l.path("incident.html");
    l.cairn(&["incident"], &["--html", page.to_str().unwrap()])
        .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "no external resources"
    );
    assert!(
        !html.contains("<link") && !html.contains(" src="),
        "self-contained"
    );
    let report = incident(&l, &[]);
    let changes = report["summary"]["version_changes"]
        .as_array()
        .unwrap()
        .len();
    let streams = report["summary"]["by_stream"].as_object().unwrap().len();

    let dom = crate::support::rendered_dom(&page);
    assert_eq!(dom.code, 0, "chromium failed: {}", dom.stderr);
    let body = dom.stdout;
    assert!(
        body.contains("data-rendered=\"ok\""),
        "the page's script did not finish: {}\nchromium: {}",
        body.split("data-rendered=")
            .nth(1)
            .unwrap_or("(no marker)")
            .chars()
            .take(300)
            .collect::<String>(),
        dom.stderr
            .lines()
            .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!dom.stderr.contains("Uncaught"), "{}", dom.stderr);
    assert_eq!(
        body.matches("class=\"mix-chart\"").count(),
        streams,
        "one chart per stream"
    );
    assert_eq!(
        body.matches("class=\"version-change\"").count(),
        changes,
        "every version change marked"
    );
    assert!(
        body.matches("class=\"bar\"").count() > 50,
        "the charts have bars"
    );
    assert!(changes >= 3, "the synthetic workload changes versions");
    let rows = body.matches("<tr").count();
    assert!(
        rows > 3000,
        "the timeline lists every decision ({rows} rows)"
    );
    assert!(body.contains(">erased<"), "the erased decision is marked");
}
