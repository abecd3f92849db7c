//! Reading a ledger while `cairnd` holds it open for writing.

use std::io::{Read, Write};

use crate::support::{run, Cairnd};

fn post_ndjson(addr: &str, body: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
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
    let daemon = Cairnd::start(&data, &[]);
    let line =
        r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"x":1},"output":{"y":2}}"#;
    let answer = post_ndjson(&daemon.addr, &format!("{line}\n{line}\n{line}\n"));
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
    let p = [
        "prove",
        "inclusion",
        "--json",
        "--data",
        d,
        "--seq",
        "1",
        "--size",
        "3",
    ];
    run("cairn", &p).ok();
    daemon.kill();
}
