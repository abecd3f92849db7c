//! The summary of a selection: counts per model version, the decision mix
//! before and after each version change, latency percentiles, gaps in the
//! sequence.

use std::collections::{BTreeMap, HashMap};

use cairn_core::decision::format_time_us;
use serde_json::{json, Value};

use super::select::Row;

/// Label used for decisions without one.
pub const NO_LABEL: &str = "(none)";
/// Largest gaps listed.
const GAPS_LISTED: usize = 5;

/// Counts of decision labels.
pub type Mix = BTreeMap<String, u64>;

/// Decisions of one model version.
#[derive(Debug)]
pub struct ModelCount {
    /// `name@version`.
    pub model: String,
    /// Decisions.
    pub count: u64,
    /// Their labels.
    pub mix: Mix,
    /// Their latency.
    pub latency: Option<Latency>,
}

/// Latency percentiles (nearest rank) in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Decisions with a latency.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// A model version change within one stream.
#[derive(Debug)]
pub struct VersionChange {
    /// Index of the first row of the new version.
    pub row: usize,
    /// Its seq.
    pub seq: u64,
    /// Its time, µs.
    pub time_us: i64,
    /// The stream.
    pub stream: String,
    /// The model name.
    pub model: String,
    /// Version before.
    pub from: String,
    /// Version after.
    pub to: String,
    /// Decision mix of this stream and model from the previous change (or the
    /// window's start) up to this one.
    pub before: Mix,
    /// Decision mix from this change up to the next one (or the window's end).
    pub after: Mix,
}

/// Jumps in seq between consecutive selected decisions.
#[derive(Debug, Default)]
pub struct Gaps {
    /// Number of jumps.
    pub count: u64,
    /// Seqs skipped in all.
    pub skipped: u64,
    /// The largest jumps: (seq before, seq after).
    pub largest: Vec<(u64, u64)>,
}

/// The whole summary.
#[derive(Debug)]
pub struct Summary {
    /// Decisions selected.
    pub count: u64,
    /// Per model version, in order of first appearance.
    pub by_model: Vec<ModelCount>,
    /// Per stream.
    pub by_stream: BTreeMap<String, u64>,
    /// Labels of all decisions.
    pub mix: Mix,
    /// Latency of all decisions.
    pub latency: Option<Latency>,
    /// Version changes, in order.
    pub changes: Vec<VersionChange>,
    /// Gaps in seq.
    pub gaps: Gaps,
    /// Decisions with erased payloads.
    pub erased: u64,
}

fn label(r: &Row) -> String {
    r.decision
        .decision
        .clone()
        .unwrap_or_else(|| NO_LABEL.to_owned())
}

fn mix<'a>(rows: impl Iterator<Item = &'a Row>) -> Mix {
    let mut m = Mix::new();
    for r in rows {
        *m.entry(label(r)).or_default() += 1;
    }
    m
}

/// Nearest-rank percentiles of the rows' latencies.
pub fn latency<'a>(rows: impl Iterator<Item = &'a Row>) -> Option<Latency> {
    let mut v: Vec<f64> = rows.filter_map(|r| r.decision.latency_ms).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = |p: usize| v[(p * v.len()).div_ceil(100).saturating_sub(1)];
    Some(Latency {
        count: v.len() as u64,
        p50: rank(50),
        p99: rank(99),
        max: v[v.len() - 1],
    })
}

/// Summarises rows given in seq order.
pub fn summarize(rows: &[Row]) -> Summary {
    let mut by_model: Vec<ModelCount> = Vec::new();
    let mut members: Vec<Vec<&Row>> = Vec::new();
    let mut model_at: HashMap<String, usize> = HashMap::new();
    for r in rows {
        let m = r.model();
        let i = *model_at.entry(m.clone()).or_insert_with(|| {
            by_model.push(ModelCount {
                model: m,
                count: 0,
                mix: Mix::new(),
                latency: None,
            });
            members.push(Vec::new());
            by_model.len() - 1
        });
        members[i].push(r);
    }
    for (m, rows) in by_model.iter_mut().zip(&members) {
        m.count = rows.len() as u64;
        m.mix = mix(rows.iter().copied());
        m.latency = latency(rows.iter().copied());
    }
    let mut by_stream = BTreeMap::new();
    for r in rows {
        *by_stream.entry(r.decision.stream.clone()).or_default() += 1;
    }
    Summary {
        count: rows.len() as u64,
        by_model,
        by_stream,
        mix: mix(rows.iter()),
        latency: latency(rows.iter()),
        changes: version_changes(rows),
        gaps: gaps(rows),
        erased: rows.iter().filter(|r| !r.erased.is_empty()).count() as u64,
    }
}

/// Version changes per (stream, model name), with the mix of each side.
fn version_changes(rows: &[Row]) -> Vec<VersionChange> {
    // Row indices per (stream, model name), in order.
    let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let key = (r.decision.stream.as_str(), r.decision.model.name.as_str());
        groups.entry(key).or_default().push(i);
    }
    let mut out = Vec::new();
    for ((stream, model), idx) in groups {
        // Split the group into runs of one version.
        let mut runs: Vec<&[usize]> = Vec::new();
        let mut start = 0;
        for k in 1..=idx.len() {
            let boundary = k == idx.len()
                || rows[idx[k]].decision.model.version != rows[idx[k - 1]].decision.model.version;
            if boundary {
                runs.push(&idx[start..k]);
                start = k;
            }
        }
        for pair in runs.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            let first = &rows[after[0]];
            out.push(VersionChange {
                row: after[0],
                seq: first.seq,
                time_us: first.time_us(),
                stream: stream.to_owned(),
                model: model.to_owned(),
                from: rows[before[0]].decision.model.version.clone(),
                to: first.decision.model.version.clone(),
                before: mix(before.iter().map(|&i| &rows[i])),
                after: mix(after.iter().map(|&i| &rows[i])),
            });
        }
    }
    out.sort_by_key(|c| c.row);
    out
}

fn gaps(rows: &[Row]) -> Gaps {
    let mut g = Gaps::default();
    let mut all: Vec<(u64, u64)> = Vec::new();
    for w in rows.windows(2) {
        let (a, b) = (w[0].seq, w[1].seq);
        if b > a + 1 {
            g.count += 1;
            g.skipped += b - a - 1;
            all.push((a, b));
        }
    }
    all.sort_by_key(|&(a, b)| (std::cmp::Reverse(b - a), a));
    all.truncate(GAPS_LISTED);
    g.largest = all;
    g
}

fn latency_json(l: &Option<Latency>) -> Value {
    match l {
        Some(l) => json!({"count": l.count, "p50": l.p50, "p99": l.p99, "max": l.max}),
        None => Value::Null,
    }
}

/// The summary as JSON.
pub fn to_json(s: &Summary, truncated: bool) -> Value {
    let models: Vec<Value> = s
        .by_model
        .iter()
        .map(|m| {
            json!({"model": m.model, "count": m.count, "decisions": m.mix,
                   "latency_ms": latency_json(&m.latency)})
        })
        .collect();
    let changes: Vec<Value> = s
        .changes
        .iter()
        .map(|c| {
            json!({
                "seq": c.seq, "time": format_time_us(c.time_us), "time_us": c.time_us, "stream": c.stream,
                "model": c.model, "from": c.from, "to": c.to,
                "before": {"count": c.before.values().sum::<u64>(), "decisions": c.before},
                "after": {"count": c.after.values().sum::<u64>(), "decisions": c.after},
            })
        })
        .collect();
    let largest: Vec<Value> = s
        .gaps
        .largest
        .iter()
        .map(|&(a, b)| json!({"after": a, "before": b, "missing": b - a - 1}))
        .collect();
    json!({
        "count": s.count,
        "truncated": truncated,
        "by_model": models,
        "by_stream": s.by_stream,
        "decisions": s.mix,
        "latency_ms": latency_json(&s.latency),
        "version_changes": changes,
        "seq_gaps": {"count": s.gaps.count, "skipped": s.gaps.skipped, "largest": largest},
        "erased": s.erased,
    })
}
