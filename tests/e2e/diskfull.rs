//! A full disk, with the real daemon on a small file system made for the test
//! (a size-limited tmpfs): appends stop with a clear answer, nothing
//! acknowledged is lost, reads go on, and appends resume once space is freed —
//! by themselves when the reserve stopped them, after a restart when a write
//! itself failed for want of space.
//!
//! Mounting needs root (CAP_SYS_ADMIN); where the test cannot mount, it says so
//! loudly on stderr and checks nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{request, verify_json, Cairnd};

/// A tmpfs of `mib` MiB mounted on a fresh temp dir, unmounted on drop.
struct SmallDisk {
    mnt: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&mnt)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "!!! NOT TESTED: cannot mount a {mib} MiB tmpfs for the disk-full test (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(SmallDisk { mnt, _dir: dir })
    }

    fn free(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(&self.mnt)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().unwrap());
        parts.next().unwrap() * parts.next().unwrap()
    }

    /// A file of `bytes` that takes that much of the disk.
    fn ballast(&self, name: &str, bytes: u64) -> PathBuf {
        let path = self.mnt.join(name);
        let chunk = vec![0x5a_u8; 1 << 20];
        let mut left = bytes;
        let mut f = std::fs::File::create(&path).unwrap();
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut f, &chunk[..n]).unwrap();
            left -= n as u64;
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

/// A batch of `n` decisions whose payloads do not compress away (each
/// carries 600 hex digits of a simple generator).
fn batch(from: u64, n: u64) -> String {
    let mut x = from.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (from..from + n)
        .map(|i| {
            let noise: String = (0..75)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{:08x}", x as u32)
                })
                .collect();
            format!(
                r#"{{"stream":"payments","model":{{"name":"fraud","version":"8.0.0"}},"input":{{"n":{i},"noise":"{noise}"}},"output":{{"label":"allow"}},"idempotency_key":"k-{i}"}}"#
            ) + "\n"
        })
        .collect()
}

/// POST batches of 200 until one is refused; the acknowledged seqs, and the
/// refusal's status and body.
fn fill(addr: &str, next: &mut u64, acked: &mut Vec<u64>) -> (u16, Value) {
    for _ in 0..5000 {
        let (status, body) = request(
            addr,
            "POST",
            "/v1/decisions",
            "application/x-ndjson",
            &batch(*next, 200),
        );
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if status != 200 {
            return (status, v);
        }
        for r in v["receipts"].as_array().unwrap() {
            acked.push(r["seq"].as_u64().unwrap());
        }
        *next += 200;
    }
    panic!("the disk never filled");
}

/// Every acknowledged seq is in the stopped ledger, which verifies intact.
fn check_ledger(data: &Path, acked: &[u64]) {
    let out = verify_json(data, &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let size = out.json()["size"].as_u64().unwrap();
    let distinct: std::collections::BTreeSet<u64> = acked.iter().copied().collect();
    assert_eq!(distinct.len(), acked.len(), "no seq acknowledged twice");
    assert!(
        acked.iter().all(|s| *s < size),
        "every acknowledged decision is in the ledger (size {size})"
    );
}

#[test]
fn a_filling_disk_stops_appends_cleanly_and_they_resume_once_space_is_freed() {
    let Some(disk) = SmallDisk::mount(192) else {
        return;
    };
    let data = disk.mnt.join("ledger");
    let reserve: u64 = 48 << 20;
    let d = Cairnd::start(&data, &["--disk-reserve-bytes", &reserve.to_string()]);
    // Leave about 40 MiB above the reserve for decisions.
    let ballast = disk.ballast("ballast", disk.free().saturating_sub(reserve + (40 << 20)));
    let (mut next, mut acked) = (0u64, Vec::new());
    let (status, body) = fill(&d.addr, &mut next, &mut acked);
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "disk_full", "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("nearly full") && message.contains("resume"),
        "{message}"
    );
    assert!(!acked.is_empty(), "some decisions fit before the reserve");

    // Reads go on; readiness says why appends stop.
    let last = *acked.last().unwrap();
    let (status, entry) = request(&d.addr, "GET", &format!("/v1/entries/{last}"), "", "");
    assert_eq!(status, 200, "{entry}");
    let (status, ready) = request(&d.addr, "GET", "/readyz", "", "");
    assert_eq!(status, 503, "{ready}");
    assert!(ready.contains("nearly full"), "{ready}");

    // Space freed: the next append goes through, without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let (status, body) = request(
        &d.addr,
        "POST",
        "/v1/decisions",
        "application/x-ndjson",
        &batch(next, 10),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    for r in v["receipts"].as_array().unwrap() {
        acked.push(r["seq"].as_u64().unwrap());
    }
    let (status, ready) = request(&d.addr, "GET", "/readyz", "", "");
    assert_eq!(status, 200, "{ready}");
    assert!(d.stop().success());
    check_ledger(&data, &acked);
}

#[test]
fn a_write_that_fails_for_want_of_space_loses_nothing_acknowledged() {
    let Some(disk) = SmallDisk::mount(128) else {
        return;
    };
    let data = disk.mnt.join("ledger");
    // No reserve: the writes themselves run out of space.
    let d = Cairnd::start(&data, &["--disk-reserve-bytes", "0"]);
    let ballast = disk.ballast("ballast", 48 << 20);
    let (mut next, mut acked) = (0u64, Vec::new());
    let (status, body) = fill(&d.addr, &mut next, &mut acked);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "poisoned", "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("disk holding the ledger is full"),
        "{message}"
    );
    // Reads go on.
    let last = *acked.last().unwrap();
    let (status, entry) = request(&d.addr, "GET", &format!("/v1/entries/{last}"), "", "");
    assert_eq!(status, 200, "{entry}");
    d.kill();

    // The documented step: free space, restart.
    std::fs::remove_file(&ballast).unwrap();
    check_ledger(&data, &acked);
    let d = Cairnd::start(&data, &["--disk-reserve-bytes", "0"]);
    let (status, body) = request(
        &d.addr,
        "POST",
        "/v1/decisions",
        "application/x-ndjson",
        &batch(next, 10),
    );
    assert_eq!(status, 200, "{body}");
    drop(d);
}
