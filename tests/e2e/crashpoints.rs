//! SIGKILL at chosen moments: failpoints (`cairn_store::failpoint`) stop the
//! process exactly where a crash is most likely to do harm, and the test kills
//! it there. After each kill the ledger must verify, hold every acknowledged
//! decision, and answer every index query exactly as its entries do.
//!
//! - a window merge (the commit that seals a window from its fragments), just
//!   before and just after its write;
//! - an indexer pass, just before its write;
//! - `cairn reindex`, between dropping the indexes and rebuilding them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cairn_core::entry::EntryBody;
use cairn_store::keys::IndexKind;
use cairn_store::pieces::BUNDLE_ENTRIES;

use crate::crash::assert_receipts_present;
use crate::support::{bin, kill_at_failpoint, verify_json, Cairnd, TestLedger};

/// Every index answer of the ledger in `data`: for each stream, model
/// version, subject, session, and (a sample of) request and trace ids, the
/// seqs the index API returns, and the seqs a scan of the entries finds.
fn index_answers(data: &Path) -> (BTreeMap<String, Vec<u64>>, BTreeMap<String, Vec<u64>>) {
    let ledger = cairn_store::datadir::open_read_only(data).unwrap();
    let mut scanned: BTreeMap<(u8, String), Vec<u64>> = BTreeMap::new();
    for seq in 0..ledger.size() {
        let EntryBody::DecisionV1(d) = ledger.entry(seq).unwrap().body else {
            continue;
        };
        let mut add =
            |kind: u8, v: &str| scanned.entry((kind, v.to_owned())).or_default().push(seq);
        add(0, &d.stream);
        add(1, &format!("{}\0{}", d.model.name, d.model.version));
        d.subject.iter().for_each(|v| add(2, v));
        d.session.iter().for_each(|v| add(3, v));
        // Ids are unique to a decision or nearly: one in 25 is enough.
        if seq % 25 == 0 {
            d.request_id.iter().for_each(|v| add(4, v));
            d.trace_id.iter().for_each(|v| add(5, v));
        }
    }
    let kinds = [
        IndexKind::Stream,
        IndexKind::Model,
        IndexKind::Subject,
        IndexKind::Session,
        IndexKind::Request,
        IndexKind::Trace,
    ];
    let (mut from_index, mut from_scan) = (BTreeMap::new(), BTreeMap::new());
    for ((kind, value), seqs) in scanned {
        let name = format!("{:?} {value:?}", kinds[kind as usize]);
        let got = ledger
            .index_seqs(kinds[kind as usize], &value, usize::MAX)
            .unwrap();
        from_index.insert(name.clone(), got);
        from_scan.insert(name, seqs);
    }
    (from_index, from_scan)
}

/// The ledger verifies, and every index answer equals the scan's.
#[track_caller]
fn assert_intact_and_indexes_exact(data: &Path, when: &str) {
    let out = verify_json(data, &["--indexes"]);
    assert_eq!(
        out.code, 0,
        "{when}: not intact:\n{}{}",
        out.stdout, out.stderr
    );
    let (got, want) = index_answers(data);
    assert!(!want.is_empty(), "{when}: nothing to ask the indexes");
    for (query, seqs) in &want {
        assert_eq!(got.get(query), Some(seqs), "{when}: {query}");
    }
}

fn indexed_through(data: &Path) -> (u64, u64) {
    let ledger = cairn_store::datadir::open_read_only(data).unwrap();
    (ledger.indexed_through().unwrap(), ledger.size())
}

/// Send `count` single decisions on 16 connections (so that windows are filled
/// by many small commits and sealed by merges), writing receipts to `file`.
fn load_singles(url: &str, count: u32, seed: u32, file: &Path) -> std::process::Child {
    Command::new(bin("cairn-load"))
        .args(["--url", url, "--count", &count.to_string(), "--batch", "1"])
        .args(["--connections", "16", "--seed", &seed.to_string()])
        .args([
            "--timeout-ms",
            "10000",
            "--no-check",
            "--json",
            "--receipts",
        ])
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_inside_a_window_merge_loses_no_acknowledged_decision() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger-dir");
    let mut files = Vec::new();
    let mut acked = 0;
    for (round, point) in [
        "merge-before-write",
        "merge-after-write",
        "merge-before-write",
    ]
    .into_iter()
    .enumerate()
    {
        let daemon = Cairnd::start_with_env(&data, &[], &[(cairn_store::failpoint::VAR, point)]);
        let file = tmp.path().join(format!("receipts-{round}.ndjson"));
        let load = load_singles(&daemon.url(), 3000, 77 + round as u32, &file);
        daemon.wait_for_failpoint(point, Duration::from_secs(60));
        let before = indexed_through(&data).1;
        daemon.kill();
        let out = load.wait_with_output().unwrap();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["daemon_gone"], true, "{point}: {report}");
        acked += report["acked_decisions"].as_u64().unwrap();
        files.push(file);

        // The sealing commit was written whole or not at all: the ledger is
        // what it was at the failpoint, and before the merge's write it ends
        // inside the window, in a fragment.
        let after = indexed_through(&data).1;
        assert_eq!(after, before, "{point}");
        if point == "merge-before-write" {
            assert_ne!(after % BUNDLE_ENTRIES, 0, "{point}: ends in a fragment");
        }
        assert_intact_and_indexes_exact(&data, point);
        assert_receipts_present(&data, &files, round as u64);
    }
    assert!(acked > 0, "no decision was acknowledged before the merges");

    // The next merges, with no failpoint, seal the windows the kills left.
    let daemon = Cairnd::start(&data, &[]);
    let file = tmp.path().join("receipts-last.ndjson");
    let out = load_singles(&daemon.url(), 600, 99, &file)
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(daemon.stop().success());
    files.push(file);
    assert_intact_and_indexes_exact(&data, "after the last run");
    assert_receipts_present(&data, &files, 3);
}

#[test]
fn sigkill_in_an_indexer_pass_or_a_reindex_leaves_indexes_that_answer_exactly() {
    let ledger = TestLedger::new("t.example/index-crash");
    ledger.append_synth(5, 3000);
    let data = &ledger.data;
    let d = data.to_str().unwrap();
    let (indexed, size) = indexed_through(data);
    assert_eq!((indexed, size), (3000, 3000), "cairn append indexes");
    let (before, _) = index_answers(data);

    // `cairn reindex` killed between its reset and its rebuild: nothing is
    // indexed, every answer is read from the entries, and is the same.
    let mut reindex = Command::new(bin("cairn"));
    reindex.args(["reindex", "--data", d]);
    kill_at_failpoint(&mut reindex, "reindex-after-reset");
    assert_eq!(indexed_through(data), (0, 3000));
    assert_intact_and_indexes_exact(data, "reindex killed after its reset");
    assert_eq!(index_answers(data).0, before);

    // The daemon's indexer killed in its first pass, just before its write.
    let daemon = Cairnd::start_with_env(
        data,
        &[],
        &[(cairn_store::failpoint::VAR, "index-before-write")],
    );
    daemon.wait_for_failpoint("index-before-write", Duration::from_secs(60));
    daemon.kill();
    assert_eq!(indexed_through(data), (0, 3000), "the pass left nothing");
    assert_intact_and_indexes_exact(data, "indexer killed before its write");

    // Without the failpoint the indexer catches up from where it stopped.
    let daemon = Cairnd::start(data, &[]);
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while indexed_through(data).0 < 3000 {
        assert!(
            std::time::Instant::now() < until,
            "the indexer never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(daemon.stop().success());
    assert_intact_and_indexes_exact(data, "after the indexer caught up");
    assert_eq!(index_answers(data).0, before);
}
