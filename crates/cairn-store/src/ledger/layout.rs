//! Laying a staged batch out in pieces and compressing them: a fragment for
//! a window the batch leaves unfilled, one sealed piece for a window it
//! fills (merged with the window's earlier fragments), and the payload pieces
//! a redaction rewrote. Windows filled while the batch is still being staged
//! are compressed at once, overlapping the staging of the rest.

use std::borrow::Cow;
use std::sync::mpsc;

use super::salt::key_of;
use super::write::{Erasure, Staged};
use super::{Ledger, OpenWindow};
use crate::backend::{Backend, Cf};
use crate::codec::Codec;
use crate::error::{Result, StoreError};
use crate::keys;
use crate::pieces::{self, Record, Slot, WindowKey, BUNDLE_ENTRIES, SEAL_BYTES_MAX};

/// The zstd level of a fragment (a piece that leaves its window unfilled):
/// the window's seal compresses its records again, at `BUNDLE_LEVEL`.
const FRAGMENT_LEVEL: i32 = -5;

/// A value to compress and put.
pub(super) struct Job {
    cf: Cf,
    key: u64,
    raw: Vec<u8>,
    level: Option<i32>,
}

impl Job {
    pub(super) fn run(self) -> (Cf, u64, Vec<u8>) {
        let value = Codec::new().compress_at(&self.raw, self.level);
        (self.cf, self.key, value)
    }
}

/// The bundles of windows that a batch filled while it was still being
/// staged: laid out at once and compressed on the pool meanwhile, so that
/// compression overlaps the staging of the rest of the batch.
pub(super) struct Early {
    /// Seqs below this are laid out (the batch's first seq when none are).
    pub(super) laid_out: u64,
    /// Jobs handed to the pool.
    jobs: usize,
    sent: mpsc::Sender<(Cf, u64, Vec<u8>)>,
    done: mpsc::Receiver<(Cf, u64, Vec<u8>)>,
}

impl Early {
    pub(super) fn new(from: u64) -> Early {
        let (sent, done) = mpsc::channel();
        Early {
            laid_out: from,
            jobs: 0,
            sent,
            done,
        }
    }

    fn spawn(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            self.spawn_one(move || job.run());
        }
    }

    fn spawn_one(&mut self, job: impl FnOnce() -> (Cf, u64, Vec<u8>) + Send + 'static) {
        let sent = self.sent.clone();
        self.jobs += 1;
        // A send fails only once the batch was given up (an item refused).
        rayon::spawn(move || drop(sent.send(job())));
    }

    /// Lay out and compress the two pieces of the window at `first`, from
    /// its entries and payload slots (all of the window's), which the tasks take.
    fn spawn_window(
        &mut self,
        first: u64,
        entries: Vec<Vec<u8>>,
        slots: Vec<[Slot; 2]>,
        key: Option<WindowKey>,
        [entry_level, payload_level]: [Option<i32>; 2],
    ) {
        self.spawn_one(move || {
            Job {
                cf: Cf::Bundles,
                key: first,
                raw: pieces::encode_entries(entries.iter().map(Vec::as_slice), entries.len()),
                level: entry_level,
            }
            .run()
        });
        self.spawn_one(move || {
            Job {
                cf: Cf::PayloadBundles,
                key: first,
                raw: pieces::encode_payloads(slots.iter(), slots.len(), first, key.as_ref()),
                level: payload_level,
            }
            .run()
        });
    }

    /// Every compressed value, once all are done.
    pub(super) fn collect(self) -> Result<Vec<(Cf, u64, Vec<u8>)>> {
        let Early {
            jobs, sent, done, ..
        } = self;
        drop(sent);
        let values: Vec<_> = done.iter().collect();
        if values.len() != jobs {
            return Err(StoreError::Backend {
                op: "compress bundles",
                kind: crate::error::EngineErrorKind::Other,
                reason: format!("{} of {jobs} bundles were compressed", values.len()),
            });
        }
        Ok(values)
    }
}

impl<B: Backend> Ledger<B> {
    /// Whether this commit seals the open window: it fills the window (and
    /// the window is not too large to be one value).
    pub(super) fn sealing(open: &OpenWindow, st: &Staged) -> bool {
        let committed = st.committed;
        committed > open.start
            && st.head.size >= open.start + BUNDLE_ENTRIES
            && open
                .records
                .iter()
                .chain(&st.records[..(open.start + BUNDLE_ENTRIES - committed) as usize])
                .map(Record::raw_len)
                .sum::<usize>()
                <= SEAL_BYTES_MAX
    }

    /// Lay out the windows filled since `early.laid_out`, up to `to` (a
    /// window's end), and have the pool compress them while the rest of the
    /// batch is staged. A window wholly new to this batch is laid out on the
    /// pool as well, from its records, which the task takes: nothing reads
    /// them again (the ledger keeps only an unfilled window's records). The
    /// window the batch began in is laid out here.
    pub(super) fn lay_out_early(
        &self,
        open: &OpenWindow,
        st: &mut Staged,
        early: &mut Early,
        to: u64,
    ) {
        let mut first = early.laid_out;
        if !first.is_multiple_of(BUNDLE_ENTRIES) {
            let end = pieces::window_start(first) + BUNDLE_ENTRIES;
            let jobs = self.window_jobs(open, st, first, end);
            early.spawn(jobs);
            first = end;
        }
        while first < to {
            let at = (first - st.committed) as usize;
            let window = &mut st.records[at..at + BUNDLE_ENTRIES as usize];
            if window.iter().map(Record::raw_len).sum::<usize>() > SEAL_BYTES_MAX {
                // Too large for one value: cut into pieces at commit
                // (`piece_jobs`), with every window after it.
                early.laid_out = first;
                return;
            }
            let entries = window
                .iter_mut()
                .map(|r| std::mem::take(&mut r.entry))
                .collect();
            let slots = window
                .iter_mut()
                .map(|r| std::mem::replace(&mut r.payloads, [Slot::None, Slot::None]))
                .collect();
            let levels = [self.entry_level, self.payload_level];
            early.spawn_window(first, entries, slots, key_of(&st.keys, first), levels);
            first += BUNDLE_ENTRIES;
        }
        early.laid_out = to;
    }

    /// The bundles of this commit from seq `from` on (those before are laid
    /// out already), and every payload piece an erasure rewrote.
    pub(super) fn bundle_jobs(&self, open: &OpenWindow, st: &mut Staged, from: u64) -> Vec<Job> {
        let mut jobs = Vec::new();
        let sealing = Self::sealing(open, st);
        for (first, slots) in std::mem::take(&mut st.rewrites) {
            if sealing && first >= open.start {
                continue; // rewritten by the seal, from the open window's records
            }
            jobs.push(Job {
                cf: Cf::PayloadBundles,
                key: first,
                raw: encode_slots(first, &slots),
                level: self.payload_level,
            });
        }
        jobs.extend(self.window_jobs(open, st, from, st.head.size));
        jobs
    }

    /// The bundles of the staged seqs `from..to`: a fragment for a window the
    /// commit does not fill, a sealed piece for one it does (merged with the
    /// window's earlier fragments, which are deleted).
    fn window_jobs(&self, open: &OpenWindow, st: &mut Staged, from: u64, to: u64) -> Vec<Job> {
        let mut jobs = Vec::new();
        let committed = st.committed;
        let sealing = Self::sealing(open, st);
        let mut first = from;
        while first < to {
            let window = pieces::window_start(first);
            let end = to.min(window + BUNDLE_ENTRIES);
            let new = &st.records[(first - committed) as usize..(end - committed) as usize];
            if sealing && window == open.start && first == committed {
                // The open window's records, copied only where an erasure of
                // this batch changes them.
                let old: Vec<Cow<'_, Record>> = open
                    .records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| erased(r, window + i as u64, &st.erasures))
                    .collect();
                let all: Vec<&Record> = old.iter().map(|r| r.as_ref()).chain(new).collect();
                self.piece_jobs(&mut jobs, window, &all, key_of(&st.keys, window), false);
                for f in open.fragments.iter().filter(|&&f| f != window) {
                    st.batch.delete(Cf::Bundles, keys::seq_key(*f));
                    st.batch.delete(Cf::PayloadBundles, keys::seq_key(*f));
                }
            } else {
                let all: Vec<&Record> = new.iter().collect();
                // A piece that leaves its window unfilled is a fragment, which
                // the seal will compress again: a faster level for it.
                let fragment = end < window + BUNDLE_ENTRIES;
                self.piece_jobs(&mut jobs, first, &all, key_of(&st.keys, window), fragment);
            }
            first = end;
        }
        jobs
    }

    /// The jobs of the pieces holding `records` (consecutive seqs of one
    /// window from `first`): one piece, or several where they are too large
    /// for one value (`cuts`).
    fn piece_jobs(
        &self,
        jobs: &mut Vec<Job>,
        first: u64,
        records: &[&Record],
        key: Option<WindowKey>,
        fragment: bool,
    ) {
        let cuts = cuts(records);
        // A window cut for its size is never sealed (`sealing`): its pieces
        // are compressed at the sealed level from the start.
        let fragment = fragment && cuts.len() == 1;
        let level = |level: Option<i32>| match level {
            Some(_) if fragment => Some(FRAGMENT_LEVEL),
            level => level,
        };
        for cut in cuts {
            let (at, records) = (first + cut.start as u64, &records[cut]);
            let n = records.len();
            jobs.push(Job {
                cf: Cf::Bundles,
                key: at,
                raw: pieces::encode_entries(records.iter().map(|r| r.entry.as_slice()), n),
                level: level(self.entry_level),
            });
            jobs.push(Job {
                cf: Cf::PayloadBundles,
                key: at,
                raw: pieces::encode_payloads(
                    records.iter().map(|r| &r.payloads),
                    n,
                    at,
                    key.as_ref(),
                ),
                level: level(self.payload_level),
            });
        }
    }
}

/// Where consecutive `records` are cut into pieces: each piece holds at most
/// `SEAL_BYTES_MAX` raw bytes, or a single record (which `Ledger::append`
/// keeps far below the largest value a piece may be).
pub(super) fn cuts(records: &[&Record]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, r) in records.iter().enumerate() {
        let len = r.raw_len();
        if i > start && bytes + len > SEAL_BYTES_MAX {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += len;
    }
    if start < records.len() {
        out.push(start..records.len());
    }
    out
}

/// `r` (at `seq`) with the staged erasures applied.
fn erased<'a>(r: &'a Record, seq: u64, erasures: &[Erasure]) -> Cow<'a, Record> {
    let mut r = Cow::Borrowed(r);
    for (target, slot, by) in erasures {
        if *target == seq {
            r.to_mut().payloads[slot.as_byte() as usize] = Slot::Erased(*by);
        }
    }
    r
}

/// A rewritten payload piece: every salt stored (form 1, no window key).
fn encode_slots(first: u64, slots: &[[Slot; 2]]) -> Vec<u8> {
    pieces::encode_payloads(slots.iter(), slots.len(), first, None)
}
