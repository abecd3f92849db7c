//! `cairn-candidate`: example candidate models for `cairn replay`.
//!
//! By default it speaks the replay protocol's JSON lines on standard input and
//! output; with `--serve ADDR` it is an HTTP server (the bound address is the first
//! line on standard output). `cairn-candidate record` rewrites synthetic decisions
//! (from `cairn-synth`) so that their recorded outputs are this model's: then a
//! replay of v1 agrees exactly, and v2 and v3 differ in known ways.
//!
//! A few switches make a candidate misbehave on purpose, for tests and demos:
//! failing, slow or jittery answers, and a log of arrival order.

mod behaviour;
mod lines;
mod model;
mod record;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::behaviour::Behaviour;
use crate::model::Version;

/// An example model over the synthetic workload, for `cairn replay`.
#[derive(Debug, Parser)]
#[command(name = "cairn-candidate", args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rewrite synthetic decisions (NDJSON) so that their outputs, `decision` and
    /// `score` are this model's answers.
    Record(record::RecordArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The model version to serve.
    #[arg(long, value_enum, default_value = "v1")]
    version: Version,
    /// Add a sampled, nondeterministic `explanation` to every output.
    #[arg(long)]
    noisy: bool,
    /// Serve HTTP on this address (e.g. 127.0.0.1:0) instead of JSON lines on stdin/stdout.
    #[arg(long, value_name = "ADDR")]
    serve: Option<String>,
    #[command(flatten)]
    behaviour: Behaviour,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Record(args)) => record::run(args),
        None => match &cli.run.serve {
            Some(addr) => serve::run(addr, cli.run.version, cli.run.noisy, cli.run.behaviour),
            None => lines::run(cli.run.version, cli.run.noisy, &cli.run.behaviour),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-candidate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
