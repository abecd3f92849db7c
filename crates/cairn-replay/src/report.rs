//! The report of a run: what was replayed, what agreed, which labels flipped, which
//! paths differ (and which of those are noise), how scores and latency shifted,
//! which calls failed, and the top examples. [`analyze`] builds it from the records
//! and their outcomes; it is a pure function.
//!
//! Its JSON form (field order fixed, `format` = [`FORMAT`]) is the "full JSON
//! results" whose BLAKE3 digest the replay entry carries.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use crate::candidate::FailureKind;
use crate::diff::{diff_paths, DiffRules, Difference};
use crate::gate::{Gate, GateResult};
use crate::noise::{NoiseRule, Verdict};
use crate::path::PathPattern;
use crate::record::{NotReplayable, Record};
use crate::run::{Answer, Outcome, Reply};
use crate::selection::Selection;
use crate::stats::{Histogram, KsTest};

mod summaries;

use summaries::{examples, label_pair, labels, quantiles, ratio, score_pair, scores, PathCounts};

/// The `format` of the JSON results.
pub const FORMAT: &str = "cairn-replay-results/1";
/// Bins of the score histograms.
const SCORE_BINS: usize = 20;
/// The label of a candidate output without one.
pub const NO_LABEL: &str = "(none)";

/// How to analyse.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Tolerances and ignored paths.
    pub rules: DiffRules,
    /// Where the decision label is in an output.
    pub label_path: PathPattern,
    /// Where the score is in an output.
    pub score_path: PathPattern,
    /// Most examples in the report.
    pub examples_max: usize,
    /// The noise rule (used with a baseline).
    pub noise: NoiseRule,
}

/// An endpoint as reported: its URL or command and the model it serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    /// URL or command line.
    pub endpoint: String,
    /// `NAME@VERSION[#DIGEST]`, as the user gave it.
    pub model: Option<String>,
}

/// The settings of a run, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Most sessions in flight.
    pub concurrency: usize,
    /// Most records started per second.
    pub rate_per_s: Option<f64>,
    /// Per-request timeout.
    pub timeout_ms: u64,
    /// Retries after a retryable failure.
    pub retries: u32,
    /// Tolerances, as `PATH=ABS,REL`.
    pub tolerances: Vec<String>,
    /// Ignored paths.
    pub ignore: Vec<String>,
    /// Where the label is.
    pub label_path: String,
    /// Where the score is.
    pub score_path: String,
}

/// What the caller knows about the run and the analysis does not.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The candidate.
    pub candidate: Endpoint,
    /// The baseline, if any.
    pub baseline: Option<Endpoint>,
    /// What was selected.
    pub selection: Selection,
    /// The settings.
    pub settings: Settings,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// How long the replay took.
    pub duration_ms: f64,
    /// Whether it was cut short (Ctrl-C).
    pub interrupted: bool,
}

/// The label comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelSummary {
    /// Where the label was read.
    pub path: String,
    /// Replayed entries with a recorded label.
    pub compared: u64,
    /// Of those, entries whose label changed.
    pub changed: u64,
    /// `1 − changed / compared`.
    pub agreement_rate: Option<f64>,
}

/// Differences at one path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathSummary {
    /// The path.
    pub path: String,
    /// Entries where the candidate differs here.
    pub candidate: u64,
    /// `candidate / replayed`.
    pub candidate_rate: f64,
    /// Counts by kind of difference.
    pub kinds: BTreeMap<&'static str, u64>,
    /// With a baseline: entries answered by both where the candidate differs here.
    pub paired_candidate: Option<u64>,
    /// With a baseline: entries answered by both where the baseline differs here.
    pub paired_baseline: Option<u64>,
    /// `difference` or `noise`.
    pub verdict: Verdict,
    /// The test statistic, when the test was run.
    pub z: Option<f64>,
}

/// The noise cancellation, with a baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoiseSummary {
    /// The rule and its parameters.
    pub rule: NoiseRule,
    /// Entries answered by both the candidate and the baseline.
    pub paired: u64,
    /// Paths judged noise.
    pub noise_paths: Vec<String>,
    /// Baseline calls that failed.
    pub baseline_errors: u64,
}

/// The score shift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreSummary {
    /// Where the score was read.
    pub path: String,
    /// Entries with both a recorded and a candidate score.
    pub compared: u64,
    /// Of those, entries whose score changed.
    pub changed: u64,
    /// Mean recorded score.
    pub mean_recorded: Option<f64>,
    /// Mean candidate score.
    pub mean_candidate: Option<f64>,
    /// Mean of (candidate − recorded).
    pub mean_delta: Option<f64>,
    /// Mean of |candidate − recorded|.
    pub mean_abs_delta: Option<f64>,
    /// Two-sample Kolmogorov–Smirnov test between the two distributions.
    pub ks: Option<KsTest>,
    /// Histograms of both, on shared bins.
    pub histogram: Option<Histogram>,
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    /// Values.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Latency, recorded against measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySummary {
    /// The recorded model latency of the replayed entries.
    pub recorded: Option<Quantiles>,
    /// The candidate's round-trip time.
    pub candidate: Option<Quantiles>,
    /// The baseline's round-trip time.
    pub baseline: Option<Quantiles>,
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorDetail {
    /// The entry.
    pub seq: u64,
    /// What kind of failure.
    pub kind: FailureKind,
    /// What went wrong.
    pub message: String,
    /// Attempts made.
    pub attempts: u32,
}

/// An entry that differs, by path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DifferingEntry {
    /// The entry.
    pub seq: u64,
    /// The paths where it really differs.
    pub paths: Vec<String>,
}

/// A label before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelPair {
    /// Recorded.
    pub recorded: String,
    /// Candidate's.
    pub candidate: String,
}

/// A score before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScorePair {
    /// Recorded.
    pub recorded: f64,
    /// Candidate's.
    pub candidate: f64,
    /// Candidate's minus recorded.
    pub delta: f64,
}

/// One example of a differing entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    /// The entry.
    pub seq: u64,
    /// Its session.
    pub session: Option<String>,
    /// The label, when it was compared.
    pub(crate) label: Option<LabelPair>,
    /// The score, when it was compared.
    pub score: Option<ScorePair>,
    /// The paths, kinds and values that differ (real differences only).
    pub differences: Vec<Difference>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`FORMAT`].
    pub format: &'static str,
    /// The candidate.
    pub candidate: Endpoint,
    /// The baseline.
    pub baseline: Option<Endpoint>,
    /// What was selected.
    pub selection: Selection,
    /// The settings.
    pub settings: Settings,
    /// When the run started.
    pub started_at: String,
    /// How long the replay took.
    pub duration_ms: f64,
    /// Cut short by Ctrl-C.
    pub interrupted: bool,
    /// Entries selected, replayable or not.
    pub selected: u64,
    /// Selected entries whose payloads were erased, with why.
    pub not_replayable: Vec<NotReplayable>,
    /// Entries the candidate answered.
    pub replayed: u64,
    /// Entries on which every attempt to call the candidate failed.
    pub errors: u64,
    /// Entries not sent or not answered because the run was cancelled.
    pub cancelled: u64,
    /// Replayed entries without a real difference.
    pub agreeing: u64,
    /// `agreeing / replayed`.
    pub agreement_rate: Option<f64>,
    /// The label comparison.
    pub label: LabelSummary,
    /// Recorded label → candidate label → entries (the diagonal is agreement).
    pub flips: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per-path differences, most frequent first.
    pub paths: Vec<PathSummary>,
    /// The noise cancellation, with a baseline.
    pub noise: Option<NoiseSummary>,
    /// The score shift.
    pub score: Option<ScoreSummary>,
    /// Latency.
    pub latency_ms: LatencySummary,
    /// Failures by kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Every failed call, by seq.
    pub error_details: Vec<ErrorDetail>,
    /// Every entry with a real difference, by seq.
    pub differing: Vec<DifferingEntry>,
    /// The top examples: label flips first, then the largest score changes, then
    /// the most differing paths.
    pub examples: Vec<Example>,
    /// The deploy gates judged on this run (`--gate`), in the order given.
    pub gates: Vec<GateResult>,
}

impl Report {
    /// Judge `gates` on this run and keep their results (in the JSON results, so
    /// in what the replay entry's digest covers); true when every gate holds.
    pub fn judge_gates(&mut self, gates: &[Gate]) -> bool {
        self.gates = gates.iter().map(|g| g.judge(self)).collect();
        self.gates.iter().all(|g| g.passed)
    }

    /// The full JSON results: compact JSON and a newline. These exact bytes are
    /// printed by `--json`, written by `--json-out`, and digested into the ledger.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }
}

/// BLAKE3 of the full JSON results ([`Report::to_json_bytes`]), as recorded in the
/// replay entry's `results_digest`.
pub fn results_digest(json: &[u8]) -> [u8; 32] {
    *blake3::hash(json).as_bytes()
}

/// Per-entry facts kept between the two passes.
struct Compared<'a> {
    record: &'a Record,
    answer: Option<&'a Value>,
    diffs: &'a [Difference],
    label: Option<&'a LabelPair>,
    score: Option<&'a ScorePair>,
}

/// What the analysis needs of one entry once its answers are in: the candidate's
/// and the baseline's differences from the record (paths and kinds) and the label
/// and score pairs. [`examine`] computes it; a replay can do so as each answer
/// arrives, while other requests are in flight, and hand the results to
/// [`analyze_examined`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examined {
    pub(crate) diffs: Vec<Difference>,
    pub(crate) baseline: Option<Vec<Difference>>,
    pub(crate) label: Option<LabelPair>,
    pub(crate) score: Option<ScorePair>,
}

/// Examine one entry: `outcome` is the record's. An answer whose output was let go
/// during the run (see [`crate::run::Answer::output`]) was examined then, and is
/// not examined again: it gives the empty examination.
pub fn examine(record: &Record, outcome: &Outcome, options: &AnalyzeOptions) -> Examined {
    let Reply::Answered(Answer {
        output: Some(output),
        ..
    }) = &outcome.candidate
    else {
        return Examined::default();
    };
    let rules = &options.rules;
    Examined {
        diffs: diff_paths(&record.output, output, rules),
        baseline: match &outcome.baseline {
            Some(Reply::Answered(Answer {
                output: Some(b), ..
            })) => Some(diff_paths(&record.output, b, rules)),
            _ => None,
        },
        label: label_pair(record, output, &options.label_path),
        score: score_pair(record, output, &options.score_path),
    }
}

/// Entries below this are examined on one thread.
const PARALLEL_MIN: usize = 2048;

/// Examine every entry not examined yet, in place, on several threads when many
/// are left.
fn examine_all(
    records: &[Record],
    outcomes: &[Outcome],
    mut examined: Vec<Option<Examined>>,
    options: &AnalyzeOptions,
) -> Vec<Examined> {
    if examined.len() != records.len() {
        examined = vec![None; records.len()];
    }
    let missing = examined.iter().filter(|e| e.is_none()).count();
    let fill = |records: &[Record], outcomes: &[Outcome], examined: &mut [Option<Examined>]| {
        for ((record, outcome), e) in records.iter().zip(outcomes).zip(examined) {
            if e.is_none() {
                *e = Some(examine(record, outcome, options));
            }
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if missing < PARALLEL_MIN || threads < 2 {
        fill(records, outcomes, &mut examined);
    } else {
        let chunk = records.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = records
                .chunks(chunk)
                .zip(outcomes.chunks(chunk))
                .zip(examined.chunks_mut(chunk))
                .map(|((r, o), e)| s.spawn(move || fill(r, o, e)))
                .collect();
            for h in handles {
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            }
        });
    }
    // Every entry is `Some` now; the collect reuses the vector's memory.
    examined
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect()
}

/// Build the report. `outcomes` are in the order of `records`.
pub fn analyze(
    records: &[Record],
    outcomes: &[Outcome],
    not_replayable: Vec<NotReplayable>,
    info: RunInfo,
    options: &AnalyzeOptions,
) -> Report {
    analyze_examined(records, outcomes, Vec::new(), not_replayable, info, options)
}

/// [`analyze`], with entries already examined: `examined[i]` is `records[i]`'s, by
/// [`examine`] with the same `options`. Entries not examined (`None`, or all of
/// them when the lengths differ) are examined here. The report is the same.
pub fn analyze_examined(
    records: &[Record],
    outcomes: &[Outcome],
    examined: Vec<Option<Examined>>,
    not_replayable: Vec<NotReplayable>,
    info: RunInfo,
    options: &AnalyzeOptions,
) -> Report {
    let with_baseline = info.baseline.is_some();
    let examined = examine_all(records, outcomes, examined, options);
    let mut counts = PathCounts::default();
    let n = records.len();
    let mut compared = Vec::with_capacity(n);
    let mut errors = Vec::new();
    let mut cancelled = 0u64;
    let mut paired = 0u64;
    let mut baseline_errors = 0u64;
    let with_baseline_lat = if with_baseline { n } else { 0 };
    let mut lat = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(with_baseline_lat),
    );
    for ((record, outcome), e) in records.iter().zip(outcomes).zip(&examined) {
        match &outcome.candidate {
            Reply::Answered(a) => {
                counts.add_candidate(&e.diffs);
                if let Some(base) = &e.baseline {
                    paired += 1;
                    counts.add_paired(&e.diffs, base);
                }
                lat.0.extend(record.latency_ms);
                lat.1.push(a.latency_ms);
                compared.push(Compared {
                    record,
                    answer: a.output.as_ref(),
                    label: e.label.as_ref(),
                    score: e.score.as_ref(),
                    diffs: &e.diffs,
                });
            }
            Reply::Failed { failure, attempts } => errors.push(ErrorDetail {
                seq: record.seq,
                kind: failure.kind,
                message: failure.message.clone(),
                attempts: *attempts,
            }),
            Reply::Cancelled => cancelled += 1,
        }
        match &outcome.baseline {
            Some(Reply::Answered(b)) => lat.2.push(b.latency_ms),
            Some(Reply::Failed { .. }) => baseline_errors += 1,
            _ => {}
        }
    }
    // With many entries, the latency statistics (sorts) on another thread while
    // this one does the rest.
    let latency = move |lat: (Vec<f64>, Vec<f64>, Vec<f64>)| LatencySummary {
        recorded: quantiles(lat.0),
        candidate: quantiles(lat.1),
        baseline: with_baseline.then(|| quantiles(lat.2)).flatten(),
    };
    let mut lat = Some(lat);
    std::thread::scope(|s| {
        let on_another_thread = (records.len() >= PARALLEL_MIN).then(|| {
            let lat = lat.take().unwrap_or_default();
            s.spawn(move || latency(lat))
        });
        let replayed = compared.len() as u64;
        let paths = counts.summaries(replayed, with_baseline.then_some(paired), &options.noise);
        let real: HashSet<&str> = paths
            .iter()
            .filter(|p| p.verdict == Verdict::Difference)
            .map(|p| p.path.as_str())
            .collect();
        let mut differing = Vec::new();
        let mut ranked = Vec::new();
        for (i, c) in compared.iter().enumerate() {
            let paths: Vec<String> = c
                .diffs
                .iter()
                .filter(|d| real.contains(d.path.as_str()))
                .map(|d| d.path.clone())
                .collect();
            if paths.is_empty() {
                continue;
            }
            ranked.push((i, paths.len()));
            differing.push(DifferingEntry {
                seq: c.record.seq,
                paths,
            });
        }
        let examples = examples(&compared, ranked, &real, options);
        let agreeing = replayed - differing.len() as u64;
        let noise = with_baseline.then(|| NoiseSummary {
            rule: options.noise,
            paired,
            noise_paths: paths
                .iter()
                .filter(|p| p.verdict == Verdict::Noise)
                .map(|p| p.path.clone())
                .collect(),
            baseline_errors,
        });
        let mut error_kinds = BTreeMap::new();
        for e in &errors {
            let name = serde_json::to_value(e.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            *error_kinds.entry(name).or_insert(0) += 1;
        }
        let (label, flips) = labels(&compared, &options.label_path);
        let latency_ms = match on_another_thread {
            Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => latency(lat.take().unwrap_or_default()),
        };
        Report {
            format: FORMAT,
            candidate: info.candidate,
            baseline: info.baseline,
            selection: info.selection,
            settings: info.settings,
            started_at: info.started_at,
            duration_ms: info.duration_ms,
            interrupted: info.interrupted,
            selected: records.len() as u64 + not_replayable.len() as u64,
            not_replayable,
            replayed,
            errors: errors.len() as u64,
            cancelled,
            agreeing,
            agreement_rate: ratio(agreeing, replayed),
            label,
            flips,
            paths,
            noise,
            score: scores(&compared, &options.score_path),
            latency_ms,
            error_kinds,
            error_details: errors,
            differing,
            examples,
            gates: Vec::new(),
        }
    })
}

#[cfg(test)]
mod tests;
