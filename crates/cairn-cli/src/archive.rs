//! `cairn archive` (a ledger's checkpointed history to an object store) and
//! `cairn restore` (an archive back into a working ledger directory); `cairn
//! verify --source` reads an archive through [`open_source`].

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_archive::{Bucket, BucketBackend};
use cairn_core::checkpoint::open_checkpoint;
use cairn_store::verify::{verify, VerifyOptions};
use cairn_store::{Ledger, RocksBackend};
use serde_json::json;

use crate::datadir;
use crate::output;

/// Arguments of `cairn archive`.
#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// Where to archive: `s3://BUCKET/PREFIX` (credentials from AWS_ACCESS_KEY_ID
    /// and AWS_SECRET_ACCESS_KEY, region from AWS_REGION, an S3-compatible store
    /// from AWS_ENDPOINT_URL) or `file:///DIR`. One prefix holds one ledger.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `cairn restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The archive to restore: `s3://BUCKET/PREFIX` or `file:///DIR`.
    #[arg(long, value_name = "URL")]
    from: String,
    // The verifier key the archive's checkpoint must be signed with
    // (--key KEY or --key-file FILE).
    #[command(flatten)]
    key: datadir::KeyArgs,
    /// The ledger's signing key (its `signing.key`, kept apart from the
    /// archive), so that `cairnd` can sign checkpoints of the restored
    /// ledger. Without it the ledger is restored for reading and checking.
    #[arg(long, value_name = "FILE")]
    signing_key: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// A ledger over the archive at `url`, for reading and checking.
pub fn open_source(url: &str) -> Result<Ledger<BucketBackend>> {
    let bucket = Bucket::open_existing(url)?;
    let source =
        BucketBackend::open(bucket).with_context(|| format!("opening the archive {url}"))?;
    Ok(source.into_ledger()?)
}

/// `cairn archive`.
pub fn archive(data: Option<PathBuf>, args: ArchiveArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open_read_only(&dir)?;
    let bucket = Bucket::open(&args.to)?;
    let bar = output::progress(0, "archiving");
    let mut tick = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let report = cairn_archive::archive(&ledger, &bucket, &mut tick)
        .with_context(|| format!("archiving to {}", args.to))?;
    bar.finish_and_clear();
    if args.json {
        outln!(
            "{}",
            json!({
                "origin": ledger.origin(),
                "to": args.to,
                "from": report.from,
                "archived_through": report.through,
                "pending": report.pending,
                "objects": report.objects,
                "bytes": report.bytes,
                "rewritten": report.rewritten,
                "deleted": report.deleted,
            })
        );
    } else {
        outln!(
            "archived {} through seq {} to {} ({} new entries, {} objects, {} bytes; {} payload bundles rewritten after erasure)",
            ledger.origin(),
            report.through.saturating_sub(1),
            args.to,
            report.through - report.from,
            report.objects,
            report.bytes,
            report.rewritten
        );
        if report.through == 0 {
            outln!("nothing archived: the ledger has no checkpoint yet; sign one with `cairn checkpoint`");
        }
        if report.pending > 0 {
            outln!(
                "{} entries after the last checkpoint wait for the next one (`cairn checkpoint`, or cairnd's own)",
                report.pending
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn restore`.
pub fn restore(data: Option<PathBuf>, args: RestoreArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    if cairn_store::datadir::exists(&dir) {
        bail!(
            "{} already holds a ledger: restore into a new directory",
            dir.display()
        );
    }
    let verifier = args
        .key
        .verifier()?
        .context("restoring needs the ledger's verifier key: pass --key KEY or --key-file FILE")?;
    let signer = match &args.signing_key {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading the signing key {}", p.display()))?;
            let signer = cairn_core::checkpoint::NoteSigner::parse(text.trim())
                .with_context(|| format!("{} is not a signing key", p.display()))?;
            if signer.verifier().to_string() != verifier.to_string() {
                bail!(
                    "the signing key {} does not match the verifier key",
                    p.display()
                );
            }
            Some(text)
        }
        None => None,
    };
    let source = BucketBackend::open(Bucket::open_existing(&args.from)?)
        .with_context(|| format!("opening the archive {}", args.from))?;
    let note = source
        .get_note()
        .context("reading the archive's checkpoint")?;
    let cp = open_checkpoint(&note, &verifier)
        .context("the archive's checkpoint is not signed by this verifier key")?
        .checkpoint;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    datadir::private_dir(&dir)?;
    // Restored under another name and renamed into place once whole: a
    // restore that stops half way leaves nothing that looks like a ledger,
    // and running it again starts over.
    let building = dir.join("ledger.restoring");
    if building.exists() {
        std::fs::remove_dir_all(&building)
            .with_context(|| format!("removing the unfinished restore {}", building.display()))?;
    }
    let backend = RocksBackend::create(&building)?;
    let bar = output::progress(cp.size, "restoring");
    let mut tick = |done: u64, _total: u64| bar.set_position(done);
    let (ledger, report) = cairn_archive::restore(&source, backend, &mut tick)
        .with_context(|| format!("restoring from {}", args.from))?;
    bar.finish_and_clear();
    drop(ledger);
    let db = dir.join(cairn_store::datadir::DB_DIR);
    std::fs::rename(&building, &db)
        .with_context(|| format!("renaming {} to {}", building.display(), db.display()))?;
    let ledger = Ledger::open(RocksBackend::open(&db)?)?;
    write_file(
        &dir.join(cairn_store::datadir::VERIFIER_KEY),
        &format!("{verifier}\n"),
    )?;
    if let Some(text) = signer {
        write_file(&dir.join(cairn_store::datadir::SIGNING_KEY), &text)?;
    }
    // Check what was restored, locally, before anyone relies on it.
    let check = verify(
        &ledger,
        VerifyOptions {
            verifier: Some(&verifier),
            ..VerifyOptions::default()
        },
    )
    .context("checking the restored ledger")?;
    let intact = check.intact() && check.root == Some(cp.root);
    if args.json {
        outln!(
            "{}",
            json!({
                "status": if intact { "restored" } else { "damaged" },
                "origin": cp.origin,
                "entries": report.entries,
                "objects": report.objects,
                "bytes": report.bytes,
                "checkpoints_checked": check.checkpoints_checked,
                "first_damage": check.first_damage().map(|d| json!({"seq": d.seq, "kind": d.kind.name(), "detail": d.detail})),
            })
        );
    } else if intact {
        outln!(
            "restored {} with {} entries into {} and checked it against {} signed checkpoints",
            cp.origin,
            report.entries,
            dir.display(),
            check.checkpoints_checked
        );
        if args.signing_key.is_none() {
            outln!("no --signing-key given: copy the ledger's signing.key into the directory before cairnd appends to it");
        }
    } else {
        let first = check
            .first_damage()
            .map(|d| format!("{}: {}", d.kind.name(), d.detail))
            .unwrap_or_else(|| "root differs from the archive's checkpoint".into());
        outln!(
            "DAMAGED: the archive restored into {} does not verify: {first}",
            dir.display()
        );
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
