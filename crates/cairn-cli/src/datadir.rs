//! The ledger directory, as the CLI uses it (see [`cairn_store::datadir`]):
//! `ledger/` (RocksDB), `signing.key` (mode 0600) and `verifier.key`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::checkpoint::{NoteSigner, NoteVerifier};
use cairn_store::datadir;
use cairn_store::{Ledger, RocksBackend};

/// Arguments of `cairn init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The ledger's name in checkpoints, e.g. `payments.example.com/decisions`.
    /// Defaults to `cairn/` and the directory's name.
    #[arg(long)]
    origin: Option<String>,
}

/// The ledger directory, from `--data` or `CAIRN_DATA`.
pub fn data_dir(data: Option<PathBuf>) -> Result<PathBuf> {
    data.context("no ledger directory: pass --data DIR or set CAIRN_DATA")
}

/// Open the ledger for reading and appending (tail checked).
pub fn open(dir: &Path) -> Result<Ledger<RocksBackend>> {
    Ok(datadir::open(dir)?)
}

/// Open the ledger without the tail check (for `verify`).
pub fn open_unchecked(dir: &Path) -> Result<Ledger<RocksBackend>> {
    Ok(datadir::open_unchecked(dir)?)
}

/// Open the ledger read-only, without taking its lock: for reading a ledger that
/// a running `cairnd` is writing to. Sees the ledger as it was when opened.
pub fn open_read_only(dir: &Path) -> Result<Ledger<RocksBackend>> {
    Ok(datadir::open_read_only(dir)?)
}

/// The ledger's signing key.
pub fn signer(dir: &Path) -> Result<NoteSigner> {
    Ok(datadir::signer(dir)?)
}

/// A verifier key: `--key` (a key or a file holding one) or the ledger's own.
pub fn verifier(dir: &Path, key: Option<&str>) -> Result<NoteVerifier> {
    let (text, from) = match key {
        Some(k) if Path::new(k).is_file() => (
            fs::read_to_string(k).with_context(|| format!("reading {k}"))?,
            k.to_owned(),
        ),
        Some(k) => (k.to_owned(), "--key".to_owned()),
        None => return datadir::verifier(dir).context("or pass --key"),
    };
    NoteVerifier::parse(text.trim())
        .with_context(|| format!("parsing the verifier key from {from}"))
}

/// `cairn init`.
pub fn init(data: Option<PathBuf>, args: InitArgs) -> Result<ExitCode> {
    let dir = data_dir(data)?;
    let verifier = datadir::init(&dir, args.origin.as_deref())?.to_string();
    outln!(
        "created ledger {:?} in {}",
        verifier.split('+').next().unwrap_or_default(),
        dir.display()
    );
    outln!("verifier key (give this to auditors):");
    outln!("{verifier}");
    Ok(ExitCode::SUCCESS)
}
