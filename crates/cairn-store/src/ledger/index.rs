//! The secondary indexes (stream, model version, subject, session, time,
//! request id, trace id) are derived data, built off the commit path.
//!
//! The indexer reads committed bundles above the watermark (`meta/indexed`,
//! "indexed through seq N"), and writes their posting lists and id keys
//! together with the new watermark in one batch, so a crash leaves the index
//! and its watermark consistent and the next pass redoes the rest. Queries read
//! the index below the watermark and the entries above it directly, so an
//! answer is never missing what the indexer has not reached yet. Only the
//! idempotency keys are written by the commit itself: that check must be exact.

use std::collections::HashSet;

use rayon::prelude::*;

use cairn_core::entry::{BodyView, Entry, EntryBody, EntryView};

use super::{read_u64, Ledger};
use crate::backend::{Backend, Cf, WriteBatch};
use crate::error::{Result, StoreError};
use crate::keys::{self, meta, IndexKind};
use crate::postings;

/// Entries indexed per batch by one indexing pass.
pub const INDEX_BATCH_ENTRIES: u64 = 16_384;
/// A pass larger than this is indexed in parts of this many entries, in
/// parallel (the daemon's passes under load are smaller: one part).
const INDEX_PART_ENTRIES: u64 = 4096;

/// Tags of every derived index key (the idempotency keys, `k`, are not derived).
/// (`E` are the session lists of index format 2, dropped on upgrade.)
const DERIVED_TAGS: &[u8] = b"CMSETRXNrxcmsetd";

impl<B: Backend> Ledger<B> {
    /// Entries `[0, n)` are in the indexes: the watermark.
    pub fn indexed_through(&self) -> Result<u64> {
        Ok(read_u64(&self.backend, meta::INDEXED)?
            .unwrap_or(0)
            .min(self.size()))
    }

    /// Index up to `max_entries` committed entries above the watermark, in one
    /// batch; returns how many were indexed (0 when caught up).
    pub fn index_pending(&self, max_entries: u64) -> Result<u64> {
        let _one = self.indexing.lock().unwrap_or_else(|p| p.into_inner());
        let from = self.indexed_through()?;
        let to = self.size().min(from.saturating_add(max_entries.max(1)));
        if from >= to {
            return Ok(0);
        }
        // Parts of the pass are indexed in parallel, each into posting lists of
        // its own (a list per value per part, as if each were a pass).
        let parts: Vec<(u64, u64)> = (from..to)
            .step_by(INDEX_PART_ENTRIES as usize)
            .map(|a| (a, to.min(a + INDEX_PART_ENTRIES)))
            .collect();
        let built = parts
            .into_par_iter()
            .map(|(a, b)| self.index_part(a, b))
            .collect::<Result<Vec<_>>>()?;
        let mut batch = WriteBatch::default();
        let mut redactions = false;
        for (part, lists, redacted) in built {
            batch.ops.extend(part.ops);
            for (key, list) in lists.finish() {
                batch.put(Cf::Index, key, list);
            }
            redactions |= redacted;
        }
        batch.put(Cf::Meta, meta::INDEXED, to.to_be_bytes());
        crate::failpoint::hit("index-before-write");
        self.backend.write(batch)?;
        if redactions {
            self.cache.forget_redactions();
        }
        Ok(to - from)
    }

    /// The index keys of entries `[from, to)`: id keys and redaction keys in
    /// a batch, posting lists in a builder, and whether a redaction was seen.
    fn index_part(&self, from: u64, to: u64) -> Result<(WriteBatch, postings::Builder, bool)> {
        let mut batch = WriteBatch::default();
        let mut lists = postings::Builder::default();
        let mut redactions = false;
        self.for_each_entry(from, to, |seq, bytes| {
            let entry = decode(seq, bytes)?;
            redactions |= matches!(entry.body, BodyView::RedactionV1(_));
            index_entry(&mut batch, &mut lists, &entry, seq);
            Ok(())
        })?;
        Ok((batch, lists, redactions))
    }

    /// Index everything committed so far.
    pub fn index_all(&self) -> Result<()> {
        while self.index_pending(INDEX_BATCH_ENTRIES)? > 0 {}
        Ok(())
    }

    /// Drop the indexes of an older format (a key per request and trace id,
    /// with the watermark `meta/indexed`), so that they are built again in
    /// this format; returns whether there were any. Writers call this when
    /// they open the ledger; until then readers find no watermark of this
    /// format and read every entry, so no answer is ever incomplete. One batch:
    /// a ledger opened again after a crash here is upgraded then.
    pub fn upgrade_indexes(&self) -> Result<bool> {
        let mut older = false;
        for watermark in [meta::INDEXED_V1, meta::INDEXED_V2] {
            older |= self.backend.get(Cf::Meta, watermark)?.is_some();
        }
        if !older {
            return Ok(false);
        }
        let _one = self.indexing.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = reset_batch();
        batch.delete(Cf::Meta, meta::INDEXED_V1);
        batch.delete(Cf::Meta, meta::INDEXED_V2);
        self.backend.write(batch)?;
        self.cache.forget_redactions();
        Ok(true)
    }

    /// Drop every derived index key and build the indexes again from the
    /// entries (`cairn reindex`). The idempotency keys are kept. The drop and
    /// the watermark's reset to 0 are one batch (a range deletion per index),
    /// so a reindex stopped at any moment leaves indexes that queries can
    /// trust: the next pass (or the daemon's indexer) builds on from there.
    pub fn reindex(&self, mut progress: impl FnMut(u64, u64)) -> Result<()> {
        {
            let _one = self.indexing.lock().unwrap_or_else(|p| p.into_inner());
            self.backend.write(reset_batch())?;
            self.cache.forget_redactions();
        }
        crate::failpoint::hit("reindex-after-reset");
        let size = self.size();
        loop {
            let done = self.index_pending(INDEX_BATCH_ENTRIES)?;
            progress(self.indexed_through()?, size);
            if done == 0 {
                return Ok(());
            }
        }
    }

    /// Seqs of the entries in `[from, size)` that `keep` accepts, read from
    /// the entries themselves (the part the indexer has not reached).
    fn tail_seqs(&self, from: u64, mut keep: impl FnMut(&EntryView) -> bool) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        self.for_each_entry(from, self.size(), |seq, bytes| {
            let entry = decode(seq, bytes)?;
            if keep(&entry) {
                out.push(seq);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Seqs indexed under `value`, ascending, at most `limit`: the index below
    /// the watermark and the entries above it.
    pub fn index_seqs(&self, kind: IndexKind, value: &str, limit: usize) -> Result<Vec<u64>> {
        let through = self.indexed_through()?;
        let mut out = match (kind.posting_tag(), kind.id_tag()) {
            (Some(tag), _) => self.posting_seqs(&postings::value_prefix(tag, value), limit)?,
            (None, Some(tag)) => self.id_seqs(tag, kind, value, through, limit)?,
            (None, None) => self.seqs_under(&kind.prefix(value), limit)?,
        };
        out.retain(|&s| s < through);
        if out.len() < limit {
            out.extend(self.tail_seqs(through, |e| matches(e, kind, value))?);
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Seqs of every version of model `name`, ascending.
    pub fn model_name_seqs(&self, name: &str) -> Result<Vec<u64>> {
        let through = self.indexed_through()?;
        // Keys are `M` name 0x00 version 0x00 first seq: the prefix up to the
        // name's 0x00 covers every version of this name and no other name.
        let lists = postings::value_prefix(postings::MODEL_TAG, name);
        let mut out = self.posting_seqs(&lists, usize::MAX)?;
        out.sort_unstable();
        out.retain(|&s| s < through);
        out.extend(self.tail_seqs(
            through,
            |e| matches!(&e.body, BodyView::DecisionV1(d) if d.model.name == name),
        )?);
        Ok(out)
    }

    /// Seqs below `through` whose `kind` id is `value`, at most `limit`: the
    /// bucket's lists give the seqs whose fingerprint matches, and each of
    /// those entries is read to drop the rare one whose id only shares it.
    fn id_seqs(
        &self,
        tag: u8,
        kind: IndexKind,
        value: &str,
        through: u64,
        limit: usize,
    ) -> Result<Vec<u64>> {
        let (bucket, fingerprint) = postings::id_hash(value);
        let prefix = [tag, bucket];
        let mut pairs = Vec::new();
        for row in self
            .backend
            .scan(Cf::Index, &prefix, &keys::prefix_end(&prefix))
        {
            let (k, v) = row?;
            postings::decode_ids(&k, &v, &mut pairs)?;
        }
        let mut out = Vec::new();
        for (seq, _) in pairs
            .into_iter()
            .filter(|&(s, f)| f == fingerprint && s < through)
        {
            if out.len() >= limit {
                break;
            }
            let bytes = self
                .entry_bytes(seq)?
                .ok_or_else(|| StoreError::corrupt(format!("entry {seq}"), "missing"))?;
            if matches(&decode(seq, &bytes)?, kind, value) {
                out.push(seq);
            }
        }
        Ok(out)
    }

    /// Seqs of per-decision index keys starting with `prefix` (the seq is
    /// each key's last eight bytes), in key order, at most `limit`.
    fn seqs_under(&self, prefix: &[u8], limit: usize) -> Result<Vec<u64>> {
        let to = keys::prefix_end(prefix);
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Index, prefix, &to).take(limit) {
            let (k, _) = row?;
            let tail = k.len().checked_sub(8).filter(|&t| t >= prefix.len());
            out.extend(tail.and_then(|t| keys::parse_seq(&k[t..])));
        }
        Ok(out)
    }

    /// Seqs of the posting lists whose keys start with `prefix`, in key order,
    /// at most `limit`.
    fn posting_seqs(&self, prefix: &[u8], limit: usize) -> Result<Vec<u64>> {
        let to = keys::prefix_end(prefix);
        let mut out = Vec::new();
        for row in self.backend.scan(Cf::Index, prefix, &to) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = row?;
            postings::decode_seqs(&k, prefix.len(), &v, &mut out)?;
        }
        out.truncate(limit);
        Ok(out)
    }

    /// Seqs whose time falls in `[from_us, to_us)`, in time order (seq order
    /// among equal times), at most `limit`.
    pub fn time_range(&self, from_us: i64, to_us: i64, limit: usize) -> Result<Vec<u64>> {
        if from_us >= to_us {
            return Ok(Vec::new());
        }
        let through = self.indexed_through()?;
        let mut found: Vec<(i64, u64)> = Vec::new();
        // Posting lists, one second at a time: once a whole second has brought
        // the count to `limit`, later seconds cannot come earlier in time order.
        let (first, _) = postings::time_bucket(from_us);
        let (last, _) = postings::time_bucket(to_us - 1);
        let start = postings::time_prefix(first);
        let end = keys::prefix_end(&postings::time_prefix(last));
        let mut bucket: Option<[u8; 9]> = None;
        let mut decoded = Vec::new();
        for row in self.backend.scan(Cf::Index, &start, &end) {
            let (k, v) = row?;
            let this = k.get(..9).and_then(|b| <[u8; 9]>::try_from(b).ok());
            if bucket != this {
                if found.len() >= limit {
                    break;
                }
                bucket = this;
            }
            decoded.clear();
            postings::decode_times(&k, &v, &mut decoded)?;
            found.extend(
                decoded
                    .iter()
                    .filter(|(t, s)| (from_us..to_us).contains(t) && *s < through),
            );
        }
        let mut tail = Vec::new();
        self.for_each_entry(through, self.size(), |seq, bytes| {
            let entry = decode(seq, bytes)?;
            let t = view_time(&entry);
            if (from_us..to_us).contains(&t) {
                tail.push((t, seq));
            }
            Ok(())
        })?;
        found.extend(tail);
        found.sort_unstable();
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, seq)| seq).collect())
    }
}

/// An entry that an index should list and does not (or lists and should not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexProblem {
    /// Which index.
    pub kind: IndexKind,
    /// The value looked up (a model as `name` 0x00 `version`).
    pub value: String,
    /// Seqs the entries put under the value that the index does not list.
    pub missing: Vec<u64>,
    /// Seqs the index lists under the value that the entries do not.
    pub extra: Vec<u64>,
}

impl<B: Backend> Ledger<B> {
    /// Check the indexes against the entries below the watermark: every entry
    /// must be reachable through each index it belongs to (stream, model
    /// version, subject, session, request id, trace id, time), and no index may
    /// list an entry that does not belong there. Returns what differs.
    pub fn check_indexes(&self) -> Result<Vec<IndexProblem>> {
        use std::collections::BTreeMap;
        let through = self.indexed_through()?;
        let mut want: BTreeMap<(u8, String), Vec<u64>> = BTreeMap::new();
        let mut times = Vec::new();
        // (tag, bucket, seq, fingerprint) of every request, trace and session id.
        let mut ids: Vec<(u8, u8, u64, u32)> = Vec::new();
        let kinds = [IndexKind::Stream, IndexKind::Model, IndexKind::Subject];
        self.for_each_entry(0, through, |seq, bytes| {
            let entry = decode(seq, bytes)?;
            times.push((view_time(&entry), seq));
            if let BodyView::DecisionV1(d) = &entry.body {
                for (tag, id) in [
                    (postings::REQUEST_TAG, d.request_id),
                    (postings::TRACE_TAG, d.trace_id),
                    (postings::SESSION_ID_TAG, d.session),
                ] {
                    if let Some(id) = id {
                        let (bucket, fingerprint) = postings::id_hash(id);
                        ids.push((tag, bucket, seq, fingerprint));
                    }
                }
                let model = format!("{}\0{}", d.model.name, d.model.version);
                let own = |v: Option<&str>| v.map(str::to_owned);
                let values = [Some(d.stream.to_owned()), Some(model), own(d.subject)];
                for (i, v) in values.into_iter().enumerate() {
                    if let Some(v) = v {
                        want.entry((i as u8, v)).or_default().push(seq);
                    }
                }
            }
            Ok(())
        })?;
        let mut out = Vec::new();
        for ((i, value), seqs) in want {
            let kind = kinds[usize::from(i)];
            let mut found = match kind.posting_tag() {
                Some(tag) => self.posting_seqs(&postings::value_prefix(tag, &value), usize::MAX)?,
                None => self.seqs_under(&kind.prefix(&value), usize::MAX)?,
            };
            found.retain(|&s| s < through);
            if found != seqs {
                let (missing, extra) = differences(&found, &seqs, |s| *s);
                out.push(IndexProblem {
                    kind,
                    missing,
                    extra,
                    value,
                });
            }
        }
        out.extend(self.check_ids(ids, through)?);
        times.sort_unstable();
        let mut listed = Vec::new();
        let start = [postings::TIME_TAG];
        for row in self
            .backend
            .scan(Cf::Index, &start, &[postings::TIME_TAG + 1])
        {
            let (k, v) = row?;
            postings::decode_times(&k, &v, &mut listed)?;
        }
        listed.retain(|(_, s)| *s < through);
        listed.sort_unstable();
        if listed != times {
            let (missing, extra) = differences(&listed, &times, |t| t.1);
            out.push(IndexProblem {
                kind: IndexKind::Time,
                value: String::new(),
                missing,
                extra,
            });
        }
        Ok(out)
    }
}

impl<B: Backend> Ledger<B> {
    /// Compare the hashed request and trace id lists below `through` with
    /// `want`, the (tag, bucket, seq, fingerprint) of every id the entries hold.
    fn check_ids(&self, want: Vec<(u8, u8, u64, u32)>, through: u64) -> Result<Vec<IndexProblem>> {
        let mut out = Vec::new();
        for (tag, kind) in [
            (postings::REQUEST_TAG, IndexKind::Request),
            (postings::TRACE_TAG, IndexKind::Trace),
            (postings::SESSION_ID_TAG, IndexKind::Session),
        ] {
            let mut listed = Vec::new();
            let mut pairs = Vec::new();
            for row in self.backend.scan(Cf::Index, &[tag], &[tag + 1]) {
                let (k, v) = row?;
                let bucket = *k
                    .get(1)
                    .ok_or_else(|| StoreError::corrupt("index posting list", "id key too short"))?;
                pairs.clear();
                postings::decode_ids(&k, &v, &mut pairs)?;
                listed.extend(
                    pairs
                        .iter()
                        .filter(|(seq, _)| *seq < through)
                        .map(|&(seq, f)| (tag, bucket, seq, f)),
                );
            }
            listed.sort_unstable();
            let mut should: Vec<_> = want.iter().copied().filter(|w| w.0 == tag).collect();
            should.sort_unstable();
            if listed != should {
                let (missing, extra) = differences(&listed, &should, |w| w.2);
                out.push(IndexProblem {
                    kind,
                    value: String::new(),
                    missing,
                    extra,
                });
            }
        }
        Ok(out)
    }
}

/// A batch that drops every derived index key (one range deletion per tag)
/// and sets the watermark to 0: what `reindex` and an index upgrade write.
fn reset_batch() -> WriteBatch {
    let mut batch = WriteBatch::default();
    for tag in DERIVED_TAGS {
        batch.delete_range(Cf::Index, [*tag], [*tag + 1]);
    }
    batch.put(Cf::Meta, meta::INDEXED, 0u64.to_be_bytes());
    batch
}

/// The seqs of what `should` holds and `listed` lacks (missing), and of what
/// `listed` holds and `should` does not (extra).
fn differences<T: Copy + Eq + std::hash::Hash>(
    listed: &[T],
    should: &[T],
    seq: impl Fn(&T) -> u64,
) -> (Vec<u64>, Vec<u64>) {
    let have: HashSet<T> = listed.iter().copied().collect();
    let need: HashSet<T> = should.iter().copied().collect();
    let missing = should
        .iter()
        .filter(|t| !have.contains(t))
        .map(&seq)
        .collect();
    let extra = listed
        .iter()
        .filter(|t| !need.contains(t))
        .map(&seq)
        .collect();
    (missing, extra)
}

/// Entry `seq`'s canonical bytes, decoded (borrowed: an indexing pass keeps
/// nothing of an entry but its keys); damage is an error naming the seq.
fn decode(seq: u64, bytes: &[u8]) -> Result<EntryView<'_>> {
    EntryView::decode(bytes).map_err(|e| StoreError::corrupt(format!("entry {seq}"), e.to_string()))
}

/// [`entry_time`] of a borrowed entry.
fn view_time(entry: &EntryView) -> i64 {
    match &entry.body {
        BodyView::DecisionV1(d) => d.event_time_us.unwrap_or(entry.recorded_at_us),
        _ => entry.recorded_at_us,
    }
}

/// The time an entry is indexed at: a decision's event time if it has one,
/// else the time it was recorded.
pub fn entry_time(entry: &Entry) -> i64 {
    match &entry.body {
        EntryBody::DecisionV1(d) => d.event_time_us.unwrap_or(entry.recorded_at_us),
        _ => entry.recorded_at_us,
    }
}

/// Whether `entry` is indexed under `value` in `kind`.
fn matches(entry: &EntryView, kind: IndexKind, value: &str) -> bool {
    let BodyView::DecisionV1(d) = &entry.body else {
        return false;
    };
    let eq = |v: &Option<&str>| *v == Some(value);
    match kind {
        IndexKind::Stream => d.stream == value,
        IndexKind::Model => value
            .split_once('\0')
            .is_some_and(|(n, v)| d.model.name == n && d.model.version == v),
        IndexKind::Subject => eq(&d.subject),
        IndexKind::Session => eq(&d.session),
        IndexKind::Request => eq(&d.request_id),
        IndexKind::Trace => eq(&d.trace_id),
        IndexKind::Time => false,
    }
}

fn index_entry(b: &mut WriteBatch, lists: &mut postings::Builder, entry: &EntryView, seq: u64) {
    lists.add_time(view_time(entry), seq);
    if let BodyView::RedactionV1(r) = &entry.body {
        // So that a payload stored again after its erasure is never served.
        b.put(Cf::Index, keys::redaction_key(r.target_seq, seq), []);
    }
    let BodyView::DecisionV1(d) = &entry.body else {
        return;
    };
    lists.add(postings::STREAM_TAG, &[d.stream], seq);
    lists.add(postings::MODEL_TAG, &[d.model.name, d.model.version], seq);
    if let Some(v) = d.subject {
        lists.add(postings::SUBJECT_TAG, &[v], seq);
    }
    // Request and trace ids are nearly always unique to one decision, and a
    // session holds a few: a key each would be most of the index's keys, so
    // they go into hashed buckets.
    if let Some(v) = d.session {
        lists.add_id(postings::SESSION_ID_TAG, v, seq);
    }
    if let Some(v) = d.request_id {
        lists.add_id(postings::REQUEST_TAG, v, seq);
    }
    if let Some(v) = d.trace_id {
        lists.add_id(postings::TRACE_TAG, v, seq);
    }
}
