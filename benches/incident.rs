//! Incident reconstruction and evidence bundles on a large ledger:
//!
//! - `incident/subject-hour-cli`: `cairn incident --json` for one subject's hour,
//!   the whole command (process start, opening RocksDB read-only, indexes, entries);
//! - `incident/subject-hour-store`: the same selection through the store alone
//!   (`Ledger::select`: subject index, then each entry read and checked);
//! - `bundle/export`: `cairn bundle export` of a window of consecutive decisions;
//! - `bundle/verify`: `cairn_core::bundle::verify` of that bundle, in process.
//!
//! The ledger holds `CAIRN_BENCH_ENTRIES` synthetic decisions (default 5,000,000,
//! one every 50 ms on average, so about three days). Building it takes minutes, so
//! it is built once under the target directory (`bench-ledgers/`) and reused; the
//! `cairn` binary must be built first (`cargo build --release -p cairn-cli`).
//! `CAIRN_BENCH_BUNDLE_ENTRIES` (default 50,000) sets the bundle's size.
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_core::bundle::{self, VerifyOptions};
use cairn_core::checkpoint::{Checkpoint, NoteSigner};
use cairn_core::decision::{format_time_us, DecisionInput};
use cairn_core::entry::{Entry, EntryBody};
use cairn_store::keys::IndexKind;
use cairn_store::query::Query;
use cairn_store::{Append, Ledger, RocksBackend};
use cairn_synth::{Synth, SynthConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ORIGIN: &str = "bench.example/incident";
const MEAN_GAP_US: u64 = 50_000;
const HOUR_US: i64 = 3_600_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `target/` (this bench runs from `target/release/deps/`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    exe.ancestors()
        .nth(3)
        .expect("the bench runs inside a target directory")
        .to_path_buf()
}

fn cairn_bin() -> PathBuf {
    let bin = target_dir().join("release").join("cairn");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build --release -p cairn-cli`",
        bin.display()
    );
    bin
}

/// The ledger directory of `n` decisions, built on first use.
fn ledger_dir(n: u64) -> PathBuf {
    let dir = target_dir()
        .join("bench-ledgers")
        .join(format!("incident-v2-{n}-{MEAN_GAP_US}"));
    if dir.join("complete").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the bench ledger dir");
    build_ledger(&dir, n);
    std::fs::write(dir.join("complete"), b"").expect("mark the ledger complete");
    dir
}

/// A ledger directory as `cairn init` makes it, filled with synthetic decisions
/// and closed with a signed checkpoint.
fn build_ledger(dir: &Path, n: u64) {
    eprintln!(
        "building a ledger of {n} decisions in {} (once)",
        dir.display()
    );
    let signer = NoteSigner::new(ORIGIN, &[42; 32]).expect("signer");
    std::fs::write(dir.join("signing.key"), signer.to_string()).expect("signing.key");
    std::fs::write(dir.join("verifier.key"), format!("{}\n", signer.verifier()))
        .expect("verifier.key");
    let backend = RocksBackend::create(&dir.join("ledger")).expect("create RocksDB");
    let ledger = Ledger::create(backend, ORIGIN).expect("create the ledger");
    let synth = Synth::new(SynthConfig {
        seed: 7,
        count: n,
        mean_gap_us: MEAN_GAP_US,
        ..SynthConfig::default()
    });
    let mut batch = Vec::with_capacity(1024);
    for (i, v) in synth.enumerate() {
        let d =
            DecisionInput::parse(v.to_string().as_bytes()).expect("synthetic decisions are valid");
        batch.push(Append::Unsalted(d.unsalted()));
        if batch.len() == 1024 {
            ledger
                .append(std::mem::take(&mut batch), 1)
                .expect("append");
        }
        if i > 0 && i % 500_000 == 0 {
            eprintln!("  {i} decisions");
        }
    }
    if !batch.is_empty() {
        ledger.append(batch, 1).expect("append");
    }
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: ledger.size(),
        root: ledger.root(),
        extensions: vec![],
    };
    ledger
        .put_checkpoint(cp.size, &signer.sign_checkpoint(&cp))
        .expect("store the checkpoint");
    // What the daemon's indexer does in the background.
    eprintln!("  indexing");
    ledger.index_all().expect("index");
    ledger.backend().flush().expect("flush");
}

fn open(dir: &Path) -> Ledger<RocksBackend> {
    let backend = RocksBackend::open_read_only(&dir.join("ledger")).expect("open read-only");
    Ledger::open_unchecked(backend).expect("open the ledger")
}

fn time_of(e: &Entry) -> (i64, Option<String>) {
    match &e.body {
        EntryBody::DecisionV1(d) => (
            d.event_time_us.unwrap_or(e.recorded_at_us),
            d.subject.clone(),
        ),
        _ => (e.recorded_at_us, None),
    }
}

fn cairn(args: &[&str]) {
    let status = Command::new(cairn_bin())
        .args(args)
        .stdout(Stdio::null())
        .status()
        .expect("run cairn");
    assert!(status.success(), "cairn {args:?} failed");
}

fn incident(c: &mut Criterion) {
    let n = env_u64("CAIRN_BENCH_ENTRIES", 5_000_000);
    let dir = ledger_dir(n);
    let ledger = open(&dir);
    // The subject of a decision half-way through, and the hour around it.
    let mut seq = ledger.size() / 2;
    let (centre, subject) = loop {
        match time_of(&ledger.entry(seq).expect("entry")) {
            (t, Some(s)) => break (t, s),
            _ => seq += 1,
        }
    };
    let (from, to) = (centre - HOUR_US / 2, centre + HOUR_US / 2);
    let query = Query {
        subject: Some(subject.clone()),
        from_us: Some(from),
        to_us: Some(to),
        ..Query::default()
    };
    let select = || -> usize {
        ledger
            .select(&query, ledger.size(), usize::MAX)
            .expect("select")
            .entries
            .len()
    };
    eprintln!(
        "subject {subject}: {} decisions in the hour, {} in all, of {n}",
        select(),
        ledger
            .index_seqs(IndexKind::Subject, &subject, usize::MAX)
            .expect("index")
            .len()
    );
    let (from_s, to_s) = (format_time_us(from), format_time_us(to));
    let data = dir.to_str().expect("UTF-8 path");
    let mut g = c.benchmark_group("incident");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function(format!("subject-hour-cli-{n}"), |b| {
        b.iter(|| {
            cairn(&[
                "incident",
                "--data",
                data,
                "--json",
                "--subject",
                &subject,
                "--from",
                &from_s,
                "--to",
                &to_s,
            ])
        })
    });
    g.bench_function(format!("subject-hour-store-{n}"), |b| b.iter(&select));
    g.finish();
}

fn bundles(c: &mut Criterion) {
    let n = env_u64("CAIRN_BENCH_ENTRIES", 5_000_000);
    let want = env_u64("CAIRN_BENCH_BUNDLE_ENTRIES", 50_000).min(n / 2);
    let dir = ledger_dir(n);
    let ledger = open(&dir);
    let first = n / 4;
    let (from, _) = time_of(&ledger.entry(first).expect("entry"));
    let (to, _) = time_of(&ledger.entry(first + want).expect("entry"));
    let verifier = cairn_core::checkpoint::NoteVerifier::parse(
        std::fs::read_to_string(dir.join("verifier.key"))
            .expect("verifier.key")
            .trim(),
    )
    .expect("verifier key");
    drop(ledger);
    let out = tempfile::tempdir().expect("tempdir");
    let file = out.path().join("bench.bundle");
    let (from_s, to_s) = (format_time_us(from), format_time_us(to));
    let data = dir.to_str().expect("UTF-8 path");
    let export = [
        "bundle",
        "export",
        "--data",
        data,
        "--from",
        &from_s,
        "--to",
        &to_s,
        "--out",
        file.to_str().expect("UTF-8 path"),
    ];
    cairn(&export);
    let text = std::fs::read(&file).expect("read the bundle");
    let opts = VerifyOptions {
        trusted_key: Some(&verifier),
        keep_entries: false,
    };
    let report = bundle::verify(&text, opts).expect("checkable");
    assert!(report.valid(), "{:?}", report.findings.first());
    let entries = report.decisions + report.other_entries;
    eprintln!("bundle: {entries} entries, {} bytes", text.len());

    let mut g = c.benchmark_group("bundle");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(60));
    g.throughput(Throughput::Elements(entries));
    g.bench_function(format!("export-{entries}-of-{n}"), |b| {
        b.iter(|| cairn(&export))
    });
    g.bench_function(format!("verify-{entries}"), |b| {
        b.iter(|| {
            let r = bundle::verify(&text, opts).expect("checkable");
            assert!(r.valid());
        })
    });
    g.finish();
}

criterion_group!(benches, incident, bundles);
criterion_main!(benches);
