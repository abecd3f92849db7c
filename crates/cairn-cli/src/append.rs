//! `cairn append`: validate NDJSON decisions, then append them in atomic batches.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use cairn_core::decision::DecisionInput;
use cairn_store::Append;
use cairn_store::Backend as _;
use rayon::prelude::*;

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

/// Lines parsed on the pool at a time while validating.
const VALIDATE_CHUNK_LINES: usize = 4096;

/// Numbered non-blank lines of the input.
type Lines = Vec<(u64, Vec<u8>)>;

/// The next `max` non-blank lines of `reader` (fewer at the end, none after
/// it), numbered on from `number`, reading no line past line `last`.
fn read_chunk(reader: &mut dyn BufRead, number: &mut u64, max: usize, last: u64) -> Result<Lines> {
    let mut out = Vec::with_capacity(max.min(VALIDATE_CHUNK_LINES));
    while out.len() < max && *number < last {
        let mut buf = Vec::new();
        if reader
            .read_until(b'\n', &mut buf)
            .context("reading the input")?
            == 0
        {
            break;
        }
        *number += 1;
        if !buf.iter().all(u8::is_ascii_whitespace) {
            out.push((*number, buf));
        }
    }
    Ok(out)
}

/// Parse a batch of lines, in parallel, in order; the ledger salts them.
fn prepare(lines: &Lines) -> Result<Vec<Append>> {
    lines
        .par_iter()
        .map(|(n, line)| {
            let decision = DecisionInput::parse(line)
                .with_context(|| format!("line {n} changed while appending"))?;
            Ok(Append::Unsalted(decision.unsalted()))
        })
        .collect()
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

    // Pass 1: validate everything, so that a bad line stores nothing (on
    // every core: parsing is most of the work).
    let started = Instant::now();
    let mut bad = Vec::new();
    let mut good = 0u64;
    let mut reader = source.lines()?;
    let mut number = 0u64;
    loop {
        let chunk = read_chunk(&mut *reader, &mut number, VALIDATE_CHUNK_LINES, u64::MAX)?;
        if chunk.is_empty() {
            break;
        }
        let errors: Vec<_> = chunk
            .par_iter()
            .filter_map(|(n, line)| DecisionInput::parse(line).err().map(|e| (*n, e)))
            .collect();
        good += (chunk.len() - errors.len()) as u64;
        bad.extend(errors);
    }
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
    let validated = started.elapsed();
    let progress = output::progress(good, "appending");
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut stored = 0u64;
    let mut flush = |batch: Vec<Append>, out: &mut dyn Write| -> Result<()> {
        let n = batch.len() as u64;
        let receipts = ledger.append(batch, output::now_us()).with_context(|| {
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
    // Each batch is parsed and salted on the pool while the one before it is
    // appended. (Indexing beside them was tried: both cores are already busy,
    // so it only moved the time.) Only the lines the first pass validated are
    // read again: a file that grows meanwhile adds nothing.
    let (batch_lines, validated_lines) = (args.batch_size as usize, number);
    let mut reader = source.lines()?;
    let mut number = 0u64;
    let mut done = 0u64;
    let mut ready = prepare(&read_chunk(
        &mut *reader,
        &mut number,
        batch_lines,
        validated_lines,
    )?)?;
    while !ready.is_empty() {
        let chunk = read_chunk(&mut *reader, &mut number, batch_lines, validated_lines)?;
        let n = ready.len() as u64;
        let (next, appended) = std::thread::scope(|s| {
            let parsing = s.spawn(|| prepare(&chunk));
            let appended = flush(std::mem::take(&mut ready), &mut out);
            (parsing.join(), appended)
        });
        appended?;
        done += n;
        ready = next
            .map_err(|_| anyhow::anyhow!("parsing the input failed unexpectedly"))?
            .with_context(|| {
                format!("{done} decisions were stored durably before this; the rest were not")
            })?;
    }
    out.flush()?;
    progress.finish_and_clear();
    if done != good {
        // The input lost lines between the passes (a file cut short).
        anyhow::bail!(
            "the input changed while appending: {good} decisions were validated but only {done} \
             were read again and stored durably"
        );
    }
    let stored_at = started.elapsed();
    // The indexes are derived data, built after the appends (queries read any
    // unindexed tail directly, so this only makes them fast).
    ledger
        .index_all()
        .context("indexing the appended decisions")?;
    // Everything is already durable in the WAL; flushing to tables keeps reopening fast.
    ledger.backend().flush()?;
    if args.quiet {
        let total = started.elapsed();
        eprintln!(
            "appended {good} decisions in {:.1} s ({:.0}/s): validated in {:.1} s, stored in {:.1} s, indexed in {:.1} s",
            total.as_secs_f64(),
            good as f64 / total.as_secs_f64().max(1e-9),
            validated.as_secs_f64(),
            (stored_at - validated).as_secs_f64(),
            (total - stored_at).as_secs_f64(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunks_number_every_line_skip_blank_ones_and_stop_at_the_last_line_given() {
        let text = b"a\n\n b \nc\nd\ne";
        let mut reader = io::Cursor::new(&text[..]);
        let mut number = 0;
        let first = read_chunk(&mut reader, &mut number, 2, u64::MAX).unwrap();
        assert_eq!(first, [(1, b"a\n".to_vec()), (3, b" b \n".to_vec())]);
        // Lines past the fifth (as the first pass saw the input) are not read,
        // even though the input now holds more.
        let rest = read_chunk(&mut reader, &mut number, 10, 5).unwrap();
        assert_eq!(rest, [(4, b"c\n".to_vec()), (5, b"d\n".to_vec())]);
        assert_eq!(number, 5);
        assert!(read_chunk(&mut reader, &mut number, 10, 5)
            .unwrap()
            .is_empty());
    }
}
