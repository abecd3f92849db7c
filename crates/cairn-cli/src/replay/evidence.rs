//! The evidence of a run: the `replay` entry appended to the ledger, and
//! `cairn replay show`, which prints it and checks a results file against it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_core::entry::{EntryBody, ModelRef, ReplayV1};
use cairn_core::hash::Hash;
use cairn_core::render::entry_json;
use cairn_replay::report::results_digest;
use cairn_replay::Report;
use cairn_store::Append;

use super::args::ShowArgs;
use crate::{datadir, output};

/// Append the run's `replay` entry; returns its seq. This is the only moment the
/// ledger's lock is taken.
pub fn record(dir: &Path, report: &Report, model: &Option<ModelRef>, digest: Hash) -> Result<u64> {
    let entry = ReplayV1 {
        candidate: report.candidate.endpoint.clone(),
        candidate_model: model.clone(),
        selection: report.selection.to_json(),
        selected: report.selected,
        replayed: report.replayed,
        errors: report.errors,
        results_digest: digest,
    };
    let ledger = datadir::open(dir).context(
        "opening the ledger to record the run (if cairnd holds it, rerun with --no-record)",
    )?;
    let receipts = ledger
        .append(vec![Append::Replay(entry)], output::now_us())
        .context("appending the replay entry")?;
    ledger.backend().flush()?;
    receipts
        .first()
        .map(|r| r.seq)
        .context("the ledger returned no receipt")
}

/// `cairn replay show SEQ`.
pub fn show(dir: &Path, args: &ShowArgs) -> Result<ExitCode> {
    let ledger = datadir::open_read_only(dir)?;
    let entry = ledger.entry(args.seq)?;
    let EntryBody::ReplayV1(replay) = &entry.body else {
        bail!(
            "entry {} is a {} entry, not a replay",
            args.seq,
            entry.kind()
        );
    };
    let mut v = entry_json(&entry);
    v["receipt"] =
        serde_json::json!({"seq": args.seq, "leaf_hash": hex::encode(entry.leaf_hash())});
    if args.json {
        outln!("{v}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    }
    let Some(path) = &args.results else {
        return Ok(ExitCode::SUCCESS);
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let found = results_digest(&bytes);
    if found == replay.results_digest {
        eprintln!(
            "{} matches the results digest of replay entry {}",
            path.display(),
            args.seq
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} does NOT match replay entry {}: its BLAKE3 is {}, the entry says {}",
            path.display(),
            args.seq,
            hex::encode(found),
            hex::encode(replay.results_digest)
        );
        Ok(ExitCode::from(1))
    }
}
