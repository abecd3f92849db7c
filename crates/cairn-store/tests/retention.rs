//! Local retention: which windows a ledger lets go once archived, and what
//! the local store holds afterwards, on both backends.
#![allow(clippy::unwrap_used, missing_docs)]

use cairn_core::decision::DecisionInput;
use cairn_core::entry::{PayloadSlot, RedactionV1};
use cairn_store::keys;
use cairn_store::retention::Retention;
use cairn_store::{Append, Backend, Cf, Ledger, MemoryBackend, RocksBackend, StoreError};
use cairn_synth::{Synth, SynthConfig};

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
            let mut a = [7u8; 32];
            a[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Append::Decision(d.prepare(a, [9u8; 32]))
        })
        .collect()
}

fn filled<B: Backend>(backend: B, n: u64, recorded_at_us: impl Fn(u64) -> i64) -> Ledger<B> {
    let l = Ledger::create(backend, "test.example/retention").unwrap();
    for (i, chunk) in decisions(5, n).chunks(100).enumerate() {
        l.append(chunk.to_vec(), recorded_at_us(i as u64 * 100))
            .unwrap();
    }
    l.index_all().unwrap();
    l
}

fn local_bundle_keys<B: Backend>(l: &Ledger<B>, cf: Cf) -> Vec<u64> {
    l.backend()
        .scan(cf, &[], &[0xff; 9])
        .map(|r| keys::parse_seq(&r.unwrap().0).unwrap())
        .collect()
}

fn only_archived_sealed_windows_go_and_never_the_tail<B: Backend>(backend: B) {
    let l = filled(backend, 1000, |_| 1_000);
    // The archive holds 700 entries: windows 0 and 1 are whole in it.
    let d = l.drop_windows(u64::MAX, 700).unwrap();
    assert_eq!((d.from, d.to, d.windows()), (0, 512, 2));
    assert_eq!(l.dropped_below().unwrap(), 512);
    for cf in [Cf::Bundles, Cf::PayloadBundles] {
        let keys = local_bundle_keys(&l, cf);
        assert!(keys.iter().all(|&k| k >= 512), "{}: {keys:?}", cf.name());
        assert!(keys.contains(&512) && keys.contains(&768));
    }
    // Below the ledger, the dropped entries are gone; the rest reads.
    assert!(matches!(l.entry(3), Err(StoreError::Corrupt { .. })));
    assert_eq!(l.entry(512).unwrap().seq, 512);
    // Nothing past the index's watermark goes.
    l.append(decisions(7, 300), 2_000).unwrap();
    assert_eq!(l.drop_windows(u64::MAX, 1300).unwrap().to, 768);
    l.index_all().unwrap();
    // Everything archived: still the window of the last entry stays.
    let d = l.drop_windows(u64::MAX, 1300).unwrap();
    assert_eq!((d.from, d.to), (768, 1280));
    assert_eq!(l.drop_windows(u64::MAX, 1300).unwrap().windows(), 0);
    // Dropped data is not needed to reopen and append.
    let backend = l.into_backend();
    let l = Ledger::open(backend).unwrap();
    assert_eq!(l.dropped_below().unwrap(), 1280);
    l.append(decisions(6, 3), 2_000).unwrap();
    assert_eq!(l.size(), 1303);
    assert_eq!(l.entry(1302).unwrap().seq, 1302);
}

#[test]
fn only_archived_sealed_windows_go_and_never_the_tail_in_memory() {
    only_archived_sealed_windows_go_and_never_the_tail(MemoryBackend::new());
}

#[test]
fn only_archived_sealed_windows_go_and_never_the_tail_in_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    only_archived_sealed_windows_go_and_never_the_tail(
        RocksBackend::create(&dir.path().join("db")).unwrap(),
    );
}

#[test]
fn a_window_whose_erasure_is_not_archived_stays() {
    let l = filled(MemoryBackend::new(), 1000, |_| 1_000);
    let erase = RedactionV1 {
        target_seq: 300,
        slots: vec![PayloadSlot::Input],
        reason: "GDPR request".into(),
        actor: "dpo@example.com".into(),
    };
    let r = l.append(vec![Append::Redaction(erase)], 2_000).unwrap();
    assert_eq!(r[0].seq, 1000);
    // The archive holds entries below 1000 but not the redaction: its copy of
    // window 1 still holds the payload, so window 1 stays, read from the
    // entries above the index's watermark...
    assert_eq!(l.drop_windows(u64::MAX, 1000).unwrap().to, 256);
    // ... and from the redaction index once indexed.
    l.index_all().unwrap();
    assert_eq!(l.drop_windows(u64::MAX, 1000).unwrap().to, 256);
    // Once the archive covers the redaction, it goes.
    assert_eq!(l.drop_windows(u64::MAX, 1001).unwrap().to, 768);
}

#[test]
fn an_age_keeps_the_windows_recorded_since() {
    // Window w's entries recorded at second 10·w (two appends of 100 per 100 s).
    let l = filled(MemoryBackend::new(), 2048, |seq| {
        (seq / 256) as i64 * 10_000_000
    });
    let age: Retention = "25s".parse().unwrap();
    // At second 70, windows with newest entries before second 45 are old:
    // windows 0 to 4 (their last entries at 0, 10, 20, 30, 40 s).
    let below = age.below(&l, 2048, 70_000_000).unwrap();
    assert_eq!(below, 5 * 256);
    // The archive's watermark bounds it.
    assert_eq!(age.below(&l, 600, 70_000_000).unwrap(), 512);
}

fn a_size_drops_the_oldest_windows_beyond_it<B: Backend>(backend: B) {
    let l = filled(backend, 2048, |_| 1_000);
    // What the size counts is on disk: out of the memtables first.
    l.backend().flush().unwrap();
    let all: u64 = [Cf::Bundles, Cf::PayloadBundles]
        .iter()
        .map(|cf| l.backend().family_bytes(*cf).unwrap())
        .sum();
    let keep_half = Retention::Bytes(all / 2);
    let below = keep_half.below(&l, 2048, 0).unwrap();
    assert!((3 * 256..=5 * 256).contains(&below), "{below}");
    l.drop_windows(below, 2048).unwrap();
    let left: u64 = [Cf::Bundles, Cf::PayloadBundles]
        .iter()
        .map(|cf| l.backend().family_bytes(*cf).unwrap())
        .sum();
    assert!(left <= all / 2 + all / 8, "{left} of {all} left");
    assert_eq!(
        Retention::Bytes(u64::MAX).below(&l, 2048, 0).unwrap(),
        below
    );
}

#[test]
fn a_size_drops_the_oldest_windows_beyond_it_in_memory() {
    a_size_drops_the_oldest_windows_beyond_it(MemoryBackend::new());
}

#[test]
fn a_size_drops_the_oldest_windows_beyond_it_in_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    a_size_drops_the_oldest_windows_beyond_it(
        RocksBackend::create(&dir.path().join("db")).unwrap(),
    );
}
