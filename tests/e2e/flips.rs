//! Flipping raw bytes in the ledger's data files must never pass `cairn verify`.
//!
//! The files checked are the ones that hold the ledger: SST tables, the MANIFEST,
//! CURRENT and write-ahead logs. RocksDB's own bookkeeping (`LOG*` info logs,
//! `OPTIONS-*`, `IDENTITY`, `LOCK`) holds no ledger data and is not read as such.

use std::path::Path;

use crate::support::{verify_json, TestLedger};

fn holds_ledger_data(name: &str) -> bool {
    name.ends_with(".sst")
        || name.ends_with(".log")
        || name.starts_with("MANIFEST-")
        || name == "CURRENT"
}

#[test]
fn flipped_bytes_in_data_files_never_verify() {
    let l = TestLedger::new("e2e.example/flips");
    l.append_synth(31, 400);
    l.cairn(&["checkpoint"], &[]).ok();
    let db = l.data.join("ledger");
    let mut files: Vec<_> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| holds_ledger_data(&e.file_name().to_string_lossy()))
        .filter(|e| e.metadata().unwrap().len() > 0)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with(".sst")),
        "the ledger was flushed to tables: {files:?}"
    );
    let mut tried = 0;
    for (fi, name) in files.iter().enumerate() {
        let len = std::fs::metadata(db.join(name)).unwrap().len() as usize;
        let mut spots = vec![0, len / 3, len / 2, 2 * len / 3, len - 1];
        // A few more spread by a simple deterministic sequence.
        let mut x = 0x9e37_79b9_u64.wrapping_mul(fi as u64 + 1);
        for _ in 0..4 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            spots.push((x >> 33) as usize % len);
        }
        spots.sort_unstable();
        spots.dedup();
        for at in spots {
            let copy = l.copy(&format!("flip-{fi}-{at}"));
            flip(&copy.join("ledger").join(name), at);
            let out = verify_json(&copy, &["--key", &l.verifier]);
            assert_ne!(
                out.code, 0,
                "flipping byte {at} of {name} went unnoticed: {}",
                out.stdout
            );
            std::fs::remove_dir_all(&copy).unwrap();
            tried += 1;
        }
    }
    assert!(tried >= 20, "tried only {tried} flips");
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// Reads a LEB128 varint at `at`; returns it and the position after it.
fn varint(bytes: &[u8], mut at: usize) -> (u64, usize) {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = bytes[at];
        at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
    }
    (v, at)
}

/// Bloom filter blocks are never read by a scan, and RocksDB takes a filter it
/// cannot read for "may match"; a damaged one would let a retried idempotency
/// key be appended twice. `cairn verify` checks every block of every table.
#[test]
fn a_flipped_byte_in_a_bloom_filter_block_does_not_verify() {
    let l = TestLedger::new("e2e.example/filters");
    l.append_synth(31, 400);
    let db = l.data.join("ledger");
    // The index tables carry a bloom filter; its block handle (offset, size)
    // follows the filter's name in the table's metaindex block.
    const NAME: &[u8] = b"fullfilter.rocksdb.BuiltinBloomFilter";
    let mut found = None;
    for e in std::fs::read_dir(&db).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".sst") {
            continue;
        }
        let bytes = std::fs::read(db.join(&name)).unwrap();
        if let Some(i) = bytes.windows(NAME.len()).position(|w| w == NAME) {
            let (offset, next) = varint(&bytes, i + NAME.len());
            let (size, _) = varint(&bytes, next);
            found = Some((name, offset as usize, size as usize));
        }
    }
    let (name, offset, size) = found.expect("an index table with a bloom filter");
    assert!(size > 16, "filter block of {size} bytes");
    assert_eq!(verify_json(&l.data, &[]).code, 0, "intact before the flip");
    for at in [offset, offset + size / 2, offset + size - 1] {
        let copy = l.copy(&format!("filter-{at}"));
        flip(&copy.join("ledger").join(&name), at);
        let out = verify_json(&copy, &[]);
        assert_eq!(out.code, 1, "flipping byte {at} of {name}: {}", out.stdout);
        let damage = out.json()["first_damage"]["detail"].to_string();
        assert!(damage.contains("checksum"), "{damage}");
        std::fs::remove_dir_all(&copy).unwrap();
    }
}
