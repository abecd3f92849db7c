//! What outlives a restart of the real `cairnd`: an open breaker keeps its trip
//! and a pinned reference stays pinned; a reset stays reset; a damaged state
//! file is a warning in the log, never a crash. And a SIGTERM sent as soon as
//! the daemon says it listens is always a clean drain.

use serde_json::Value;

use crate::breaker::{breaker, get, Rng, Sender, MIX, SHIFTED};
use crate::support::{request, Cairnd};

/// Start (or restart) the daemon on `data` with the test's monitor options.
fn daemon(data: &std::path::Path) -> Cairnd {
    Cairnd::start(data, &["--monitor-min-samples", "200"])
}

fn streams(d: &Cairnd) -> Value {
    let (status, body) = get(d, "/v1/monitor/streams");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn post(d: &Cairnd, path: &str, body: &str) -> (u16, String) {
    request(&d.addr, "POST", path, "application/json", body)
}

#[test]
fn an_open_breaker_and_a_pin_outlive_a_restart_and_so_does_a_reset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let first = daemon(&data);
    let mut send = Sender {
        daemon: &first,
        rng: Rng(23),
        sent: 0,
    };
    for _ in 0..30 {
        send.batch("6", MIX);
    }
    let mut sent = 0;
    while breaker(&first)["state"] == "closed" {
        assert!(sent < 2000, "no trip after {sent} decisions of version 7");
        send.batch("7", SHIFTED);
        sent += 20;
    }
    let trip = breaker(&first)["trip"].clone();
    assert_eq!(trip["check"]["check"], "label_mix", "{trip}");
    let (status, answer) = post(
        &first,
        "/v1/monitor/streams/payments.fraud/reference",
        r#"{"model":"fraud","version":"6"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert!(first.stop().success());
    assert!(data.join("monitor-state.json").exists());

    // Still open, with the same trip, and still pinned; the windows are new.
    let second = daemon(&data);
    let b = breaker(&second);
    assert_eq!(b["state"], "open", "{b}");
    assert_eq!(b["trip"], trip, "the same trip");
    let s = streams(&second);
    assert_eq!(s["streams"][0]["pinned"]["version"], "6", "{s}");
    assert_eq!(
        s["streams"][0]["versions"].as_array().map(Vec::len),
        Some(0),
        "{s}"
    );
    let (status, _) = get(&second, "/metrics");
    assert_eq!(status, 200);
    assert!(get(&second, "/metrics")
        .1
        .lines()
        .any(|l| l == "cairn_monitor_breaker_open{stream=\"payments.fraud\"} 1"));
    assert_eq!(
        second
            .logged("the monitor's saved breakers and pins are back")
            .len(),
        1
    );
    let (status, answer) = post(&second, "/v1/monitor/breakers/payments.fraud/reset", "");
    assert_eq!(status, 200, "{answer}");
    assert!(second.stop().success());

    // Reset stays reset: closed, and the pair that tripped accepted, so the
    // same traffic again trips nothing.
    let third = daemon(&data);
    assert_eq!(breaker(&third)["state"], "closed");
    let mut send = Sender {
        daemon: &third,
        rng: Rng(24),
        sent: 0,
    };
    for _ in 0..30 {
        send.batch("6", MIX);
    }
    for _ in 0..20 {
        send.batch("7", SHIFTED);
    }
    let b = breaker(&third);
    assert_eq!(b["state"], "closed", "{b}");
    assert_eq!(b["accepted"], true, "{b}");
    assert!(third.stop().success());
}

#[test]
fn a_damaged_state_file_is_a_warning_and_every_breaker_starts_closed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    // Create the ledger, then damage the state file.
    assert!(daemon(&data).stop().success());
    std::fs::write(
        data.join("monitor-state.json"),
        b"{\"format\": \"cairn-monitor-state-v1\", \"streams\": {\"payments",
    )
    .unwrap();
    let d = daemon(&data);
    let (status, body) = get(&d, "/v1/monitor/breakers");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["open"], 0, "{v}");
    let warnings = d.logged("the monitor's saved state cannot be read");
    assert_eq!(warnings.len(), 1, "one warning");
    assert_eq!(warnings[0]["level"], "WARN");
    let error = warnings[0]["fields"]["error"].as_str().unwrap_or("");
    assert!(error.contains("monitor-state.json"), "{error}");
    // It still decides and counts.
    let mut send = Sender {
        daemon: &d,
        rng: Rng(25),
        sent: 0,
    };
    send.batch("1", MIX);
    assert!(d.stop().success());
}

/// The daemon installs its SIGTERM handler before it says it listens: a
/// SIGTERM sent at once is a drain and exit 0, every time.
#[test]
fn sigterm_right_after_the_daemon_is_ready_is_a_clean_drain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    for round in 0..20 {
        let d = Cairnd::start(&data, &[]);
        let status = d.stop();
        assert!(
            status.success(),
            "round {round}: cairnd ended with {status}"
        );
    }
}
