//! `cairn replay`: replay recorded decisions against a candidate model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};

/// Arguments of `cairn replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {}

/// `cairn replay`.
pub fn run(_data: Option<PathBuf>, _args: ReplayArgs) -> Result<ExitCode> {
    bail!("`cairn replay` is not available in this build yet")
}
