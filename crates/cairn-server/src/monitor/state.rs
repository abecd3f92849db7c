//! The monitor's state, pure and synchronous: per stream a bounded label table,
//! the windows of its newest model versions, the latest drift checks and the
//! breaker. [`State::observe`] takes committed decisions; [`State::evaluate`]
//! runs the checks of a stream and moves its breaker, returning a [`Trip`] when
//! it opens.

use std::collections::HashMap;

use serde::Serialize;

use super::drift::{checks, Check, Thresholds};
use super::window::{Point, Stats, Window};

/// The label slot name of labels past the per-stream cap.
pub const OTHER_LABEL: &str = "other";

/// Why a reference could not be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The monitor has seen no decision of the stream.
    #[error("the monitor has seen no decision of this stream")]
    UnknownStream,
    /// The version is not among those tracked for the stream.
    #[error("the monitor tracks no such model version of this stream")]
    UnknownVersion,
}

/// Bounds and timing of the monitor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Streams tracked; decisions of further streams are counted as dropped.
    pub streams_max: usize,
    /// Model versions tracked per stream (the newest by first appearance).
    pub versions_max: usize,
    /// Distinct labels per stream; later labels count as `other`.
    pub labels_max: usize,
    /// Window length.
    pub window_ms: u64,
    /// Buckets per window (the window slides by `window_ms / buckets`).
    pub buckets: usize,
    /// An open breaker closes by itself after every check passes this long.
    pub close_after_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            streams_max: 256,
            versions_max: 4,
            labels_max: 16,
            window_ms: 60_000,
            buckets: 12,
            close_after_ms: 300_000,
        }
    }
}

/// A model version of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Version {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: String,
}

/// One committed decision, as the monitor is given it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The stream.
    pub stream: String,
    /// Model name and version.
    pub model: Version,
    /// The decision label.
    pub label: Option<String>,
    /// The score.
    pub score: Option<f64>,
    /// The model latency.
    pub latency_ms: Option<f64>,
}

/// Why a breaker opened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trip {
    /// The stream.
    pub stream: String,
    /// The check that tripped (the first, in the order of the checks).
    pub check: Check,
    /// The version checked.
    pub current: Version,
    /// The version it was compared with.
    pub reference: Version,
    /// The current window, `[start, end)` in µs of recorded time.
    pub window_start_us: i64,
    /// End of the window.
    pub window_end_us: i64,
    /// When it opened (recorded time of the newest decision, µs).
    pub opened_at_us: i64,
}

/// A breaker.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Breaker {
    /// Fine.
    Closed,
    /// Tripped.
    Open {
        /// Why.
        trip: Box<Trip>,
        /// Since when every check has passed, if they do now.
        passing_since_us: Option<i64>,
    },
}

struct VersionState {
    key: Version,
    first_seen_us: i64,
    total: u64,
    labels_total: Vec<u64>,
    window: Window,
}

struct StreamState {
    labels: Vec<String>,
    versions: Vec<VersionState>,
    checks: Vec<Check>,
    compared: Option<(Version, Version)>,
    /// A (current, reference) pair the operator accepted by a reset: compared
    /// and shown, but it trips nothing.
    accepted: Option<(Version, Version)>,
    /// A reference version the operator pinned, instead of the previous one.
    pinned: Option<Version>,
    breaker: Breaker,
    trips: HashMap<&'static str, u64>,
}

/// Everything the monitor knows.
pub struct State {
    limits: Limits,
    thresholds: Thresholds,
    streams: HashMap<String, StreamState>,
    /// Decisions of streams past `streams_max`.
    pub dropped: u64,
}

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
    /// Decisions in the window.
    pub window: u64,
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
    /// The latest checks.
    pub checks: Vec<Check>,
    /// Trips since the daemon started, by check.
    pub trips: Vec<(String, u64)>,
    /// Versions, newest first.
    pub versions: Vec<VersionView>,
}

impl State {
    /// Empty.
    pub fn new(limits: Limits, thresholds: Thresholds) -> State {
        State {
            limits,
            thresholds,
            streams: HashMap::new(),
            dropped: 0,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Count a committed decision recorded at `time_us`. Constant work: a
    /// lookup of the stream, a scan of at most `versions_max` versions and
    /// `labels_max` labels.
    pub fn observe(&mut self, time_us: i64, o: &Observation) {
        let limits = &self.limits;
        if !self.streams.contains_key(&o.stream) {
            if self.streams.len() >= limits.streams_max {
                self.dropped += 1;
                return;
            }
            self.streams.insert(
                o.stream.clone(),
                StreamState {
                    labels: Vec::new(),
                    versions: Vec::new(),
                    checks: Vec::new(),
                    compared: None,
                    accepted: None,
                    pinned: None,
                    breaker: Breaker::Closed,
                    trips: HashMap::new(),
                },
            );
        }
        let Some(s) = self.streams.get_mut(&o.stream) else {
            return;
        };
        let slots = limits.labels_max + 1;
        let label = o.label.as_deref().map(|l| {
            match s.labels.iter().position(|x| x == l) {
                Some(i) => i,
                None if s.labels.len() < limits.labels_max => {
                    s.labels.push(l.to_owned());
                    s.labels.len() - 1
                }
                None => limits.labels_max, // `other`
            }
        });
        let i = match s.versions.iter().position(|v| v.key == o.model) {
            Some(i) => i,
            None => {
                if s.versions.len() >= limits.versions_max {
                    // Forget the oldest version (never a pinned one).
                    let pinned = s.pinned.as_ref();
                    if let Some(oldest) = (0..s.versions.len())
                        .filter(|&i| Some(&s.versions[i].key) != pinned)
                        .min_by_key(|&i| s.versions[i].first_seen_us)
                    {
                        s.versions.swap_remove(oldest);
                    }
                }
                s.versions.push(VersionState {
                    key: o.model.clone(),
                    first_seen_us: time_us,
                    total: 0,
                    labels_total: vec![0; slots],
                    window: Window::new(
                        limits.buckets,
                        limits.window_ms / limits.buckets.max(1) as u64,
                        slots,
                    ),
                });
                s.versions.len() - 1
            }
        };
        let v = &mut s.versions[i];
        v.total += 1;
        if let Some(c) = label.and_then(|l| v.labels_total.get_mut(l)) {
            *c += 1;
        }
        v.window.add(
            time_us,
            &Point {
                label,
                score: o.score,
                latency_ms: o.latency_ms,
            },
        );
    }

    /// Run the checks of `stream` (at recorded time `now_us`) and move its
    /// breaker; a [`Trip`] when it opens.
    pub fn evaluate(&mut self, stream: &str, now_us: i64) -> Option<Trip> {
        let close_after_us = (self.limits.close_after_ms as i64).saturating_mul(1000);
        let s = self.streams.get_mut(stream)?;
        let mut order: Vec<usize> = (0..s.versions.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(s.versions[i].first_seen_us));
        // The reference: the pinned version if it is tracked and is not the
        // newest, else the version first seen before the newest.
        let pinned = order
            .iter()
            .copied()
            .skip(1)
            .find(|&i| Some(&s.versions[i].key) == s.pinned.as_ref());
        let (Some(&cur), Some(reference)) = (order.first(), pinned.or(order.get(1).copied()))
        else {
            s.checks.clear();
            s.compared = None;
            return None;
        };
        let (cv, rv) = (&s.versions[cur], &s.versions[reference]);
        s.checks = checks(&cv.window.total(), &rv.window.total(), &self.thresholds);
        let pair = (cv.key.clone(), rv.key.clone());
        let accepted = s.accepted.as_ref() == Some(&pair);
        let tripped = if accepted {
            None
        } else {
            s.checks.iter().find(|c| c.tripped).cloned()
        };
        let (start, end) = cv.window.span_us().unwrap_or((now_us, now_us));
        s.compared = Some(pair.clone());
        match (&mut s.breaker, tripped) {
            (Breaker::Closed, Some(check)) => {
                *s.trips.entry(check.check).or_insert(0) += 1;
                let trip = Trip {
                    stream: stream.to_owned(),
                    check,
                    current: pair.0,
                    reference: pair.1,
                    window_start_us: start,
                    window_end_us: end,
                    opened_at_us: now_us,
                };
                s.breaker = Breaker::Open {
                    trip: Box::new(trip.clone()),
                    passing_since_us: None,
                };
                Some(trip)
            }
            (Breaker::Closed, None) => None,
            (
                Breaker::Open {
                    passing_since_us, ..
                },
                Some(_),
            ) => {
                *passing_since_us = None;
                None
            }
            (
                Breaker::Open {
                    passing_since_us, ..
                },
                None,
            ) => {
                let any_measured = s.checks.iter().any(|c| c.measured) || accepted;
                match passing_since_us {
                    _ if !any_measured => {}
                    None => *passing_since_us = Some(now_us),
                    Some(since) if now_us - *since >= close_after_us => s.breaker = Breaker::Closed,
                    Some(_) => {}
                }
                None
            }
        }
    }

    /// The operator's reset: close the breaker and accept the pair of versions
    /// it compared, which trips nothing more (a newer version is checked again).
    /// False if the stream is unknown.
    pub fn reset(&mut self, stream: &str) -> bool {
        let Some(s) = self.streams.get_mut(stream) else {
            return false;
        };
        s.breaker = Breaker::Closed;
        s.accepted = s.compared.clone();
        true
    }

    /// Pin the reference version of `stream` (`None` unpins: the previous
    /// version again). The version must be one the monitor tracks.
    pub fn pin(&mut self, stream: &str, version: Option<Version>) -> Result<(), PinError> {
        let s = self
            .streams
            .get_mut(stream)
            .ok_or(PinError::UnknownStream)?;
        if let Some(v) = &version {
            if !s.versions.iter().any(|x| &x.key == v) {
                return Err(PinError::UnknownVersion);
            }
        }
        s.pinned = version;
        Ok(())
    }

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
        let window_s = self.limits.window_ms as f64 / 1000.0;
        let versions = versions
            .into_iter()
            .map(|v| {
                let w: Stats = v.window.total();
                let share = |x: u64| (w.n > 0).then(|| x as f64 / w.n as f64);
                VersionView {
                    model: v.key.model.clone(),
                    version: v.key.version.clone(),
                    total: v.total,
                    labels_total: named(&v.labels_total),
                    window: w.n,
                    rate_per_s: w.n as f64 / window_s.max(1e-3),
                    labels: named(&w.labels),
                    no_label_share: share(w.no_label),
                    no_score_share: share(w.no_score),
                    score_bins: w.scores.to_vec(),
                    score_mean: w.score_mean(),
                    latency_p50_ms: w.latency_quantile_ms(0.5),
                    latency_p99_ms: w.latency_quantile_ms(0.99),
                }
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

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
