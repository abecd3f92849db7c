//! The background task: gathers queued decisions into batches, sends a batch
//! when it is full or `flush_interval_ms` after its first decision arrived, and
//! answers flushes once everything recorded before them has an outcome.
//!
//! Memory is bounded by the queue's semaphore: a decision holds a permit from
//! before it is queued until its outcome is known, so at most
//! `queue_entries_max` decisions exist in the channel, the open batch and the
//! requests in flight together. With one request in flight (the default),
//! decisions reach the ledger in the order they were recorded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::ClientError;
use crate::receipt::Receipt;
use crate::sender::{Job, Sender};

/// What callers ask of the background task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A decision to send (its index is given on arrival).
    Record(Job),
    /// Answer with the receipts of everything recorded before this, since the
    /// previous flush.
    Flush(FlushReply),
    /// Take no more commands; finish what is queued, then stop.
    Close,
}

/// Where a flush's receipts go.
pub(crate) type FlushReply = oneshot::Sender<Result<Vec<Receipt>, ClientError>>;

/// Batching limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub batch_entries_max: usize,
    pub batch_bytes_max: usize,
    pub flush_interval: Duration,
    pub requests_in_flight_max: usize,
    pub keep_receipts: bool,
}

/// The batch being filled.
#[derive(Default)]
struct Open {
    jobs: Vec<Job>,
    bytes: usize,
    since: Option<Instant>,
}

impl Open {
    fn full(&self, limits: &Limits) -> bool {
        self.jobs.len() >= limits.batch_entries_max || self.bytes >= limits.batch_bytes_max
    }

    /// Whether `line_len` more bytes would overflow a non-empty batch.
    fn would_overflow(&self, line_len: usize, limits: &Limits) -> bool {
        !self.jobs.is_empty() && self.bytes + line_len + 1 > limits.batch_bytes_max
    }

    fn push(&mut self, job: Job) {
        self.bytes += job.line.len() + 1;
        self.since.get_or_insert_with(Instant::now);
        self.jobs.push(job);
    }

    fn take(&mut self) -> Vec<Job> {
        self.bytes = 0;
        self.since = None;
        std::mem::take(&mut self.jobs)
    }
}

/// The background task's state.
struct Batcher {
    limits: Limits,
    sender: Arc<Sender>,
    open: Open,
    /// A decision that did not fit the open batch; it starts the next one.
    held: Option<Job>,
    in_flight: usize,
    next_index: u64,
    /// Indexes of decisions without an outcome yet.
    outstanding: BTreeSet<u64>,
    /// Receipts not yet handed to a flush, by index.
    receipts: BTreeMap<u64, Receipt>,
    /// Flushes waiting, with the index they cover up to (exclusive).
    flushes: VecDeque<(u64, FlushReply)>,
    done_tx: mpsc::UnboundedSender<Vec<(u64, Option<Receipt>)>>,
}

/// Run until every [`crate::Client`] handle is gone (or shut down) and
/// everything queued has an outcome.
pub(crate) async fn run(
    mut commands: mpsc::UnboundedReceiver<Command>,
    sender: Arc<Sender>,
    limits: Limits,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut b = Batcher {
        limits,
        sender,
        open: Open::default(),
        held: None,
        in_flight: 0,
        next_index: 0,
        outstanding: BTreeSet::new(),
        receipts: BTreeMap::new(),
        flushes: VecDeque::new(),
        done_tx,
    };
    let mut open_channel = true;
    loop {
        b.send_ready(!open_channel);
        if !open_channel && b.idle() {
            break;
        }
        let accepting = open_channel && b.held.is_none() && !b.open.full(&b.limits);
        let deadline = b.open.since.map(|t| t + b.limits.flush_interval);
        let may_send = b.in_flight < b.limits.requests_in_flight_max;
        tokio::select! {
            command = commands.recv(), if accepting => match command {
                Some(Command::Record(job)) => b.arrive(job),
                Some(Command::Flush(reply)) => {
                    b.flushes.push_back((b.next_index, reply));
                    b.answer_flushes();
                }
                Some(Command::Close) => commands.close(),
                None => open_channel = false,
            },
            Some(outcomes) = done_rx.recv() => b.finished(outcomes),
            () = sleep_until(deadline), if deadline.is_some() && may_send => {
                b.dispatch();
            }
        }
    }
    for (_, reply) in b.flushes.drain(..) {
        let _ = reply.send(Err(ClientError::Closed));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Batcher {
    fn idle(&self) -> bool {
        self.open.jobs.is_empty() && self.held.is_none() && self.in_flight == 0
    }

    fn arrive(&mut self, mut job: Job) {
        job.index = self.next_index;
        self.next_index += 1;
        self.outstanding.insert(job.index);
        if self.open.would_overflow(job.line.len(), &self.limits) {
            self.held = Some(job);
        } else {
            self.open.push(job);
        }
    }

    /// Send the open batch while one may be sent and one should be: it is
    /// full, a decision is waiting for room, a flush waits for it, or the
    /// client is closing.
    fn send_ready(&mut self, closing: bool) {
        while self.in_flight < self.limits.requests_in_flight_max {
            if self.open.jobs.is_empty() {
                match self.held.take() {
                    Some(job) => self.open.push(job),
                    None => return,
                }
            }
            let due = self
                .open
                .since
                .is_some_and(|t| t.elapsed() >= self.limits.flush_interval);
            let urgent = self.open.full(&self.limits)
                || self.held.is_some()
                || !self.flushes.is_empty()
                || closing
                || due;
            if !urgent {
                return;
            }
            self.dispatch();
        }
    }

    fn dispatch(&mut self) {
        let jobs = self.open.take();
        if jobs.is_empty() {
            return;
        }
        self.in_flight += 1;
        let sender = Arc::clone(&self.sender);
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let outcomes = sender.deliver(jobs).await;
            let _ = done.send(outcomes);
        });
    }

    fn finished(&mut self, outcomes: Vec<(u64, Option<Receipt>)>) {
        self.in_flight -= 1;
        for (index, receipt) in outcomes {
            self.outstanding.remove(&index);
            if let (Some(r), true) = (receipt, self.limits.keep_receipts) {
                self.receipts.insert(index, r);
            }
        }
        self.answer_flushes();
    }

    /// Answer, in order, every flush whose decisions all have an outcome.
    fn answer_flushes(&mut self) {
        while let Some((upto, _)) = self.flushes.front() {
            let upto = *upto;
            if self.outstanding.first().is_some_and(|&i| i < upto) {
                return;
            }
            let later = self.receipts.split_off(&upto);
            let mine = std::mem::replace(&mut self.receipts, later);
            if let Some((_, reply)) = self.flushes.pop_front() {
                let _ = reply.send(Ok(mine.into_values().collect()));
            }
        }
    }
}
