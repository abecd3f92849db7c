//! `cairn migrate` and `cairn reindex`: the storage layout's chores.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_store::Backend as _;

use crate::datadir;
use crate::output;

/// Arguments of `cairn migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Write the migrated ledger (with copies of the key files) into this new
    /// directory and leave the original untouched. Without it, the ledger is
    /// migrated in place: built beside the old layout, then swapped in.
    #[arg(long, value_name = "NEW_DIR")]
    to: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `cairn migrate`.
pub fn migrate(data: Option<PathBuf>, args: MigrateArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let bar = output::progress(0, "migrating");
    let report = cairn_store::datadir::migrate(&dir, args.to.as_deref(), |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("migrating the ledger in {}", dir.display()))?;
    bar.finish_and_clear();
    let into = args.to.as_deref().unwrap_or(&dir);
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "origin": report.origin,
                "entries": report.entries,
                "checkpoints": report.checkpoints,
                "root": hex::encode(report.root),
                "data": into.display().to_string(),
                "layout": cairn_store::ledger::LAYOUT,
            })
        );
    } else {
        outln!(
            "migrated {} entries and {} checkpoints of {} to storage layout {} in {}; the tree's root is unchanged: {}",
            report.entries,
            report.checkpoints,
            report.origin,
            cairn_store::ledger::LAYOUT,
            into.display(),
            hex::encode(report.root)
        );
        outln!(
            "check it against a checkpoint you kept: cairn verify --data {} --checkpoint FILE --key KEY",
            into.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `cairn reindex`.
#[derive(Debug, clap::Args)]
pub struct ReindexArgs {}

/// `cairn reindex`.
pub fn reindex(data: Option<PathBuf>, _args: ReindexArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open(&dir)?;
    let bar = output::progress(ledger.size(), "indexing");
    ledger
        .reindex(|done, _| bar.set_position(done))
        .context("rebuilding the indexes")?;
    bar.finish_and_clear();
    ledger.backend().flush()?;
    eprintln!("indexed {} entries", ledger.size());
    Ok(ExitCode::SUCCESS)
}
