//! `cairn-load`: drives a running `cairnd` with the synthetic workload and
//! reports what it sustained; then checks that every receipt it got is in the
//! ledger with the same leaf hash.
//!
//! Code map: [`workload`] (request bodies, made before the run), [`drive`] (the
//! timed run), [`http`] (one keep-alive connection), [`receipts`] (receipts
//! and receipts files), [`check`] (online and offline receipt checks),
//! [`report`] (the numbers).

mod check;
mod drive;
mod http;
mod receipts;
mod report;
mod workload;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::check::CheckReport;
use crate::http::Target;
use crate::report::{Report, RunInfo};

/// cairn-load: drive a running cairnd with synthetic decisions.
///
/// The decisions (from cairn-synth's workload) are generated before the run.
/// Each of --connections keep-alive connections then sends request after
/// request: one JSON decision each with --batch 1, NDJSON batches otherwise.
/// Reports throughput of acknowledged decisions, ack latency per request
/// (p50/p99/p999) and rejects by status. Afterwards, unless --no-check, every
/// receipt (or a sample, --check-sample N) is fetched back from
/// GET /v1/entries/{seq} and compared with the ledger's leaf hash.
///
/// `cairn-load check --data DIR --receipts FILE` checks a receipts file against
/// a stopped daemon's ledger directory instead.
///
/// Exit status: 0 when every receipt checked matches, 1 when one is missing or
/// different, 2 when the run or check could not be made (including a daemon
/// that went away during the run).
#[derive(Debug, Parser)]
#[command(
    name = "cairn-load",
    version,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Base URL of the daemon, e.g. http://127.0.0.1:7070.
    #[arg(long, required = true)]
    url: Option<String>,
    /// Bearer token (needs write rights to the workload's streams, and the read
    /// right for the check).
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Decisions to send [default: 100000 unless --duration].
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Send for this many seconds instead, cycling through --pool decisions
    /// (decisions with an idempotency key are answered as duplicates the
    /// second time round).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Target decisions per second [default: flat out].
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// Concurrent keep-alive connections.
    #[arg(long, value_name = "C", default_value_t = 4)]
    connections: usize,
    /// Decisions per request: 1 sends single JSON decisions, more NDJSON batches.
    #[arg(long, value_name = "B", default_value_t = 100)]
    batch: u32,
    /// Seed of the synthetic workload (and of the check's sample).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Decisions generated for a --duration run.
    #[arg(long, default_value_t = 100_000)]
    pool: u64,
    /// Longest wait for one answer, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Write every receipt received, one JSON object per line, to FILE.
    #[arg(long, value_name = "FILE")]
    receipts: Option<PathBuf>,
    /// Do not fetch receipts back after the run.
    #[arg(long)]
    no_check: bool,
    /// Fetch back only N receipts, chosen at random with --seed, instead of
    /// every one (quicker after a long run).
    #[arg(long, value_name = "N", conflicts_with = "no_check")]
    check_sample: Option<usize>,
    /// Every receipt is checked by default now; kept so that older scripts run.
    #[arg(long, hide = true, conflicts_with_all = ["no_check", "check_sample"])]
    check_all: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check receipts files against a stopped daemon's ledger directory: every
    /// receipt's seq must hold an entry with that leaf hash.
    Check {
        /// The ledger directory (as given to cairnd --data).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Receipts files written by --receipts.
        #[arg(long, value_name = "FILE", required = true, num_args = 1..)]
        receipts: Vec<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Check {
            data,
            receipts,
            json,
        }) => check_offline(&data, &receipts, json),
        None => run(cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cairn-load: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Print to stdout; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn verdict(check: Option<&CheckReport>) -> ExitCode {
    match check {
        Some(c) if !c.all_match() => ExitCode::from(1),
        Some(c) if c.errors > 0 => ExitCode::from(2),
        _ => ExitCode::SUCCESS,
    }
}

fn check_offline(data: &std::path::Path, files: &[PathBuf], json: bool) -> Result<ExitCode> {
    let receipts = receipts::read(files)?;
    let report = check::offline(data, &receipts)?;
    if json {
        emit(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        let mut s = format!("cairn-load check: {}\n", data.display());
        report::write_check(&mut s, &report);
        emit(&s)?;
    }
    Ok(verdict(Some(&report)))
}

fn plan(args: &RunArgs, target: Target) -> Result<(drive::Plan, u64)> {
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if args.connections == 0 || args.connections > 4096 {
        bail!("--connections must be between 1 and 4096");
    }
    if let Some(r) = args.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        bail!("--rate {r}: must be a positive number of decisions per second");
    }
    let duration = match args.duration {
        Some(s) if !(s.is_finite() && s > 0.0) => bail!("--duration {s}: must be positive"),
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let generate = match (args.count, duration, args.rate) {
        (Some(n), _, _) => n,
        (None, Some(d), Some(r)) => ((d.as_secs_f64() * r).ceil() as u64).clamp(1, args.pool),
        (None, Some(_), None) => args.pool,
        (None, None, _) => 100_000,
    };
    if generate == 0 {
        bail!("nothing to send: --count 0");
    }
    let plan = drive::Plan {
        target,
        connections: args.connections,
        requests: match duration {
            Some(_) => None,
            None => Some(generate.div_ceil(u64::from(args.batch))),
        },
        duration,
        rate: args.rate,
        batch: args.batch,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
    };
    Ok((plan, generate))
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let url = args.url.clone().context("--url is required")?;
    let target = Target::parse(&url, args.token.as_deref())?;
    let (plan, count) = plan(&args, target.clone())?;
    let started = Instant::now();
    let workload = workload::generate(args.seed, count, args.batch);
    let generate_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "cairn-load: generated {} decisions ({:.1} MiB) in {generate_seconds:.2} s; sending to {url}",
        workload.decisions,
        workload.bytes as f64 / f64::from(1u32 << 20)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let info = RunInfo {
        url,
        connections: plan.connections,
        batch: plan.batch,
        rate: plan.rate,
        seed: args.seed,
        generated: workload.decisions,
        generate_seconds,
    };
    let timeout = plan.timeout;
    let mut outcome = runtime.block_on(drive::run(plan, workload));
    let mut report = Report::new(info, &mut outcome);
    let got = &outcome.tally.receipts;
    if let Some(path) = &args.receipts {
        receipts::write(path, got)?;
    }
    if outcome.daemon_gone && !args.no_check {
        eprintln!(
            "cairn-load: not checking receipts against a daemon that went away; check them \
             offline with `cairn-load check --data DIR --receipts FILE` (see --receipts)"
        );
    } else if !args.no_check && !got.is_empty() {
        let distinct: std::collections::BTreeSet<u64> = got.iter().map(|r| r.seq).collect();
        let checking = args
            .check_sample
            .map_or(distinct.len(), |n| n.min(distinct.len()));
        eprintln!(
            "cairn-load: checking {checking} receipts against {}",
            target.authority
        );
        report.check = Some(runtime.block_on(check::online(
            &target,
            got,
            args.check_sample,
            args.seed,
            args.connections.min(16),
            timeout,
        )));
    }
    if args.json {
        emit(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        emit(&report.text())?;
    }
    if outcome.daemon_gone {
        eprintln!("cairn-load: the daemon could not be reached any more; the run stopped early");
        if verdict(report.check.as_ref()) == ExitCode::SUCCESS {
            return Ok(ExitCode::from(2));
        }
    }
    Ok(verdict(report.check.as_ref()))
}
