//! Salts derived from window keys (`schemas/storage-v2.md`, "Payload
//! piece"): they take no room on disk, and erasing one payload leaves the key
//! it could be derived from nowhere in the data directory, on RocksDB.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use cairn_core::decision::DecisionInput;
use cairn_core::entry::{PayloadSlot, RedactionV1};
use cairn_store::keys;
use cairn_store::verify::{verify, VerifyOptions};
use cairn_store::{Append, Backend, Cf, Ledger, PayloadState, RocksBackend};
use cairn_synth::{Synth, SynthConfig};

fn unsalted(seed: u64, count: u64) -> Vec<Append> {
    Synth::new(SynthConfig {
        seed,
        count,
        ..SynthConfig::default()
    })
    .map(|v| {
        let d = DecisionInput::parse(v.to_string().as_bytes()).unwrap();
        Append::Unsalted(d.unsalted())
    })
    .collect()
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The window key of the uncompressed payload piece at `first`, if it has one:
/// after the stored value's 9-byte header, a count word with bit 31 set.
fn window_key(l: &Ledger<RocksBackend>, first: u64) -> Option<[u8; 32]> {
    let v = l
        .backend()
        .get(Cf::PayloadBundles, &keys::seq_key(first))
        .unwrap()
        .unwrap();
    assert_eq!(v[0], 0, "stored uncompressed");
    let word = u32::from_le_bytes(v[9..13].try_into().unwrap());
    (word & (1 << 31) != 0).then(|| v[13..45].try_into().unwrap())
}

fn stored(l: &Ledger<RocksBackend>, seq: u64, slot: PayloadSlot) -> cairn_core::decision::Payload {
    match l.payload_state(seq, slot).unwrap() {
        PayloadState::Stored(p) => p,
        other => panic!("seq {seq} {slot:?}: {other:?}"),
    }
}

#[test]
fn derived_salts_are_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let mut l = Ledger::create(RocksBackend::create(&tmp.path().join("db")).unwrap(), "t").unwrap();
    l.set_compression(None, None);
    l.append(unsalted(3, 300), 1).unwrap();
    l.backend().flush().unwrap();
    let files = all_bytes(tmp.path());
    for seq in [0u64, 17, 255, 256, 299] {
        for slot in PayloadSlot::ALL {
            let p = stored(&l, seq, slot);
            assert!(
                contains(&files, &p.bytes),
                "seq {seq}: the payload is stored"
            );
            assert!(!contains(&files, &p.salt), "seq {seq}: its salt is not");
        }
    }
    assert!(window_key(&l, 0).is_some() && window_key(&l, 256).is_some());
    assert_ne!(window_key(&l, 0), window_key(&l, 256), "a key per window");
}

#[test]
fn erasing_a_payload_leaves_its_window_key_nowhere() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let mut l = Ledger::create(RocksBackend::create(&db).unwrap(), "t").unwrap();
    l.set_compression(None, None);
    // Batches of 7: window 0 is sealed, window 256 is open, in fragments
    // (each of which carries the window's key).
    for chunk in unsalted(4, 300).chunks(7) {
        l.append(chunk.to_vec(), 1).unwrap();
    }
    let (k0, k1) = (window_key(&l, 0).unwrap(), window_key(&l, 294).unwrap());
    assert_eq!(
        window_key(&l, 256),
        Some(k1),
        "every fragment holds the key"
    );
    let kept = [
        (11u64, stored(&l, 11, PayloadSlot::Input)),
        (261, stored(&l, 261, PayloadSlot::Output)),
    ];
    let erased = [
        stored(&l, 10, PayloadSlot::Input),
        stored(&l, 260, PayloadSlot::Output),
    ];
    l.backend().flush().unwrap();
    let before = all_bytes(tmp.path());
    assert!(contains(&before, &k0) && contains(&before, &k1));
    let redact = |target_seq, slot| {
        Append::Redaction(RedactionV1 {
            target_seq,
            slots: vec![slot],
            reason: "GDPR request".into(),
            actor: "dpo@example.com".into(),
        })
    };
    l.append(
        vec![
            redact(10, PayloadSlot::Input),
            redact(260, PayloadSlot::Output),
        ],
        2,
    )
    .unwrap();
    l.purge_erased(&[10, 260]).unwrap();
    let after = all_bytes(tmp.path());
    assert!(!contains(&after, &k0), "the sealed window's key survives");
    assert!(!contains(&after, &k1), "the open window's key survives");
    for p in &erased {
        assert!(!contains(&after, &p.bytes), "an erased payload survives");
    }
    // Their neighbours keep their salts, now stored, and still verify.
    for (seq, p) in &kept {
        let slot = if *seq == 11 {
            PayloadSlot::Input
        } else {
            PayloadSlot::Output
        };
        assert_eq!(&stored(&l, *seq, slot), p);
        assert!(contains(&after, &p.salt));
    }
    // The open window goes on with salts drawn at random; the next window
    // gets a key of its own.
    l.append(unsalted(5, 250), 3).unwrap();
    assert_eq!(window_key(&l, 256), None);
    assert!(window_key(&l, 512).is_some());
    let report = verify(&l, VerifyOptions::default()).unwrap();
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.erased.len(), 2);
    // Reopened, the same.
    drop(l);
    let l = Ledger::open(RocksBackend::open(&db).unwrap()).unwrap();
    l.append(unsalted(6, 10), 4).unwrap();
    let report = verify(&l, VerifyOptions::default()).unwrap();
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.payloads_checked + 2, 2 * l.size() - 4);
}
