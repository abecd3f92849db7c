//! `cairn verify`: exit 0 intact, 1 damaged, 2 could not check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_store::verify::{verify, Damage, DamageKind, VerifyOptions, VerifyReport};
use cairn_store::StoreError;
use serde_json::json;

use crate::datadir;
use crate::output;

/// Arguments of `cairn verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A checkpoint note you kept earlier: the ledger must be a consistent
    /// extension of it (catches truncation and rewritten history).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    // The verifier key (--key KEY or --key-file FILE); defaults to the
    // ledger's `verifier.key`. Auditors should pass the key they were given.
    #[command(flatten)]
    key: datadir::KeyArgs,
    /// First seq to check.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Last seq to check (inclusive); defaults to the last entry.
    #[arg(long)]
    to: Option<u64>,
    /// Also check that every entry is reachable through each index it belongs
    /// to (stream, model version, subject, session, request and trace id,
    /// time), and report missing or extra postings as damage (`index-mismatch`).
    #[arg(long)]
    indexes: bool,
    /// Check an archive instead of a ledger directory, from the bucket alone
    /// (no RocksDB): `s3://BUCKET/PREFIX` (credentials from the AWS_*
    /// environment variables, AWS_ENDPOINT_URL for an S3-compatible store) or
    /// `file:///DIR`. Needs --key or --key-file.
    #[arg(long, value_name = "URL", conflicts_with = "indexes")]
    source: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `cairn verify`.
pub fn run(data: Option<PathBuf>, args: VerifyArgs) -> Result<ExitCode> {
    match check(data, &args) {
        Ok((report, archived)) => {
            if args.json {
                let mut j = report_json(&report);
                if let Some((below, url)) = &archived {
                    j["read_from_archive"] = json!({"below_seq": below, "url": url});
                }
                outln!("{j}");
            } else {
                print_report(&report)?;
                if let Some((below, url)) = &archived {
                    if report.from < *below && report.to > report.from {
                        outln!(
                            "seq {}..={} are no longer stored locally: they were read from the archive {url}",
                            report.from,
                            (*below).min(report.to) - 1
                        );
                    }
                }
            }
            Ok(if report.intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        // The storage engine refusing to open damaged files is damage, not a
        // failure to check.
        Err(e) if engine_corruption(&e) => {
            let detail = cairn_store::error::chain(e.as_ref());
            if args.json {
                let first = json!({"seq": null, "kind": "unreadable", "detail": detail});
                outln!(
                    "{}",
                    json!({"status": "damaged", "first_damage": first, "damage": [first]})
                );
            } else {
                outln!("DAMAGED: unreadable: {detail}");
            }
            Ok(ExitCode::from(1))
        }
        Err(e) if args.json => {
            outln!(
                "{}",
                json!({"status": "error", "error": cairn_store::error::chain(e.as_ref())})
            );
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e),
    }
}

/// Whether the storage engine reported damaged files (by its error kind).
fn engine_corruption(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_engine_corruption)
    })
}

/// Open read-only, always: checking the evidence must never change it (no lock
/// taken, no WAL replayed into new files), and a running daemon may go on
/// appending meanwhile; the check covers the ledger as it was when opened.
fn open(dir: &std::path::Path) -> Result<cairn_store::Ledger<cairn_archive::localdir::DirStore>> {
    datadir::open_read_only(dir)
}

/// The report, and for a ledger directory whose windows below a seq were
/// dropped once archived, that seq and the archive they were read from.
type Checked = (VerifyReport, Option<(u64, String)>);

fn check(data: Option<PathBuf>, args: &VerifyArgs) -> Result<Checked> {
    if let Some(url) = &args.source {
        let verifier = args.key.verifier()?.context(
            "checking an archive needs the ledger's verifier key: pass --key KEY or --key-file FILE",
        )?;
        let ledger = crate::archive::open_source(url)?;
        let mut report = walk(&ledger, &verifier, args)?;
        check_head(ledger.backend(), &verifier, &mut report);
        return Ok((report, None));
    }
    let dir = datadir::data_dir(data)?;
    let ledger = open(&dir)?;
    let verifier = datadir::verifier(&dir, &args.key)?;
    let mut report = walk(&ledger, &verifier, args)?;
    if args.indexes {
        add_index_damage(&ledger, &mut report)?;
    }
    let archived = ledger
        .backend()
        .archive()
        .filter(|a| a.dropped() > 0)
        .map(|a| (a.dropped(), a.url().to_owned()));
    Ok((report, archived))
}

/// The archive's `checkpoint` object is what a reader fetches first: it must
/// verify on its own, and be the note `checkpoints/<size>` holds at its size.
fn check_head(
    source: &cairn_archive::BucketBackend,
    verifier: &cairn_core::checkpoint::NoteVerifier,
    report: &mut VerifyReport,
) {
    let (head, listed) = source.head_notes();
    let text = String::from_utf8_lossy(head);
    let detail = match cairn_core::checkpoint::open_checkpoint(&text, verifier) {
        Err(e) => Some((
            DamageKind::BadSignature,
            format!("the archive's `checkpoint` object does not verify: {e}"),
        )),
        Ok(signed) if signed.checkpoint.origin != report.origin => Some((
            DamageKind::OriginMismatch,
            format!(
                "the archive's `checkpoint` object is for ledger {:?}, the archive holds {:?}",
                signed.checkpoint.origin, report.origin
            ),
        )),
        Ok(signed) => listed.filter(|l| *l != head).map(|_| {
            (
                DamageKind::Rewritten,
                format!(
                    "the archive's `checkpoint` object is not the note archived as checkpoints/{}: two signed notes of one size",
                    signed.checkpoint.size
                ),
            )
        }),
    };
    if let Some((kind, detail)) = detail {
        report.damage.insert(
            0,
            Damage {
                seq: None,
                kind,
                detail,
            },
        );
    }
}

/// Walk a ledger, in a directory or in an archive.
fn walk<B: cairn_store::Backend>(
    ledger: &cairn_store::Ledger<B>,
    verifier: &cairn_core::checkpoint::NoteVerifier,
    args: &VerifyArgs,
) -> Result<VerifyReport> {
    let trusted = match &args.checkpoint {
        Some(p) => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        None => None,
    };
    let to = args.to.map(|t| t.saturating_add(1));
    let total = to
        .unwrap_or(ledger.size())
        .min(ledger.size())
        .saturating_sub(args.from);
    let bar = output::progress(total, "verifying");
    let mut tick = |done: u64, _total: u64| bar.set_position(done);
    let report = verify(
        ledger,
        VerifyOptions {
            from: args.from,
            to,
            verifier: Some(verifier),
            trusted: trusted.as_deref(),
            progress: Some(&mut tick),
        },
    )
    .context("could not check the ledger")?;
    bar.finish_and_clear();
    Ok(report)
}

/// Every entry must be reachable through each index it belongs to: an index
/// that hides entries changes what `incident` and `bundle export` return.
fn add_index_damage<B: cairn_store::Backend>(
    ledger: &cairn_store::Ledger<B>,
    report: &mut VerifyReport,
) -> Result<()> {
    let problems = ledger.check_indexes().context("checking the indexes")?;
    for p in problems {
        let seq = p.missing.first().or(p.extra.first()).copied();
        let value = p.value.replace('\0', "@");
        report.damage.push(cairn_store::verify::Damage {
            seq,
            kind: cairn_store::verify::DamageKind::IndexMismatch,
            detail: format!(
                "the {:?} index under {value:?} lacks {} entries and lists {} it should not (first: {seq:?}); rebuild it with `cairn reindex`",
                p.kind,
                p.missing.len(),
                p.extra.len()
            ),
        });
    }
    report.indexes_checked = true;
    Ok(())
}

fn print_report(r: &VerifyReport) -> Result<()> {
    outln!("ledger {} with {} entries", r.origin, r.size);
    let range = if r.to > r.from {
        format!("seq {}..={}", r.from, r.to - 1)
    } else {
        "no entries".to_owned()
    };
    outln!(
        "checked {range}: {} entries, {} payloads ({} bytes), {} signed checkpoints",
        r.entries_checked,
        r.payloads_checked,
        r.payload_bytes,
        r.checkpoints_checked
    );
    match r.anchored {
        Some(size) if r.to > size => outln!(
            "seq {}..={} are hashed up to the root signed at size {size}; seq {size}..={} come after the last signed checkpoint and are checked against the stored tree only",
            r.from,
            size - 1,
            r.to - 1
        ),
        Some(size) => outln!("the checked entries are hashed up to the root signed at size {size}"),
        None if r.to > r.from => outln!(
            "no signed checkpoint covers the checked entries{}: they are checked against the stored tree only",
            if r.checkpoints_checked == 0 { " (give --key to check signatures)" } else { "" }
        ),
        None => {}
    }
    for e in &r.erased {
        outln!(
            "erased properly: the {} of seq {} by redaction {}",
            e.slot.name(),
            e.seq,
            e.by
        );
    }
    if let Some(size) = r.trusted_size {
        if r.intact() {
            outln!("consistent with your checkpoint at size {size}");
        }
    }
    match r.first_damage() {
        None => {
            let root = r
                .root
                .map(hex::encode)
                .unwrap_or_else(|| "(range only)".into());
            outln!("INTACT: root {root}");
        }
        Some(first) => {
            match first.seq {
                Some(seq) => outln!(
                    "DAMAGED at seq {seq}: {}: {}",
                    first.kind.name(),
                    first.detail
                ),
                None => outln!("DAMAGED: {}: {}", first.kind.name(), first.detail),
            }
            let rest = r.damage.len() - 1;
            for d in r.damage.iter().filter(|d| *d != first).take(9) {
                let at = d
                    .seq
                    .map(|s| format!("seq {s}"))
                    .unwrap_or_else(|| "ledger".into());
                outln!("  also {at}: {}: {}", d.kind.name(), d.detail);
            }
            if rest > 9 {
                outln!("  ... {} findings in all", r.damage.len());
            }
        }
    }
    Ok(())
}

fn report_json(r: &VerifyReport) -> serde_json::Value {
    let damage: Vec<_> = r
        .damage
        .iter()
        .map(|d| json!({"seq": d.seq, "kind": d.kind.name(), "detail": d.detail}))
        .collect();
    let erased: Vec<_> = r
        .erased
        .iter()
        .map(|e| json!({"seq": e.seq, "slot": e.slot.name(), "by": e.by}))
        .collect();
    json!({
        "status": if r.intact() { "intact" } else { "damaged" },
        "origin": r.origin,
        "size": r.size,
        "from": r.from,
        "to": r.to,
        "entries_checked": r.entries_checked,
        "payloads_checked": r.payloads_checked,
        "payload_bytes": r.payload_bytes,
        "checkpoints_checked": r.checkpoints_checked,
        "indexes_checked": r.indexes_checked,
        "trusted_size": r.trusted_size,
        "anchored": r.anchored,
        "root": r.root.map(hex::encode),
        "erased": erased,
        "first_damage": r.first_damage().map(|d| json!({"seq": d.seq, "kind": d.kind.name(), "detail": d.detail})),
        "damage": damage,
    })
}
