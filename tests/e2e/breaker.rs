//! The live monitor and its breaker in the real `cairnd`: a new model version
//! whose label mix shifts opens the breaker within a stated number of decisions,
//! the trip reaches a webhook (retried, signed with the checkpoint key) and the
//! ledger (an `alert` entry that `cairn verify` checks), and the metrics say so;
//! an A/A deploy (same model, new version number) never trips.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cairn_core::checkpoint::NoteVerifier;
use serde_json::{json, Value};

use crate::support::{request, run, Cairnd};

/// Decisions a window must hold before a check runs (`--monitor-min-samples`).
const MIN_SAMPLES: u64 = 200;
/// Decisions per request (so one group commit, one check, per request).
const BATCH: u64 = 20;

/// SplitMix64, seeded: the same decisions on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A fraud decision of model version `version` whose label shares are `mix`
/// (approve, review, deny).
pub(crate) fn decision(rng: &mut Rng, version: &str, mix: [f64; 3]) -> String {
    let u = rng.next();
    let (label, base) = if u < mix[0] {
        ("approve", 0.1)
    } else if u < mix[0] + mix[1] {
        ("review", 0.5)
    } else {
        ("deny", 0.8)
    };
    json!({
        "stream": "payments.fraud",
        "model": {"name": "fraud", "version": version},
        "input": {"amount": (rng.next() * 1000.0).round()},
        "output": {"decision": label},
        "decision": label,
        "score": base + 0.2 * rng.next(),
        "latency_ms": 2.0 + 3.0 * rng.next(),
    })
    .to_string()
}

pub(crate) const MIX: [f64; 3] = [0.8, 0.15, 0.05];
pub(crate) const SHIFTED: [f64; 3] = [0.6, 0.15, 0.25];

pub(crate) struct Sender<'a> {
    pub(crate) daemon: &'a Cairnd,
    pub(crate) rng: Rng,
    pub(crate) sent: u64,
}

impl Sender<'_> {
    /// Send `BATCH` decisions and wait (bounded) until the monitor has counted them.
    pub(crate) fn batch(&mut self, version: &str, mix: [f64; 3]) {
        let body: String = (0..BATCH)
            .map(|_| decision(&mut self.rng, version, mix) + "\n")
            .collect();
        let (status, answer) = request(
            &self.daemon.addr,
            "POST",
            "/v1/decisions",
            "application/x-ndjson",
            &body,
        );
        assert_eq!(status, 200, "{answer}");
        self.sent += BATCH;
        let deadline = Instant::now() + Duration::from_secs(30);
        while metric(self.daemon, "cairn_monitor_observed_decisions_total") < self.sent as f64 {
            assert!(Instant::now() < deadline, "the monitor never counted them");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

pub(crate) fn get(daemon: &Cairnd, path: &str) -> (u16, String) {
    request(&daemon.addr, "GET", path, "application/json", "")
}

fn metrics(daemon: &Cairnd) -> String {
    get(daemon, "/metrics").1
}

fn metric(daemon: &Cairnd, line_start: &str) -> f64 {
    let text = metrics(daemon);
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

pub(crate) fn breaker(daemon: &Cairnd) -> Value {
    let (status, body) = get(daemon, "/v1/monitor/breakers");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["stream"] == "payments.fraud")
        .cloned()
        .unwrap_or(Value::Null)
}

/// A webhook receiver: answers its first call 503 (so the daemon must retry),
/// the rest 200, and hands over each request's signature header and body.
fn webhook() -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/cairn", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (calls, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut len, mut signature) = (0usize, String::new());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("cairn-signature:") {
                    signature = line["cairn-signature:".len()..].trim().to_owned();
                }
                line.clear();
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let status = if calls == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            if calls > 0 {
                let _ = tx.send((signature, body));
            }
        }
    });
    (url, rx)
}

#[test]
fn a_label_mix_shift_opens_the_breaker_alerts_the_webhook_and_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let (hook, calls) = webhook();
    let daemon = Cairnd::start(
        &data,
        &[
            "--monitor-min-samples",
            &MIN_SAMPLES.to_string(),
            "--monitor-webhook-url",
            &hook,
        ],
    );
    let mut send = Sender {
        daemon: &daemon,
        rng: Rng(17),
        sent: 0,
    };
    for _ in 0..50 {
        send.batch("6", MIX);
    }
    assert_eq!(breaker(&daemon)["state"], "closed");

    // Version 7 shifts a fifth of approvals to deny: the breaker opens as soon
    // as version 7's window holds MIN_SAMPLES decisions (one check per request).
    let mut after = 0;
    while breaker(&daemon)["state"] == "closed" {
        assert!(after < 2000, "no trip after {after} decisions of version 7");
        send.batch("7", SHIFTED);
        after += BATCH;
    }
    assert!(
        (MIN_SAMPLES..=MIN_SAMPLES + BATCH).contains(&after),
        "opened after {after} decisions of the new version"
    );
    let b = breaker(&daemon);
    let trip = &b["trip"];
    assert_eq!(trip["check"]["check"], "label_mix", "{b}");
    assert_eq!(trip["window"], "1m", "{b}");
    assert_eq!(trip["current"]["version"], "7");
    assert_eq!(trip["reference"]["version"], "6");
    assert!(
        trip["check"]["statistic"].as_f64().unwrap() > trip["check"]["threshold"].as_f64().unwrap()
    );

    // The webhook: retried after the 503, signed with the checkpoint key.
    let (signature, body) = calls
        .recv_timeout(Duration::from_secs(60))
        .expect("the webhook is called");
    let verifier = NoteVerifier::parse(
        std::fs::read_to_string(data.join("verifier.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let (name, sig) = signature.split_once(' ').unwrap();
    assert_eq!(name, "cairn/ledger");
    assert!(
        verifier.verify_message("webhook", &body, sig),
        "signature checks"
    );
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    assert!(!verifier.verify_message("webhook", &tampered, sig));
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["event"], "breaker_open");
    assert_eq!(event["trip"]["check"]["check"], "label_mix");
    let alert_seq = event["alert_seq"].as_u64().expect("the alert entry's seq");

    // Metrics. The webhook counts a call once its answer is back, which is
    // after the test server above has the body: wait for that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut text = metrics(&daemon);
    while !text
        .lines()
        .any(|l| l == "cairn_monitor_webhook_calls_total{outcome=\"delivered\"} 1")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
        text = metrics(&daemon);
    }
    for line in [
        "cairn_monitor_breaker_open{stream=\"payments.fraud\"} 1",
        "cairn_monitor_breaker_trips_total{stream=\"payments.fraud\",check=\"label_mix\"} 1",
        "cairn_monitor_alerts_total{outcome=\"appended\"} 1",
        "cairn_monitor_webhook_calls_total{outcome=\"delivered\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    let labelled: f64 = ["approve", "review", "deny"]
        .iter()
        .map(|l| {
            metric(
                &daemon,
                &format!("cairn_monitor_decisions_total{{stream=\"payments.fraud\",model=\"fraud\",version=\"7\",label=\"{l}\"}}"),
            )
        })
        .sum();
    assert_eq!(labelled, after as f64);

    // The operator resets it: closed, and version 7 against 6 trips no more.
    let (status, answer) = request(
        &daemon.addr,
        "POST",
        "/v1/monitor/breakers/payments.fraud/reset",
        "application/json",
        "",
    );
    assert_eq!(status, 200, "{answer}");
    for _ in 0..10 {
        send.batch("7", SHIFTED);
    }
    assert_eq!(breaker(&daemon)["state"], "closed");
    assert_eq!(breaker(&daemon)["accepted"], true);

    // Pinning a reference: only a tracked version, with a clear error otherwise.
    let pin = |body: &str| {
        request(
            &daemon.addr,
            "POST",
            "/v1/monitor/streams/payments.fraud/reference",
            "application/json",
            body,
        )
    };
    let (status, answer) = pin(r#"{"model":"fraud","version":"5"}"#);
    assert_eq!(status, 404, "{answer}");
    assert!(answer.contains("no such model version"), "{answer}");
    assert_eq!(pin(r#"{"model":"fraud"}"#).0, 400);
    assert_eq!(pin("not json").0, 400);
    let (status, answer) = pin(r#"{"model":"fraud","version":"6"}"#);
    assert_eq!(status, 200, "{answer}");
    let (_, streams) = get(&daemon, "/v1/monitor/streams");
    let streams: Value = serde_json::from_str(&streams).unwrap();
    assert_eq!(streams["streams"][0]["pinned"]["version"], "6");
    assert_eq!(pin("{}").0, 200);
    assert!(daemon.stop().success());

    // The alert is an entry of its own, and the ledger verifies.
    let entry = run(
        "cairn",
        &[
            "get",
            "--data",
            data.to_str().unwrap(),
            "--seq",
            &alert_seq.to_string(),
            "--json",
        ],
    )
    .ok()
    .json();
    assert_eq!(entry["kind"], "alert", "{entry}");
    assert_eq!(entry["check"], "label_mix", "{entry}");
    let verify = crate::support::verify_json(&data, &[]);
    assert_eq!(verify.code, 0, "{}", verify.stdout);
}

#[test]
fn an_aa_deploy_never_trips_the_breaker() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ledger");
    let daemon = Cairnd::start(&data, &["--monitor-min-samples", &MIN_SAMPLES.to_string()]);
    let mut send = Sender {
        daemon: &daemon,
        rng: Rng(99),
        sent: 0,
    };
    for _ in 0..50 {
        send.batch("1", MIX);
    }
    // 150 checks of version 2 against version 1, same model.
    for _ in 0..150 {
        send.batch("2", MIX);
        assert_eq!(
            breaker(&daemon)["state"],
            "closed",
            "after {} decisions",
            send.sent
        );
    }
    let text = metrics(&daemon);
    assert!(
        text.contains(
            "cairn_monitor_drift_statistic{stream=\"payments.fraud\",window=\"1m\",check=\"label_mix\"}"
        ),
        "{text}"
    );
    // Each window has its gauges: the 15-minute one holds every decision of
    // version 2, the 1-minute one those of its last minute.
    let in_window = |window: &str| {
        metric(
            &daemon,
            &format!("cairn_monitor_window_decisions{{stream=\"payments.fraud\",model=\"fraud\",version=\"2\",window=\"{window}\"}}"),
        )
    };
    assert_eq!(in_window("15m"), (150 * BATCH) as f64);
    let last_minute = in_window("1m");
    assert!(
        last_minute > 0.0 && last_minute <= (150 * BATCH) as f64,
        "{last_minute}"
    );
    assert!(daemon.stop().success());
}
