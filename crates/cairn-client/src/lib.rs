//! An async client for services that record their model decisions in Cairn.
//!
//! ```no_run
//! # async fn example() -> Result<(), cairn_client::ClientError> {
//! use cairn_client::{Client, Decision, Model};
//! use serde_json::json;
//!
//! let client = Client::builder("http://127.0.0.1:7070").token("cairn_...").build()?;
//! let decision = Decision::new(
//!     "payments.fraud",
//!     Model::new("fraud-model", "7.2.0"),
//!     json!({"amount": 125.5, "currency": "EUR"}),
//!     json!({"label": "review", "score": 0.81}),
//! );
//! let receipt = client.record(decision).await?; // durable once this returns
//! println!("seq {} leaf {}", receipt.seq, receipt.leaf_hash_hex());
//! let everything = client.shutdown().await?;    // receipts since the last flush
//! # let _ = everything;
//! # Ok(())
//! # }
//! ```
//!
//! How it works:
//! - [`Client::record`] turns the decision into one JSON line, adds an
//!   `idempotency_key` if it has none, and queues it. The queue holds at most
//!   `queue_entries_max` decisions that have no outcome yet; past that,
//!   `record` waits (backpressure) instead of growing.
//! - A background task sends the queue as NDJSON batches of at most
//!   `batch_entries_max` decisions and `batch_bytes_max` bytes, as soon as a
//!   batch is full or `flush_interval_ms` after its first decision, with at
//!   most `requests_in_flight_max` requests at once.
//! - `429` and `503` (honouring `Retry-After`), gateway errors, timeouts and
//!   broken connections are retried with exponential backoff and jitter, up to
//!   `retries` times. A retried batch carries the same idempotency keys, so
//!   what the daemon had already stored is answered with its original receipt
//!   and never appended twice.
//! - A batch the daemon refuses because of some of its lines fails those
//!   decisions only, each with its own message; the others are sent again.
//! - [`Client::flush`] sends what is queued and returns the receipts of every
//!   decision recorded since the previous flush; [`Client::shutdown`] does the
//!   same and stops the background task.
//!
//! The client needs a tokio runtime with the time driver enabled.

mod backoff;
mod batcher;
mod decision;
mod error;
mod receipt;
mod sender;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};
use tokio::task::JoinHandle;

pub use decision::{Decision, IntoDecision, Model};
pub use error::ClientError;
pub use receipt::Receipt;

use backoff::Backoff;
use batcher::Command;
use decision::KeyMaker;
use sender::{Counters, Job, Sender};

/// Options of a [`Client`], with their defaults.
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    token: Option<String>,
    batch_entries_max: usize,
    batch_bytes_max: usize,
    flush_interval_ms: u64,
    queue_entries_max: usize,
    requests_in_flight_max: usize,
    retries: u32,
    backoff_initial_ms: u64,
    backoff_max_ms: u64,
    request_timeout_ms: u64,
    connect_timeout_ms: u64,
    keep_receipts: bool,
    root_certificates_pem: Vec<Vec<u8>>,
}

impl ClientBuilder {
    /// Bearer token sent with every request.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Most decisions in one request [default: 1000]. Keep it at or below the
    /// daemon's `batch_len_max`; a batch the daemon finds too long is split.
    pub fn batch_entries_max(mut self, n: usize) -> Self {
        self.batch_entries_max = n;
        self
    }

    /// Most body bytes in one request [default: 1 MiB]; a single larger
    /// decision is sent alone.
    pub fn batch_bytes_max(mut self, n: usize) -> Self {
        self.batch_bytes_max = n;
        self
    }

    /// Longest a decision waits for its batch to fill before the batch is sent
    /// anyway [default: 5].
    pub fn flush_interval_ms(mut self, ms: u64) -> Self {
        self.flush_interval_ms = ms;
        self
    }

    /// Most decisions recorded and not yet answered; `record` waits beyond it
    /// [default: 10000].
    pub fn queue_entries_max(mut self, n: usize) -> Self {
        self.queue_entries_max = n;
        self
    }

    /// Most requests at once [default: 1]. With 1, decisions reach the ledger
    /// in the order they were recorded; more gives up that order for
    /// throughput.
    pub fn requests_in_flight_max(mut self, n: usize) -> Self {
        self.requests_in_flight_max = n;
        self
    }

    /// Attempts after the first for a batch that met an overloaded or
    /// unreachable daemon [default: 8].
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// First and longest backoff between attempts, before jitter
    /// [default: 100 and 10000].
    pub fn backoff_ms(mut self, initial_ms: u64, max_ms: u64) -> Self {
        self.backoff_initial_ms = initial_ms;
        self.backoff_max_ms = max_ms;
        self
    }

    /// Longest one request may take, connection included, before it counts as
    /// failed and is retried [default: 30000].
    pub fn request_timeout_ms(mut self, ms: u64) -> Self {
        self.request_timeout_ms = ms;
        self
    }

    /// Longest a connection may take to open [default: 5000].
    pub fn connect_timeout_ms(mut self, ms: u64) -> Self {
        self.connect_timeout_ms = ms;
        self
    }

    /// Whether receipts are kept for [`Client::flush`] [default: true]. Each
    /// takes about 64 bytes until the next flush; a service that only awaits
    /// [`Client::record`] and never flushes should turn this off.
    pub fn keep_receipts(mut self, keep: bool) -> Self {
        self.keep_receipts = keep;
        self
    }

    /// Also trust this CA certificate (PEM) for `https://` URLs, for a daemon
    /// whose certificate comes from a private CA or is self-signed. The
    /// public web roots are trusted regardless.
    pub fn root_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates_pem.push(pem.as_ref().to_vec());
        self
    }

    /// Check the options and start the client's background task on the
    /// current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn build(self) -> Result<Client, ClientError> {
        self.check()?;
        let url = endpoint(&self.url)?;
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_millis(self.request_timeout_ms))
            .connect_timeout(Duration::from_millis(self.connect_timeout_ms))
            .pool_max_idle_per_host(self.requests_in_flight_max)
            .tcp_nodelay(true);
        for pem in &self.root_certificates_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| ClientError::Config {
                option: "root_certificate_pem",
                reason: e.to_string(),
            })?;
            http = http.add_root_certificate(cert);
        }
        let http = http.build().map_err(|e| ClientError::Config {
            option: "url",
            reason: e.to_string(),
        })?;
        let counters = Arc::new(Counters::default());
        let sender = Arc::new(Sender {
            http,
            url,
            token: self.token,
            retries: self.retries,
            backoff: Backoff {
                initial_ms: self.backoff_initial_ms,
                max_ms: self.backoff_max_ms,
            },
            counters: Arc::clone(&counters),
        });
        let (commands, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(batcher::run(
            receiver,
            sender,
            batcher::Limits {
                batch_entries_max: self.batch_entries_max,
                batch_bytes_max: self.batch_bytes_max,
                flush_interval: Duration::from_millis(self.flush_interval_ms),
                requests_in_flight_max: self.requests_in_flight_max,
                keep_receipts: self.keep_receipts,
            },
        ));
        Ok(Client {
            inner: Arc::new(Inner {
                commands,
                queue: Arc::new(Semaphore::new(self.queue_entries_max)),
                keys: KeyMaker::new()?,
                counters,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    fn check(&self) -> Result<(), ClientError> {
        let positive = [
            ("batch_entries_max", self.batch_entries_max as u64),
            ("batch_bytes_max", self.batch_bytes_max as u64),
            ("queue_entries_max", self.queue_entries_max as u64),
            ("requests_in_flight_max", self.requests_in_flight_max as u64),
            ("backoff_ms", self.backoff_initial_ms),
            ("request_timeout_ms", self.request_timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
        ];
        for (option, value) in positive {
            if value == 0 {
                return Err(ClientError::Config {
                    option,
                    reason: "must be at least 1".into(),
                });
            }
        }
        if self.queue_entries_max > Semaphore::MAX_PERMITS {
            return Err(ClientError::Config {
                option: "queue_entries_max",
                reason: "too large".into(),
            });
        }
        if self.backoff_max_ms < self.backoff_initial_ms {
            return Err(ClientError::Config {
                option: "backoff_ms",
                reason: "the longest backoff is shorter than the first".into(),
            });
        }
        Ok(())
    }
}

/// `POST /v1/decisions` under the daemon's base URL.
fn endpoint(base: &str) -> Result<reqwest::Url, ClientError> {
    let bad = |reason: String| ClientError::Config {
        option: "url",
        reason,
    };
    let url = reqwest::Url::parse(base).map_err(|e| bad(format!("{base:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("{base:?}: use http:// or https://")));
    }
    let path = format!("{}/v1/decisions", url.path().trim_end_matches('/'));
    let mut url = url;
    url.set_path(&path);
    Ok(url)
}

/// Counters since the client was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Of those, attempts after a transient failure.
    pub retries: u64,
    /// Decisions answered with a receipt.
    pub recorded: u64,
    /// Decisions answered with an error.
    pub failed: u64,
}

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    queue: Arc<Semaphore>,
    keys: KeyMaker,
    counters: Arc<Counters>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// A handle to the client; clones share one queue and background task.
///
/// Dropping the last handle lets the background task send what is queued and
/// stop; [`Client::shutdown`] does the same and waits for it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The outcome of a queued decision, to await; see [`Client::enqueue`].
#[derive(Debug)]
pub struct PendingReceipt {
    rx: oneshot::Receiver<Result<Receipt, ClientError>>,
}

impl Future for PendingReceipt {
    type Output = Result<Receipt, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

impl Client {
    /// Options for a client of the daemon at `url` (e.g. `http://127.0.0.1:7070`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            token: None,
            batch_entries_max: 1000,
            batch_bytes_max: 1 << 20,
            flush_interval_ms: 5,
            queue_entries_max: 10_000,
            requests_in_flight_max: 1,
            retries: 8,
            backoff_initial_ms: 100,
            backoff_max_ms: 10_000,
            request_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            keep_receipts: true,
            root_certificates_pem: Vec::new(),
        }
    }

    /// Record a decision: resolves with its receipt once it is durable in the
    /// ledger, or with the reason it is not.
    ///
    /// The decision is checked and encoded now; the returned future queues it
    /// (waiting while the queue is full) and waits for its outcome. It does not
    /// borrow the client, so it can be spawned.
    pub fn record(
        &self,
        decision: impl IntoDecision,
    ) -> impl Future<Output = Result<Receipt, ClientError>> + Send + 'static {
        let line = self.inner.keys.line(decision);
        let client = self.clone();
        async move { client.enqueue_line(line?).await?.await }
    }

    /// Queue a decision and return as soon as it is queued (waiting while the
    /// queue is full); the returned [`PendingReceipt`] resolves with its
    /// outcome. Dropping it does not withdraw the decision.
    pub async fn enqueue(
        &self,
        decision: impl IntoDecision,
    ) -> Result<PendingReceipt, ClientError> {
        let line = self.inner.keys.line(decision)?;
        self.enqueue_line(line).await
    }

    async fn enqueue_line(&self, line: bytes::Bytes) -> Result<PendingReceipt, ClientError> {
        let permit = Arc::clone(&self.inner.queue)
            .acquire_owned()
            .await
            .map_err(|_| ClientError::Closed)?;
        let (reply, rx) = oneshot::channel();
        let job = Job {
            index: 0,
            line,
            reply,
            permit,
        };
        self.inner
            .commands
            .send(Command::Record(job))
            .map_err(|_| ClientError::Closed)?;
        Ok(PendingReceipt { rx })
    }

    /// Send everything queued now and wait until every decision recorded
    /// before this call has an outcome; return the receipts, in record order,
    /// of those recorded since the previous flush that were stored. Decisions
    /// that failed are left out: their own callers got the error (see
    /// [`Stats::failed`]). Empty when `keep_receipts` is off.
    pub async fn flush(&self) -> Result<Vec<Receipt>, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Flush(reply))
            .map_err(|_| ClientError::Closed)?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Refuse new decisions (on every handle), send everything queued, wait for
    /// every outcome and stop the background task; return what
    /// [`Client::flush`] would.
    pub async fn shutdown(self) -> Result<Vec<Receipt>, ClientError> {
        self.inner.queue.close();
        let flushed = self.flush().await;
        let _ = self.inner.commands.send(Command::Close);
        if let Some(task) = self.inner.task.lock().await.take() {
            let _ = task.await;
        }
        flushed
    }

    /// Counters since the client was built.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        Stats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            recorded: c.recorded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_endpoint_keeps_a_base_path() {
        assert_eq!(
            endpoint("http://127.0.0.1:7070").unwrap().as_str(),
            "http://127.0.0.1:7070/v1/decisions"
        );
        assert_eq!(
            endpoint("https://h.example/cairn/").unwrap().as_str(),
            "https://h.example/cairn/v1/decisions"
        );
        assert!(endpoint("ftp://h").is_err());
        assert!(endpoint("not a url").is_err());
    }

    #[test]
    fn zero_limits_are_refused() {
        let err = Client::builder("http://h")
            .batch_entries_max(0)
            .check()
            .unwrap_err();
        assert!(matches!(
            err,
            ClientError::Config {
                option: "batch_entries_max",
                ..
            }
        ));
    }
}
