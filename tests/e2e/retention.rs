//! `cairnd --archive URL --local-retention LIMIT`: the real daemon drops the
//! local copy of archived windows, and every read (the daemon's entries and
//! proofs, `cairn get`, `incident`, `bundle export`, `verify --data`) fetches
//! them from the bucket. Each test runs against a local directory (`file://`)
//! in a plain `cargo test`, and against SeaweedFS's S3 gateway (`s3://`) when
//! `scripts/archive-tests.sh` runs them with `--include-ignored`.
//!
//! What they promise: only archived windows are dropped, and the store says
//! so durably (a restart reads them from the bucket too); dropped windows read
//! exactly as a full copy of the ledger (a restore of the bucket) reads them;
//! a bucket that cannot be read is an error naming it and the seqs (`503
//! archive_unavailable` from the daemon, exit 2 from `cairn`), never a wrong
//! answer; an erasure in a dropped window reaches the bucket; a SIGKILL while
//! windows are dropped loses nothing.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::archive::{
    acked, assert_receipts_in, file_url, metric, restore, s3_url, start_load, verify_bucket,
    wait_for,
};
use crate::support::{bin, request, run, Cairnd, Run};

/// The window holding the last of 2000 entries starts here: every window
/// below it is archived and may go.
const TAIL_WINDOW: u64 = 1792;

fn daemon_args(url: &str) -> Vec<&str> {
    vec![
        "--archive",
        url,
        "--archive-interval-ms",
        "100",
        "--checkpoint-interval-ms",
        "100",
        // Keep nothing of what is archived: every archived window goes.
        "--local-retention",
        "0",
        "--archive-cache-bytes",
        "1048576",
    ]
}

fn cairn(data: &Path, args: &[&str]) -> Run {
    let mut all = vec!["--data", data.to_str().unwrap()];
    all.extend(args);
    let mut cmd = Command::new(bin("cairn"));
    cmd.args(&all);
    Run::from(cmd.output().unwrap())
}

/// `cairn get --json` of `seq` in `data`.
#[track_caller]
fn get(data: &Path, seq: u64) -> Value {
    let s = seq.to_string();
    cairn(data, &["get", "--json", "--seq", &s]).ok().json()
}

/// The daemon's `GET /v1/entries/{seq}`.
#[track_caller]
fn served(addr: &str, seq: u64) -> Value {
    let (status, body) = request(addr, "GET", &format!("/v1/entries/{seq}"), "", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Everything a reader reads of dropped seqs, compared with a full copy.
fn reads_match(addr: &str, data: &Path, full: &Path) {
    for seq in [0, 5, 300, 1000, TAIL_WINDOW - 1, TAIL_WINDOW + 3] {
        let want = get(full, seq);
        assert_eq!(get(data, seq), want, "cairn get of seq {seq}");
        let got = served(addr, seq);
        for field in ["seq", "input", "output", "subject", "receipt"] {
            assert_eq!(got[field], want[field], "{field} of seq {seq}");
        }
        let (status, body) = request(
            addr,
            "GET",
            &format!("/v1/proofs/inclusion?seq={seq}"),
            "",
            "",
        );
        assert_eq!(status, 200, "{body}");
        let proof: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(proof["leaf_hash"], want["receipt"]["leaf_hash"], "{proof}");
    }
    // An incident over a subject of a dropped window: the same decisions.
    let subject = get(full, 5)["subject"].as_str().unwrap().to_owned();
    let incident = |d: &Path| {
        let report = cairn(d, &["incident", "--json", "--subject", &subject])
            .ok()
            .json();
        let seqs: Vec<u64> = report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        seqs
    };
    let seqs = incident(data);
    assert!(seqs.contains(&5), "{seqs:?}");
    assert_eq!(seqs, incident(full));
    // Its evidence bundle verifies offline.
    let out = data
        .parent()
        .unwrap()
        .join(format!("incident-{}.bundle", seqs.len()));
    cairn(
        data,
        &[
            "bundle",
            "export",
            "--subject",
            &subject,
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    let key = data.join("verifier.key");
    run(
        "cairn",
        &[
            "bundle",
            "verify",
            out.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    )
    .ok();
}

/// `cairn verify --data DIR --json`: intact, the whole ledger walked, the
/// dropped part read from the archive.
#[track_caller]
fn verify_dir(data: &Path, url: &str) -> Value {
    let report = cairn(data, &["verify", "--json"]).ok().json();
    assert_eq!(report["status"], "intact", "{report}");
    assert_eq!(report["entries_checked"], report["size"], "{report}");
    assert_eq!(report["read_from_archive"]["url"], url, "{report}");
    assert!(report["read_from_archive"]["below_seq"].as_u64().unwrap() >= TAIL_WINDOW);
    report
}

fn dropped_windows_read_from_the_bucket(url: &str, unreachable: &dyn Fn(&Path) -> Run) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger");
    let args = daemon_args(url);
    let daemon = Cairnd::start(&data, &args);
    let receipts = tmp.path().join("receipts.ndjson");
    assert_eq!(
        acked(start_load(&daemon.url(), 2000, 4000, 31, &receipts)),
        2000
    );
    wait_for("the archived windows to be dropped", 180, || {
        metric(&daemon.addr, "cairn_archive_local_from_seq") as u64 >= TAIL_WINDOW
            && metric(&daemon.addr, "cairn_archive_dropped_windows_total") as u64 >= 7
    });
    let addr = daemon.addr.clone();
    wait_for("the archive to catch up with the ledger", 180, || {
        metric(&addr, "cairn_archive_archived_seq") == metric(&addr, "cairn_ledger_size")
    });
    assert_eq!(
        metric(&addr, "cairn_archive_archived_only_windows") as u64,
        7
    );
    assert!(metric(&addr, "cairn_archive_reclaimed_bytes_total") > 0.0);
    let full = tmp.path().join("full");
    assert!(restore(url, &data, &full) >= 2000);
    reads_match(&addr, &data, &full);
    assert!(metric(&addr, "cairn_archive_fetches_total") >= 1.0);
    assert!(metric(&addr, "cairn_archive_cache_bytes") <= 1_048_576.0);
    verify_dir(&data, url);
    assert!(daemon.stop().success());

    // Restarted, the daemon knows what is only in the bucket.
    let daemon = Cairnd::start(&data, &args);
    assert!(metric(&daemon.addr, "cairn_archive_local_from_seq") as u64 >= TAIL_WINDOW);
    reads_match(&daemon.addr, &data, &full);
    assert!(daemon.stop().success());
    assert_receipts_in(&data, &[receipts]);

    // An erasure in a dropped window reads as erased at once; once the daemon
    // has archived the redaction, the bucket says erased too (a payload it
    // still held would be damage).
    cairn(
        &data,
        &[
            "redact",
            "--seq",
            "5",
            "--reason",
            "GDPR request 9",
            "--actor",
            "dpo",
        ],
    )
    .ok();
    let by = get(&data, 5)["input"]["erased_by"][0].as_u64().unwrap();
    assert!(
        by >= 2000,
        "erased by the redaction appended last, not {by}"
    );
    let daemon = Cairnd::start(&data, &args);
    wait_for("the redaction to be archived", 180, || {
        metric(&daemon.addr, "cairn_archive_archived_seq") as u64 > by
    });
    assert!(daemon.stop().success());
    let report = verify_bucket(url, &data);
    let erased = report["erased"].as_array().unwrap();
    assert!(
        !erased.is_empty() && erased.iter().all(|e| e["seq"] == 5),
        "{report}"
    );
    verify_dir(&data, url);

    // The local store no longer holds them: with the bucket out of reach, a
    // read of a dropped seq fails and says where the data is.
    let out = unreachable(&data);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("seqs 0..255") && out.stderr.contains(url),
        "{}",
        out.stderr
    );
    // Local seqs still read.
    assert_eq!(get(&data, TAIL_WINDOW + 3)["seq"], TAIL_WINDOW + 3);
}

#[test]
fn dropped_windows_are_read_from_a_directory() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let url = file_url(tmp.path());
    let bucket = tmp.path().join("bucket");
    dropped_windows_read_from_the_bucket(&url, &|data| {
        let away = bucket.with_extension("away");
        std::fs::rename(&bucket, &away).unwrap();
        let out = cairn(data, &["get", "--seq", "5"]);
        assert!(!bucket.exists(), "a reader creates no directory");
        std::fs::rename(&away, &bucket).unwrap();
        out
    });
}

/// The daemon says which archive it could not read and which seqs are only
/// there: `503 archive_unavailable`, never an empty or a wrong answer; local
/// seqs are served meanwhile, and the dropped ones again once the object is
/// back.
#[test]
fn a_missing_archive_object_is_a_503_naming_the_archive_and_the_seqs() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let url = file_url(tmp.path());
    let data = tmp.path().join("ledger");
    let daemon = Cairnd::start(&data, &daemon_args(&url));
    let receipts = tmp.path().join("receipts.ndjson");
    assert_eq!(
        acked(start_load(&daemon.url(), 1000, 4000, 51, &receipts)),
        1000
    );
    wait_for("windows 0 to 2 to be dropped", 180, || {
        metric(&daemon.addr, "cairn_archive_local_from_seq") as u64 >= 768
    });
    let object = tmp.path().join("bucket/tile/entries/001");
    let away = tmp.path().join("entries-001");
    std::fs::rename(&object, &away).unwrap();
    let (status, body) = request(&daemon.addr, "GET", "/v1/entries/300", "", "");
    assert_eq!(status, 503, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["code"], "archive_unavailable", "{err}");
    let message = err["error"].as_str().unwrap();
    assert!(
        message.contains("seqs 256..511") && message.contains(&url),
        "{message}"
    );
    assert!(metric(&daemon.addr, "cairn_archive_fetch_errors_total") >= 1.0);
    assert_eq!(
        served(&daemon.addr, 900)["seq"],
        900,
        "local seqs are served"
    );
    std::fs::rename(&away, &object).unwrap();
    assert_eq!(served(&daemon.addr, 300)["seq"], 300);
    assert!(daemon.stop().success());
}

#[test]
#[ignore = "needs SeaweedFS: run scripts/archive-tests.sh"]
fn dropped_windows_are_read_from_s3() {
    let url = s3_url("daemon-retention");
    dropped_windows_read_from_the_bucket(&url, &|data| {
        // Nothing listens on a port just freed.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut cmd = Command::new(bin("cairn"));
        cmd.args(["--data", data.to_str().unwrap(), "get", "--seq", "5"])
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
        Run::from(cmd.output().unwrap())
    });
}

/// SIGKILL while windows are dropped under load: after a restart every
/// acknowledged decision reads back and the ledger verifies whole.
fn sigkill_while_dropping(url: &str) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger");
    let args = daemon_args(url);
    let daemon = Cairnd::start(&data, &args);
    let first = tmp.path().join("receipts-1.ndjson");
    let load = start_load(&daemon.url(), 30_000, 4000, 41, &first);
    wait_for("windows to be dropped under load", 180, || {
        metric(&daemon.addr, "cairn_archive_local_from_seq") as u64 >= 2560
    });
    daemon.kill();
    let acked_first = acked(load);
    assert!(acked_first >= 2560, "{acked_first} acknowledged");

    let daemon = Cairnd::start(&data, &args);
    let second = tmp.path().join("receipts-2.ndjson");
    assert_eq!(
        acked(start_load(&daemon.url(), 1000, 4000, 42, &second)),
        1000
    );
    wait_for("the archive to catch up and drop again", 180, || {
        let size = metric(&daemon.addr, "cairn_ledger_size") as u64;
        metric(&daemon.addr, "cairn_archive_archived_seq") as u64 == size
            && metric(&daemon.addr, "cairn_archive_local_from_seq") as u64 == (size - 1) / 256 * 256
    });
    assert!(daemon.stop().success());
    assert_receipts_in(&data, &[first, second]);
    verify_dir(&data, url);
}

#[test]
fn sigkill_while_dropping_to_a_directory_loses_nothing() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    sigkill_while_dropping(&file_url(tmp.path()));
}

#[test]
#[ignore = "needs SeaweedFS: run scripts/archive-tests.sh"]
fn sigkill_while_dropping_to_s3_loses_nothing() {
    sigkill_while_dropping(&s3_url("daemon-retention-kill"));
}
