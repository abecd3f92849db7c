//! What a person watches: `cairn watch --daemon URL` and the `/ui/monitor` page
//! of the real `cairnd`, rendered in headless Chromium.

use serde_json::Value;

use crate::breaker::{Rng, Sender, MIX, SHIFTED};
use crate::support::{rendered_url, run, Cairnd};

/// A daemon whose breaker on `payments.fraud` has opened (version 7 against 6).
fn tripped(data: &std::path::Path) -> Cairnd {
    let daemon = Cairnd::start(data, &["--monitor-min-samples", "200"]);
    let mut send = Sender {
        daemon: &daemon,
        rng: Rng(5),
        sent: 0,
    };
    for _ in 0..30 {
        send.batch("6", MIX);
    }
    for _ in 0..15 {
        send.batch("7", SHIFTED);
    }
    daemon
}

#[test]
fn cairn_watch_shows_the_breaker_and_each_version() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = tripped(&dir.path().join("ledger"));
    let url = daemon.url();
    let screen = run("cairn", &["watch", "--daemon", &url, "--once"])
        .ok()
        .stdout;
    assert!(
        screen.contains("payments.fraud  breaker OPEN: label_mix"),
        "{screen}"
    );
    assert!(
        screen.contains("fraud@7") && screen.contains("fraud@6"),
        "{screen}"
    );
    assert!(screen.contains("approve "), "{screen}");
    assert!(
        screen.contains("label_mix") && screen.contains("TRIPPED"),
        "{screen}"
    );
    assert!(screen.contains("on the 1m window"), "{screen}");
    assert!(screen.contains("windows 1m, 15m"), "{screen}");
    for window in ["1m", "15m"] {
        assert!(
            screen.contains(&format!("checks {window}: label_mix")),
            "{screen}"
        );
    }

    let json: Value = serde_json::from_str(
        &run("cairn", &["watch", "--daemon", &url, "--once", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    let stream = &json["streams"][0];
    assert_eq!(stream["stream"], "payments.fraud");
    assert_eq!(stream["breaker"]["state"], "open");
    assert_eq!(stream["versions"][0]["version"], "7");
    assert_eq!(stream["versions"][0]["total"].as_u64(), Some(300));
    let windows = &stream["versions"][0]["windows"];
    assert_eq!(windows[0]["window"], "1m", "{windows}");
    assert_eq!(windows[1]["window"], "15m", "{windows}");
    assert_eq!(windows[1]["decisions"].as_u64(), Some(300), "{windows}");
    assert_eq!(stream["checks"][1]["window"], "15m");

    // A daemon that is not there: a clear error, exit 2.
    drop(daemon);
    let gone = run("cairn", &["watch", "--daemon", &url, "--once"]);
    assert_eq!(gone.code, 2, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("/v1/monitor/streams"),
        "{}",
        gone.stderr
    );
}

#[test]
fn the_monitor_page_renders_charts_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = tripped(&dir.path().join("ledger"));
    let dom = rendered_url(&format!("{}/ui/monitor", daemon.url()));
    assert_eq!(dom.code, 0, "{}", dom.stderr);
    let dom = dom.stdout;
    assert!(
        dom.contains(r#"data-stream="payments.fraud" data-breaker="open""#),
        "{dom}"
    );
    assert!(
        dom.contains("tripped by label_mix on the 1m window"),
        "{dom}"
    );
    assert_eq!(
        dom.matches(r#"class="label-mix""#).count(),
        4,
        "one chart per version and window"
    );
    assert_eq!(dom.matches(r#"class="scores""#).count(), 4);
    for window in ["1m", "15m"] {
        assert_eq!(
            dom.matches(&format!(r#"data-window="{window}""#)).count(),
            3,
            "a row per version and the checks, on the {window} window"
        );
    }
    for label in ["approve", "review", "deny"] {
        assert!(
            dom.contains(&format!(r#"data-label="{label}""#)),
            "{label}: {dom}"
        );
    }
    assert!(!dom.contains("<script src"), "no script from elsewhere");
}

#[test]
fn cairn_watch_json_keeps_standard_output_json_while_the_daemon_is_away() {
    // Nothing listens on port 1: every refresh fails and is retried.
    let mut child = std::process::Command::new(crate::support::bin("cairn"))
        .args(["watch", "--daemon", "http://127.0.0.1:1", "--json"])
        .args(["--interval-ms", "50"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let first = std::io::BufRead::lines(std::io::BufReader::new(stderr))
        .next()
        .unwrap()
        .unwrap();
    assert!(first.contains("(retrying)"), "{first}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
