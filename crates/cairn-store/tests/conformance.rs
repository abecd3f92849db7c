//! One conformance suite, run against every backend: the in-memory one and RocksDB.
//! Each test states a promise the ledger makes to its users.
#![allow(clippy::unwrap_used, missing_docs)]

use cairn_core::decision::DecisionInput;
use cairn_core::entry::{EntryBody, PayloadSlot, RedactionV1};
use cairn_core::hash::Blake3Hasher;
use cairn_core::merkle;
use cairn_store::keys::{self, IndexKind};
use cairn_store::pieces::Slot;
use cairn_store::tamper;
use cairn_store::verify::{verify, DamageKind, VerifyOptions};
use cairn_store::{
    Append, Backend, Cf, Ledger, MemoryBackend, PayloadState, RocksBackend, StoreError, WriteBatch,
};
use cairn_synth::{Synth, SynthConfig};

trait Harness {
    type B: Backend;
    fn new() -> Self;
    fn create(&self) -> Self::B;
    fn reopen(&self, b: Self::B) -> Self::B;
}

struct Memory;
impl Harness for Memory {
    type B = MemoryBackend;
    fn new() -> Self {
        Memory
    }
    fn create(&self) -> MemoryBackend {
        MemoryBackend::new()
    }
    fn reopen(&self, b: MemoryBackend) -> MemoryBackend {
        b
    }
}

struct Rocks(tempfile::TempDir);
impl Harness for Rocks {
    type B = RocksBackend;
    fn new() -> Self {
        Rocks(tempfile::tempdir().unwrap())
    }
    fn create(&self) -> RocksBackend {
        RocksBackend::create(&self.0.path().join("db")).unwrap()
    }
    fn reopen(&self, b: RocksBackend) -> RocksBackend {
        drop(b);
        RocksBackend::open(&self.0.path().join("db")).unwrap()
    }
}

fn decisions(seed: u64, count: u64) -> Vec<Append> {
    let cfg = SynthConfig {
        seed,
        count,
        ..SynthConfig::default()
    };
    Synth::new(cfg)
        .enumerate()
        .map(|(i, v)| {
            let d = DecisionInput::parse(v.to_string().as_bytes()).unwrap();
            let salt = (i as u64 ^ seed).to_le_bytes();
            let mut a = [7u8; 32];
            a[..8].copy_from_slice(&salt);
            Append::Decision(d.prepare(a, [9u8; 32]))
        })
        .collect()
}

fn one(line: &str) -> Append {
    Append::Decision(
        DecisionInput::parse(line.as_bytes())
            .unwrap()
            .prepare([1; 32], [2; 32]),
    )
}

fn new_ledger<H: Harness>(h: &H, n: u64) -> Ledger<H::B> {
    let l = Ledger::create(h.create(), "test.example/ledger").unwrap();
    for chunk in decisions(1, n).chunks(100) {
        l.append(chunk.to_vec(), 1_000).unwrap();
    }
    l
}

fn verify_all<B: Backend>(l: &Ledger<B>) -> cairn_store::verify::VerifyReport {
    verify(l, VerifyOptions::default()).unwrap()
}

fn appends_are_chained_and_readable<H: Harness>() {
    let h = H::new();
    let l = Ledger::create(h.create(), "test.example/ledger").unwrap();
    let items = decisions(3, 10);
    let receipts = l.append(items.clone(), 42).unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    let mut prev = [0u8; 32];
    for (r, item) in receipts.iter().zip(&items) {
        let e = l.entry(r.seq).unwrap();
        assert_eq!(e.prev_hash, prev, "entry {} links to the one before", r.seq);
        assert_eq!(e.leaf_hash(), r.leaf_hash);
        let Append::Decision(d) = item else {
            unreachable!()
        };
        assert_eq!(e.body, EntryBody::DecisionV1(d.body.clone()));
        assert_eq!(
            l.payload(r.seq, PayloadSlot::Input).unwrap().unwrap(),
            d.input
        );
        assert_eq!(
            l.payload(r.seq, PayloadSlot::Output).unwrap().unwrap(),
            d.output
        );
        prev = r.leaf_hash;
    }
    assert!(verify_all(&l).intact());
}

fn reopen_recovers_the_head<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 333);
    let (root, size, last) = (l.root(), l.size(), l.last_leaf());
    let l = Ledger::open(h.reopen(l.into_backend())).unwrap();
    assert_eq!((l.root(), l.size(), l.last_leaf()), (root, size, last));
    let r = l.append(decisions(9, 1), 5).unwrap();
    assert_eq!(r[0].seq, 333);
    assert_eq!(l.entry(333).unwrap().prev_hash, last);
    let report = verify_all(&l);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.entries_checked, 334);
}

fn proofs_verify_against_roots<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 70);
    for size in [1u64, 2, 7, 8, 9, 64, 70] {
        let root = l.root_at(size).unwrap();
        for seq in 0..size {
            let proof = l.inclusion_proof(seq, size).unwrap();
            let leaf = l.entry(seq).unwrap().leaf_hash();
            merkle::verify_inclusion(&Blake3Hasher, seq, size, &leaf, &proof, &root).unwrap();
        }
        for old in 1..=size {
            let proof = l.consistency_proof(old, size).unwrap();
            let old_root = l.root_at(old).unwrap();
            merkle::verify_consistency(&Blake3Hasher, old, size, &old_root, &root, &proof).unwrap();
        }
    }
    assert_eq!(l.root_at(70).unwrap(), l.root());
    assert!(matches!(
        l.inclusion_proof(0, 71),
        Err(StoreError::OutOfRange { .. })
    ));
}

fn idempotency_keys_append_once<H: Harness>() {
    let h = H::new();
    let l = Ledger::create(h.create(), "t").unwrap();
    let line = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2,"idempotency_key":"k1"}"#;
    let first = l.append(vec![one(line), one(line)], 1).unwrap();
    assert_eq!(l.size(), 1, "a repeat within one batch appends nothing");
    assert!(!first[0].duplicate && first[1].duplicate);
    assert_eq!(first[0].seq, first[1].seq);
    let again = l.append(vec![one(line)], 2).unwrap();
    assert_eq!(l.size(), 1, "a retry appends nothing");
    assert_eq!(
        (again[0].seq, again[0].leaf_hash),
        (first[0].seq, first[0].leaf_hash)
    );
    let other_stream = line.replace(r#""stream":"s""#, r#""stream":"s2""#);
    l.append(vec![one(&other_stream)], 3).unwrap();
    assert_eq!(l.size(), 2, "keys are per stream");
}

fn single_appends_are_sealed_into_one_bundle_per_window<H: Harness>() {
    let h = H::new();
    let l = Ledger::create(h.create(), "t").unwrap();
    let items = decisions(4, 600);
    for item in &items {
        l.append(vec![item.clone()], 3).unwrap();
    }
    fn keys_of<B: Backend>(l: &Ledger<B>, cf: Cf) -> Vec<u64> {
        l.backend()
            .scan(cf, &[], &[0xff; 9])
            .map(|r| keys::parse_seq(&r.unwrap().0).unwrap())
            .collect()
    }
    // Two full windows sealed whole; the third still in fragments of one.
    let mut want = vec![0, 256];
    want.extend(512..600);
    assert_eq!(keys_of(&l, Cf::Bundles), want);
    assert_eq!(keys_of(&l, Cf::PayloadBundles), want);
    let l = Ledger::open(h.reopen(l.into_backend())).unwrap();
    // Reopened in the middle of a window, the next fill still seals it.
    for chunk in decisions(5, 200).chunks(30) {
        l.append(chunk.to_vec(), 4).unwrap();
    }
    assert_eq!(keys_of(&l, Cf::Bundles), vec![0, 256, 512, 768, 780]);
    let report = verify_all(&l);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.payloads_checked, 1600);
    for seq in [0, 255, 256, 599, 600, 767, 768, 799] {
        assert_eq!(l.entry(seq).unwrap().seq, seq);
    }
}

/// The same decisions, unsalted (the ledger derives their salts from window
/// keys) and salted by the caller.
fn unsalted(seed: u64, count: u64) -> Vec<Append> {
    let cfg = SynthConfig {
        seed,
        count,
        ..SynthConfig::default()
    };
    Synth::new(cfg)
        .map(|v| {
            let d = DecisionInput::parse(v.to_string().as_bytes()).unwrap();
            Append::Unsalted(d.unsalted())
        })
        .collect()
}

/// The seqs of receipts, in order.
fn seqs(receipts: &[cairn_store::Receipt]) -> Vec<u64> {
    receipts.iter().map(|r| r.seq).collect()
}

/// Seqs `0..n` of `got` store the payload bytes `want` stores, each under a
/// salt seen nowhere else in `got`.
fn same_payloads_new_salts<A: Backend, B: Backend>(want: &Ledger<A>, got: &Ledger<B>, n: u64) {
    let mut salts = std::collections::HashSet::new();
    for seq in 0..n {
        for slot in PayloadSlot::ALL {
            let (PayloadState::Stored(a), PayloadState::Stored(b)) = (
                want.payload_state(seq, slot).unwrap(),
                got.payload_state(seq, slot).unwrap(),
            ) else {
                panic!("seq {seq} {slot:?} is not stored");
            };
            assert_eq!(a.bytes, b.bytes, "seq {seq} {slot:?}");
            assert!(
                salts.insert(b.salt),
                "seq {seq} {slot:?}: a salt seen before"
            );
        }
    }
}

fn small_groups_inline_are_stored_as_on_the_pool<H: Harness>() {
    let (h, h2) = (H::new(), H::new());
    let pooled = Ledger::create(h.create(), "t").unwrap();
    let mut inline = Ledger::create(h2.create(), "t").unwrap();
    inline.set_small_groups_inline(true);
    // Groups below and above the size kept off the pool, ending inside
    // windows and crossing them.
    let bare = unsalted(5, 1000);
    for group in [1usize, 90, 255, 256, 300, 98] {
        let start = pooled.size() as usize;
        let items = bare[start..start + group].to_vec();
        let want = pooled.append(items.clone(), 7).unwrap();
        let got = inline.append(items, 7).unwrap();
        assert_eq!(seqs(&got), seqs(&want));
    }
    assert_eq!(inline.size(), 1000);
    same_payloads_new_salts(&pooled, &inline, inline.size());
    let report = verify_all(&inline);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.payloads_checked, 2 * inline.size());
}

fn unsalted_decisions_are_stored_like_salted_ones<H: Harness>() {
    let (h, h2) = (H::new(), H::new());
    let salted = Ledger::create(h.create(), "t").unwrap();
    let derived = Ledger::create(h2.create(), "t").unwrap();
    // Batches that end inside windows and cross them, so that fragments,
    // seals and several window keys are all exercised.
    let (plain, bare) = (decisions(5, 700), unsalted(5, 700));
    for (a, b) in plain.chunks(90).zip(bare.chunks(90)) {
        let want = salted.append(a.to_vec(), 7).unwrap();
        let got = derived.append(b.to_vec(), 7).unwrap();
        assert_eq!(seqs(&got), seqs(&want));
    }
    // A repeat of an idempotency key, unsalted, in the batch and after it.
    let line = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2,"idempotency_key":"k"}"#;
    let bare_one = || Append::Unsalted(DecisionInput::parse(line.as_bytes()).unwrap().unsalted());
    let first = derived.append(vec![bare_one(), bare_one()], 8).unwrap();
    assert!(!first[0].duplicate && first[1].duplicate);
    assert_eq!(first[1].seq, first[0].seq);
    let again = derived.append(vec![bare_one()], 9).unwrap();
    assert_eq!(again[0], first[1], "the first receipt, marked a repeat");
    assert_eq!(derived.size(), salted.size() + 1);
    same_payloads_new_salts(&salted, &derived, salted.size());
    let derived = Ledger::open(h2.reopen(derived.into_backend())).unwrap();
    // Reopened inside a window: later decisions there still get salts.
    derived.append(unsalted(6, 30), 10).unwrap();
    let report = verify_all(&derived);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.payloads_checked, 2 * derived.size());
}

fn redaction_erases_payloads_and_verify_says_so<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 20);
    let red = RedactionV1 {
        target_seq: 5,
        slots: vec![PayloadSlot::Input, PayloadSlot::Output],
        reason: "GDPR request 42".into(),
        actor: "dpo@example.com".into(),
    };
    let r = l.append(vec![Append::Redaction(red.clone())], 9).unwrap();
    assert_eq!(r[0].seq, 20);
    assert!(l.payload(5, PayloadSlot::Input).unwrap().is_none());
    assert_eq!(l.redactions_of(5).unwrap(), vec![20]);
    let report = verify_all(&l);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.erased.len(), 2);
    assert!(report.erased.iter().all(|e| e.seq == 5 && e.by == 20));
    assert!(
        l.append(vec![Append::Redaction(red)], 9).is_err(),
        "cannot erase twice"
    );
    let not_decision = RedactionV1 {
        target_seq: 20,
        slots: vec![PayloadSlot::Input],
        reason: "x".into(),
        actor: "y".into(),
    };
    assert!(l.append(vec![Append::Redaction(not_decision)], 9).is_err());
    assert_eq!(l.size(), 21, "failed redactions append nothing");
}

fn a_payload_restored_after_its_redaction_is_never_served<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 12);
    let before = l.payload_slot(5, PayloadSlot::Input).unwrap().unwrap();
    assert!(matches!(before, Slot::Stored(_)));
    assert!(l.payload(5, PayloadSlot::Input).unwrap().is_some());
    let red = RedactionV1 {
        target_seq: 5,
        slots: vec![PayloadSlot::Input],
        reason: "GDPR request 43".into(),
        actor: "dpo@example.com".into(),
    };
    let r = l.append(vec![Append::Redaction(red)], 9).unwrap();
    // The erased bytes come back below the API, as from an old backup.
    tamper::set_payload(&l, 5, PayloadSlot::Input, before).unwrap();
    // A read before the redaction is indexed, and then the indexing: what the
    // reader learnt of the redaction index must not outlive it.
    assert!(l.payload(5, PayloadSlot::Output).unwrap().is_some());
    l.index_pending(100).unwrap();
    assert!(matches!(
        l.payload_slot(5, PayloadSlot::Input).unwrap(),
        Some(Slot::Stored(_))
    ));
    assert!(l.payload(5, PayloadSlot::Input).unwrap().is_none());
    assert_eq!(
        l.payload_state(5, PayloadSlot::Input).unwrap(),
        PayloadState::Erased { by: vec![r[0].seq] }
    );
    // The other payloads are served as before.
    assert!(l.payload(5, PayloadSlot::Output).unwrap().is_some());
    assert!(l.payload(6, PayloadSlot::Input).unwrap().is_some());
    let report = verify_all(&l);
    let d = report.damage.first().expect("a restored payload is damage");
    assert_eq!(d.seq, Some(5), "{:?}", report.damage);
    assert!(d.detail.contains("stored again"), "{}", d.detail);
}

/// Layout 2 trains no compression dictionary (a dictionary is a copy of its
/// samples, which may have to be erased): nothing to write, nothing whose
/// training could hold appends back.
fn no_compression_dictionary_is_ever_written<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 3_000);
    l.index_pending(10_000).unwrap();
    let end = keys::prefix_end(keys::meta::DICT_PREFIX);
    let dicts = l
        .backend()
        .scan(Cf::Meta, keys::meta::DICT_PREFIX, &end)
        .count();
    assert_eq!(dicts, 0);
    assert!(verify_all(&l).intact());
}

fn indexes_match_a_scan<H: Harness>() {
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

fn shared_value_indexes_match_a_scan<H: Harness>() {
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

fn payload_state_tells_stored_erased_and_missing_apart<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 10);
    let only_input = RedactionV1 {
        target_seq: 3,
        slots: vec![PayloadSlot::Input],
        reason: "GDPR request 7".into(),
        actor: "dpo@example.com".into(),
    };
    // A redaction of another entry's payloads must not count for entry 3.
    let other = RedactionV1 {
        target_seq: 4,
        ..only_input.clone()
    };
    let r = l
        .append(
            vec![Append::Redaction(other), Append::Redaction(only_input)],
            9,
        )
        .unwrap();
    assert_eq!((r[0].seq, r[1].seq), (10, 11));
    assert_eq!(
        l.payload_state(3, PayloadSlot::Input).unwrap(),
        PayloadState::Erased { by: vec![11] }
    );
    let stored = l.payload(3, PayloadSlot::Output).unwrap().unwrap();
    assert_eq!(
        l.payload_state(3, PayloadSlot::Output).unwrap(),
        PayloadState::Stored(stored)
    );
    // Gone below the API with no redaction: damage, not an erasure.
    tamper::set_payload(&l, 3, PayloadSlot::Output, Slot::None).unwrap();
    tamper::set_payload(&l, 6, PayloadSlot::Input, Slot::None).unwrap();
    assert_eq!(
        l.payload_state(3, PayloadSlot::Output).unwrap(),
        PayloadState::Missing
    );
    assert_eq!(
        l.payload_state(6, PayloadSlot::Input).unwrap(),
        PayloadState::Missing
    );
}

fn payload_states_of_many_answer_as_one_by_one<H: Harness>() {
    let h = H::new();
    // Sealed windows, then an open window held as fragments.
    let l = new_ledger(&h, 600);
    for d in decisions(2, 20) {
        l.append(vec![d], 2_000).unwrap();
    }
    let erase = |target_seq, slots| {
        Append::Redaction(RedactionV1 {
            target_seq,
            slots,
            reason: "test".into(),
            actor: "dpo@example.com".into(),
        })
    };
    l.append(
        vec![
            erase(5, vec![PayloadSlot::Input]),
            erase(300, vec![PayloadSlot::Input, PayloadSlot::Output]),
            erase(610, vec![PayloadSlot::Output]),
        ],
        3_000,
    )
    .unwrap();
    tamper::set_payload(&l, 7, PayloadSlot::Output, Slot::None).unwrap();
    // Scattered, out of order, repeated, and a redaction entry (no payloads).
    let seqs = [619, 5, 300, 0, 255, 256, 7, 610, 5, 620, 511, 12, 600, 599];
    let many = l.payload_states(&seqs).unwrap();
    let one_by_one: Vec<[PayloadState; 2]> = seqs
        .iter()
        .map(|&seq| PayloadSlot::ALL.map(|slot| l.payload_state(seq, slot).unwrap()))
        .collect();
    assert_eq!(many, one_by_one);
    assert_eq!(many[1][0], PayloadState::Erased { by: vec![620] });
    assert_eq!(many[6][1], PayloadState::Missing);
    assert_eq!(many[9], [PayloadState::Missing, PayloadState::Missing]);
    assert!(matches!(many[0][0], PayloadState::Stored(_)));
}

fn the_indexer_catches_up_and_its_check_finds_a_lost_posting<H: Harness>() {
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

fn request_and_trace_ids_are_found_through_their_buckets<H: Harness>() {
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

fn indexes_of_the_older_format_are_dropped_and_built_again<H: Harness>() {
    use cairn_store::keys::meta;
    older_indexes_are_dropped_and_built_again::<H>(meta::INDEXED_V1, b'r');
    older_indexes_are_dropped_and_built_again::<H>(meta::INDEXED_V2, b'E');
}

/// A ledger made to look as if its indexes were of an older format: that
/// format's watermark, and a key of the older kind (`tag`: `r` a request id
/// key of format 1, `E` a session list of format 2).
fn older_indexes_are_dropped_and_built_again<H: Harness>(watermark: &[u8], tag: u8) {
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

fn a_query_answers_alike_before_and_after_indexing<H: Harness>() {
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

fn a_subjects_hour_is_narrowed_by_time_before_entries_are_read<H: Harness>() {
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

fn tampering_is_diagnosed<H: Harness>() {
    let h = H::new();
    // Altered: one byte of entry 7's canonical bytes (in its time, after the
    // seq and the `prev_hash` that bundles do not store), rewritten in its bundle.
    let l = new_ledger(&h, 50);
    let mut bytes = l.entry_bytes(7).unwrap().unwrap();
    bytes[45] ^= 1;
    tamper::set_entry(&l, 7, bytes).unwrap();
    let r = verify_all(&l);
    let d = r.first_damage().unwrap();
    assert_eq!((d.seq, d.kind), (Some(7), DamageKind::Altered), "{r:?}");

    // Missing: entry 12 deleted.
    let h = H::new();
    let l = new_ledger(&h, 50);
    tamper::delete_entry(&l, 12).unwrap();
    let d = verify_all(&l).first_damage().cloned().unwrap();
    assert_eq!((d.seq, d.kind), (Some(12), DamageKind::Missing));

    // Reordered: entries 3 and 4 swapped.
    let h = H::new();
    let l = new_ledger(&h, 50);
    tamper::swap_entries(&l, 3, 4).unwrap();
    let d = verify_all(&l).first_damage().cloned().unwrap();
    assert_eq!((d.seq, d.kind), (Some(3), DamageKind::Reordered));

    // Commitment mismatch: a payload replaced.
    let h = H::new();
    let l = new_ledger(&h, 50);
    let mut p = l.payload(9, PayloadSlot::Output).unwrap().unwrap();
    p.bytes = br#"{"decision":"approve"}"#.to_vec();
    let raw = [&p.salt[..], &p.bytes].concat();
    tamper::set_payload(&l, 9, PayloadSlot::Output, Slot::Stored(raw)).unwrap();
    let d = verify_all(&l).first_damage().cloned().unwrap();
    assert_eq!((d.seq, d.kind), (Some(9), DamageKind::CommitmentMismatch));

    // A payload deleted without a redaction entry.
    tamper::set_payload(&l, 11, PayloadSlot::Input, Slot::None).unwrap();
    let r = verify_all(&l);
    assert!(r
        .damage
        .iter()
        .any(|d| d.seq == Some(11) && d.kind == DamageKind::PayloadMissing));

    // A payload marked erased by an entry that is no redaction of it.
    tamper::set_payload(&l, 13, PayloadSlot::Input, Slot::Erased(20)).unwrap();
    let r = verify_all(&l);
    assert!(r
        .damage
        .iter()
        .any(|d| d.seq == Some(13) && d.kind == DamageKind::PayloadMissing));
}

fn rewriting_an_entry_and_its_leaf_is_caught_by_the_next_link<H: Harness>() {
    // Large enough that verification splits the walk across threads; the rewritten
    // entry sits right before the split, so only the next chunk's link can see it.
    let h = H::new();
    let l = new_ledger(&h, 9000);
    let target = 4607u64;
    let mut bytes = l.entry_bytes(target).unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let leaf = cairn_core::hash::leaf_hash(&bytes);
    tamper::set_entry(&l, target, bytes).unwrap();
    tamper::set_leaf(&l, target, leaf).unwrap();
    // The rewritten leaf no longer hashes into the tree above it, and the next
    // entry, whose `prev_hash` is that leaf, no longer hashes to its own: both
    // are seen although the walk is split right after the target.
    let r = verify_all(&l);
    assert!(
        r.damage
            .iter()
            .any(|d| d.seq == Some(target) && d.kind == DamageKind::TreeMismatch),
        "{:?}",
        r.damage
    );
    assert!(
        r.damage
            .iter()
            .any(|d| d.seq == Some(target + 1) && d.kind == DamageKind::Altered),
        "{:?}",
        r.damage
    );
    assert_eq!(r.entries_checked, 9000);
}

fn a_range_is_tied_to_a_signed_root<H: Harness>() {
    // An attacker rewrites entry 300 and the leaf the tree stores for it, so
    // that the entry matches its own leaf and the next entry's link; the stored
    // tree above it and the signed checkpoint still hold the true history.
    let h = H::new();
    let l = new_ledger(&h, 600);
    let signer = cairn_core::checkpoint::NoteSigner::new(l.origin(), &[7; 32]).unwrap();
    let cp = cairn_core::checkpoint::Checkpoint {
        origin: l.origin().to_owned(),
        size: 600,
        root: merkle::root(&Blake3Hasher, &l.nodes(), 600).unwrap(),
        extensions: vec![],
    };
    l.put_checkpoint(600, &signer.sign_checkpoint(&cp)).unwrap();
    let key = signer.verifier();
    let range = |from: u64, to: u64| {
        verify(
            &l,
            VerifyOptions {
                from,
                to: Some(to),
                verifier: Some(&key),
                ..VerifyOptions::default()
            },
        )
        .unwrap()
    };
    let before = range(290, 310);
    assert!(before.intact(), "{:?}", before.damage);
    assert_eq!(before.anchored, Some(600));

    let target = 300u64;
    let mut bytes = l.entry_bytes(target).unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let leaf = cairn_core::hash::leaf_hash(&bytes);
    tamper::set_entry(&l, target, bytes).unwrap();
    tamper::set_leaf(&l, target, leaf).unwrap();
    // Every range holding the entry (but not the next one) sees it.
    for (from, to) in [(300, 301), (290, 301), (256, 301)] {
        let r = range(from, to);
        assert!(
            r.damage.iter().any(|d| d.kind == DamageKind::Rewritten),
            "{from}..{to}: {:?}",
            r.damage
        );
        assert!(
            r.damage
                .iter()
                .any(|d| d.kind == DamageKind::TreeMismatch && d.seq == Some(from)),
            "{from}..{to}: {:?}",
            r.damage
        );
    }
    // A range that does not hold it stays intact.
    assert!(range(0, 256).intact());
    assert!(range(512, 600).intact());
}

fn a_damaged_tail_refuses_appends<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 30);
    let mut bytes = l.entry_bytes(29).unwrap().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    tamper::set_entry(&l, 29, bytes).unwrap();
    let err = Ledger::open(h.reopen(l.into_backend())).unwrap_err();
    assert!(
        matches!(err, StoreError::TailBroken { seq: 29, .. }),
        "{err}"
    );
}

fn a_batch_applies_operations_on_one_key_in_order<H: Harness>() {
    let h = H::new();
    let b = h.create();
    let mut batch = WriteBatch::default();
    // Families and keys interleaved and out of order, with repeats of a key.
    batch.put(Cf::Index, b"k2".to_vec(), b"a".to_vec());
    batch.put(Cf::Meta, b"m".to_vec(), b"1".to_vec());
    batch.put(Cf::Index, b"k1".to_vec(), b"b".to_vec());
    batch.delete(Cf::Index, b"k2".to_vec());
    batch.put(Cf::Meta, b"m".to_vec(), b"2".to_vec());
    batch.put(Cf::Index, b"k1".to_vec(), b"c".to_vec());
    batch.put(Cf::Nodes, b"n".to_vec(), b"x".to_vec());
    batch.delete(Cf::Nodes, b"n".to_vec());
    batch.put(Cf::Nodes, b"n".to_vec(), b"y".to_vec());
    b.write(batch).unwrap();
    let b = h.reopen(b);
    assert_eq!(b.get(Cf::Index, b"k1").unwrap(), Some(b"c".to_vec()));
    assert_eq!(b.get(Cf::Index, b"k2").unwrap(), None);
    assert_eq!(b.get(Cf::Meta, b"m").unwrap(), Some(b"2".to_vec()));
    assert_eq!(b.get(Cf::Nodes, b"n").unwrap(), Some(b"y".to_vec()));
}

fn a_batch_appends_what_its_decisions_append_one_by_one<H: Harness>() {
    // 300 synthetic decisions (some with idempotency keys) and ten of them
    // again at the end: repeats within the batch.
    let mut items = decisions(11, 300);
    items.extend(items[40..50].to_vec());
    let keyed = |a: &Append| matches!(a, Append::Decision(d) if d.body.idempotency_key.is_some());
    assert!(
        items[40..50].iter().any(keyed),
        "the synthetic set has keyed decisions"
    );
    let (ha, hb) = (H::new(), H::new());
    let (a, b) = (
        Ledger::create(ha.create(), "t").unwrap(),
        Ledger::create(hb.create(), "t").unwrap(),
    );
    let together = a.append(items.clone(), 5).unwrap();
    let one_by_one: Vec<cairn_store::Receipt> = items
        .iter()
        .flat_map(|i| b.append(vec![i.clone()], 5).unwrap())
        .collect();
    assert_eq!(together, one_by_one);
    assert_eq!((a.size(), a.root()), (b.size(), b.root()));
    assert!(together.iter().any(|r| r.duplicate));
    for seq in 0..a.size() {
        assert_eq!(a.entry(seq).unwrap(), b.entry(seq).unwrap());
    }
    // The same batch again: every keyed decision repeats one in the ledger.
    let again = a.append(items.clone(), 6).unwrap();
    for (item, (first, second)) in items.iter().zip(together.iter().zip(&again)) {
        if keyed(item) {
            assert!(second.duplicate);
            assert_eq!((second.seq, second.leaf_hash), (first.seq, first.leaf_hash));
        }
    }
    let report = verify_all(&a);
    assert!(report.intact(), "{:?}", report.damage);
}

fn a_batch_across_windows_stores_what_single_appends_store<H: Harness>() {
    // 100 single decisions, then one batch of 700 that starts mid-window:
    // it seals the open window, fills two more whole, and leaves a fragment.
    let items = decisions(12, 800);
    let (ha, hb) = (H::new(), H::new());
    let (a, b) = (
        Ledger::create(ha.create(), "t").unwrap(),
        Ledger::create(hb.create(), "t").unwrap(),
    );
    for item in &items[..100] {
        a.append(vec![item.clone()], 5).unwrap();
    }
    a.append(items[100..].to_vec(), 5).unwrap();
    for item in &items {
        b.append(vec![item.clone()], 5).unwrap();
    }
    assert_eq!((a.size(), a.root()), (b.size(), b.root()));
    for cf in [Cf::Bundles, Cf::PayloadBundles] {
        let stored = |l: &Ledger<H::B>| -> Vec<(u64, Vec<u8>)> {
            l.backend()
                .scan(cf, &[], &[0xff; 9])
                .map(|r| {
                    let (k, v) = r.unwrap();
                    (keys::parse_seq(&k).unwrap(), v.to_vec())
                })
                .collect()
        };
        let (sa, sb) = (stored(&a), stored(&b));
        let keys_a: Vec<u64> = sa.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys_a, vec![0, 256, 512, 768], "{cf:?}");
        // The fragment (768..800) is compressed too, at a faster level.
        assert_eq!(sa[3].1.first(), Some(&1), "{cf:?}: zstd codec");
        // The sealed windows are the same bytes however they were appended;
        // payload pieces hold the same slots (each ledger draws its own window
        // keys, so their bytes differ).
        for (i, window) in [0u64, 256, 512].iter().enumerate() {
            let other = sb.iter().find(|(k, _)| k == window).unwrap();
            if cf == Cf::Bundles {
                assert_eq!(sa[i].1, other.1, "{cf:?} window {window}");
            } else {
                assert_eq!(
                    a.decode_payload_piece(*window, &sa[i].1).unwrap(),
                    b.decode_payload_piece(*window, &other.1).unwrap(),
                    "{cf:?} window {window}"
                );
            }
        }
    }
    for seq in 0..800 {
        assert_eq!(a.entry(seq).unwrap(), b.entry(seq).unwrap());
    }
    let report = verify_all(&a);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.payloads_checked, 1600);
}

macro_rules! conformance {
    ($module:ident, $harness:ty) => {
        mod $module {
            use super::*;
            #[test]
            fn a_batch_applies_operations_on_one_key_in_order() {
                super::a_batch_applies_operations_on_one_key_in_order::<$harness>();
            }
            #[test]
            fn the_indexer_catches_up_and_its_check_finds_a_lost_posting() {
                super::the_indexer_catches_up_and_its_check_finds_a_lost_posting::<$harness>();
            }
            #[test]
            fn a_query_answers_alike_before_and_after_indexing() {
                super::a_query_answers_alike_before_and_after_indexing::<$harness>();
            }
            #[test]
            fn a_subjects_hour_is_narrowed_by_time_before_entries_are_read() {
                super::a_subjects_hour_is_narrowed_by_time_before_entries_are_read::<$harness>();
            }
            #[test]
            fn appends_are_chained_and_readable() {
                super::appends_are_chained_and_readable::<$harness>();
            }
            #[test]
            fn reopen_recovers_the_head() {
                super::reopen_recovers_the_head::<$harness>();
            }
            #[test]
            fn proofs_verify_against_roots() {
                super::proofs_verify_against_roots::<$harness>();
            }
            #[test]
            fn a_batch_across_windows_stores_what_single_appends_store() {
                super::a_batch_across_windows_stores_what_single_appends_store::<$harness>();
            }
            #[test]
            fn a_batch_appends_what_its_decisions_append_one_by_one() {
                super::a_batch_appends_what_its_decisions_append_one_by_one::<$harness>();
            }
            #[test]
            fn idempotency_keys_append_once() {
                super::idempotency_keys_append_once::<$harness>();
            }
            #[test]
            fn single_appends_are_sealed_into_one_bundle_per_window() {
                super::single_appends_are_sealed_into_one_bundle_per_window::<$harness>();
            }
            #[test]
            fn small_groups_inline_are_stored_as_on_the_pool() {
                super::small_groups_inline_are_stored_as_on_the_pool::<$harness>();
            }
            #[test]
            fn unsalted_decisions_are_stored_like_salted_ones() {
                super::unsalted_decisions_are_stored_like_salted_ones::<$harness>();
            }
            #[test]
            fn request_and_trace_ids_are_found_through_their_buckets() {
                super::request_and_trace_ids_are_found_through_their_buckets::<$harness>();
            }
            #[test]
            fn indexes_of_the_older_format_are_dropped_and_built_again() {
                super::indexes_of_the_older_format_are_dropped_and_built_again::<$harness>();
            }
            #[test]
            fn payload_states_of_many_answer_as_one_by_one() {
                super::payload_states_of_many_answer_as_one_by_one::<$harness>();
            }
            #[test]
            fn payload_state_tells_stored_erased_and_missing_apart() {
                super::payload_state_tells_stored_erased_and_missing_apart::<$harness>();
            }
            #[test]
            fn a_payload_restored_after_its_redaction_is_never_served() {
                super::a_payload_restored_after_its_redaction_is_never_served::<$harness>();
            }
            #[test]
            fn no_compression_dictionary_is_ever_written() {
                super::no_compression_dictionary_is_ever_written::<$harness>();
            }
            #[test]
            fn redaction_erases_payloads_and_verify_says_so() {
                super::redaction_erases_payloads_and_verify_says_so::<$harness>();
            }
            #[test]
            fn shared_value_indexes_match_a_scan() {
                super::shared_value_indexes_match_a_scan::<$harness>();
            }

            #[test]
            fn indexes_match_a_scan() {
                super::indexes_match_a_scan::<$harness>();
            }
            #[test]
            fn tampering_is_diagnosed() {
                super::tampering_is_diagnosed::<$harness>();
            }
            #[test]
            fn rewriting_an_entry_and_its_leaf_is_caught_by_the_next_link() {
                super::rewriting_an_entry_and_its_leaf_is_caught_by_the_next_link::<$harness>();
            }
            #[test]
            fn a_range_is_tied_to_a_signed_root() {
                super::a_range_is_tied_to_a_signed_root::<$harness>();
            }
            #[test]
            fn a_damaged_tail_refuses_appends() {
                super::a_damaged_tail_refuses_appends::<$harness>();
            }
        }
    };
}

conformance!(memory, Memory);
conformance!(rocksdb, Rocks);

#[test]
fn a_failed_write_poisons_the_ledger_until_reopened() {
    let l = Ledger::create(MemoryBackend::new(), "t").unwrap();
    l.append(decisions(1, 3), 1).unwrap();
    l.backend().fail_writes("disk full");
    let err = l.append(decisions(2, 2), 2).unwrap_err();
    assert!(err.to_string().contains("disk full"));
    assert_eq!(l.size(), 3, "nothing of the failed batch is counted");
    let err = l.append(decisions(3, 1), 3).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err}");
    let l = Ledger::open(l.into_backend()).unwrap();
    assert_eq!(l.size(), 3, "nothing half-written");
    assert!(verify_all(&l).intact());
}

#[test]
fn a_ledger_open_for_writing_elsewhere_is_named_in_use_and_still_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let writer = Ledger::create(RocksBackend::create(&path).unwrap(), "t").unwrap();
    writer.append(decisions(1, 2), 1).unwrap();
    let err = RocksBackend::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    assert!(err.to_string().contains("stop it first"), "{err}");
    let reader = Ledger::open_unchecked(RocksBackend::open_read_only(&path).unwrap()).unwrap();
    assert_eq!(reader.size(), 2);
}
