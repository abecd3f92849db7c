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
    /// Exit status: 0 valid, 1 invalid (every problem is named: which entry,
    /// payload, proof hash, checkpoint or signature), 2 could not check.
    Verify(verify::VerifyArgs),
}

/// `cairn bundle`.
pub fn run(data: Option<PathBuf>, cmd: BundleCommand) -> Result<ExitCode> {
    match cmd {
        BundleCommand::Export(args) => export::run(data, args),
        BundleCommand::Verify(args) => verify::run(args),
    }
}
