//! Erasure that really erases: after `cairn redact`, no file of the ledger
//! directory holds the erased payload's bytes (no table, no WAL, no cache),
//! while payloads that were not erased are still found. Payload bundles are
//! stored uncompressed for the test (`--payload-compression none`), so a
//! payload's bytes would be visible to a byte search if any copy survived.

use std::path::Path;

use crate::support::{run, verify_json};

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_redacted_payload_leaves_no_copy_in_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger-dir");
    let d = data.to_str().unwrap();
    assert_eq!(
        run(
            "cairn",
            &["init", "--data", d, "--origin", "t.example/erase"]
        )
        .code,
        0
    );
    // 600 decisions in small batches: the erased ones sit in sealed bundles,
    // in fragments of the open window, and in the WAL and memtables.
    let lines: String = (0..600)
        .map(|i| {
            format!(
                "{{\"stream\":\"s\",\"model\":{{\"name\":\"m\",\"version\":\"1\"}},\"input\":{{\"note\":\"marker-{i:04}-x\"}},\"output\":{{\"ok\":true}}}}\n"
            )
        })
        .collect();
    let file = tmp.path().join("in.ndjson");
    std::fs::write(&file, lines).unwrap();
    let out = run(
        "cairn",
        &[
            "append",
            "--data",
            d,
            "--quiet",
            "--batch-size",
            "7",
            "--payload-compression",
            "none",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let before = all_bytes(&data);
    for i in [3, 150, 299] {
        assert!(
            contains(&before, &format!("marker-{i:04}-x")),
            "marker {i} stored"
        );
    }
    for seq in [3u64, 150, 299] {
        let s = seq.to_string();
        let out = run(
            "cairn",
            &[
                "redact",
                "--data",
                d,
                "--seq",
                &s,
                "--reason",
                "GDPR request",
                "--only",
                "input",
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let after = all_bytes(&data);
    for i in [3, 150, 299] {
        assert!(
            !contains(&after, &format!("marker-{i:04}-x")),
            "a copy of erased payload {i} survives in the data directory"
        );
    }
    // Bundles no redaction touched are still stored as they were written.
    for i in [512, 555, 599] {
        assert!(
            contains(&after, &format!("marker-{i:04}-x")),
            "payload {i} is kept"
        );
    }
    // Neighbours of the erased payloads were rewritten (compressed), not lost.
    for seq in ["2", "4", "151", "298"] {
        let out = run("cairn", &["get", "--data", d, "--seq", seq]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stdout.contains("marker-"), "{}", out.stdout);
    }
    let out = verify_json(&data, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json()["erased"].as_array().unwrap().len(), 3);
}
