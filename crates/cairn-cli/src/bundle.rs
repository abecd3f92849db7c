//! `cairn bundle`: evidence bundles that verify offline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

/// `cairn bundle` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BundleCommand {
    /// Export selected entries with proofs, a checkpoint and the verifier key.
    Export,
    /// Verify a bundle offline.
    Verify,
}

/// `cairn bundle`.
pub fn run(_data: Option<PathBuf>, _cmd: BundleCommand) -> Result<ExitCode> {
    bail!("`cairn bundle` is not available in this build yet")
}
