//! `cairn append`: validate NDJSON decisions, then append them in atomic batches.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::decision::{DecisionInput, SALT_LEN};
use cairn_store::Append;
use cairn_store::Backend as _;

use crate::datadir;
use crate::output;

/// Arguments of `cairn append`.
#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// NDJSON file of decisions, one JSON object per line; `-` for standard input.
    #[arg(default_value = "-")]
    input: String,
    /// Decisions per atomic, fsynced write.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch_size: u64,
    /// Print no receipts, only a summary on standard error.
    #[arg(long)]
    quiet: bool,
    /// How payload bundles are stored: `zstd` (default) or `none`
    /// (uncompressed, e.g. to check with `grep` that an erased payload is gone).
    #[arg(long, default_value = "zstd", value_parser = ["zstd", "none"])]
    payload_compression: String,
}

/// Most bad lines listed when an input is rejected.
const BAD_LINES_SHOWN: usize = 20;

enum Source {
    File(PathBuf),
    Memory(Vec<u8>),
}

impl Source {
    fn lines(&self) -> Result<Box<dyn BufRead + '_>> {
        Ok(match self {
            Source::File(p) => Box::new(BufReader::with_capacity(
                1 << 20,
                File::open(p).with_context(|| format!("opening {}", p.display()))?,
            )),
            Source::Memory(b) => Box::new(io::Cursor::new(b.as_slice())),
        })
    }
}

/// Call `f(line_number, line)` for every non-blank line.
fn each_line(source: &Source, mut f: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let mut reader = source.lines()?;
    let mut buf = Vec::with_capacity(4096);
    let mut number = 0u64;
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .context("reading the input")?
            == 0
        {
            return Ok(());
        }
        number += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        f(number, &buf)?;
    }
}

/// `cairn append`.
pub fn run(data: Option<PathBuf>, args: AppendArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let mut ledger = datadir::open(&dir)?;
    if args.payload_compression == "none" {
        ledger.set_compression(Some(cairn_store::ledger::BUNDLE_LEVEL), None);
    }
    let source = if args.input == "-" {
        let mut buf = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Source::Memory(buf)
    } else {
        Source::File(PathBuf::from(&args.input))
    };

    // Pass 1: validate everything, so that a bad line stores nothing.
    let mut bad = Vec::new();
    let mut good = 0u64;
    each_line(&source, |n, line| {
        match DecisionInput::parse(line) {
            Ok(_) => good += 1,
            Err(e) => bad.push((n, e)),
        }
        Ok(())
    })?;
    if !bad.is_empty() {
        eprintln!(
            "error: rejected the input: {} bad line(s) of {}; nothing was stored",
            bad.len(),
            good + bad.len() as u64
        );
        for (n, e) in bad.iter().take(BAD_LINES_SHOWN) {
            eprintln!("  line {n}: {e}");
        }
        if bad.len() > BAD_LINES_SHOWN {
            eprintln!("  ... and {} more", bad.len() - BAD_LINES_SHOWN);
        }
        return Ok(ExitCode::from(1));
    }

    // Pass 2: append in batches.
    let progress = output::progress(good, "appending");
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut batch = Vec::with_capacity(args.batch_size as usize);
    let mut stored = 0u64;
    let mut flush = |batch: &mut Vec<Append>, out: &mut dyn Write| -> Result<()> {
        let n = batch.len() as u64;
        let receipts = ledger
            .append(std::mem::take(batch), output::now_us())
            .with_context(|| {
                format!("appending failed after {stored} decisions were stored durably")
            })?;
        for r in receipts {
            if !args.quiet {
                writeln!(out, "{}", output::receipt_json(&r))?;
            }
        }
        stored += n;
        progress.inc(n);
        Ok(())
    };
    each_line(&source, |_, line| {
        let decision = DecisionInput::parse(line).context("the input changed while appending")?;
        let mut salts = [0u8; 2 * SALT_LEN];
        getrandom::fill(&mut salts).map_err(|e| anyhow::anyhow!("no randomness for salts: {e}"))?;
        let (a, b) = salts.split_at(SALT_LEN);
        let prepared = decision.prepare(a.try_into()?, b.try_into()?);
        batch.push(Append::Decision(prepared));
        if batch.len() as u64 >= args.batch_size {
            flush(&mut batch, &mut out)?;
        }
        Ok(())
    })?;
    if !batch.is_empty() {
        flush(&mut batch, &mut out)?;
    }
    out.flush()?;
    progress.finish_and_clear();
    // The indexes are derived data, built after the appends (queries read any
    // unindexed tail directly, so this only makes them fast).
    ledger
        .index_all()
        .context("indexing the appended decisions")?;
    // Everything is already durable in the WAL; flushing to tables keeps reopening fast.
    ledger.backend().flush()?;
    if args.quiet {
        eprintln!("appended {good} decisions");
    }
    Ok(ExitCode::SUCCESS)
}
