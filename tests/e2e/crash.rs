//! The crash test: `cairnd` under load from `cairn-load` is killed with
//! SIGKILL at a random moment, round after round on one ledger directory.
//! After every kill `cairn verify` must find the ledger intact, and every
//! receipt acknowledged so far must be in it with the same leaf hash.
//!
//! `cairn-load` writes a receipt only once its HTTP answer arrived, so the
//! receipts files hold exactly what the daemon acknowledged as durable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{bin, run, Cairnd};

/// Rounds of start, load, kill, verify.
const ROUNDS: u64 = 20;

/// A seeded generator (splitmix64): the kill moments repeat from run to run.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, from: u64, to: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        from + (z ^ (z >> 31)) % (to - from)
    }
}

/// Start `cairn-load` and return once it has generated its workload and
/// started sending.
fn start_load(url: &str, round: u64, receipts: &Path) -> Child {
    // Mix the request shapes: NDJSON batches and single decisions.
    let (batch, connections) = [("100", "4"), ("1", "16"), ("20", "8")][(round % 3) as usize];
    let mut child = Command::new(bin("cairn-load"))
        .args(["--url", url, "--count", "20000", "--batch", batch])
        .args([
            "--connections",
            connections,
            "--seed",
            &(1000 + round).to_string(),
        ])
        .args([
            "--timeout-ms",
            "10000",
            "--no-check",
            "--json",
            "--receipts",
        ])
        .arg(receipts)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("; sending"),
        "cairn-load did not start: {line:?}"
    );
    // Drain the rest so the pipe never fills.
    std::thread::spawn(move || {
        let mut rest = String::new();
        while stderr.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    child
}

/// Every receipt in `files` is in the ledger in `data` with its leaf hash.
pub(crate) fn assert_receipts_present(data: &Path, files: &[PathBuf], round: u64) {
    let mut args = vec![
        "check",
        "--json",
        "--data",
        data.to_str().unwrap(),
        "--receipts",
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let check = run("cairn-load", &args);
    assert_eq!(
        check.code, 0,
        "round {round}: acknowledged receipts missing or different:\n{}{}",
        check.stdout, check.stderr
    );
}

#[test]
fn sigkill_under_load_never_loses_an_acknowledged_decision() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger-dir");
    let mut moments = Moments(0x00c0_ffee);
    let mut files = Vec::new();
    let (mut acked, mut killed_mid_run) = (0u64, 0u64);
    for round in 0..ROUNDS {
        let daemon = Cairnd::start(&data, &[]);
        let file = tmp.path().join(format!("receipts-{round}.ndjson"));
        let load = start_load(&daemon.url(), round, &file);
        std::thread::sleep(Duration::from_millis(moments.next_ms(50, 400)));
        daemon.kill();

        let out = load.wait_with_output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("round {round}: no report ({e}): {out:?}"));
        acked += report["acked_decisions"].as_u64().unwrap();
        let gone = report["daemon_gone"] == true;
        killed_mid_run += u64::from(gone);
        // A run the daemon walked out of is no success, whatever was acknowledged.
        let code = out.status.code();
        assert_eq!(
            code,
            Some(if gone { 2 } else { 0 }),
            "round {round}: {out:?}"
        );
        files.push(file);

        let verify = run(
            "cairn",
            &["verify", "--json", "--data", data.to_str().unwrap()],
        );
        assert_eq!(
            verify.code, 0,
            "round {round}: the ledger is not intact after SIGKILL:\n{}{}",
            verify.stdout, verify.stderr
        );
        assert_eq!(verify.json()["status"], "intact");
        assert_receipts_present(&data, &files, round);
        // The indexer was killed too, perhaps mid-pass: what its watermark
        // covers must answer exactly as the entries do.
        let ledger = cairn_store::datadir::open_read_only(&data).unwrap();
        let problems = ledger.check_indexes().unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
    }
    eprintln!(
        "crash: {ROUNDS} rounds, {killed_mid_run} SIGKILLs during a run, {acked} decisions \
         acknowledged and all found"
    );
    assert!(
        killed_mid_run >= ROUNDS / 2,
        "only {killed_mid_run} of {ROUNDS} kills hit a daemon under load"
    );
    assert!(acked > 0, "no decision was ever acknowledged");

    // The ledger still opens, takes appends and shuts down cleanly.
    let daemon = Cairnd::start(&data, &[]);
    let file = tmp.path().join("receipts-last.ndjson");
    let last = run(
        "cairn-load",
        &[
            "--url",
            &daemon.url(),
            "--count",
            "100",
            "--batch",
            "10",
            "--json",
            "--receipts",
            file.to_str().unwrap(),
        ],
    )
    .ok();
    assert_eq!(last.json()["acked_decisions"], 100);
    assert!(daemon.stop().success(), "cairnd exits 0 on SIGTERM");
    files.push(file);
    let verify = run(
        "cairn",
        &["verify", "--json", "--data", data.to_str().unwrap()],
    )
    .ok();
    assert!(verify.json()["size"].as_u64().unwrap() >= acked + 100);
    assert_receipts_present(&data, &files, ROUNDS);
}

#[test]
fn the_receipt_check_finds_a_missing_or_altered_receipt() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger-dir");
    let daemon = Cairnd::start(&data, &[]);
    let file = tmp.path().join("receipts.ndjson");
    let load = run(
        "cairn-load",
        &["--url", &daemon.url(), "--count", "50", "--batch", "10"],
    )
    .ok();
    assert!(
        load.stdout.contains("every one is in the ledger"),
        "{}",
        load.stdout
    );
    assert!(daemon.stop().success());

    let leaf = leaf_hash_of(&data, 3);
    let receipt = |seq: u64, leaf: &str| {
        serde_json::json!({"seq": seq, "leaf_hash": leaf, "duplicate": false}).to_string() + "\n"
    };
    std::fs::write(&file, receipt(3, &leaf)).unwrap();
    let args = [
        "check",
        "--data",
        data.to_str().unwrap(),
        "--receipts",
        file.to_str().unwrap(),
    ];
    run("cairn-load", &args).ok();

    let flipped = format!(
        "{}{}",
        if leaf.starts_with('0') { '1' } else { '0' },
        &leaf[1..]
    );
    let zeros = "0".repeat(64);
    let lines = [
        receipt(3, &leaf),
        receipt(4, &flipped),
        receipt(999, &zeros),
    ]
    .concat();
    std::fs::write(&file, lines).unwrap();
    let check = run("cairn-load", &args);
    assert_eq!(check.code, 1, "{}{}", check.stdout, check.stderr);
    assert!(
        check.stdout.contains("1 missing, 1 different"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("seq 999: missing"),
        "{}",
        check.stdout
    );
}

/// The leaf hash `cairn get` reports for `seq`.
fn leaf_hash_of(data: &Path, seq: u64) -> String {
    let got = run(
        "cairn",
        &[
            "get",
            "--json",
            "--seq",
            &seq.to_string(),
            "--data",
            data.to_str().unwrap(),
        ],
    )
    .ok();
    let v = got.json();
    v["leaf_hash"]
        .as_str()
        .or_else(|| v["receipt"]["leaf_hash"].as_str())
        .unwrap_or_else(|| panic!("no leaf hash in {v}"))
        .to_owned()
}
