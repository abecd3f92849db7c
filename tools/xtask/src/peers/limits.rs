//! The machine's limits on the run's own data, so that every figure can be
//! read against what the hardware allows: BLAKE3 and SHA-256 hashing, zstd
//! (level 3) in bulk and per record with a trained dictionary, and the disk's
//! fsync rate for small appends and for appends of one batch. One thread each.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::workload::{lines, Workload};

/// zstd level used throughout.
pub const ZSTD_LEVEL: i32 = 3;
/// Records the dictionary is trained on (as the ledger does).
const DICT_SAMPLES: usize = 4096;
/// Size of the trained dictionary (as the ledger's).
const DICT_BYTES: usize = 110 * 1024;
/// Bytes of the small fsync probe.
const SMALL_WRITE_BYTES: usize = 4096;
/// Most bytes one fsync probe appends.
const PROBE_BYTES_MAX: u64 = 1 << 30;

/// How much data and time the measurements take.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most NDJSON bytes the CPU measurements run over.
    pub sample_bytes_max: u64,
    /// How long each fsync probe runs.
    pub fsync_for: Duration,
}

/// A zstd measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Zstd {
    /// Compressed size / raw size.
    pub ratio: f64,
    /// MB of raw data compressed per second.
    pub compress_mb_per_s: f64,
    /// MB of raw data decompressed per second.
    pub decompress_mb_per_s: f64,
}

/// An fsync measurement: append `write_bytes`, `fdatasync`, again.
#[derive(Debug, Clone, Serialize)]
pub struct Fsync {
    /// Bytes appended before each fdatasync.
    pub write_bytes: u64,
    /// Appends + fdatasyncs per second.
    pub per_s: f64,
    /// Mean time of one, ms.
    pub mean_ms: f64,
    /// MB per second appended.
    pub mb_per_s: f64,
}

/// Everything measured. MB are 10^6 bytes; rates are single-threaded.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// NDJSON bytes the CPU measurements ran over.
    pub sample_bytes: u64,
    /// Records in that sample.
    pub sample_records: u64,
    /// BLAKE3 of each record alone, MB/s.
    pub blake3_per_record_mb_per_s: f64,
    /// BLAKE3 of each batch as one input (SIMD across chunks), MB/s.
    pub blake3_bulk_mb_per_s: f64,
    /// SHA-256 of each record alone (PostgreSQL's chain hash), MB/s.
    pub sha256_per_record_mb_per_s: f64,
    /// zstd of each batch as one frame.
    pub zstd_bulk: Zstd,
    /// zstd of each record alone with a dictionary trained on the first records.
    pub zstd_per_record_dict: Zstd,
    /// Small appends.
    pub fsync_small: Fsync,
    /// Appends of one average batch of NDJSON.
    pub fsync_batch: Fsync,
}

/// Measure on `w`'s data; the fsync probes write in `dir`.
pub fn measure(w: &Workload, dir: &Path, budget: Budget) -> Result<Limits> {
    let mut sample = Vec::new();
    let mut sample_bytes = 0u64;
    for b in &w.batches {
        if sample_bytes >= budget.sample_bytes_max {
            break;
        }
        sample_bytes += b.len() as u64;
        sample.push(b.as_ref());
    }
    let records: Vec<&[u8]> = sample.iter().flat_map(|b| lines(b)).collect();
    let record_bytes: u64 = records.iter().map(|r| r.len() as u64).sum();
    let blake3_record = rate(record_bytes, || {
        for r in &records {
            black_box(blake3::hash(r));
        }
    });
    let blake3_bulk = rate(sample_bytes, || {
        for b in &sample {
            black_box(blake3::hash(b));
        }
    });
    let sha256_record = rate(record_bytes, || {
        for r in &records {
            black_box(Sha256::digest(r));
        }
    });
    Ok(Limits {
        sample_bytes,
        sample_records: records.len() as u64,
        blake3_per_record_mb_per_s: blake3_record,
        blake3_bulk_mb_per_s: blake3_bulk,
        sha256_per_record_mb_per_s: sha256_record,
        zstd_bulk: zstd_bulk(&sample)?,
        zstd_per_record_dict: zstd_records(&records)?,
        fsync_small: fsync_probe(dir, SMALL_WRITE_BYTES, budget.fsync_for)?,
        fsync_batch: fsync_probe(
            dir,
            usize::try_from(w.batch_bytes_mean()).unwrap_or(usize::MAX),
            budget.fsync_for,
        )?,
    })
}

/// MB/s of `work` over `bytes` bytes.
fn rate(bytes: u64, work: impl FnOnce()) -> f64 {
    let started = Instant::now();
    work();
    bytes as f64 / 1e6 / started.elapsed().as_secs_f64().max(1e-9)
}

fn zstd_bulk(batches: &[&[u8]]) -> Result<Zstd> {
    let raw: u64 = batches.iter().map(|b| b.len() as u64).sum();
    let started = Instant::now();
    let frames = batches
        .iter()
        .map(|b| zstd::bulk::compress(b, ZSTD_LEVEL))
        .collect::<std::io::Result<Vec<_>>>()
        .context("zstd compression")?;
    let compress = started.elapsed();
    let started = Instant::now();
    for (f, b) in frames.iter().zip(batches) {
        black_box(zstd::bulk::decompress(f, b.len()).context("zstd decompression")?);
    }
    Ok(zstd_figures(raw, &frames, compress, started.elapsed()))
}

fn zstd_records(records: &[&[u8]]) -> Result<Zstd> {
    let samples = &records[..records.len().min(DICT_SAMPLES)];
    let dict = zstd::dict::from_samples(samples, DICT_BYTES).context("training a dictionary")?;
    let mut compressor = zstd::bulk::Compressor::with_dictionary(ZSTD_LEVEL, &dict)?;
    let mut decompressor = zstd::bulk::Decompressor::with_dictionary(&dict)?;
    let raw: u64 = records.iter().map(|r| r.len() as u64).sum();
    let started = Instant::now();
    let frames = records
        .iter()
        .map(|r| compressor.compress(r))
        .collect::<std::io::Result<Vec<_>>>()
        .context("zstd compression with a dictionary")?;
    let compress = started.elapsed();
    let started = Instant::now();
    for (f, r) in frames.iter().zip(records) {
        black_box(
            decompressor
                .decompress(f, r.len())
                .context("zstd decompression with a dictionary")?,
        );
    }
    Ok(zstd_figures(raw, &frames, compress, started.elapsed()))
}

fn zstd_figures(raw: u64, frames: &[Vec<u8>], compress: Duration, decompress: Duration) -> Zstd {
    let packed: u64 = frames.iter().map(|f| f.len() as u64).sum();
    Zstd {
        ratio: packed as f64 / raw.max(1) as f64,
        compress_mb_per_s: raw as f64 / 1e6 / compress.as_secs_f64().max(1e-9),
        decompress_mb_per_s: raw as f64 / 1e6 / decompress.as_secs_f64().max(1e-9),
    }
}

/// Append `write_bytes` and fdatasync, again and again for `run_for`, to a new
/// file in `dir` (as a log does; the file is removed afterwards).
fn fsync_probe(dir: &Path, write_bytes: usize, run_for: Duration) -> Result<Fsync> {
    let path = dir.join(format!("fsync-probe-{write_bytes}"));
    let mut file: File = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let buf: Vec<u8> = (0..write_bytes).map(|i| (i % 251) as u8).collect();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < run_for && n * (write_bytes as u64) < PROBE_BYTES_MAX {
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("appending to {}", path.display()))?;
        n += 1;
    }
    let took = started.elapsed().as_secs_f64().max(1e-9);
    drop(file);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    Ok(Fsync {
        write_bytes: write_bytes as u64,
        per_s: n as f64 / took,
        mean_ms: took * 1e3 / n.max(1) as f64,
        mb_per_s: (n * write_bytes as u64) as f64 / 1e6 / took,
    })
}
