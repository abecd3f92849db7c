//! `cairn redact`: erase a decision's payloads (and their salts) and record it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::entry::{PayloadSlot, RedactionV1};
use cairn_store::Append;
use cairn_store::Backend as _;

use crate::datadir;
use crate::output;

/// Arguments of `cairn redact`.
#[derive(Debug, clap::Args)]
pub struct RedactArgs {
    /// The decision whose payloads to erase.
    #[arg(long)]
    seq: u64,
    /// Why: a ticket, a court order, a GDPR request. Recorded in the ledger.
    #[arg(long)]
    reason: String,
    /// Who asked for it. Recorded in the ledger.
    #[arg(long, env = "USER", default_value = "unknown")]
    actor: String,
    /// Erase only this payload (default: input and output).
    #[arg(long, value_parser = ["input", "output"])]
    only: Option<String>,
}

/// `cairn redact`.
pub fn run(data: Option<PathBuf>, args: RedactArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open(&dir)?;
    let slots = match args.only.as_deref() {
        Some("input") => vec![PayloadSlot::Input],
        Some("output") => vec![PayloadSlot::Output],
        _ => PayloadSlot::ALL.to_vec(),
    };
    let redaction = RedactionV1 {
        target_seq: args.seq,
        slots,
        reason: args.reason,
        actor: args.actor,
    };
    let receipts = ledger
        .append(vec![Append::Redaction(redaction)], output::now_us())
        .with_context(|| format!("erasing the payloads of seq {}", args.seq))?;
    // A crash test stops here, between the redaction's write and its purge:
    // the next writer to open the ledger must finish the purge.
    cairn_store::failpoint::hit("redact-before-purge");
    // The old bundle and the write-ahead log held the payload: make the
    // engine drop them, so that no copy stays on disk (a crash before this is
    // done leaves the purge pending, finished when the ledger is next opened
    // for writing).
    ledger
        .purge_erased(&[args.seq])
        .context("removing the erased payload's old copies from disk")?;
    ledger.index_all()?;
    ledger.backend().flush()?;
    for r in &receipts {
        eprintln!(
            "erased the payloads of seq {} by redaction entry {}",
            args.seq, r.seq
        );
        outln!("{}", output::receipt_json(r));
    }
    Ok(ExitCode::SUCCESS)
}
