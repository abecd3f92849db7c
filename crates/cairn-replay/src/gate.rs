//! Deploy gates: conditions on a replay's results that a pipeline requires before a
//! candidate ships (`cairn replay --gate 'agreement>=0.98'`). A gate is parsed once
//! ([`Gate::parse`]) and judged against a [`Report`] ([`Gate::judge`]); both are pure.
//!
//! A gate whose metric cannot be measured on the run (no label compared, no score,
//! no candidate latency) fails: a gate exists to be proven, and "nothing to compare"
//! proves nothing.

use std::fmt;

use serde::Serialize;

use crate::report::Report;

/// Why a gate expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// No comparison operator.
    #[error("gate {expr:?}: expected METRIC OP NUMBER with OP one of >= <= > < == != (e.g. agreement>=0.98)")]
    NoOperator {
        /// The expression.
        expr: String,
    },
    /// The metric is not one of [`METRICS`].
    #[error("gate {expr:?}: unknown metric {metric:?}; known: {known}")]
    UnknownMetric {
        /// The expression.
        expr: String,
        /// The metric as written.
        metric: String,
        /// The known metrics, for the message.
        known: String,
    },
    /// The threshold is not a finite number.
    #[error("gate {expr:?}: the threshold {threshold:?} is not a finite number")]
    BadThreshold {
        /// The expression.
        expr: String,
        /// The threshold as written.
        threshold: String,
    },
}

/// The metrics a gate can test, with what each measures (for `--help` and errors).
pub const METRICS: &[(&str, &str)] = &[
    (
        "agreement",
        "share of replayed decisions whose whole output has no real difference",
    ),
    (
        "label_agreement",
        "share of label-compared decisions whose label is unchanged",
    ),
    (
        "flip[A->B]",
        "share of label-compared decisions whose label went from A to B",
    ),
    (
        "score_shift_mean",
        "|mean(candidate score − recorded score)|",
    ),
    (
        "score_shift_mean_abs",
        "mean |candidate score − recorded score|",
    ),
    (
        "score_ks",
        "Kolmogorov–Smirnov distance between recorded and candidate scores",
    ),
    (
        "errors",
        "decisions on which every call to the candidate failed",
    ),
    ("error_rate", "errors / (replayed + errors)"),
    ("replayed", "decisions the candidate answered"),
    ("p50_latency_ms", "median candidate round-trip time"),
    (
        "p99_latency_ms",
        "99th percentile candidate round-trip time",
    ),
];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    /// Longest first, so that `>=` is not read as `>`.
    const ALL: [(&'static str, Op); 6] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];

    fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Ge => value >= threshold,
            Op::Le => value <= threshold,
            Op::Gt => value > threshold,
            Op::Lt => value < threshold,
            Op::Eq => value == threshold,
            Op::Ne => value != threshold,
        }
    }

    fn as_str(self) -> &'static str {
        Op::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(s, _)| s)
    }
}

/// What a gate measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// Whole-output agreement.
    Agreement,
    /// Label agreement.
    LabelAgreement,
    /// Share of compared labels that went from one label to another.
    Flip {
        /// Recorded label.
        from: String,
        /// Candidate label.
        to: String,
    },
    /// |mean delta| of scores.
    ScoreShiftMean,
    /// Mean |delta| of scores.
    ScoreShiftMeanAbs,
    /// KS distance of scores.
    ScoreKs,
    /// Failed decisions.
    Errors,
    /// Failed share.
    ErrorRate,
    /// Answered decisions.
    Replayed,
    /// Candidate latency median.
    P50LatencyMs,
    /// Candidate latency p99.
    P99LatencyMs,
}

impl Metric {
    fn parse(text: &str) -> Option<Metric> {
        if let Some(inner) = text
            .strip_prefix("flip[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            let (from, to) = inner.split_once("->")?;
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() {
                return None;
            }
            return Some(Metric::Flip {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
        Some(match text {
            "agreement" => Metric::Agreement,
            "label_agreement" => Metric::LabelAgreement,
            "score_shift_mean" => Metric::ScoreShiftMean,
            "score_shift_mean_abs" => Metric::ScoreShiftMeanAbs,
            "score_ks" => Metric::ScoreKs,
            "errors" => Metric::Errors,
            "error_rate" => Metric::ErrorRate,
            "replayed" => Metric::Replayed,
            "p50_latency_ms" => Metric::P50LatencyMs,
            "p99_latency_ms" => Metric::P99LatencyMs,
            _ => return None,
        })
    }

    /// The metric's value on a report, `None` when the run cannot measure it.
    pub fn measure(&self, r: &Report) -> Option<f64> {
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        let score = r.score.as_ref();
        match self {
            Metric::Agreement => r.agreement_rate,
            Metric::LabelAgreement => r.label.agreement_rate,
            Metric::Flip { from, to } => {
                let n = r
                    .flips
                    .get(from)
                    .and_then(|row| row.get(to))
                    .copied()
                    .unwrap_or(0);
                ratio(n, r.label.compared)
            }
            Metric::ScoreShiftMean => score.and_then(|s| s.mean_delta).map(f64::abs),
            Metric::ScoreShiftMeanAbs => score.and_then(|s| s.mean_abs_delta),
            Metric::ScoreKs => score.and_then(|s| s.ks.as_ref()).map(|k| k.d),
            Metric::Errors => Some(r.errors as f64),
            Metric::ErrorRate => ratio(r.errors, r.replayed + r.errors),
            Metric::Replayed => Some(r.replayed as f64),
            Metric::P50LatencyMs => r.latency_ms.candidate.map(|q| q.p50),
            Metric::P99LatencyMs => r.latency_ms.candidate.map(|q| q.p99),
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Metric::Flip { from, to } => return write!(f, "flip[{from}->{to}]"),
            Metric::Agreement => "agreement",
            Metric::LabelAgreement => "label_agreement",
            Metric::ScoreShiftMean => "score_shift_mean",
            Metric::ScoreShiftMeanAbs => "score_shift_mean_abs",
            Metric::ScoreKs => "score_ks",
            Metric::Errors => "errors",
            Metric::ErrorRate => "error_rate",
            Metric::Replayed => "replayed",
            Metric::P50LatencyMs => "p50_latency_ms",
            Metric::P99LatencyMs => "p99_latency_ms",
        };
        f.write_str(name)
    }
}

/// A parsed gate: `METRIC OP THRESHOLD`.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// The expression as given.
    pub expr: String,
    /// What is measured.
    pub metric: Metric,
    /// How it is compared.
    pub op: Op,
    /// With what.
    pub threshold: f64,
}

/// A gate judged against a run: one item of the results' `gates`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateResult {
    /// The expression as given.
    pub gate: String,
    /// The metric, normalised.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The threshold.
    pub threshold: f64,
    /// The measured value; `null` when the run could not measure it.
    pub value: Option<f64>,
    /// Whether the gate holds (false when not measured).
    pub passed: bool,
    /// `value − threshold` (how far above or below the threshold), when measured.
    pub margin: Option<f64>,
}

impl Gate {
    /// Parse `METRIC OP NUMBER` (spaces allowed around the operator).
    pub fn parse(expr: &str) -> Result<Gate, GateError> {
        // The operator is searched for after any `flip[...]`, whose labels may
        // themselves hold `<` or `>` characters (as in `a->b`).
        let search_from = if expr.trim_start().starts_with("flip[") {
            expr.find(']').map_or(expr.len(), |i| i + 1)
        } else {
            0
        };
        let found = Op::ALL
            .iter()
            .filter_map(|(s, op)| {
                expr[search_from..]
                    .find(s)
                    .map(|i| (search_from + i, *s, *op))
            })
            .min_by_key(|(i, s, _)| (*i, std::cmp::Reverse(s.len())));
        let Some((at, sym, op)) = found else {
            return Err(GateError::NoOperator {
                expr: expr.to_owned(),
            });
        };
        let metric_text = expr[..at].trim();
        let threshold_text = expr[at + sym.len()..].trim();
        let metric = Metric::parse(metric_text).ok_or_else(|| GateError::UnknownMetric {
            expr: expr.to_owned(),
            metric: metric_text.to_owned(),
            known: METRICS
                .iter()
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let threshold = threshold_text
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .ok_or_else(|| GateError::BadThreshold {
                expr: expr.to_owned(),
                threshold: threshold_text.to_owned(),
            })?;
        Ok(Gate {
            expr: expr.to_owned(),
            metric,
            op,
            threshold,
        })
    }

    /// Judge the gate on a report.
    pub fn judge(&self, report: &Report) -> GateResult {
        let value = self.metric.measure(report);
        GateResult {
            gate: self.expr.clone(),
            metric: self.metric.to_string(),
            op: self.op,
            threshold: self.threshold,
            value,
            passed: value.is_some_and(|v| self.op.holds(v, self.threshold)),
            margin: value.map(|v| v - self.threshold),
        }
    }
}

impl GateResult {
    /// One line for the terminal: `PASS agreement>=0.98 (0.9912, 0.0112 above)`.
    pub fn line(&self) -> String {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        let gate = format!("{}{}{}", self.metric, self.op.as_str(), self.threshold);
        match (self.value, self.margin) {
            (Some(v), Some(m)) => {
                let side = if m >= 0.0 { "above" } else { "below" };
                format!(
                    "{verdict} {gate}: measured {}, {} {side} the threshold",
                    short(v),
                    short(m.abs())
                )
            }
            _ => format!("{verdict} {gate}: not measurable on this run"),
        }
    }
}

/// A number in at most 6 significant digits, without trailing zeros.
fn short(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_operator_and_metric() {
        let g = Gate::parse("agreement>=0.98").expect("a valid gate");
        assert_eq!(
            (g.metric, g.op, g.threshold),
            (Metric::Agreement, Op::Ge, 0.98)
        );
        let g = Gate::parse(" p99_latency_ms < 50 ").expect("a valid gate");
        assert_eq!((g.metric, g.op), (Metric::P99LatencyMs, Op::Lt));
        let g = Gate::parse("errors==0").expect("a valid gate");
        assert_eq!((g.metric, g.op), (Metric::Errors, Op::Eq));
        let g = Gate::parse("flip[approve->deny]<=0.01").expect("a valid gate");
        assert_eq!(
            g.metric,
            Metric::Flip {
                from: "approve".into(),
                to: "deny".into()
            }
        );
        assert_eq!((g.op, g.threshold), (Op::Le, 0.01));
        let g = Gate::parse("flip[a->b] != 1").expect("a valid gate");
        assert_eq!(g.op, Op::Ne);
    }

    #[test]
    fn refuses_bad_expressions() {
        type Check = fn(&GateError) -> bool;
        let table: &[(&str, Check)] = &[
            ("agreement", |e| matches!(e, GateError::NoOperator { .. })),
            ("agreemnt>=1", |e| {
                matches!(e, GateError::UnknownMetric { .. })
            }),
            ("flip[->b]<=1", |e| {
                matches!(e, GateError::UnknownMetric { .. })
            }),
            ("agreement>=abc", |e| {
                matches!(e, GateError::BadThreshold { .. })
            }),
            ("agreement>=NaN", |e| {
                matches!(e, GateError::BadThreshold { .. })
            }),
            ("agreement>=", |e| {
                matches!(e, GateError::BadThreshold { .. })
            }),
        ];
        for (expr, check) in table {
            let err = Gate::parse(expr).expect_err("a malformed gate");
            assert!(check(&err), "{expr}: {err}");
        }
    }

    #[test]
    fn lines_say_by_how_much() {
        let r = GateResult {
            gate: "agreement>=0.98".into(),
            metric: "agreement".into(),
            op: Op::Ge,
            threshold: 0.98,
            value: Some(0.95),
            passed: false,
            margin: Some(0.95 - 0.98),
        };
        assert_eq!(
            r.line(),
            "FAIL agreement>=0.98: measured 0.95, 0.03 below the threshold"
        );
    }
}
