//! Running a replay: every record to the candidate (and the baseline), with bounded
//! concurrency, an optional rate limit, a timeout and retries per request, and the
//! decisions of one session in their recorded order.
//!
//! Scheduling (see [`Schedule`]): `concurrency` workers take the long sessions
//! first, each whole, then every other record in record order; a record whose
//! session's previous record is still in flight waits for it, and is replayed
//! next by the worker that replays that one. So a session's decisions reach the
//! candidate in seq order, while different sessions run in parallel. The
//! candidate and the baseline receive each record at the same time.
//!
//! Cancelling (Ctrl-C) stops the workers: requests in flight are abandoned, and
//! every record not answered is reported as cancelled.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use crate::candidate::{CallFailure, Candidate, FailureKind};
use crate::record::Record;
use crate::report::{examine, AnalyzeOptions, Examined};

mod schedule;

use schedule::Schedule;
#[cfg(test)]
use schedule::ALONE;

/// First pause before a retry; doubled each time, up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(25);
/// A deadline that never comes, for timeouts too long to add to the clock.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// Longest pause before a retry.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Most sessions replayed at once (and so most requests in flight per endpoint).
    pub concurrency: usize,
    /// Most records started per second, if limited.
    pub rate_per_s: Option<f64>,
    /// Time allowed for one request.
    pub timeout: Duration,
    /// Further attempts after a retryable failure (timeout, broken connection, 5xx).
    pub retries: u32,
    /// Cancelled on Ctrl-C.
    pub cancel: CancellationToken,
    /// Records finished so far, for a progress bar (added by each worker every few
    /// records, and when it has no more to do).
    pub progress: Arc<AtomicU64>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 16,
            rate_per_s: None,
            timeout: Duration::from_secs(10),
            retries: 1,
            cancel: CancellationToken::new(),
            progress: Arc::default(),
        }
    }
}

/// A candidate's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The output JSON. `None` only in a run that examined its entries as their
    /// answers arrived ([`replay_examined`]), where an output is let go once the
    /// examination shows the report will not need it: a baseline's always, and a
    /// candidate's when it agrees with the record. Only the answers of differing
    /// entries (the report's examples come from them) stay in memory.
    pub output: Option<Value>,
    /// Time from sending to the complete answer, of the successful attempt.
    pub latency_ms: f64,
    /// Attempts made, from 1.
    pub attempts: u32,
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The candidate answered.
    Answered(Answer),
    /// Every attempt failed.
    Failed {
        /// The last failure.
        failure: CallFailure,
        /// Attempts made.
        attempts: u32,
    },
    /// The run was cancelled before an answer came.
    Cancelled,
}

impl Reply {
    /// The answer, if there is one.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Reply::Answered(a) => Some(a),
            _ => None,
        }
    }
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The record's seq.
    pub seq: u64,
    /// The candidate's reply.
    pub candidate: Reply,
    /// The baseline's reply, when there is a baseline.
    pub baseline: Option<Reply>,
}

impl Outcome {
    /// Let go of the outputs that the report will not need once the entry has been
    /// examined: the baseline's, and the candidate's when it does not differ.
    pub(crate) fn let_go(&mut self, examined: &Examined) {
        if let Some(Reply::Answered(b)) = &mut self.baseline {
            b.output = None;
        }
        if let Reply::Answered(a) = &mut self.candidate {
            if examined.diffs.is_empty() {
                a.output = None;
            }
        }
    }
}

/// Replay `records` (in seq order) and return one outcome per record, in the same order.
pub async fn replay(
    records: Arc<Vec<Record>>,
    candidate: Arc<Candidate>,
    baseline: Option<Arc<Candidate>>,
    options: &RunOptions,
) -> Vec<Outcome> {
    run(records, candidate, baseline, options, None)
        .await
        .outcomes
}

/// The outcomes of a run, and each entry as examined for the report.
#[derive(Debug)]
pub struct Replayed {
    /// One outcome per record, in the order of the records.
    pub outcomes: Vec<Outcome>,
    /// `examined[i]` is `records[i]`'s, for [`crate::report::analyze_examined`];
    /// `None` where the run ended before the record was replayed.
    pub examined: Vec<Option<Examined>>,
}

/// [`replay`], examining each entry for the report as soon as its answers are in,
/// so that this work overlaps with the requests still in flight instead of
/// following the run.
pub async fn replay_examined(
    records: Arc<Vec<Record>>,
    candidate: Arc<Candidate>,
    baseline: Option<Arc<Candidate>>,
    options: &RunOptions,
    analyze: &AnalyzeOptions,
) -> Replayed {
    let analyze = Arc::new(analyze.clone());
    run(records, candidate, baseline, options, Some(analyze)).await
}

/// The run: with `examine`, each entry is examined as its answers arrive.
pub(crate) async fn run(
    records: Arc<Vec<Record>>,
    candidate: Arc<Candidate>,
    baseline: Option<Arc<Candidate>>,
    options: &RunOptions,
    examine: Option<Arc<AnalyzeOptions>>,
) -> Replayed {
    let schedule = Arc::new(Schedule::new(&records, options.concurrency));
    let (next_long, next_rest) = (Arc::default(), Arc::default());
    let pacer = Arc::new(options.rate_per_s.map(Pacer::new));
    let workers = options.concurrency.clamp(1, schedule.parallel.max(1));
    // The results, in their final place from the start: every record counts as
    // cancelled until a worker replays it and writes its outcome over that. One
    // lock for all the workers is cheap (it is held for two moves, and a runtime
    // has as many threads as cores), and nothing is copied or merged at the end.
    let results = Arc::new(Mutex::new(Replayed {
        outcomes: records
            .iter()
            .map(|r| Outcome {
                seq: r.seq,
                candidate: Reply::Cancelled,
                baseline: baseline.as_ref().map(|_| Reply::Cancelled),
            })
            .collect(),
        examined: vec![None; records.len()],
    }));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let w = Worker {
            records: records.clone(),
            schedule: schedule.clone(),
            next_long: Arc::clone(&next_long),
            next_rest: Arc::clone(&next_rest),
            results: results.clone(),
            examine: examine.clone(),
            candidate: candidate.clone(),
            baseline: baseline.clone(),
            pacer: pacer.clone(),
            options: options.clone(),
        };
        set.spawn(w.work());
    }
    // Cancellation is watched here, once, rather than by every worker around every
    // request: the workers are aborted, dropping the requests in flight, and the
    // records they did not finish are reported as cancelled (as are those of a
    // worker that panicked, which only a bug would make it do).
    let cancel = options.cancel.clone();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => {
                set.abort_all();
                while set.join_next().await.is_some() {}
                break;
            }
            done = set.join_next() => if done.is_none() { break },
        }
    }
    // Every worker has finished, so nothing else holds the results; copy rather
    // than fail if that ever changes.
    match Arc::try_unwrap(results) {
        Ok(owned) => owned.into_inner().unwrap_or_else(|p| p.into_inner()),
        Err(shared) => {
            let r = shared.lock().unwrap_or_else(|p| p.into_inner());
            Replayed {
                outcomes: r.outcomes.clone(),
                examined: r.examined.clone(),
            }
        }
    }
}

/// Records a worker finishes before it adds them to the progress count.
const PROGRESS_BATCH: u64 = 16;

struct Worker {
    records: Arc<Vec<Record>>,
    schedule: Arc<Schedule>,
    /// The next long session to take.
    next_long: Arc<AtomicUsize>,
    /// The next of the other records to hand out.
    next_rest: Arc<AtomicUsize>,
    results: Arc<Mutex<Replayed>>,
    examine: Option<Arc<AnalyzeOptions>>,
    candidate: Arc<Candidate>,
    baseline: Option<Arc<Candidate>>,
    pacer: Arc<Option<Pacer>>,
    options: RunOptions,
}

/// A worker's own state across records.
struct Local<'t> {
    /// One timer per endpoint for the worker's whole life, moved on only when it
    /// fires (see [`call`]): arming a timer for every request costs more than the
    /// request's own bookkeeping.
    candidate_timer: Pin<&'t mut Sleep>,
    baseline_timer: Pin<&'t mut Sleep>,
    /// Records finished and not yet added to the shared progress count: adding
    /// them a few at a time keeps the workers off each other's cache line.
    unreported: u64,
}

impl Worker {
    /// Replay until nothing is left: long sessions first, then the other records
    /// in order. The run aborts the worker when it is cancelled.
    async fn work(self) {
        let candidate_timer = std::pin::pin!(tokio::time::sleep(self.options.timeout));
        let baseline_timer = std::pin::pin!(tokio::time::sleep(self.options.timeout));
        let mut local = Local {
            candidate_timer,
            baseline_timer,
            unreported: 0,
        };
        loop {
            let g = self.next_long.fetch_add(1, Ordering::Relaxed);
            let Some(session) = self.schedule.long_session(g) else {
                break;
            };
            for &i in session {
                self.replay_one(i, &mut local).await;
            }
        }
        while let Some(k) = self.hand_out() {
            // `k` may be waiting for its session; if not, replay it and then every
            // record of its session that came to wait meanwhile.
            let mut next = self.schedule.take(k);
            while let Some(i) = next {
                self.replay_one(i, &mut local).await;
                next = self.schedule.done(k);
            }
        }
        self.options
            .progress
            .fetch_add(local.unreported, Ordering::Relaxed);
    }

    /// The position in the other records of the next one to hand out.
    fn hand_out(&self) -> Option<usize> {
        let k = self.next_rest.fetch_add(1, Ordering::Relaxed);
        (k < self.schedule.rest.len()).then_some(k)
    }

    async fn replay_one(&self, i: usize, local: &mut Local<'_>) {
        if let Some(p) = self.pacer.as_ref() {
            p.wait().await;
        }
        let record = &self.records[i];
        let (candidate, baseline) = match &self.baseline {
            Some(b) => {
                let (c, b) = tokio::join!(
                    call(
                        &self.candidate,
                        record,
                        &self.options,
                        local.candidate_timer.as_mut()
                    ),
                    call(b, record, &self.options, local.baseline_timer.as_mut())
                );
                (c, Some(b))
            }
            None => (
                call(
                    &self.candidate,
                    record,
                    &self.options,
                    local.candidate_timer.as_mut(),
                )
                .await,
                None,
            ),
        };
        let mut outcome = Outcome {
            seq: record.seq,
            candidate,
            baseline,
        };
        // While the record is still in the cache from sending it.
        let examined = self
            .examine
            .as_deref()
            .map(|a| examine(record, &outcome, a));
        if let Some(e) = &examined {
            outcome.let_go(e);
        }
        // Each record is replayed by exactly one worker: only this one writes at `i`.
        {
            let mut results = self.results.lock().unwrap_or_else(|p| p.into_inner());
            results.outcomes[i] = outcome;
            results.examined[i] = examined;
        }
        local.unreported += 1;
        if local.unreported == PROGRESS_BATCH {
            self.options
                .progress
                .fetch_add(local.unreported, Ordering::Relaxed);
            local.unreported = 0;
        }
    }
}

/// One record to one candidate, with the timeout and the retries. Cancellation
/// is the caller's: it drops this future.
///
/// `timer` is the worker's, and is never later than this attempt's deadline: it
/// was last set to the deadline of an attempt that started no later than this
/// one. When it fires before this attempt's deadline it is moved on to it;
/// when it fires at or after it, the attempt has timed out.
async fn call(
    candidate: &Candidate,
    record: &Record,
    options: &RunOptions,
    mut timer: Pin<&mut Sleep>,
) -> Reply {
    let mut attempts = 0u32;
    let mut backoff = BACKOFF_FIRST;
    loop {
        attempts += 1;
        let start = Instant::now();
        // A timeout too long to add to the clock is as good as none.
        let deadline = start
            .checked_add(options.timeout)
            .unwrap_or_else(|| start + FAR_FUTURE);
        let answer = candidate.call(record);
        let mut answer = std::pin::pin!(answer);
        let result = loop {
            tokio::select! {
                biased;
                r = &mut answer => break Some(r),
                () = timer.as_mut() => {
                    if Instant::now() >= deadline {
                        break None;
                    }
                    timer.as_mut().reset(deadline.into());
                }
            }
        };
        let failure = match result {
            Some(Ok(output)) => {
                return Reply::Answered(Answer {
                    output: Some(output),
                    latency_ms: start.elapsed().as_secs_f64() * 1000.0,
                    attempts,
                })
            }
            Some(Err(f)) => f,
            None => CallFailure::new(
                FailureKind::Timeout,
                format!("no answer within {} ms", options.timeout.as_millis()),
                true,
            ),
        };
        if !failure.retryable || attempts > options.retries {
            return Reply::Failed { failure, attempts };
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// The longest wait between two starts (the rate `--rate` accepts at least).
pub const PACE_INTERVAL_MAX: Duration = Duration::from_secs(1000);

/// Spaces starts evenly: at most `rate` per second over the whole run.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    fn new(rate_per_s: f64) -> Pacer {
        // At most one decision per `PACE_INTERVAL_MAX`: a smaller rate (too
        // small for a `Duration`, or for an `Instant` to add) is that one.
        let interval = if rate_per_s > 0.0 {
            Duration::try_from_secs_f64(1.0 / rate_per_s)
                .unwrap_or(PACE_INTERVAL_MAX)
                .min(PACE_INTERVAL_MAX)
        } else {
            Duration::ZERO
        };
        Pacer {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

#[cfg(test)]
mod tests;
