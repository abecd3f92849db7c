//! The monitor's options: the `[monitor]` table of the configuration file, the
//! `--monitor-*` flags and the `CAIRND_MONITOR_*` variables (see `Settings`).

use serde::Deserialize;

use super::drift::Thresholds;
use super::state::Limits;
use crate::config::ConfigError;

/// One source of monitor settings: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct MonitorSettings {
    /// Run the live monitor and its breakers [default: true].
    #[arg(
        long = "monitor",
        env = "CAIRND_MONITOR",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = "Monitor"
    )]
    pub enabled: Option<bool>,
    /// Lengths of the sliding windows of each model version, comma-separated
    /// (at most 4); the checks run on each [default: 60000,900000].
    #[arg(
        long = "monitor-windows-ms",
        env = "CAIRND_MONITOR_WINDOWS_MS",
        value_name = "MS,...",
        value_delimiter = ',',
        help_heading = "Monitor"
    )]
    pub windows_ms: Option<Vec<u64>>,
    /// Deprecated: one window, the same as --monitor-windows-ms MS.
    #[arg(
        long = "monitor-window-ms",
        env = "CAIRND_MONITOR_WINDOW_MS",
        value_name = "MS",
        conflicts_with = "windows_ms",
        help_heading = "Monitor"
    )]
    pub window_ms: Option<u64>,
    /// Fewest decisions in each window before a check runs [default: 200].
    #[arg(
        long = "monitor-min-samples",
        env = "CAIRND_MONITOR_MIN_SAMPLES",
        value_name = "N",
        help_heading = "Monitor"
    )]
    pub min_samples: Option<u64>,
    /// An open breaker closes by itself once every check has passed this long
    /// [default: 300000].
    #[arg(
        long = "monitor-close-after-ms",
        env = "CAIRND_MONITOR_CLOSE_AFTER_MS",
        value_name = "MS",
        help_heading = "Monitor"
    )]
    pub close_after_ms: Option<u64>,
    /// Streams tracked; decisions of further streams are counted, not
    /// monitored [default: 256].
    #[arg(
        long = "monitor-streams-max",
        env = "CAIRND_MONITOR_STREAMS_MAX",
        value_name = "N",
        help_heading = "Monitor"
    )]
    pub streams_max: Option<usize>,
    /// Distinct labels per stream; later labels count as `other` [default: 16].
    #[arg(
        long = "monitor-labels-max",
        env = "CAIRND_MONITOR_LABELS_MAX",
        value_name = "N",
        help_heading = "Monitor"
    )]
    pub labels_max: Option<usize>,
    /// Label mix: trip when PSI exceeds this (and the chi-square p-value is
    /// below --monitor-p-value-max) [default: 0.2].
    #[arg(
        long = "monitor-label-psi-max",
        env = "CAIRND_MONITOR_LABEL_PSI_MAX",
        value_name = "X",
        help_heading = "Monitor"
    )]
    pub label_psi_max: Option<f64>,
    /// Largest p-value that counts as a significant shift [default: 0.001].
    #[arg(
        long = "monitor-p-value-max",
        env = "CAIRND_MONITOR_P_VALUE_MAX",
        value_name = "P",
        help_heading = "Monitor"
    )]
    pub p_value_max: Option<f64>,
    /// Scores: trip when the KS distance exceeds this [default: 0.2].
    #[arg(
        long = "monitor-score-ks-max",
        env = "CAIRND_MONITOR_SCORE_KS_MAX",
        value_name = "D",
        help_heading = "Monitor"
    )]
    pub score_ks_max: Option<f64>,
    /// Scores: trip when the mean moves by more than this [default: 0.1].
    #[arg(
        long = "monitor-score-mean-shift-max",
        env = "CAIRND_MONITOR_SCORE_MEAN_SHIFT_MAX",
        value_name = "X",
        help_heading = "Monitor"
    )]
    pub score_mean_shift_max: Option<f64>,
    /// Latency: trip when p99 exceeds this many times the reference's [default: 2].
    #[arg(
        long = "monitor-latency-p99-ratio-max",
        env = "CAIRND_MONITOR_LATENCY_P99_RATIO_MAX",
        value_name = "X",
        help_heading = "Monitor"
    )]
    pub latency_p99_ratio_max: Option<f64>,
    /// Called with a signed JSON body when a breaker opens (http:// only).
    #[arg(
        long = "monitor-webhook-url",
        env = "CAIRND_MONITOR_WEBHOOK_URL",
        value_name = "URL",
        help_heading = "Monitor"
    )]
    pub webhook_url: Option<String>,
    /// Attempts per webhook call (with backoff) [default: 5].
    #[arg(
        long = "monitor-webhook-attempts",
        env = "CAIRND_MONITOR_WEBHOOK_ATTEMPTS",
        value_name = "N",
        help_heading = "Monitor"
    )]
    pub webhook_attempts: Option<u32>,
}

/// The monitor's options, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// Whether the monitor runs.
    pub enabled: bool,
    /// Bounds and windows.
    pub limits: Limits,
    /// Check thresholds.
    pub thresholds: Thresholds,
    /// The webhook.
    pub webhook_url: Option<String>,
    /// Attempts per webhook call.
    pub webhook_attempts: u32,
}

impl Default for MonitorConfig {
    fn default() -> MonitorConfig {
        MonitorConfig {
            enabled: true,
            limits: Limits::default(),
            thresholds: Thresholds::default(),
            webhook_url: None,
            webhook_attempts: 5,
        }
    }
}

fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

/// Windows per version, at most.
pub const WINDOWS_MAX: usize = 4;

impl MonitorSettings {
    /// The window lengths asked for (either spelling), sorted and checked.
    fn windows(&self) -> Result<Option<Vec<u64>>, ConfigError> {
        let mut windows = match (&self.windows_ms, self.window_ms) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "monitor.windows_ms",
                    "give windows_ms or the older window_ms, not both",
                ))
            }
            (Some(list), None) => list.clone(),
            (None, Some(w)) => vec![w],
            (None, None) => return Ok(None),
        };
        windows.sort_unstable();
        windows.dedup();
        if windows.is_empty() || windows.len() > WINDOWS_MAX {
            return Err(invalid(
                "monitor.windows_ms",
                format!("give 1 to {WINDOWS_MAX} window lengths"),
            ));
        }
        if windows.iter().any(|w| !(1000..=86_400_000).contains(w)) {
            return Err(invalid(
                "monitor.windows_ms",
                "each window must be between 1000 and 86400000 ms",
            ));
        }
        Ok(Some(windows))
    }

    /// These settings, with `lower`'s filling every field these leave unset.
    pub fn or(self, lower: MonitorSettings) -> MonitorSettings {
        let higher_windows = self.windows_ms.is_some() || self.window_ms.is_some();
        MonitorSettings {
            enabled: self.enabled.or(lower.enabled),
            // The two spellings of the windows are one setting: the higher
            // source's, whichever spelling it used.
            windows_ms: if higher_windows {
                self.windows_ms
            } else {
                lower.windows_ms
            },
            window_ms: if higher_windows {
                self.window_ms
            } else {
                lower.window_ms
            },
            min_samples: self.min_samples.or(lower.min_samples),
            close_after_ms: self.close_after_ms.or(lower.close_after_ms),
            streams_max: self.streams_max.or(lower.streams_max),
            labels_max: self.labels_max.or(lower.labels_max),
            label_psi_max: self.label_psi_max.or(lower.label_psi_max),
            p_value_max: self.p_value_max.or(lower.p_value_max),
            score_ks_max: self.score_ks_max.or(lower.score_ks_max),
            score_mean_shift_max: self.score_mean_shift_max.or(lower.score_mean_shift_max),
            latency_p99_ratio_max: self.latency_p99_ratio_max.or(lower.latency_p99_ratio_max),
            webhook_url: self.webhook_url.or(lower.webhook_url),
            webhook_attempts: self.webhook_attempts.or(lower.webhook_attempts),
        }
    }

    /// Apply the defaults and check the values.
    pub fn resolve(&self) -> Result<MonitorConfig, ConfigError> {
        let d = MonitorConfig::default();
        let mut limits = d.limits;
        let mut t = d.thresholds;
        if let Some(windows) = self.windows()? {
            limits.windows_ms = windows;
        }
        if let Some(n) = self.min_samples {
            if n == 0 {
                return Err(invalid("monitor.min_samples", "must be at least 1"));
            }
            t.min_samples = n;
        }
        limits.close_after_ms = self.close_after_ms.unwrap_or(limits.close_after_ms);
        for (v, name, slot) in [
            (
                self.streams_max,
                "monitor.streams_max",
                &mut limits.streams_max,
            ),
            (
                self.labels_max,
                "monitor.labels_max",
                &mut limits.labels_max,
            ),
        ] {
            if let Some(n) = v {
                if !(1..=100_000).contains(&n) {
                    return Err(invalid(name, "must be between 1 and 100000"));
                }
                *slot = n;
            }
        }
        for (v, name, slot) in [
            (
                self.label_psi_max,
                "monitor.label_psi_max",
                &mut t.label_psi_max,
            ),
            (self.p_value_max, "monitor.p_value_max", &mut t.p_value_max),
            (
                self.score_ks_max,
                "monitor.score_ks_max",
                &mut t.score_ks_max,
            ),
            (
                self.score_mean_shift_max,
                "monitor.score_mean_shift_max",
                &mut t.score_mean_shift_max,
            ),
            (
                self.latency_p99_ratio_max,
                "monitor.latency_p99_ratio_max",
                &mut t.latency_p99_ratio_max,
            ),
        ] {
            if let Some(x) = v {
                if !(x.is_finite() && x > 0.0) {
                    return Err(invalid(name, "must be a positive number"));
                }
                *slot = x;
            }
        }
        if let Some(url) = &self.webhook_url {
            if !url.starts_with("http://") {
                return Err(invalid(
                    "monitor.webhook_url",
                    "must be an http:// URL (for HTTPS, point it at a local forwarding proxy)",
                ));
            }
        }
        let attempts = self.webhook_attempts.unwrap_or(d.webhook_attempts);
        if attempts == 0 {
            return Err(invalid("monitor.webhook_attempts", "must be at least 1"));
        }
        Ok(MonitorConfig {
            enabled: self.enabled.unwrap_or(true),
            limits,
            thresholds: t,
            webhook_url: self.webhook_url.clone(),
            webhook_attempts: attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn windows(s: MonitorSettings) -> Result<Vec<u64>, ConfigError> {
        s.resolve().map(|c| c.limits.windows_ms)
    }

    #[test]
    fn windows_default_to_one_and_fifteen_minutes_and_accept_either_spelling() {
        assert_eq!(
            windows(MonitorSettings::default()).unwrap(),
            [60_000, 900_000]
        );
        let list = MonitorSettings {
            windows_ms: Some(vec![900_000, 5_000, 900_000]),
            ..MonitorSettings::default()
        };
        assert_eq!(
            windows(list).unwrap(),
            [5_000, 900_000],
            "sorted, once each"
        );
        let old = MonitorSettings {
            window_ms: Some(30_000),
            ..MonitorSettings::default()
        };
        assert_eq!(windows(old.clone()).unwrap(), [30_000]);
        // A file's windows_ms gives way to a command line's window_ms.
        let file = MonitorSettings {
            windows_ms: Some(vec![60_000, 120_000]),
            ..MonitorSettings::default()
        };
        assert_eq!(windows(old.or(file)).unwrap(), [30_000]);
    }

    #[test]
    fn bad_windows_are_refused_with_the_reason() {
        for (w, reason) in [
            (vec![], "1 to 4"),
            (vec![1000, 2000, 3000, 4000, 5000], "1 to 4"),
            (vec![999], "between 1000"),
            (vec![60_000, 86_400_001], "between 1000"),
        ] {
            let err = windows(MonitorSettings {
                windows_ms: Some(w.clone()),
                ..MonitorSettings::default()
            })
            .unwrap_err();
            assert!(err.to_string().contains(reason), "{w:?}: {err}");
        }
        let both = MonitorSettings {
            windows_ms: Some(vec![60_000]),
            window_ms: Some(60_000),
            ..MonitorSettings::default()
        };
        assert!(windows(both).unwrap_err().to_string().contains("not both"));
    }
}
