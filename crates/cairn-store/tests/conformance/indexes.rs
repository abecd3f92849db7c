//! Indexes and queries: built off the commit path, they answer what a scan of the entries says.

use super::*;

pub(super) fn indexes_match_a_scan<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 400);
    let mut by_subject = std::collections::BTreeMap::<String, Vec<u64>>::new();
    for seq in 0..l.size() {
        if let EntryBody::DecisionV1(d) = l.entry(seq).unwrap().body {
            if let Some(s) = d.subject {
                by_subject.entry(s).or_default().push(seq);
            }
        }
    }
    assert!(!by_subject.is_empty());
    for (subject, seqs) in by_subject.iter().take(20) {
        assert_eq!(
            &l.index_seqs(IndexKind::Subject, subject, usize::MAX)
                .unwrap(),
            seqs
        );
    }
}

/// What a scan of every entry says each index should hold.
struct Expected {
    streams: std::collections::BTreeMap<String, Vec<u64>>,
    models: std::collections::BTreeMap<String, Vec<u64>>,
    model_names: std::collections::BTreeMap<String, Vec<u64>>,
    /// (kind, value) → seqs, for subjects and sessions.
    others: std::collections::BTreeMap<(u8, String), Vec<u64>>,
    times: Vec<(i64, u64)>,
}

fn expected<B: Backend>(l: &Ledger<B>) -> Expected {
    let mut e = Expected {
        streams: Default::default(),
        models: Default::default(),
        model_names: Default::default(),
        others: Default::default(),
        times: Vec::new(),
    };
    for seq in 0..l.size() {
        let entry = l.entry(seq).unwrap();
        let time = match &entry.body {
            EntryBody::DecisionV1(d) => {
                e.streams.entry(d.stream.clone()).or_default().push(seq);
                let m = format!("{}\u{0}{}", d.model.name, d.model.version);
                e.models.entry(m).or_default().push(seq);
                e.model_names
                    .entry(d.model.name.clone())
                    .or_default()
                    .push(seq);
                for (kind, v) in [(b's', &d.subject), (b'e', &d.session)] {
                    if let Some(v) = v {
                        e.others.entry((kind, v.clone())).or_default().push(seq);
                    }
                }
                d.event_time_us.unwrap_or(entry.recorded_at_us)
            }
            _ => entry.recorded_at_us,
        };
        e.times.push((time, seq));
    }
    e.times.sort_unstable();
    e
}

pub(super) fn shared_value_indexes_match_a_scan<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 450);
    // Appends of one decision each, too: lists of one seq.
    for a in decisions(3, 5) {
        l.append(vec![a], 2_000).unwrap();
    }
    let e = expected(&l);
    assert!(e.streams.len() > 1 && e.models.len() > 1);
    for (stream, seqs) in &e.streams {
        assert_eq!(
            &l.index_seqs(IndexKind::Stream, stream, usize::MAX).unwrap(),
            seqs
        );
        let few = l.index_seqs(IndexKind::Stream, stream, 7).unwrap();
        assert_eq!(few, seqs[..seqs.len().min(7)], "the first seven, in order");
    }
    for (model, seqs) in &e.models {
        assert_eq!(
            &l.index_seqs(IndexKind::Model, model, usize::MAX).unwrap(),
            seqs
        );
    }
    for (name, seqs) in &e.model_names {
        assert_eq!(&l.model_name_seqs(name).unwrap(), seqs);
    }
    assert!(e.others.values().any(|s| s.len() > 1));
    for ((kind, value), seqs) in &e.others {
        let kind = if *kind == b's' {
            IndexKind::Subject
        } else {
            IndexKind::Session
        };
        assert_eq!(&l.index_seqs(kind, value, usize::MAX).unwrap(), seqs);
    }
    assert!(l
        .index_seqs(IndexKind::Stream, "no-such-stream", usize::MAX)
        .unwrap()
        .is_empty());
    // Time windows: everything, a few slices with and without limits, empty.
    let all: Vec<u64> = e.times.iter().map(|(_, s)| *s).collect();
    assert_eq!(l.time_range(i64::MIN, i64::MAX, usize::MAX).unwrap(), all);
    let lo = e.times[0].0;
    let hi = e.times[e.times.len() - 1].0;
    let span = (hi - lo).max(1);
    for (a, b, limit) in [
        (lo, hi + 1, usize::MAX),
        (lo + span / 3, lo + span / 2, usize::MAX),
        (lo + span / 4, hi, 10),
        (lo - 1, lo + 1, usize::MAX),
        (hi, hi, usize::MAX),
        (lo + span / 2, lo + span / 2 + 1_000_000, 3),
    ] {
        let want: Vec<u64> = e
            .times
            .iter()
            .filter(|(t, _)| (a..b).contains(t))
            .map(|(_, s)| *s)
            .take(limit)
            .collect();
        assert_eq!(
            l.time_range(a, b, limit).unwrap(),
            want,
            "[{a}, {b}) limit {limit}"
        );
    }
}

pub(super) fn the_indexer_catches_up_and_its_check_finds_a_lost_posting<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 700);
    assert_eq!(
        l.indexed_through().unwrap(),
        0,
        "nothing indexed on the commit path"
    );
    let before = expected(&l);
    answers_match(&l, &before);
    l.index_pending(300).unwrap();
    assert_eq!(l.indexed_through().unwrap(), 300);
    // Half indexed, half read from the entries: the answers are the same.
    answers_match(&l, &before);
    l.index_all().unwrap();
    assert_eq!(l.indexed_through().unwrap(), 700);
    assert_eq!(l.check_indexes().unwrap(), vec![]);
    let stream = before.streams.keys().next().unwrap().clone();
    assert_eq!(
        l.index_seqs(IndexKind::Stream, &stream, usize::MAX)
            .unwrap(),
        before.streams[&stream]
    );
    // A posting list lost below the API: the check names the value and seqs.
    let prefix = cairn_store::postings::value_prefix(cairn_store::postings::STREAM_TAG, &stream);
    let (key, _) = l
        .backend()
        .scan(Cf::Index, &prefix, &keys::prefix_end(&prefix))
        .next()
        .unwrap()
        .unwrap();
    let mut batch = WriteBatch::default();
    batch.delete(Cf::Index, key);
    l.backend().write(batch).unwrap();
    let problems = l.check_indexes().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        (problems[0].kind, problems[0].value.as_str()),
        (IndexKind::Stream, stream.as_str())
    );
    assert!(!problems[0].missing.is_empty());
    // `reindex` rebuilds it from the entries.
    l.reindex(|_, _| {}).unwrap();
    assert_eq!(l.check_indexes().unwrap(), vec![]);
    answers_match(&l, &before);
}

pub(super) fn request_and_trace_ids_are_found_through_their_buckets<H: Harness>() {
    use cairn_store::postings::{self, REQUEST_TAG};
    let h = H::new();
    let l = new_ledger(&h, 600);
    // Two decisions with one request id (a retry without an idempotency key).
    let line = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2,"request_id":"req-shared","trace_id":"trace-shared","session":"sess-shared"}"#;
    l.append(vec![one(line), one(line)], 5_000).unwrap();
    let ids = |seq: u64| match l.entry(seq).unwrap().body {
        EntryBody::DecisionV1(d) => (d.request_id, d.trace_id, d.session),
        _ => (None, None, None),
    };
    let id_of = |kind: IndexKind, seq: u64| {
        let (r, t, e) = ids(seq);
        match kind {
            IndexKind::Request => r,
            IndexKind::Trace => t,
            _ => e,
        }
    };
    let scan = |kind: IndexKind, id: &str| -> Vec<u64> {
        (0..l.size())
            .filter(|&s| id_of(kind, s).as_deref() == Some(id))
            .collect()
    };
    for indexed in [false, true] {
        if indexed {
            l.index_all().unwrap();
            assert_eq!(l.indexed_through().unwrap(), l.size());
        }
        for seq in (0..l.size()).step_by(37).chain([600, 601]) {
            for kind in [IndexKind::Request, IndexKind::Trace, IndexKind::Session] {
                let Some(id) = id_of(kind, seq) else { continue };
                let got = l.index_seqs(kind, &id, usize::MAX).unwrap();
                assert_eq!(got, scan(kind, &id), "{kind:?} {id} indexed: {indexed}");
            }
        }
        let shared = l.index_seqs(IndexKind::Request, "req-shared", usize::MAX);
        assert_eq!(shared.unwrap(), [600, 601]);
        let session = l.index_seqs(IndexKind::Session, "sess-shared", usize::MAX);
        assert_eq!(session.unwrap(), [600, 601]);
        let none = l.index_seqs(IndexKind::Trace, "no-such-trace", usize::MAX);
        assert_eq!(none.unwrap(), Vec::<u64>::new());
    }
    // About one list per bucket per indexing pass, not one key per id.
    let lists = l
        .backend()
        .scan(Cf::Index, &[REQUEST_TAG], &[REQUEST_TAG + 1])
        .count();
    assert!(lists <= 256, "{lists} request id lists for 602 decisions");
    let sessions = l
        .backend()
        .scan(
            Cf::Index,
            &[postings::SESSION_ID_TAG],
            &[postings::SESSION_ID_TAG + 1],
        )
        .count();
    assert!(
        sessions <= 256,
        "{sessions} session lists for 602 decisions"
    );
    assert_eq!(l.check_indexes().unwrap(), vec![]);
    // A seq dropped from its bucket below the API: the check names it.
    let prefix = postings::id_prefix(REQUEST_TAG, "req-shared");
    let (key, value) = l
        .backend()
        .scan(Cf::Index, &prefix, &keys::prefix_end(&prefix))
        .find(|row| {
            let (k, v) = row.as_ref().unwrap();
            let mut pairs = Vec::new();
            postings::decode_ids(k, v, &mut pairs).unwrap();
            pairs.iter().any(|p| p.0 == 601)
        })
        .unwrap()
        .unwrap();
    let mut pairs = Vec::new();
    postings::decode_ids(&key, &value, &mut pairs).unwrap();
    let mut builder = postings::Builder::default();
    for (seq, _) in pairs.iter().filter(|p| p.0 != 601) {
        // Rebuilt from the ids themselves, so only seq 601 is gone.
        let (r, _, _) = ids(*seq);
        builder.add_id(REQUEST_TAG, &r.unwrap(), *seq);
    }
    let mut batch = WriteBatch::default();
    batch.delete(Cf::Index, key.clone());
    for (k, v) in builder.finish() {
        batch.put(Cf::Index, k, v);
    }
    l.backend().write(batch).unwrap();
    let problems = l.check_indexes().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].kind, IndexKind::Request);
    assert_eq!(
        (problems[0].missing.clone(), problems[0].extra.clone()),
        (vec![601], vec![])
    );
    l.reindex(|_, _| {}).unwrap();
    assert_eq!(l.check_indexes().unwrap(), vec![]);
}

pub(super) fn indexes_of_the_older_format_are_dropped_and_built_again<H: Harness>() {
    use cairn_store::keys::meta;
    older_indexes_are_dropped_and_built_again::<H>(meta::INDEXED_V1, b'r');
    older_indexes_are_dropped_and_built_again::<H>(meta::INDEXED_V2, b'E');
}

/// A ledger made to look as if its indexes were of an older format: that
/// format's watermark, and a key of the older kind (`tag`: `r` a request id
/// key of format 1, `E` a session list of format 2).
pub(super) fn older_indexes_are_dropped_and_built_again<H: Harness>(watermark: &[u8], tag: u8) {
    use cairn_store::keys::meta;
    let h = H::new();
    let l = new_ledger(&h, 300);
    l.index_all().unwrap();
    let before = expected(&l);
    let (r, _) = match l.entry(7).unwrap().body {
        EntryBody::DecisionV1(d) => (d.request_id.unwrap(), ()),
        _ => unreachable!(),
    };
    let mut batch = WriteBatch::default();
    batch.delete(Cf::Meta, meta::INDEXED);
    batch.put(Cf::Meta, watermark, 300u64.to_be_bytes());
    let mut old_key = vec![tag];
    old_key.extend_from_slice(r.as_bytes());
    old_key.push(0);
    old_key.extend_from_slice(&7u64.to_be_bytes());
    batch.put(Cf::Index, old_key.clone(), []);
    l.backend().write(batch).unwrap();
    // Readers see no watermark of this format and read the entries.
    assert_eq!(l.indexed_through().unwrap(), 0);
    answers_match(&l, &before);
    assert_eq!(
        l.index_seqs(IndexKind::Request, &r, usize::MAX).unwrap(),
        [7]
    );
    // A writer drops the old indexes, once, and they are built again.
    assert!(l.upgrade_indexes().unwrap());
    assert!(!l.upgrade_indexes().unwrap());
    assert_eq!(l.backend().get(Cf::Index, &old_key).unwrap(), None);
    assert_eq!(l.backend().get(Cf::Meta, watermark).unwrap(), None);
    l.index_all().unwrap();
    assert_eq!(l.indexed_through().unwrap(), 300);
    assert_eq!(l.check_indexes().unwrap(), vec![]);
    answers_match(&l, &before);
    assert_eq!(
        l.index_seqs(IndexKind::Request, &r, usize::MAX).unwrap(),
        [7]
    );
}

pub(super) fn a_query_answers_alike_before_and_after_indexing<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 600);
    let e = expected(&l);
    let ((_, subject), want) = e.others.iter().find(|((t, _), _)| *t == b's').unwrap();
    let q = cairn_store::query::Query {
        subject: Some(subject.clone()),
        ..Default::default()
    };
    let seqs = |l: &Ledger<H::B>| -> Vec<u64> {
        let s = l.select(&q, l.size(), usize::MAX).unwrap();
        assert_eq!(s.index, "subject");
        s.entries.iter().map(|e| e.seq).collect()
    };
    assert_eq!(
        &seqs(&l),
        want,
        "nothing indexed yet: read from the entries"
    );
    l.index_pending(250).unwrap();
    assert_eq!(&seqs(&l), want, "part indexed");
    l.index_all().unwrap();
    assert_eq!(&seqs(&l), want, "all indexed");
    // A limit keeps the first matches and says there were more.
    let first = l.select(&q, l.size(), 1).unwrap();
    assert_eq!(first.entries.len(), 1);
    assert_eq!(first.truncated, want.len() > 1);
}

pub(super) fn a_subjects_hour_is_narrowed_by_time_before_entries_are_read<H: Harness>() {
    // Five subjects, so each has decisions in every 256-entry window.
    let h = H::new();
    let l = Ledger::create(h.create(), "test.example/ledger").unwrap();
    let cfg = SynthConfig {
        seed: 5,
        count: 3000,
        subjects: 5,
        ..SynthConfig::default()
    };
    let items: Vec<Append> = Synth::new(cfg).map(|v| one(&v.to_string())).collect();
    for chunk in items.chunks(500) {
        l.append(chunk.to_vec(), 1_000).unwrap();
    }
    let all: Vec<_> = (0..l.size()).map(|s| l.entry(s).unwrap()).collect();
    let time = |seq: u64| cairn_store::ledger::entry_time(&all[seq as usize]);
    let subject = |seq: u64| match &all[seq as usize].body {
        EntryBody::DecisionV1(d) => d.subject.clone(),
        _ => None,
    };
    let who = subject(1500).unwrap();
    let (from, to) = (time(1400), time(1600));
    let q = cairn_store::query::Query {
        subject: Some(who.clone()),
        from_us: Some(from),
        to_us: Some(to),
        ..Default::default()
    };
    let want: Vec<u64> = (0..l.size())
        .filter(|&s| subject(s).as_deref() == Some(&who) && (from..to).contains(&time(s)))
        .collect();
    let of_subject = (0..l.size())
        .filter(|&s| subject(s).as_deref() == Some(&who))
        .count();
    let in_window = (0..l.size())
        .filter(|&s| (from..to).contains(&time(s)))
        .count() as u64;
    assert!(
        want.len() > 3 && of_subject > 200,
        "{} of {of_subject}",
        want.len()
    );
    for indexed in [false, true] {
        if indexed {
            l.index_all().unwrap();
        }
        let got = l.select(&q, l.size(), usize::MAX).unwrap();
        let seqs: Vec<u64> = got.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, want, "indexed: {indexed}");
        assert!(
            got.examined <= in_window,
            "indexed: {indexed}: read {} entries of the subject's {of_subject}, \
             though the hour holds {in_window}",
            got.examined
        );
    }
}

/// Every index answers what a scan of the entries says.
fn answers_match<B: Backend>(l: &Ledger<B>, e: &Expected) {
    for (stream, seqs) in &e.streams {
        assert_eq!(
            &l.index_seqs(IndexKind::Stream, stream, usize::MAX).unwrap(),
            seqs
        );
    }
    for (model, seqs) in &e.models {
        assert_eq!(
            &l.index_seqs(IndexKind::Model, model, usize::MAX).unwrap(),
            seqs
        );
    }
    for (name, seqs) in &e.model_names {
        assert_eq!(&l.model_name_seqs(name).unwrap(), seqs);
    }
    for ((tag, value), seqs) in &e.others {
        let kind = if *tag == b's' {
            IndexKind::Subject
        } else {
            IndexKind::Session
        };
        assert_eq!(&l.index_seqs(kind, value, usize::MAX).unwrap(), seqs);
    }
    let all: Vec<u64> = e.times.iter().map(|(_, s)| *s).collect();
    assert_eq!(l.time_range(i64::MIN, i64::MAX, usize::MAX).unwrap(), all);
}
