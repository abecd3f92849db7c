//! The ledger directory: `ledger/` (RocksDB), `signing.key` (mode 0600) and
//! `verifier.key`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_core::checkpoint::{NoteSigner, NoteVerifier};
use cairn_store::{Ledger, RocksBackend};

/// Arguments of `cairn init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The ledger's name in checkpoints, e.g. `payments.example.com/decisions`.
    /// Defaults to `cairn/` and the directory's name.
    #[arg(long)]
    origin: Option<String>,
}

const DB_DIR: &str = "ledger";
const SIGNING_KEY: &str = "signing.key";
const VERIFIER_KEY: &str = "verifier.key";

/// The ledger directory, from `--data` or `CAIRN_DATA`.
pub fn data_dir(data: Option<PathBuf>) -> Result<PathBuf> {
    data.context("no ledger directory: pass --data DIR or set CAIRN_DATA")
}

/// Open the ledger for reading and appending (tail checked).
pub fn open(dir: &Path) -> Result<Ledger<RocksBackend>> {
    let backend = open_backend(dir)?;
    Ledger::open(backend).with_context(|| format!("opening the ledger in {}", dir.display()))
}

/// Open the ledger without the tail check (for `verify`).
pub fn open_unchecked(dir: &Path) -> Result<Ledger<RocksBackend>> {
    let backend = open_backend(dir)?;
    Ledger::open_unchecked(backend)
        .with_context(|| format!("opening the ledger in {}", dir.display()))
}

/// Open the ledger read-only, without taking its lock: for reading a ledger that
/// a running `cairnd` is writing to. Sees the ledger as it was when opened.
pub fn open_read_only(dir: &Path) -> Result<Ledger<RocksBackend>> {
    let db = db_path(dir)?;
    let backend = RocksBackend::open_read_only(&db)
        .with_context(|| format!("opening {} read-only", db.display()))?;
    Ledger::open_unchecked(backend)
        .with_context(|| format!("opening the ledger in {}", dir.display()))
}

fn db_path(dir: &Path) -> Result<PathBuf> {
    let db = dir.join(DB_DIR);
    if !db.exists() {
        bail!(
            "no ledger in {}: create one with `cairn init --data {}`",
            dir.display(),
            dir.display()
        );
    }
    Ok(db)
}

fn open_backend(dir: &Path) -> Result<RocksBackend> {
    let db = db_path(dir)?;
    RocksBackend::open(&db).with_context(|| format!("opening {}", db.display()))
}

/// The ledger's signing key.
pub fn signer(dir: &Path) -> Result<NoteSigner> {
    let path = dir.join(SIGNING_KEY);
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    NoteSigner::parse(text.trim()).with_context(|| format!("parsing {}", path.display()))
}

/// A verifier key: `--key` (a key or a file holding one) or the ledger's own.
pub fn verifier(dir: &Path, key: Option<&str>) -> Result<NoteVerifier> {
    let (text, from) = match key {
        Some(k) if Path::new(k).is_file() => (
            fs::read_to_string(k).with_context(|| format!("reading {k}"))?,
            k.to_owned(),
        ),
        Some(k) => (k.to_owned(), "--key".to_owned()),
        None => {
            let path = dir.join(VERIFIER_KEY);
            let text = fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading the verifier key {} (or pass --key)",
                    path.display()
                )
            })?;
            (text, path.display().to_string())
        }
    };
    NoteVerifier::parse(text.trim())
        .with_context(|| format!("parsing the verifier key from {from}"))
}

/// `cairn init`.
pub fn init(data: Option<PathBuf>, args: InitArgs) -> Result<ExitCode> {
    let dir = data_dir(data)?;
    if dir.join(DB_DIR).exists() {
        bail!("a ledger already exists in {}", dir.display());
    }
    let origin = match args.origin {
        Some(o) => o,
        None => default_origin(&dir)?,
    };
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for the key: {e}"))?;
    let signer = NoteSigner::new(&origin, &seed)
        .with_context(|| format!("the origin {origin:?} cannot name a key"))?;
    write_new(&dir.join(SIGNING_KEY), &signer.to_string(), 0o600)?;
    let verifier = signer.verifier().to_string();
    write_new(&dir.join(VERIFIER_KEY), &format!("{verifier}\n"), 0o644)?;
    let backend = RocksBackend::create(&dir.join(DB_DIR))?;
    let ledger = Ledger::create(backend, &origin)?;
    outln!("created ledger {:?} in {}", ledger.origin(), dir.display());
    outln!("verifier key (give this to auditors):");
    outln!("{verifier}");
    Ok(ExitCode::SUCCESS)
}

fn default_origin(dir: &Path) -> Result<String> {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name = abs
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace) && !n.contains('+'))
        .context("cannot derive an origin from the directory name: pass --origin")?;
    Ok(format!("cairn/{name}"))
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}
