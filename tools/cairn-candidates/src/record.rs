//! `cairn-candidate record`: make synthetic decisions this model's own, so that a
//! replay has a known answer. Each NDJSON decision's `output` becomes the model's
//! answer to its `input` and `params`, and its top-level `decision` and `score`
//! follow the output's. Everything else is kept.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::model::{decide, Version};

/// Arguments of `cairn-candidate record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The model version whose outputs are recorded.
    #[arg(long, value_enum, default_value = "v1")]
    version: Version,
    /// Record sampled explanations too (a nondeterministic production model).
    #[arg(long)]
    noisy: bool,
    /// Read decisions from FILE (default: standard input).
    #[arg(long = "in", value_name = "FILE")]
    input: Option<PathBuf>,
    /// Write to FILE (default: standard output).
    #[arg(long = "out", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Rewrite the decisions.
pub fn run(args: RecordArgs) -> Result<()> {
    let reader: Box<dyn Read> = match &args.input {
        Some(p) => Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
        None => Box::new(std::io::stdin().lock()),
    };
    let writer: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(writer);
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.context("reading decisions")?;
        if line.trim().is_empty() {
            continue;
        }
        let mut d: Value =
            serde_json::from_str(&line).with_context(|| format!("line {}: not JSON", n + 1))?;
        let params = d.get("params").filter(|p| !p.is_null()).cloned();
        let answer = decide(args.version, args.noisy, &d["input"], params.as_ref());
        if let Some(e) = answer.get("error") {
            bail!("line {}: {e}", n + 1);
        }
        if let Some(label) = answer.get("decision") {
            d["decision"] = label.clone();
        }
        if let Some(score) = answer.get("score") {
            d["score"] = score.clone();
        }
        d["output"] = answer;
        serde_json::to_writer(&mut out, &d)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("writing decisions")?;
    Ok(())
}
