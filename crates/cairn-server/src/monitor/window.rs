//! What the monitor keeps of one model version's traffic: fixed-size counters
//! ([`Stats`]) in a ring of time buckets ([`Window`]). Memory is fixed by the
//! configuration (buckets × label slots × bins), whatever the traffic.
//!
//! A window ends at the version's newest observation, not at "now": a version
//! that stopped receiving traffic (the one just replaced) keeps its last window,
//! which is what the newest version is compared with.

/// Score histogram bins over [0, 1]; scores outside go to the edge bins.
pub const SCORE_BINS: usize = 20;
/// Latency histogram bins: bin `i` holds latencies up to `0.1 ms × 1.25^i`
/// (the last also everything longer); about 130 s at the top.
pub const LATENCY_BINS: usize = 64;
const LATENCY_FIRST_MS: f64 = 0.1;
const LATENCY_GROWTH: f64 = 1.25;

/// The upper bound of latency bin `i`, in ms.
pub fn latency_bound_ms(i: usize) -> f64 {
    LATENCY_FIRST_MS * LATENCY_GROWTH.powi(i as i32)
}

fn latency_bin(ms: f64) -> usize {
    if ms <= LATENCY_FIRST_MS {
        return 0;
    }
    let i = ((ms / LATENCY_FIRST_MS).ln() / LATENCY_GROWTH.ln()).ceil();
    (i as usize).min(LATENCY_BINS - 1)
}

fn score_bin(score: f64) -> usize {
    let i = (score * SCORE_BINS as f64).floor();
    if i < 0.0 {
        0
    } else {
        (i as usize).min(SCORE_BINS - 1)
    }
}

/// A window's short name, as in the `window` label of the metrics: `1m`,
/// `15m`, `90s`, `2h`, or `1500ms` when no larger unit divides it.
pub fn window_name(ms: u64) -> String {
    for (unit, len) in [("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= len && ms.is_multiple_of(len) {
            return format!("{}{unit}", ms / len);
        }
    }
    format!("{ms}ms")
}

/// One decision as the monitor sees it; `label` is a slot of the stream's label
/// table (the last slot is `other`), `None` for a decision without a label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Label slot.
    pub label: Option<usize>,
    /// Score.
    pub score: Option<f64>,
    /// Model latency.
    pub latency_ms: Option<f64>,
}

/// Mergeable counters over some decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Decisions.
    pub n: u64,
    /// Decisions without a label.
    pub no_label: u64,
    /// Decisions without a score.
    pub no_score: u64,
    /// Per label slot (the last is `other`).
    pub labels: Vec<u64>,
    /// Score histogram.
    pub scores: [u64; SCORE_BINS],
    /// Sum of scores (for the mean).
    pub score_sum: f64,
    /// Latency histogram.
    pub latency: Vec<u64>,
    /// Decisions with a latency.
    pub latency_n: u64,
}

impl Stats {
    /// Empty, with `slots` label slots (`other` included).
    pub fn new(slots: usize) -> Stats {
        Stats {
            n: 0,
            no_label: 0,
            no_score: 0,
            labels: vec![0; slots],
            scores: [0; SCORE_BINS],
            score_sum: 0.0,
            latency: vec![0; LATENCY_BINS],
            latency_n: 0,
        }
    }

    fn clear(&mut self) {
        self.n = 0;
        self.no_label = 0;
        self.no_score = 0;
        self.labels.iter_mut().for_each(|c| *c = 0);
        self.scores = [0; SCORE_BINS];
        self.score_sum = 0.0;
        self.latency.iter_mut().for_each(|c| *c = 0);
        self.latency_n = 0;
    }

    /// Count one decision.
    pub fn add(&mut self, p: &Point) {
        self.n += 1;
        match p.label.and_then(|i| self.labels.get_mut(i)) {
            Some(c) => *c += 1,
            None => self.no_label += 1,
        }
        match p.score {
            Some(s) if s.is_finite() => {
                self.scores[score_bin(s)] += 1;
                self.score_sum += s;
            }
            _ => self.no_score += 1,
        }
        if let Some(ms) = p.latency_ms.filter(|v| v.is_finite()) {
            self.latency[latency_bin(ms)] += 1;
            self.latency_n += 1;
        }
    }

    /// Add another's counts.
    pub fn merge(&mut self, other: &Stats) {
        self.n += other.n;
        self.no_label += other.no_label;
        self.no_score += other.no_score;
        for (a, b) in self.labels.iter_mut().zip(&other.labels) {
            *a += b;
        }
        for (a, b) in self.scores.iter_mut().zip(&other.scores) {
            *a += b;
        }
        self.score_sum += other.score_sum;
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            *a += b;
        }
        self.latency_n += other.latency_n;
    }

    /// Decisions with a score.
    pub fn scored(&self) -> u64 {
        self.n - self.no_score
    }

    /// Mean score.
    pub fn score_mean(&self) -> Option<f64> {
        let n = self.scored();
        (n > 0).then(|| self.score_sum / n as f64)
    }

    /// A latency percentile (`q` in 0..=1): the upper bound of the bin where the
    /// cumulative count reaches `q` of the total (at most 25% above the truth).
    pub fn latency_quantile_ms(&self, q: f64) -> Option<f64> {
        if self.latency_n == 0 {
            return None;
        }
        let rank = ((q * self.latency_n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.latency.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(latency_bound_ms(i));
            }
        }
        Some(latency_bound_ms(LATENCY_BINS - 1))
    }
}

/// A ring of time buckets: the counts of the last `buckets × bucket_ms`.
#[derive(Debug, Clone)]
pub struct Window {
    bucket_us: i64,
    /// `(bucket number, counts)`; a slot is reused when its number is too old.
    ring: Vec<(i64, Stats)>,
    /// The newest bucket number seen.
    newest: i64,
}

impl Window {
    /// A window of `buckets` buckets of `bucket_ms` each.
    pub fn new(buckets: usize, bucket_ms: u64, slots: usize) -> Window {
        Window {
            bucket_us: (bucket_ms.max(1) as i64).saturating_mul(1000),
            ring: vec![(i64::MIN, Stats::new(slots)); buckets.max(1)],
            newest: i64::MIN,
        }
    }

    /// Count one decision recorded at `time_us`. A time older than the window
    /// (the clock went back) counts in the oldest bucket still kept.
    pub fn add(&mut self, time_us: i64, p: &Point) {
        let len = self.ring.len() as i64;
        let mut b = time_us.div_euclid(self.bucket_us);
        if self.newest != i64::MIN && b <= self.newest - len {
            b = self.newest - len + 1;
        }
        self.newest = self.newest.max(b);
        let slot = &mut self.ring[b.rem_euclid(len) as usize];
        if slot.0 != b {
            slot.0 = b;
            slot.1.clear();
        }
        slot.1.add(p);
    }

    /// The counts of the window ending at the newest bucket.
    pub fn total(&self) -> Stats {
        let slots = self.ring.first().map_or(0, |r| r.1.labels.len());
        let mut out = Stats::new(slots);
        let len = self.ring.len() as i64;
        for (b, s) in &self.ring {
            if *b != i64::MIN && *b > self.newest - len {
                out.merge(s);
            }
        }
        out
    }

    /// `[start, end)` of the window in µs, once anything was counted.
    pub fn span_us(&self) -> Option<(i64, i64)> {
        (self.newest != i64::MIN).then(|| {
            let len = self.ring.len() as i64;
            (
                (self.newest - len + 1) * self.bucket_us,
                (self.newest + 1) * self.bucket_us,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(label: usize, score: f64, ms: f64) -> Point {
        Point {
            label: Some(label),
            score: Some(score),
            latency_ms: Some(ms),
        }
    }

    #[test]
    fn old_buckets_leave_the_window() {
        let mut w = Window::new(4, 1000, 3);
        for s in 0..10 {
            w.add(s * 1_000_000, &point(0, 0.5, 1.0));
        }
        // Seconds 6..=9 remain.
        assert_eq!(w.total().n, 4);
        assert_eq!(w.span_us(), Some((6_000_000, 10_000_000)));
        // A late decision counts in the oldest bucket kept.
        w.add(0, &point(1, 0.5, 1.0));
        assert_eq!(w.total().n, 5);
        assert_eq!(w.total().labels, vec![4, 1, 0]);
    }

    #[test]
    fn windows_are_named_by_their_largest_whole_unit() {
        let names: Vec<String> = [60_000, 900_000, 90_000, 7_200_000, 1500, 86_400_000]
            .into_iter()
            .map(window_name)
            .collect();
        assert_eq!(names, ["1m", "15m", "90s", "2h", "1500ms", "24h"]);
    }

    #[test]
    fn quantiles_and_bins_are_bounded() {
        let mut s = Stats::new(2);
        for i in 1..=100 {
            s.add(&point(0, f64::from(i) / 100.0, f64::from(i)));
        }
        s.add(&Point {
            label: None,
            score: Some(-3.0),
            latency_ms: Some(1e9),
        });
        assert_eq!(s.no_label, 1);
        // 0.01 to 0.04, and the negative score.
        assert_eq!(s.scores[0], 5, "the negative score is in the first bin");
        let p50 = s.latency_quantile_ms(0.5).expect("latencies");
        assert!((50.0..=62.5).contains(&p50), "{p50}");
        let top = s.latency_quantile_ms(1.0).expect("latencies");
        assert_eq!(top, latency_bound_ms(LATENCY_BINS - 1));
    }
}
