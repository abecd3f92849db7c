//! Local retention over a real object store: a ledger that dropped its
//! archived windows reads them from the bucket as if they were local, erases
//! payloads in them, verifies whole, and says clearly when the bucket cannot
//! be read. Against a local directory here, and SeaweedFS's S3 gateway when
//! `scripts/archive-tests.sh` runs these with `--include-ignored`.
#![allow(clippy::unwrap_used, missing_docs)]

use cairn_archive::{archive, Bucket, Layered};
use cairn_core::checkpoint::{Checkpoint, NoteSigner};
use cairn_core::decision::DecisionInput;
use cairn_core::entry::{PayloadSlot, RedactionV1};
use cairn_store::verify::{verify, VerifyOptions};
use cairn_store::{keys, Append, Backend, Cf, Ledger, MemoryBackend, PayloadState, StoreError};
use cairn_synth::{Synth, SynthConfig};

const ORIGIN: &str = "test.example/retention";
const CACHE_BYTES: u64 = 1 << 20;

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, &[6u8; 32]).unwrap()
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
            let mut salt = [7u8; 32];
            salt[..8].copy_from_slice(&(i as u64 ^ seed).to_le_bytes());
            Append::Decision(d.prepare(salt, [9u8; 32]))
        })
        .collect()
}

type Retained = Ledger<Layered<MemoryBackend>>;

fn checkpoint(l: &Retained) {
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: l.size(),
        root: l.root(),
        extensions: vec![],
    };
    l.put_checkpoint(cp.size, &signer().sign_checkpoint(&cp))
        .unwrap();
}

/// A ledger of `n` decisions, archived and indexed, with every window it may
/// drop dropped.
fn dropped_ledger(url: &str, n: u64) -> Retained {
    let local = Layered::with_archive(MemoryBackend::new(), url, CACHE_BYTES).unwrap();
    let l = Ledger::create(local, ORIGIN).unwrap();
    for chunk in decisions(3, n).chunks(200) {
        l.append(chunk.to_vec(), 1_700_000_000_000_000).unwrap();
        checkpoint(&l);
    }
    l.index_all().unwrap();
    let bucket = Bucket::open(url).unwrap();
    let run = archive(&l, &bucket, &mut |_, _| {}).unwrap();
    assert_eq!(run.through, n);
    l.drop_windows(u64::MAX, run.through).unwrap();
    l
}

fn local_keys(l: &Retained, cf: Cf) -> Vec<u64> {
    l.backend()
        .local()
        .scan(cf, &[], &[0xff; 9])
        .map(|r| keys::parse_seq(&r.unwrap().0).unwrap())
        .collect()
}

fn dropped_windows_read_as_if_local(url: &str) {
    // The same decisions in a ledger that keeps everything, to compare with.
    let whole = Ledger::create(MemoryBackend::new(), ORIGIN).unwrap();
    for chunk in decisions(3, 1100).chunks(200) {
        whole.append(chunk.to_vec(), 1_700_000_000_000_000).unwrap();
    }
    let l = dropped_ledger(url, 1100);
    assert_eq!(l.dropped_below().unwrap(), 1024);
    assert!(local_keys(&l, Cf::Bundles).iter().all(|&k| k >= 1024));
    assert!(local_keys(&l, Cf::PayloadBundles)
        .iter()
        .all(|&k| k >= 1024));
    for seq in [0, 255, 256, 700, 1023, 1024, 1099] {
        assert_eq!(l.entry(seq).unwrap(), whole.entry(seq).unwrap(), "{seq}");
        assert_eq!(
            l.payload(seq, PayloadSlot::Output).unwrap(),
            whole.payload(seq, PayloadSlot::Output).unwrap()
        );
        assert_eq!(
            l.inclusion_proof(seq, 1100).unwrap(),
            whole.inclusion_proof(seq, 1100).unwrap()
        );
    }
    let stats = l.backend().archive().unwrap().stats();
    assert!(
        stats.fetches >= 2 && stats.cache.bytes <= CACHE_BYTES,
        "{stats:?}"
    );
    // `verify` walks the whole ledger, the dropped part read from the bucket.
    let report = verify(
        &l,
        VerifyOptions {
            verifier: Some(&signer().verifier()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.entries_checked, 1100);
    assert_eq!(report.root, Some(whole.root()));
}

fn erasure_in_a_dropped_window(url: &str) {
    let l = dropped_ledger(url, 600);
    assert_eq!(l.dropped_below().unwrap(), 512);
    let PayloadState::Stored(secret) = l.payload_state(10, PayloadSlot::Input).unwrap() else {
        panic!("the payload is read from the bucket")
    };
    let erase = RedactionV1 {
        target_seq: 10,
        slots: vec![PayloadSlot::Input],
        reason: "erasure request".into(),
        actor: "dpo@example.com".into(),
    };
    l.append(vec![Append::Redaction(erase)], 1_700_000_000_000_000)
        .unwrap();
    // At once, before the archive catches up: the local rewrite wins.
    assert_eq!(
        l.payload_state(10, PayloadSlot::Input).unwrap(),
        PayloadState::Erased { by: vec![600] }
    );
    assert_eq!(local_keys(&l, Cf::PayloadBundles)[0], 0);
    checkpoint(&l);
    let bucket = Bucket::open(url).unwrap();
    let run = archive(&l, &bucket, &mut |_, _| {}).unwrap();
    assert_eq!(run.rewritten, 1);
    let stored = bucket.get("tile/payloads/000").unwrap().unwrap();
    let raw = cairn_store::codec::Codec::new()
        .decompress(&stored, &|| "payloads".to_owned())
        .unwrap();
    assert!(
        !raw.windows(32).any(|w| w == secret.salt.as_slice()),
        "the bucket keeps no copy of the erased payload"
    );
    let report = verify(&l, VerifyOptions::default()).unwrap();
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.erased.len(), 1);
}

#[test]
fn file_dropped_windows_read_as_if_local() {
    let d = tempfile::tempdir().unwrap();
    dropped_windows_read_as_if_local(&file_url(&d));
}

#[test]
fn file_erasure_in_a_dropped_window() {
    let d = tempfile::tempdir().unwrap();
    erasure_in_a_dropped_window(&file_url(&d));
}

#[test]
fn an_unreadable_archive_is_an_error_naming_it_and_the_seqs() {
    let d = tempfile::tempdir().unwrap();
    let url = file_url(&d);
    let l = dropped_ledger(&url, 600);
    std::fs::rename(d.path().join("bucket"), d.path().join("moved")).unwrap();
    // Reopened from its local store alone: the metadata names the archive.
    let local = l.into_backend().into_local();
    let l = Ledger::open(Layered::open(local, CACHE_BYTES).unwrap()).unwrap();
    assert_eq!(l.entry(599).unwrap().seq, 599, "local data still reads");
    match l.entry(300) {
        Err(StoreError::ArchiveUnavailable { url: u, seq, .. }) => {
            assert_eq!((u.as_str(), seq), (url.as_str(), 256));
        }
        other => panic!("{other:?}"),
    }
    let err = l.entry(3).unwrap_err().to_string();
    assert!(err.contains("seqs 0..255") && err.contains(&url), "{err}");
}

#[test]
fn another_archive_is_refused_once_windows_are_dropped() {
    let d = tempfile::tempdir().unwrap();
    let l = dropped_ledger(&file_url(&d), 600);
    let local = l.into_backend().into_local();
    let err = Layered::with_archive(local, "file:///elsewhere", CACHE_BYTES).unwrap_err();
    assert!(err.to_string().contains("only in the archive"), "{err}");
}

fn file_url(dir: &tempfile::TempDir) -> String {
    format!("file://{}", dir.path().join("bucket").display())
}

/// A fresh `s3://` prefix in the bucket `scripts/archive-tests.sh` made.
fn s3_url(name: &str) -> String {
    let bucket = std::env::var("CAIRN_TEST_S3_BUCKET")
        .expect("CAIRN_TEST_S3_BUCKET is not set: run these tests with scripts/archive-tests.sh");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("s3://{bucket}/{name}-{nonce}")
}

#[test]
#[ignore = "needs SeaweedFS's S3 gateway: run scripts/archive-tests.sh"]
fn s3_dropped_windows_read_as_if_local() {
    dropped_windows_read_as_if_local(&s3_url("retention-read"));
}

#[test]
#[ignore = "needs SeaweedFS's S3 gateway: run scripts/archive-tests.sh"]
fn s3_erasure_in_a_dropped_window() {
    erasure_in_a_dropped_window(&s3_url("retention-erasure"));
}
