//! Erasure that really erases: after `cairn redact`, no file of the ledger
//! directory holds the erased payload's bytes (no table, no WAL, no cache),
//! while payloads that were not erased are still found. Payload bundles are
//! stored uncompressed for the test (`--payload-compression none`), so a
//! payload's bytes would be visible to a byte search if any copy survived.

use std::path::Path;

use crate::support::{kill_at_failpoint, run, verify_json};

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

/// A new ledger in `data` holding `count` decisions whose inputs carry the
/// markers `marker-NNNN-x`, appended in batches of `batch` with payload
/// bundles stored uncompressed.
fn marked_ledger(tmp: &Path, data: &Path, origin: &str, count: usize, batch: usize) {
    let d = data.to_str().unwrap();
    assert_eq!(
        run("cairn", &["init", "--data", d, "--origin", origin]).code,
        0
    );
    let lines: String = (0..count)
        .map(|i| {
            format!(
                "{{\"stream\":\"s\",\"model\":{{\"name\":\"m\",\"version\":\"1\"}},\"input\":{{\"note\":\"marker-{i:04}-x\"}},\"output\":{{\"ok\":true}}}}\n"
            )
        })
        .collect();
    let file = tmp.join("in.ndjson");
    std::fs::write(&file, lines).unwrap();
    let batch = batch.to_string();
    let out = run(
        "cairn",
        &[
            "append",
            "--data",
            d,
            "--quiet",
            "--batch-size",
            &batch,
            "--payload-compression",
            "none",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_redacted_payload_leaves_no_copy_in_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger-dir");
    let d = data.to_str().unwrap();
    // 600 decisions in small batches: the erased ones sit in sealed bundles,
    // in fragments of the open window, and in the WAL and memtables.
    marked_ledger(tmp.path(), &data, "t.example/erase", 600, 7);
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

/// Every file under `dir` with its bytes, by path.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    out
}

#[test]
fn verify_changes_no_file_and_finds_a_lost_index_posting() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger-dir");
    let d = data.to_str().unwrap();
    assert_eq!(
        run("cairn", &["init", "--data", d, "--origin", "t.example/ro"]).code,
        0
    );
    let synth = tmp.path().join("in.ndjson");
    let s = synth.to_str().unwrap();
    run(
        "cairn-synth",
        &["--seed", "3", "--count", "500", "--out", s],
    )
    .ok();
    assert_eq!(run("cairn", &["append", "--data", d, "--quiet", s]).code, 0);
    // Checking the evidence never alters it: not a byte of any file changes
    // (no lock file written, no WAL replayed into tables).
    let before = snapshot(&data);
    let out = verify_json(&data, &["--indexes"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json()["indexes_checked"], true);
    assert!(
        snapshot(&data) == before,
        "verify changed the files it checked"
    );

    // A posting list lost below the API is reported as damage of its own kind.
    {
        let ledger = cairn_store::datadir::open(&data).unwrap();
        use cairn_store::{Backend, Cf, WriteBatch};
        let prefix = [cairn_store::postings::STREAM_TAG];
        let (key, _) = ledger
            .backend()
            .scan(Cf::Index, &prefix, &[prefix[0] + 1])
            .next()
            .unwrap()
            .unwrap();
        let mut batch = WriteBatch::default();
        batch.delete(Cf::Index, key);
        ledger.backend().write(batch).unwrap();
    }
    let out = verify_json(&data, &["--indexes"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(
        out.json()["first_damage"]["kind"],
        "index-mismatch",
        "{}",
        out.stdout
    );
    // Without --indexes the entries are intact; `cairn reindex` repairs the index.
    assert_eq!(verify_json(&data, &[]).code, 0);
    assert_eq!(run("cairn", &["reindex", "--data", d]).code, 0);
    assert_eq!(verify_json(&data, &["--indexes"]).code, 0);
}

/// Kill `cairn redact` of `seq` `after_ms` into its run (or let it finish).
fn redact_killed(data: &Path, seq: u64, after_ms: u64) {
    let mut child = std::process::Command::new(crate::support::bin("cairn"))
        .args(["redact", "--data", data.to_str().unwrap(), "--seq"])
        .arg(seq.to_string())
        .args(["--reason", "crash test", "--only", "input"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(after_ms));
    let _ = child.kill();
    child.wait().unwrap();
}

#[test]
fn a_redaction_killed_at_any_moment_is_whole_or_absent_and_erases_once_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger-dir");
    let d = data.to_str().unwrap();
    marked_ledger(tmp.path(), &data, "t.example/crash", 1500, 50);
    // SIGKILL between the redaction's write and its purge, and inside the
    // purge between the flush and the compaction (failpoints stop the process
    // there): the erased payload is still in the engine's files until the
    // next writer opens the ledger and finishes the purge. (Each in a window
    // of its own: a bundle rewritten by a redaction is compressed again.)
    for (seq, point) in [
        (900u64, "redact-before-purge"),
        (1100, "purge-before-compact"),
    ] {
        let marker = format!("marker-{seq:04}-x");
        let mut crash = std::process::Command::new(crate::support::bin("cairn"));
        crash.args(["redact", "--data", d, "--seq"]);
        crash.arg(seq.to_string());
        crash.args(["--reason", "crash", "--only", "input"]);
        kill_at_failpoint(&mut crash, point);
        assert!(
            contains(&all_bytes(&data), &marker),
            "{point}: the old copy is still on disk right after the crash"
        );
        assert_eq!(verify_json(&data, &[]).code, 0, "{point}");
        let again = run(
            "cairn",
            &[
                "redact",
                "--data",
                d,
                "--seq",
                &seq.to_string(),
                "--reason",
                "again",
            ],
        );
        assert!(again.stderr.contains("already erased"), "{}", again.stderr);
        assert!(
            !contains(&all_bytes(&data), &marker),
            "{point}: the next writer finished the interrupted purge"
        );
    }

    // Twelve redactions in the first three windows, each killed at another
    // moment: while it opens, writes, flushes or compacts. (A rewritten
    // bundle is compressed again, so the kept payloads are looked for in the
    // windows no redaction touches.)
    let targets: Vec<u64> = (0..12).map(|r| 7 + 61 * r).collect();
    let mut moment = 0x5eed_u64;
    for &seq in &targets {
        moment = moment
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        redact_killed(&data, seq, (moment >> 33) % 120);
        let out = verify_json(&data, &[]);
        assert_eq!(
            out.code, 0,
            "seq {seq}: not intact after the kill: {}",
            out.stdout
        );
    }
    // Every redaction either landed whole or not at all: redacting again
    // says it is already erased, or erases it now. Either way the next
    // writer finishes a purge the kill interrupted.
    for &seq in &targets {
        let out = run(
            "cairn",
            &[
                "redact",
                "--data",
                d,
                "--seq",
                &seq.to_string(),
                "--reason",
                "again",
                "--only",
                "input",
            ],
        );
        assert!(
            out.code == 0 || out.stderr.contains("already erased"),
            "seq {seq}: {}{}",
            out.stdout,
            out.stderr
        );
    }
    let after = all_bytes(&data);
    for &seq in &targets {
        assert!(
            !contains(&after, &format!("marker-{seq:04}-x")),
            "a copy of erased payload {seq} survives a killed redaction"
        );
    }
    for seq in [1290u64, 1400, 1499] {
        assert!(
            contains(&after, &format!("marker-{seq:04}-x")),
            "payload {seq} is kept"
        );
    }
    let out = verify_json(&data, &[]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        out.json()["erased"].as_array().unwrap().len(),
        targets.len() + 2,
        "the twelve, seq 900 and seq 1100"
    );
}
