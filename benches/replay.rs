//! Replay throughput against a trivial local HTTP candidate, and Cairn's overhead
//! against calling that candidate directly with the same concurrency.
//!
//! The candidate is a minimal hyper server in this process (its own runtime)
//! answering every POST with the same small JSON output. The records are the
//! synthetic workload's decisions (`cairn-synth`), so request bodies have realistic
//! sizes. "Replay" is what `cairn replay` does: `cairn_replay::replay_examined`
//! (scheduling by session, timeout, retries, and each answer diffed and its label
//! and score read as it arrives) followed by `analyze_examined` (counts, noise
//! rule, statistics, examples: the report); "direct" is the same HTTP client
//! posting the same requests (protocol body and content type) from the same
//! number of workers and parsing each answer as JSON, and nothing else.
//!
//! By default the recorded outputs are the candidate's answer, so every entry agrees,
//! as most entries of a real replay do; `CAIRN_BENCH_REPLAY_DIFFER=1` keeps the
//! workload's own outputs instead, so that every entry differs on several paths
//! (the worst case for the analysis). `CAIRN_BENCH_REPLAY_ENTRIES` (default 20000)
//! and `CAIRN_BENCH_REPLAY_CONCURRENCY` (default 32) change the size of a run and
//! the number of requests in flight; `CAIRN_BENCH_REPLAY_SIDE=replay` (or `direct`)
//! runs only that side, 20 times, for a profiler.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn_core::entry::ModelRef;
use cairn_replay::candidate::{request_bytes, CandidateOptions};
use cairn_replay::noise::NoiseRule;
use cairn_replay::report::{Endpoint, RunInfo, Settings};
use cairn_replay::{
    analyze_examined, replay_examined, AnalyzeOptions, Candidate, DiffRules, PathPattern, Record,
    RunOptions,
};
use cairn_synth::{Synth, SynthConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

// The allocator of the `cairn` binary, so that replay is measured as it runs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ANSWER: &str = r#"{"decision":"approve","score":0.5,"reasons":[]}"#;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Start the trivial candidate on its own runtime; returns its URL.
fn start_candidate() -> String {
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("candidate runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            ANSWER.as_bytes(),
                        ))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    let addr = rx.recv().expect("candidate started");
    format!("http://{addr}/")
}

fn records(n: usize) -> Vec<Record> {
    let differ = std::env::var("CAIRN_BENCH_REPLAY_DIFFER").is_ok_and(|v| v == "1");
    let answer: Value = serde_json::from_str(ANSWER).expect("answer is JSON");
    Synth::new(SynthConfig {
        seed: 3,
        count: n as u64,
        ..SynthConfig::default()
    })
    .enumerate()
    .map(|(i, d)| {
        let s = |k: &str| d[k].as_str().map(str::to_owned);
        Record {
            seq: i as u64,
            input: d["input"].clone(),
            output: if differ {
                d["output"].clone()
            } else {
                answer.clone()
            },
            params: d.get("params").cloned(),
            model: ModelRef {
                name: d["model"]["name"].as_str().unwrap_or("m").to_owned(),
                version: d["model"]["version"].as_str().unwrap_or("1").to_owned(),
                digest: None,
            },
            session: s("session"),
            latency_ms: d["latency_ms"].as_f64(),
            decision: s("decision"),
            score: d["score"].as_f64(),
        }
    })
    .collect()
}

struct Setup {
    rt: tokio::runtime::Runtime,
    url: String,
    records: Arc<Vec<Record>>,
    concurrency: usize,
    candidate: Arc<Candidate>,
    client: reqwest::Client,
}

impl Setup {
    fn new() -> Setup {
        let n = env("CAIRN_BENCH_REPLAY_ENTRIES", 20_000);
        let concurrency = env("CAIRN_BENCH_REPLAY_CONCURRENCY", 32);
        let url = start_candidate();
        let options = CandidateOptions {
            concurrency,
            template: None,
        };
        let candidate = Arc::new(Candidate::http(&url, &options).expect("candidate"));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Setup {
            rt,
            url,
            records: Arc::new(records(n)),
            concurrency,
            candidate,
            client,
        }
    }

    /// Cairn: replay and analyse.
    fn replay(&self) -> usize {
        let options = RunOptions {
            concurrency: self.concurrency,
            timeout: Duration::from_secs(30),
            ..RunOptions::default()
        };
        let analyze = analyze_options();
        let run = self.rt.block_on(replay_examined(
            self.records.clone(),
            self.candidate.clone(),
            None,
            &options,
            &analyze,
        ));
        let report = analyze_examined(
            &self.records,
            &run.outcomes,
            run.examined,
            vec![],
            info(&self.url),
            &analyze,
        );
        assert_eq!(
            report.replayed as usize,
            self.records.len(),
            "every entry answered"
        );
        report.replayed as usize
    }

    /// The same requests, posted directly.
    fn direct(&self) -> usize {
        let next = Arc::new(AtomicUsize::new(0));
        self.rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..self.concurrency {
                let (next, records, client, url) = (
                    next.clone(),
                    self.records.clone(),
                    self.client.clone(),
                    self.url.clone(),
                );
                set.spawn(async move {
                    let mut done = 0usize;
                    while let Some(r) = records.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let resp = client
                            .post(&url)
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(request_bytes(r))
                            .send()
                            .await
                            .expect("post");
                        let body = resp.bytes().await.expect("body");
                        let _: Value = serde_json::from_slice(&body).expect("json");
                        done += 1;
                    }
                    done
                });
            }
            let mut total = 0;
            while let Some(n) = set.join_next().await {
                total += n.expect("worker");
            }
            total
        })
    }
}

fn analyze_options() -> AnalyzeOptions {
    AnalyzeOptions {
        rules: DiffRules::default(),
        label_path: PathPattern::parse("$.decision").expect("path"),
        score_path: PathPattern::parse("$.score").expect("path"),
        examples_max: 20,
        noise: NoiseRule::default(),
    }
}

fn info(url: &str) -> RunInfo {
    RunInfo {
        candidate: Endpoint {
            endpoint: url.to_owned(),
            model: None,
        },
        baseline: None,
        selection: Default::default(),
        settings: Settings {
            concurrency: 0,
            rate_per_s: None,
            timeout_ms: 0,
            retries: 0,
            tolerances: vec![],
            ignore: vec![],
            label_path: "$.decision".into(),
            score_path: "$.score".into(),
        },
        started_at: String::new(),
        duration_ms: 0.0,
        interrupted: false,
    }
}

fn bench(c: &mut Criterion) {
    let setup = Setup::new();
    // One side alone, for a profiler: `replay` or `direct`, 20 runs.
    if let Ok(side) = std::env::var("CAIRN_BENCH_REPLAY_SIDE") {
        let t = Instant::now();
        for _ in 0..20 {
            if side == "direct" {
                setup.direct();
            } else {
                setup.replay();
            }
        }
        println!("{side}: {:?} per run (20 runs)", t.elapsed() / 20);
        return;
    }
    let n = setup.records.len() as u64;
    let mut g = c.benchmark_group("replay_http");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function(format!("cairn-c{}", setup.concurrency), |b| {
        b.iter(|| setup.replay())
    });
    g.bench_function(format!("direct-c{}", setup.concurrency), |b| {
        b.iter(|| setup.direct())
    });
    g.finish();

    // Interleaved pairs of runs, so that both sides of a pair see the same machine
    // state, each side first in half of them; the overhead is the median of the
    // pairs' ratios, which drift in the machine's speed between pairs does not move.
    const PAIRS: usize = 11;
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let time = |f: &dyn Fn() -> usize| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    for i in 0..PAIRS {
        // Each side goes first in every other pair, so that neither pays for
        // what the other leaves behind more often.
        let (a, b) = if i % 2 == 0 {
            let a = time(&|| setup.replay());
            (a, time(&|| setup.direct()))
        } else {
            let b = time(&|| setup.direct());
            (time(&|| setup.replay()), b)
        };
        ours.push(a);
        theirs.push(b);
        ratios.push(a / b);
    }
    for v in [&mut ours, &mut theirs, &mut ratios] {
        v.sort_by(f64::total_cmp);
    }
    let (a, b, r) = (ours[PAIRS / 2], theirs[PAIRS / 2], ratios[PAIRS / 2]);
    println!(
        "replay {:.0} entries/s, direct {:.0} requests/s, overhead {:+.1}% (median of {PAIRS} interleaved pairs of runs of {n}, concurrency {}; pairs from {:+.1}% to {:+.1}%)",
        n as f64 / a,
        n as f64 / b,
        (r - 1.0) * 100.0,
        setup.concurrency,
        (ratios[0] - 1.0) * 100.0,
        (ratios[PAIRS - 1] - 1.0) * 100.0,
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
