//! The monitor's state as the API shows it: per stream the breaker, the checks
//! of each window and, per version, the counts of each window.

use serde::Serialize;

use super::{Breaker, State, StreamState, Version, VersionState, WindowChecks, OTHER_LABEL};
use crate::monitor::window::{Stats, Window};

/// A version as shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionView {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
    /// Decisions since the daemon started.
    pub total: u64,
    /// Decisions by label since the daemon started.
    pub labels_total: Vec<(String, u64)>,
    /// The version's windows, shortest first.
    pub windows: Vec<WindowView>,
}

/// One window of a version as shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    /// The window's name (`1m`).
    pub window: String,
    /// Its length.
    pub window_ms: u64,
    /// Decisions in the window.
    pub decisions: u64,
    /// Decisions per second over the window.
    pub rate_per_s: f64,
    /// Label mix in the window.
    pub labels: Vec<(String, u64)>,
    /// Share of the window's decisions without a label.
    pub no_label_share: Option<f64>,
    /// Share of the window's decisions without a score.
    pub no_score_share: Option<f64>,
    /// Score histogram of the window (20 bins over [0, 1]).
    pub score_bins: Vec<u64>,
    /// Mean score in the window.
    pub score_mean: Option<f64>,
    /// Latency percentiles in the window.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile.
    pub latency_p99_ms: Option<f64>,
}

/// A stream as shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamView {
    /// The stream.
    pub stream: String,
    /// The breaker.
    pub breaker: Breaker,
    /// The versions compared: `[current, reference]`.
    pub compared: Option<(Version, Version)>,
    /// Whether the operator accepted that pair (a reset).
    pub accepted: bool,
    /// The reference version the operator pinned.
    pub pinned: Option<Version>,
    /// The latest checks, per window (shortest first).
    pub checks: Vec<WindowChecks>,
    /// Trips since the daemon started, by check.
    pub trips: Vec<(String, u64)>,
    /// Versions, newest first.
    pub versions: Vec<VersionView>,
}
impl State {
    /// Every stream, sorted by name.
    pub fn view(&self) -> Vec<StreamView> {
        let mut out: Vec<StreamView> = self
            .streams
            .iter()
            .map(|(name, s)| self.stream_view(name, s))
            .collect();
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        out
    }

    fn stream_view(&self, name: &str, s: &StreamState) -> StreamView {
        let label_name = |i: usize| s.labels.get(i).map_or(OTHER_LABEL.to_owned(), Clone::clone);
        let named = |counts: &[u64]| -> Vec<(String, u64)> {
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (label_name(i), *n))
                .collect()
        };
        let mut versions: Vec<&VersionState> = s.versions.iter().collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.first_seen_us));
        let window_view = |window: &Window, k: usize| {
            let ms = self.limits.windows_ms.get(k).copied().unwrap_or(0);
            let w: Stats = window.total();
            let share = |x: u64| (w.n > 0).then(|| x as f64 / w.n as f64);
            WindowView {
                window: self.window_names.get(k).cloned().unwrap_or_default(),
                window_ms: ms,
                decisions: w.n,
                rate_per_s: w.n as f64 / (ms as f64 / 1000.0).max(1e-3),
                labels: named(&w.labels),
                no_label_share: share(w.no_label),
                no_score_share: share(w.no_score),
                score_bins: w.scores.to_vec(),
                score_mean: w.score_mean(),
                latency_p50_ms: w.latency_quantile_ms(0.5),
                latency_p99_ms: w.latency_quantile_ms(0.99),
            }
        };
        let versions = versions
            .into_iter()
            .map(|v| VersionView {
                model: v.key.model.clone(),
                version: v.key.version.clone(),
                total: v.total,
                labels_total: named(&v.labels_total),
                windows: (v.windows.iter().enumerate())
                    .map(|(k, w)| window_view(w, k))
                    .collect(),
            })
            .collect();
        let mut trips: Vec<(String, u64)> =
            s.trips.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        trips.sort();
        StreamView {
            stream: name.to_owned(),
            breaker: s.breaker.clone(),
            compared: s.compared.clone(),
            accepted: s.compared.is_some() && s.accepted == s.compared,
            pinned: s.pinned.clone(),
            checks: s.checks.clone(),
            trips,
            versions,
        }
    }
}
