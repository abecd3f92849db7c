//! The ledger directory, as the CLI uses it (see [`cairn_store::datadir`]):
//! `ledger/` (RocksDB), `signing.key` (mode 0600) and `verifier.key`. It is
//! opened through `cairn_archive::localdir`, so windows a daemon dropped once
//! archived (`cairnd --local-retention`) are read from the archive the
//! ledger names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_archive::localdir::{self, DirStore};
use cairn_core::checkpoint::{NoteSigner, NoteVerifier};
use cairn_store::datadir;
use cairn_store::Ledger;

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
pub fn open(dir: &Path) -> Result<Ledger<DirStore>> {
    Ok(localdir::open(dir)?)
}

/// Open the ledger read-only, without taking its lock: for reading a ledger that
/// a running `cairnd` is writing to. Sees the ledger as it was when opened.
pub fn open_read_only(dir: &Path) -> Result<Ledger<DirStore>> {
    Ok(localdir::open_read_only(dir)?)
}

/// The ledger's signing key.
pub fn signer(dir: &Path) -> Result<NoteSigner> {
    Ok(datadir::signer(dir)?)
}

/// The verifier key an auditor trusts: given as a key string or read from a
/// file, never guessed from which of the two a text looks like (a key string
/// contains `/`, so a file named like the real key must not stand in for it).
#[derive(Debug, Default, clap::Args)]
pub struct KeyArgs {
    /// The verifier key itself (`NAME+KEYID+BASE64`), as its operator
    /// published it. Never read as a file name: use --key-file for that.
    #[arg(long, value_name = "KEY", conflicts_with = "key_file")]
    pub key: Option<String>,
    /// A file holding the verifier key.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key the user gave, if any.
    pub fn verifier(&self) -> Result<Option<NoteVerifier>> {
        let (text, from) = match (&self.key, &self.key_file) {
            (Some(k), _) => (k.clone(), "--key".to_owned()),
            (None, Some(path)) => (
                fs::read_to_string(path)
                    .with_context(|| format!("reading the --key-file {}", path.display()))?,
                path.display().to_string(),
            ),
            (None, None) => return Ok(None),
        };
        match NoteVerifier::parse(text.trim()) {
            Ok(v) => Ok(Some(v)),
            Err(e) if self.key.is_some() && Path::new(text.trim()).exists() => {
                Err(anyhow::Error::new(e).context(
                    "--key takes the key itself, not a file name: pass a file with --key-file",
                ))
            }
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("parsing the verifier key from {from}")))
            }
        }
    }
}

/// The key the user gave, or else the ledger's own `verifier.key`.
pub fn verifier(dir: &Path, key: &KeyArgs) -> Result<NoteVerifier> {
    match key.verifier()? {
        Some(v) => Ok(v),
        None => datadir::verifier(dir).context("or pass --key or --key-file"),
    }
}

/// `cairn init`.
pub fn init(data: Option<PathBuf>, args: InitArgs) -> Result<ExitCode> {
    let dir = data_dir(data)?;
    let verifier = datadir::init(&dir, args.origin.as_deref())?.to_string();
    // The directory may have existed (empty) with wider rights than the umask gives.
    private_dir(&dir)?;
    outln!(
        "created ledger {:?} in {}",
        verifier.split('+').next().unwrap_or_default(),
        dir.display()
    );
    outln!("verifier key (give this to auditors):");
    outln!("{verifier}");
    Ok(ExitCode::SUCCESS)
}

/// Make a ledger directory `0700`: its files are only for its owner.
pub fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (mode 0700)", dir.display()))
}
