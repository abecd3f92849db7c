//! The side-by-side benchmark at small scale, so the driver cannot rot: the real
//! `xtask bench-peers --small` against the real `cairnd` and a real PostgreSQL
//! server (installed by `scripts/postgres.sh` when missing). Asserts that every
//! system produced its figures, verified its chain and answered the same read,
//! and that the servers were stopped and the directories removed. No timings
//! are asserted.
//!
//! Also checks the PostgreSQL schema's own promises: the trigger chains rows
//! correctly under concurrent writers, `decisions_verify()` finds a row changed
//! behind the triggers' back, and changes through SQL are refused.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use xtask::peers::postgres::{Server, SCHEMA};
use xtask::peers::{process_running, workspace_root};

const SYSTEMS: [&str; 4] = ["jsonl", "embedded", "cairnd", "postgres"];
const SMALL_COUNT: u64 = 20_000;

fn postgres_script() -> PathBuf {
    workspace_root().join("scripts/postgres.sh")
}

/// PostgreSQL must be there: a test that needs it fails loudly without it.
fn require_postgres() {
    let out = Command::new(postgres_script())
        .arg("install")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "these tests need PostgreSQL, and `scripts/postgres.sh install` could not install it \
         (run it as root or with sudo, or install the Debian package postgresql-15): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The release `cairnd`, next to the xtask binary under test.
fn cairnd() -> PathBuf {
    let xtask = Path::new(env!("CARGO_BIN_EXE_xtask"));
    let path = xtask.parent().unwrap().join("cairnd");
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --release --workspace --bins` \
         (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A temporary directory that PostgreSQL's own user can reach.
fn reachable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn small_run_measures_every_system_verifies_every_chain_and_stops_its_servers() {
    require_postgres();
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["bench-peers", "--small", "--out"])
        .arg(out.path())
        .arg("--cairnd")
        .arg(cairnd())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "bench-peers --small failed:\n{stderr}"
    );

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.path().join("peers.json")).unwrap()).unwrap();
    assert_eq!(report["workload"]["decisions"], SMALL_COUNT);
    let mut rows = Vec::new();
    for key in SYSTEMS {
        let s = report["systems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("no figures for {key}:\n{stderr}"));
        assert_eq!(s["ingest"]["decisions"], SMALL_COUNT, "{key}");
        for figure in [
            &s["ingest"]["decisions_per_s"],
            &s["ingest"]["ack_p50_ms"],
            &s["ingest"]["ack_p99_ms"],
            &s["verify"]["seconds"],
            &s["subject_hour"]["seconds"],
        ] {
            assert!(figure.as_f64().unwrap() > 0.0, "{key}: {s}");
        }
        assert!(s["disk"]["bytes"].as_u64().unwrap() > 0, "{key}");
        assert_eq!(s["verify"]["intact"], true, "{key} did not verify: {s}");
        // `intact` counts the decisions; cairnd's live monitor may add an alert
        // entry of its own when the synthetic versions' label mixes differ.
        assert!(
            s["verify"]["entries"].as_u64().unwrap() >= SMALL_COUNT,
            "{key}: {s}"
        );
        rows.push(s["subject_hour"]["rows"].as_u64().unwrap());
    }
    assert!(rows[0] > 0, "the subject's hour is empty");
    assert!(
        rows.iter().all(|&r| r == rows[0]),
        "the systems disagree on the subject's hour: {rows:?}"
    );
    let pg = &report["systems"][3];
    assert_eq!(pg["extra"]["client_verify"]["intact"], true, "{pg}");

    let cleanup = &report["cleanup"];
    assert_eq!(cleanup["work_dir_removed"], true, "{cleanup}");
    assert!(!Path::new(cleanup["work_dir"].as_str().unwrap()).exists());
    for server in ["cairnd", "postgres"] {
        let pid = cleanup[format!("{server}_pid")].as_u64();
        let pid = pid.unwrap_or_else(|| panic!("no {server} pid recorded: {cleanup}"));
        assert_eq!(cleanup[format!("{server}_stopped")], true, "{cleanup}");
        assert!(
            !process_running(u32::try_from(pid).unwrap()),
            "{server} (pid {pid}) is still running"
        );
    }

    let svg = std::fs::read_to_string(out.path().join("peers.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let table = String::from_utf8_lossy(&run.stdout);
    assert!(table.contains("| system | writers |"), "{table}");
    for s in report["systems"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        assert!(table.contains(name) && svg.contains(name), "{name}");
    }
}

#[test]
fn the_postgres_chain_holds_under_concurrent_writers_and_catches_a_changed_row() {
    require_postgres();
    let dir = reachable_tempdir();
    let mut server = Server::start(&postgres_script(), &dir.path().join("pg")).unwrap();
    let mut client = postgres::Client::connect(&server.conninfo, postgres::NoTls).unwrap();
    client.batch_execute(SCHEMA).unwrap();

    // Four writers, each COPYing 25 batches of 20 rows at the same time.
    std::thread::scope(|s| {
        for writer in 0..4 {
            let conninfo = server.conninfo.clone();
            s.spawn(move || {
                let mut c = postgres::Client::connect(&conninfo, postgres::NoTls).unwrap();
                for batch in 0..25 {
                    let mut w = c.copy_in("COPY decisions (record) FROM STDIN").unwrap();
                    for row in 0..20 {
                        writeln!(
                            w,
                            r#"{{"stream":"s{writer}","subject":"cust-{row}","n":{batch}}}"#
                        )
                        .unwrap();
                    }
                    w.finish().unwrap();
                }
            });
        }
    });
    let verify = |c: &mut postgres::Client| -> Vec<i64> {
        let row = c
            .query_one(
                "SELECT rows, bad_hash, bad_link, gaps, bad_columns FROM decisions_verify()",
                &[],
            )
            .unwrap();
        (0..5).map(|i| row.get(i)).collect()
    };
    assert_eq!(verify(&mut client), [2000, 0, 0, 0, 0]);
    // Every batch's rows are consecutive: the lock is held until commit.
    let interleaved: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT stream, lag(stream) OVER (ORDER BY seq) AS before, seq \
             FROM decisions) t WHERE seq % 20 <> 0 AND stream <> before",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(interleaved, 0);

    let refused = client
        .batch_execute("UPDATE decisions SET record = '{\"stream\":\"x\"}' WHERE seq = 7")
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("append-only"),
        "{refused:?}"
    );
    // Behind the triggers' back, as a superuser could.
    client
        .batch_execute(
            "BEGIN; SET LOCAL session_replication_role = replica; \
             UPDATE decisions SET record = jsonb_set(record, '{n}', '99') WHERE seq = 7; COMMIT;",
        )
        .unwrap();
    assert_eq!(verify(&mut client), [2000, 1, 0, 0, 0]);
    drop(client);
    server.stop().unwrap();
}
