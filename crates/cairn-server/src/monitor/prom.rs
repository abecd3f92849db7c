//! The monitor's Prometheus lines. Cardinality is bounded by the monitor's own
//! limits: streams × versions × (labels + `other`), streams × windows × 4
//! checks, and streams × versions × windows (at most 4) for the window gauges,
//! which carry a `window` label (`window="1m"`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::state::{Breaker, StreamView};
use super::Shared;

/// A label value, escaped for the text format.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Append the monitor's metrics to `out`.
pub fn render(out: &mut String, shared: &Shared) {
    let (streams, dropped_streams) = {
        let state = shared.lock();
        (state.view(), state.dropped)
    };
    let c = &shared.counters;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    head(
        out,
        "cairn_monitor_observed_decisions_total",
        "counter",
        "Committed decisions the monitor counted.",
    );
    let _ = writeln!(
        out,
        "cairn_monitor_observed_decisions_total {}",
        load(&c.observed)
    );
    head(
        out,
        "cairn_monitor_dropped_decisions_total",
        "counter",
        "Committed decisions not monitored, by reason.",
    );
    let _ = writeln!(
        out,
        "cairn_monitor_dropped_decisions_total{{reason=\"queue_full\"}} {}",
        load(&c.dropped_queue_full)
    );
    let _ = writeln!(
        out,
        "cairn_monitor_dropped_decisions_total{{reason=\"streams_max\"}} {dropped_streams}"
    );
    head(
        out,
        "cairn_monitor_alerts_total",
        "counter",
        "Breaker trips, by what became of their alert entry.",
    );
    let _ = writeln!(
        out,
        "cairn_monitor_alerts_total{{outcome=\"appended\"}} {}",
        load(&c.alerts_appended)
    );
    let _ = writeln!(
        out,
        "cairn_monitor_alerts_total{{outcome=\"failed\"}} {}",
        load(&c.alerts_failed)
    );
    let _ = writeln!(
        out,
        "cairn_monitor_alerts_total{{outcome=\"dropped\"}} {}",
        load(&c.trips_dropped)
    );
    head(
        out,
        "cairn_monitor_webhook_calls_total",
        "counter",
        "Webhook calls, by outcome (after retries).",
    );
    let _ = writeln!(
        out,
        "cairn_monitor_webhook_calls_total{{outcome=\"delivered\"}} {}",
        load(&c.webhook_delivered)
    );
    let _ = writeln!(
        out,
        "cairn_monitor_webhook_calls_total{{outcome=\"failed\"}} {}",
        load(&c.webhook_failed)
    );
    breakers(out, &streams);
    versions(out, &streams);
}

fn breakers(out: &mut String, streams: &[StreamView]) {
    head(
        out,
        "cairn_monitor_breaker_open",
        "gauge",
        "1 when the stream's breaker is open.",
    );
    for s in streams {
        let open = u8::from(matches!(s.breaker, Breaker::Open { .. }));
        let _ = writeln!(
            out,
            "cairn_monitor_breaker_open{{stream=\"{}\"}} {open}",
            esc(&s.stream)
        );
    }
    head(
        out,
        "cairn_monitor_breaker_trips_total",
        "counter",
        "Times the stream's breaker opened, by check.",
    );
    for s in streams {
        for (check, n) in &s.trips {
            let _ = writeln!(
                out,
                "cairn_monitor_breaker_trips_total{{stream=\"{}\",check=\"{check}\"}} {n}",
                esc(&s.stream)
            );
        }
    }
    head(
        out,
        "cairn_monitor_drift_statistic",
        "gauge",
        "The latest statistic of each drift check on each window (newest version against the reference).",
    );
    for s in streams {
        for w in &s.checks {
            for c in w.checks.iter().filter(|c| c.measured) {
                let _ = writeln!(
                    out,
                    "cairn_monitor_drift_statistic{{stream=\"{}\",window=\"{}\",check=\"{}\"}} {}",
                    esc(&s.stream),
                    w.window,
                    c.check,
                    c.statistic
                );
            }
        }
    }
    head(
        out,
        "cairn_monitor_drift_threshold",
        "gauge",
        "The threshold of each drift check.",
    );
    for s in streams {
        for w in &s.checks {
            for c in &w.checks {
                let _ = writeln!(
                    out,
                    "cairn_monitor_drift_threshold{{stream=\"{}\",window=\"{}\",check=\"{}\"}} {}",
                    esc(&s.stream),
                    w.window,
                    c.check,
                    c.threshold
                );
            }
        }
    }
}

/// Reads one gauge of a version's window.
type Getter = fn(&super::state::WindowView) -> Option<f64>;

fn versions(out: &mut String, streams: &[StreamView]) {
    head(out, "cairn_monitor_decisions_total", "counter", "Decisions by stream, model version and label (labels past the per-stream cap are `other`; `(none)` has no label).");
    for s in streams {
        for v in &s.versions {
            let base = format!(
                "stream=\"{}\",model=\"{}\",version=\"{}\"",
                esc(&s.stream),
                esc(&v.model),
                esc(&v.version)
            );
            let labelled: u64 = v.labels_total.iter().map(|(_, n)| n).sum();
            for (label, n) in &v.labels_total {
                let _ = writeln!(
                    out,
                    "cairn_monitor_decisions_total{{{base},label=\"{}\"}} {n}",
                    esc(label)
                );
            }
            let _ = writeln!(
                out,
                "cairn_monitor_decisions_total{{{base},label=\"(none)\"}} {}",
                v.total - labelled
            );
        }
    }
    let gauges: [(&str, &str, Getter); 5] = [
        (
            "cairn_monitor_window_decisions",
            "Decisions in the current window.",
            |w| Some(w.decisions as f64),
        ),
        (
            "cairn_monitor_window_rate_per_second",
            "Decisions per second over the window.",
            |v| Some(v.rate_per_s),
        ),
        (
            "cairn_monitor_window_score_mean",
            "Mean score in the window.",
            |v| v.score_mean,
        ),
        (
            "cairn_monitor_window_latency_p99_seconds",
            "99th percentile model latency in the window.",
            |v| v.latency_p99_ms.map(|ms| ms / 1000.0),
        ),
        (
            "cairn_monitor_window_no_label_ratio",
            "Share of the window's decisions without a label.",
            |v| v.no_label_share,
        ),
    ];
    for (name, help, get) in gauges {
        head(out, name, "gauge", help);
        for s in streams {
            for v in &s.versions {
                for w in &v.windows {
                    if let Some(x) = get(w) {
                        let _ = writeln!(
                            out,
                            "{name}{{stream=\"{}\",model=\"{}\",version=\"{}\",window=\"{}\"}} {x}",
                            esc(&s.stream),
                            esc(&v.model),
                            esc(&v.version),
                            w.window
                        );
                    }
                }
            }
        }
    }
}
