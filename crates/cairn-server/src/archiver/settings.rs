//! The archiver's options: the `[archive]` table of the configuration file,
//! the `--archive*` flags and the `CAIRND_ARCHIVE*` variables (see `Settings`).

use cairn_store::retention::Retention;
use serde::Deserialize;

use crate::config::ConfigError;

/// Pause between archiving runs when nothing else is said.
pub const DEFAULT_INTERVAL_MS: u64 = 1000;
/// Archive lag, in seconds, beyond which `/readyz`, `/metrics` and the log
/// raise the alarm, when nothing else is said.
pub const DEFAULT_MAX_LAG_S: u64 = 300;

/// One source of archive settings: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Archive the ledger while serving: upload every sealed bundle, full tile
    /// and signed checkpoint to `s3://BUCKET/PREFIX` (credentials from the
    /// AWS_* variables, an S3-compatible store from AWS_ENDPOINT_URL) or
    /// `file:///DIR`, in the layout of schemas/archive-v1.md [default: off].
    #[arg(
        id = "archive_url",
        long = "archive",
        env = "CAIRND_ARCHIVE",
        value_name = "URL",
        help_heading = "Archive"
    )]
    pub url: Option<String>,
    /// Pause between archiving runs [default: 1000].
    #[arg(
        id = "archive_interval_ms",
        long = "archive-interval-ms",
        env = "CAIRND_ARCHIVE_INTERVAL_MS",
        value_name = "MS",
        help_heading = "Archive"
    )]
    pub interval_ms: Option<u64>,
    /// Raise the alarm (in /readyz, /metrics and the log) when the oldest
    /// entry not yet archived is older than this [default: 300].
    #[arg(
        id = "archive_max_lag_s",
        long = "archive-max-lag-s",
        env = "CAIRND_ARCHIVE_MAX_LAG_S",
        value_name = "S",
        help_heading = "Archive"
    )]
    pub max_lag_s: Option<u64>,
    /// Drop the local copy of archived windows beyond a size of local
    /// bundles (`10GiB`, `512MiB`) or an age (`30d`, `12h`): only whole
    /// windows that the bucket's checkpoint covers go; reads of them then
    /// fetch from the bucket [default: keep everything].
    #[arg(
        id = "archive_local_retention",
        long = "local-retention",
        env = "CAIRND_LOCAL_RETENTION",
        value_name = "SIZE|AGE",
        help_heading = "Archive"
    )]
    pub local_retention: Option<String>,
    /// Bytes of objects fetched from the bucket (dropped windows) kept in
    /// memory, least recently used out first [default: 67108864].
    #[arg(
        id = "archive_cache_bytes",
        long = "archive-cache-bytes",
        env = "CAIRND_ARCHIVE_CACHE_BYTES",
        value_name = "BYTES",
        help_heading = "Archive"
    )]
    pub cache_bytes: Option<u64>,
}

impl ArchiveSettings {
    /// These settings, with `lower`'s filling every field these leave unset.
    pub fn or(self, lower: ArchiveSettings) -> ArchiveSettings {
        ArchiveSettings {
            url: self.url.or(lower.url),
            interval_ms: self.interval_ms.or(lower.interval_ms),
            max_lag_s: self.max_lag_s.or(lower.max_lag_s),
            local_retention: self.local_retention.or(lower.local_retention),
            cache_bytes: self.cache_bytes.or(lower.cache_bytes),
        }
    }

    /// Apply the defaults and check every value: `None` when no archive URL
    /// is set (and no other archive option either).
    pub fn resolve(self) -> Result<Option<ArchiveConfig>, ConfigError> {
        let invalid = |option: &'static str, reason: &str| ConfigError::Invalid {
            option,
            reason: reason.to_owned(),
        };
        let Some(url) = self.url else {
            if self.interval_ms.is_some()
                || self.max_lag_s.is_some()
                || self.local_retention.is_some()
                || self.cache_bytes.is_some()
            {
                return Err(invalid(
                    "archive.url",
                    "archive options are set but no archive URL: pass --archive URL",
                ));
            }
            return Ok(None);
        };
        let url = url.trim().to_owned();
        if !(url.starts_with("s3://") || url.starts_with("file:///")) {
            return Err(invalid(
                "archive.url",
                "is neither s3://BUCKET/PREFIX nor file:///DIR (an absolute path)",
            ));
        }
        let interval_ms = self.interval_ms.unwrap_or(DEFAULT_INTERVAL_MS);
        if interval_ms == 0 {
            return Err(invalid("archive.interval_ms", "must be at least 1"));
        }
        let max_lag_s = self.max_lag_s.unwrap_or(DEFAULT_MAX_LAG_S);
        if max_lag_s == 0 {
            return Err(invalid("archive.max_lag_s", "must be at least 1"));
        }
        let retention = match self.local_retention {
            None => None,
            Some(text) => Some(
                text.parse::<Retention>()
                    .map_err(|e| invalid("archive.local_retention", &e.to_string()))?,
            ),
        };
        Ok(Some(ArchiveConfig {
            url,
            interval_ms,
            max_lag_s,
            retention,
            cache_bytes: self
                .cache_bytes
                .unwrap_or(cairn_archive::DEFAULT_CACHE_BYTES),
        }))
    }
}

/// The checked archive settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// Where the archive is.
    pub url: String,
    /// Pause between archiving runs, in milliseconds.
    pub interval_ms: u64,
    /// Lag bound of the alarm, in seconds.
    pub max_lag_s: u64,
    /// How much to keep locally of what is archived (`None`: everything).
    pub retention: Option<Retention>,
    /// Bytes of fetched archive objects kept in memory.
    pub cache_bytes: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn off_without_a_url_and_defaults_with_one() {
        assert_eq!(ArchiveSettings::default().resolve().unwrap(), None);
        let on = ArchiveSettings {
            url: Some("file:///var/archive".into()),
            ..ArchiveSettings::default()
        };
        let config = on.resolve().unwrap().unwrap();
        assert_eq!(config.interval_ms, DEFAULT_INTERVAL_MS);
        assert_eq!(config.max_lag_s, DEFAULT_MAX_LAG_S);
        assert_eq!(config.retention, None);
        assert_eq!(config.cache_bytes, cairn_archive::DEFAULT_CACHE_BYTES);
    }

    #[test]
    fn a_retention_is_a_size_or_an_age() {
        let with = |r: &str| ArchiveSettings {
            url: Some("file:///var/archive".into()),
            local_retention: Some(r.into()),
            ..ArchiveSettings::default()
        };
        let config = with("10GiB").resolve().unwrap().unwrap();
        assert_eq!(config.retention, Some(Retention::Bytes(10 << 30)));
        let config = with("30d").resolve().unwrap().unwrap();
        assert_eq!(config.retention, Some(Retention::AgeSeconds(30 * 86_400)));
        let err = with("soon").resolve().unwrap_err().to_string();
        assert!(err.contains("archive.local_retention"), "{err}");
        let err = ArchiveSettings {
            local_retention: Some("1GiB".into()),
            ..ArchiveSettings::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(err.contains("no archive URL"), "{err}");
    }

    #[test]
    fn rejects_bad_urls_zero_values_and_options_without_a_url() {
        let bad = |s: ArchiveSettings, want: &str| {
            let err = s.resolve().unwrap_err().to_string();
            assert!(err.contains(want), "{err} does not mention {want}");
        };
        let url = |u: &str| Some(u.to_owned());
        bad(
            ArchiveSettings {
                url: url("http://example.com/bucket"),
                ..ArchiveSettings::default()
            },
            "s3://BUCKET/PREFIX",
        );
        bad(
            ArchiveSettings {
                url: url("file://relative/dir"),
                ..ArchiveSettings::default()
            },
            "absolute path",
        );
        bad(
            ArchiveSettings {
                url: url("s3://b/p"),
                interval_ms: Some(0),
                ..ArchiveSettings::default()
            },
            "archive.interval_ms",
        );
        bad(
            ArchiveSettings {
                url: url("s3://b/p"),
                max_lag_s: Some(0),
                ..ArchiveSettings::default()
            },
            "archive.max_lag_s",
        );
        bad(
            ArchiveSettings {
                max_lag_s: Some(10),
                ..ArchiveSettings::default()
            },
            "no archive URL",
        );
    }
}

#[cfg(test)]
mod file_tests {
    #![allow(clippy::unwrap_used)]
    use crate::config::Settings;

    #[test]
    fn the_archive_table_of_the_configuration_file() {
        let text = "data = \"/d\"\n[archive]\nurl = \"s3://b/p\"\nmax_lag_s = 60\nlocal_retention = \"12h\"\ncache_bytes = 1024\n";
        let config = Settings::from_toml(text).unwrap().resolve().unwrap();
        let a = config.archive.unwrap();
        assert_eq!(
            (a.url.as_str(), a.interval_ms, a.max_lag_s),
            ("s3://b/p", 1000, 60)
        );
        assert_eq!(
            (a.retention, a.cache_bytes),
            (
                Some(cairn_store::retention::Retention::AgeSeconds(43_200)),
                1024
            )
        );
        let err = Settings::from_toml("[archive]\nbucket = \"b\"").unwrap_err();
        assert!(err.contains("unknown field `bucket`"), "{err}");
        let off = Settings::from_toml("data = \"/d\"")
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(off.archive, None);
    }
}
