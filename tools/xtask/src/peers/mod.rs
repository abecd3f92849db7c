//! `cargo xtask bench-peers`: Cairn side by side with what teams build instead,
//! on the same synthetic workload, in one run.
//!
//! The workload is generated once ([`workload`]) and fed, batch by batch with
//! every batch acknowledged only once durable, to: a hash-chained JSON-lines
//! file ([`jsonl`]), the embedded ledger ([`embedded`]), `cairnd` over HTTP
//! ([`daemon`]) and a hash-chained PostgreSQL table ([`postgres`]). Each is then
//! verified whole, asked for one subject's hour, and measured on disk
//! ([`stats`]). The machine's own limits on the same data ([`limits`]) frame
//! the figures. The result is `peers.json`, `peers.svg` ([`svg`]) and a
//! Markdown table ([`report`]).
//!
//! Everything runs in one temporary directory under the cargo target directory
//! (the disk measured), removed at the end; the daemon and PostgreSQL are
//! stopped by guards, on success and on error alike.

pub mod daemon;
pub mod embedded;
pub mod http;
pub mod interrupt;
pub mod jsonl;
pub mod ledger;
pub mod limits;
pub mod machine;
pub mod postgres;
pub mod report;
pub mod stats;
pub mod svg;
pub mod workload;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use time::format_description::well_known::Rfc3339;

use self::limits::Budget;
use self::machine::{load_average, Machine};
use self::report::{Cleanup, Report, RunParams, WorkloadInfo};
use self::stats::SystemReport;
use self::workload::Workload;

/// Largest batch accepted (the daemon's own limit is raised to match).
pub const BATCH_MAX: u32 = 100_000;
/// Most concurrent writers.
pub const CONNECTIONS_MAX: usize = 256;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Decisions in the workload.
    pub count: u64,
    /// Decisions per batch.
    pub batch: u32,
    /// Seed of the workload.
    pub seed: u64,
    /// Concurrent writers for cairnd and PostgreSQL.
    pub connections: usize,
    /// Where `peers.json` and `peers.svg` go (relative: to the workspace root).
    pub out: PathBuf,
    /// Where the temporary directory goes (default: the cargo target directory).
    pub work_dir: Option<PathBuf>,
    /// The `cairnd` binary (default: built with cargo, release profile).
    pub cairnd: Option<PathBuf>,
    /// Small scale: short machine-limit probes.
    pub small: bool,
    /// The command line, for the record.
    pub command: String,
}

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The cargo target directory this binary was built into.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    // target/<profile>/xtask, or target/<profile>/deps/<test> for tests.
    let profile = exe.parent().context("the xtask binary has no directory")?;
    let profile = if profile.ends_with("deps") {
        profile.parent().unwrap_or(profile)
    } else {
        profile
    };
    Ok(profile.parent().unwrap_or(profile).to_owned())
}

/// Build the release `cairnd` into the target directory, so the measured
/// daemon is the current code.
fn build_cairnd(target: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench-peers: building cairnd (release)");
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "cairn-server",
            "--bin",
            "cairnd",
        ])
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of cairnd failed ({status})");
    }
    Ok(target.join("release").join("cairnd"))
}

/// Run the whole benchmark; see the module documentation.
pub fn run(o: &Options) -> Result<Report> {
    if o.batch == 0 || o.batch > BATCH_MAX {
        bail!("--batch {}: must be between 1 and {BATCH_MAX}", o.batch);
    }
    if o.connections == 0 || o.connections > CONNECTIONS_MAX {
        bail!(
            "--connections {}: must be between 1 and {CONNECTIONS_MAX}",
            o.connections
        );
    }
    let target = target_dir()?;
    let cairnd = match &o.cairnd {
        Some(p) => p.clone(),
        None => build_cairnd(&target)?,
    };
    if !cairnd.is_file() {
        bail!("no cairnd binary at {}", cairnd.display());
    }
    let script = workspace_root().join("scripts/postgres.sh");
    let work_root = o
        .work_dir
        .clone()
        .unwrap_or_else(|| target.join("bench-peers"));
    std::fs::create_dir_all(&work_root)
        .with_context(|| format!("creating {}", work_root.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(&work_root)
        .with_context(|| format!("creating a directory in {}", work_root.display()))?;
    interrupt::watch();
    interrupt::work_dir(Some(tmp.path()));
    // PostgreSQL runs as its own user when we are root: it must reach its dir.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_default();
    let load_start = load_average();
    let mut machine = Machine::describe(tmp.path());
    let mut cleanup = Cleanup {
        work_dir: tmp.path().display().to_string(),
        ..Cleanup::default()
    };
    let outcome = measure(o, tmp.path(), &cairnd, &script, &mut cleanup, &mut machine);
    let path = tmp.path().to_owned();
    let closed = tmp.close();
    interrupt::work_dir(None);
    cleanup.work_dir_removed = !path.exists();
    cleanup.cairnd_stopped = cleanup.cairnd_pid.is_some_and(process_gone);
    cleanup.postgres_stopped = cleanup.postgres_pid.is_some_and(process_gone);
    let (w, limits, systems) = outcome?;
    closed.with_context(|| format!("removing {}", path.display()))?;
    let mut report = Report {
        date,
        command: o.command.clone(),
        machine,
        load_average: [load_start, load_average()],
        params: RunParams {
            count: o.count,
            batch: o.batch,
            seed: o.seed,
            connections: o.connections,
            small: o.small,
        },
        workload: WorkloadInfo {
            decisions: w.decisions,
            batches: w.batches.len() as u64,
            bytes: w.bytes,
            bytes_per_decision: w.bytes as f64 / w.decisions.max(1) as f64,
            generate_seconds: w.generate_seconds,
            subject_hour: w.query.clone(),
        },
        limits,
        systems,
        comparison: None,
        cleanup,
    };
    report.comparison = report.compare();
    write_results(o, &report)?;
    Ok(report)
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped),
/// waiting a little: a server may still be exiting when its stop command
/// returns.
fn process_gone(pid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if !process_running(pid) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state ...`; comm may hold spaces and parentheses.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

type Measured = (Workload, limits::Limits, Vec<SystemReport>);

/// Everything that runs inside the temporary directory `dir`.
fn measure(
    o: &Options,
    dir: &Path,
    cairnd: &Path,
    script: &Path,
    cleanup: &mut Cleanup,
    machine: &mut Machine,
) -> Result<Measured> {
    let w = Workload::generate(o.seed, o.count, o.batch)?;
    eprintln!(
        "bench-peers: {} decisions, {:.1} MB of NDJSON, generated in {:.1} s; working in {}",
        w.decisions,
        w.bytes as f64 / 1e6,
        w.generate_seconds,
        dir.display()
    );
    let budget = if o.small {
        Budget {
            sample_bytes_max: 16 << 20,
            fsync_for: Duration::from_millis(500),
        }
    } else {
        Budget {
            sample_bytes_max: 256 << 20,
            fsync_for: Duration::from_secs(3),
        }
    };
    let limits = limits::measure(&w, dir, budget)?;
    eprintln!("bench-peers: machine limits measured");
    let mut systems = Vec::new();
    let sub = |name: &str| -> Result<PathBuf> {
        let d = dir.join(name);
        std::fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    };
    systems.push(done(jsonl::run(&w, &sub("jsonl")?)?));
    systems.push(done(embedded::run(&w, &sub("embedded")?)?));
    let (report, pid) = daemon::run(cairnd, &w, &sub("daemon")?, o.connections)?;
    cleanup.cairnd_pid = Some(pid);
    systems.push(done(report));
    let pg_dir = dir.join("postgres");
    let pg = postgres::run(script, &w, &pg_dir, o.connections);
    // The script creates the directory; its pid file is gone once stopped.
    let pg = pg?;
    cleanup.postgres_pid = pg.pid;
    machine.postgres = Some(pg.version);
    systems.push(done(pg.report));
    for s in ["jsonl", "embedded", "daemon", "postgres"] {
        // Free the disk early; the whole directory goes at the end anyway.
        let _ = std::fs::remove_dir_all(dir.join(s));
    }
    Ok((w, limits, systems))
}

/// Log one system's headline figures.
fn done(s: SystemReport) -> SystemReport {
    eprintln!(
        "bench-peers: {}: {:.0} decisions/s, ack p99 {:.1} ms, {:.0} B/decision, verify {:.2} s ({}), subject's hour {:.1} ms ({} rows)",
        s.name,
        s.ingest.decisions_per_s,
        s.ingest.ack_p99_ms,
        s.disk.bytes_per_decision,
        s.verify.seconds,
        if s.verify.intact { "intact" } else { "DAMAGED" },
        s.subject_hour.seconds * 1e3,
        s.subject_hour.rows
    );
    s
}

fn write_results(o: &Options, r: &Report) -> Result<()> {
    let out = if o.out.is_absolute() {
        o.out.clone()
    } else {
        workspace_root().join(&o.out)
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let json = out.join("peers.json");
    std::fs::write(&json, serde_json::to_string_pretty(r)? + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    let plot = out.join("peers.svg");
    std::fs::write(&plot, svg::plot(r)).with_context(|| format!("writing {}", plot.display()))?;
    eprintln!(
        "bench-peers: wrote {} and {}",
        json.display(),
        plot.display()
    );
    Ok(())
}
