//! `cairn-synth`: writes a seeded, deterministic workload of realistic model
//! decisions as NDJSON, to a file or to standard output.

use std::fs::File;
use std::io::{self, ErrorKind};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_synth::{write_ndjson, SynthConfig};
use clap::Parser;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Generate synthetic model decisions (fraud scoring, support chat, pricing)
/// as NDJSON, one JSON object per line.
///
/// The output is a pure function of the options: the same seed, count, start,
/// subjects and gap always give the same bytes.
#[derive(Parser, Debug)]
#[command(name = "cairn-synth", version, about, long_about)]
struct Args {
    /// Seed of the random stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Number of decisions to generate.
    #[arg(long, short = 'n', default_value_t = 1000)]
    count: u64,

    /// Event time of the first decision, RFC 3339 (e.g. 2026-11-20T10:00:00Z).
    #[arg(long, value_parser = parse_start, default_value = "2026-11-20T10:00:00Z")]
    start: i64,

    /// Size of the subject population (cust-000000, cust-000001, ...).
    #[arg(long, default_value_t = 10_000)]
    subjects: u32,

    /// Mean gap between consecutive decisions, in microseconds (exponential);
    /// 1000 gives about 1,000 decisions per second.
    #[arg(long, default_value_t = 1000)]
    mean_gap_us: u64,

    /// Small decisions only (fraud scores and prices, about 500 bytes each),
    /// no chat completions: the workload where per-decision overhead shows most.
    #[arg(long)]
    small: bool,

    /// Write to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
fn parse_start(s: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("not RFC 3339: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
        .map_err(|_| "timestamp out of range".to_string())
}

fn run(args: Args) -> Result<()> {
    let cfg = SynthConfig {
        seed: args.seed,
        count: args.count,
        start_unix_ms: args.start,
        subjects: args.subjects,
        mean_gap_us: args.mean_gap_us,
        small: args.small,
    };
    let written = match &args.out {
        Some(path) => {
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            write_ndjson(&cfg, file).with_context(|| format!("writing {}", path.display()))
        }
        None => match write_ndjson(&cfg, io::stdout().lock()) {
            // The reader went away (e.g. `| head`): that is a normal end.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(()),
            other => other.context("writing standard output"),
        },
    }?;
    if args.out.is_some() {
        eprintln!(
            "cairn-synth: wrote {} decisions, {written} bytes",
            cfg.count
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-synth: {e:#}");
            ExitCode::FAILURE
        }
    }
}
