//! The overload test: `cairnd` with a tiny admission budget is flooded by
//! `cairn-load` on 64 connections. Excess load must be turned away with `429`
//! (or `503`) and `Retry-After`, every `200` must have stored what it
//! acknowledged, and the daemon's memory must stay bounded while the flood
//! offers far more bytes than that bound.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{run, Cairnd};

/// What the daemon may add to its resident memory at start, in KiB.
///
/// Each part has a bound of its own that holds however slow the machine is:
/// RocksDB's memtables are held to 64 MiB by a write buffer manager that
/// stalls writers while flushes catch up, its block cache is 16 MiB, the
/// admission budget (256 KiB here) counts what requests hold in memory, not
/// only their bodies, and 64 connections each hold a request head and a read
/// buffer. The last 48 MiB are for those buffers, the runtime's threads and the
/// allocator's slack. Transparent huge pages are off in the daemon, so what it
/// holds is what it touches. The flood offers several times the bound in
/// bodies, so a daemon that buffered what it is offered could not stay under
/// it. Measured: 55–60 MiB of growth on an idle or a busy machine.
const RSS_GROWTH_BOUND_KIB: u64 = (64 + 16 + 48) << 10;

/// Most 2-second rounds of flooding; the flood stops once it has offered twice
/// the bound.
const FLOOD_ROUNDS_MAX: u64 = 10;

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn a_flood_is_turned_away_with_retry_after_and_memory_stays_bounded() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger-dir");
    let daemon = Cairnd::start(
        &data,
        &[
            "--queue-bytes-max",
            "262144",
            "--body-bytes-max",
            "131072",
            "--line-bytes-max",
            "65536",
            "--queue-requests-max",
            "4",
        ],
    );
    let pid = daemon.pid();
    let start_kib = rss_kib(pid).unwrap();
    let bound_kib = start_kib + RSS_GROWTH_BOUND_KIB;

    let flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let flooding = Arc::clone(&flooding);
        std::thread::spawn(move || {
            let mut peak = 0;
            while flooding.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    // Flood in rounds of 2 s until it has offered enough to show the bound:
    // how much a round offers depends on how busy the machine is.
    let mut offered_kib = 0;
    let mut acked = 0;
    let mut turned_away = 0;
    let mut receipts = Vec::new();
    for round in 0..FLOOD_ROUNDS_MAX {
        if offered_kib > 2 * bound_kib {
            break;
        }
        let file = tmp.path().join(format!("receipts-{round}.ndjson"));
        let flood = run(
            "cairn-load",
            &[
                "--url",
                &daemon.url(),
                "--duration",
                "2",
                "--pool",
                "10000",
                "--batch",
                "20",
                "--connections",
                "64",
                "--seed",
                &(round + 1).to_string(),
                "--json",
                "--receipts",
                file.to_str().unwrap(),
            ],
        );
        receipts.push(file);
        assert_eq!(flood.code, 0, "{}{}", flood.stdout, flood.stderr);
        let report = flood.json();
        turned_away += report["rejects"]["429"].as_u64().unwrap_or(0)
            + report["rejects"]["503"].as_u64().unwrap_or(0);
        assert_eq!(
            report["rejects_without_retry_after"], 0,
            "every 429 and 503 says when to retry: {report:#}"
        );
        acked += report["acked_decisions"].as_u64().unwrap();
        let check = &report["check"];
        assert_eq!(
            check["checked"], check["distinct"],
            "every receipt fetched back"
        );
        assert_eq!(
            (check["missing"].as_u64(), check["mismatched"].as_u64()),
            (Some(0), Some(0))
        );
        offered_kib += report["bytes_sent"].as_u64().unwrap() >> 10;
    }
    flooding.store(false, Ordering::Relaxed);
    let peak_kib = sampler.join().unwrap();
    assert!(turned_away > 0, "no 429 or 503 under a flood");
    assert!(acked > 0, "the daemon kept acknowledging some load");

    eprintln!(
        "overload: {offered_kib} KiB offered, {acked} decisions acknowledged, {turned_away} \
         requests turned away; cairnd's RSS {start_kib} KiB at start, {peak_kib} KiB at peak"
    );
    assert!(
        offered_kib > 2 * bound_kib,
        "the flood offered only {offered_kib} KiB in {FLOOD_ROUNDS_MAX} rounds: not enough to show a bound"
    );
    assert!(
        peak_kib < bound_kib,
        "cairnd's resident memory peaked at {peak_kib} KiB (from {start_kib} KiB) while \
         offered {offered_kib} KiB; the bound is {bound_kib} KiB"
    );

    assert!(daemon.stop().success(), "cairnd exits 0 on SIGTERM");
    let verify = run(
        "cairn",
        &["verify", "--json", "--data", data.to_str().unwrap()],
    )
    .ok();
    assert_eq!(verify.json()["status"], "intact");
    for file in &receipts {
        run(
            "cairn-load",
            &[
                "check",
                "--data",
                data.to_str().unwrap(),
                "--receipts",
                file.to_str().unwrap(),
            ],
        )
        .ok();
    }
}
