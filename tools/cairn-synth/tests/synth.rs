//! Properties of the generated workload: determinism, record shape, sizes,
//! time order, stream mix, model-version changes, identifiers and the CLI.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::process::{Command, Stdio};

use cairn_synth::{
    format_event_time, write_ndjson, Synth, SynthConfig, DEFAULT_START_UNIX_MS, FIELDS,
    STREAM_CHAT, STREAM_FRAUD, STREAM_PRICING,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn cfg(seed: u64, count: u64) -> SynthConfig {
    SynthConfig {
        seed,
        count,
        ..SynthConfig::default()
    }
}

fn ndjson(cfg: &SynthConfig) -> Vec<u8> {
    let mut out = Vec::new();
    let n = write_ndjson(cfg, &mut out).expect("writing to a Vec cannot fail");
    assert_eq!(n, out.len() as u64, "reported byte count");
    out
}

fn records(cfg: &SynthConfig) -> Vec<Value> {
    Synth::new(cfg.clone()).collect()
}

fn str_field<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn event_ms(r: &Value) -> i64 {
    let s = str_field(r, "event_time").expect("event_time is a string");
    let t = OffsetDateTime::parse(s, &Rfc3339).expect("event_time is RFC 3339");
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("in range")
}

#[test]
fn default_config() {
    let d = SynthConfig::default();
    assert_eq!(d.seed, 1);
    assert_eq!(d.count, 1000);
    assert_eq!(
        format_event_time(d.start_unix_ms),
        "2026-11-20T10:00:00.000Z"
    );
    assert_eq!(d.start_unix_ms, DEFAULT_START_UNIX_MS);
    assert_eq!(d.subjects, 10_000);
    assert_eq!(d.mean_gap_us, 1000);
    assert_eq!(Synth::new(d).count(), 1000);
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let a = ndjson(&cfg(42, 3000));
    let b = ndjson(&cfg(42, 3000));
    let c = ndjson(&cfg(43, 3000));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 3000);
    // A shorter run is not a prefix of a longer one in general (version change
    // points scale with the count), but the iterator and the writer agree.
    let lines: Vec<Value> = a
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines, records(&cfg(42, 3000)));
}

#[test]
fn records_have_exactly_the_allowed_fields_with_the_right_types() {
    let allowed: HashSet<&str> = FIELDS.iter().copied().collect();
    for r in records(&cfg(7, 5000)) {
        let obj = r.as_object().expect("record is an object");
        for key in obj.keys() {
            assert!(allowed.contains(key.as_str()), "unexpected field {key}");
        }
        let stream = str_field(&r, "stream").expect("stream");
        assert!([STREAM_FRAUD, STREAM_CHAT, STREAM_PRICING].contains(&stream));
        let model = r["model"].as_object().expect("model object");
        assert!(model["name"].is_string() && model["version"].is_string());
        for key in model.keys() {
            assert!(
                ["name", "version", "digest"].contains(&key.as_str()),
                "model.{key}"
            );
        }
        if let Some(d) = model.get("digest") {
            let d = d.as_str().expect("digest string");
            assert!(
                d.strip_prefix("sha256:").is_some_and(|h| is_hex(h, 64)),
                "{d}"
            );
        }
        assert!(obj.contains_key("input") && obj.contains_key("output"));
        if let Some(v) = obj.get("trace_id") {
            assert!(is_hex(v.as_str().expect("trace_id string"), 32), "{v}");
            assert!(obj.contains_key("span_id"));
        }
        if let Some(v) = obj.get("span_id") {
            assert!(is_hex(v.as_str().expect("span_id string"), 16), "{v}");
        }
        if let Some(v) = obj.get("subject") {
            let s = v.as_str().expect("subject string");
            assert!(s.strip_prefix("cust-").is_some_and(|n| n.len() == 6), "{s}");
        }
        for key in [
            "request_id",
            "session",
            "operation",
            "decision",
            "idempotency_key",
        ] {
            if let Some(v) = obj.get(key) {
                assert!(v.as_str().is_some_and(|s| !s.is_empty()), "{key}: {v}");
            }
        }
        let t = str_field(&r, "event_time").expect("event_time");
        assert_eq!(t.len(), "2026-11-20T10:00:00.123Z".len());
        assert!(t.ends_with('Z'));
        event_ms(&r);
        if let Some(v) = obj.get("params") {
            assert!(v.is_object());
        }
        if let Some(v) = obj.get("score") {
            let s = v.as_f64().expect("score number");
            assert!((0.0..=1.0).contains(&s), "score {s}");
        }
        if let Some(v) = obj.get("latency_ms") {
            assert!(v.as_f64().is_some_and(|l| l > 0.0), "latency {v}");
        }
        if let Some(v) = obj.get("attributes") {
            let a = v.as_object().expect("attributes object");
            assert!(a.values().all(Value::is_string));
            assert!(a.contains_key("region") && a.contains_key("tenant"));
        }
        check_kind(&r, stream);
    }
}

/// Shape of the stream-specific input and output.
fn check_kind(r: &Value, stream: &str) {
    let (input, output) = (&r["input"], &r["output"]);
    match stream {
        STREAM_FRAUD => {
            let tx = &input["transaction"];
            assert!(tx["amount"].is_number() && tx["currency"].is_string());
            assert!(tx["merchant"].is_object() && tx["card_bin"].is_string());
            let features = input["features"].as_array().expect("features");
            assert!((16..=64).contains(&features.len()));
            assert!(features.iter().all(Value::is_f64));
            let d = output["decision"].as_str().expect("decision");
            assert!(["approve", "review", "decline"].contains(&d));
            assert_eq!(r["decision"], output["decision"]);
            assert_eq!(r["score"], output["score"]);
            assert!(output["reasons"].is_array());
        }
        STREAM_CHAT => {
            let messages = input["messages"].as_array().expect("messages");
            assert!((1..=12).contains(&messages.len()));
            for m in messages {
                let role = m["role"].as_str().expect("role");
                assert!(["system", "user", "assistant"].contains(&role));
                assert!(m["content"].as_str().is_some_and(|c| !c.is_empty()));
            }
            assert_eq!(
                messages.last().map(|m| &m["role"]),
                Some(&Value::from("user"))
            );
            assert_eq!(output["message"]["role"], "assistant");
            assert!(output["message"]["content"].is_string());
            assert!(output["usage"]["prompt_tokens"].is_u64());
            assert!(output["usage"]["completion_tokens"].is_u64());
            assert!(output["finish_reason"].is_string());
            for key in ["temperature", "top_p", "seed"] {
                assert!(r["params"][key].is_number(), "params.{key}");
            }
        }
        _ => {
            assert!(input["sku"].is_string() && input["base_price"].is_number());
            assert!(input["inventory"].is_u64());
            assert!(input["competitor_prices"]
                .as_array()
                .is_some_and(|p| !p.is_empty()));
            assert!(input["demand_features"].is_object());
            assert!(output["price"].is_number() && output["discount_pct"].is_number());
            let d = output["decision"].as_str().expect("decision");
            assert!(["hold", "raise", "lower"].contains(&d));
            assert_eq!(r["decision"], output["decision"]);
        }
    }
}

#[test]
fn line_sizes_are_realistic() {
    let out = ndjson(&cfg(11, 5000));
    let sizes: Vec<usize> = out
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::len)
        .collect();
    assert_eq!(sizes.len(), 5000);
    let min = sizes.iter().copied().min().unwrap_or(0);
    let max = sizes.iter().copied().max().unwrap_or(0);
    let avg = out.len() / sizes.len();
    assert!(min >= 250, "smallest line {min} B");
    assert!(max <= 9 * 1024, "largest line {max} B");
    assert!((1024..=2048).contains(&avg), "average line {avg} B");
    assert!(
        max >= 4 * 1024,
        "chat should produce large lines, largest is {max} B"
    );
}

#[test]
fn event_time_is_non_decreasing_from_the_start() {
    let c = SynthConfig {
        start_unix_ms: 1_700_000_000_000,
        ..cfg(5, 10_000)
    };
    let times: Vec<i64> = records(&c).iter().map(event_ms).collect();
    assert_eq!(times[0], c.start_unix_ms);
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "event_time went backwards"
    );
    // A mean gap of 1 ms over 10,000 records spans about 10 s.
    let span = times[times.len() - 1] - times[0];
    assert!((8_000..=12_000).contains(&span), "span {span} ms");

    let burst = SynthConfig {
        mean_gap_us: 0,
        ..c.clone()
    };
    assert!(records(&burst)
        .iter()
        .all(|r| event_ms(r) == c.start_unix_ms));
    let slow = SynthConfig {
        mean_gap_us: 50_000,
        ..cfg(5, 1000)
    };
    let t: Vec<i64> = records(&slow).iter().map(event_ms).collect();
    let span = t[t.len() - 1] - t[0];
    assert!(
        (40_000..=60_000).contains(&span),
        "span {span} ms at 50 ms per record"
    );
}

#[test]
fn all_streams_present_in_roughly_the_intended_mix() {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for r in records(&cfg(3, 10_000)) {
        *counts
            .entry(r["stream"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    for (stream, share) in [
        (STREAM_FRAUD, 0.45),
        (STREAM_CHAT, 0.30),
        (STREAM_PRICING, 0.25),
    ] {
        let n = counts.get(stream).copied().unwrap_or(0) as f64 / 10_000.0;
        assert!(
            (n - share).abs() < 0.03,
            "{stream}: {n} of records, expected about {share}"
        );
    }
    assert_eq!(counts.len(), 3);
}

#[test]
fn each_stream_changes_model_version_and_decision_mix() {
    let recs = records(&cfg(21, 10_000));
    let mut seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &recs {
        let versions = seen
            .entry(r["stream"].as_str().unwrap_or_default())
            .or_default();
        let v = r["model"]["version"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if versions.last() != Some(&v) {
            assert!(!versions.contains(&v), "version {v} came back");
            versions.push(v);
        }
    }
    assert_eq!(seen.len(), 3);
    for (stream, versions) in &seen {
        assert!(
            versions.len() >= 2,
            "{stream} never changed version: {versions:?}"
        );
    }

    // Fraud model 8 flags (reviews or declines) clearly more than model 7.
    let flagged = |version: &str| {
        let of_version: Vec<&Value> = recs
            .iter()
            .filter(|r| r["stream"] == STREAM_FRAUD && r["model"]["version"] == version)
            .collect();
        let flagged = of_version
            .iter()
            .filter(|r| r["decision"] != "approve")
            .count();
        flagged as f64 / of_version.len().max(1) as f64
    };
    let (old, new) = (
        flagged(&seen[STREAM_FRAUD][0]),
        flagged(&seen[STREAM_FRAUD][1]),
    );
    assert!(new > old * 1.5, "flag rate {old} -> {new}");
}

#[test]
fn version_change_points_scale_with_the_count() {
    for count in [200u64, 10_000] {
        let recs = records(&cfg(2, count));
        let first_v8 = recs
            .iter()
            .position(|r| r["stream"] == STREAM_FRAUD && r["model"]["version"] == "8.0.0")
            .expect("fraud model 8 appears");
        let frac = first_v8 as f64 / count as f64;
        assert!(
            (0.40..0.45).contains(&frac),
            "fraud model 8 from {frac} of {count}"
        );
    }
}

#[test]
fn identifiers_are_unique_and_sessions_are_coherent() {
    let recs = records(&cfg(8, 10_000));
    let mut request_ids = HashSet::new();
    let mut idempotency = HashSet::new();
    let mut sessions: HashMap<&str, (&Value, &Value)> = HashMap::new();
    let mut subjects = BTreeSet::new();
    for r in &recs {
        if let Some(id) = str_field(r, "request_id") {
            assert!(request_ids.insert(id), "duplicate request_id {id}");
        }
        if let Some(k) = str_field(r, "idempotency_key") {
            assert!(idempotency.insert(k), "duplicate idempotency_key {k}");
        }
        if let Some(s) = str_field(r, "session") {
            let owner = (&r["subject"], &r["stream"]);
            let first = sessions.entry(s).or_insert(owner);
            assert_eq!(*first, owner, "session {s} spans subjects or streams");
        }
        if let Some(s) = str_field(r, "subject") {
            subjects.insert(s);
        }
    }
    assert!(request_ids.len() > 9_000);
    assert!(!idempotency.is_empty() && idempotency.len() < recs.len() / 2);
    // Sessions group several decisions, and some subjects are far more frequent.
    assert!(
        sessions.len() < recs.len() * 3 / 4,
        "{} sessions",
        sessions.len()
    );
    let mut per_subject: HashMap<&str, usize> = HashMap::new();
    for r in &recs {
        if let Some(s) = str_field(r, "subject") {
            *per_subject.entry(s).or_default() += 1;
        }
    }
    let busiest = per_subject.values().copied().max().unwrap_or(0);
    assert!(
        busiest >= 20,
        "busiest subject has only {busiest} decisions"
    );
    assert!(
        subjects.len() > 1000,
        "only {} distinct subjects",
        subjects.len()
    );
}

#[test]
fn small_populations_are_respected() {
    let c = SynthConfig {
        subjects: 3,
        ..cfg(4, 500)
    };
    let subjects: BTreeSet<String> = records(&c)
        .iter()
        .filter_map(|r| str_field(r, "subject").map(String::from))
        .collect();
    assert!(!subjects.is_empty() && subjects.len() <= 3, "{subjects:?}");
    assert_eq!(records(&cfg(4, 0)).len(), 0);
}

#[test]
fn cli_matches_the_library_and_accepts_a_start_time() {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn-synth"))
        .args([
            "--seed",
            "9",
            "--count",
            "300",
            "--start",
            "2027-01-02T03:04:05.678Z",
        ])
        .args(["--subjects", "500", "--mean-gap-us", "2500"])
        .output()
        .expect("run cairn-synth");
    assert!(output.status.success());
    let expected = ndjson(&SynthConfig {
        seed: 9,
        count: 300,
        start_unix_ms: 1_798_859_045_678,
        subjects: 500,
        mean_gap_us: 2500,
        small: false,
    });
    assert_eq!(output.stdout, expected);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with('{'));

    let bad = Command::new(env!("CARGO_BIN_EXE_cairn-synth"))
        .args(["--start", "yesterday"])
        .output()
        .expect("run cairn-synth");
    assert!(!bad.status.success());
}

#[test]
fn cli_writes_a_file() {
    let path = std::env::temp_dir().join(format!("cairn-synth-test-{}.ndjson", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_cairn-synth"))
        .args(["--count", "100", "--out"])
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .expect("run cairn-synth");
    assert!(status.success());
    let written = std::fs::read(&path).expect("output file");
    std::fs::remove_file(&path).ok();
    assert_eq!(written, ndjson(&cfg(1, 100)));
}

#[test]
fn cli_treats_a_closed_pipe_as_success() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn-synth"))
        .args(["--count", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cairn-synth");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let status = child.wait().expect("wait for cairn-synth");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .ok();
    assert!(status.success(), "exit {status:?}, stderr: {stderr}");
    assert!(stderr.is_empty(), "stderr: {stderr}");
}

#[test]
fn the_small_workload_has_no_chat_and_small_lines() {
    let cfg = SynthConfig {
        seed: 3,
        count: 2000,
        small: true,
        ..SynthConfig::default()
    };
    let mut bytes = 0usize;
    for v in Synth::new(cfg) {
        let line = v.to_string();
        bytes += line.len() + 1;
        let stream = v["stream"].as_str().unwrap_or_default().to_owned();
        assert!(!stream.contains("chat"), "{stream}");
    }
    let mean = bytes / 2000;
    assert!((300..800).contains(&mean), "mean line {mean} bytes");
}
