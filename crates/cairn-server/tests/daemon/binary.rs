//! The `cairnd` executable: `--init`, serving, SIGTERM, `hash-token`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_server::store;
use cairn_store::verify::{verify, VerifyOptions};
use serde_json::Value;

use crate::support::{decision, reopen};

const CAIRND: &str = env!("CARGO_BIN_EXE_cairnd");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cairnd_inits_serves_and_exits_zero_on_sigterm_leaving_a_verifiable_ledger() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = tmp.path().join("ledger-dir");
    let mut child = Command::new(CAIRND)
        .args([
            "--init",
            "--origin",
            "bin.example/ledger",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(&data)
        .env("CAIRND_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                let _ = lines_tx.send(v);
            }
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let v = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("cairnd logs that it listens");
        seen.push(v["fields"]["message"].as_str().unwrap_or("").to_owned());
        if v["fields"]["message"] == "cairnd listening" {
            break v["fields"]["addr"].as_str().unwrap().to_owned();
        }
    };
    let warning = lines_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        warning["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("AUTHENTICATION IS OFF"),
        "{warning}"
    );

    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/v1/decisions"))
        .header("content-type", "application/json")
        .body(decision(1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let receipt: Value = r.json().await.unwrap();

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "cairnd exits 0 on SIGTERM: {status}");

    let mode = std::fs::metadata(data.join(store::SIGNING_KEY))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    let verifier = store::verifier(&data).unwrap();
    let ledger = reopen(&data);
    assert_eq!(ledger.origin(), "bin.example/ledger");
    assert_eq!(
        hex::encode(ledger.entry(0).unwrap().leaf_hash()),
        receipt["leaf_hash"].as_str().unwrap()
    );
    let report = verify(
        &ledger,
        VerifyOptions {
            verifier: Some(&verifier),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.size, 1);
    assert!(
        report.checkpoints_checked >= 1,
        "a checkpoint covers the entry"
    );
}

#[test]
fn hash_token_prints_the_sha256_of_the_token_on_stdin() {
    let mut child = Command::new(CAIRND)
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn a_missing_ledger_is_a_clear_error_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(CAIRND)
        .arg("--data")
        .arg(tmp.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no ledger in") && err.contains("--init"),
        "{err}"
    );
}

#[test]
fn a_public_address_without_tokens_refuses_to_start_unless_allowed() {
    let dir = crate::support::new_ledger_dir();
    let out = Command::new(CAIRND)
        .arg("--data")
        .arg(dir.path())
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no tokens are configured") && err.contains("--allow-unauthenticated"),
        "{err}"
    );
    // With the flag it starts (and is stopped at once).
    let mut child = Command::new(CAIRND)
        .arg("--data")
        .arg(dir.path())
        .args(["--listen", "0.0.0.0:0", "--allow-unauthenticated"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let started = lines.find(|l| l.as_ref().is_ok_and(|l| l.contains("listening")));
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    assert_eq!(child.wait().unwrap().code(), Some(0), "{started:?}");
    assert!(started.is_some(), "cairnd did not start");
}
