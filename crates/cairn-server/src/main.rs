//! `cairnd`: the Cairn daemon. Services send it their model decisions over
//! HTTP; it appends them to the ledger and answers with durable receipts.

use std::io::{BufRead, IsTerminal};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_server::config::LogFormat;
use cairn_server::{auth, preflight, serve, store, Daemon, Settings};
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tracing::{info, warn};

// mimalloc instead of glibc malloc: the append path allocates and frees many
// small buffers per decision, and glibc's malloc/free were ~15% of the daemon's
// CPU under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_t` of the
/// mimalloc 3 that `libmimalloc-sys` 0.1.49 bundles by default; the same in
/// its mimalloc 2).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

#[allow(unsafe_code)]
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Give freed memory back to the OS one second after it was freed, instead of
/// mimalloc's default 10 ms. Under a flood, request buffers freed by one thread
/// otherwise stay resident while the next ones are allocated; but giving every
/// freed page back at once (a delay of 0, used before) made the append path
/// fault the same pages in again for every group commit: a quarter of the
/// sequencer's CPU was page faults, zeroing and TLB shootdowns. Measured with
/// `scripts/bench-daemon.sh 1000 4 300000`, two pairs in alternation: 57 µs
/// of CPU per decision with 0, 47 µs with 1000 ms; the flood test's peak RSS
/// went from 75–84 MB to 86–88 MB (its bound is 153 MB).
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

#[allow(unsafe_code)]
fn return_freed_memory_soon() {
    // SAFETY: `mi_option_set` is mimalloc's documented way to set an option
    // at run time; it only stores the value, and the option exists (with this
    // number) in the mimalloc this binary links.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    // Transparent huge pages off for this process: mimalloc asks for them on
    // its segments, and a 2 MiB page is resident as a whole as soon as one
    // byte of it is touched. Under a flood the daemon's memory then depended on
    // which pages happened to be touched (measured: 30–50 MB of huge pages,
    // peaks of 116–139 MB against 89–91 MB without). Where the kernel does not
    // know the setting there is nothing to turn off.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// cairnd: the Cairn daemon.
///
/// Services POST decisions to /v1/decisions (one JSON object, or NDJSON for a
/// batch) and get receipts {"seq","leaf_hash"} once the decisions are durable.
/// Auditors fetch signed checkpoints and proofs from /v1/checkpoint and
/// /v1/proofs/*. Every option can also be set with its CAIRND_* variable or in
/// the TOML file given by --config (keys are the option names with `_`, e.g.
/// `body_bytes_max = 1048576`; bearer tokens go in `[[tokens]]`). The command
/// line wins over the environment, which wins over the file.
#[derive(Debug, Parser)]
#[command(
    name = "cairnd",
    version,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    /// TOML configuration file.
    #[arg(long, env = "CAIRND_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Create the ledger (signing key, verifier key, empty ledger) if the
    /// directory holds none yet.
    #[arg(long)]
    init: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the SHA-256 of a bearer token, for `sha256 = "..."` in a `[[tokens]]`
    /// table of the configuration.
    ///
    /// The token is read from standard input, which keeps it out of shell history
    /// and process lists. With --generate, a new random token is made and printed
    /// first: give it to the service; only its hash goes in the configuration.
    HashToken {
        /// Make a new random token instead of reading one.
        #[arg(long)]
        generate: bool,
    },
}

/// Blocking-pool threads per request worker.
const BLOCKING_THREADS_PER_WORKER: usize = 2;

fn main() -> ExitCode {
    return_freed_memory_soon();
    // The ledger holds decisions and personal data: every file cairnd or
    // RocksDB creates is its owner's alone (files 0600, directories 0700).
    // Published checkpoints are made readable explicitly.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let cli = Cli::try_parse().unwrap_or_else(|e| {
        let hint = from_environment(&e);
        let _ = e.print();
        if let Some(var) = hint {
            eprintln!("note: that value came from the environment variable {var}");
        }
        std::process::exit(e.exit_code());
    });
    let result = match cli.command {
        Some(Command::HashToken { generate }) => hash_token(generate),
        None => run(cli.settings, cli.config, cli.init),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cairnd: error: {}", cairn_store::error::chain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// The `CAIRND_*` variable a bad value came from, when it was not given on the
/// command line (clap names only the flag).
fn from_environment(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split_whitespace().next()?.strip_prefix("--")?;
    let given = |a: &std::ffi::OsString| {
        let a = a.to_string_lossy();
        a == format!("--{flag}") || a.starts_with(&format!("--{flag}="))
    };
    if std::env::args_os().any(|a| given(&a)) {
        return None;
    }
    let var = format!("CAIRND_{}", flag.replace('-', "_").to_uppercase());
    std::env::var_os(&var).map(|_| var)
}

fn run(cli: Settings, config_file: Option<PathBuf>, init: bool) -> Result<()> {
    let settings = match &config_file {
        Some(path) => cli.or(Settings::from_file(path)?),
        None => cli,
    };
    let config = settings.resolve()?;
    init_logging(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        // Parsing and reads run on the blocking pool. Each of its threads keeps
        // an allocator heap of its own; tokio's default of 512 threads let a
        // flood of small requests grow the pool to ~100 threads and the
        // process past 500 MB (measured), for no gain on a few cores.
        .max_blocking_threads(BLOCKING_THREADS_PER_WORKER * config.workers.max(1))
        .enable_all()
        .thread_name("cairnd")
        .build()
        .context("starting the async runtime")?;
    // The signal handlers are installed now, before the ledger is opened and
    // long before "cairnd listening": a SIGTERM sent as soon as the daemon says
    // it is ready is then always a clean drain, never the default action
    // (killing the process), which it was while the handlers were installed by
    // the first poll of the shutdown future.
    let signals = {
        let _runtime = runtime.enter();
        Signals::install().context("installing the SIGTERM and SIGINT handlers")?
    };
    // Everything that could stop the daemon is checked before --init creates
    // anything: the tokens, the TLS files, the listen address.
    preflight(&config)?;
    let listener = runtime
        .block_on(TcpListener::bind(config.listen))
        .with_context(|| format!("listening on {}", config.listen))?;
    if init && !store::exists(&config.data) {
        let verifier = store::init(&config.data, config.origin.as_deref())?;
        // It may have existed (empty) with wider rights than the umask gives.
        std::fs::set_permissions(&config.data, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (mode 0700)", config.data.display()))?;
        info!(data = %config.data.display(), verifier = %verifier, "created a new ledger; give the verifier key to auditors");
    } else if config.origin.is_some() && !init {
        warn!("--origin is only used with --init; ignored");
    }
    let daemon = Daemon::open(config)?;
    runtime.block_on(serve(listener, daemon, signals.received()))?;
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install both handlers (inside the runtime's context).
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on SIGTERM or SIGINT (also one received before it was polled).
    async fn received(mut self) {
        tokio::select! {
            _ = self.int.recv() => info!("SIGINT received"),
            _ = self.term.recv() => info!("SIGTERM received"),
        }
    }
}

fn hash_token(generate: bool) -> Result<()> {
    let token = if generate {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let token = format!("cairn_{}", hex::encode(bytes));
        println!("token:  {token}");
        token
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the token from standard input")?;
        let token = line.trim_end_matches(['\r', '\n']).to_owned();
        if token.trim().is_empty() {
            bail!("no token on standard input (or pass --generate)");
        }
        token
    };
    let hash = auth::hash_token(&token);
    if generate {
        println!("sha256: {hash}");
    } else {
        println!("{hash}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The only test of this binary that touches `CAIRND_*` variables.
    #[test]
    fn command_line_beats_environment_beats_file_beats_default() {
        std::env::set_var("CAIRND_LISTEN", "127.0.0.1:1");
        std::env::set_var("CAIRND_BODY_BYTES_MAX", "2000");
        let cli = Cli::try_parse_from(["cairnd", "--listen", "127.0.0.1:2"]).unwrap();
        std::env::remove_var("CAIRND_LISTEN");
        std::env::remove_var("CAIRND_BODY_BYTES_MAX");
        let file = Settings::from_toml(
            "data = \"/f\"\nbody_bytes_max = 3000\nline_bytes_max = 1000\nbatch_len_max = 7\n",
        )
        .unwrap();
        let config = cli.settings.or(file).resolve().unwrap();
        assert_eq!(config.listen.port(), 2, "command line over environment");
        assert_eq!(config.limits.body_bytes_max, 2000, "environment over file");
        assert_eq!(config.limits.batch_len_max, 7, "file over default");
        assert_eq!(config.data, PathBuf::from("/f"));
        assert_eq!(config.limits.request_timeout_ms, 30_000, "default");
    }
}
