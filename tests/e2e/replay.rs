//! `cairn replay` end to end: the real `cairn` and `cairn-candidate` binaries on a
//! ledger whose recorded outputs are the example model's v1 answers, so that every
//! difference a candidate version makes is known in advance.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{bin, run, Run, TestLedger};

/// A ledger of `count` synthetic decisions whose outputs were recorded by the
/// example model (`cairn-candidate record`), and those decisions, by seq.
pub(crate) struct Recorded {
    pub(crate) ledger: TestLedger,
    pub(crate) decisions: Vec<Value>,
}

impl Recorded {
    pub(crate) fn new(seed: u64, count: u64, record_args: &[&str]) -> Recorded {
        let ledger = TestLedger::new("e2e.example/replay");
        let synth = ledger.path("synth.ndjson");
        let recorded = ledger.path("recorded.ndjson");
        run(
            "cairn-synth",
            &[
                "--seed",
                &seed.to_string(),
                "--count",
                &count.to_string(),
                "--out",
                p(&synth),
            ],
        )
        .ok();
        let mut args = vec!["record", "--in", p(&synth), "--out", p(&recorded)];
        args.extend(record_args);
        run("cairn-candidate", &args).ok();
        ledger.cairn(&["append"], &[p(&recorded)]).ok();
        let decisions = std::fs::read_to_string(&recorded)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        Recorded { ledger, decisions }
    }

    /// `cairn replay --data DIR args...`.
    pub(crate) fn replay(&self, args: &[&str]) -> Run {
        self.ledger.cairn(&["replay"], args)
    }

    /// `cairn replay ... --json --no-record`, parsed.
    pub(crate) fn report(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--json", "--no-record"]);
        self.replay(&all).ok().json()
    }

    /// Seqs of the decisions for which `pred` holds.
    pub(crate) fn seqs(&self, pred: impl Fn(&Value) -> bool) -> Vec<u64> {
        (0..self.decisions.len() as u64)
            .filter(|&s| pred(&self.decisions[s as usize]))
            .collect()
    }
}

pub(crate) fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The example candidate as a JSON-lines command.
pub(crate) fn cmd(args: &str) -> String {
    format!("{} {args}", bin("cairn-candidate").display())
}

/// The example candidate as an HTTP server on a free port; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(args: &[&str]) -> Server {
        let mut child = Command::new(bin("cairn-candidate"))
            .args(["--serve", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_owned();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "first line is the address: {line:?}"
        );
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn differing_seqs(report: &Value) -> Vec<u64> {
    report["differing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["seq"].as_u64().unwrap())
        .collect()
}

/// Path → verdict.
fn verdicts(report: &Value) -> BTreeMap<String, String> {
    report["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_owned(),
                p["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Fraud decisions that v2 reviews: approved by v1 within 0.05 below the threshold.
pub(crate) fn v2_flips(d: &Value) -> bool {
    d["stream"] == "payments.fraud"
        && d["output"]["decision"] == "approve"
        && d["output"]["score"].as_f64().unwrap()
            >= d["params"]["threshold_review"].as_f64().unwrap() - 0.05
}

/// Pricing raises whose price v3 changes to .99.
fn v3_reprices(d: &Value) -> bool {
    let price = d["output"]["price"].as_f64().unwrap_or(0.0);
    d["stream"] == "commerce.pricing"
        && d["output"]["decision"] == "raise"
        && d["input"]["currency"] != "JPY"
        && price.floor() + 0.99 != price
}

#[test]
fn v1_agrees_exactly_and_v2_flips_exactly_the_known_decisions() {
    let r = Recorded::new(5, 600, &[]);
    let same = r.report(&["--candidate-cmd", &cmd("--version v1")]);
    assert_eq!(
        (same["selected"].as_u64(), same["replayed"].as_u64()),
        (Some(600), Some(600))
    );
    assert_eq!(same["agreement_rate"], 1.0, "{}", same["paths"]);
    assert!(differing_seqs(&same).is_empty());

    let expected = r.seqs(v2_flips);
    assert!(
        expected.len() >= 3,
        "the workload has decisions near the threshold: {expected:?}"
    );
    // Over HTTP this time: both kinds of candidate give the same answer.
    let server = Server::start(&["--version", "v2"]);
    let rep = r.report(&["--candidate-url", &server.url]);
    assert_eq!(differing_seqs(&rep), expected);
    let flips = &rep["flips"];
    assert_eq!(
        flips["approve"]["review"].as_u64(),
        Some(expected.len() as u64)
    );
    let off_diagonal: u64 = flips
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(old, row)| {
            row.as_object()
                .unwrap()
                .iter()
                .map(move |(new, n)| (old, new, n))
        })
        .filter(|(old, new, _)| old != new)
        .map(|(_, _, n)| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        off_diagonal,
        expected.len() as u64,
        "only approve → review: {flips}"
    );
    assert_eq!(
        rep["label"]["changed"].as_u64(),
        Some(expected.len() as u64)
    );
    let paths = verdicts(&rep);
    assert_eq!(paths.keys().collect::<Vec<_>>(), ["$.decision"]);
    for e in rep["examples"].as_array().unwrap() {
        assert!(expected.contains(&e["seq"].as_u64().unwrap()));
        assert_eq!(e["differences"][0]["path"], "$.decision");
        assert_eq!(e["label"]["recorded"], "approve");
        assert_eq!(e["label"]["candidate"], "review");
    }
    // The terminal summary names them too.
    let text = r
        .replay(&["--candidate-cmd", &cmd("--version v2"), "--no-record"])
        .ok();
    assert!(
        text.stdout
            .contains(&format!("seq {}  approve → review", expected[0])),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("approve → review") || text.stdout.contains("approve"));
}

#[test]
fn a_nondeterministic_field_is_noise_with_a_baseline_and_a_difference_without() {
    // The production model sampled its explanations: the record has them too.
    let r = Recorded::new(6, 500, &["--noisy"]);
    let reprices = r.seqs(v3_reprices);
    assert!(!reprices.is_empty(), "the workload has raises");
    let candidate = cmd("--version v3");

    let alone = r.report(&["--candidate-cmd", &candidate]);
    let v = verdicts(&alone);
    assert_eq!(
        v.get("$.explanation").map(String::as_str),
        Some("difference")
    );
    assert_eq!(v.get("$.price").map(String::as_str), Some("difference"));
    assert_eq!(
        differing_seqs(&alone).len(),
        500,
        "every entry differs in its explanation"
    );
    assert!(alone["noise"].is_null());

    let with = r.report(&[
        "--candidate-cmd",
        &candidate,
        "--baseline-cmd",
        &cmd("--version v1 --noisy"),
    ]);
    let v = verdicts(&with);
    assert_eq!(v.get("$.explanation").map(String::as_str), Some("noise"));
    assert_eq!(v.get("$.price").map(String::as_str), Some("difference"));
    assert_eq!(
        with["noise"]["noise_paths"],
        serde_json::json!(["$.explanation"])
    );
    assert_eq!(with["noise"]["paired"].as_u64(), Some(500));
    assert_eq!(differing_seqs(&with), reprices);
    for d in with["differing"].as_array().unwrap() {
        assert_eq!(d["paths"], serde_json::json!(["$.price"]));
    }
}

#[test]
fn tolerances_and_ignored_paths_hide_exactly_what_they_name() {
    let r = Recorded::new(6, 500, &[]);
    let reprices = r.seqs(v3_reprices);
    let candidate = cmd("--version v3");
    let ignored = r.report(&["--candidate-cmd", &candidate, "--ignore", "$.explanation"]);
    assert!(!verdicts(&ignored).contains_key("$.explanation"));
    assert_eq!(differing_seqs(&ignored), reprices);

    // Charm pricing moves a price by less than 1.
    let tolerant = r.report(&[
        "--candidate-cmd",
        &candidate,
        "--ignore",
        "explanation",
        "--tolerance",
        "$.price=1",
    ]);
    assert_eq!(tolerant["agreement_rate"], 1.0, "{}", tolerant["paths"]);
    let relative = r.report(&[
        "--candidate-cmd",
        &candidate,
        "--ignore",
        "explanation",
        "--tolerance",
        "price=0,0.5",
    ]);
    assert_eq!(relative["agreement_rate"], 1.0, "{}", relative["paths"]);
    let strict = r.report(&[
        "--candidate-cmd",
        &candidate,
        "--ignore",
        "explanation",
        "--tolerance",
        "$.price=0.001",
    ]);
    assert_eq!(differing_seqs(&strict), reprices);
    assert_eq!(
        strict["settings"]["tolerances"],
        serde_json::json!(["$.price=0.001,0"])
    );

    let bad = r.replay(&[
        "--candidate-cmd",
        &candidate,
        "--tolerance",
        "$.price=abc",
        "--no-record",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("bad tolerance"), "{}", bad.stderr);
}

#[test]
fn erased_payloads_are_reported_not_replayable() {
    let r = Recorded::new(7, 120, &[]);
    let both = r
        .ledger
        .cairn(&["redact"], &["--seq", "10", "--reason", "GDPR 1"])
        .ok();
    let both_by = both.json()["seq"].as_u64().unwrap();
    let out = r
        .ledger
        .cairn(
            &["redact"],
            &["--seq", "20", "--reason", "GDPR 2", "--only", "output"],
        )
        .ok();
    let out_by = out.json()["seq"].as_u64().unwrap();
    let rep = r.report(&["--candidate-cmd", &cmd("--version v1")]);
    assert_eq!(
        rep["selected"].as_u64(),
        Some(120),
        "redaction entries are not decisions"
    );
    assert_eq!(rep["replayed"].as_u64(), Some(118));
    assert_eq!(rep["agreement_rate"], 1.0);
    let nr = rep["not_replayable"].as_array().unwrap();
    assert_eq!(nr.len(), 2);
    assert_eq!(nr[0]["seq"].as_u64(), Some(10));
    assert_eq!(
        nr[0]["reason"],
        format!("input and output erased by redaction {both_by}")
    );
    assert_eq!(nr[1]["seq"].as_u64(), Some(20));
    assert_eq!(
        nr[1]["reason"],
        format!("output erased by redaction {out_by}")
    );
    let text = r
        .replay(&["--candidate-cmd", &cmd("--version v1"), "--no-record"])
        .ok();
    assert!(text.stdout.contains("not replayable: 2"), "{}", text.stdout);
    assert!(text.stdout.contains(&format!(
        "seq 10: input and output erased by redaction {both_by}"
    )));
}

#[test]
fn candidate_errors_and_timeouts_are_counted_per_entry() {
    let r = Recorded::new(8, 100, &[]);
    let server = Server::start(&[
        "--fail-every",
        "7",
        "--slow-every",
        "11",
        "--slow-ms",
        "3000",
    ]);
    let rep = r.report(&[
        "--candidate-url",
        &server.url,
        "--timeout-ms",
        "300",
        "--retries",
        "1",
    ]);
    let kinds: BTreeMap<u64, String> = rep["error_details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeMap<u64, String> = (0..100u64)
        .filter_map(|s| match (s % 11, s % 7) {
            (0, _) => Some((s, "timeout".to_owned())),
            (_, 0) => Some((s, "http_status".to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, want);
    assert_eq!(rep["errors"].as_u64(), Some(want.len() as u64));
    assert_eq!(rep["replayed"].as_u64(), Some(100 - want.len() as u64));
    assert_eq!(rep["agreement_rate"], 1.0);
    for e in rep["error_details"].as_array().unwrap() {
        assert_eq!(e["attempts"].as_u64(), Some(2), "retried once: {e}");
    }

    // A subprocess that answers {"error": ...}: not retried, still per entry.
    let rep = r.report(&["--candidate-cmd", &cmd("--fail-every 5"), "--retries", "3"]);
    assert_eq!(rep["errors"].as_u64(), Some(20));
    assert_eq!(rep["error_kinds"]["candidate_error"].as_u64(), Some(20));
    assert_eq!(rep["error_details"][0]["attempts"].as_u64(), Some(1));
    // A candidate that cannot run at all fails every entry, and the run still reports.
    let rep = r.report(&["--candidate-cmd", "exit 1", "--limit", "5"]);
    assert_eq!(
        (rep["errors"].as_u64(), rep["replayed"].as_u64()),
        (Some(5), Some(0))
    );
}

#[test]
fn decisions_of_a_session_reach_the_candidate_in_recorded_order() {
    let r = Recorded::new(9, 600, &[]);
    let log = r.ledger.path("arrivals.log");
    let server = Server::start(&["--jitter-ms", "15", "--log", p(&log)]);
    let rep = r.report(&[
        "--candidate-url",
        &server.url,
        "--concurrency",
        "16",
        "--retries",
        "0",
    ]);
    assert_eq!(rep["replayed"].as_u64(), Some(600));
    let arrivals: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(arrivals.iter().copied().collect::<BTreeSet<_>>().len(), 600);
    assert_eq!(arrivals.len(), 600, "each decision sent once");
    assert!(
        arrivals.windows(2).any(|w| w[0] > w[1]),
        "requests ran in parallel"
    );
    let mut by_session: HashMap<&str, Vec<u64>> = HashMap::new();
    for seq in &arrivals {
        if let Some(s) = r.decisions[*seq as usize]["session"].as_str() {
            by_session.entry(s).or_default().push(*seq);
        }
    }
    let multi = by_session.values().filter(|v| v.len() > 1).count();
    assert!(
        multi >= 20,
        "the workload has multi-decision sessions: {multi}"
    );
    for (session, seqs) in &by_session {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "session {session} arrived as {seqs:?}"
        );
    }
}
