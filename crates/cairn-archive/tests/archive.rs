//! The archive against real object stores: a local directory (`file://`) here,
//! and SeaweedFS's S3 gateway (`s3://`) when `scripts/archive-tests.sh` runs
//! these tests with `--include-ignored` (it starts the server). Each test
//! states a promise the archive makes.
#![allow(clippy::unwrap_used, missing_docs)]

use cairn_archive::{archive, layout, restore, Bucket, BucketBackend};
use cairn_core::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use cairn_core::decision::DecisionInput;
use cairn_core::entry::{PayloadSlot, RedactionV1};
use cairn_store::verify::{verify, DamageKind, VerifyOptions};
use cairn_store::{Append, Ledger, MemoryBackend, PayloadState};
use cairn_synth::{Synth, SynthConfig};

const ORIGIN: &str = "test.example/archive";

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, &[5u8; 32]).unwrap()
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

/// Append `count` decisions in commits of `per_commit` and sign a checkpoint
/// after each commit.
fn grow(l: &Ledger<MemoryBackend>, seed: u64, count: u64, per_commit: usize) {
    for chunk in decisions(seed, count).chunks(per_commit) {
        l.append(chunk.to_vec(), 1_700_000_000_000_000).unwrap();
        checkpoint(l);
    }
}

fn checkpoint(l: &Ledger<MemoryBackend>) {
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: l.size(),
        root: l.root(),
        extensions: vec![],
    };
    l.put_checkpoint(cp.size, &signer().sign_checkpoint(&cp))
        .unwrap();
}

fn verify_source(url: &str, verifier: &NoteVerifier) -> cairn_store::verify::VerifyReport {
    let source = BucketBackend::open(Bucket::open(url).unwrap()).unwrap();
    let ledger = source.into_ledger().unwrap();
    verify(
        &ledger,
        VerifyOptions {
            verifier: Some(verifier),
            ..VerifyOptions::default()
        },
    )
    .unwrap()
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

/// Everything the ledger checkpointed is in the archive, which verifies from
/// the bucket alone; a second run resumes and drops the old right edge; a
/// restore is the same ledger, which then appends.
fn archive_verify_resume_restore(url: &str) {
    let l = Ledger::create(MemoryBackend::default(), ORIGIN).unwrap();
    grow(&l, 1, 300, 100); // a full window and a partial one
    let bucket = Bucket::open(url).unwrap();
    let first = archive(&l, &bucket, &mut |_, _| {}).unwrap();
    assert_eq!((first.from, first.through, first.pending), (0, 300, 0));
    assert!(bucket.get("tile/entries/001.p/44").unwrap().is_some());
    assert!(bucket.get(&layout::checkpoint_at(100)).unwrap().is_some());

    let verifier = signer().verifier();
    let report = verify_source(url, &verifier);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.entries_checked, 300);
    assert_eq!(report.checkpoints_checked, 3);
    assert_eq!(report.root, Some(l.root()));

    // Entries after the last checkpoint wait for the next one.
    l.append(decisions(2, 10), 1_700_000_000_000_000).unwrap();
    let again = archive(&l, &bucket, &mut |_, _| {}).unwrap();
    assert_eq!(
        (again.from, again.through, again.pending, again.objects),
        (300, 300, 10, 0)
    );

    grow(&l, 3, 290, 290);
    let second = archive(&l, &bucket, &mut |_, _| {}).unwrap();
    assert_eq!((second.from, second.through), (300, 600));
    assert!(second.deleted >= 3, "{second:?}");
    assert!(
        bucket.get("tile/entries/001.p/44").unwrap().is_none(),
        "old edge deleted"
    );
    assert!(bucket.get("tile/entries/001").unwrap().is_some());
    let report = verify_source(url, &verifier);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.entries_checked, 600);

    // Restore, then append to the restored ledger.
    let source = BucketBackend::open(Bucket::open(url).unwrap()).unwrap();
    let (restored, r) = restore(&source, MemoryBackend::default(), &mut |_, _| {}).unwrap();
    assert_eq!(r.entries, 600);
    assert_eq!(restored.root(), l.root());
    assert_eq!(restored.entry(450).unwrap(), l.entry(450).unwrap());
    assert_eq!(
        restored.payload(599, PayloadSlot::Input).unwrap(),
        l.payload(599, PayloadSlot::Input).unwrap()
    );
    let stream = match l.entry(7).unwrap().body {
        cairn_core::entry::EntryBody::DecisionV1(d) => d.stream,
        _ => unreachable!(),
    };
    let via_index = restored
        .index_seqs(cairn_store::keys::IndexKind::Stream, &stream, 1000)
        .unwrap();
    assert!(via_index.contains(&7), "the restored ledger is indexed");
    restored
        .append(decisions(4, 5), 1_700_000_000_000_000)
        .unwrap();
    assert_eq!(restored.size(), 605);
}

/// A redaction of an archived payload rewrites the archived payload bundle:
/// the bucket keeps no copy of the erased payload, and still verifies.
fn erasure_reaches_the_archive(url: &str, files: Option<&std::path::Path>) {
    let l = Ledger::create(MemoryBackend::default(), ORIGIN).unwrap();
    grow(&l, 5, 512, 256);
    let bucket = Bucket::open(url).unwrap();
    archive(&l, &bucket, &mut |_, _| {}).unwrap();
    let PayloadState::Stored(secret) = l.payload_state(10, PayloadSlot::Input).unwrap() else {
        panic!("payload stored")
    };
    let needle = secret.salt.to_vec();
    let holds = |name: &str| {
        let bytes = bucket.get(name).unwrap().unwrap();
        let raw = cairn_store::codec::Codec::new()
            .decompress(&bytes, &|| name.to_owned())
            .unwrap();
        raw.windows(needle.len()).any(|w| w == needle.as_slice())
    };
    assert!(holds("tile/payloads/000"));
    let red = RedactionV1 {
        target_seq: 10,
        slots: vec![PayloadSlot::Input],
        reason: "erasure request".into(),
        actor: "dpo@example.com".into(),
    };
    l.append(vec![Append::Redaction(red)], 1_700_000_000_000_000)
        .unwrap();
    checkpoint(&l);
    let run = archive(&l, &bucket, &mut |_, _| {}).unwrap();
    assert_eq!(run.rewritten, 1);
    assert!(
        !holds("tile/payloads/000"),
        "the archived bundle was rewritten"
    );
    if let Some(dir) = files {
        // No file of the local bucket holds the salt any more.
        for f in walk(dir) {
            let bytes = std::fs::read(&f).unwrap();
            let raw = cairn_store::codec::Codec::new()
                .decompress(&bytes, &|| String::new())
                .unwrap_or(bytes);
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} holds the erased payload",
                f.display()
            );
        }
    }
    let report = verify_source(url, &signer().verifier());
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.erased.len(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A damaged archive is reported as damage, object by object.
fn damage_in_the_bucket_is_found(url: &str) {
    let l = Ledger::create(MemoryBackend::default(), ORIGIN).unwrap();
    grow(&l, 6, 600, 200);
    let bucket = Bucket::open(url).unwrap();
    archive(&l, &bucket, &mut |_, _| {}).unwrap();
    // Swap window 1's entries for window 0's: a rewritten history.
    let w0 = bucket.get("tile/entries/000").unwrap().unwrap();
    bucket.put("tile/entries/001", w0).unwrap();
    let report = verify_source(url, &signer().verifier());
    assert!(!report.intact());
    assert!(report.first_damage().unwrap().seq.unwrap() >= 256);
    // A missing payload bundle.
    bucket.delete("tile/payloads/000").unwrap();
    let report = verify_source(url, &signer().verifier());
    assert!(report
        .damage
        .iter()
        .any(|d| d.kind == DamageKind::PayloadMissing));
}

/// An archive holds one ledger: another ledger is refused.
fn another_ledger_is_refused(url: &str) {
    let l = Ledger::create(MemoryBackend::default(), ORIGIN).unwrap();
    grow(&l, 7, 10, 10);
    let bucket = Bucket::open(url).unwrap();
    archive(&l, &bucket, &mut |_, _| {}).unwrap();
    let other = Ledger::create(MemoryBackend::default(), "other.example/log").unwrap();
    let err = archive(&other, &bucket, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(err, cairn_archive::ArchiveError::OtherLedger { .. }),
        "{err}"
    );
    // The same origin with another history has diverged.
    let twin = Ledger::create(MemoryBackend::default(), ORIGIN).unwrap();
    grow(&twin, 8, 20, 20);
    let err = archive(&twin, &bucket, &mut |_, _| {}).unwrap_err();
    assert!(
        matches!(err, cairn_archive::ArchiveError::Diverged { .. }),
        "{err}"
    );
}

#[test]
fn file_archive_verify_resume_restore() {
    let d = tempfile::tempdir().unwrap();
    archive_verify_resume_restore(&file_url(&d));
}

#[test]
fn file_erasure_reaches_the_archive() {
    let d = tempfile::tempdir().unwrap();
    erasure_reaches_the_archive(&file_url(&d), Some(&d.path().join("bucket")));
}

#[test]
fn file_damage_in_the_bucket_is_found() {
    let d = tempfile::tempdir().unwrap();
    damage_in_the_bucket_is_found(&file_url(&d));
}

/// A ledger of 600 decisions (two full windows and part of a third),
/// checkpointed as it grew, and archived whole at `url`.
fn archived_600(url: &str) -> (Ledger<MemoryBackend>, Bucket) {
    let l = Ledger::create(MemoryBackend::default(), ORIGIN).unwrap();
    grow(&l, 6, 600, 200);
    let bucket = Bucket::open(url).unwrap();
    archive(&l, &bucket, &mut |_, _| {}).unwrap();
    (l, bucket)
}

/// A restore from a bucket that lost one payload object still restores every
/// other object, so that what is missing is named by verify (not a later
/// window silently left out and a tail that does not open).
#[test]
fn file_a_restore_pairs_pieces_by_window_when_an_object_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let url = file_url(&d);
    let (l, bucket) = archived_600(&url);
    bucket.delete("tile/payloads/000").unwrap();
    let source = BucketBackend::open(Bucket::open(&url).unwrap()).unwrap();
    let (restored, _) = restore(&source, MemoryBackend::default(), &mut |_, _| {}).unwrap();
    assert_eq!(restored.size(), 600);
    assert_eq!(restored.root(), l.root());
    assert!(restored.payload(599, PayloadSlot::Input).unwrap().is_some());
    let report = verify(
        &restored,
        VerifyOptions {
            verifier: Some(&signer().verifier()),
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    let damaged: Vec<_> = report.damage.iter().map(|d| (d.seq, d.kind)).collect();
    assert!(!damaged.is_empty());
    assert!(
        damaged
            .iter()
            .all(|(seq, kind)| *kind == DamageKind::PayloadMissing && seq.is_some_and(|s| s < 256)),
        "{damaged:?}"
    );
}

#[test]
fn file_another_ledger_is_refused() {
    let d = tempfile::tempdir().unwrap();
    another_ledger_is_refused(&file_url(&d));
}

#[test]
#[ignore = "needs SeaweedFS's S3 gateway: run scripts/archive-tests.sh"]
fn s3_archive_verify_resume_restore() {
    archive_verify_resume_restore(&s3_url("resume"));
}

#[test]
#[ignore = "needs SeaweedFS's S3 gateway: run scripts/archive-tests.sh"]
fn s3_erasure_reaches_the_archive() {
    erasure_reaches_the_archive(&s3_url("erasure"), None);
}

#[test]
#[ignore = "needs SeaweedFS's S3 gateway: run scripts/archive-tests.sh"]
fn s3_damage_in_the_bucket_is_found() {
    damage_in_the_bucket_is_found(&s3_url("damage"));
}

#[test]
#[ignore = "needs SeaweedFS's S3 gateway: run scripts/archive-tests.sh"]
fn s3_another_ledger_is_refused() {
    another_ledger_is_refused(&s3_url("other"));
}

/// Reading an archive that is not there creates nothing and says so.
#[test]
fn file_a_source_that_is_not_there_is_an_error_and_not_created() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("typo");
    let url = format!("file://{}", missing.display());
    let err = Bucket::open_existing(&url).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
    assert!(!missing.exists());
}

/// A checkpoint object claiming an enormous size (signed, even) is read as
/// damage in bounded time and memory: nothing lists every window or tile
/// that size would have.
#[test]
fn file_a_checkpoint_object_claiming_a_huge_size_is_damage_not_an_endless_check() {
    let d = tempfile::tempdir().unwrap();
    let url = file_url(&d);
    let (l, bucket) = archived_600(&url);
    let forged = Checkpoint {
        origin: ORIGIN.into(),
        size: 1 << 50,
        root: l.root(),
        extensions: vec![],
    };
    bucket
        .put("checkpoint", signer().sign_checkpoint(&forged).into_bytes())
        .unwrap();
    let report = verify_source(&url, &signer().verifier());
    assert!(!report.intact());
    assert!(
        report.damage.iter().any(|d| d.kind == DamageKind::Missing),
        "{:?}",
        report.first_damage()
    );
}
