//! `cairn replay`: replay recorded decisions against a candidate model, report what
//! changes, and append the run to the ledger as evidence; `cairn replay show SEQ`
//! prints such a run.
//!
//! The selection is read from a read-only view of the ledger ([`select`]), so it
//! works while `cairnd` is writing; only the final append of the `replay` entry
//! takes the ledger's lock ([`evidence`]). The candidates, the diff, the noise rule
//! and the report are `cairn-replay`'s.

mod args;
mod evidence;
mod select;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::decision::format_time_us;
use cairn_replay::render::{html, text};
use cairn_replay::report::{results_digest, Endpoint, RunInfo, Settings};
use cairn_replay::{analyze_examined, run_blocking, Report};

use crate::{datadir, output};

pub use args::ReplayArgs;
use args::{ReplayCommand, RunArgs};

/// Exit status of a run cut short by Ctrl-C (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;
/// Exit status of a run that completed but failed a `--gate` (0 is success, 1 is
/// kept for "damaged" and 2 for "could not run").
const EXIT_GATE_FAILED: u8 = 3;

/// `cairn replay`.
pub fn run(data: Option<PathBuf>, args: ReplayArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    match args.command {
        Some(ReplayCommand::Show(show)) => evidence::show(&dir, &show),
        None => replay(&dir, *args.run),
    }
}

fn replay(dir: &std::path::Path, args: RunArgs) -> Result<ExitCode> {
    let plan = args.plan()?;
    let started_at = format_time_us(output::now_us());
    let selected = {
        let ledger = datadir::open_read_only(dir)?;
        select::select(&ledger, &plan.criteria)?
    };
    eprintln!(
        "selected {} decisions ({} not replayable) of {} entries",
        selected.records.len() + selected.not_replayable.len(),
        selected.not_replayable.len(),
        selected.selection.ledger_size
    );
    let bar = output::progress(selected.records.len() as u64, "replaying");
    let ticker = bar.clone();
    let finished = run_blocking(
        selected.records,
        &plan.candidate,
        plan.baseline.as_ref(),
        &plan.candidate_options,
        plan.run_options.clone(),
        Some(&plan.analyze),
        true,
        move |done| ticker.set_position(done),
    )
    .context("running the replay")?;
    bar.finish_and_clear();
    if finished.interrupted {
        eprintln!("interrupted: writing the partial report");
    }
    let info = RunInfo {
        candidate: Endpoint {
            endpoint: plan.candidate.describe().to_owned(),
            model: args.candidate_model.clone(),
        },
        baseline: plan.baseline.as_ref().map(|b| Endpoint {
            endpoint: b.describe().to_owned(),
            model: None,
        }),
        selection: selected.selection,
        settings: settings(&args, &plan),
        started_at,
        duration_ms: finished.duration_ms,
        interrupted: finished.interrupted,
    };
    let mut report = analyze_examined(
        &finished.records,
        &finished.outcomes,
        finished.examined,
        selected.not_replayable,
        info,
        &plan.analyze,
    );
    let gates_passed = report.judge_gates(&plan.gates);
    write_outputs(&args, &report)?;
    if !args.no_record {
        let json = report.to_json_bytes();
        let daemon = args
            .daemon
            .as_deref()
            .map(|url| (url, args.token.as_deref()));
        let seq = evidence::record(
            dir,
            daemon,
            &report,
            &plan.candidate_model,
            results_digest(&json),
        )?;
        eprintln!(
            "recorded as replay entry {seq}; results digest {}",
            hex::encode(results_digest(&json))
        );
        if args.json_out.is_none() && !args.json {
            eprintln!("note: the JSON results were not saved; pass --json-out FILE to keep them");
        }
    }
    for g in report.gates.iter().filter(|g| !g.passed) {
        eprintln!("gate failed: {}", g.line());
    }
    Ok(if report.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if !gates_passed {
        ExitCode::from(EXIT_GATE_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn settings(args: &RunArgs, plan: &args::Plan) -> Settings {
    Settings {
        concurrency: plan.run_options.concurrency,
        rate_per_s: plan.run_options.rate_per_s,
        timeout_ms: args.timeout_ms,
        retries: args.retries,
        tolerances: plan
            .analyze
            .rules
            .tolerances
            .iter()
            .map(|t| format!("{}={},{}", t.path, t.abs, t.rel))
            .collect(),
        ignore: plan
            .analyze
            .rules
            .ignore
            .iter()
            .map(ToString::to_string)
            .collect(),
        label_path: plan.analyze.label_path.to_string(),
        score_path: plan.analyze.score_path.to_string(),
    }
}

/// Write the JSON and HTML files, then print the JSON or the summary.
fn write_outputs(args: &RunArgs, report: &Report) -> Result<()> {
    let json = report.to_json_bytes();
    if let Some(path) = &args.json_out {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the JSON results to {}", path.display());
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::page(report))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the HTML report to {}", path.display());
    }
    if args.json {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(&json)?;
        out.flush()?;
    } else {
        out!("{}", text::summary(report));
    }
    Ok(())
}
