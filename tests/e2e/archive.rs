//! `cairnd --archive`: the real daemon archives to a bucket while it appends.
//! Each test runs against a local directory (`file://`) in a plain `cargo
//! test`, and against SeaweedFS's S3 gateway (`s3://`) when
//! `scripts/archive-tests.sh` runs them with `--include-ignored` (it starts the
//! server and sets the AWS_* variables).
//!
//! What they promise: SIGKILL in the middle of uploads leaves a bucket that
//! verifies on its own and restores to a ledger holding every acknowledged
//! decision its checkpoint covers; a restarted daemon resumes from the bucket's
//! checkpoint and catches up to every acknowledged decision; a bucket that
//! cannot be reached raises the lag alarm without stopping appends, and is
//! caught up once it can be reached.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{bin, request, run, Cairnd};

/// Wait for `what`, polling, for at most `secs` (generous: a busy 2-core
/// machine is slow, never wrong).
#[track_caller]
pub(crate) fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "gave up after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of an unlabelled metric in `/metrics`.
pub(crate) fn metric(addr: &str, name: &str) -> f64 {
    let (status, text) = request(addr, "GET", "/metrics", "text/plain", "");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("/metrics has no {name}:\n{text}"))
}

/// `/readyz`'s status and body.
fn readyz(addr: &str) -> (u16, Value) {
    let (status, body) = request(addr, "GET", "/readyz", "application/json", "");
    (status, serde_json::from_str(&body).unwrap())
}

/// Every committed entry is in the bucket: its watermark is the ledger's size.
fn caught_up(addr: &str) -> bool {
    let size = metric(addr, "cairn_ledger_size") as u64;
    size > 0 && metric(addr, "cairn_archive_archived_seq") as u64 == size
}

/// `cairn-load` sending `count` decisions at `rate` per second, its receipts
/// to `receipts`; returns once it has started sending.
pub(crate) fn start_load(url: &str, count: u64, rate: u64, seed: u64, receipts: &Path) -> Child {
    let mut child = Command::new(bin("cairn-load"))
        .args(["--url", url, "--count", &count.to_string()])
        .args(["--rate", &rate.to_string(), "--batch", "50"])
        .args(["--connections", "4", "--seed", &seed.to_string()])
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
    std::thread::spawn(move || {
        let mut rest = String::new();
        while stderr.read_line(&mut rest).is_ok_and(|n| n > 0) {
            rest.clear();
        }
    });
    child
}

/// Wait for a load to end; the decisions it saw acknowledged.
pub(crate) fn acked(load: Child) -> u64 {
    let out = load.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("cairn-load wrote no report ({e}): {out:?}"));
    report["acked_decisions"].as_u64().unwrap()
}

/// `cairn verify --source URL --json` with the ledger's verifier key: the
/// report, which must say intact.
#[track_caller]
pub(crate) fn verify_bucket(url: &str, data: &Path) -> Value {
    let key = data.join("verifier.key");
    let out = run(
        "cairn",
        &[
            "verify",
            "--json",
            "--source",
            url,
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    let report = out.json();
    assert_eq!(report["status"], "intact", "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.code, 0);
    report
}

/// `cairn restore --from URL` into `into`; the entries restored.
#[track_caller]
pub(crate) fn restore(url: &str, data: &Path, into: &Path) -> u64 {
    let key = data.join("verifier.key");
    let out = run(
        "cairn",
        &[
            "restore",
            "--json",
            "--from",
            url,
            "--data",
            into.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    )
    .ok();
    let report = out.json();
    assert_eq!(report["status"], "restored", "{}", out.stdout);
    report["entries"].as_u64().unwrap()
}

/// The receipts of `files` whose seq is below `size`, in one new file.
fn receipts_below(files: &[PathBuf], size: u64, to: &Path) -> (PathBuf, usize) {
    let mut kept = String::new();
    let mut n = 0;
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let r: Value = serde_json::from_str(line).unwrap();
            if r["seq"].as_u64().unwrap() < size {
                kept.push_str(line);
                kept.push('\n');
                n += 1;
            }
        }
    }
    std::fs::write(to, kept).unwrap();
    (to.to_owned(), n)
}

/// `cairn-load check`: every receipt is in the ledger at `data` with its leaf hash.
#[track_caller]
pub(crate) fn assert_receipts_in(data: &Path, files: &[PathBuf]) {
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
        "acknowledged decisions missing from the restored ledger:\n{}{}",
        check.stdout, check.stderr
    );
}

pub(crate) fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.join("bucket").display())
}

/// A fresh prefix in the bucket `scripts/archive-tests.sh` made.
pub(crate) fn s3_url(name: &str) -> String {
    let bucket = std::env::var("CAIRN_TEST_S3_BUCKET")
        .expect("CAIRN_TEST_S3_BUCKET is not set: run these tests with scripts/archive-tests.sh");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("s3://{bucket}/{name}-{nonce}")
}

/// Archive under load, SIGKILL the daemon while it uploads, check the bucket
/// as the kill left it, restart, catch up, check again.
fn sigkill_while_archiving(url: &str) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger");
    let args = [
        "--archive",
        url,
        "--archive-interval-ms",
        "100",
        "--checkpoint-interval-ms",
        "100",
    ];
    let daemon = Cairnd::start(&data, &args);
    let first = tmp.path().join("receipts-1.ndjson");
    // At 4000 decisions a second the load runs for about 10 s: the kill
    // lands while it sends and the archiver uploads.
    let load = start_load(&daemon.url(), 40_000, 4000, 11, &first);
    wait_for("the archive to pass 5000 entries", 180, || {
        metric(&daemon.addr, "cairn_archive_archived_seq") >= 5000.0
    });
    let (status, ready) = readyz(&daemon.addr);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["archive"]["url"], url);
    assert_eq!(ready["archive"]["alarm"], false, "{ready}");
    daemon.kill();
    let acked_first = acked(load);
    assert!(acked_first >= 5000, "{acked_first} acknowledged");

    // The bucket as the kill left it verifies from the bucket alone, and a
    // restore from it holds every acknowledged decision its checkpoint covers.
    let report = verify_bucket(url, &data);
    let covered = report["size"].as_u64().unwrap();
    assert!(covered >= 5000, "{report}");
    let restored = tmp.path().join("restored-at-kill");
    assert_eq!(restore(url, &data, &restored), covered);
    let (below, n) = receipts_below(
        std::slice::from_ref(&first),
        covered,
        &tmp.path().join("receipts-covered.ndjson"),
    );
    assert!(n > 0 && n as u64 <= covered, "{n} receipts below {covered}");
    assert_receipts_in(&restored, &[below]);

    // Restarted, the daemon resumes from the bucket's checkpoint, archives
    // what the kill left behind and what comes next, and catches up.
    let daemon = Cairnd::start(&data, &args);
    let second = tmp.path().join("receipts-2.ndjson");
    let load = start_load(&daemon.url(), 5000, 5000, 12, &second);
    let acked_second = acked(load);
    assert_eq!(acked_second, 5000);
    wait_for("the archive to catch up with the ledger", 180, || {
        caught_up(&daemon.addr)
    });
    let size = metric(&daemon.addr, "cairn_ledger_size") as u64;
    assert_eq!(metric(&daemon.addr, "cairn_archive_lag_entries") as u64, 0);
    assert!(daemon.stop().success());

    // (The clean stop archives its last checkpoint too, which may cover an
    // alert entry the monitor appended meanwhile: at least `size`.)
    let report = verify_bucket(url, &data);
    let archived = report["size"].as_u64().unwrap();
    assert!(archived >= size, "{report}");
    let restored = tmp.path().join("restored-caught-up");
    assert_eq!(restore(url, &data, &restored), archived);
    assert_receipts_in(&restored, &[first, second]);
}

#[test]
fn sigkill_while_archiving_to_a_directory_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    sigkill_while_archiving(&file_url(tmp.path()));
}

#[test]
#[ignore = "needs SeaweedFS: run scripts/archive-tests.sh"]
fn sigkill_while_archiving_to_s3_loses_nothing_acknowledged() {
    sigkill_while_archiving(&s3_url("daemon-sigkill"));
}

/// Start a daemon whose bucket cannot be reached, append, see the alarm while
/// appends go on, `open` the way to the bucket, see it catch up.
fn unreachable_then_reachable(url: &str, env: &[(&str, &str)], open: impl FnOnce()) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger");
    let args = [
        "--archive",
        url,
        "--archive-interval-ms",
        "100",
        "--archive-max-lag-s",
        "2",
        "--checkpoint-interval-ms",
        "100",
    ];
    let daemon = Cairnd::start_with_env(&data, &args, env);
    let first = tmp.path().join("receipts-1.ndjson");
    assert_eq!(
        acked(start_load(&daemon.url(), 2000, 4000, 21, &first)),
        2000
    );
    wait_for("the archive lag alarm", 180, || {
        readyz(&daemon.addr).1["archive"]["alarm"] == true
    });
    let (status, ready) = readyz(&daemon.addr);
    assert_eq!(
        status, 200,
        "an archive alarm does not stop appends: {ready}"
    );
    assert_eq!(ready["ready"], true);
    assert!(
        ready["archive"]["lag_entries"].as_u64().unwrap() >= 2000,
        "{ready}"
    );
    assert_eq!(metric(&daemon.addr, "cairn_archive_alarm") as u64, 1);
    // Appends go on while the bucket is away.
    let second = tmp.path().join("receipts-2.ndjson");
    assert_eq!(
        acked(start_load(&daemon.url(), 1000, 4000, 22, &second)),
        1000
    );

    open();
    wait_for(
        "the archive to catch up once the bucket is back",
        300,
        || caught_up(&daemon.addr),
    );
    let (_, ready) = readyz(&daemon.addr);
    assert_eq!(ready["archive"]["alarm"], false, "{ready}");
    assert_eq!(ready["archive"]["last_error"], Value::Null, "{ready}");
    assert_eq!(metric(&daemon.addr, "cairn_archive_alarm") as u64, 0);
    let size = metric(&daemon.addr, "cairn_ledger_size") as u64;
    assert!(daemon.stop().success());
    let archived = verify_bucket(url, &data)["size"].as_u64().unwrap();
    assert!(archived >= size);
    let restored = tmp.path().join("restored");
    assert_eq!(restore(url, &data, &restored), archived);
    assert_receipts_in(&restored, &[first, second]);
}

#[test]
fn a_directory_that_cannot_be_made_raises_the_alarm_then_catches_up() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    // A plain file where the archive's parent directory should be: the
    // archive cannot be created until it is gone.
    let blocker = tmp.path().join("blocked");
    std::fs::write(&blocker, "not a directory").unwrap();
    let url = format!("file://{}", blocker.join("bucket").display());
    unreachable_then_reachable(&url, &[], || std::fs::remove_file(&blocker).unwrap());
}

#[test]
#[ignore = "needs SeaweedFS: run scripts/archive-tests.sh"]
fn an_s3_endpoint_that_refuses_raises_the_alarm_then_catches_up() {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL is not set: run these tests with scripts/archive-tests.sh");
    let real: SocketAddr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let gate = Gate::closed();
    let via = format!("http://127.0.0.1:{}", gate.port);
    unreachable_then_reachable(
        &s3_url("daemon-unreachable"),
        &[("AWS_ENDPOINT_URL", via.as_str())],
        || gate.open(real),
    );
}

/// A loopback port that refuses connections until opened, then forwards every
/// connection to the real server.
struct Gate {
    port: u16,
}

impl Gate {
    fn closed() -> Gate {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l); // nothing listens: connections are refused
        Gate { port }
    }

    fn open(&self, to: SocketAddr) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        std::thread::spawn(move || {
            for client in l.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
    }
}

/// Copy `from` to `to` on a thread until `from` ends.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// The `checkpoint` object, which a reader fetches first, is checked on its
/// own: replaced by a note another key signed for the same name and size, it is
/// damage, even though `checkpoints/<size>` still holds the genuine note.
#[test]
fn a_replaced_checkpoint_object_is_damage() {
    let l = crate::support::TestLedger::new("e2e.example/head");
    l.append_synth(3, 300);
    l.cairn(&["checkpoint"], &[]).ok();
    let url = file_url(l.tmp.path());
    l.cairn(&["archive"], &["--to", &url]).ok();
    verify_bucket(&url, &l.data);

    let other = crate::support::TestLedger::new("e2e.example/head");
    other.append_synth(4, 300);
    let forged = other.path("forged-cp");
    other
        .cairn(&["checkpoint"], &["--out", forged.to_str().unwrap()])
        .ok();
    let head = l.tmp.path().join("bucket").join("checkpoint");
    assert!(
        head.is_file(),
        "the archive's checkpoint object is {head:?}"
    );
    std::fs::copy(&forged, &head).unwrap();

    let key = l.data.join("verifier.key");
    let out = run(
        "cairn",
        &[
            "verify",
            "--json",
            "--source",
            &url,
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let report = out.json();
    assert_eq!(report["status"], "damaged", "{report}");
    assert_eq!(report["first_damage"]["kind"], "bad-signature", "{report}");
    assert!(
        report["first_damage"]["detail"]
            .as_str()
            .unwrap()
            .contains("`checkpoint` object"),
        "{report}"
    );
}
