//! What happens when a breaker opens, off the monitor thread: the trip is
//! appended to the ledger as an `alert` entry (through the sequencer, like any
//! append), then POSTed to the webhook as JSON signed with the daemon's
//! checkpoint key, retried with backoff.
//!
//! The webhook request carries `Cairn-Signature: <key name> <base64(key id ‖
//! Ed25519 signature)>`, the signature of `"cairn-signed-message-v1 webhook\n" ‖
//! body` ([`cairn_core::checkpoint::NoteSigner::sign_message`]); verify it with
//! the ledger's verifier key (`NoteVerifier::verify_message`, or any Ed25519
//! library: the key is the last 32 bytes of the verifier key's base64 part).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::checkpoint::NoteSigner;
use cairn_core::entry::{AlertV1, ModelRef};
use cairn_store::Append;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::state::{Trip, Version};
use super::Shared;
use crate::admission::ByteBudget;
use crate::sequencer::SequencerHandle;

/// The context string of the webhook signature.
pub const WEBHOOK_CONTEXT: &str = "webhook";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "cairn-signature";
/// Time allowed for one webhook call.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to append an alert while the append budget or queue is full.
const APPEND_ATTEMPTS: u32 = 50;

/// What the notifier needs.
pub struct Notifier {
    /// Appends.
    pub sequencer: SequencerHandle,
    /// The append byte budget.
    pub budget: Arc<ByteBudget>,
    /// Signs webhook bodies.
    pub signer: NoteSigner,
    /// Where to POST.
    pub webhook_url: Option<String>,
    /// Attempts per call.
    pub webhook_attempts: u32,
    /// Counters.
    pub shared: Arc<Shared>,
    /// The ledger's origin, named in the webhook body.
    pub origin: String,
}

fn model(v: &Version) -> ModelRef {
    ModelRef {
        name: v.model.clone(),
        version: v.version.clone(),
        digest: None,
    }
}

/// The alert entry of a trip.
pub fn alert_entry(trip: &Trip) -> AlertV1 {
    let finite = |x: f64| if x.is_finite() { x } else { f64::MAX };
    AlertV1 {
        stream: trip.stream.clone(),
        check: trip.check.check.to_owned(),
        statistic: finite(trip.check.statistic),
        threshold: finite(trip.check.threshold),
        p_value: trip.check.p_value.map(finite),
        current: model(&trip.current),
        reference: model(&trip.reference),
        samples: trip.check.samples,
        reference_samples: trip.check.reference_samples,
        window_start_us: trip.window_start_us,
        window_end_us: trip.window_end_us.max(trip.window_start_us + 1),
    }
}

impl Notifier {
    /// Handle trips until the monitor stops.
    pub async fn run(self, mut trips: mpsc::Receiver<Trip>) {
        while let Some(trip) = trips.recv().await {
            let seq = self.append(&trip).await;
            if let Some(url) = &self.webhook_url {
                self.call_webhook(url, &trip, seq).await;
            }
        }
    }

    async fn append(&self, trip: &Trip) -> Option<u64> {
        let entry = alert_entry(trip);
        let len = entry.entry_len();
        let counters = &self.shared.counters;
        for attempt in 0..APPEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let Some(held) = self.budget.reserve(len) else {
                continue;
            };
            match self
                .sequencer
                .submit(vec![Append::Alert(entry.clone())], len, Arc::new(held))
                .await
            {
                Ok(receipts) => {
                    let seq = receipts.first().map(|r| r.seq);
                    counters.alerts_appended.fetch_add(1, Ordering::Relaxed);
                    info!(stream = %trip.stream, seq, "alert entry appended");
                    return seq;
                }
                Err(crate::sequencer::SubmitError::QueueFull) => {}
                Err(e) => {
                    warn!(stream = %trip.stream, error = %e, "the alert entry could not be appended");
                    break;
                }
            }
        }
        counters.alerts_failed.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The webhook body: the trip, the alert entry's seq, the ledger's origin.
    pub fn body(&self, trip: &Trip, seq: Option<u64>) -> Vec<u8> {
        let body = json!({
            "event": "breaker_open",
            "origin": self.origin,
            "alert_seq": seq,
            "trip": trip,
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }

    async fn call_webhook(&self, url: &str, trip: &Trip, seq: Option<u64>) {
        let body = self.body(trip, seq);
        let signature = format!(
            "{} {}",
            self.signer.name(),
            self.signer.sign_message(WEBHOOK_CONTEXT, &body)
        );
        let counters = &self.shared.counters;
        let mut delay = Duration::from_millis(250);
        for attempt in 1..=self.webhook_attempts {
            match tokio::time::timeout(WEBHOOK_TIMEOUT, post(url, &body, &signature)).await {
                Ok(Ok(status)) if (200..300).contains(&status) => {
                    counters.webhook_delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(Ok(status)) => warn!(url, status, attempt, "the webhook refused the alert"),
                Ok(Err(e)) => warn!(url, error = %e, attempt, "the webhook call failed"),
                Err(_) => warn!(url, attempt, "the webhook call timed out"),
            }
            if attempt < self.webhook_attempts {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
        counters.webhook_failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why a webhook call failed.
#[derive(Debug, thiserror::Error)]
enum PostError {
    #[error("bad webhook URL {0:?}")]
    Url(String),
    #[error("connecting: {0}")]
    Connect(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building the request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// POST `body` to an `http://` URL; the answer's status.
async fn post(url: &str, body: &[u8], signature: &str) -> Result<u16, PostError> {
    let uri: hyper::Uri = url.parse().map_err(|_| PostError::Url(url.to_owned()))?;
    if uri.scheme_str() != Some("http") {
        return Err(PostError::Url(url.to_owned()));
    }
    let host = uri.host().ok_or_else(|| PostError::Url(url.to_owned()))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host, |a| a.as_str());
    let request = Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(Full::new(Bytes::copy_from_slice(body)))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    // Read the answer so the connection ends cleanly; its content is not used.
    let _ = response.into_body().collect().await;
    Ok(status)
}
