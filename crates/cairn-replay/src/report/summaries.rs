//! The pieces of a report: each entry's label and score pairs, and over all
//! compared entries the per-path counts, label flips, score shifts, quantiles
//! and the top examples.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::{
    AnalyzeOptions, Compared, Example, LabelPair, LabelSummary, PathSummary, Quantiles, ScorePair,
    ScoreSummary, NO_LABEL, SCORE_BINS,
};
use crate::diff::{diff, Difference};
use crate::noise::{NoiseRule, Verdict};
use crate::path::PathPattern;
use crate::record::Record;
use crate::stats;

/// The top examples: label flips first, then the largest score changes, then the
/// most differing paths, then by seq. Only these are diffed again with values.
pub(super) fn examples(
    compared: &[Compared<'_>],
    mut ranked: Vec<(usize, usize)>,
    real: &HashSet<&str>,
    options: &AnalyzeOptions,
) -> Vec<Example> {
    let flipped = |c: &Compared<'_>| c.label.is_some_and(|l| l.recorded != l.candidate);
    let shift = |c: &Compared<'_>| c.score.map_or(0.0, |s| s.delta.abs());
    ranked.sort_by(|&(a, na), &(b, nb)| {
        let (ca, cb) = (&compared[a], &compared[b]);
        flipped(cb)
            .cmp(&flipped(ca))
            .then_with(|| shift(cb).total_cmp(&shift(ca)))
            .then_with(|| nb.cmp(&na))
            .then_with(|| ca.record.seq.cmp(&cb.record.seq))
    });
    ranked
        .into_iter()
        .take(options.examples_max)
        .map(|(i, _)| {
            let c = &compared[i];
            // A differing entry's answer is always kept (see `Outcome::let_go`).
            let differences = c
                .answer
                .map(|answer| diff(&c.record.output, answer, &options.rules))
                .unwrap_or_default()
                .into_iter()
                .filter(|d| real.contains(d.path.as_str()))
                .collect();
            Example {
                seq: c.record.seq,
                session: c.record.session.clone(),
                label: c.label.cloned(),
                score: c.score.cloned(),
                differences,
            }
        })
        .collect()
}

pub(super) fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Counts per path: all candidate differences, and over paired entries the
/// candidate's and the baseline's.
#[derive(Default)]
pub(super) struct PathCounts {
    candidate: HashMap<String, (u64, BTreeMap<&'static str, u64>)>,
    paired: HashMap<String, (u64, u64)>,
}

impl PathCounts {
    pub(super) fn add_candidate(&mut self, diffs: &[Difference]) {
        for d in diffs {
            // Most paths repeat from entry to entry: look up before allocating a key.
            let e = match self.candidate.get_mut(d.path.as_str()) {
                Some(e) => e,
                None => self.candidate.entry(d.path.clone()).or_default(),
            };
            e.0 += 1;
            *e.1.entry(d.kind.name()).or_insert(0) += 1;
        }
    }

    pub(super) fn add_paired(&mut self, candidate: &[Difference], baseline: &[Difference]) {
        let mut bump = |path: &str, which: usize| {
            let e = match self.paired.get_mut(path) {
                Some(e) => e,
                None => self.paired.entry(path.to_owned()).or_default(),
            };
            if which == 0 {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        };
        for d in candidate {
            bump(&d.path, 0);
        }
        for d in baseline {
            bump(&d.path, 1);
        }
    }

    pub(super) fn summaries(
        &self,
        replayed: u64,
        paired: Option<u64>,
        rule: &NoiseRule,
    ) -> Vec<PathSummary> {
        let mut out: Vec<PathSummary> = self
            .candidate
            .iter()
            .map(|(path, (n, kinds))| {
                let (pc, pb) = self.paired.get(path).copied().unwrap_or((0, 0));
                let judged = paired.map(|p| rule.judge(p, pc, pb));
                PathSummary {
                    path: path.clone(),
                    candidate: *n,
                    candidate_rate: ratio(*n, replayed).unwrap_or(0.0),
                    kinds: kinds.clone(),
                    paired_candidate: paired.map(|_| pc),
                    paired_baseline: paired.map(|_| pb),
                    verdict: judged.map_or(Verdict::Difference, |j| j.verdict),
                    z: judged.and_then(|j| j.z),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.candidate
                .cmp(&a.candidate)
                .then_with(|| a.path.cmp(&b.path))
        });
        out
    }
}

/// A label as text: strings as they are, other scalars as JSON.
fn label_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(short_label(text))
}

/// The longest label kept as it is.
const LABEL_BYTES_MAX: usize = 200;

/// A label longer than `LABEL_BYTES_MAX` (free text, not a class), as its
/// start, its length and a digest of the whole: two labels stay apart
/// exactly when they differ, and a report holds no megabytes per decision.
fn short_label(text: String) -> String {
    if text.len() <= LABEL_BYTES_MAX {
        return text;
    }
    let mut end = LABEL_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let digest = blake3::hash(text.as_bytes()).to_hex();
    format!(
        "{}... ({} bytes, blake3 {})",
        &text[..end],
        text.len(),
        &digest.as_str()[..16]
    )
}

pub(super) fn label_pair(record: &Record, output: &Value, path: &PathPattern) -> Option<LabelPair> {
    let recorded = path
        .lookup(&record.output)
        .and_then(label_text)
        .or_else(|| record.decision.clone())?;
    let candidate = path
        .lookup(output)
        .and_then(label_text)
        .unwrap_or_else(|| NO_LABEL.to_owned());
    Some(LabelPair {
        recorded,
        candidate,
    })
}

pub(super) fn score_pair(record: &Record, output: &Value, path: &PathPattern) -> Option<ScorePair> {
    let recorded = path
        .lookup(&record.output)
        .and_then(Value::as_f64)
        .or(record.score)?;
    let candidate = path.lookup(output).and_then(Value::as_f64)?;
    Some(ScorePair {
        recorded,
        candidate,
        delta: candidate - recorded,
    })
}

pub(super) type Flips = BTreeMap<String, BTreeMap<String, u64>>;

pub(super) fn labels(compared: &[Compared<'_>], path: &PathPattern) -> (LabelSummary, Flips) {
    let mut flips: Flips = BTreeMap::new();
    let (mut n, mut changed) = (0u64, 0u64);
    for l in compared.iter().filter_map(|c| c.label) {
        n += 1;
        changed += u64::from(l.recorded != l.candidate);
        // The same few labels repeat: look up before allocating keys.
        let row = match flips.get_mut(&l.recorded) {
            Some(row) => row,
            None => flips.entry(l.recorded.clone()).or_default(),
        };
        match row.get_mut(&l.candidate) {
            Some(n) => *n += 1,
            None => {
                row.insert(l.candidate.clone(), 1);
            }
        }
    }
    let summary = LabelSummary {
        path: path.to_string(),
        compared: n,
        changed,
        agreement_rate: ratio(n - changed, n),
    };
    (summary, flips)
}

pub(super) fn scores(compared: &[Compared<'_>], path: &PathPattern) -> Option<ScoreSummary> {
    let pairs: Vec<&ScorePair> = compared.iter().filter_map(|c| c.score).collect();
    if pairs.is_empty() {
        return None;
    }
    let old = stats::sorted_finite(pairs.iter().map(|p| p.recorded));
    let new = stats::sorted_finite(pairs.iter().map(|p| p.candidate));
    let deltas: Vec<f64> = pairs
        .iter()
        .map(|p| p.delta)
        .filter(|d| d.is_finite())
        .collect();
    let abs: Vec<f64> = deltas.iter().map(|d| d.abs()).collect();
    Some(ScoreSummary {
        path: path.to_string(),
        compared: pairs.len() as u64,
        changed: pairs.iter().filter(|p| p.delta != 0.0).count() as u64,
        mean_recorded: stats::mean(&old),
        mean_candidate: stats::mean(&new),
        mean_delta: stats::mean(&deltas),
        mean_abs_delta: stats::mean(&abs),
        ks: stats::ks_two_sample(&old, &new),
        histogram: stats::histogram(&old, &new, SCORE_BINS),
    })
}

pub(super) fn quantiles(values: Vec<f64>) -> Option<Quantiles> {
    let sorted = stats::sorted_finite(values);
    Some(Quantiles {
        count: sorted.len() as u64,
        p50: stats::percentile(&sorted, 0.5)?,
        p99: stats::percentile(&sorted, 0.99)?,
    })
}
