//! `cairn watch`: the live monitor of a running `cairnd` in the terminal, read
//! from `GET /v1/monitor/streams` every second: per stream the breaker, the
//! versions compared and, on each window, each version's rate, label mix,
//! scores and latency, and the checks.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Arguments of `cairn watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The daemon, e.g. `http://127.0.0.1:7070`.
    #[arg(long, env = "CAIRN_DAEMON", value_name = "URL")]
    daemon: String,
    /// Time between refreshes.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    interval_ms: u64,
    /// Print each refresh as one line of JSON (the daemon's
    /// `/v1/monitor/streams` answer) instead of the screen.
    #[arg(long)]
    json: bool,
    /// Print one refresh and exit (exit 2 if the daemon cannot be read).
    #[arg(long)]
    once: bool,
}

/// `cairn watch`.
pub fn run(args: WatchArgs) -> Result<ExitCode> {
    let url = format!("{}/v1/monitor/streams", args.daemon.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("making an HTTP client")?;
    let interval = Duration::from_millis(args.interval_ms.max(100));
    loop {
        let fetched = fetch(&client, &url);
        let mut out = std::io::stdout().lock();
        match (&fetched, args.json) {
            (Ok(v), true) => writeln!(out, "{v}")?,
            (Ok(v), false) => {
                if !args.once {
                    // Clear the screen and go home.
                    write!(out, "\x1b[2J\x1b[H")?;
                }
                write!(out, "{}", screen(&args.daemon, v))?;
            }
            (Err(e), _) if args.once => return Err(anyhow::anyhow!("{e:#}")),
            // Standard output stays what `--json` promises: one snapshot per line.
            (Err(e), true) => eprintln!("cannot read {url}: {e:#} (retrying)"),
            (Err(e), false) => writeln!(out, "cannot read {url}: {e:#} (retrying)")?,
        }
        out.flush()?;
        drop(out);
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(interval);
    }
}

fn fetch(client: &reqwest::blocking::Client, url: &str) -> Result<Value> {
    let response = client
        .get(url)
        .send()
        .with_context(|| format!("reading {url}"))?;
    let status = response.status();
    let v: Value = response
        .json()
        .with_context(|| format!("reading the answer of {url} ({status})"))?;
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            v["error"].as_str().unwrap_or("no reason given")
        );
    }
    Ok(v)
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
}

/// The names of the windows in the daemon's answer (`1m, 15m`).
fn window_names(v: &Value) -> String {
    let names: Vec<String> = v["limits"]["windows_ms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|ms| {
            if ms.is_multiple_of(60_000) {
                format!("{}m", ms / 60_000)
            } else {
                format!("{} s", ms as f64 / 1000.0)
            }
        })
        .collect();
    names.join(", ")
}

/// The screen: one block per stream, one line per version and window.
pub fn screen(daemon: &str, v: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "cairn watch {daemon}   windows {}", window_names(v));
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    if streams.is_empty() {
        let _ = writeln!(s, "\nno decisions seen yet");
    }
    for st in &streams {
        stream_block(&mut s, st);
    }
    s
}

fn stream_block(s: &mut String, st: &Value) {
    let state = st["breaker"]["state"].as_str().unwrap_or("?");
    let _ = write!(
        s,
        "\n{}  breaker {}",
        st["stream"].as_str().unwrap_or("?"),
        state.to_uppercase()
    );
    if state == "open" {
        let t = &st["breaker"]["trip"];
        let _ = write!(
            s,
            ": {} {} > {} on the {} window ({}@{} vs {})",
            t["check"]["check"].as_str().unwrap_or("?"),
            num(&t["check"]["statistic"], 3),
            num(&t["check"]["threshold"], 3),
            t["window"].as_str().unwrap_or("?"),
            t["current"]["model"].as_str().unwrap_or("?"),
            t["current"]["version"].as_str().unwrap_or("?"),
            t["reference"]["version"].as_str().unwrap_or("?"),
        );
    }
    if st["accepted"] == true {
        let _ = write!(s, " (versions accepted by a reset)");
    }
    if let Some(p) = st["pinned"].as_object() {
        let _ = write!(
            s,
            " (reference pinned: {})",
            p.get("version").and_then(Value::as_str).unwrap_or("?")
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "  {:<24} {:>6} {:>8} {:>9} {:>10} {:>8} {:>9}  labels (window)",
        "version", "window", "rate/s", "decisions", "total", "score", "p99 ms"
    );
    for ver in st["versions"].as_array().into_iter().flatten() {
        let name = format!(
            "{}@{}",
            ver["model"].as_str().unwrap_or("?"),
            ver["version"].as_str().unwrap_or("?")
        );
        for (k, w) in ver["windows"].as_array().into_iter().flatten().enumerate() {
            let (name, total) = if k == 0 {
                (name.as_str(), num(&ver["total"], 0))
            } else {
                ("", String::new())
            };
            let _ = writeln!(
                s,
                "  {name:<24} {:>6} {:>8} {:>9} {total:>10} {:>8} {:>9}  {}",
                w["window"].as_str().unwrap_or("?"),
                num(&w["rate_per_s"], 1),
                num(&w["decisions"], 0),
                num(&w["score_mean"], 3),
                num(&w["latency_p99_ms"], 1),
                label_mix(w)
            );
        }
    }
    for w in st["checks"].as_array().into_iter().flatten() {
        let checks: Vec<String> = w["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(check)
            .collect();
        let _ = writeln!(
            s,
            "  checks {}: {}",
            w["window"].as_str().unwrap_or("?"),
            checks.join("; ")
        );
    }
}

/// `approve 80%, review 15%` of one window.
fn label_mix(w: &Value) -> String {
    let decisions = w["decisions"].as_f64().unwrap_or(0.0);
    let labels: Vec<String> = w["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let n = pair[1].as_f64().unwrap_or(0.0);
            let pct = if decisions > 0.0 {
                100.0 * n / decisions
            } else {
                0.0
            };
            format!("{} {pct:.0}%", pair[0].as_str().unwrap_or("?"))
        })
        .collect();
    labels.join(", ")
}

fn check(c: &Value) -> String {
    let name = c["check"].as_str().unwrap_or("?");
    if c["measured"] == true {
        let mark = if c["tripped"] == true {
            "TRIPPED"
        } else {
            "ok"
        };
        format!(
            "{name} {} / {} {mark}",
            num(&c["statistic"], 3),
            num(&c["threshold"], 3)
        )
    } else {
        format!("{name} (too few samples)")
    }
}
