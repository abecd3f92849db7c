//! The evidence of a run: the `replay` entry appended to the ledger, and
//! `cairn replay show`, which prints it and checks a results file against it.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_archive::localdir::DirStore;
use cairn_core::checkpoint::{open_checkpoint, NoteVerifier};
use cairn_core::entry::{Entry, EntryBody, ModelRef, ReplayV1};
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle;
use cairn_core::render::entry_json;
use cairn_replay::report::results_digest;
use cairn_replay::Report;
use cairn_store::Backend as _;
use cairn_store::{Append, Ledger};

use super::args::ShowArgs;
use crate::{datadir, output};

/// Append the run's `replay` entry, locally or through a running daemon
/// (`daemon` = URL and token); returns its seq. This is the only moment the
/// ledger's lock is taken.
pub fn record(
    dir: &Path,
    daemon: Option<(&str, Option<&str>)>,
    report: &Report,
    model: &Option<ModelRef>,
    digest: Hash,
) -> Result<u64> {
    let entry = ReplayV1 {
        candidate: report.candidate.endpoint.clone(),
        candidate_model: model.clone(),
        selection: report.selection.to_json(),
        selected: report.selected,
        replayed: report.replayed,
        errors: report.errors,
        results_digest: digest,
    };
    if let Some((url, token)) = daemon {
        return record_through_daemon(url, token, &entry);
    }
    let ledger = datadir::open(dir).context(
        "opening the ledger to record the run (if cairnd holds it, pass --daemon URL to \
         record through it, or --no-record)",
    )?;
    let receipts = ledger
        .append(vec![Append::Replay(entry)], output::now_us())
        .context("appending the replay entry")?;
    ledger.index_all()?;
    ledger.backend().flush()?;
    receipts
        .first()
        .map(|r| r.seq)
        .context("the ledger returned no receipt")
}

/// `POST /v1/replays` to a running daemon; returns the entry's seq.
fn record_through_daemon(url: &str, token: Option<&str>, entry: &ReplayV1) -> Result<u64> {
    let body = serde_json::json!({
        "candidate": entry.candidate,
        "candidate_model": entry.candidate_model.as_ref().map(|m| serde_json::json!({
            "name": m.name, "version": m.version, "digest": m.digest,
        })),
        "selection": serde_json::from_str::<serde_json::Value>(&entry.selection)
            .unwrap_or_else(|_| serde_json::Value::String(entry.selection.clone())),
        "selected": entry.selected,
        "replayed": entry.replayed,
        "errors": entry.errors,
        "results_digest": hex::encode(entry.results_digest),
    });
    let endpoint = format!("{}/v1/replays", url.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .context("making an HTTP client")?;
    let mut request = client.post(&endpoint).json(&body);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request
        .send()
        .with_context(|| format!("recording the run through {endpoint}"))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .with_context(|| format!("reading the answer of {endpoint} ({status})"))?;
    if !status.is_success() {
        bail!(
            "{endpoint} refused the replay record ({status}): {}",
            answer["error"].as_str().unwrap_or("no reason given")
        );
    }
    answer["seq"]
        .as_u64()
        .with_context(|| format!("{endpoint} answered without a seq: {answer}"))
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
    if let Some(verifier) = args.key.verifier()? {
        if let Err(problem) = prove_signed(&ledger, &entry, &verifier)? {
            eprintln!("replay entry {} is NOT proven: {problem}", args.seq);
            return Ok(ExitCode::from(1));
        }
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

/// Prove `entry` included in the newest stored checkpoint signed by `verifier`.
/// `Ok(Err(problem))` when the proof fails (damage or another signer); `Err`
/// when it could not be checked.
fn prove_signed(
    ledger: &Ledger<DirStore>,
    entry: &Entry,
    verifier: &NoteVerifier,
) -> Result<std::result::Result<(), String>> {
    let Some((size, note)) = ledger.latest_checkpoint()? else {
        bail!("the ledger holds no signed checkpoint yet: run `cairn checkpoint`");
    };
    if entry.seq >= size {
        bail!(
            "the newest checkpoint covers {size} entries, not yet entry {}: run `cairn checkpoint`",
            entry.seq
        );
    }
    let signed = match open_checkpoint(&note, verifier) {
        Ok(signed) => signed.checkpoint,
        Err(e) => return Ok(Err(format!("the checkpoint of size {size}: {e}"))),
    };
    if signed.size != size || signed.origin != ledger.origin() {
        return Ok(Err(format!(
            "the checkpoint stored for size {size} is for size {} of {:?}",
            signed.size, signed.origin
        )));
    }
    let proof = ledger.inclusion_proof(entry.seq, size)?;
    let leaf = entry.leaf_hash();
    if let Err(e) =
        merkle::verify_inclusion(&Blake3Hasher, entry.seq, size, &leaf, &proof, &signed.root)
    {
        return Ok(Err(format!(
            "its inclusion proof does not reach the signed root of size {size}: {e}"
        )));
    }
    eprintln!(
        "replay entry {} is included in the checkpoint of size {size} signed by {}",
        entry.seq,
        verifier.name()
    );
    Ok(Ok(()))
}
