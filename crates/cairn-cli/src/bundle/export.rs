//! `cairn bundle export`: selected decisions, their payloads (or the redactions
//! that erased them), an inclusion proof for each against the newest stored
//! checkpoint that covers them all, that checkpoint and the verifier key.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_core::bundle::{self, Bundle, BundleEntry, SlotContent, VerifyOptions};
use cairn_core::checkpoint::{open_checkpoint, Checkpoint, NoteVerifier};
use cairn_core::decision::format_time_us;
use cairn_core::entry::PayloadSlot;
use cairn_core::hash::{payload_commitment, Blake3Hasher, Hash};
use cairn_core::merkle::{self, NodeSource};
use cairn_store::tiles::TileNodes;
use cairn_store::{Backend, Ledger, StoreError};

use crate::datadir;
use crate::incident::select::{self, Filters, Row};
use crate::output;

/// Arguments of `cairn bundle export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    filters: Box<Filters>,
}

/// Stored tree nodes, each read once: the proofs of nearby entries share most
/// of their nodes.
struct CachedNodes<'a, B: Backend> {
    stored: TileNodes<'a, B>,
    cache: RefCell<HashMap<(u8, u64), Hash>>,
}

impl<B: Backend> NodeSource for CachedNodes<'_, B> {
    type Error = StoreError;

    fn subtree(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        if let Some(h) = self.cache.borrow().get(&(level, index)) {
            return Ok(*h);
        }
        let h = self.stored.subtree(level, index)?;
        self.cache.borrow_mut().insert((level, index), h);
        Ok(h)
    }
}

/// `cairn bundle export`.
pub fn run(data: Option<PathBuf>, args: ExportArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open_read_only(&dir)?;
    let key = datadir::verifier(&dir, &datadir::KeyArgs::default())?;
    let query = args.filters.resolve(&ledger, output::now_us())?;
    let sel = select::select(&ledger, &query)?;
    let Some(last) = sel.rows.last() else {
        bail!("no decision matches the filters: no bundle written");
    };
    if sel.truncated {
        eprintln!(
            "note: more decisions match; only the first {} go into the bundle (raise --limit)",
            sel.rows.len()
        );
    }
    let redactions: BTreeSet<u64> = sel
        .rows
        .iter()
        .flat_map(|r| r.erased.iter().map(|(_, by)| *by))
        .collect();
    let newest = redactions.last().map_or(last.seq, |r| (*r).max(last.seq));
    let (cp, note) = covering_checkpoint(&ledger, &key, newest, &dir)?;
    let nodes = CachedNodes {
        stored: ledger.nodes(),
        cache: RefCell::default(),
    };
    if merkle::root(&Blake3Hasher, &nodes, cp.size)? != cp.root {
        bail!(
            "the ledger's tree at size {} does not have the root its signed checkpoint names: run `cairn verify`",
            cp.size
        );
    }
    let entries = bundle_entries(&ledger, &nodes, &sel.rows, &redactions, cp.size)?;
    let bundle = Bundle {
        verifier_key: key.clone(),
        checkpoint: note,
        entries,
    };
    let text = bundle.to_json();
    self_check(&text, &key)?;
    write_file(&args.out, &text)?;
    let decisions = sel.rows.len();
    outln!(
        "wrote {}: {decisions} decisions{}, seq {}..={}, {} to {}",
        args.out.display(),
        match redactions.len() {
            0 => String::new(),
            1 => " and the redaction entry proving an erasure".to_owned(),
            n => format!(" and {n} redaction entries proving erasures"),
        },
        sel.rows[0].seq,
        newest,
        format_time_us(sel.rows.iter().map(Row::time_us).min().unwrap_or(0)),
        format_time_us(sel.rows.iter().map(Row::time_us).max().unwrap_or(0)),
    );
    outln!(
        "proven against the checkpoint of {} at size {}, signed by {}",
        cp.origin,
        cp.size,
        key
    );
    outln!(
        "check it anywhere with: cairn bundle verify {} --key {key}",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The newest stored checkpoint, if it covers `newest_seq`, opened with `key`.
fn covering_checkpoint<B: Backend>(
    ledger: &Ledger<B>,
    key: &NoteVerifier,
    newest_seq: u64,
    dir: &Path,
) -> Result<(Checkpoint, String)> {
    let hint = format!(
        "sign one with `cairn checkpoint --data {}` (a running cairnd signs them periodically) and export again",
        dir.display()
    );
    let Some((size, note)) = ledger.latest_checkpoint()? else {
        bail!("the ledger has no signed checkpoint yet: {hint}");
    };
    if size <= newest_seq {
        bail!("the newest signed checkpoint (size {size}) does not cover seq {newest_seq}: {hint}");
    }
    if size > ledger.size() {
        bail!(
            "the newest checkpoint is for size {size} but the ledger holds {} entries: run `cairn verify`",
            ledger.size()
        );
    }
    let cp = open_checkpoint(&note, key)
        .with_context(|| format!("the stored checkpoint at size {size} does not verify with the ledger's verifier key"))?
        .checkpoint;
    if cp.size != size || cp.origin != ledger.origin() {
        bail!(
            "the checkpoint stored under size {size} is for {} at size {}: run `cairn verify`",
            cp.origin,
            cp.size
        );
    }
    Ok((cp, note))
}

fn bundle_entries<B: Backend>(
    ledger: &Ledger<B>,
    nodes: &CachedNodes<'_, B>,
    rows: &[Row],
    redactions: &BTreeSet<u64>,
    size: u64,
) -> Result<Vec<BundleEntry>> {
    let proof = |seq: u64| {
        merkle::inclusion_proof(&Blake3Hasher, nodes, seq, size)
            .map_err(|e| anyhow::anyhow!("inclusion proof of seq {seq}: {e}"))
    };
    let mut out = Vec::with_capacity(rows.len() + redactions.len());
    for row in rows {
        out.push(BundleEntry {
            entry: row.to_entry(),
            proof: proof(row.seq)?,
            payloads: payloads(ledger, row)?,
        });
    }
    for &seq in redactions {
        let entry = ledger
            .entry(seq)
            .with_context(|| format!("reading redaction entry {seq}"))?;
        out.push(BundleEntry {
            entry,
            proof: proof(seq)?,
            payloads: Vec::new(),
        });
    }
    out.sort_by_key(|e| e.entry.seq);
    out.dedup_by_key(|e| e.entry.seq);
    Ok(out)
}

/// Both payloads of a decision, checked against their commitments, or the
/// redaction that erased each.
fn payloads<B: Backend>(ledger: &Ledger<B>, row: &Row) -> Result<Vec<(PayloadSlot, SlotContent)>> {
    let mut out = Vec::with_capacity(2);
    for slot in PayloadSlot::ALL {
        if let Some((_, by)) = row.erased.iter().find(|(s, _)| *s == slot) {
            out.push((slot, SlotContent::Erased { by: *by }));
            continue;
        }
        let damaged = |what: &str| {
            anyhow::anyhow!(
                "the {} payload of seq {} {what}: run `cairn verify`",
                slot.name(),
                row.seq
            )
        };
        let p = ledger
            .payload(row.seq, slot)?
            .ok_or_else(|| damaged("is missing and no redaction erased it"))?;
        let committed = row.decision.payload(slot);
        if p.bytes.len() as u64 != committed.len
            || payload_commitment(&p.salt, &p.bytes) != committed.commitment
        {
            return Err(damaged("does not match its commitment"));
        }
        if std::str::from_utf8(&p.bytes).is_err() {
            return Err(damaged("is not UTF-8 JSON text"));
        }
        out.push((slot, SlotContent::Present(p)));
    }
    Ok(out)
}

/// Verifies the bundle as an auditor will, before anyone sees it.
fn self_check(text: &str, key: &NoteVerifier) -> Result<()> {
    let report = bundle::verify(
        text.as_bytes(),
        VerifyOptions {
            trusted_key: Some(key),
            keep_entries: false,
        },
    )?;
    if let Some(f) = report.findings.first() {
        bail!("the bundle does not verify ({f}); nothing written: run `cairn verify`");
    }
    Ok(())
}

/// Writes `text` to `path` through a temporary file and a rename, so that a
/// reader never sees half a bundle.
fn write_file(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}
