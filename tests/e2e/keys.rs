//! An auditor's key is taken as they gave it: `--key` is only ever a key
//! string and `--key-file` only ever a file, so a file planted under the name
//! of the real key cannot stand in for it.

use std::path::Path;
use std::process::Command;

use crate::support::{bin, Run, TestLedger};

/// A ledger with a few decisions on stream `payments`, and a checkpoint.
fn ledger(origin: &str) -> TestLedger {
    let l = TestLedger::new(origin);
    let lines = l.path("d.ndjson");
    let one = r#"{"stream":"payments","model":{"name":"fraud","version":"1"},"subject":"cust-7","input":{"amount":12},"output":{"label":"allow"}}"#;
    std::fs::write(&lines, format!("{one}\n{one}\n{one}\n")).unwrap();
    l.cairn(&["append"], &[lines.to_str().unwrap()]).ok();
    l.cairn(&["checkpoint"], &[]).ok();
    l
}

/// `cairn args...` run in the directory `cwd`.
fn cairn_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(bin("cairn"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Write `text` at the relative path `name` under `dir`, directories included
/// (a key string holds `/`).
fn plant(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_forged_bundle_with_a_file_named_like_the_real_key_is_invalid() {
    // A key whose base64 ends in `/` (one in 64) names a directory, not a
    // file: no file can be planted under that name, so take another key.
    let real = (0..64)
        .map(|_| ledger("e2e.example/keys"))
        .find(|l| !l.verifier.ends_with('/'))
        .expect("a key not ending in '/'");
    // The attacker runs a ledger of the same name with a key of their own and
    // ships the bundle with a file tree whose path is the real key string,
    // holding the attacker's key.
    let forger = ledger("e2e.example/keys");
    let shipped = tempfile::tempdir().unwrap();
    let bundle = shipped.path().join("forged.json");
    forger
        .cairn(
            &["bundle", "export"],
            &["--stream", "payments", "--out", bundle.to_str().unwrap()],
        )
        .ok();
    plant(shipped.path(), &real.verifier, &forger.verifier);

    let out = cairn_in(
        shipped.path(),
        &["bundle", "verify", "forged.json", "--key", &real.verifier],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("INVALID"), "{}", out.stdout);
    // `cairn verify` of the forger's ledger against the real key is damage too.
    let out = cairn_in(
        shipped.path(),
        &[
            "verify",
            "--data",
            forger.data.to_str().unwrap(),
            "--key",
            &real.verifier,
        ],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
}

#[test]
fn a_key_file_is_read_only_through_key_file() {
    let l = ledger("e2e.example/keyfile");
    let key_file = l.data.join("verifier.key");
    let key_file = key_file.to_str().unwrap();
    let bundle = l.path("b.json");
    let bundle = bundle.to_str().unwrap();
    l.cairn(
        &["bundle", "export"],
        &["--stream", "payments", "--out", bundle],
    )
    .ok();

    let by_file = cairn_in(
        l.tmp.path(),
        &["bundle", "verify", bundle, "--key-file", key_file],
    );
    assert_eq!(by_file.code, 0, "{}{}", by_file.stdout, by_file.stderr);
    let path_as_key = cairn_in(
        l.tmp.path(),
        &["bundle", "verify", bundle, "--key", key_file],
    );
    assert_eq!(path_as_key.code, 2, "{}", path_as_key.stdout);
    assert!(
        path_as_key.stderr.contains("pass a file with --key-file"),
        "{}",
        path_as_key.stderr
    );
    let both = cairn_in(
        l.tmp.path(),
        &[
            "bundle",
            "verify",
            bundle,
            "--key",
            &l.verifier,
            "--key-file",
            key_file,
        ],
    );
    assert_eq!(both.code, 2, "one key or the other: {}", both.stderr);

    l.cairn(&["verify"], &["--key-file", key_file]).ok();
    let out = l.cairn(&["verify"], &["--key", key_file]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--key-file"), "{}", out.stderr);
}
