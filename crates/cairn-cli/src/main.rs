//! `cairn`: create, append to, verify and prove a Cairn ledger.

#[macro_use]
mod output;
mod append;
mod archive;
mod bundle;
mod datadir;
mod incident;
mod inspect;
mod layout;
mod redact;
mod replay;
mod verify;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// mimalloc instead of glibc malloc: appends and verify allocate a buffer per
// value read or written.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cairn: a tamper-evident flight recorder for AI model decisions.
///
/// A ledger is a directory holding a hash-chained, Merkle-tree-backed log of
/// decisions (RocksDB), its signing key and its verifier key. Create one with
/// `cairn init`, add decisions with `cairn append`, check it with `cairn verify`.
#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// The ledger directory.
    #[arg(long, global = true, env = "CAIRN_DATA", value_name = "DIR")]
    data: Option<PathBuf>,

    /// The umask of every file and directory cairn creates: ledgers, bundles,
    /// reports. The default, 077, makes them yours alone (files 0600,
    /// directories 0700); 022 lets others read what you export.
    #[arg(long, global = true, env = "CAIRN_UMASK", value_name = "OCTAL", default_value = "077", value_parser = parse_umask)]
    umask: u32,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new ledger and its Ed25519 signing key; prints the verifier key.
    ///
    /// Give the verifier key to auditors: it is how they check checkpoints
    /// without trusting this machine.
    Init(datadir::InitArgs),
    /// Append NDJSON decisions locally (no daemon); prints one receipt per line.
    ///
    /// Every line is validated before anything is stored: one bad line rejects
    /// the whole input with its line number and reason, and nothing is stored.
    /// Lines are then written in batches of --batch-size, each one atomic and
    /// fsynced before its receipts are printed.
    Append(append::AppendArgs),
    /// Check the chain, the tree, payload commitments and signed checkpoints.
    ///
    /// Exit status: 0 intact, 1 damaged (the first damaged seq and the kind of
    /// damage are reported), 2 could not check.
    Verify(verify::VerifyArgs),
    /// Sign a checkpoint for the ledger's current size, store it and print it.
    ///
    /// The stored tree must first prove a consistent extension of the last
    /// checkpoint signed: otherwise nothing is signed and the exit status is 1
    /// (the stored tree was altered; run `cairn verify`).
    Checkpoint(inspect::CheckpointArgs),
    /// Inclusion and consistency proofs for auditors.
    #[command(subcommand)]
    Prove(inspect::ProveCommand),
    /// Print one entry, its payloads (unless erased) and its receipt.
    Get(inspect::GetArgs),
    /// Erase a decision's payloads and salts, and append a redaction entry
    /// saying who and why. The chain and every proof still verify; `verify`
    /// reports the payloads as erased, not tampered.
    Redact(redact::RedactArgs),
    /// Reconstruct an incident: the decisions for a subject, request, trace,
    /// session, model version or time window, in order, with version changes marked.
    Incident(incident::IncidentArgs),
    /// Evidence bundles: export selected decisions with proofs and a signed
    /// checkpoint as one file, and verify such a file offline.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Replay recorded decisions against a candidate model and report what changes.
    ///
    /// Exit status: 0 done (every --gate passed), 2 could not run, 3 a --gate
    /// failed (the run is still recorded), 130 interrupted by Ctrl-C.
    Replay(replay::ReplayArgs),
    /// Convert a ledger stored in an older layout (version 1) to the current
    /// one. Every hash, checkpoint and proof stays valid; check the result with
    /// `cairn verify --checkpoint` against a checkpoint taken before.
    Migrate(layout::MigrateArgs),
    /// Drop and rebuild every secondary index (stream, model version, subject,
    /// session, time, request and trace id) from the entries.
    ///
    /// The indexes are derived data: queries never trust them alone (entries
    /// past the indexer's watermark are read directly), and this rebuilds them
    /// if they were damaged or lost.
    Reindex(layout::ReindexArgs),
    /// Watch a running cairnd's live monitor: per stream the breaker, and per
    /// model version the rate, label mix, mean score and p99 latency over the
    /// window, refreshed every second (--json for scripts, --once to print once).
    Watch(watch::WatchArgs),
    /// Upload the ledger's history, up to its newest signed checkpoint, to an
    /// object store (S3 or a local directory) as immutable objects laid out as
    /// schemas/archive-v1.md says: data first, then the checkpoint that covers
    /// it. Run it again to resume or to extend the archive; payloads erased
    /// since the last run are erased from the archive too.
    Archive(archive::ArchiveArgs),
    /// Rebuild a working ledger directory (indexes included) from an archive,
    /// then check it against the archive's signed checkpoints. `cairnd` can go
    /// on appending to it (given the ledger's signing key).
    Restore(archive::RestoreArgs),
}

/// An octal umask: at most three digits 0-7.
fn parse_umask(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text, 8) {
        Ok(mask) if text.len() <= 4 && mask <= 0o777 => Ok(mask),
        _ => Err(format!("{text:?} is not an octal umask such as 077 or 022")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ledger files hold decisions and personal data: RocksDB creates its files
    // 0644 less the umask, so the umask is the one place to say who reads them.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(cli.umask));
    let result = match cli.command {
        Command::Init(args) => datadir::init(cli.data, args),
        Command::Append(args) => append::run(cli.data, args),
        Command::Verify(args) => verify::run(cli.data, args),
        Command::Checkpoint(args) => inspect::checkpoint(cli.data, args),
        Command::Prove(cmd) => inspect::prove(cli.data, cmd),
        Command::Get(args) => inspect::get(cli.data, args),
        Command::Redact(args) => redact::run(cli.data, args),
        Command::Incident(args) => incident::run(cli.data, args),
        Command::Bundle(cmd) => bundle::run(cli.data, cmd),
        Command::Replay(args) => replay::run(cli.data, args),
        Command::Migrate(args) => layout::migrate(cli.data, args),
        Command::Reindex(args) => layout::reindex(cli.data, args),
        Command::Watch(args) => watch::run(args),
        Command::Archive(args) => archive::archive(cli.data, args),
        Command::Restore(args) => archive::restore(cli.data, args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // The reader of standard output went away (`| head`): say nothing
            // more, and exit as a process stopped by SIGPIPE does (128 + 13),
            // never 0: the command did not finish, and a verdict it had not
            // yet given must not read as a pass.
            if is_broken_pipe(&err) {
                return ExitCode::from(141);
            }
            eprintln!("error: {}", cairn_store::error::chain(err.as_ref()));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
