//! After a run: is every receipt in the ledger, with the same leaf hash?
//!
//! Online, against the running daemon (`GET /v1/entries/{seq}`), for a sample
//! or all of them; offline, against a stopped daemon's ledger directory,
//! opened read-side with `cairn-store`, for all of them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use cairn_store::StoreError;
use hyper::Method;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::http::{Conn, Target};
use crate::receipts::Receipt;

/// Problems listed in a report; the rest are only counted.
const PROBLEMS_SHOWN: usize = 10;

/// What a check found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Receipts given.
    pub receipts: u64,
    /// Distinct seqs among them.
    pub distinct: u64,
    /// Seqs looked up.
    pub checked: u64,
    /// Seqs the ledger does not hold.
    pub missing: u64,
    /// Seqs whose leaf hash differs from the receipt's (or receipts that
    /// disagree with each other).
    pub mismatched: u64,
    /// Lookups that could not be made (online only).
    pub errors: u64,
    /// The first problems, in words.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// True when every receipt checked was found with its leaf hash.
    pub fn all_match(&self) -> bool {
        self.missing == 0 && self.mismatched == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < PROBLEMS_SHOWN {
            self.problems.push(text);
        }
    }

    fn merge(&mut self, other: CheckReport) {
        self.checked += other.checked;
        self.missing += other.missing;
        self.mismatched += other.mismatched;
        self.errors += other.errors;
        for p in other.problems {
            self.problem(p);
        }
    }
}

/// One leaf hash per seq; receipts for one seq that disagree are a problem
/// in themselves.
fn distinct(receipts: &[Receipt], report: &mut CheckReport) -> Vec<(u64, [u8; 32])> {
    let mut by_seq: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    for r in receipts {
        let known = *by_seq.entry(r.seq).or_insert(r.leaf_hash);
        if known != r.leaf_hash {
            report.mismatched += 1;
            report.problem(format!(
                "seq {}: two receipts with different leaf hashes ({} and {})",
                r.seq,
                hex::encode(known),
                hex::encode(r.leaf_hash)
            ));
        }
    }
    report.receipts = receipts.len() as u64;
    report.distinct = by_seq.len() as u64;
    by_seq.into_iter().collect()
}

/// Check every receipt against the ledger in `data` (the daemon stopped).
pub fn offline(data: &Path, receipts: &[Receipt]) -> Result<CheckReport> {
    // Through the archive for windows a daemon with --local-retention dropped.
    let ledger = cairn_archive::localdir::open_unchecked(data)
        .with_context(|| format!("opening the ledger in {}", data.display()))?;
    let mut report = CheckReport::default();
    for (seq, leaf) in distinct(receipts, &mut report) {
        report.checked += 1;
        match ledger.entry(seq) {
            Ok(entry) if entry.leaf_hash() == leaf => {}
            Ok(entry) => {
                report.mismatched += 1;
                report.problem(format!(
                    "seq {seq}: the ledger's leaf hash is {}, the receipt's {}",
                    hex::encode(entry.leaf_hash()),
                    hex::encode(leaf)
                ));
            }
            Err(StoreError::OutOfRange { size, .. }) => {
                report.missing += 1;
                report.problem(format!("seq {seq}: missing, the ledger has {size} entries"));
            }
            Err(e) => {
                report.mismatched += 1;
                report.problem(format!("seq {seq}: unreadable: {e}"));
            }
        }
    }
    Ok(report)
}

/// Check receipts against the running daemon: `sample` of them chosen with
/// `seed`, or all of them.
pub async fn online(
    target: &Target,
    receipts: &[Receipt],
    sample: Option<usize>,
    seed: u64,
    connections: usize,
    timeout: Duration,
) -> CheckReport {
    let mut report = CheckReport::default();
    let mut todo = distinct(receipts, &mut report);
    if let Some(k) = sample.filter(|&k| k < todo.len()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut picked = rand::seq::index::sample(&mut rng, todo.len(), k).into_vec();
        picked.sort_unstable();
        todo = picked.into_iter().map(|i| todo[i]).collect();
    }
    let todo = Arc::new(todo);
    let next = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Mutex::new(CheckReport::default()));
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (todo, next, shared, target) = (
                Arc::clone(&todo),
                Arc::clone(&next),
                Arc::clone(&shared),
                target.clone(),
            );
            tokio::spawn(async move {
                let mine = check_some(&target, &todo, &next, timeout).await;
                shared.lock().unwrap_or_else(|p| p.into_inner()).merge(mine);
            })
        })
        .collect();
    for w in workers {
        if let Err(e) = w.await {
            report.errors += 1;
            report.problem(format!("a check worker failed: {e}"));
        }
    }
    let found = std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner()));
    report.merge(found);
    report
}

async fn check_some(
    target: &Target,
    todo: &[(u64, [u8; 32])],
    next: &AtomicUsize,
    timeout: Duration,
) -> CheckReport {
    let mut report = CheckReport::default();
    let mut conn = Conn::new(target.clone());
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(seq, leaf)) = todo.get(i) else {
            break;
        };
        report.checked += 1;
        let path = format!("/v1/entries/{seq}");
        match conn
            .send(Method::GET, &path, None, Bytes::new(), timeout)
            .await
        {
            Ok(a) if a.status == 200 => {
                let served = serde_json::from_slice::<serde_json::Value>(&a.body)
                    .ok()
                    .and_then(|v| v["receipt"]["leaf_hash"].as_str().map(str::to_owned));
                let want = hex::encode(leaf);
                if served.as_deref() != Some(want.as_str()) {
                    report.mismatched += 1;
                    report.problem(format!(
                        "seq {seq}: the daemon serves leaf hash {}, the receipt says {want}",
                        served.as_deref().unwrap_or("(none)")
                    ));
                }
            }
            Ok(a) if a.status == 404 => {
                report.missing += 1;
                report.problem(format!("seq {seq}: the daemon has no such entry"));
            }
            Ok(a) => {
                report.errors += 1;
                report.problem(format!(
                    "seq {seq}: answered {}: {}",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ));
            }
            Err(e) => {
                report.errors += 1;
                report.problem(format!("seq {seq}: {e:#}"));
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_that_disagree_about_a_seq_are_a_mismatch() {
        let r = |seq, b| Receipt {
            seq,
            leaf_hash: [b; 32],
            duplicate: false,
        };
        let mut report = CheckReport::default();
        let d = distinct(&[r(1, 1), r(1, 1), r(2, 2), r(1, 9)], &mut report);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (report.receipts, report.distinct, report.mismatched),
            (4, 2, 1)
        );
        assert!(!report.all_match());
    }
}
