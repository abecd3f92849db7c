//! `cairn checkpoint`, `cairn prove`, `cairn get`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_core::checkpoint::Checkpoint;
use cairn_core::entry::PayloadSlot;
use cairn_core::hash::{Blake3Hasher, Hash};
use cairn_core::merkle;
use cairn_core::render::entry_json;
use cairn_core::signing::{check_extends, LastSigned, NextTree};
use cairn_store::Backend as _;
use serde_json::{json, Value};

use crate::datadir;

/// Arguments of `cairn checkpoint`.
#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// Also write the note to this file (e.g. somewhere auditors can fetch it).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `cairn prove` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ProveCommand {
    /// Prove that entry SEQ is in the tree of SIZE entries.
    Inclusion {
        /// The entry.
        #[arg(long)]
        seq: u64,
        /// The tree size (default: the ledger's size).
        #[arg(long)]
        size: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Prove that the tree of FROM entries is a prefix of the tree of TO entries.
    Consistency {
        /// The older tree size.
        #[arg(long)]
        from: u64,
        /// The newer tree size (default: the ledger's size).
        #[arg(long)]
        to: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `cairn get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The entry.
    #[arg(long)]
    seq: u64,
    /// Print JSON (the default output is JSON too, pretty-printed).
    #[arg(long)]
    json: bool,
}

/// `cairn checkpoint`.
pub fn checkpoint(data: Option<PathBuf>, args: CheckpointArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open(&dir)?;
    let signer = datadir::signer(&dir)?;
    let size = ledger.size();
    let cp = Checkpoint {
        origin: ledger.origin().to_owned(),
        size,
        root: ledger.root_at(size)?,
        extensions: vec![],
    };
    // Never sign a tree that contradicts what was signed before.
    if let Some((last_size, last_note)) = ledger.latest_checkpoint()? {
        let proof = ledger.consistency_proof(last_size.min(size), size)?;
        let last = LastSigned {
            size: last_size,
            note: &last_note,
        };
        let next = NextTree {
            origin: ledger.origin(),
            size,
            root: &cp.root,
            proof: &proof,
        };
        if let Err(refused) = check_extends(last, &signer.verifier(), next) {
            eprintln!("error: refusing to sign a checkpoint: {refused}");
            return Ok(ExitCode::from(1));
        }
    }
    let note = signer.sign_checkpoint(&cp);
    ledger.put_checkpoint(cp.size, &note)?;
    ledger.backend().flush()?;
    if let Some(out) = &args.out {
        std::fs::write(out, &note).with_context(|| format!("writing {}", out.display()))?;
    }
    out!("{note}");
    Ok(ExitCode::SUCCESS)
}

fn hexes(proof: &[Hash]) -> Vec<String> {
    proof.iter().map(hex::encode).collect()
}

/// `cairn prove`.
pub fn prove(data: Option<PathBuf>, cmd: ProveCommand) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open_read_only(&dir)?;
    let (value, json_out) = match cmd {
        ProveCommand::Inclusion { seq, size, json } => {
            let size = size.unwrap_or(ledger.size());
            if seq >= size {
                bail!("seq {seq} is not in a tree of {size} entries");
            }
            let proof = ledger.inclusion_proof(seq, size)?;
            let root = ledger.root_at(size)?;
            let leaf = ledger.entry(seq).map(|e| e.leaf_hash())?;
            // Check our own answer before handing it to an auditor.
            merkle::verify_inclusion(&Blake3Hasher, seq, size, &leaf, &proof, &root)
                .context("the ledger produced a proof that does not verify; run `cairn verify`")?;
            let v = json!({"seq": seq, "size": size, "leaf_hash": hex::encode(leaf),
                           "root": hex::encode(root), "proof": hexes(&proof)});
            (v, json)
        }
        ProveCommand::Consistency { from, to, json } => {
            let to = to.unwrap_or(ledger.size());
            if from > to {
                bail!("--from {from} is larger than --to {to}");
            }
            let proof = ledger.consistency_proof(from, to)?;
            let (old, new) = (ledger.root_at(from)?, ledger.root_at(to)?);
            merkle::verify_consistency(&Blake3Hasher, from, to, &old, &new, &proof)
                .context("the ledger produced a proof that does not verify; run `cairn verify`")?;
            let v = json!({"from": from, "to": to, "from_root": hex::encode(old),
                           "to_root": hex::encode(new), "proof": hexes(&proof)});
            (v, json)
        }
    };
    if json_out {
        outln!("{value}");
    } else {
        print_proof(&value)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_proof(v: &Value) -> Result<()> {
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            match val {
                Value::Array(items) => {
                    outln!("{k:<10} ({} hashes)", items.len());
                    for item in items {
                        outln!("  {}", item.as_str().unwrap_or_default());
                    }
                }
                Value::String(s) => outln!("{k:<10} {s}"),
                other => outln!("{k:<10} {other}"),
            }
        }
    }
    Ok(())
}

/// `cairn get`.
pub fn get(data: Option<PathBuf>, args: GetArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open_read_only(&dir)?;
    let entry = ledger.entry(args.seq)?;
    let mut v = entry_json(&entry);
    if entry.kind() == "decision" {
        for slot in PayloadSlot::ALL {
            v[slot.name()] = ledger
                .payload_state(args.seq, slot)?
                .into_json(args.seq, slot)
                .map_err(anyhow::Error::msg)?;
        }
    }
    v["receipt"] = json!({"seq": args.seq, "leaf_hash": hex::encode(entry.leaf_hash())});
    if args.json {
        outln!("{v}");
    } else {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}
