//! `cairn incident`: reconstruct what happened, from the secondary indexes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

/// Arguments of `cairn incident`.
#[derive(Debug, clap::Args)]
pub struct IncidentArgs {}

/// `cairn incident`.
pub fn run(_data: Option<PathBuf>, _args: IncidentArgs) -> Result<ExitCode> {
    bail!("`cairn incident` is not available in this build yet")
}
