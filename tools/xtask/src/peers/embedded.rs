//! Cairn embedded: the same NDJSON batches parsed, salted and appended with
//! [`Ledger::append`] on RocksDB, one batch = one write batch = one fsync.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use cairn_core::decision::DecisionInput;
use cairn_store::{Append, Ledger, RocksBackend};

use super::ledger::{catch_up, fetch, settled_size, verify_whole};
use super::machine::load_average;
use super::stats::{Ingest, SystemReport};
use super::workload::{lines, Workload};

/// Run the embedded ledger through the workload in `dir`.
pub fn run(w: &Workload, dir: &Path) -> Result<SystemReport> {
    let db = dir.join("ledger");
    let (ingest, split) = {
        let backend = RocksBackend::create(&db).context("creating the RocksDB ledger")?;
        let ledger = Ledger::create(backend, "bench.example/embedded")?;
        ingest(w, &ledger)?
    };
    let load = load_average();
    let ledger = Ledger::open(RocksBackend::open(&db)?).context("reopening the ledger")?;
    let verify = verify_whole(&ledger, None, w)?;
    // `Ledger::append` leaves indexing to whoever runs the indexer (in the
    // daemon, its indexer thread): index everything, as `cairn reindex` would.
    let indexing = catch_up(&ledger)?;
    let subject_hour = fetch(&ledger, &w.query)?;
    let (disk, unsettled) = settled_size(&ledger, &db, w)?;
    let settled_verify = verify_whole(&ledger, None, w)?;
    Ok(SystemReport {
        key: "embedded",
        name: "Cairn embedded (Ledger::append)",
        writers: 1,
        ingest,
        disk,
        verify,
        subject_hour,
        load_average_after_ingest: load,
        extra: serde_json::json!({
            "bytes_before_compaction": unsettled,
            "parse_and_salt_seconds": split[0].as_secs_f64(),
            "append_seconds": split[1].as_secs_f64(),
            "indexing": indexing,
            "verify_after_settling": settled_verify,
        }),
    })
}

/// The ingest, and the time spent [parsing and salting, in `Ledger::append`].
fn ingest(w: &Workload, ledger: &Ledger<RocksBackend>) -> Result<(Ingest, [Duration; 2])> {
    let mut latencies = Vec::with_capacity(w.batches.len());
    let mut split = [Duration::ZERO; 2];
    let started = Instant::now();
    for (batch, &n) in w.batches.iter().zip(&w.batch_lens) {
        let t = Instant::now();
        let items = prepare(batch)?;
        let prepared = t.elapsed();
        let receipts = ledger.append(items, now_us())?;
        if receipts.len() != n as usize {
            bail!("{} receipts for a batch of {n}", receipts.len());
        }
        let took = t.elapsed();
        split[0] += prepared;
        split[1] += took - prepared;
        latencies.push(took);
    }
    let elapsed = started.elapsed();
    Ok((
        Ingest::new(&mut latencies, w.decisions, w.bytes, elapsed),
        split,
    ))
}

/// Parse and validate every line; the ledger salts the payloads, as it
/// does for the daemon.
fn prepare(batch: &[u8]) -> Result<Vec<Append>> {
    lines(batch)
        .enumerate()
        .map(|(i, l)| {
            let d = DecisionInput::parse(l).with_context(|| format!("line {}", i + 1))?;
            Ok(Append::Unsalted(d.unsalted()))
        })
        .collect()
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
