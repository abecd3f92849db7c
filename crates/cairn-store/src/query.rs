//! One read side for selections: filters in, matching decisions out, in seq
//! order, used by `cairn incident`, `cairn bundle export` and `cairn replay`.
//!
//! The most selective index that applies gives the candidates (request ids,
//! trace id, session, subject, then model version, model, stream, then the time
//! window); every filter is then checked on the entry itself, so an index only
//! narrows the work and a damaged index can hide nothing it did not list. Each
//! index answer covers the entries the indexer has not reached yet (they are
//! read directly, see `ledger::index`), so no answer is silently incomplete.

use std::collections::{BTreeSet, HashSet};
use std::iter::Peekable;

use cairn_core::entry::{DecisionV1, Entry, EntryBody};

use crate::backend::Backend;
use crate::error::Result;
use crate::keys::IndexKind;
use crate::ledger::{entry_time, Ledger};

/// A value index's candidates are intersected with the query's time window
/// (from the time index) before any entry is read when they fall in at least
/// this many windows: below it, reading them is cheap whatever the window.
const NARROW_MIN_WINDOWS: usize = 8;
/// Reading a candidate costs decompressing its window's entry piece (about
/// 150 µs for 256 entries); the time index costs tens of nanoseconds per entry
/// of the time window. So the window is worth scanning when it holds at most
/// this many entries per window the candidates would make us decompress
/// (a fifth of the break-even point, so that narrowing in vain stays cheap).
const NARROW_ENTRIES_PER_WINDOW: usize = 1024;

/// Candidates are read this many windows at a time, the windows in parallel;
/// a limit stops the selection at the end of a group.
const READ_GROUP_WINDOWS: usize = 8;

/// What to select. Every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Window start (event time, or recorded time without one), inclusive, µs.
    pub from_us: Option<i64>,
    /// Window end, exclusive, µs.
    pub to_us: Option<i64>,
    /// Stream.
    pub stream: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Session.
    pub session: Option<String>,
    /// Any of these request ids (none: any request).
    pub request_ids: Vec<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Model name.
    pub model_name: Option<String>,
    /// Model version (with a name).
    pub model_version: Option<String>,
    /// Decision label.
    pub decision: Option<String>,
}

/// The decisions a query matched.
#[derive(Debug, Clone)]
pub struct Selected {
    /// Matching decision entries, in seq order.
    pub entries: Vec<Entry>,
    /// More decisions matched than the limit.
    pub truncated: bool,
    /// Which index gave the candidates.
    pub index: &'static str,
    /// Entries read and checked.
    pub examined: u64,
}

impl Query {
    /// Whether a decision passes every filter; `time_us` is its indexed time.
    pub fn matches(&self, d: &DecisionV1, time_us: i64) -> bool {
        let same = |want: &Option<String>, have: Option<&String>| {
            want.as_ref().is_none_or(|w| have == Some(w))
        };
        self.from_us.is_none_or(|f| time_us >= f)
            && self.to_us.is_none_or(|t| time_us < t)
            && same(&self.stream, Some(&d.stream))
            && same(&self.subject, d.subject.as_ref())
            && same(&self.session, d.session.as_ref())
            && same(&self.trace_id, d.trace_id.as_ref())
            && same(&self.decision, d.decision.as_ref())
            && same(&self.model_name, Some(&d.model.name))
            && same(&self.model_version, Some(&d.model.version))
            && (self.request_ids.is_empty()
                || d.request_id
                    .as_ref()
                    .is_some_and(|r| self.request_ids.contains(r)))
    }

    fn has_window(&self) -> bool {
        self.from_us.is_some() || self.to_us.is_some()
    }
}

impl<B: Backend> Ledger<B> {
    /// The candidates of `q` below `size`, ascending, and the index that gave
    /// them; `None` means every entry.
    pub fn candidates(&self, q: &Query, size: u64) -> Result<(Option<Vec<u64>>, &'static str)> {
        let all = usize::MAX;
        let values = [
            (IndexKind::Trace, &q.trace_id, "trace_id"),
            (IndexKind::Session, &q.session, "session"),
            (IndexKind::Subject, &q.subject, "subject"),
        ];
        let (seqs, index) = if !q.request_ids.is_empty() {
            let mut set = BTreeSet::new();
            for id in &q.request_ids {
                set.extend(self.index_seqs(IndexKind::Request, id, all)?);
            }
            (set.into_iter().collect(), "request_id")
        } else if let Some((kind, Some(v), name)) = values.into_iter().find(|(_, v, _)| v.is_some())
        {
            (self.index_seqs(kind, v, all)?, name)
        } else if let (Some(n), Some(v)) = (&q.model_name, &q.model_version) {
            let value = format!("{n}\u{0}{v}");
            (self.index_seqs(IndexKind::Model, &value, all)?, "model")
        } else if let Some(n) = &q.model_name {
            (self.model_name_seqs(n)?, "model")
        } else if let Some(s) = &q.stream {
            (self.index_seqs(IndexKind::Stream, s, all)?, "stream")
        } else if q.has_window() {
            (self.window_seqs(q, all)?, "time")
        } else {
            return Ok((None, "none (every entry)"));
        };
        let mut seqs = if index == "time" {
            seqs
        } else {
            self.narrow_by_time(q, seqs)?
        };
        seqs.retain(|&s| s < size);
        Ok((Some(seqs), index))
    }

    /// The decisions matching `q` among the first `size` entries, in seq
    /// order, at most `limit` (then `truncated` is set).
    ///
    /// Candidates are read a few windows at a time, the windows of a group in
    /// parallel (each read decompresses its window's piece), and checked in
    /// seq order; an entry that cannot be read is an error only if the
    /// selection reaches it.
    pub fn select(&self, q: &Query, size: u64, limit: usize) -> Result<Selected> {
        let (candidates, index) = self.candidates(q, size)?;
        let seqs: Box<dyn Iterator<Item = u64>> = match candidates {
            Some(v) => Box::new(v.into_iter()),
            None => Box::new(0..size),
        };
        let mut seqs = seqs.peekable();
        let mut out = Selected {
            entries: Vec::new(),
            truncated: false,
            index,
            examined: 0,
        };
        let mut group = Vec::new();
        loop {
            group.clear();
            next_windows(&mut seqs, &mut group);
            if group.is_empty() {
                return Ok(out);
            }
            for entry in self.read_windows(&group, size) {
                out.examined += 1;
                let entry = entry?;
                let time = entry_time(&entry);
                let EntryBody::DecisionV1(d) = &entry.body else {
                    continue;
                };
                if !q.matches(d, time) {
                    continue;
                }
                if out.entries.len() >= limit {
                    out.truncated = true;
                    return Ok(out);
                }
                out.entries.push(entry);
            }
        }
    }

    /// The entries `seqs` (ascending), each window's on its own task.
    fn read_windows(&self, seqs: &[u64], size: u64) -> Vec<Result<Entry>> {
        use rayon::prelude::*;
        let by_window: Vec<&[u64]> = by_window(seqs).collect();
        if by_window.len() < 2 {
            return seqs.iter().map(|&s| self.read_entry(s, size)).collect();
        }
        by_window
            .into_par_iter()
            .map(|w| {
                w.iter()
                    .map(|&s| self.read_entry(s, size))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect()
    }

    /// Seqs in the query's time window, ascending; at most `cap` of them.
    fn window_seqs(&self, q: &Query, cap: usize) -> Result<Vec<u64>> {
        let from = q.from_us.unwrap_or(i64::MIN);
        let to = q.to_us.unwrap_or(i64::MAX);
        let mut seqs = self.time_range(from, to, cap)?;
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// Intersect candidates with the time window when that is cheaper than
    /// reading them all: when they are spread over many windows (each read
    /// decompresses a whole piece) and the time window is small beside that.
    fn narrow_by_time(&self, q: &Query, seqs: Vec<u64>) -> Result<Vec<u64>> {
        if !q.has_window() {
            return Ok(seqs);
        }
        let windows = by_window(&seqs).count();
        if windows < NARROW_MIN_WINDOWS {
            return Ok(seqs);
        }
        let cap = windows.saturating_mul(NARROW_ENTRIES_PER_WINDOW);
        let window = self.window_seqs(q, cap.saturating_add(1))?;
        if window.len() > cap {
            return Ok(seqs);
        }
        let window: HashSet<u64> = window.into_iter().collect();
        Ok(seqs.into_iter().filter(|s| window.contains(s)).collect())
    }
}

/// The next seqs of `seqs` (ascending) that fall in at most
/// [`READ_GROUP_WINDOWS`] windows, into `group`.
fn next_windows<I: Iterator<Item = u64>>(seqs: &mut Peekable<I>, group: &mut Vec<u64>) {
    let mut windows = 0;
    let mut last = None;
    while let Some(&s) = seqs.peek() {
        let w = crate::pieces::window_start(s);
        if last != Some(w) {
            if windows == READ_GROUP_WINDOWS {
                return;
            }
            windows += 1;
            last = Some(w);
        }
        group.push(s);
        seqs.next();
    }
}

/// Ascending `seqs` split by the 256-entry window they fall in.
fn by_window(seqs: &[u64]) -> impl Iterator<Item = &[u64]> {
    seqs.chunk_by(|a, b| crate::pieces::window_start(*a) == crate::pieces::window_start(*b))
}
