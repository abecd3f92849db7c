//! Embedded ledger benchmarks: parsing decision lines, durable append at batch
//! sizes 1, 64 and 1024 (one fsync per batch), verify throughput, and proof
//! times on a 1M-entry ledger.
#![allow(missing_docs)]

use cairn_benches::{fill, ledger, prepared};
use cairn_core::decision::DecisionInput;
use cairn_core::hash::Blake3Hasher;
use cairn_core::merkle;
use cairn_store::verify::{verify, VerifyOptions};
use cairn_store::Append;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

// The allocator of `cairnd` and `cairn`, so that the ledger is measured as it runs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parsing and checking NDJSON decision lines, payloads made canonical: what
/// the daemon does to every line it is sent before anything is appended.
fn parse(c: &mut Criterion) {
    let lines: Vec<String> = cairn_synth::Synth::new(cairn_synth::SynthConfig {
        seed: 1,
        count: 1000,
        ..cairn_synth::SynthConfig::default()
    })
    .map(|v| v.to_string())
    .collect();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("synthetic-lines", |b| {
        b.iter(|| {
            for line in &lines {
                std::hint::black_box(
                    DecisionInput::parse_str(line).expect("synthetic decisions are valid"),
                );
            }
        })
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    let (items, _) = prepared(1, 20_000);
    let mut g = c.benchmark_group("append");
    g.sample_size(10);
    for batch in [1usize, 64, 1024] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = ledger(dir.path());
        if let Some(level) = std::env::var("CAIRN_BENCH_LEVEL")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            l.set_compression(Some(level), Some(level));
        }
        let mut at = 0usize;
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            // The batch is copied out of the prepared items before the clock runs,
            // its idempotency keys made new on every pass over the items: a key
            // seen before appends nothing, and real traffic repeats few keys.
            b.iter_batched(
                || {
                    let start = at % (items.len() - batch);
                    let pass = at / (items.len() - batch);
                    at += batch;
                    let mut chunk = items[start..start + batch].to_vec();
                    if pass > 0 {
                        for item in &mut chunk {
                            if let Append::Unsalted(d) = item {
                                if let Some(key) = &mut d.body.idempotency_key {
                                    key.push_str(&format!("~{pass}"));
                                }
                            }
                        }
                    }
                    chunk
                },
                |batch| l.append(batch, 1).expect("append"),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn verify_and_proofs(c: &mut Criterion) {
    let n: u64 = std::env::var("CAIRN_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let l = ledger(dir.path());
    let chunk = 100_000u64;
    let mut raw_total = 0;
    for i in 0..n.div_ceil(chunk) {
        let (items, raw) = prepared(100 + i, chunk.min(n - i * chunk));
        raw_total += raw;
        fill(&l, &items, 1024);
    }
    l.backend().flush().expect("flush");

    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(raw_total));
    g.bench_function(format!("full-{n}"), |b| {
        b.iter(|| {
            let r = verify(&l, VerifyOptions::default()).expect("verify");
            assert!(r.intact());
        })
    });
    g.finish();

    let size = l.size();
    let root = l.root();
    let mut g = c.benchmark_group("proof");
    let mut seq = 0u64;
    g.bench_function(format!("inclusion-{size}"), |b| {
        b.iter(|| {
            seq = (seq + 7919) % size;
            let p = l.inclusion_proof(seq, size).expect("proof");
            let leaf = l.entry(seq).expect("entry").leaf_hash();
            merkle::verify_inclusion(&Blake3Hasher, seq, size, &leaf, &p, &root).expect("verifies")
        })
    });
    // One entry read by seq (`cairn get`, `GET /v1/entries/{seq}`): its
    // bundle's piece decompressed, spread over the whole ledger.
    let mut at = 0u64;
    g.bench_function(format!("entry-{size}"), |b| {
        b.iter(|| {
            at = (at + 104_723) % size;
            l.entry(at).expect("entry")
        })
    });
    let mut old = 1u64;
    g.bench_function(format!("consistency-{size}"), |b| {
        b.iter(|| {
            old = (old + 104_729) % size + 1;
            l.consistency_proof(old, size).expect("proof")
        })
    });
    g.finish();
}

criterion_group!(benches, parse, append, verify_and_proofs);
criterion_main!(benches);
