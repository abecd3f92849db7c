//! The terminal summary of a report: counts, agreement, the flip matrix, per-path
//! differences, score and latency shift, errors and the top examples with their seq.

use std::fmt::Write as _;

use serde_json::Value;

use crate::noise::Verdict;
use crate::report::{Quantiles, Report};

/// Most rows of a list (paths, errors, not-replayable entries) in the summary.
const ROWS_MAX: usize = 20;

/// The summary as text, lines ending in `\n`.
pub fn summary(r: &Report) -> String {
    let mut s = String::new();
    head(&mut s, r);
    gates(&mut s, r);
    flips(&mut s, r);
    paths(&mut s, r);
    score_and_latency(&mut s, r);
    problems(&mut s, r);
    examples(&mut s, r);
    s
}

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn head(s: &mut String, r: &Report) {
    let model = r
        .candidate
        .model
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let _ = writeln!(s, "replay against {}{model}", r.candidate.endpoint);
    if let Some(b) = &r.baseline {
        let _ = writeln!(s, "baseline        {}", b.endpoint);
    }
    if r.interrupted {
        let _ = writeln!(
            s,
            "INTERRUPTED: the results cover only the entries answered before Ctrl-C"
        );
    }
    let _ = writeln!(
        s,
        "selected {}  replayed {}  errors {}  not replayable {}  cancelled {}",
        r.selected,
        r.replayed,
        r.errors,
        r.not_replayable.len(),
        r.cancelled
    );
    // What a deploy decision needs first: how many decisions stand (label
    // agreement), beside how many outputs are unchanged as a whole. A model whose
    // scores all move a little has no output agreement while its decisions stand.
    let _ = writeln!(
        s,
        "label agreement {} ({} of {} labels unchanged)   output agreement {} ({} of {} replayed without a real difference)",
        pct(r.label.agreement_rate),
        r.label.compared - r.label.changed,
        r.label.compared,
        pct(r.agreement_rate),
        r.agreeing,
        r.replayed
    );
}

/// The deploy gates, one line each, failures first.
fn gates(s: &mut String, r: &Report) {
    if r.gates.is_empty() {
        return;
    }
    let failed = r.gates.iter().filter(|g| !g.passed).count();
    let _ = writeln!(
        s,
        "\ngates: {} of {} passed",
        r.gates.len() - failed,
        r.gates.len()
    );
    for g in r.gates.iter().filter(|g| !g.passed) {
        let _ = writeln!(s, "  {}", g.line());
    }
    for g in r.gates.iter().filter(|g| g.passed) {
        let _ = writeln!(s, "  {}", g.line());
    }
}

fn flips(s: &mut String, r: &Report) {
    let l = &r.label;
    let _ = writeln!(
        s,
        "\nlabels ({}): {} of {} changed, agreement {}",
        l.path,
        l.changed,
        l.compared,
        pct(l.agreement_rate)
    );
    // Only labels that took part in a change get a row and a column: with many
    // labels the full matrix is mostly an unchanged diagonal.
    let mut involved: Vec<&String> = Vec::new();
    for (old, row) in &r.flips {
        for (new, n) in row {
            if old != new && *n > 0 {
                involved.push(old);
                involved.push(new);
            }
        }
    }
    involved.sort();
    involved.dedup();
    let unchanged: Vec<String> = r
        .flips
        .iter()
        .filter(|(old, _)| !involved.contains(old))
        .map(|(old, row)| format!("{old} {}", row.get(old.as_str()).copied().unwrap_or(0)))
        .collect();
    if involved.len() > MATRIX_LABELS_MAX {
        // Free-text labels would make a matrix of millions of cells: the
        // largest flips instead.
        top_flips(s, r);
    } else if !involved.is_empty() {
        matrix(s, r, &involved);
    }
    if !unchanged.is_empty() {
        let shown = unchanged.len().min(ROWS_MAX);
        let _ = write!(s, "  unchanged: {}", unchanged[..shown].join(", "));
        if unchanged.len() > shown {
            let _ = write!(s, ", ... and {} more", unchanged.len() - shown);
        }
        s.push('\n');
    }
}

/// Most labels that take part in changes drawn as a matrix.
const MATRIX_LABELS_MAX: usize = 12;

/// The `ROWS_MAX` largest flips, one per line.
fn top_flips(s: &mut String, r: &Report) {
    let mut flips: Vec<(&String, &String, u64)> = r
        .flips
        .iter()
        .flat_map(|(old, row)| row.iter().map(move |(new, n)| (old, new, *n)))
        .filter(|(old, new, n)| old != new && *n > 0)
        .collect();
    flips.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, a.1).cmp(&(b.0, b.1))));
    for (old, new, n) in flips.iter().take(ROWS_MAX) {
        let _ = writeln!(s, "  {old} -> {new}: {n}");
    }
    if flips.len() > ROWS_MAX {
        let _ = writeln!(s, "  ... and {} more kinds of flip", flips.len() - ROWS_MAX);
    }
}

fn matrix(s: &mut String, r: &Report, labels: &[&String]) {
    let corner = "recorded \\ candidate";
    let w0 = labels
        .iter()
        .map(|l| l.len())
        .max()
        .unwrap_or(0)
        .max(corner.len());
    let widths: Vec<usize> = labels.iter().map(|c| c.len().max(6)).collect();
    let _ = write!(s, "  {corner:<w0$}");
    for (c, w) in labels.iter().zip(&widths) {
        let _ = write!(s, "  {c:>w$}");
    }
    s.push('\n');
    for old in labels {
        let row = r.flips.get(*old);
        let _ = write!(s, "  {old:<w0$}");
        for (c, w) in labels.iter().zip(&widths) {
            let n = row.and_then(|row| row.get(*c)).copied().unwrap_or(0);
            let _ = write!(s, "  {n:>w$}");
        }
        s.push('\n');
    }
}

fn paths(s: &mut String, r: &Report) {
    if r.paths.is_empty() {
        let _ = writeln!(s, "\nno path differs");
        return;
    }
    let _ = writeln!(
        s,
        "\npaths that differ (entries, share of replayed, kinds):"
    );
    let w = r
        .paths
        .iter()
        .take(ROWS_MAX)
        .map(|p| p.path.len())
        .max()
        .unwrap_or(0);
    for p in r.paths.iter().take(ROWS_MAX) {
        let kinds: Vec<String> = p.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let verdict = match (p.verdict, p.paired_baseline) {
            (Verdict::Noise, Some(b)) => format!(
                "  NOISE (baseline differs on {b} of {} paired)",
                r.noise.as_ref().map_or(0, |n| n.paired)
            ),
            (Verdict::Difference, Some(b)) if b > 0 => format!("  (baseline differs on {b})"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "  {:<w$}  {:>7}  {:>6.1}%  {}{verdict}",
            p.path,
            p.candidate,
            p.candidate_rate * 100.0,
            kinds.join(", ")
        );
    }
    if r.paths.len() > ROWS_MAX {
        let _ = writeln!(
            s,
            "  … {} more paths in the JSON report",
            r.paths.len() - ROWS_MAX
        );
    }
}

fn num(x: Option<f64>) -> String {
    x.map_or("n/a".to_owned(), |v| format!("{v:.4}"))
}

fn q(x: &Option<Quantiles>) -> String {
    x.as_ref().map_or("n/a".to_owned(), |q| {
        format!("p50 {:.2} p99 {:.2}", q.p50, q.p99)
    })
}

fn score_and_latency(s: &mut String, r: &Report) {
    if let Some(sc) = &r.score {
        let ks = sc
            .ks
            .map(|k| format!(", KS D = {:.4} (p = {:.3})", k.d, k.p_value))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "\nscore ({}): {} compared, {} changed; mean {} → {} (mean Δ {}, mean |Δ| {}){ks}",
            sc.path,
            sc.compared,
            sc.changed,
            num(sc.mean_recorded),
            num(sc.mean_candidate),
            num(sc.mean_delta),
            num(sc.mean_abs_delta)
        );
    }
    let l = &r.latency_ms;
    let _ = write!(
        s,
        "latency ms: recorded {} | candidate {}",
        q(&l.recorded),
        q(&l.candidate)
    );
    if r.baseline.is_some() {
        let _ = write!(s, " | baseline {}", q(&l.baseline));
    }
    s.push('\n');
}

fn problems(s: &mut String, r: &Report) {
    if r.errors > 0 {
        let kinds: Vec<String> = r
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(s, "\ncandidate errors: {} ({})", r.errors, kinds.join(", "));
        for e in r.error_details.iter().take(ROWS_MAX) {
            let _ = writeln!(
                s,
                "  seq {}: {} after {} attempt(s)",
                e.seq, e.message, e.attempts
            );
        }
    }
    if let Some(n) = &r.noise {
        if n.baseline_errors > 0 {
            let _ = writeln!(s, "baseline errors: {}", n.baseline_errors);
        }
    }
    if !r.not_replayable.is_empty() {
        let _ = writeln!(s, "\nnot replayable: {}", r.not_replayable.len());
        for e in r.not_replayable.iter().take(ROWS_MAX) {
            let _ = writeln!(s, "  seq {}: {}", e.seq, e.reason);
        }
    }
}

fn short(v: &Option<Value>) -> String {
    match v {
        None => "—".to_owned(),
        Some(Value::String(t)) if t.chars().count() > 60 => {
            format!("{:?}…", t.chars().take(60).collect::<String>())
        }
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 60 {
                format!("{}…", t.chars().take(60).collect::<String>())
            } else {
                t
            }
        }
    }
}

fn examples(s: &mut String, r: &Report) {
    if r.examples.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nexamples ({} of {} differing entries):",
        r.examples.len(),
        r.differing.len()
    );
    for e in &r.examples {
        let mut line = format!("  seq {}", e.seq);
        if let Some(l) = &e.label {
            if l.recorded == l.candidate {
                let _ = write!(line, "  label {}", l.recorded);
            } else {
                let _ = write!(line, "  {} → {}", l.recorded, l.candidate);
            }
        }
        if let Some(sc) = &e.score {
            if sc.delta == 0.0 {
                let _ = write!(line, "  score {}", sc.recorded);
            } else {
                let _ = write!(line, "  score {} → {}", sc.recorded, sc.candidate);
            }
        }
        let _ = writeln!(s, "{line}");
        for d in e.differences.iter().take(5) {
            let _ = writeln!(
                s,
                "      {}  {}  {} → {}",
                d.path,
                d.kind.name(),
                short(&d.recorded),
                short(&d.candidate)
            );
        }
        if e.differences.len() > 5 {
            let _ = writeln!(s, "      … {} more", e.differences.len() - 5);
        }
    }
}
