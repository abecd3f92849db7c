//! `cairn bundle verify`: exit 0 valid, 1 invalid, 2 could not check, 3 valid
//! but checked only against the key the bundle carries (no key given, so who
//! signed it is unproven). Reads only the bundle file and the key; the checks
//! are `cairn_core::bundle`'s.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_core::bundle::{
    self, BundleReport, KeySource, ProvenEntry, VerifyOptions, BUNDLE_BYTES_MAX,
};
use cairn_core::decision::format_time_us;
use cairn_core::render::entry_json;
use serde_json::{json, Value};

use crate::datadir::KeyArgs;

/// Exit status of a bundle that is valid only against the key it carries.
pub const EXIT_UNTRUSTED_KEY: u8 = 3;

/// Arguments of `cairn bundle verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The bundle file.
    file: PathBuf,
    // The verifier key you trust for the ledger (--key KEY or --key-file FILE).
    // Without one, the key inside the bundle is used, which only shows that the
    // bundle is consistent with itself: exit status 3.
    #[command(flatten)]
    key: KeyArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also print every proven entry, with its payloads, as one JSON line each
    /// (in `--json` mode, as an `entries` array).
    #[arg(long)]
    entries: bool,
}

/// `cairn bundle verify`.
pub fn run(args: VerifyArgs) -> Result<ExitCode> {
    match check(&args) {
        Ok(report) => {
            if args.json {
                outln!("{}", report_json(&report, &args.file));
            } else {
                print_report(&report, &args.file)?;
            }
            Ok(ExitCode::from(exit_status(&report)))
        }
        Err(e) if args.json => {
            outln!(
                "{}",
                json!({"status": "error", "error": cairn_store::error::chain(e.as_ref())})
            );
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.context("could not check the bundle")),
    }
}

/// 0 valid against the key given, 1 invalid, 3 valid against no key but its own.
fn exit_status(r: &BundleReport) -> u8 {
    match (r.valid(), r.key_source) {
        (false, _) => 1,
        (true, KeySource::Trusted) => 0,
        (true, KeySource::Embedded) => EXIT_UNTRUSTED_KEY,
    }
}

fn check(args: &VerifyArgs) -> Result<BundleReport> {
    let key = args.key.verifier()?;
    let text = read_limited(&args.file)?;
    let report = bundle::verify(
        &text,
        VerifyOptions {
            trusted_key: key.as_ref(),
            keep_entries: args.entries,
        },
    )?;
    Ok(report)
}

fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = Vec::new();
    f.take(BUNDLE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() > BUNDLE_BYTES_MAX {
        bail!(
            "{} is larger than the {BUNDLE_BYTES_MAX}-byte limit of a bundle",
            path.display()
        );
    }
    Ok(text)
}

fn span(r: &BundleReport) -> String {
    match (r.first_time_us, r.last_time_us) {
        (Some(a), Some(b)) => format!("from {} to {}", format_time_us(a), format_time_us(b)),
        _ => "no decision times".into(),
    }
}

fn print_report(r: &BundleReport, file: &Path) -> Result<()> {
    if !r.valid() {
        outln!(
            "INVALID: {} ({} problems)",
            file.display(),
            r.findings_total
        );
        for f in &r.findings {
            // A finding may quote the bundle (an unknown member's name): its
            // control characters are shown escaped, never sent to the terminal.
            outln!("  {}", printable(&f.to_string()));
        }
        if r.findings_total > r.findings.len() as u64 {
            outln!("  ... {} problems in all", r.findings_total);
        }
        return Ok(());
    }
    let (lo, hi) = r.seq_range.unwrap_or_default();
    match r.key_source {
        KeySource::Trusted => outln!("VALID: {}", file.display()),
        KeySource::Embedded => outln!(
            "VALID ONLY AGAINST ITS OWN KEY: {} (no --key or --key-file given: who signed it is \
             not proven)",
            file.display()
        ),
    }
    outln!(
        "  {} decisions{}, seq {lo}..={hi}, {}",
        r.decisions,
        match r.other_entries {
            0 => String::new(),
            1 => " (and 1 other entry: a redaction)".to_owned(),
            n => format!(" (and {n} other entries: redactions)"),
        },
        span(r)
    );
    outln!(
        "  all included in the ledger of origin {} at size {} (root {})",
        r.origin.as_deref().unwrap_or("?"),
        r.size.unwrap_or(0),
        r.root.map(hex::encode).unwrap_or_default()
    );
    let whose = match r.key_source {
        KeySource::Trusted => "the key you gave",
        KeySource::Embedded => "the key inside the bundle",
    };
    outln!(
        "  signed by key {} ({whose})",
        r.key.as_deref().unwrap_or("?")
    );
    outln!("  {} payloads match their commitments", r.payloads_checked);
    for (seq, by, slots, reason, actor) in erasures(r) {
        outln!(
            "  erased: the {slots} of seq {seq}, by redaction {by} (reason {reason:?}, asked by {actor:?}); \
             the entry itself is proven"
        );
    }
    if r.key_source == KeySource::Embedded {
        eprintln!(
            "warning: no --key given: the key inside the bundle only shows that the bundle is \
             consistent with itself (exit status {EXIT_UNTRUSTED_KEY}). Pass --key (or --key-file) \
             with the verifier key the ledger's operator published to prove where the decisions \
             come from."
        );
    }
    for e in &r.entries {
        outln!("{}", proven_json(e));
    }
    Ok(())
}

/// Erasures grouped by decision and redaction: (seq, by, slots, reason, actor).
fn erasures(r: &BundleReport) -> Vec<(u64, u64, String, &str, &str)> {
    let mut out: Vec<(u64, u64, String, &str, &str)> = Vec::new();
    for e in &r.erased {
        match out.last_mut() {
            Some(last) if (last.0, last.1) == (e.seq, e.by) => {
                last.2 = format!(
                    "{} and {} payloads",
                    last.2.trim_end_matches(" payload"),
                    e.slot.name()
                );
            }
            _ => out.push((
                e.seq,
                e.by,
                format!("{} payload", e.slot.name()),
                &e.reason,
                &e.actor,
            )),
        }
    }
    out
}

fn proven_json(e: &ProvenEntry) -> Value {
    let mut v = entry_json(&e.entry);
    for (slot, bytes) in &e.payloads {
        v[slot.name()] = match bytes {
            Some(b) => {
                serde_json::from_slice(b).unwrap_or_else(|_| json!(String::from_utf8_lossy(b)))
            }
            None => json!({"erased": true}),
        };
    }
    v
}

fn report_json(r: &BundleReport, file: &Path) -> Value {
    let findings: Vec<Value> = r
        .findings
        .iter()
        .map(|f| json!({"at": f.at.to_string(), "problem": f.problem}))
        .collect();
    let erased: Vec<Value> = r
        .erased
        .iter()
        .map(|e| json!({"seq": e.seq, "slot": e.slot.name(), "by": e.by, "reason": e.reason, "actor": e.actor}))
        .collect();
    let mut v = json!({
        "status": match exit_status(r) {
            0 => "valid",
            EXIT_UNTRUSTED_KEY => "valid_untrusted_key",
            _ => "invalid",
        },
        "file": file.display().to_string(),
        "decisions": r.decisions,
        "other_entries": r.other_entries,
        "seq_range": r.seq_range.map(|(a, b)| json!([a, b])),
        "first_time": r.first_time_us.map(format_time_us),
        "last_time": r.last_time_us.map(format_time_us),
        "origin": r.origin,
        "size": r.size,
        "root": r.root.map(hex::encode),
        "key": r.key,
        "key_source": match r.key_source { KeySource::Trusted => "trusted", KeySource::Embedded => "embedded" },
        "payloads_checked": r.payloads_checked,
        "erased": erased,
        "findings": findings,
        "findings_total": r.findings_total,
    });
    if r.valid() && !r.entries.is_empty() {
        v["entries"] = r.entries.iter().map(proven_json).collect();
    }
    v
}

/// `text` with its control characters escaped (`\u{1b}`), so that text quoted
/// from an untrusted file cannot move the cursor or rewrite the line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_of_a_finding_are_escaped() {
        assert_eq!(
            super::printable("unknown field `\u{1b}[2K\rVALID: x`"),
            "unknown field `\\u{1b}[2K\\rVALID: x`"
        );
    }
}
