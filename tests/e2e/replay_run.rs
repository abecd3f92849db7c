//! `cairn replay` end to end, the run as a whole: recorded in the ledger and
//! verifiable, its selection flags, Ctrl-C, the HTML report, and a run through a
//! running daemon that holds the ledger.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::replay::*;
use crate::support::{bin, TestLedger};

#[test]
fn the_run_is_recorded_verifiable_and_its_results_digest_matches() {
    let r = Recorded::new(10, 200, &[]);
    let results = r.ledger.path("results.json");
    let run = r
        .replay(&[
            "--candidate-cmd",
            &cmd("--version v2"),
            "--candidate-model",
            "fraud-model@9.0.0#sha256:feed",
            "--stream",
            "payments.fraud",
            "--json-out",
            p(&results),
        ])
        .ok();
    let seq: u64 = run
        .stderr
        .split("recorded as replay entry ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(seq, 200);
    let verify = crate::support::verify_json(&r.ledger.data, &[]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);

    let bytes = std::fs::read(&results).unwrap();
    let report: Value = serde_json::from_slice(&bytes).unwrap();
    let shown = r
        .ledger
        .cairn(&["replay", "show"], &[&seq.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(shown["kind"], "replay");
    assert_eq!(shown["candidate"], cmd("--version v2"));
    assert_eq!(
        shown["candidate_model"],
        serde_json::json!({"name": "fraud-model", "version": "9.0.0", "digest": "sha256:feed"})
    );
    assert_eq!(shown["selection"]["stream"], "payments.fraud");
    assert_eq!(shown["selection"]["ledger_size"].as_u64(), Some(200));
    for k in ["selected", "replayed", "errors"] {
        assert_eq!(shown[k], report[k], "{k}");
    }
    // BLAKE3 of the file, computed here (an empty salt makes the commitment a plain hash).
    let digest = hex::encode(cairn_core::hash::payload_commitment(&[], &bytes));
    assert_eq!(shown["results_digest"], digest);
    r.ledger
        .cairn(
            &["replay", "show"],
            &[&seq.to_string(), "--results", p(&results)],
        )
        .ok();
    let mut altered = bytes.clone();
    let at = altered.len() / 2;
    altered[at] ^= 1;
    let altered_path = r.ledger.path("altered.json");
    std::fs::write(&altered_path, altered).unwrap();
    let bad = r.ledger.cairn(
        &["replay", "show"],
        &[&seq.to_string(), "--results", p(&altered_path)],
    );
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("does NOT match"));
    // With the ledger's key, the entry is proven in the newest signed checkpoint.
    r.ledger.cairn(&["checkpoint"], &[]).ok();
    let show = |key: &[&str]| {
        let mut args = vec![seq.to_string()];
        args.extend(key.iter().map(|k| k.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        r.ledger.cairn(&["replay", "show"], &args)
    };
    let proven = show(&["--key", &r.ledger.verifier]).ok();
    assert!(
        proven.stderr.contains(&format!(
            "replay entry {seq} is included in the checkpoint of size 201 signed by e2e.example/replay"
        )),
        "{}",
        proven.stderr
    );
    let key_file = r.ledger.data.join("verifier.key");
    show(&["--key-file", p(&key_file)]).ok();
    let other = TestLedger::new("e2e.example/replay");
    let forged = show(&["--key", &other.verifier]);
    assert_eq!(
        forged.code, 1,
        "another key signed nothing here: {}",
        forged.stderr
    );
    assert!(forged.stderr.contains("is NOT proven"), "{}", forged.stderr);
    let path_as_key = show(&["--key", p(&key_file)]);
    assert_eq!(
        path_as_key.code, 2,
        "a file name is not a key: {}",
        path_as_key.stderr
    );
    assert!(
        path_as_key.stderr.contains("--key-file"),
        "{}",
        path_as_key.stderr
    );

    let not_replay = r.ledger.cairn(&["replay", "show"], &["3"]);
    assert_eq!(not_replay.code, 2);
    assert!(
        not_replay.stderr.contains("not a replay"),
        "{}",
        not_replay.stderr
    );
}

#[test]
fn selection_flags_pick_the_same_decisions_as_the_record_says() {
    let r = Recorded::new(11, 400, &[]);
    let c = cmd("--version v1");
    let count = |args: &[&str]| {
        let mut all = vec!["--candidate-cmd", c.as_str()];
        all.extend(args);
        r.report(&all)["selected"].as_u64().unwrap()
    };
    let fraud = r.seqs(|d| d["stream"] == "payments.fraud").len() as u64;
    assert_eq!(count(&["--stream", "payments.fraud"]), fraud);
    let v8 = r.seqs(|d| d["model"]["name"] == "fraud-model" && d["model"]["version"] == "8.0.0");
    assert_eq!(count(&["--model", "fraud-model@8.0.0"]), v8.len() as u64);
    assert_eq!(count(&["--model", "fraud-model"]), fraud);
    let subject = r.decisions[0]["subject"].as_str().unwrap();
    let of_subject = r.seqs(|d| d["subject"] == subject).len() as u64;
    assert_eq!(count(&["--subject", subject]), of_subject);
    let ids: Vec<&str> = r
        .decisions
        .iter()
        .filter_map(|d| d["request_id"].as_str())
        .skip(3)
        .step_by(40)
        .take(3)
        .collect();
    assert_eq!(
        count(&[
            "--request-id",
            ids[0],
            "--request-id",
            ids[1],
            "--request-id",
            ids[2]
        ]),
        3
    );
    let from = r.decisions[100]["event_time"].as_str().unwrap();
    let to = r.decisions[200]["event_time"].as_str().unwrap();
    let in_window = r.seqs(|d| {
        let t = d["event_time"].as_str().unwrap();
        t >= from && t < to
    });
    assert_eq!(count(&["--from", from, "--to", to]), in_window.len() as u64);
    assert_eq!(count(&["--stream", "payments.fraud", "--limit", "7"]), 7);

    // The sample is deterministic: same seed, same decisions.
    let sample = |seed: &str| {
        r.report(&["--candidate-cmd", &c, "--sample", "0.25", "--seed", seed])["selection"]
            ["seqs_blake3"]
            .clone()
    };
    assert_eq!(sample("4"), sample("4"));
    assert_ne!(sample("4"), sample("5"));
    let n = count(&["--sample", "0.25", "--seed", "4"]);
    assert!((60..140).contains(&n), "about a quarter of 400: {n}");
}

#[test]
fn ctrl_c_stops_cleanly_and_writes_the_partial_report() {
    let r = Recorded::new(12, 100, &[]);
    let results = r.ledger.path("partial.json");
    let mut child = Command::new(bin("cairn"))
        .args([
            "replay",
            "--data",
            p(&r.ledger.data),
            "--concurrency",
            "2",
            "--json-out",
            p(&results),
        ])
        .args(["--candidate-cmd", &cmd("--slow-every 1 --slow-ms 100")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    assert_eq!(status.code(), Some(130));
    let rep: Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    assert_eq!(rep["interrupted"], true);
    let replayed = rep["replayed"].as_u64().unwrap();
    assert!(replayed > 0 && replayed < 100, "partial: {replayed}");
    assert_eq!(rep["cancelled"].as_u64().unwrap() + replayed, 100);
    // The partial run is recorded as well, and the ledger verifies.
    let verify = crate::support::verify_json(&r.ledger.data, &[]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    assert_eq!(
        verify.json()["size"].as_u64(),
        Some(101),
        "{}",
        verify.stdout
    );
}

#[test]
fn the_html_report_renders_in_headless_chromium() {
    let r = Recorded::new(13, 300, &["--noisy"]);
    let page = r.ledger.path("report.html");
    let candidate = cmd("--version v3");
    let server = Server::start(&["--version", "v1", "--noisy", "--fail-every", "50"]);
    r.replay(&[
        "--candidate-cmd",
        &candidate,
        "--baseline-url",
        &server.url,
        "--html",
        p(&page),
        "--no-record",
    ])
    .ok();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "self-contained"
    );
    let out = crate::support::rendered_dom(&page);
    let dom = &out.stdout;
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or("");
    assert!(!body.contains("data-error"), "script error: {body}");
    assert!(
        body.contains("data-rendered=\"ok\""),
        "not rendered: {body}\n{}",
        out.stderr
    );
    // The charts were drawn: SVG for the flip matrix, the histograms and the path bars.
    assert!(dom.matches("<svg").count() >= 3, "charts drawn");
    assert!(
        dom.contains("$.explanation") && dom.contains("$.price"),
        "paths shown"
    );
}

#[test]
fn a_run_is_recorded_through_a_running_daemon_that_holds_the_ledger() {
    let r = Recorded::new(12, 60, &[]);
    let daemon = crate::support::Cairnd::start(&r.ledger.data, &[]);
    let candidate = cmd("--version v2");

    // The daemon holds the lock: recording locally fails and says what to do.
    let local = r.replay(&["--candidate-cmd", &candidate]);
    assert_ne!(local.code, 0);
    assert!(local.stderr.contains("--daemon"), "{}", local.stderr);

    let results = r.ledger.path("results.json");
    let url = daemon.url();
    let run = r
        .replay(&[
            "--candidate-cmd",
            &candidate,
            "--daemon",
            &url,
            "--json-out",
            p(&results),
        ])
        .ok();
    assert!(
        run.stderr.contains("recorded as replay entry 60"),
        "{}",
        run.stderr
    );
    assert_eq!(daemon.stop().code(), Some(0));

    let verify = crate::support::verify_json(&r.ledger.data, &[]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
    let shown = r
        .ledger
        .cairn(&["replay", "show"], &["60", "--results", p(&results)])
        .ok();
    assert!(shown.stdout.contains("replay"), "{}", shown.stdout);
}
