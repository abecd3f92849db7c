//! Checked-in reference ledgers (made by `scripts/make-reference-ledgers.sh`):
//! today's code must still verify them, and still catch the damaged one.

use std::path::PathBuf;

use crate::support::{copy_dir, verify_json};

fn reference(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name);
    assert!(src.exists(), "{} is missing", src.display());
    // RocksDB writes to a directory it opens: work on a copy.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join(name);
    copy_dir(&src, &data);
    (tmp, data, src)
}

#[test]
fn the_v1_reference_ledger_still_verifies() {
    let (_tmp, data, src) = reference("reference-v1");
    let cp = src.join("checkpoint");
    let out = verify_json(&data, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let v = out.json();
    assert_eq!(v["size"], 260);
    assert_eq!(v["trusted_size"], 250);
    assert_eq!(
        v["erased"].as_array().unwrap().len(),
        2,
        "seq 3 was erased by redaction"
    );
    let root = std::fs::read_to_string(src.join("root-260.hex")).unwrap();
    assert_eq!(
        v["root"],
        root.trim(),
        "the recomputed root is the recorded one"
    );
}

#[test]
fn the_damaged_v1_reference_ledger_is_still_caught() {
    let (_tmp, data, _) = reference("reference-v1-damaged");
    let out = verify_json(&data, &[]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    let d = &out.json()["first_damage"];
    assert_eq!(
        (d["seq"].as_u64(), d["kind"].as_str()),
        (Some(17), Some("altered"))
    );
}
