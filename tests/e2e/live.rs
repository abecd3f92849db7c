//! Reading a ledger while `cairnd` holds it open for writing.

use crate::support::{request, run, Cairnd};

#[test]
fn verify_get_and_prove_work_beside_a_running_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ledger");
    let daemon = Cairnd::start(&data, &[]);
    let line =
        r#"{"stream":"s","model":{"name":"m","version":"1"},"input":{"x":1},"output":{"y":2}}"#;
    let body = format!("{line}\n{line}\n{line}\n");
    let (status, answer) = request(
        &daemon.addr,
        "POST",
        "/v1/decisions",
        "application/x-ndjson",
        &body,
    );
    assert_eq!(status, 200, "{answer}");

    let d = data.to_str().unwrap();
    let v = run("cairn", &["verify", "--json", "--data", d]);
    assert_eq!(v.code, 0, "{} {}", v.stdout, v.stderr);
    assert_eq!(v.json()["entries_checked"], 3);
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
