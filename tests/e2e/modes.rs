//! Who may read what Cairn writes: a ledger directory is its owner's alone
//! (directories 0700, files 0600, RocksDB's included), for `cairn init` and
//! `cairnd --init` alike, and so are exported bundles unless the user asks
//! for another umask.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{request, Cairnd, TestLedger};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every path under `dir`, `dir` included, with its mode.
fn modes(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(dir.to_owned(), mode(dir))];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(modes(&path));
        } else {
            out.push((path.clone(), mode(&path)));
        }
    }
    out
}

/// Directories 0700, files 0600, and RocksDB's files among them.
fn assert_private(dir: &Path) {
    let all = modes(dir);
    assert!(
        all.iter()
            .any(|(p, _)| p.extension().is_some_and(|e| e == "log")),
        "RocksDB's files are checked too: {all:?}"
    );
    for (path, m) in all {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(m, want, "{} is {m:o}", path.display());
    }
}

#[test]
fn a_ledger_and_its_exports_are_readable_by_their_owner_only() {
    let l = TestLedger::new("e2e.example/modes");
    l.append_synth(3, 50);
    l.cairn(&["checkpoint"], &[]).ok();
    assert_private(&l.data);

    let bundle = l.path("evidence.json");
    let out = bundle.to_str().unwrap();
    l.cairn(
        &["bundle", "export"],
        &["--stream", "payments.fraud", "--out", out],
    )
    .ok();
    assert_eq!(mode(&bundle), 0o600);
    // Unless the user says otherwise.
    let shared = l.path("shared.json");
    let out = shared.to_str().unwrap();
    l.cairn(
        &["bundle", "export"],
        &["--stream", "payments.fraud", "--out", out, "--umask", "022"],
    )
    .ok();
    assert_eq!(mode(&shared), 0o644);
    let bad = l.cairn(&["get"], &["--seq", "0", "--umask", "999"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("octal umask"), "{}", bad.stderr);
}

#[test]
fn cairnd_init_makes_a_private_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger");
    let d = Cairnd::start(&data, &[]);
    let line = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2}"#;
    let (status, body) = request(&d.addr, "POST", "/v1/decisions", "application/json", line);
    assert_eq!(status, 200, "{body}");
    assert!(d.stop().success());
    assert_private(&data);
}
