//! Checked-in reference ledgers (made by `scripts/make-reference-ledgers.sh`):
//! today's code must still verify them, and still catch the damaged one.

use std::path::PathBuf;
use std::process::Command;

use cairn_core::entry::EntryBody;
use cairn_store::keys::IndexKind;

use crate::support::{bin, copy_dir, kill_at_failpoint, run, verify_json};

/// A copy of reference ledger `name`, migrated to the current layout with
/// `cairn migrate` (in place, on the copy).
fn migrated(name: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (tmp, data, src) = reference(name);
    let out = run("cairn", &["migrate", "--data", data.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("the tree's root is unchanged"),
        "{}",
        out.stdout
    );
    (tmp, data, src)
}

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
fn the_v1_reference_ledger_still_verifies_once_migrated() {
    let (_tmp, data, src) = migrated("reference-v1");
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
    // Migration refuses a ledger whose entries no longer chain, and says so;
    // the original is left as it was.
    let (tmp, data, _) = reference("reference-v1-damaged");
    let to = tmp.path().join("migrated");
    let out = run(
        "cairn",
        &[
            "migrate",
            "--data",
            data.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("entry 17") || out.stderr.contains("entry 18"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("cairn verify"), "{}", out.stderr);
    assert!(data.join("ledger").join("CURRENT").exists());
}

#[test]
fn opening_a_v1_ledger_without_migrating_says_what_to_run() {
    let (_tmp, data, _) = reference("reference-v1");
    let out = verify_json(&data, &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stdout.contains("cairn migrate"), "{}", out.stdout);
    let out = run(
        "cairn",
        &["get", "--data", data.to_str().unwrap(), "--seq", "1"],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cairn migrate"), "{}", out.stderr);
}

#[test]
fn a_migration_into_a_new_directory_keeps_the_original() {
    let (tmp, data, src) = reference("reference-v1");
    let to = tmp.path().join("v2");
    let out = run(
        "cairn",
        &[
            "migrate",
            "--data",
            data.to_str().unwrap(),
            "--to",
            to.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["entries"], 260);
    let root = std::fs::read_to_string(src.join("root-260.hex")).unwrap();
    assert_eq!(v["root"], root.trim());
    let cp = src.join("checkpoint");
    let out = verify_json(&to, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // The original still says it needs migrating: it was not touched.
    assert_eq!(verify_json(&data, &[]).code, 2);
}

/// The v1 reference ledger has one index key per decision for streams, models
/// and times; today's appends write posting lists. A ledger with both answers
/// every lookup with the seqs a scan of its entries finds, old and new.
#[test]
fn indexes_of_the_v1_ledger_and_of_new_appends_read_alike() {
    let (tmp, data, _) = migrated("reference-v1");
    let synth = tmp.path().join("more.ndjson");
    let synth = synth.to_str().unwrap();
    run(
        "cairn-synth",
        &["--seed", "41", "--count", "300", "--out", synth],
    )
    .ok();
    run(
        "cairn",
        &["append", "--data", data.to_str().unwrap(), synth],
    )
    .ok();
    let ledger = cairn_store::datadir::open_read_only(&data).unwrap();
    assert_eq!(ledger.size(), 560);
    let mut streams = std::collections::BTreeMap::<String, Vec<u64>>::new();
    let mut models = std::collections::BTreeMap::<String, Vec<u64>>::new();
    let mut subjects = std::collections::BTreeMap::<String, Vec<u64>>::new();
    let mut times = Vec::new();
    for seq in 0..ledger.size() {
        let entry = ledger.entry(seq).unwrap();
        let time = match entry.body {
            EntryBody::DecisionV1(d) => {
                streams.entry(d.stream).or_default().push(seq);
                models.entry(d.model.name).or_default().push(seq);
                if let Some(s) = d.subject {
                    subjects.entry(s).or_default().push(seq);
                }
                d.event_time_us.unwrap_or(entry.recorded_at_us)
            }
            _ => entry.recorded_at_us,
        };
        times.push((time, seq));
    }
    times.sort_unstable();
    let spans_both = |seqs: &Vec<u64>| seqs[0] < 260 && seqs[seqs.len() - 1] >= 260;
    assert!(streams.values().any(spans_both), "a stream in both parts");
    for (stream, seqs) in &streams {
        let found = ledger.index_seqs(IndexKind::Stream, stream, usize::MAX);
        assert_eq!(&found.unwrap(), seqs, "stream {stream}");
    }
    for (subject, seqs) in &subjects {
        let found = ledger.index_seqs(IndexKind::Subject, subject, usize::MAX);
        assert_eq!(&found.unwrap(), seqs, "subject {subject}");
    }
    for (name, seqs) in &models {
        assert_eq!(&ledger.model_name_seqs(name).unwrap(), seqs, "model {name}");
    }
    let all: Vec<u64> = times.iter().map(|(_, s)| *s).collect();
    assert_eq!(
        ledger.time_range(i64::MIN, i64::MAX, usize::MAX).unwrap(),
        all
    );
    let first_ten: Vec<u64> = all.iter().copied().take(10).collect();
    assert_eq!(
        ledger.time_range(i64::MIN, i64::MAX, 10).unwrap(),
        first_ten
    );
}

/// A migration killed after it copied the entries, before the checkpoints
/// and idempotency keys: no ledger that looks finished is left behind (into
/// a new directory: none; in place: the original, untouched), and running
/// it again completes it.
#[test]
fn a_migration_killed_half_way_leaves_nothing_that_looks_finished() {
    let (tmp, data, src) = reference("reference-v1");
    let cp = src.join("checkpoint");
    let to = tmp.path().join("v2");
    let (d, t) = (data.to_str().unwrap(), to.to_str().unwrap());
    let mut into = Command::new(bin("cairn"));
    into.args(["migrate", "--data", d, "--to", t]);
    kill_at_failpoint(&mut into, "migrate-after-entries");
    let out = verify_json(&to, &[]);
    assert_eq!(out.code, 2, "no ledger at {t}: {}", out.stdout);
    let out = run("cairn", &["migrate", "--data", d, "--to", t]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = verify_json(&to, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);

    let mut in_place = Command::new(bin("cairn"));
    in_place.args(["migrate", "--data", d]);
    kill_at_failpoint(&mut in_place, "migrate-after-entries");
    let out = verify_json(&data, &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout.contains("cairn migrate"),
        "still layout 1: {}",
        out.stdout
    );
    let out = run("cairn", &["migrate", "--data", d]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = verify_json(&data, &["--checkpoint", cp.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(!data.join("ledger.v2-new").exists());
}
