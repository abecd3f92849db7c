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
