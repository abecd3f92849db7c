//! The measurements taken on a Cairn ledger once its writer is done, the same
//! for the daemon's ledger and the embedded one: a full `verify`, the indexes
//! brought up to date, the subject's hour through `Query`, and the settled
//! size on disk.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use cairn_core::checkpoint::NoteVerifier;
use cairn_core::entry::EntryBody;
use cairn_store::query::Query;
use cairn_store::verify::{verify, VerifyOptions};
use cairn_store::{Backend, Ledger, PayloadState, RocksBackend};

use super::stats::{Disk, Fetch, Verify};
use super::workload::{SubjectHour, Workload};

/// Verify the whole ledger: chain, tree, payload commitments and, with a key,
/// every stored checkpoint's signature and root.
pub fn verify_whole<B: Backend>(
    ledger: &Ledger<B>,
    key: Option<&NoteVerifier>,
    w: &Workload,
) -> Result<Verify> {
    let started = Instant::now();
    let report = verify(
        ledger,
        VerifyOptions {
            verifier: key,
            ..VerifyOptions::default()
        },
    )
    .context("verifying the ledger")?;
    let took = started.elapsed();
    if let Some(d) = report.first_damage() {
        eprintln!("bench-peers: the ledger is damaged: {d:?}");
    }
    let how = if key.is_some() {
        "cairn_store::verify: chain, Merkle tree, payload commitments, checkpoint signatures"
    } else {
        "cairn_store::verify: chain, Merkle tree, payload commitments"
    };
    // The daemon may add entries of its own (a monitor alert): every decision
    // sent must be there, as a decision.
    let mut decisions = 0u64;
    ledger.for_each_entry(0, report.entries_checked, |_, bytes| {
        let entry = cairn_core::entry::Entry::decode(bytes)
            .map_err(|e| cairn_store::StoreError::Invalid(format!("entry: {e}")))?;
        if matches!(entry.body, EntryBody::DecisionV1(_)) {
            decisions += 1;
        }
        Ok(())
    })?;
    Ok(Verify::new(
        took,
        report.entries_checked,
        report.intact() && decisions == w.decisions,
        w.bytes,
        how,
    ))
}

/// Fetch the subject's hour whole, as `cairn incident` does: the query
/// selects the subject's decisions in the hour (the subject index narrowed by
/// the time index when that is cheaper), then both payloads of each are read.
pub fn subject_hour<B: Backend>(ledger: &Ledger<B>, q: &SubjectHour) -> Result<u64> {
    let query = Query {
        subject: Some(q.subject.clone()),
        from_us: Some(q.from_us),
        to_us: Some(q.to_us),
        ..Query::default()
    };
    let selected = ledger
        .select(&query, ledger.size(), usize::MAX)
        .context("selecting the subject's hour")?;
    let seqs: Vec<u64> = selected.entries.iter().map(|e| e.seq).collect();
    let states = ledger.payload_states(&seqs)?;
    anyhow::ensure!(
        states
            .iter()
            .flatten()
            .all(|s| matches!(s, PayloadState::Stored(_))),
        "a payload of the subject's hour is not stored"
    );
    std::hint::black_box(states);
    Ok(selected.entries.len() as u64)
}

/// The subject's hour, timed.
pub fn fetch<B: Backend>(ledger: &Ledger<B>, q: &SubjectHour) -> Result<Fetch> {
    Fetch::measure(
        "Query (subject index narrowed by the time index), then both payloads of each (in process)",
        || subject_hour(ledger, q),
    )
}

/// Bring the indexes up to the ledger's size, timed: how many entries were
/// left to index, and how long that took.
pub fn catch_up<B: Backend>(ledger: &Ledger<B>) -> Result<serde_json::Value> {
    let behind = ledger.size() - ledger.indexed_through()?;
    let started = Instant::now();
    ledger.index_all().context("indexing the ledger")?;
    Ok(serde_json::json!({
        "entries_left_to_index": behind,
        "index_seconds": started.elapsed().as_secs_f64(),
    }))
}

/// Flush the memtables and compact, then count the directory: the size the
/// ledger settles at. Returns (settled, before settling).
pub fn settled_size(ledger: &Ledger<RocksBackend>, db: &Path, w: &Workload) -> Result<(Disk, u64)> {
    let before = dir_bytes(db);
    ledger.backend().flush().context("flushing the ledger")?;
    ledger
        .backend()
        .compact()
        .context("compacting the ledger")?;
    let disk = Disk::new(
        dir_bytes(db),
        w.decisions,
        w.bytes,
        "the RocksDB directory after flush and compaction",
    );
    Ok((disk, before))
}

/// Bytes of all files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .map(|(path, m)| {
            if m.is_dir() {
                dir_bytes(&path)
            } else {
                m.len()
            }
        })
        .sum()
}
