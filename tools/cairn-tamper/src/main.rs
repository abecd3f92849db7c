//! `cairn-tamper`: damage a ledger the way an attacker with disk access would,
//! going below the ledger's API to its stored values. For demos and tests only.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cairn_core::entry::PayloadSlot;
use cairn_store::keys;
use cairn_store::pieces::Slot;
use cairn_store::{tamper, Backend, Cf, Ledger, RocksBackend, WriteBatch};
use clap::{Parser, Subcommand};

/// Damage a ledger below its API (for demonstrations and tests).
#[derive(Debug, Parser)]
struct Cli {
    /// The ledger directory (as given to `cairn --data`).
    #[arg(long)]
    data: PathBuf,
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Flip one bit of byte BYTE of entry SEQ's canonical bytes.
    Entry {
        #[arg(long)]
        seq: u64,
        #[arg(long, default_value_t = 60)]
        byte: usize,
    },
    /// Delete entry SEQ.
    Delete {
        #[arg(long)]
        seq: u64,
    },
    /// Swap entries A and B (both in one bundle of 256).
    Swap {
        #[arg(long)]
        a: u64,
        #[arg(long)]
        b: u64,
    },
    /// Replace the output payload of SEQ (keeping its salt).
    Payload {
        #[arg(long)]
        seq: u64,
    },
    /// Cut the ledger back to SIZE entries, removing their tree nodes and any
    /// checkpoint past SIZE, as if the later history never happened.
    Truncate {
        #[arg(long)]
        size: u64,
    },
    /// Rewrite the ledger's recorded origin.
    Origin {
        #[arg(long)]
        to: String,
    },
    /// Rewrite the ledger's recorded size (the entries stay where they are).
    Size {
        #[arg(long)]
        to: u64,
    },
    /// Replace the signature bytes of the checkpoint stored at SIZE.
    ForgeCheckpoint {
        #[arg(long)]
        size: u64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let backend = RocksBackend::open(&cli.data.join("ledger")).context("opening the ledger")?;
    let ledger = Ledger::open_unchecked(backend)?;
    match cli.what {
        What::Entry { seq, byte } => {
            let mut bytes = ledger.entry_bytes(seq)?.context("no such entry")?;
            let at = byte.min(bytes.len() - 1);
            bytes[at] ^= 1;
            tamper::set_entry(&ledger, seq, bytes)?;
        }
        What::Delete { seq } => tamper::delete_entry(&ledger, seq)?,
        What::Swap { a, b } => tamper::swap_entries(&ledger, a, b)?,
        What::Payload { seq } => {
            let p = ledger
                .payload(seq, PayloadSlot::Output)?
                .context("no such payload")?;
            let raw = [&p.salt[..], br#"{"decision":"approve","score":0.01}"#].concat();
            tamper::set_payload(&ledger, seq, PayloadSlot::Output, Slot::Stored(raw))?;
        }
        What::Truncate { size } => {
            if size > ledger.size() {
                bail!("the ledger has only {} entries", ledger.size());
            }
            tamper::truncate(&ledger, size)?;
        }
        What::Origin { to } => tamper::set_origin(&ledger, &to)?,
        What::Size { to } => tamper::set_size(&ledger, to)?,
        What::ForgeCheckpoint { size } => {
            let note = ledger
                .backend()
                .get(Cf::Checkpoints, &keys::seq_key(size))?
                .context("no checkpoint at that size")?;
            let mut note = String::from_utf8(note)?;
            // Replace the last base64 character before the final newline.
            let at = note.len() - 2;
            let c = if &note[at..at + 1] == "A" { "B" } else { "A" };
            note.replace_range(at..at + 1, c);
            let mut batch = WriteBatch::default();
            batch.put(Cf::Checkpoints, keys::seq_key(size), note);
            ledger.backend().write(batch)?;
        }
    }
    Ok(())
}
