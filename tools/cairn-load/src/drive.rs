//! The timed run: `connections` workers, each on its own keep-alive
//! connection, take the next request body in turn and send it, flat out or on
//! the schedule `--rate` sets, until the count is sent or the time is up.
//!
//! With `--rate`, request `i` is due at `start + i · batch / rate`, and its
//! latency is measured from that moment, not from when a worker got round to
//! sending it: a daemon that stalls cannot hide behind a load generator that
//! waited for it. A request lost to a broken connection is counted and not
//! sent again; a worker that cannot reconnect stops the run (the daemon is
//! gone).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use tokio::time::Instant;

use crate::http::{Conn, Target};
use crate::receipts::{self, Receipt};
use crate::workload::Workload;

/// Connection attempts in a row before a worker decides the daemon is gone.
const CONNECT_TRIES: u32 = 3;
/// Pause between those attempts.
const CONNECT_PAUSE: Duration = Duration::from_millis(20);

/// How to drive the daemon.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where.
    pub target: Target,
    /// Concurrent connections.
    pub connections: usize,
    /// Stop after this many requests (`None`: when the time is up).
    pub requests: Option<u64>,
    /// Stop once this much time has passed.
    pub duration: Option<Duration>,
    /// Target decisions per second (`None`: flat out).
    pub rate: Option<f64>,
    /// Decisions per request body.
    pub batch: u32,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

/// What one worker saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Requests sent (answered or not).
    pub requests: u64,
    /// Decisions in those requests.
    pub decisions_sent: u64,
    /// Body bytes of those requests.
    pub bytes_sent: u64,
    /// Receipts of `200` answers.
    pub receipts: Vec<Receipt>,
    /// Latency of each `200` answer, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Non-`200` answers by status.
    pub rejects: BTreeMap<u16, u64>,
    /// `429` and `503` answers that came without `Retry-After`.
    pub rejects_without_retry_after: u64,
    /// The first answer's body per rejecting status.
    pub first_errors: BTreeMap<u16, String>,
    /// Requests that got no answer (broken connection, timeout).
    pub transport_errors: u64,
    /// `200` answers whose receipts could not be read.
    pub bad_answers: u64,
    /// The first transport or protocol error.
    pub first_failure: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.decisions_sent += other.decisions_sent;
        self.bytes_sent += other.bytes_sent;
        self.receipts.extend(other.receipts);
        self.latencies_us.extend(other.latencies_us);
        for (status, n) in other.rejects {
            *self.rejects.entry(status).or_default() += n;
        }
        self.rejects_without_retry_after += other.rejects_without_retry_after;
        for (status, e) in other.first_errors {
            self.first_errors.entry(status).or_insert(e);
        }
        self.transport_errors += other.transport_errors;
        self.bad_answers += other.bad_answers;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// The whole run.
#[derive(Debug)]
pub struct Outcome {
    /// Everything the workers saw.
    pub tally: Tally,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Whether the run stopped because the daemon could not be reached.
    pub daemon_gone: bool,
}

struct Shared {
    plan: Plan,
    workload: Workload,
    next: AtomicU64,
    stop: AtomicBool,
    gone: AtomicBool,
    start: Instant,
}

/// Run `plan` with `workload`.
pub async fn run(plan: Plan, workload: Workload) -> Outcome {
    let connections = plan.connections.max(1);
    let shared = Arc::new(Shared {
        plan,
        workload,
        next: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        gone: AtomicBool::new(false),
        start: Instant::now(),
    });
    let workers: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(worker(Arc::clone(&shared))))
        .collect();
    let mut tally = Tally::default();
    for w in workers {
        match w.await {
            Ok(t) => tally.merge(t),
            Err(e) => {
                tally
                    .first_failure
                    .get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    Outcome {
        tally,
        elapsed: shared.start.elapsed(),
        daemon_gone: shared.gone.load(Ordering::Relaxed),
    }
}

async fn worker(shared: Arc<Shared>) -> Tally {
    let plan = &shared.plan;
    let bodies = &shared.workload.bodies;
    let mut conn = Conn::new(plan.target.clone());
    let mut tally = Tally::default();
    let deadline = plan.duration.map(|d| shared.start + d);
    let interval = plan
        .rate
        .map(|r| Duration::from_secs_f64(f64::from(plan.batch) / r));
    let single = plan.batch == 1;
    while !shared.stop.load(Ordering::Relaxed) && !bodies.is_empty() {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if plan.requests.is_some_and(|n| i >= n) {
            break;
        }
        let due = interval.map(|iv| shared.start + iv.mul_f64(i as f64));
        if deadline.is_some_and(|d| due.unwrap_or_else(Instant::now) >= d) {
            break;
        }
        if let Some(due) = due {
            tokio::time::sleep_until(due).await;
        }
        if !connect(&mut conn, &shared, &mut tally).await {
            break;
        }
        let body = &bodies[(i % bodies.len() as u64) as usize];
        let began = due.unwrap_or_else(Instant::now);
        tally.requests += 1;
        tally.decisions_sent += u64::from(body.decisions);
        tally.bytes_sent += body.bytes.len() as u64;
        let answer = conn
            .send(
                Method::POST,
                "/v1/decisions",
                Some(shared.workload.content_type),
                body.bytes.clone(),
                plan.timeout,
            )
            .await;
        let took = began.elapsed();
        match answer {
            Err(e) => {
                tally.transport_errors += 1;
                tally.first_failure.get_or_insert(format!("{e:#}"));
            }
            Ok(a) if a.status == 200 => {
                match receipts::from_answer(&a.body, !single, body.decisions, &mut tally.receipts) {
                    Ok(()) => tally
                        .latencies_us
                        .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
                    Err(e) => {
                        tally.bad_answers += 1;
                        tally
                            .first_failure
                            .get_or_insert(format!("a 200 answer without receipts: {e:#}"));
                    }
                }
            }
            Ok(a) => {
                *tally.rejects.entry(a.status).or_default() += 1;
                if matches!(a.status, 429 | 503) && !a.retry_after {
                    tally.rejects_without_retry_after += 1;
                }
                tally.first_errors.entry(a.status).or_insert_with(|| {
                    String::from_utf8_lossy(&a.body).chars().take(300).collect()
                });
            }
        }
    }
    tally
}

/// Make sure the worker has a connection; false (and the run stops) when
/// the daemon cannot be reached.
async fn connect(conn: &mut Conn, shared: &Shared, tally: &mut Tally) -> bool {
    for attempt in 1..=CONNECT_TRIES {
        match conn.connect().await {
            Ok(()) => return true,
            Err(e) if attempt == CONNECT_TRIES => {
                tally.first_failure.get_or_insert(format!("{e:#}"));
            }
            Err(_) => tokio::time::sleep(CONNECT_PAUSE).await,
        }
    }
    shared.gone.store(true, Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);
    false
}
