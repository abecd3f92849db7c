//! Shared set-up for the benchmarks: synthetic decisions prepared for appending,
//! and ledgers of a given size on RocksDB in a temp dir.

use cairn_core::decision::DecisionInput;
use cairn_store::{Append, Ledger, RocksBackend};
use cairn_synth::{Synth, SynthConfig};

/// `count` synthetic decisions, validated and committed, with their NDJSON size;
/// the small-decision workload (`cairn-synth --small`) when `CAIRN_BENCH_SMALL`
/// is set.
pub fn prepared(seed: u64, count: u64) -> (Vec<Append>, u64) {
    let mut raw = 0u64;
    let items = Synth::new(SynthConfig {
        seed,
        count,
        small: std::env::var_os("CAIRN_BENCH_SMALL").is_some(),
        ..SynthConfig::default()
    })
    .filter_map(|v| {
        let line = v.to_string();
        raw += line.len() as u64 + 1;
        // Salted by the ledger, as the daemon and `cairn append` have it:
        // salts of one's own choosing would compress and flatter the footprint.
        let d = DecisionInput::parse(line.as_bytes()).ok()?;
        Some(Append::Unsalted(d.unsalted()))
    })
    .collect();
    (items, raw)
}

/// A new ledger on RocksDB in `dir`.
pub fn ledger(dir: &std::path::Path) -> Ledger<RocksBackend> {
    let backend = RocksBackend::create(&dir.join("db")).expect("create a RocksDB ledger");
    Ledger::create(backend, "bench.example/ledger").expect("create the ledger")
}

/// Append `items` in batches of `batch`.
pub fn fill(l: &Ledger<RocksBackend>, items: &[Append], batch: usize) {
    for chunk in items.chunks(batch) {
        l.append(chunk.to_vec(), 1).expect("append");
    }
}

/// Bytes of all files under `dir`.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            total += if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            };
        }
    }
    total
}
