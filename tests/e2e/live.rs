//! Reading a ledger while `cairnd` holds it open for writing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, run};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn post_ndjson(port: u16, body: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /v1/decisions HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn verify_get_and_prove_work_beside_a_running_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger");
    let port = free_port();
    let mut daemon = Command::new(bin("cairnd"))
        .args([
            "--init",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "cairnd did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let line =
        r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"x":1},"output":{"y":2}}"#;
    let body = format!("{line}\n{line}\n{line}\n");
    let answer = post_ndjson(port, &body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let d = data.to_str().unwrap();
    let v = run("cairn", &["verify", "--json", "--data", d]);
    assert_eq!(v.code, 0, "{} {}", v.stdout, v.stderr);
    assert_eq!(v.json()["entries_checked"], 3);
    assert!(v.stderr.contains("open in another process"), "{}", v.stderr);
    let e = run("cairn", &["get", "--json", "--data", d, "--seq", "2"])
        .ok()
        .json();
    assert_eq!(e["output"]["y"], 2);
    run(
        "cairn",
        &[
            "prove",
            "inclusion",
            "--json",
            "--data",
            d,
            "--seq",
            "1",
            "--size",
            "3",
        ],
    )
    .ok();

    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
