//! The monitor's state, pure and synchronous: per stream a bounded label table,
//! the windows of its newest model versions, the latest drift checks and the
//! breaker. [`State::observe`] takes committed decisions; [`State::evaluate`]
//! runs the checks of a stream and moves its breaker, returning a [`Trip`] when
//! it opens.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::drift::{checks, Check, Thresholds};
use super::persist::{self, Saved, SavedStream};
use super::window::{window_name, Point, Window};

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
    /// Window lengths, shortest first: each version keeps one window of each,
    /// and the checks run on each.
    pub windows_ms: Vec<u64>,
    /// Buckets per window (each window slides by its length / buckets).
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
            windows_ms: vec![60_000, 900_000],
            buckets: 12,
            close_after_ms: 300_000,
        }
    }
}

/// A model version of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// The stream.
    pub stream: String,
    /// The check that tripped (the first, shortest window first, then in the
    /// order of the checks).
    pub check: Check,
    /// The name of the window it tripped on (`1m`).
    pub window: String,
    /// That window's length.
    pub window_ms: u64,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// The checks of one window length.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowChecks {
    /// The window's name (`1m`).
    pub window: String,
    /// Its length.
    pub window_ms: u64,
    /// The checks, in the order of the table in `schemas/monitor.md`.
    pub checks: Vec<Check>,
}

struct VersionState {
    key: Version,
    first_seen_us: i64,
    total: u64,
    labels_total: Vec<u64>,
    /// One per `Limits::windows_ms`.
    windows: Vec<Window>,
}

struct StreamState {
    labels: Vec<String>,
    versions: Vec<VersionState>,
    checks: Vec<WindowChecks>,
    compared: Option<(Version, Version)>,
    /// A (current, reference) pair the operator accepted by a reset: compared
    /// and shown, but it trips nothing.
    accepted: Option<(Version, Version)>,
    /// A reference version the operator pinned, instead of the previous one.
    pinned: Option<Version>,
    breaker: Breaker,
    trips: HashMap<&'static str, u64>,
}

impl StreamState {
    fn new() -> StreamState {
        StreamState {
            labels: Vec::new(),
            versions: Vec::new(),
            checks: Vec::new(),
            compared: None,
            accepted: None,
            pinned: None,
            breaker: Breaker::Closed,
            trips: HashMap::new(),
        }
    }
}

/// Everything the monitor knows.
pub struct State {
    limits: Limits,
    /// `window_name` of each of `limits.windows_ms`.
    window_names: Vec<String>,
    thresholds: Thresholds,
    streams: HashMap<String, StreamState>,
    /// Decisions of streams past `streams_max`.
    pub dropped: u64,
    /// Counts changes of what outlives a restart (breakers, pins, accepted
    /// pairs), so that the monitor knows when to save it.
    generation: u64,
}

impl State {
    /// Empty.
    pub fn new(limits: Limits, thresholds: Thresholds) -> State {
        State {
            window_names: limits
                .windows_ms
                .iter()
                .map(|&ms| window_name(ms))
                .collect(),
            limits,
            thresholds,
            streams: HashMap::new(),
            dropped: 0,
            generation: 0,
        }
    }

    /// Changes so far of what outlives a restart.
    pub fn generation(&self) -> u64 {
        self.generation
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
            self.streams.insert(o.stream.clone(), StreamState::new());
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
                    windows: limits
                        .windows_ms
                        .iter()
                        .map(|&ms| {
                            Window::new(limits.buckets, ms / limits.buckets.max(1) as u64, slots)
                        })
                        .collect(),
                });
                s.versions.len() - 1
            }
        };
        let v = &mut s.versions[i];
        v.total += 1;
        if let Some(c) = label.and_then(|l| v.labels_total.get_mut(l)) {
            *c += 1;
        }
        let point = Point {
            label,
            score: o.score,
            latency_ms: o.latency_ms,
        };
        for w in &mut v.windows {
            w.add(time_us, &point);
        }
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
        s.checks = (self.limits.windows_ms.iter().zip(&self.window_names))
            .zip(cv.windows.iter().zip(&rv.windows))
            .map(|((&ms, name), (cw, rw))| WindowChecks {
                window: name.clone(),
                window_ms: ms,
                checks: checks(&cw.total(), &rw.total(), &self.thresholds),
            })
            .collect();
        let pair = (cv.key.clone(), rv.key.clone());
        let accepted = s.accepted.as_ref() == Some(&pair);
        let tripped = if accepted {
            None
        } else {
            s.checks.iter().enumerate().find_map(|(k, w)| {
                let c = w.checks.iter().find(|c| c.tripped)?;
                Some((k, c.clone()))
            })
        };
        let span = |k: usize| cv.windows.get(k).and_then(Window::span_us);
        s.compared = Some(pair.clone());
        match (&mut s.breaker, tripped) {
            (Breaker::Closed, Some((k, check))) => {
                *s.trips.entry(check.check).or_insert(0) += 1;
                let (start, end) = span(k).unwrap_or((now_us, now_us));
                let trip = Trip {
                    stream: stream.to_owned(),
                    check,
                    window: s.checks[k].window.clone(),
                    window_ms: s.checks[k].window_ms,
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
                self.generation += 1;
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
                let any_measured =
                    s.checks.iter().flat_map(|w| &w.checks).any(|c| c.measured) || accepted;
                match passing_since_us {
                    _ if !any_measured => {}
                    None => *passing_since_us = Some(now_us),
                    Some(since) if now_us - *since >= close_after_us => {
                        s.breaker = Breaker::Closed;
                        self.generation += 1;
                    }
                    Some(_) => {}
                }
                None
            }
        }
    }

    /// The operator's reset: close the breaker and accept the pair of versions
    /// that tripped it (or, when closed, the pair compared), which trips nothing
    /// more (a newer version is checked again). False if the stream is unknown.
    pub fn reset(&mut self, stream: &str) -> bool {
        let Some(s) = self.streams.get_mut(stream) else {
            return false;
        };
        s.accepted = match &s.breaker {
            // Also right after a restart, before any version is compared.
            Breaker::Open { trip, .. } => Some((trip.current.clone(), trip.reference.clone())),
            Breaker::Closed => s.compared.clone(),
        };
        s.breaker = Breaker::Closed;
        self.generation += 1;
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
        self.generation += 1;
        Ok(())
    }

    /// What of the state outlives a restart: the streams whose breaker is
    /// open, or that have a pinned or an accepted pair.
    pub fn saved(&self) -> Saved {
        let streams = self
            .streams
            .iter()
            .filter(|(_, s)| {
                matches!(s.breaker, Breaker::Open { .. })
                    || s.pinned.is_some()
                    || s.accepted.is_some()
            })
            .map(|(name, s)| {
                let breaker = match &s.breaker {
                    Breaker::Open { trip, .. } => Breaker::Open {
                        trip: trip.clone(),
                        passing_since_us: None,
                    },
                    Breaker::Closed => Breaker::Closed,
                };
                let saved = SavedStream {
                    breaker,
                    pinned: s.pinned.clone(),
                    accepted: s.accepted.clone(),
                };
                (name.clone(), saved)
            })
            .collect();
        Saved {
            format: persist::FORMAT.to_owned(),
            streams,
        }
    }

    /// Take back a saved state (at start, before any decision): breakers,
    /// pins and accepted pairs; at most `streams_max` streams. Returns the
    /// number of streams taken back.
    pub fn restore(&mut self, saved: Saved) -> usize {
        let mut n = 0;
        for (name, saved) in saved.streams {
            if self.streams.len() >= self.limits.streams_max {
                break;
            }
            let s = self.streams.entry(name).or_insert_with(StreamState::new);
            s.breaker = match saved.breaker {
                Breaker::Open { trip, .. } => Breaker::Open {
                    trip,
                    passing_since_us: None,
                },
                Breaker::Closed => Breaker::Closed,
            };
            s.pinned = saved.pinned;
            s.accepted = saved.accepted;
            n += 1;
        }
        n
    }
}

#[path = "state_view.rs"]
mod view;
pub use view::{StreamView, VersionView, WindowView};

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
