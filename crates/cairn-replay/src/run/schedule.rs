//! The order in which a run's workers take the records (see [`Schedule`]).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::record::Record;

/// A session is long when it holds at least 1/`LONG_SESSION_DIVISOR` of one
/// worker's fair share of the records.
const LONG_SESSION_DIVISOR: usize = 8;

/// The order of a run.
///
/// Long sessions (see [`LONG_SESSION_DIVISOR`]) come first, longest first (then by
/// first record), each replayed whole by one worker: a session cannot be
/// parallelised, so a long one started late would trail at the end of the run.
/// Every other record is then handed out in record order, so that the records in
/// flight at any time are neighbours in the selection, and in memory; a record
/// whose session's previous record is still in flight waits in its session's
/// queue, and the worker that replays that previous record takes it next. A
/// session's decisions thus reach the candidate in seq order, each once the one
/// before it is answered. A short session ends the run at most 1/8 of a worker's
/// share late.
pub(super) struct Schedule {
    /// Record indexes of the long sessions, each one's side by side in record order.
    long: Vec<usize>,
    /// Each long session's range in `long`, longest first.
    pub(super) long_bounds: Vec<(usize, usize)>,
    /// The other records, in record order.
    pub(super) rest: Vec<usize>,
    /// For each of `rest`, its session's queue in `queues` ([`ALONE`] for a record
    /// that is the only one of its session or has none) and its place in its
    /// session, from 0.
    pub(super) queue_of: Vec<(usize, usize)>,
    /// One per short session of more than one record.
    queues: Mutex<Vec<SessionQueue>>,
    /// Sessions and records without one, together: the most workers that can be
    /// busy at once.
    pub(super) parallel: usize,
}

/// No session queue: the record can go as soon as it is handed out.
pub(super) const ALONE: usize = usize::MAX;

/// A short session's state during the run. Its records are handed out in order,
/// but two workers may take two of them at nearly the same time; `turn` says
/// whose turn it is, whatever order they come in.
#[derive(Default)]
struct SessionQueue {
    /// One of its records is in flight.
    busy: bool,
    /// The place in the session of the record to replay next.
    turn: usize,
    /// Its records handed out before their turn: (place, record index), by place.
    waiting: Vec<(usize, usize)>,
}

impl Schedule {
    pub(super) fn new(records: &[Record], workers: usize) -> Schedule {
        // Each record's group, numbered in order of first record.
        let mut group_of: Vec<usize> = Vec::with_capacity(records.len());
        let mut sizes: Vec<usize> = Vec::with_capacity(records.len());
        let mut by_session: HashMap<&str, usize> = HashMap::with_capacity(records.len());
        for r in records {
            let g = match &r.session {
                Some(s) => *by_session.entry(s.as_str()).or_insert(sizes.len()),
                None => sizes.len(),
            };
            if g == sizes.len() {
                sizes.push(0);
            }
            sizes[g] += 1;
            group_of.push(g);
        }
        let is_long = |n: usize| {
            n.saturating_mul(workers.max(1))
                .saturating_mul(LONG_SESSION_DIVISOR)
                >= records.len()
        };
        // Long groups: their records side by side, longest group first.
        let mut long_groups: Vec<usize> = (0..sizes.len()).filter(|&g| is_long(sizes[g])).collect();
        long_groups.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
        let mut slot = vec![ALONE; sizes.len()];
        let mut long_bounds = Vec::with_capacity(long_groups.len());
        let mut at = 0;
        for &g in &long_groups {
            slot[g] = long_bounds.len();
            long_bounds.push((at, at + sizes[g]));
            at += sizes[g];
        }
        let mut next: Vec<usize> = long_bounds.iter().map(|&(start, _)| start).collect();
        let mut long = vec![0; at];
        // Short sessions of more than one record get a queue each.
        let mut queue = vec![ALONE; sizes.len()];
        let mut seen = vec![0usize; sizes.len()];
        let mut queues = 0;
        let (mut rest, mut queue_of) = (Vec::new(), Vec::new());
        for (i, &g) in group_of.iter().enumerate() {
            if slot[g] != ALONE {
                long[next[slot[g]]] = i;
                next[slot[g]] += 1;
                continue;
            }
            if sizes[g] > 1 && queue[g] == ALONE {
                queue[g] = queues;
                queues += 1;
            }
            rest.push(i);
            queue_of.push((queue[g], seen[g]));
            seen[g] += 1;
        }
        Schedule {
            long,
            long_bounds,
            rest,
            queue_of,
            queues: Mutex::new((0..queues).map(|_| SessionQueue::default()).collect()),
            parallel: sizes.len(),
        }
    }

    /// The `g`-th long session's record indexes.
    pub(super) fn long_session(&self, g: usize) -> Option<&[usize]> {
        let &(start, end) = self.long_bounds.get(g)?;
        self.long.get(start..end)
    }

    /// Take the `k`-th of the other records: `Some(i)` when it can be replayed now,
    /// `None` when it waits for its turn in its session (or `k` is past the end).
    pub(super) fn take(&self, k: usize) -> Option<usize> {
        let (&i, &(q, place)) = self.rest.get(k).zip(self.queue_of.get(k))?;
        if q == ALONE {
            return Some(i);
        }
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.get_mut(q)?;
        if !queue.busy && queue.turn == place {
            queue.busy = true;
            return Some(i);
        }
        let at = queue.waiting.partition_point(|&(p, _)| p < place);
        queue.waiting.insert(at, (place, i));
        None
    }

    /// After the `k`-th of the other records was replayed: the next record of its
    /// session if it is already waiting, which the caller replays next; otherwise
    /// the session is free for whoever takes that record.
    pub(super) fn done(&self, k: usize) -> Option<usize> {
        let &(q, _) = self.queue_of.get(k)?;
        if q == ALONE {
            return None;
        }
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let queue = queues.get_mut(q)?;
        queue.turn += 1;
        match queue.waiting.first() {
            Some(&(place, i)) if place == queue.turn => {
                queue.waiting.remove(0);
                Some(i)
            }
            _ => {
                queue.busy = false;
                None
            }
        }
    }
}
