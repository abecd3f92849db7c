//! The PostgreSQL peer: a private server started by `scripts/postgres.sh` in the
//! run's directory (fsync and synchronous_commit on), the table, trigger and
//! verification function of `schemas/peers-postgres.sql`, and the same NDJSON
//! batches sent as one `COPY … FROM STDIN` each (one transaction, acknowledged
//! once its commit is on disk) by concurrent connections.
//!
//! The chain is verified two ways, both timed: the schema's
//! `decisions_verify()`, one SQL query that recomputes every SHA-256 and link
//! in the server (the figure in the table), and a client that streams the rows
//! in seq order (`COPY … TO STDOUT`, binary) and recomputes the chain itself.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use postgres::{Client, NoTls};
use sha2::{Digest, Sha256};

use super::interrupt;
use super::machine::load_average;
use super::stats::{Disk, Fetch, Ingest, SystemReport, Verify};
use super::workload::Workload;

/// The documented schema.
pub const SCHEMA: &str = include_str!("../../../../schemas/peers-postgres.sql");

/// A private PostgreSQL server; stopped when dropped unless stopped before.
pub struct Server {
    script: PathBuf,
    dir: PathBuf,
    /// libpq connection string.
    pub conninfo: String,
    /// The postmaster's process id, if it could be read.
    pub pid: Option<u32>,
    running: bool,
}

impl Server {
    /// `script start DIR`: installs PostgreSQL if needed, creates a cluster in
    /// `dir` and starts it; its last line of output is the connection string.
    pub fn start(script: &Path, dir: &Path) -> Result<Server> {
        interrupt::postgres(Some((script, dir)));
        let out = Command::new(script)
            .arg("start")
            .arg(dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        let mut server = Server {
            script: script.to_owned(),
            dir: dir.to_owned(),
            conninfo: String::new(),
            pid: None,
            // Stop on drop even when start half-failed.
            running: true,
        };
        if !out.status.success() {
            bail!(
                "{} start failed ({}): {}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(conninfo) = stdout.lines().rev().find(|l| !l.trim().is_empty()) else {
            bail!("{} start printed no connection string", script.display());
        };
        server.conninfo = conninfo.trim().to_owned();
        server.pid = std::fs::read_to_string(dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse().ok());
        Ok(server)
    }

    /// `script stop DIR`.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        interrupt::postgres(None);
        let out = Command::new(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.script.display()))?;
        if !out.status.success() {
            bail!(
                "{} stop failed: {}",
                self.script.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    fn connect(&self) -> Result<Client> {
        Client::connect(&self.conninfo, NoTls)
            .with_context(|| format!("connecting to PostgreSQL ({})", self.conninfo))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// What the PostgreSQL run returns besides its report.
pub struct Outcome {
    /// The report.
    pub report: SystemReport,
    /// `server_version`.
    pub version: String,
    /// The postmaster's pid.
    pub pid: Option<u32>,
}

/// Start the server in `dir`, run it through the workload, stop it.
pub fn run(script: &Path, w: &Workload, dir: &Path, connections: usize) -> Result<Outcome> {
    let mut server = Server::start(script, dir)?;
    let mut client = server.connect()?;
    let version = settings(&mut client)?;
    client
        .batch_execute(SCHEMA)
        .context("creating the schema (schemas/peers-postgres.sql)")?;
    let ingest = ingest(&server, w, connections)?;
    let load = load_average();
    client.batch_execute("ANALYZE decisions")?;
    let verify = verify_sql(&mut client, w)?;
    let client_verify = verify_client(&mut client, w)?;
    let subject_hour = Fetch::measure(
        "SELECT … WHERE subject = $1 AND event_time in the hour (index on (subject, event_time))",
        || subject_hour(&mut client, w),
    )?;
    let (disk, extra) = size(&mut client, w)?;
    drop(client);
    let pid = server.pid;
    server.stop()?;
    let mut extra = extra;
    extra["client_verify"] = serde_json::to_value(&client_verify)?;
    Ok(Outcome {
        report: SystemReport {
            key: "postgres",
            name: "PostgreSQL: hash-chain trigger",
            writers: connections,
            ingest,
            disk,
            verify,
            subject_hour,
            load_average_after_ingest: load,
            extra,
        },
        version,
        pid,
    })
}

/// Check that commits are durable; the server's version.
fn settings(client: &mut Client) -> Result<String> {
    for name in ["fsync", "synchronous_commit"] {
        let v: String = client.query_one(&format!("SHOW {name}"), &[])?.get(0);
        if v != "on" {
            bail!("PostgreSQL runs with {name} = {v}; the comparison needs it on");
        }
    }
    Ok(client.query_one("SHOW server_version", &[])?.get(0))
}

/// A batch as COPY text: one column, so only backslashes need escaping (JSON
/// has no raw tabs or newlines).
fn copy_text(batch: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(batch.len() + batch.len() / 64);
    for &b in batch {
        if b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    Bytes::from(out)
}

fn ingest(server: &Server, w: &Workload, connections: usize) -> Result<Ingest> {
    let bodies: Vec<Bytes> = w.batches.iter().map(|b| copy_text(b)).collect();
    let mut clients = (0..connections.max(1))
        .map(|_| server.connect())
        .collect::<Result<Vec<_>>>()?;
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .map(|client| s.spawn(|| copy_batches(client, &next, &bodies, &w.batch_lens)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(w.batches.len());
    for r in results {
        latencies.extend(r?);
    }
    Ok(Ingest::new(&mut latencies, w.decisions, w.bytes, elapsed))
}

/// One connection's share: COPY the next batch until there is none.
fn copy_batches(
    client: &mut Client,
    next: &AtomicUsize,
    bodies: &[Bytes],
    lens: &[u32],
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (Some(body), Some(&n)) = (bodies.get(i), lens.get(i)) else {
            return Ok(latencies);
        };
        let t = Instant::now();
        let mut writer = client.copy_in("COPY decisions (record) FROM STDIN")?;
        writer.write_all(body)?;
        let rows = writer
            .finish()
            .with_context(|| format!("COPY of batch {i}"))?;
        if rows != u64::from(n) {
            bail!("COPY of batch {i} stored {rows} rows of {n}");
        }
        latencies.push(t.elapsed());
    }
}

fn verify_sql(client: &mut Client, w: &Workload) -> Result<Verify> {
    let started = Instant::now();
    let row = client.query_one(
        "SELECT rows, bad_hash, bad_link, gaps, bad_columns FROM decisions_verify()",
        &[],
    )?;
    let took = started.elapsed();
    let rows: i64 = row.get(0);
    let bad: i64 = (1..5).map(|i| row.get::<_, i64>(i)).sum();
    Ok(Verify::new(
        took,
        u64::try_from(rows).unwrap_or(0),
        bad == 0 && u64::try_from(rows).ok() == Some(w.decisions),
        w.bytes,
        "SELECT * FROM decisions_verify(): one SQL query recomputes every SHA-256 and link in the server",
    ))
}

/// Stream (seq, record::text, prev_hash, hash) in seq order as binary COPY and
/// recompute the chain in the client.
fn verify_client(client: &mut Client, w: &Workload) -> Result<Verify> {
    let started = Instant::now();
    let reader = client.copy_out(
        "COPY (SELECT seq, record::text, prev_hash, hash FROM decisions ORDER BY seq) \
         TO STDOUT (FORMAT binary)",
    )?;
    let mut r = BufReader::with_capacity(1 << 20, reader);
    let mut header = [0u8; 19];
    r.read_exact(&mut header)?;
    if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
        bail!("not a binary COPY stream");
    }
    let ext = u32::from_be_bytes([header[15], header[16], header[17], header[18]]);
    std::io::copy(&mut (&mut r).take(u64::from(ext)), &mut std::io::sink())?;
    let (mut prev, mut n, mut intact) = ([0u8; 32], 0u64, true);
    let mut fields: [Vec<u8>; 4] = Default::default();
    loop {
        let mut count = [0u8; 2];
        r.read_exact(&mut count)?;
        match i16::from_be_bytes(count) {
            -1 => break,
            4 => {}
            k => bail!("binary COPY row with {k} fields"),
        }
        for f in &mut fields {
            read_field(&mut r, f)?;
        }
        let [seq, record, prev_hash, hash] = &fields;
        let computed: [u8; 32] = Sha256::new()
            .chain_update(prev)
            .chain_update(seq)
            .chain_update(record)
            .finalize()
            .into();
        let expected_seq = n.to_be_bytes();
        if seq.as_slice() != expected_seq
            || prev_hash.as_slice() != prev
            || hash.as_slice() != computed
        {
            intact = false;
            break;
        }
        prev = computed;
        n += 1;
    }
    Ok(Verify::new(
        started.elapsed(),
        n,
        intact && n == w.decisions,
        w.bytes,
        "client: COPY (SELECT … ORDER BY seq) TO STDOUT (FORMAT binary), SHA-256 chain recomputed in Rust",
    ))
}

/// One field of a binary COPY row into `out` (NULL as empty).
fn read_field(r: &mut impl Read, out: &mut Vec<u8>) -> Result<()> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    out.clear();
    let len = i32::from_be_bytes(len);
    if len > 0 {
        r.take(len as u64).read_to_end(out)?;
        if out.len() != len as usize {
            bail!("binary COPY stream ends inside a field");
        }
    }
    Ok(())
}

fn subject_hour(client: &mut Client, w: &Workload) -> Result<u64> {
    let q = &w.query;
    let rows = client.query(
        "SELECT seq, record::text FROM decisions \
         WHERE subject = $1 AND event_time >= $2::text::timestamptz AND event_time < $3::text::timestamptz \
         ORDER BY event_time, seq",
        &[&q.subject, &q.from, &q.to],
    )?;
    for row in &rows {
        std::hint::black_box(row.get::<_, &str>(1));
    }
    Ok(rows.len() as u64)
}

/// `pg_total_relation_size` of the table (heap, TOAST, indexes) and its parts.
fn size(client: &mut Client, w: &Workload) -> Result<(Disk, serde_json::Value)> {
    let row = client.query_one(
        "SELECT pg_total_relation_size('decisions'), pg_table_size('decisions'), \
                pg_indexes_size('decisions'), \
                (SELECT coalesce(sum(size), 0)::bigint FROM pg_ls_waldir())",
        &[],
    )?;
    let get = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    let disk = Disk::new(
        get(0),
        w.decisions,
        w.bytes,
        "pg_total_relation_size('decisions'): heap, TOAST and indexes (WAL not counted)",
    );
    let extra = serde_json::json!({
        "table_bytes": get(1),
        "index_bytes": get(2),
        "wal_dir_bytes": get(3),
    });
    Ok((disk, extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_doubles_backslashes_only() {
        let got = copy_text(br#"{"a":"x\"y\\z"}"#);
        assert_eq!(&got[..], br#"{"a":"x\\"y\\\\z"}"#);
    }
}
