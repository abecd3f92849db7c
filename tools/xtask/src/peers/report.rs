//! The result of a run: one JSON document (`peers.json`) and its Markdown
//! rendering, with the comparison against Cairn's targets.

use std::fmt::Write;

use serde::Serialize;

use super::limits::Limits;
use super::machine::Machine;
use super::stats::SystemReport;
use super::workload::SubjectHour;

/// Target: Cairn's durable ingest at least this many times PostgreSQL's.
pub const TARGET_INGEST_X: f64 = 5.0;
/// Target: Cairn's whole-chain verification at least this many times faster.
pub const TARGET_VERIFY_X: f64 = 5.0;
/// Target: Cairn's bytes on disk at most this fraction of PostgreSQL's.
pub const TARGET_DISK_FRACTION: f64 = 0.2;
/// Target: Cairn's durable ingest at least this fraction of the JSON-lines file's.
pub const TARGET_JSONL_X: f64 = 0.5;

/// The parameters of the run.
#[derive(Debug, Clone, Serialize)]
pub struct RunParams {
    /// Decisions requested.
    pub count: u64,
    /// Decisions per batch.
    pub batch: u32,
    /// Workload seed.
    pub seed: u64,
    /// Writers for cairnd and PostgreSQL.
    pub connections: usize,
    /// Small-scale mode.
    pub small: bool,
}

/// The workload as run.
#[derive(Debug, Clone, Serialize)]
pub struct WorkloadInfo {
    /// Decisions.
    pub decisions: u64,
    /// Batches.
    pub batches: u64,
    /// Bytes of NDJSON.
    pub bytes: u64,
    /// Mean bytes of NDJSON per decision.
    pub bytes_per_decision: f64,
    /// Seconds to generate it.
    pub generate_seconds: f64,
    /// The read every system answers.
    pub subject_hour: SubjectHour,
}

/// Cairn (the daemon) against PostgreSQL, as Cairn's targets put it.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// cairnd's decisions/s over PostgreSQL's.
    pub ingest_x: f64,
    /// The embedded ledger's decisions/s over PostgreSQL's.
    pub embedded_ingest_x: f64,
    /// PostgreSQL's verify seconds over cairnd's ledger's.
    pub verify_x: f64,
    /// The same, with cairnd's ledger verified again once it settled
    /// (flushed and compacted), when that was measured.
    pub settled_verify_x: Option<f64>,
    /// cairnd's ledger bytes over PostgreSQL's.
    pub disk_fraction: f64,
    /// cairnd's decisions/s over the JSON-lines file's (when it ran).
    pub jsonl_ingest_x: Option<f64>,
    /// Whether each target is met: ingest, verify, disk, ingest against the
    /// JSON-lines file (false when it did not run).
    pub targets_met: [bool; 4],
}

/// What happened to the servers and directories of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    /// The run's temporary directory.
    pub work_dir: String,
    /// Whether it is gone.
    pub work_dir_removed: bool,
    /// The daemon's pid while it ran.
    pub cairnd_pid: Option<u32>,
    /// Whether the daemon was stopped.
    pub cairnd_stopped: bool,
    /// The PostgreSQL postmaster's pid while it ran.
    pub postgres_pid: Option<u32>,
    /// Whether PostgreSQL was stopped.
    pub postgres_stopped: bool,
}

/// One run, whole.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When the run started (UTC, RFC 3339).
    pub date: String,
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// Load average at the start and at the end.
    pub load_average: [[f64; 3]; 2],
    /// Parameters.
    pub params: RunParams,
    /// The workload.
    pub workload: WorkloadInfo,
    /// The machine's limits on this data.
    pub limits: Limits,
    /// One per system, in the order they ran.
    pub systems: Vec<SystemReport>,
    /// Cairn against PostgreSQL.
    pub comparison: Option<Comparison>,
    /// Servers stopped, directories removed.
    pub cleanup: Cleanup,
}

impl Report {
    /// The system with this key.
    pub fn system(&self, key: &str) -> Option<&SystemReport> {
        self.systems.iter().find(|s| s.key == key)
    }

    /// Compare cairnd with PostgreSQL, when both ran.
    pub fn compare(&self) -> Option<Comparison> {
        let cairn = self.system("cairnd")?;
        let pg = self.system("postgres")?;
        let embedded = self.system("embedded")?;
        let ingest_x = cairn.ingest.decisions_per_s / pg.ingest.decisions_per_s.max(1e-9);
        let verify_x = pg.verify.seconds / cairn.verify.seconds.max(1e-9);
        let settled_verify_x = cairn.extra["verify_after_settling"]["seconds"]
            .as_f64()
            .map(|t| pg.verify.seconds / t.max(1e-9));
        let disk_fraction = cairn.disk.bytes as f64 / (pg.disk.bytes as f64).max(1.0);
        let jsonl_ingest_x = self
            .system("jsonl")
            .map(|j| cairn.ingest.decisions_per_s / j.ingest.decisions_per_s.max(1e-9));
        Some(Comparison {
            ingest_x,
            embedded_ingest_x: embedded.ingest.decisions_per_s
                / pg.ingest.decisions_per_s.max(1e-9),
            verify_x,
            settled_verify_x,
            disk_fraction,
            jsonl_ingest_x,
            targets_met: [
                ingest_x >= TARGET_INGEST_X,
                verify_x >= TARGET_VERIFY_X,
                disk_fraction <= TARGET_DISK_FRACTION,
                jsonl_ingest_x.is_some_and(|x| x >= TARGET_JSONL_X),
            ],
        })
    }

    /// The tables, in Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let w = &self.workload;
        let _ = writeln!(
            s,
            "{} decisions ({:.0} MB NDJSON, {:.0} B each), batches of {}, seed {}; {}\n",
            w.decisions,
            w.bytes as f64 / 1e6,
            w.bytes_per_decision,
            self.params.batch,
            self.params.seed,
            self.date
        );
        s.push_str(
            "| system | writers | durable ingest | ack p50 | ack p99 | on disk per decision | verify whole chain | one subject's hour |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for sys in &self.systems {
            let _ = writeln!(
                s,
                "| {} | {} | {} /s ({:.0} MB/s) | {} | {} | {:.0} B ({:.0}% of raw) | {}{} | {} ({} rows) |",
                sys.name,
                sys.writers,
                count(sys.ingest.decisions_per_s),
                sys.ingest.mb_per_s,
                millis(sys.ingest.ack_p50_ms),
                millis(sys.ingest.ack_p99_ms),
                sys.disk.bytes_per_decision,
                sys.disk.of_raw * 100.0,
                seconds(sys.verify.seconds),
                if sys.verify.intact { "" } else { " **DAMAGED**" },
                seconds(sys.subject_hour.seconds),
                sys.subject_hour.rows,
            );
        }
        self.indexing_markdown(&mut s);
        if let Some(c) = &self.comparison {
            let mark = |ok: bool| if ok { "met" } else { "**short**" };
            let _ = writeln!(
                s,
                "\ncairnd against PostgreSQL: ingest {:.2}× (target ≥ {TARGET_INGEST_X}×: {}), \
                 verify {:.2}× faster (target ≥ {TARGET_VERIFY_X}×: {}), on disk {:.2} of it \
                 (target ≤ {TARGET_DISK_FRACTION}: {}); the embedded ledger ingests {:.2}× PostgreSQL.",
                c.ingest_x,
                mark(c.targets_met[0]),
                c.verify_x,
                mark(c.targets_met[1]),
                c.disk_fraction,
                mark(c.targets_met[2]),
                c.embedded_ingest_x,
            );
            if let Some(x) = c.settled_verify_x {
                let _ = writeln!(
                    s,
                    "cairnd's ledger verified again once settled (flushed and compacted): {x:.2}× faster than PostgreSQL."
                );
            }
            if let Some(x) = c.jsonl_ingest_x {
                let _ = writeln!(
                    s,
                    "cairnd against the JSON-lines file: ingest {x:.2}× (target ≥ {TARGET_JSONL_X}×: {}).",
                    mark(c.targets_met[3]),
                );
            }
        }
        self.limits_markdown(&mut s);
        s
    }

    /// What each Cairn ledger had left to index before the read was timed.
    fn indexing_markdown(&self, s: &mut String) {
        for sys in &self.systems {
            let x = &sys.extra;
            let Some(ix) = x.get("indexing").or_else(|| x.get("indexing_after_stop")) else {
                continue;
            };
            let left = ix["entries_left_to_index"].as_u64().unwrap_or(0);
            let took = ix["index_seconds"].as_f64().unwrap_or(0.0);
            let lag = x["index_lag_entries_at_end_of_ingest"]
                .as_f64()
                .map(|l| format!(" (index lag when the ingest ended: {l:.0} entries)"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "\n{}: {left} entries left to index before the read, indexed in {}{lag}.",
                sys.name,
                seconds(took),
            );
        }
    }

    fn limits_markdown(&self, s: &mut String) {
        let l = &self.limits;
        let _ = writeln!(
            s,
            "\nMachine limits on the same data (one thread; {:.0} MB sample):\n\n\
             | limit | rate |\n| --- | ---: |\n\
             | BLAKE3, each record alone | {:.0} MB/s |\n\
             | BLAKE3, each batch as one input | {:.0} MB/s |\n\
             | SHA-256, each record alone | {:.0} MB/s |\n\
             | zstd -3, each batch as one frame | compress {:.0} MB/s, decompress {:.0} MB/s, {:.1}% of raw |\n\
             | zstd -3, each record with a trained dictionary | compress {:.0} MB/s, decompress {:.0} MB/s, {:.1}% of raw |\n\
             | append 4 KiB + fdatasync | {:.0} /s ({:.2} ms each) |\n\
             | append one batch ({:.1} MB) + fdatasync | {:.0} /s ({:.0} MB/s) |",
            l.sample_bytes as f64 / 1e6,
            l.blake3_per_record_mb_per_s,
            l.blake3_bulk_mb_per_s,
            l.sha256_per_record_mb_per_s,
            l.zstd_bulk.compress_mb_per_s,
            l.zstd_bulk.decompress_mb_per_s,
            l.zstd_bulk.ratio * 100.0,
            l.zstd_per_record_dict.compress_mb_per_s,
            l.zstd_per_record_dict.decompress_mb_per_s,
            l.zstd_per_record_dict.ratio * 100.0,
            l.fsync_small.per_s,
            l.fsync_small.mean_ms,
            l.fsync_batch.write_bytes as f64 / 1e6,
            l.fsync_batch.per_s,
            l.fsync_batch.mb_per_s,
        );
        if let Some(c) = self.system("cairnd") {
            let batches_per_s = c.ingest.batches as f64 / c.ingest.seconds;
            let _ = writeln!(
                s,
                "\ncairnd against these limits: ingest {:.0} MB/s = {:.1}% of BLAKE3 per record, \
                 {:.1}% of zstd-with-dictionary compression; {:.0} batches/s = {:.0}% of the \
                 batch-append fsync rate; verify {:.0} MB/s = {:.1}% of BLAKE3 per record, {:.1}% of \
                 zstd-with-dictionary decompression.",
                c.ingest.mb_per_s,
                100.0 * c.ingest.mb_per_s / l.blake3_per_record_mb_per_s,
                100.0 * c.ingest.mb_per_s / l.zstd_per_record_dict.compress_mb_per_s,
                batches_per_s,
                100.0 * batches_per_s / l.fsync_batch.per_s,
                c.verify.mb_per_s,
                100.0 * c.verify.mb_per_s / l.blake3_per_record_mb_per_s,
                100.0 * c.verify.mb_per_s / l.zstd_per_record_dict.decompress_mb_per_s,
            );
        }
    }
}

/// `12.3 k` style counts.
fn count(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn millis(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0} µs", ms * 1e3)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        millis(s * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(45_210.0), "45.2 k");
        assert_eq!(count(1_250_000.0), "1.25 M");
        assert_eq!(count(812.4), "812");
        assert_eq!(seconds(5.257), "5.26 s");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(millis(123.4), "123 ms");
        assert_eq!(seconds(0.000_042), "42 µs");
    }
}
