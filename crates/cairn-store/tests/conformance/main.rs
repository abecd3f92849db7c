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

mod indexes;
mod payloads;
mod tampering;

use indexes::*;
use payloads::*;
use tampering::*;

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
            fn damaged_metadata_and_keys_are_reported_never_endless_or_fatal() {
                super::damaged_metadata_and_keys_are_reported_never_endless_or_fatal::<$harness>();
            }
            #[test]
            fn a_cut_window_whose_large_payloads_were_erased_is_sealed_whole() {
                super::a_cut_window_whose_large_payloads_were_erased_is_sealed_whole::<$harness>();
            }
            #[test]
            fn large_decisions_are_cut_into_pieces_and_stay_readable() {
                super::large_decisions_are_cut_into_pieces_and_stay_readable::<$harness>();
            }
            #[test]
            fn a_decision_over_the_payload_limit_is_refused_and_nothing_appended() {
                super::a_decision_over_the_payload_limit_is_refused_and_nothing_appended::<$harness>();
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
