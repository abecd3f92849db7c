//! The terminal report: the timeline with version changes marked, then the
//! summary.

use anyhow::Result;
use cairn_core::decision::format_time_us;

use super::select::{Row, Selection};
use super::summary::{Latency, Mix, Summary};

const HEADERS: [&str; 8] = [
    "TIME",
    "SEQ",
    "STREAM",
    "MODEL@VERSION",
    "SUBJECT",
    "DECISION",
    "SCORE",
    "LATENCY",
];
/// Longest cell printed; longer values are cut with an ellipsis.
const CELL_CHARS_MAX: usize = 40;

/// RFC 3339 UTC with a fixed number of fraction digits (3 or 6), so that the
/// timeline's time column lines up.
fn fixed_time(us: i64, digits: usize) -> String {
    let secs = us.div_euclid(1_000_000);
    let whole = format_time_us(secs * 1_000_000);
    let frac = format!("{:06}", us.rem_euclid(1_000_000));
    format!("{}.{}Z", whole.trim_end_matches('Z'), &frac[..digits])
}

fn cells(r: &Row, digits: usize) -> [String; 8] {
    let d = &r.decision;
    let mut decision = d.decision.clone().unwrap_or_else(|| "-".into());
    if !r.erased.is_empty() {
        decision.push_str(" [erased]");
    }
    [
        fixed_time(r.time_us(), digits),
        r.seq.to_string(),
        d.stream.clone(),
        r.model(),
        d.subject.clone().unwrap_or_else(|| "-".into()),
        decision,
        d.score.map_or("-".into(), |s| format!("{s:.3}")),
        d.latency_ms.map_or("-".into(), |l| format!("{l:.1}ms")),
    ]
}

fn cut(s: &str) -> String {
    if s.chars().count() <= CELL_CHARS_MAX {
        return s.to_owned();
    }
    let mut t: String = s.chars().take(CELL_CHARS_MAX - 1).collect();
    t.push('…');
    t
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
        let numeric = matches!(i, 1 | 6 | 7);
        let pad = w.saturating_sub(c.chars().count());
        if numeric {
            out.push_str(&" ".repeat(pad));
            out.push_str(c);
        } else {
            out.push_str(c);
            out.push_str(&" ".repeat(pad));
        }
        out.push_str("  ");
    }
    out.trim_end().to_owned()
}

/// Prints the timeline and the summary.
pub fn print(sel: &Selection, summary: &Summary) -> Result<()> {
    print_timeline(sel, summary)?;
    print_summary(summary)?;
    if sel.truncated {
        outln!(
            "note: more decisions match; only the first {} are shown (raise --limit)",
            sel.rows.len()
        );
    }
    Ok(())
}

fn print_timeline(sel: &Selection, summary: &Summary) -> Result<()> {
    let digits = match sel.rows.iter().all(|r| r.time_us() % 1000 == 0) {
        true => 3,
        false => 6,
    };
    let rows: Vec<[String; 8]> = sel
        .rows
        .iter()
        .map(|r| cells(r, digits).map(|c| cut(&c)))
        .collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let headers = HEADERS.map(String::from);
    outln!("{}", line(&headers, &widths));
    let mut changes = summary.changes.iter().peekable();
    for (i, r) in rows.iter().enumerate() {
        while let Some(c) = changes.next_if(|c| c.row == i) {
            outln!(
                "──── version change: {} {} → {} on {} at seq {} ────",
                c.model,
                c.from,
                c.to,
                c.stream,
                c.seq
            );
        }
        outln!("{}", line(r, &widths));
    }
    Ok(())
}

fn mix_text(m: &Mix) -> String {
    let total: u64 = m.values().sum();
    let mut parts: Vec<(&String, &u64)> = m.iter().collect();
    parts.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let parts: Vec<String> = parts
        .iter()
        .map(|(label, n)| format!("{label} {:.0}%", **n as f64 * 100.0 / total.max(1) as f64))
        .collect();
    format!("{} (n={total})", parts.join(", "))
}

fn latency_text(l: &Option<Latency>) -> String {
    match l {
        Some(l) => format!(
            "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (n={})",
            l.p50, l.p99, l.max, l.count
        ),
        None => "no latencies recorded".into(),
    }
}

fn print_summary(s: &Summary) -> Result<()> {
    outln!();
    outln!("summary: {} decisions", s.count);
    if s.count == 0 {
        return Ok(());
    }
    outln!("  by model version:");
    let width = s.by_model.iter().map(|m| m.model.len()).max().unwrap_or(0);
    for m in &s.by_model {
        outln!(
            "    {:<width$}  {:>7}  {}",
            m.model,
            m.count,
            mix_text(&m.mix)
        );
    }
    if s.changes.is_empty() {
        outln!("  version changes: none in this selection");
    } else {
        outln!("  version changes:");
    }
    for c in &s.changes {
        outln!(
            "    seq {} {}: {} {} → {} ({})",
            c.seq,
            c.stream,
            c.model,
            c.from,
            c.to,
            format_time_us(c.time_us)
        );
        outln!("      before: {}", mix_text(&c.before));
        outln!("      after:  {}", mix_text(&c.after));
    }
    outln!("  latency: {}", latency_text(&s.latency));
    let largest: Vec<String> = s
        .gaps
        .largest
        .iter()
        .map(|(a, b)| format!("{a}..{b} ({} missing)", b - a - 1))
        .collect();
    match s.gaps.count {
        0 => outln!("  seq gaps: none (the selected decisions are consecutive entries)"),
        n => outln!(
            "  seq gaps: {n}, {} entries in between not selected; largest: {}",
            s.gaps.skipped,
            largest.join(", ")
        ),
    }
    if s.erased > 0 {
        outln!("  erased: {} decisions had payloads erased", s.erased);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_line_up() {
        assert_eq!(fixed_time(1_500_000, 3), "1970-01-01T00:00:01.500Z");
        assert_eq!(fixed_time(-1, 6), "1969-12-31T23:59:59.999999Z");
        assert_eq!(cut(&"x".repeat(50)).chars().count(), CELL_CHARS_MAX);
    }
}
