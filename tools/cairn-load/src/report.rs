//! The numbers of a run, for people (text) and for scripts (`--json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::check::CheckReport;
use crate::drive::Outcome;

/// Latency percentiles of `200` answers, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
}

/// The value at quantile `q` of sorted `v` (nearest rank), in ms.
fn quantile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

impl Latency {
    /// Percentiles of `latencies_us` (sorted in place).
    pub fn of(latencies_us: &mut [u32]) -> Latency {
        latencies_us.sort_unstable();
        Latency {
            p50: quantile_ms(latencies_us, 0.50),
            p99: quantile_ms(latencies_us, 0.99),
            p999: quantile_ms(latencies_us, 0.999),
            max: quantile_ms(latencies_us, 1.0),
        }
    }
}

/// A run's report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Daemon URL.
    pub url: String,
    /// Connections.
    pub connections: usize,
    /// Decisions per request.
    pub batch: u32,
    /// Target decisions per second, if any.
    pub rate: Option<f64>,
    /// Seed of the workload.
    pub seed: u64,
    /// Decisions generated before the run.
    pub generated_decisions: u64,
    /// Seconds spent generating them.
    pub generate_seconds: f64,
    /// Requests sent.
    pub requests: u64,
    /// Decisions in them.
    pub decisions_sent: u64,
    /// Body bytes in them.
    pub bytes_sent: u64,
    /// From the first request to the last answer.
    pub seconds: f64,
    /// Decisions with a receipt.
    pub acked_decisions: u64,
    /// Of those, answered as duplicates of earlier ones (idempotency keys).
    pub duplicates: u64,
    /// Acknowledged decisions per second.
    pub decisions_per_s: f64,
    /// Acknowledged requests per second.
    pub requests_per_s: f64,
    /// Latency of acknowledged requests.
    pub latency_ms: Latency,
    /// Non-`200` answers by status.
    pub rejects: BTreeMap<u16, u64>,
    /// `429`/`503` answers without `Retry-After`.
    pub rejects_without_retry_after: u64,
    /// The first answer per rejecting status.
    pub first_errors: BTreeMap<u16, String>,
    /// Requests without an answer.
    pub transport_errors: u64,
    /// `200` answers whose receipts could not be read.
    pub bad_answers: u64,
    /// The first transport or protocol failure.
    pub first_failure: Option<String>,
    /// Whether the run ended because the daemon could not be reached.
    pub daemon_gone: bool,
    /// The receipt check, if one was made.
    pub check: Option<CheckReport>,
}

/// What [`Report::new`] needs besides the outcome.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Daemon URL.
    pub url: String,
    /// Connections.
    pub connections: usize,
    /// Decisions per request.
    pub batch: u32,
    /// Target rate.
    pub rate: Option<f64>,
    /// Workload seed.
    pub seed: u64,
    /// Decisions generated.
    pub generated: u64,
    /// Seconds spent generating.
    pub generate_seconds: f64,
}

impl Report {
    /// The report of `outcome` (its latencies are sorted in place).
    pub fn new(info: RunInfo, outcome: &mut Outcome) -> Report {
        let t = &mut outcome.tally;
        let seconds = outcome.elapsed.as_secs_f64().max(1e-9);
        let acked = t.receipts.len() as u64;
        let acked_requests = t.latencies_us.len() as u64;
        Report {
            url: info.url,
            connections: info.connections,
            batch: info.batch,
            rate: info.rate,
            seed: info.seed,
            generated_decisions: info.generated,
            generate_seconds: info.generate_seconds,
            requests: t.requests,
            decisions_sent: t.decisions_sent,
            bytes_sent: t.bytes_sent,
            seconds,
            acked_decisions: acked,
            duplicates: t.receipts.iter().filter(|r| r.duplicate).count() as u64,
            decisions_per_s: acked as f64 / seconds,
            requests_per_s: acked_requests as f64 / seconds,
            latency_ms: Latency::of(&mut t.latencies_us),
            rejects: t.rejects.clone(),
            rejects_without_retry_after: t.rejects_without_retry_after,
            first_errors: t.first_errors.clone(),
            transport_errors: t.transport_errors,
            bad_answers: t.bad_answers,
            first_failure: t.first_failure.clone(),
            daemon_gone: outcome.daemon_gone,
            check: None,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let pace = match self.rate {
            Some(r) => format!("at {r:.0} decisions/s"),
            None => "flat out".to_owned(),
        };
        let _ = writeln!(
            s,
            "cairn-load: {} over {} connections, batch {}, {pace}",
            self.url, self.connections, self.batch
        );
        let _ = writeln!(
            s,
            "  sent      {} requests, {} decisions, {:.1} MiB in {:.2} s",
            self.requests,
            self.decisions_sent,
            self.bytes_sent as f64 / f64::from(1u32 << 20),
            self.seconds
        );
        let _ = writeln!(
            s,
            "  acked     {} decisions ({} duplicates): {:.0} decisions/s, {:.0} requests/s",
            self.acked_decisions, self.duplicates, self.decisions_per_s, self.requests_per_s
        );
        let l = self.latency_ms;
        let _ = writeln!(
            s,
            "  latency   p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms",
            l.p50, l.p99, l.p999, l.max
        );
        self.text_failures(&mut s);
        if let Some(c) = &self.check {
            write_check(&mut s, c);
        }
        s
    }

    fn text_failures(&self, s: &mut String) {
        if self.rejects.is_empty() {
            let _ = writeln!(s, "  rejects   none");
        } else {
            let list: Vec<String> = self
                .rejects
                .iter()
                .map(|(status, n)| format!("{status}: {n}"))
                .collect();
            let _ = writeln!(
                s,
                "  rejects   {} ({} without Retry-After)",
                list.join(", "),
                self.rejects_without_retry_after
            );
            for (status, e) in &self.first_errors {
                let _ = writeln!(s, "            first {status}: {e}");
            }
        }
        if self.transport_errors > 0 || self.bad_answers > 0 {
            let _ = writeln!(
                s,
                "  errors    {} requests without an answer, {} answers without receipts{}",
                self.transport_errors,
                self.bad_answers,
                if self.daemon_gone {
                    "; the daemon went away"
                } else {
                    ""
                }
            );
        }
        if let Some(f) = &self.first_failure {
            let _ = writeln!(s, "            first: {f}");
        }
    }
}

/// A check's result in words.
pub fn write_check(s: &mut String, c: &CheckReport) {
    let verdict = if !c.all_match() {
        format!("{} missing, {} different", c.missing, c.mismatched)
    } else if c.errors > 0 {
        format!("{} could not be looked up", c.errors)
    } else {
        "every one is in the ledger with its leaf hash".to_owned()
    };
    let _ = writeln!(
        s,
        "  check     {} of {} receipts ({} distinct seqs): {verdict}",
        c.checked, c.receipts, c.distinct
    );
    for p in &c.problems {
        let _ = writeln!(s, "            {p}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u32> = (1..=1000).rev().map(|ms| ms * 1000).collect();
        let l = Latency::of(&mut v);
        assert_eq!((l.p50, l.p99, l.p999, l.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(Latency::of(&mut []), Latency::default());
        assert_eq!(Latency::of(&mut [7000]).p999, 7.0);
    }
}
