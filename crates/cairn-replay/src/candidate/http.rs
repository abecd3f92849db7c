//! An HTTP candidate: each record is POSTed as JSON (the protocol's object, or a
//! [`Template`]'s rendering) and the response body is the candidate's output.

use serde_json::Value;

use super::{parse_answer, preview, request_bytes, CallFailure, CandidateOptions, FailureKind};
use super::{Template, RESPONSE_BYTES_MAX};
use crate::error::ReplayError;
use crate::record::Record;

/// An HTTP endpoint, with a pool of kept-alive connections.
#[derive(Debug)]
pub struct HttpCandidate {
    url: String,
    client: reqwest::Client,
    template: Option<Template>,
}

impl HttpCandidate {
    /// A candidate at `url`.
    pub fn new(url: &str, options: &CandidateOptions) -> Result<HttpCandidate, ReplayError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ReplayError::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ReplayError::BadUrl {
                url: url.to_owned(),
                reason: "only http:// and https:// are supported".into(),
            });
        }
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(options.concurrency.max(1))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ReplayError::HttpClient {
                reason: e.to_string(),
            })?;
        Ok(HttpCandidate {
            url: url.to_owned(),
            client,
            template: options.template.clone(),
        })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POST one record and read the answer.
    pub async fn call(&self, record: &Record) -> Result<Value, CallFailure> {
        let body = match &self.template {
            Some(t) => serde_json::to_vec(&t.render(record)).unwrap_or_default(),
            None => request_bytes(record),
        };
        let mut response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status();
        let too_large = || {
            CallFailure::new(
                FailureKind::Protocol,
                format!("answer larger than {RESPONSE_BYTES_MAX} bytes"),
                false,
            )
        };
        let bytes = match response.content_length() {
            // The common case: a declared length, checked before reading, read in one piece.
            Some(n) if n > RESPONSE_BYTES_MAX as u64 => return Err(too_large()),
            Some(_) => response.bytes().await.map_err(|e| transport(&e))?,
            None => {
                let mut buf = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
                    if buf.len() + chunk.len() > RESPONSE_BYTES_MAX {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&chunk);
                }
                buf.into()
            }
        };
        if !status.is_success() {
            let retryable = status.is_server_error() || status.as_u16() == 429;
            return Err(CallFailure::new(
                FailureKind::HttpStatus,
                format!("HTTP {}: {}", status.as_u16(), preview(&bytes)),
                retryable,
            ));
        }
        parse_answer(&bytes)
    }
}

fn transport(e: &reqwest::Error) -> CallFailure {
    // The source chain says what actually failed (refused, reset, DNS).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    CallFailure::new(FailureKind::Transport, message, true)
}
