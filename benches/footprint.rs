//! Bytes on disk per entry against the raw NDJSON of the same workload, for
//! zstd levels of the bundles, after the indexer has caught up and the ledger
//! has settled (flushed and compacted; WAL and every other file counted).
//! Prints a small table.
#![allow(missing_docs)]

use cairn_benches::{dir_bytes, fill, ledger, prepared};
use cairn_store::{Backend, Cf};

fn main() {
    let n: u64 = std::env::var("CAIRN_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (items, raw) = prepared(7, n);
    let n_f = n as f64;
    println!(
        "footprint of {n} synthetic decisions, raw NDJSON {raw} bytes ({:.0} B/decision)",
        raw as f64 / n as f64
    );
    for (label, level) in [("bundles, zstd level 1", 1), ("bundles, zstd level 3", 3)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut l = ledger(dir.path());
        l.set_compression(Some(level), Some(level));
        fill(&l, &items, 1024);
        l.index_all().expect("index");
        l.backend().flush().expect("flush");
        l.backend().compact().expect("compact");
        let bytes = dir_bytes(dir.path());
        for cf in Cf::ALL {
            let (mut n, mut kv) = (0u64, 0u64);
            // The index family by key tag (its first byte).
            let mut tags = std::collections::BTreeMap::<u8, (u64, u64)>::new();
            for (k, v) in l.backend().scan(cf, &[], &[0xff; 32]).flatten() {
                n += 1;
                kv += (k.len() + v.len()) as u64;
                let t = tags.entry(k.first().copied().unwrap_or(0)).or_default();
                t.0 += 1;
                t.1 += (k.len() + v.len()) as u64;
            }
            if cf == Cf::Index {
                for (tag, (keys, bytes)) in &tags {
                    println!(
                        "      tag {:<3} {keys:>9} keys {:>7.1} B/decision",
                        char::from(*tag),
                        *bytes as f64 / n_f
                    );
                }
            }
            println!(
                "    {:<12} {n:>9} keys {:>7.1} B/decision (keys + values, before RocksDB)",
                cf.name(),
                kv as f64 / n_f
            );
        }
        println!(
            "{label:<28} {bytes:>12} bytes  {:>7.1} B/decision  {:>5.1}% of raw",
            bytes as f64 / n as f64,
            100.0 * bytes as f64 / raw as f64
        );
    }
}
