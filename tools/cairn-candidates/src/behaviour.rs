//! How a candidate answers one request, misbehaviour included: the model's output,
//! or an error for every N-th seq, after a delay for slow seqs or random jitter;
//! and the arrival log.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::Rng;
use serde_json::{json, Value};

use crate::model::{decide, Version};

/// Switches that make the candidate misbehave on purpose.
#[derive(Debug, Clone, clap::Args)]
pub struct Behaviour {
    /// Answer `{"error": ...}` (HTTP: status 500) for every seq divisible by N.
    #[arg(long, value_name = "N")]
    fail_every: Option<u64>,
    /// Wait --slow-ms before answering every seq divisible by N.
    #[arg(long, value_name = "N")]
    slow_every: Option<u64>,
    /// How long a slow answer takes.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    slow_ms: u64,
    /// Wait a random time up to MS before each answer.
    #[arg(long, value_name = "MS")]
    jitter_ms: Option<u64>,
    /// Append each request's seq to FILE, one per line, as it arrives.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

/// The model and its behaviour, ready to answer.
pub struct Responder {
    version: Version,
    noisy: bool,
    behaviour: Behaviour,
    log: Option<Mutex<File>>,
}

/// One answer: what to send, after how long, and whether it is an error.
pub struct Reply {
    /// Wait this long before answering.
    pub delay: Duration,
    /// The answer.
    pub body: Value,
    /// True for `{"error": ...}` answers.
    pub error: bool,
}

impl Responder {
    /// A responder; opens the arrival log.
    pub fn new(version: Version, noisy: bool, behaviour: Behaviour) -> Result<Responder> {
        let log = match &behaviour.log {
            Some(path) => Some(Mutex::new(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            )),
            None => None,
        };
        Ok(Responder {
            version,
            noisy,
            behaviour,
            log,
        })
    }

    /// Answer one request (the protocol's object, as bytes).
    pub fn answer(&self, request: &[u8]) -> Reply {
        let fail = |message: String| Reply {
            delay: Duration::ZERO,
            body: json!({ "error": message }),
            error: true,
        };
        let req: Value = match serde_json::from_slice(request) {
            Ok(v) => v,
            Err(e) => return fail(format!("request is not JSON: {e}")),
        };
        let seq = req["seq"].as_u64().unwrap_or(0);
        if let Some(log) = &self.log {
            let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
            // A lost log line shows up in the test that reads it.
            let _ = writeln!(f, "{seq}").and_then(|()| f.flush());
        }
        let b = &self.behaviour;
        let mut delay = Duration::ZERO;
        if b.slow_every.is_some_and(|n| n > 0 && seq.is_multiple_of(n)) {
            delay += Duration::from_millis(b.slow_ms);
        }
        if let Some(j) = b.jitter_ms.filter(|j| *j > 0) {
            delay += Duration::from_millis(rand::rng().random_range(0..=j));
        }
        if b.fail_every.is_some_and(|n| n > 0 && seq.is_multiple_of(n)) {
            return Reply {
                delay,
                ..fail(format!("candidate refuses seq {seq} (--fail-every)"))
            };
        }
        let params = req.get("params").filter(|p| !p.is_null());
        let body = decide(self.version, self.noisy, &req["input"], params);
        let error = body.get("error").is_some();
        Reply { delay, body, error }
    }
}
