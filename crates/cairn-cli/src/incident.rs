//! `cairn incident`: reconstruct what happened, from the secondary indexes.
//!
//! Selects decisions ([`select`]), summarises them ([`summary`]) and reports a
//! timeline with model-version changes marked: in the terminal ([`text`]), as
//! one JSON object, or as a self-contained HTML page ([`html`]). The ledger is
//! opened read-only, so this works while `cairnd` is writing to it.

pub mod html;
pub mod select;
pub mod summary;
pub mod text;
pub mod timespec;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use cairn_core::decision::format_time_us;
use serde_json::{json, Value};

use crate::datadir;
use crate::output;
use select::{Filters, Row, Selection};
use summary::Summary;

/// Arguments of `cairn incident`.
#[derive(Debug, clap::Args)]
pub struct IncidentArgs {
    #[command(flatten)]
    filters: Box<Filters>,
    /// Print one JSON object (`entries`, `summary`, `selection`) instead of text.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML page (charts and timeline) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// `cairn incident`.
pub fn run(data: Option<PathBuf>, args: IncidentArgs) -> Result<ExitCode> {
    let dir = datadir::data_dir(data)?;
    let ledger = datadir::open_read_only(&dir)?;
    let query = args.filters.resolve(&ledger, output::now_us())?;
    let sel = select::select(&ledger, &query)?;
    let summary = summary::summarize(&sel.rows);
    if sel.truncated {
        eprintln!(
            "note: more than {} decisions match; only the first {} are reported (raise --limit)",
            query.limit, query.limit
        );
    }
    let report = || report_json(&query.to_json(), &sel, &summary);
    if let Some(path) = &args.html {
        html::write(path, &report())?;
        eprintln!(
            "wrote {} ({} decisions, {} version changes)",
            path.display(),
            summary.count,
            summary.changes.len()
        );
    }
    if args.json {
        outln!("{}", report());
    } else if args.html.is_none() {
        text::print(&sel, &summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole report as one JSON object.
fn report_json(selection: &Value, sel: &Selection, summary: &Summary) -> Value {
    let mut changes = summary.changes.iter().peekable();
    let entries: Vec<Value> = sel
        .rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let change = changes.next_if(|c| c.row == i);
            row_json(r, change.map(|c| (c.from.as_str(), c.to.as_str())))
        })
        .collect();
    json!({
        "selection": selection,
        "index": sel.index,
        "examined": sel.examined,
        "entries": entries,
        "summary": summary::to_json(summary, sel.truncated),
    })
}

/// One decision of the timeline.
fn row_json(r: &Row, change: Option<(&str, &str)>) -> Value {
    let d = &r.decision;
    let erased: Vec<Value> = r
        .erased
        .iter()
        .map(|(slot, by)| json!({"slot": slot.name(), "by": by}))
        .collect();
    json!({
        "seq": r.seq,
        "time": format_time_us(r.time_us()),
        "time_us": r.time_us(),
        "event_time": d.event_time_us.map(format_time_us),
        "recorded_at": format_time_us(r.recorded_at_us),
        "stream": d.stream,
        "model": {"name": d.model.name, "version": d.model.version},
        "subject": d.subject,
        "session": d.session,
        "request_id": d.request_id,
        "trace_id": d.trace_id,
        "operation": d.operation,
        "decision": d.decision,
        "score": d.score,
        "latency_ms": d.latency_ms,
        "erased": !r.erased.is_empty(),
        "erased_payloads": erased,
        "version_change": change.map(|(from, to)| json!({"from": from, "to": to})),
    })
}
