//! The naive floor: decisions appended to one JSON-lines file with a running
//! BLAKE3 chain, one `fdatasync` per batch.
//!
//! Line `i` is `{"hash":"<hex>","record":<decision>}` with
//! `hash_i = blake3(hash_{i-1} ‖ decision bytes)` and `hash_{-1}` = 32 zero
//! bytes. Verifying re-reads the file and recomputes the chain; the subject's
//! hour is a scan of the whole file (substring search, then parsing the lines
//! that match).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use memchr::memmem;

use super::machine::load_average;
use super::stats::{Disk, Fetch, Ingest, SystemReport, Verify};
use super::workload::{lines, SubjectHour, Workload};

const PREFIX: &[u8] = b"{\"hash\":\"";
const MIDDLE: &[u8] = b"\",\"record\":";
const SUFFIX: &[u8] = b"}\n";
/// Bytes of a line around its record.
const FRAME_BYTES: usize = PREFIX.len() + 64 + MIDDLE.len() + SUFFIX.len();
const READ_BUFFER_BYTES: usize = 1 << 20;

/// Run the file through the workload in `dir`.
pub fn run(w: &Workload, dir: &Path) -> Result<SystemReport> {
    let path = dir.join("decisions.jsonl");
    let ingest = ingest(w, &path)?;
    let load = load_average();
    let started = Instant::now();
    let (entries, intact) = verify(&path)?;
    let verify = Verify::new(
        started.elapsed(),
        entries,
        intact && entries == w.decisions,
        w.bytes,
        "re-read the file, recompute the BLAKE3 chain line by line (one thread)",
    );
    let subject_hour = Fetch::measure(
        "scan the whole file for the subject, parse the lines that match",
        || subject_hour(&path, &w.query),
    )?;
    let bytes = std::fs::metadata(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    Ok(SystemReport {
        key: "jsonl",
        name: "JSON lines + BLAKE3 chain",
        writers: 1,
        ingest,
        disk: Disk::new(bytes, w.decisions, w.bytes, "the file"),
        verify,
        subject_hour,
        load_average_after_ingest: load,
        extra: serde_json::json!({}),
    })
}

fn ingest(w: &Workload, path: &Path) -> Result<Ingest> {
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    // The file's directory entry must be durable too, once.
    if let Some(parent) = path.parent() {
        File::open(parent).and_then(|d| d.sync_all())?;
    }
    let mut prev = [0u8; 32];
    let mut buf = Vec::with_capacity(w.batch_bytes_mean() as usize * 2);
    let mut latencies = Vec::with_capacity(w.batches.len());
    let started = Instant::now();
    for batch in &w.batches {
        let t = Instant::now();
        buf.clear();
        for record in lines(batch) {
            prev = chain(&prev, record);
            let mut hex = [0u8; 64];
            // 32 bytes always fit 64 hex digits.
            hex::encode_to_slice(prev, &mut hex).unwrap_or_default();
            buf.extend_from_slice(PREFIX);
            buf.extend_from_slice(&hex);
            buf.extend_from_slice(MIDDLE);
            buf.extend_from_slice(record);
            buf.extend_from_slice(SUFFIX);
        }
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("appending to {}", path.display()))?;
        latencies.push(t.elapsed());
    }
    let elapsed: Duration = started.elapsed();
    Ok(Ingest::new(&mut latencies, w.decisions, w.bytes, elapsed))
}

fn chain(prev: &[u8; 32], record: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(prev);
    h.update(record);
    *h.finalize().as_bytes()
}

/// The record of a line (without its newline), if the line is well formed.
fn split_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.len() < FRAME_BYTES - 1 {
        return None;
    }
    let rest = line.strip_prefix(PREFIX)?;
    let (hex, rest) = rest.split_at(64);
    let record = rest.strip_prefix(MIDDLE)?.strip_suffix(b"}")?;
    Some((hex, record))
}

/// Recompute the chain: (lines read, whether every line checked out).
fn verify(path: &Path) -> Result<(u64, bool)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let mut line = Vec::new();
    let mut prev = [0u8; 32];
    let mut n = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok((n, true));
        }
        let Some(body) = line.strip_suffix(b"\n") else {
            return Ok((n, false));
        };
        let Some((hex, record)) = split_line(body) else {
            return Ok((n, false));
        };
        let mut stored = [0u8; 32];
        if hex::decode_to_slice(hex, &mut stored).is_err() {
            return Ok((n, false));
        }
        prev = chain(&prev, record);
        if prev != stored {
            return Ok((n, false));
        }
        n += 1;
    }
}

/// Every decision of the subject in the hour: their count.
fn subject_hour(path: &Path, q: &SubjectHour) -> Result<u64> {
    let needle = format!("\"subject\":\"{}\"", q.subject);
    let finder = memmem::Finder::new(needle.as_bytes());
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let mut line = Vec::new();
    let mut rows = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(rows);
        }
        if finder.find(&line).is_none() {
            continue;
        }
        let Some((_, record)) = split_line(line.strip_suffix(b"\n").unwrap_or(&line)) else {
            bail!("{}: a line is not a chained record", path.display());
        };
        let v: serde_json::Value = serde_json::from_slice(record)
            .with_context(|| format!("{}: a record is not JSON", path.display()))?;
        let at = v["event_time"].as_str().unwrap_or("");
        if v["subject"] == q.subject.as_str() && at >= q.from.as_str() && at < q.to.as_str() {
            rows += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_chain_verifies_and_a_changed_byte_does_not() {
        let w = Workload::generate(3, 300, 100).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        ingest(&w, &path).unwrap();
        assert_eq!(verify(&path).unwrap(), (300, true));
        assert!(subject_hour(&path, &w.query).unwrap() > 0);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'7' { b'8' } else { b'7' };
        std::fs::write(&path, bytes).unwrap();
        let (n, intact) = verify(&path).unwrap();
        assert!(!intact && n < 300);
    }
}
