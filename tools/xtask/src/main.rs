//! `xtask`, run as `cargo xtask <chore>` (an alias in `.cargo/config.toml`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use xtask::peers::{self, Options};

/// cargo xtask: developer chores for the Cairn workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Side-by-side benchmark: the same synthetic workload, in one run, into
    /// cairnd over HTTP, the embedded ledger, a hash-chained PostgreSQL table
    /// (a private server started by scripts/postgres.sh) and a hash-chained
    /// JSON-lines file; every batch acknowledged only once durable.
    ///
    /// Writes peers.json and peers.svg to --out and prints a Markdown table.
    /// Stops the servers it started and removes its temporary directories,
    /// also on failure and on Ctrl-C.
    BenchPeers(BenchPeersArgs),
}

#[derive(Debug, Args)]
struct BenchPeersArgs {
    /// Decisions in the workload [default: 1000000; 20000 with --small].
    #[arg(long)]
    count: Option<u64>,
    /// Decisions per batch (one HTTP request, one COPY, one fsync).
    #[arg(long, default_value_t = 1000)]
    batch: u32,
    /// Seed of the synthetic workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent writers (connections) for cairnd and PostgreSQL; the
    /// embedded ledger and the file have one writer.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Directory for peers.json and peers.svg (a relative path is taken from the
    /// workspace root).
    #[arg(long, default_value = "benches/results")]
    out: PathBuf,
    /// Where the temporary directories go (the disk being measured)
    /// [default: the cargo target directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// The cairnd binary [default: build it with cargo, release profile].
    #[arg(long, value_name = "FILE")]
    cairnd: Option<PathBuf>,
    /// Small scale (20,000 decisions, short machine-limit loops): the mode the
    /// test suite runs.
    #[arg(long)]
    small: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BenchPeers(args) => bench_peers(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench_peers(args: BenchPeersArgs) -> Result<()> {
    let command = std::iter::once("cargo xtask".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let options = Options {
        count: args
            .count
            .unwrap_or(if args.small { 20_000 } else { 1_000_000 }),
        batch: args.batch,
        seed: args.seed,
        connections: args.connections,
        out: args.out,
        work_dir: args.work_dir,
        cairnd: args.cairnd,
        small: args.small,
        command,
    };
    let report = peers::run(&options)?;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(report.markdown().as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
