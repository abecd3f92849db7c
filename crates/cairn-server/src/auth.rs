//! Bearer-token authentication and per-stream rights.
//!
//! The configuration holds only SHA-256 hashes of tokens, so a leaked
//! configuration file does not leak tokens. A request's token is hashed and
//! looked up; what it may do is then checked per decision stream, for writes
//! and for reads of entries alike. Checkpoints and proofs are public: they hold
//! hashes only. With no token configured, authentication is off and every
//! request may do everything.

use std::collections::HashMap;

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, TokenConfig};

/// The lower-case hex SHA-256 of a token: what the configuration stores.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Streams a token may append to or read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamPattern {
    /// `*`: every stream.
    Any,
    /// `payments.*`: every stream starting with `payments.` (stored with the dot).
    Prefix(String),
    /// An exact stream name.
    Exact(String),
}

impl StreamPattern {
    fn parse(text: &str) -> Result<StreamPattern, String> {
        if text == "*" {
            return Ok(StreamPattern::Any);
        }
        if let Some(prefix) = text.strip_suffix('*') {
            if prefix.len() > 1 && prefix.ends_with('.') && !prefix.contains('*') {
                return Ok(StreamPattern::Prefix(prefix.to_owned()));
            }
            return Err(format!(
                "{text:?}: a pattern is `*`, `prefix.*`, or an exact stream name"
            ));
        }
        if text.is_empty() || text.contains('*') {
            return Err(format!(
                "{text:?}: a pattern is `*`, `prefix.*`, or an exact stream name"
            ));
        }
        Ok(StreamPattern::Exact(text.to_owned()))
    }

    fn matches(&self, stream: &str) -> bool {
        match self {
            StreamPattern::Any => true,
            StreamPattern::Prefix(p) => stream.starts_with(p.as_str()),
            StreamPattern::Exact(s) => s == stream,
        }
    }
}

/// What one token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    name: String,
    write: Vec<StreamPattern>,
    read: Vec<StreamPattern>,
    admin: bool,
}

impl Rights {
    /// The token's label, for logs.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: HashMap<[u8; 32], Rights>,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    /// The header is not `Bearer <token>`.
    #[error("malformed Authorization header: expected `Bearer <token>`")]
    Malformed,
    /// The token is not configured.
    #[error("unknown bearer token")]
    Unknown,
}

impl Auth {
    /// Build from the configuration; hashes must be 64 hex digits and patterns valid.
    pub fn from_config(tokens: &[TokenConfig]) -> Result<Auth, ConfigError> {
        let mut map = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let bad = |reason: String| ConfigError::Invalid {
                option: "tokens",
                reason: format!("token {} ({}): {reason}", i + 1, label(t, i)),
            };
            let mut hash = [0u8; 32];
            hex::decode_to_slice(t.sha256.to_ascii_lowercase(), &mut hash).map_err(|_| {
                bad("`sha256` must be 64 hex digits (use `cairnd hash-token`)".into())
            })?;
            let patterns = |list: &[String]| {
                list.iter()
                    .map(|p| StreamPattern::parse(p))
                    .collect::<Result<Vec<_>, _>>()
            };
            let write = patterns(&t.write_streams).map_err(bad)?;
            let mut read = patterns(&t.read_streams).map_err(bad)?;
            // `read = true` is the older spelling of `read_streams = ["*"]`.
            if t.read {
                read.push(StreamPattern::Any);
            }
            let rights = Rights {
                name: label(t, i),
                write,
                read,
                admin: t.admin,
            };
            if map.insert(hash, rights).is_some() {
                return Err(bad("the same token hash is configured twice".into()));
            }
        }
        Ok(Auth { tokens: map })
    }

    /// Whether any token is configured. When not, everyone may do everything.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Who the request comes from, by its `Authorization` header.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Access<'_>, AuthError> {
        if !self.enabled() {
            return Ok(Access(None));
        }
        let value = headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Malformed);
        }
        let hash: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        self.tokens
            .get(&hash)
            .map(|r| Access(Some(r)))
            .ok_or(AuthError::Unknown)
    }
}

fn label(t: &TokenConfig, i: usize) -> String {
    t.name
        .clone()
        .unwrap_or_else(|| format!("token #{}", i + 1))
}

/// What an authenticated request may do: everything when authentication is off.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a>(Option<&'a Rights>);

impl Access<'_> {
    /// May append decisions to `stream`.
    pub fn may_write(&self, stream: &str) -> bool {
        self.0
            .is_none_or(|r| r.write.iter().any(|p| p.matches(stream)))
    }

    /// May append to at least one stream.
    pub fn may_write_some(&self) -> bool {
        self.0.is_none_or(|r| !r.write.is_empty())
    }

    /// May read the entries and payloads of decisions on `stream`.
    pub fn may_read(&self, stream: &str) -> bool {
        self.0
            .is_none_or(|r| r.read.iter().any(|p| p.matches(stream)))
    }

    /// May read every stream: needed for entries that belong to none
    /// (redactions, replay runs).
    pub fn may_read_all(&self) -> bool {
        self.0.is_none_or(|r| r.read.contains(&StreamPattern::Any))
    }

    /// May act as an operator: reset a breaker, pin a monitor reference.
    pub fn may_administer(&self) -> bool {
        self.0.is_none_or(|r| r.admin)
    }

    /// The token's label, when there is a token.
    pub fn name(&self) -> Option<&str> {
        self.0.map(Rights::name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    fn auth() -> Auth {
        Auth::from_config(&[
            TokenConfig {
                name: Some("payments".into()),
                sha256: hash_token("p-secret"),
                write_streams: vec!["payments.*".into(), "audit".into()],
                read_streams: vec!["payments.*".into()],
                read: false,
                admin: false,
            },
            TokenConfig {
                name: None,
                sha256: hash_token("reader").to_uppercase(),
                write_streams: vec![],
                read_streams: vec![],
                read: true,
                admin: false,
            },
        ])
        .unwrap()
    }

    #[test]
    fn token_hash_is_hex_sha256() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn rights_follow_the_patterns() {
        let a = auth();
        let p = a.authenticate(&headers("Bearer p-secret")).unwrap();
        assert_eq!(p.name(), Some("payments"));
        assert!(p.may_write("payments.fraud"));
        assert!(p.may_write("audit"));
        assert!(!p.may_write("payments"), "the prefix includes its dot");
        assert!(!p.may_write("audit.x"));
        assert!(p.may_read("payments.fraud"));
        assert!(!p.may_read("audit"), "read rights are their own");
        assert!(!p.may_read_all());
        assert!(p.may_write_some());
        let r = a.authenticate(&headers("bearer reader")).unwrap();
        assert!(r.may_read("anything") && r.may_read_all());
        assert!(!r.may_write("payments.fraud"));
        assert!(!r.may_write_some());
    }

    #[test]
    fn missing_malformed_and_unknown_tokens_are_told_apart() {
        let a = auth();
        assert_eq!(
            a.authenticate(&HeaderMap::new()).unwrap_err(),
            AuthError::Missing
        );
        assert_eq!(
            a.authenticate(&headers("Basic abc")).unwrap_err(),
            AuthError::Malformed
        );
        assert_eq!(
            a.authenticate(&headers("Bearer nope")).unwrap_err(),
            AuthError::Unknown
        );
    }

    #[test]
    fn no_tokens_means_everything_is_allowed() {
        let a = Auth::from_config(&[]).unwrap();
        assert!(!a.enabled());
        let any = a.authenticate(&HeaderMap::new()).unwrap();
        assert!(any.may_write("x") && any.may_read("x") && any.may_read_all());
    }

    #[test]
    fn bad_hashes_and_patterns_are_configuration_errors() {
        for (sha, pattern) in [
            ("zz", "a"),
            (&*hash_token("x"), "pay*"),
            (&*hash_token("x"), "*.x"),
        ] {
            let t = TokenConfig {
                name: None,
                sha256: sha.to_owned(),
                write_streams: vec![pattern.into()],
                read_streams: vec![],
                read: false,
                admin: false,
            };
            assert!(Auth::from_config(&[t]).is_err(), "{sha} {pattern}");
        }
    }
}
