//! `cairn bundle`: evidence bundles that verify offline.
//!
//! `export` selects decisions with the same filters as `cairn incident` and
//! writes them, their payloads, an inclusion proof for each against one signed
//! checkpoint, that checkpoint and the verifier key into one file
//! (`schemas/bundle-v1.md`). `verify` checks such a file with nothing but the
//! file and, ideally, the verifier key the auditor trusts.

mod export;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

/// `cairn bundle` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    /// Export selected decisions with payloads, inclusion proofs, the newest
    /// signed checkpoint that covers them and the verifier key, as one file.
    ///
    /// Takes the same filters as `cairn incident`. Erased payloads are left
    /// out; the redaction entries that erased them go in, with their proofs.
    Export(export::ExportArgs),
    /// Verify a bundle offline: no ledger, no daemon.
    ///
    /// Give the verifier key the ledger's operator published, as --key KEY or
    /// --key-file FILE: without it the bundle can only be checked against the
    /// key it carries, which proves nothing about who signed it.
    ///
    /// Exit status: 0 valid (signed by the key you gave), 1 invalid (every
    /// problem is named: which entry, payload, proof hash, checkpoint or
    /// signature), 2 could not check, 3 valid only against the key inside the
    /// bundle (no key given).
    Verify(verify::VerifyArgs),
}

/// `cairn bundle`.
pub fn run(data: Option<PathBuf>, cmd: BundleCommand) -> Result<ExitCode> {
    match cmd {
        BundleCommand::Export(args) => export::run(data, args),
        BundleCommand::Verify(args) => verify::run(args),
    }
}
