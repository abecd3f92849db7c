//! The daemon's configuration: every option can come from the command line, a
//! `CAIRND_*` environment variable, a TOML file, or its default, in that order of
//! precedence.
//!
//! [`Settings`] is the partial form that each source produces (every field
//! optional); [`Settings::or`] layers one source over another and
//! [`Settings::resolve`] applies the defaults and checks the result, giving a
//! [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::archiver::{ArchiveConfig, ArchiveSettings};
use crate::monitor::{MonitorConfig, MonitorSettings};
use crate::otlp::{OtlpConfig, OtlpSettings};

/// Where the daemon listens when nothing else is said.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("reading the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or has unknown keys.
    #[error("parsing the configuration file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// No ledger directory was given.
    #[error("no ledger directory: pass --data DIR, set CAIRND_DATA, or set `data` in the configuration file")]
    NoDataDir,
    /// A value is out of its allowed range or inconsistent with another.
    #[error("option `{option}`: {reason}")]
    Invalid {
        /// The option's name as written in the configuration file.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(option: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        option,
        reason: reason.into(),
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A bearer token allowed to use the daemon, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A label for logs (never the token itself).
    #[serde(default)]
    pub name: Option<String>,
    /// Lower-case hex SHA-256 of the token (`cairnd hash-token` prints it).
    pub sha256: String,
    /// Streams this token may append to: `*` for all, `prefix.*` for every stream
    /// starting with `prefix.`, or an exact stream name.
    #[serde(default)]
    pub write_streams: Vec<String>,
    /// Streams whose entries and payloads this token may read
    /// (`GET /v1/entries/{seq}`), in the patterns of `write_streams`.
    /// Checkpoints and proofs need no token.
    #[serde(default)]
    pub read_streams: Vec<String>,
    /// `true` is `read_streams = ["*"]`: every stream, and the entries of no
    /// stream (redactions, replay runs).
    #[serde(default)]
    pub read: bool,
    /// Operator actions: resetting a breaker, pinning the monitor's reference
    /// version. No stream rights come with it.
    #[serde(default)]
    pub admin: bool,
}

/// One source of configuration: every field optional.
///
/// The same struct is the command line (with `CAIRND_*` variables, through
/// clap) and the TOML file (through serde), so the two cannot drift apart.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The ledger directory: `ledger/` (RocksDB), `signing.key`, `verifier.key`.
    #[arg(long, env = "CAIRND_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7070].
    #[arg(long, env = "CAIRND_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The ledger's name in checkpoints, used by `--init` [default: `cairn/` and
    /// the directory's name].
    #[arg(long, env = "CAIRND_ORIGIN", value_name = "NAME")]
    pub origin: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS.
    #[arg(long, env = "CAIRND_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CAIRND_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Also write every checkpoint to this directory, as `<size>.checkpoint` and
    /// `latest.checkpoint`.
    #[arg(long, env = "CAIRND_PUBLISH_DIR", value_name = "DIR")]
    pub publish_dir: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "CAIRND_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Threads that serve HTTP requests [default: one per CPU]. On a small
    /// machine that only ingests, one less than the CPUs can be faster (the
    /// appending thread and RocksDB's flushes need a core too), at the price of
    /// turning an overload away more slowly: see BENCHMARKS.md.
    #[arg(long, env = "CAIRND_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// Largest request body, in bytes [default: 16777216].
    #[arg(long, env = "CAIRND_BODY_BYTES_MAX", help_heading = "Limits")]
    pub body_bytes_max: Option<usize>,
    /// Largest decision (one JSON body or one NDJSON line), in bytes [default: 1048576].
    #[arg(long, env = "CAIRND_LINE_BYTES_MAX", help_heading = "Limits")]
    pub line_bytes_max: Option<usize>,
    /// Most decisions in one NDJSON batch [default: 10000].
    #[arg(long, env = "CAIRND_BATCH_LEN_MAX", help_heading = "Limits")]
    pub batch_len_max: Option<usize>,
    /// Most open connections; more wait in the listen backlog [default: 1024].
    #[arg(long, env = "CAIRND_CONNECTIONS_MAX", help_heading = "Limits")]
    pub connections_max: Option<usize>,
    /// Most append requests waiting for the sequencer [default: 4096].
    #[arg(long, env = "CAIRND_QUEUE_REQUESTS_MAX", help_heading = "Limits")]
    pub queue_requests_max: Option<usize>,
    /// Most memory append requests may hold at once (being read, parsed,
    /// queued or written): a body's bytes, then about twice them and 1.5 KiB per
    /// decision while parsed and prepared. Beyond it appends get 429; a request
    /// that alone would hold more gets 413 [default: 67108864].
    #[arg(long, env = "CAIRND_QUEUE_BYTES_MAX", help_heading = "Limits")]
    pub queue_bytes_max: Option<usize>,
    /// Most decisions in one group commit [default: 16384].
    #[arg(long, env = "CAIRND_COMMIT_ENTRIES_MAX", help_heading = "Limits")]
    pub commit_entries_max: Option<usize>,
    /// Most body bytes in one group commit [default: 33554432].
    #[arg(long, env = "CAIRND_COMMIT_BYTES_MAX", help_heading = "Limits")]
    pub commit_bytes_max: Option<usize>,
    /// Longest a request may take, body upload included [default: 30000].
    #[arg(long, env = "CAIRND_REQUEST_TIMEOUT_MS", help_heading = "Limits")]
    pub request_timeout_ms: Option<u64>,
    /// Longest a client may take to send request headers or finish a TLS
    /// handshake [default: 10000].
    #[arg(long, env = "CAIRND_HEADER_READ_TIMEOUT_MS", help_heading = "Limits")]
    pub header_read_timeout_ms: Option<u64>,
    /// Longest a shutdown waits for requests in flight [default: 30000].
    #[arg(long, env = "CAIRND_SHUTDOWN_GRACE_MS", help_heading = "Limits")]
    pub shutdown_grace_ms: Option<u64>,
    /// The `Retry-After` of 429 and 503 answers, in seconds [default: 1].
    #[arg(long, env = "CAIRND_RETRY_AFTER_S", help_heading = "Limits")]
    pub retry_after_s: Option<u64>,
    /// Refuse appends (507, nothing written) while fewer than this many bytes
    /// are free on the ledger's file system; they resume by themselves once
    /// space is freed. 0 turns the check off [default: 268435456].
    #[arg(long, env = "CAIRND_DISK_RESERVE_BYTES", help_heading = "Limits")]
    pub disk_reserve_bytes: Option<u64>,

    /// Sign a checkpoint once this many entries were appended since the last
    /// [default: 100000].
    #[arg(
        long,
        env = "CAIRND_CHECKPOINT_EVERY_ENTRIES",
        help_heading = "Checkpoints"
    )]
    pub checkpoint_every_entries: Option<u64>,
    /// Sign a checkpoint at least this often while the ledger grows [default: 1000].
    #[arg(
        long,
        env = "CAIRND_CHECKPOINT_INTERVAL_MS",
        help_heading = "Checkpoints"
    )]
    pub checkpoint_interval_ms: Option<u64>,

    /// Bearer tokens (configuration file only). None configured: no
    /// authentication at all.
    #[arg(skip)]
    pub tokens: Option<Vec<TokenConfig>>,
    /// Listen on a non-loopback address with no tokens configured, letting
    /// anyone who can reach it append and read. Without this, cairnd refuses
    /// to start that way.
    #[arg(
        long,
        env = "CAIRND_ALLOW_UNAUTHENTICATED",
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub allow_unauthenticated: Option<bool>,

    /// How OTLP spans become decisions (`[otlp]` in the configuration file).
    #[command(flatten)]
    #[serde(default)]
    pub otlp: OtlpSettings,

    /// The live monitor and its breakers (`[monitor]` in the configuration file).
    #[command(flatten)]
    #[serde(default)]
    pub monitor: MonitorSettings,

    /// Archiving to object storage while serving (`[archive]` in the
    /// configuration file).
    #[command(flatten)]
    #[serde(default)]
    pub archive: ArchiveSettings,
}

macro_rules! layer {
    ($upper:ident, $lower:ident; $($field:ident),* $(,)?) => {
        Settings { $($field: $upper.$field.or($lower.$field)),* }
    };
}

impl Settings {
    /// Read a TOML configuration file. Unknown keys are errors.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Settings::from_toml(&text).map_err(|reason| ConfigError::Parse {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Settings, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// These settings, with `lower`'s filling every field these leave unset.
    pub fn or(self, lower: Settings) -> Settings {
        layer!(self, lower;
            data, listen, origin, tls_cert, tls_key, publish_dir, log_format, workers,
            body_bytes_max, line_bytes_max, batch_len_max, connections_max,
            queue_requests_max, queue_bytes_max, commit_entries_max, commit_bytes_max,
            request_timeout_ms, header_read_timeout_ms, shutdown_grace_ms, retry_after_s,
            disk_reserve_bytes,
            checkpoint_every_entries, checkpoint_interval_ms, tokens, allow_unauthenticated, otlp,
            monitor, archive,
        )
    }

    /// Apply the defaults and check every value.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let d = Limits::default();
        let limits = Limits {
            body_bytes_max: self.body_bytes_max.unwrap_or(d.body_bytes_max),
            line_bytes_max: self.line_bytes_max.unwrap_or(d.line_bytes_max),
            batch_len_max: self.batch_len_max.unwrap_or(d.batch_len_max),
            connections_max: self.connections_max.unwrap_or(d.connections_max),
            queue_requests_max: self.queue_requests_max.unwrap_or(d.queue_requests_max),
            queue_bytes_max: self.queue_bytes_max.unwrap_or(d.queue_bytes_max),
            commit_entries_max: self.commit_entries_max.unwrap_or(d.commit_entries_max),
            commit_bytes_max: self.commit_bytes_max.unwrap_or(d.commit_bytes_max),
            request_timeout_ms: self.request_timeout_ms.unwrap_or(d.request_timeout_ms),
            header_read_timeout_ms: self
                .header_read_timeout_ms
                .unwrap_or(d.header_read_timeout_ms),
            shutdown_grace_ms: self.shutdown_grace_ms.unwrap_or(d.shutdown_grace_ms),
            retry_after_s: self.retry_after_s.unwrap_or(d.retry_after_s),
            disk_reserve_bytes: self.disk_reserve_bytes.unwrap_or(d.disk_reserve_bytes),
        };
        limits.check()?;
        let dc = CheckpointPolicy::default();
        let checkpoints = CheckpointPolicy {
            every_entries: self.checkpoint_every_entries.unwrap_or(dc.every_entries),
            interval_ms: self.checkpoint_interval_ms.unwrap_or(dc.interval_ms),
        };
        checkpoints.check()?;
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => return Err(invalid("tls_cert", "tls_cert and tls_key go together")),
        };
        let listen = match self.listen {
            Some(a) => a,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| invalid("listen", "the default address does not parse"))?,
        };
        let tokens = self.tokens.unwrap_or_default();
        if tokens.is_empty()
            && !listen.ip().is_loopback()
            && !self.allow_unauthenticated.unwrap_or(false)
        {
            return Err(invalid(
                "listen",
                format!(
                    "{listen} is not a loopback address and no tokens are configured, so anyone \
                     who can reach it could append and read: configure tokens, listen on \
                     127.0.0.1, or pass --allow-unauthenticated"
                ),
            ));
        }
        let workers = match self.workers {
            Some(0) => return Err(invalid("workers", "at least 1 thread serves requests")),
            Some(n) => n,
            None => default_workers(),
        };
        Ok(Config {
            data: self.data.ok_or(ConfigError::NoDataDir)?,
            workers,
            listen,
            origin: self.origin,
            tls,
            publish_dir: self.publish_dir,
            log_format: self.log_format.unwrap_or_default(),
            limits,
            checkpoints,
            tokens,
            otlp: self.otlp.resolve()?,
            monitor: self.monitor.resolve()?,
            archive: self.archive.resolve()?,
        })
    }
}

/// One per CPU. Measured on 2 cores: one request thread instead of two made
/// single decisions on 64 connections 6% faster, but turned a flood away at
/// half the rate with a higher peak of memory, so the default stays one per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A complete, checked configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The ledger directory.
    pub data: PathBuf,
    /// Where to listen (the binary binds it; tests bind port 0 themselves).
    pub listen: SocketAddr,
    /// Threads of the async runtime that serves requests (the binary builds it).
    pub workers: usize,
    /// Origin for a ledger created with `--init`.
    pub origin: Option<String>,
    /// Certificate and key for HTTPS.
    pub tls: Option<TlsFiles>,
    /// Where checkpoints are also published.
    pub publish_dir: Option<PathBuf>,
    /// How logs are written.
    pub log_format: LogFormat,
    /// Request and queue limits.
    pub limits: Limits,
    /// When checkpoints are signed.
    pub checkpoints: CheckpointPolicy,
    /// Bearer tokens; empty means authentication is off.
    pub tokens: Vec<TokenConfig>,
    /// How OTLP spans become decisions.
    pub otlp: OtlpConfig,
    /// The live monitor.
    pub monitor: MonitorConfig,
    /// The archive written while serving, when one is configured.
    pub archive: Option<ArchiveConfig>,
}

impl Config {
    /// The defaults for a ledger in `data`.
    pub fn new(data: impl Into<PathBuf>) -> Result<Config, ConfigError> {
        Settings {
            data: Some(data.into()),
            ..Settings::default()
        }
        .resolve()
    }
}

/// Certificate chain and private key files, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Limits on what clients may send and on what the daemon holds at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub body_bytes_max: usize,
    /// Largest decision (one JSON body or one NDJSON line), in bytes.
    pub line_bytes_max: usize,
    /// Most decisions in one NDJSON batch.
    pub batch_len_max: usize,
    /// Most open connections.
    pub connections_max: usize,
    /// Most append requests waiting for the sequencer.
    pub queue_requests_max: usize,
    /// Most memory append requests may hold at once.
    pub queue_bytes_max: usize,
    /// Most decisions in one group commit.
    pub commit_entries_max: usize,
    /// Most body bytes in one group commit.
    pub commit_bytes_max: usize,
    /// Longest a request may take.
    pub request_timeout_ms: u64,
    /// Longest a client may take to send its headers or finish a TLS handshake.
    pub header_read_timeout_ms: u64,
    /// Longest a shutdown waits for requests in flight.
    pub shutdown_grace_ms: u64,
    /// `Retry-After` of 429 and 503 answers, in seconds.
    pub retry_after_s: u64,
    /// Appends are refused while fewer bytes are free on the ledger's disk.
    pub disk_reserve_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes_max: 16 << 20,
            line_bytes_max: 1 << 20,
            batch_len_max: 10_000,
            connections_max: 1024,
            queue_requests_max: 4096,
            queue_bytes_max: 64 << 20,
            commit_entries_max: 16_384,
            commit_bytes_max: 32 << 20,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            shutdown_grace_ms: 30_000,
            retry_after_s: 1,
            disk_reserve_bytes: cairn_store::DISK_RESERVE,
        }
    }
}

impl Limits {
    fn check(&self) -> Result<(), ConfigError> {
        let positive: [(&'static str, u64); 10] = [
            ("body_bytes_max", self.body_bytes_max as u64),
            ("line_bytes_max", self.line_bytes_max as u64),
            ("batch_len_max", self.batch_len_max as u64),
            ("connections_max", self.connections_max as u64),
            ("queue_requests_max", self.queue_requests_max as u64),
            ("queue_bytes_max", self.queue_bytes_max as u64),
            ("commit_entries_max", self.commit_entries_max as u64),
            ("commit_bytes_max", self.commit_bytes_max as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
        ];
        for (option, value) in positive {
            if value == 0 {
                return Err(invalid(option, "must be at least 1"));
            }
        }
        // The store refuses a decision whose payloads are larger.
        if self.line_bytes_max as u64 > cairn_store::pieces::DECISION_PAYLOAD_BYTES_MAX {
            return Err(invalid(
                "line_bytes_max",
                format!(
                    "{} is larger than a decision may be ({} bytes)",
                    self.line_bytes_max,
                    cairn_store::pieces::DECISION_PAYLOAD_BYTES_MAX
                ),
            ));
        }
        if self.line_bytes_max > self.body_bytes_max {
            return Err(invalid(
                "line_bytes_max",
                format!(
                    "{} is larger than body_bytes_max ({})",
                    self.line_bytes_max, self.body_bytes_max
                ),
            ));
        }
        // A body larger than the admission budget could never be admitted: it
        // would be refused with 429 forever instead of 413 once.
        if self.body_bytes_max > self.queue_bytes_max {
            return Err(invalid(
                "queue_bytes_max",
                format!(
                    "{} is smaller than body_bytes_max ({}); one largest request must fit",
                    self.queue_bytes_max, self.body_bytes_max
                ),
            ));
        }
        if self.connections_max > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(invalid("connections_max", "too large"));
        }
        Ok(())
    }
}

/// When the daemon signs checkpoints: after `every_entries` new entries, or every
/// `interval_ms` while the ledger grows, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Entries between checkpoints.
    pub every_entries: u64,
    /// Milliseconds between checkpoints.
    pub interval_ms: u64,
}

impl Default for CheckpointPolicy {
    fn default() -> CheckpointPolicy {
        CheckpointPolicy {
            every_entries: 100_000,
            interval_ms: 1000,
        }
    }
}

impl CheckpointPolicy {
    fn check(&self) -> Result<(), ConfigError> {
        if self.every_entries == 0 {
            return Err(invalid("checkpoint_every_entries", "must be at least 1"));
        }
        if self.interval_ms == 0 {
            return Err(invalid("checkpoint_interval_ms", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn upper_layers_win_field_by_field_and_defaults_fill_the_rest() {
        let file = Settings::from_toml(
            r#"
            data = "/from/file"
            listen = "127.0.0.1:9000"
            body_bytes_max = 1000
            line_bytes_max = 500
            queue_bytes_max = 4000
            [[tokens]]
            sha256 = "00"
            write_streams = ["payments.*"]
            "#,
        )
        .unwrap();
        let cli = Settings {
            listen: Some("127.0.0.1:9001".parse().unwrap()),
            ..Settings::default()
        };
        let config = cli.or(file).resolve().unwrap();
        assert_eq!(config.data, PathBuf::from("/from/file"));
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.limits.body_bytes_max, 1000);
        assert_eq!(config.limits.batch_len_max, Limits::default().batch_len_max);
        assert_eq!(config.tokens.len(), 1);
        assert!(!config.tokens[0].read);
    }

    #[test]
    fn a_public_address_without_tokens_needs_allow_unauthenticated() {
        let open = |extra: &str| {
            Settings::from_toml(&format!(
                "data = \"/d\"\nlisten = \"0.0.0.0:7070\"\n{extra}"
            ))
            .unwrap()
            .resolve()
        };
        let err = open("").unwrap_err().to_string();
        assert!(err.contains("--allow-unauthenticated"), "{err}");
        assert!(open("allow_unauthenticated = true").is_ok());
        let token = format!(
            "[[tokens]]\nsha256 = \"{}\"\nwrite_streams = [\"*\"]",
            crate::auth::hash_token("t")
        );
        assert!(open(&token).is_ok(), "tokens make it safe");
        for loopback in ["127.0.0.1:7070", "[::1]:7070"] {
            let s = Settings::from_toml(&format!("data = \"/d\"\nlisten = \"{loopback}\""));
            assert!(s.unwrap().resolve().is_ok(), "{loopback}");
        }
    }

    #[test]
    fn defaults_listen_on_loopback_7070() {
        let config = Config::new("/d").unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert!(config.tokens.is_empty());
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.workers, default_workers());
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(default_workers(), cpus);
        let four = Settings::from_toml("data = \"/d\"\nworkers = 4").unwrap();
        assert_eq!(four.resolve().unwrap().workers, 4);
    }

    #[test]
    fn rejects_unknown_keys_and_inconsistent_limits() {
        let err = Settings::from_toml("body_bytes = 5").unwrap_err();
        assert!(err.contains("unknown field `body_bytes`"), "{err}");
        let bad = |s: Settings, want: &str| {
            let err = s.resolve().unwrap_err().to_string();
            assert!(err.contains(want), "{err} does not mention {want}");
        };
        let base = Settings {
            data: Some("/d".into()),
            ..Settings::default()
        };
        bad(
            Settings {
                batch_len_max: Some(0),
                ..base.clone()
            },
            "batch_len_max",
        );
        bad(
            Settings {
                queue_bytes_max: Some(10),
                ..base.clone()
            },
            "queue_bytes_max",
        );
        bad(
            Settings {
                line_bytes_max: Some(65 << 20),
                body_bytes_max: Some(128 << 20),
                queue_bytes_max: Some(256 << 20),
                ..base.clone()
            },
            "larger than a decision may be",
        );
        bad(
            Settings {
                tls_cert: Some("c.pem".into()),
                ..base.clone()
            },
            "tls_key go together",
        );
        bad(
            Settings {
                workers: Some(0),
                ..base.clone()
            },
            "workers",
        );
        bad(Settings::default(), "no ledger directory");
    }
}
