//! Sending one batch to `POST /v1/decisions` until every decision in it has an
//! outcome: a receipt, or an error for its caller alone.
//!
//! - `429`, `503`, `502`, `504`, `408` and transport errors are retried with
//!   backoff (honouring `Retry-After`), resending the same bytes: the
//!   idempotency keys make a resend of something already stored answer with
//!   the original receipts.
//! - A batch refused for some of its lines (`400`, `403`, `413` with a line
//!   list) fails those decisions only; the rest are sent again. The daemon
//!   stores nothing of a refused batch, so this cannot duplicate anything.
//! - A batch too large for the daemon (`body_too_large`, `batch_too_long`) is
//!   split in two, and each half is sent in turn.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::StatusCode;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tracing::debug;

use crate::backoff::{retry_after, Backoff};
use crate::error::ClientError;
use crate::receipt::{parse_receipts, ErrorBody, Receipt};

/// One queued decision and the caller waiting for it.
#[derive(Debug)]
pub(crate) struct Job {
    /// Position in record order.
    pub index: u64,
    /// The decision as one JSON line, without the newline.
    pub line: Bytes,
    /// Where its outcome goes.
    pub reply: oneshot::Sender<Result<Receipt, ClientError>>,
    /// Its place in the bounded queue, given back when the job is dropped.
    pub permit: OwnedSemaphorePermit,
}

/// Counters shared by the sender tasks and [`crate::Client::stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub recorded: AtomicU64,
    pub failed: AtomicU64,
}

/// What one answer means for the decisions of the request.
enum Answer {
    /// Stored; one receipt per decision, in order.
    Stored(Vec<Receipt>),
    /// These decisions (positions in the request) were refused; nothing was
    /// stored and the others may be sent again. Never empty.
    Lines(Vec<(usize, ClientError)>),
    /// The request is too large for the daemon's limits.
    TooLarge(ClientError),
    /// Every decision of the request fails with this.
    Failed(ClientError),
}

/// Sends batches; shared by the batcher's send tasks.
#[derive(Debug)]
pub(crate) struct Sender {
    pub http: reqwest::Client,
    pub url: reqwest::Url,
    pub token: Option<String>,
    pub retries: u32,
    pub backoff: Backoff,
    pub counters: Arc<Counters>,
}

impl Sender {
    /// Deliver `jobs`, answer every caller, and return each job's outcome by
    /// record index (the receipt, or `None` when it failed).
    pub(crate) async fn deliver(&self, jobs: Vec<Job>) -> Vec<(u64, Option<Receipt>)> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut work = vec![jobs];
        while let Some(group) = work.pop() {
            match self.send(&group).await {
                Answer::Stored(receipts) => {
                    for (job, receipt) in group.into_iter().zip(receipts) {
                        self.settle(job, Ok(receipt), &mut outcomes);
                    }
                }
                Answer::Lines(refused) => {
                    let mut refused: HashMap<usize, ClientError> = refused.into_iter().collect();
                    let mut rest = Vec::with_capacity(group.len());
                    for (i, job) in group.into_iter().enumerate() {
                        match refused.remove(&i) {
                            Some(e) => self.settle(job, Err(e), &mut outcomes),
                            None => rest.push(job),
                        }
                    }
                    if !rest.is_empty() {
                        work.push(rest);
                    }
                }
                Answer::TooLarge(_) if group.len() > 1 => {
                    let mut first = group;
                    let second = first.split_off(first.len() / 2);
                    debug!(
                        first = first.len(),
                        second = second.len(),
                        "batch too large for the daemon; splitting"
                    );
                    work.push(second);
                    work.push(first);
                }
                Answer::TooLarge(e) | Answer::Failed(e) => {
                    for job in group {
                        self.settle(job, Err(e.clone()), &mut outcomes);
                    }
                }
            }
        }
        outcomes
    }

    fn settle(
        &self,
        job: Job,
        outcome: Result<Receipt, ClientError>,
        outcomes: &mut Vec<(u64, Option<Receipt>)>,
    ) {
        let counter = match outcome {
            Ok(_) => &self.counters.recorded,
            Err(_) => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcomes.push((job.index, outcome.as_ref().ok().copied()));
        // A caller that stopped waiting is no error.
        let _ = job.reply.send(outcome);
        drop(job.permit);
    }

    /// Send `group` as one NDJSON request, retrying transient failures.
    async fn send(&self, group: &[Job]) -> Answer {
        let body = ndjson(group);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let (retry_after_s, why) = match self.post(body.clone()).await {
                Err(e) => (None, transport_error(&e)),
                Ok((status, headers, bytes)) => {
                    if status == StatusCode::OK {
                        return match parse_receipts(&bytes, group.len()) {
                            Ok(receipts) => Answer::Stored(receipts),
                            Err(reason) => Answer::Failed(ClientError::Protocol { reason }),
                        };
                    }
                    if !retryable(status) {
                        return refused(status, &bytes, group.len());
                    }
                    let e = ErrorBody::parse(&bytes);
                    (
                        retry_after(&headers),
                        format!("{} {}: {}", status.as_u16(), e.code, e.error),
                    )
                }
            };
            if attempt > self.retries {
                return Answer::Failed(ClientError::GaveUp {
                    attempts: attempt,
                    last: why,
                });
            }
            let wait = self
                .backoff
                .delay(attempt, retry_after_s, rand::random::<f64>());
            debug!(attempt, ?wait, reason = %why, "retrying a batch");
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    async fn post(
        &self,
        body: Bytes,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Bytes), reqwest::Error> {
        let mut request = self
            .http
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok((status, headers, bytes))
    }
}

fn ndjson(group: &[Job]) -> Bytes {
    let len = group.iter().map(|j| j.line.len() + 1).sum();
    let mut body = BytesMut::with_capacity(len);
    for job in group {
        body.put_slice(&job.line);
        body.put_u8(b'\n');
    }
    body.freeze()
}

/// Answers worth another attempt: the daemon is busy, stopping or unhealthy,
/// a proxy could not reach it, or the request took too long (it may have been
/// stored; the idempotency keys make the resend safe).
fn retryable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::BAD_GATEWAY
            | StatusCode::GATEWAY_TIMEOUT
            | StatusCode::REQUEST_TIMEOUT
    )
}

/// A final refusal: per line when the daemon listed lines, else for all.
fn refused(status: StatusCode, body: &[u8], decisions: usize) -> Answer {
    let e = ErrorBody::parse(body);
    let rejected = |message: String| ClientError::Rejected {
        status: status.as_u16(),
        code: e.code.clone(),
        message,
    };
    // Lines count every line of the body from 1, and the body is one decision
    // per line, so line n is decision n-1.
    let lines: Vec<(usize, ClientError)> = e
        .lines
        .iter()
        .filter(|l| (1..=decisions).contains(&l.line))
        .map(|l| (l.line - 1, rejected(l.error.clone())))
        .collect();
    if !lines.is_empty() {
        return Answer::Lines(lines);
    }
    let whole = rejected(e.error.clone());
    if matches!(e.code.as_str(), "body_too_large" | "batch_too_long") {
        Answer::TooLarge(whole)
    } else {
        Answer::Failed(whole)
    }
}

/// A transport error with its causes (reqwest's own message is terse).
fn transport_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_lines_fail_alone_and_unlisted_sizes_split() {
        let body = br#"{"error":"x","code":"invalid_batch","lines":[{"line":3,"error":"bad"},{"line":9,"error":"out of range"}]}"#;
        match refused(StatusCode::BAD_REQUEST, body, 4) {
            Answer::Lines(l) => {
                assert_eq!(l.len(), 1);
                assert_eq!(l[0].0, 2);
                assert_eq!(
                    l[0].1,
                    ClientError::Rejected {
                        status: 400,
                        code: "invalid_batch".into(),
                        message: "bad".into()
                    }
                );
            }
            _ => panic!("expected per-line refusals"),
        }
        let body = br#"{"error":"too big","code":"body_too_large"}"#;
        assert!(matches!(
            refused(StatusCode::PAYLOAD_TOO_LARGE, body, 4),
            Answer::TooLarge(_)
        ));
        let body = br#"{"error":"who?","code":"unauthorized"}"#;
        assert!(matches!(
            refused(StatusCode::UNAUTHORIZED, body, 4),
            Answer::Failed(ClientError::Rejected { status: 401, .. })
        ));
    }

    #[test]
    fn only_transient_answers_are_retried() {
        for s in [429, 503, 502, 504, 408] {
            assert!(
                retryable(StatusCode::from_u16(s).unwrap_or_default()),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 413, 415, 500] {
            assert!(
                !retryable(StatusCode::from_u16(s).unwrap_or_default()),
                "{s}"
            );
        }
    }
}
