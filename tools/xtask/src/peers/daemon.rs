//! Cairn as a service: the release `cairnd` started on a fresh ledger directory
//! on loopback, fed the NDJSON batches over HTTP by concurrent keep-alive
//! connections; a batch counts once its receipts (sent only after the group
//! commit's fsync) have arrived. Afterwards the daemon is stopped (SIGTERM,
//! graceful) and its ledger measured like the embedded one.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use cairn_store::datadir;

use super::http::Conn;
use super::interrupt;
use super::ledger::{catch_up, fetch, settled_size, verify_whole};
use super::machine::load_average;
use super::stats::{Ingest, SystemReport};
use super::workload::Workload;

/// Longest wait for the daemon to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a graceful stop before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines kept to explain a daemon that would not start.
const LOG_TAIL_LINES: usize = 40;

/// A running `cairnd`; killed when dropped unless stopped.
pub struct Daemon {
    child: Option<Child>,
    /// Where it listens, `host:port`.
    pub addr: String,
    /// Its process id.
    pub pid: u32,
}

impl Daemon {
    /// Start `bin --init --data DATA --listen 127.0.0.1:0` with limits that
    /// admit the workload's batches, and wait for the address it logs.
    pub fn start(bin: &Path, data: &Path, w: &Workload) -> Result<Daemon> {
        let largest = w.batches.iter().map(|b| b.len()).max().unwrap_or(0);
        let lines_max = w.batch_lens.iter().copied().max().unwrap_or(1);
        let mut child = Command::new(bin)
            .args(["--init", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--body-bytes-max", &(largest * 2).max(16 << 20).to_string()])
            .args(["--batch-len-max", &lines_max.max(10_000).to_string()])
            .env("CAIRND_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        interrupt::cairnd(Some(pid));
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let tail = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let keep = Arc::clone(&tail);
        // Keeps reading after the address is found, so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if v["fields"]["message"] == "cairnd listening" {
                    let _ = tx.send(v["fields"]["addr"].as_str().unwrap_or("").to_owned());
                }
                if let Ok(mut t) = keep.lock() {
                    if t.len() < LOG_TAIL_LINES {
                        t.push(line);
                    }
                }
            }
        });
        let mut daemon = Daemon {
            child: Some(child),
            addr: String::new(),
            pid,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) if !addr.is_empty() => {
                daemon.addr = addr;
                Ok(daemon)
            }
            _ => {
                daemon.kill();
                let log = tail.lock().map(|t| t.join("\n")).unwrap_or_default();
                bail!("cairnd did not report a listening address; its log:\n{log}")
            }
        }
    }

    /// SIGTERM, then wait for the graceful stop (drain and fsync); SIGKILL
    /// and an error if it takes too long or fails.
    pub fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // From here on the child is waited for below, or killed on the way out.
        let _ended = Ended;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("running kill")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("cairnd exited with {status} on SIGTERM");
                }
                return Ok(());
            }
            if !sent.success() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cairnd did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            interrupt::cairnd(None);
        }
    }
}

/// Unregisters the daemon from the signal watcher when dropped.
struct Ended;

impl Drop for Ended {
    fn drop(&mut self) {
        interrupt::cairnd(None);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `cairnd` (the binary `bin`) through the workload in `dir` with
/// `connections` concurrent connections. Returns the report and the pid the
/// daemon had.
pub fn run(
    bin: &Path,
    w: &Workload,
    dir: &Path,
    connections: usize,
) -> Result<(SystemReport, u32)> {
    let data = dir.join("cairnd");
    let daemon = Daemon::start(bin, &data, w)?;
    let pid = daemon.pid;
    let (ingest, metrics) = drive(&daemon.addr, w, connections)?;
    let load = load_average();
    daemon.stop()?;
    let key = datadir::verifier(&data)?;
    let ledger = datadir::open(&data).context("opening the daemon's ledger")?;
    let checkpoints = ledger.checkpoints()?.len();
    let verify = verify_whole(&ledger, Some(&key), w)?;
    // What the daemon's indexer had not reached when it stopped.
    let indexing = catch_up(&ledger)?;
    let subject_hour = fetch(&ledger, &w.query)?;
    let (disk, unsettled) = settled_size(&ledger, &data.join(datadir::DB_DIR), w)?;
    // Verified again once settled (flushed, compacted): the ledger at rest,
    // as an auditor would find it, beside the one just after the writer stopped.
    let settled_verify = verify_whole(&ledger, Some(&key), w)?;
    let report = SystemReport {
        key: "cairnd",
        name: "Cairn: cairnd over HTTP",
        writers: connections,
        ingest,
        disk,
        verify,
        subject_hour,
        load_average_after_ingest: load,
        extra: serde_json::json!({
            "bytes_before_compaction": unsettled,
            "signed_checkpoints": checkpoints,
            "group_commit": commit_figures(&metrics),
            "index_lag_entries_at_end_of_ingest": metric(&metrics, "cairn_index_lag_entries"),
            "indexing_after_stop": indexing,
            "verify_after_settling": settled_verify,
        }),
    };
    Ok((report, pid))
}

#[derive(serde::Deserialize)]
struct Receipts {
    receipts: Vec<serde::de::IgnoredAny>,
}

/// Send every batch; each connection takes the next batch when its previous
/// one was acknowledged. Returns the ingest and the daemon's `/metrics` text
/// read right after it.
fn drive(addr: &str, w: &Workload, connections: usize) -> Result<(Ingest, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let next = Arc::new(AtomicUsize::new(0));
    let (mut latencies, elapsed) = runtime.block_on(async {
        let mut conns = Vec::new();
        for _ in 0..connections.max(1) {
            conns.push(Conn::open(addr).await?);
        }
        let started = Instant::now();
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|conn| {
                tokio::spawn(send_batches(
                    conn,
                    Arc::clone(&next),
                    w.batches.clone(),
                    w.batch_lens.clone(),
                ))
            })
            .collect();
        let mut all = Vec::with_capacity(w.batches.len());
        for t in tasks {
            all.extend(t.await.context("a connection task failed")??);
        }
        Ok::<_, anyhow::Error>((all, started.elapsed()))
    })?;
    let metrics = runtime.block_on(async {
        let (status, body) = Conn::open(addr).await?.get("/metrics").await?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    })?;
    Ok((
        Ingest::new(&mut latencies, w.decisions, w.bytes, elapsed),
        metrics,
    ))
}

/// The sequencer's group commits, from the daemon's Prometheus metrics: how
/// many, how many entries each, and how long each took (write and fsync).
fn commit_figures(metrics: &str) -> serde_json::Value {
    let value = |name: &str| metric(metrics, name);
    let commits = value("cairn_commits_total");
    let entries = value("cairn_commit_entries_sum");
    let seconds = value("cairn_commit_seconds_sum");
    let count = value("cairn_commit_seconds_count");
    serde_json::json!({
        "commits": commits,
        "mean_entries_per_commit": entries.zip(commits).map(|(e, c)| e / c.max(1.0)),
        "mean_commit_ms": seconds.zip(count).map(|(s, c)| 1e3 * s / c.max(1.0)),
        "commit_seconds_total": seconds,
    })
}

/// One unlabelled value from Prometheus text.
fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse::<f64>().ok())?
    })
}

/// One connection's share: the next batch until there is none; each batch's
/// ack latency.
async fn send_batches(
    mut conn: Conn,
    next: Arc<AtomicUsize>,
    batches: Vec<Bytes>,
    lens: Vec<u32>,
) -> Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (Some(body), Some(&n)) = (batches.get(i), lens.get(i)) else {
            return Ok(latencies);
        };
        let t = Instant::now();
        let (status, answer) = conn
            .post("/v1/decisions", "application/x-ndjson", body.clone())
            .await?;
        if status != 200 {
            let text = String::from_utf8_lossy(&answer);
            bail!("cairnd answered {status} to batch {i}: {text:.300}");
        }
        let got: Receipts = serde_json::from_slice(&answer)
            .with_context(|| format!("the receipts of batch {i}"))?;
        if got.receipts.len() != n as usize {
            bail!("{} receipts for batch {i} of {n}", got.receipts.len());
        }
        latencies.push(t.elapsed());
    }
}
