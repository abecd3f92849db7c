//! Damage and tampering: found, and named with the seq and kind.

use super::*;

pub(super) fn tampering_is_diagnosed<H: Harness>() {
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

pub(super) fn rewriting_an_entry_and_its_leaf_is_caught_by_the_next_link<H: Harness>() {
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

pub(super) fn a_range_is_tied_to_a_signed_root<H: Harness>() {
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

pub(super) fn a_damaged_tail_refuses_appends<H: Harness>() {
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

pub(super) fn damaged_metadata_and_keys_are_reported_never_endless_or_fatal<H: Harness>() {
    // The recorded size raised far beyond the stored entries: one damage that
    // names the stored end, and a walk that ends.
    let h = H::new();
    let l = new_ledger(&h, 40);
    let mut batch = WriteBatch::default();
    batch.put(
        Cf::Meta,
        keys::meta::SIZE,
        (40u64 + (1 << 40)).to_be_bytes(),
    );
    l.backend().write(batch).unwrap();
    let l = Ledger::open_unchecked(h.reopen(l.into_backend())).unwrap();
    let r = verify_all(&l);
    let d = r.first_damage().cloned().unwrap();
    assert_eq!((d.seq, d.kind), (Some(40), DamageKind::Missing), "{r:?}");
    assert!(
        d.detail.contains("the stored entries end at seq 40"),
        "{d:?}"
    );
    assert_eq!(r.entries_checked, 40);

    // Entry bundle keys that are not seqs, inside the walked range and past
    // every seq: damage named, not a failed verification.
    let h = H::new();
    let l = new_ledger(&h, 40);
    let mut batch = WriteBatch::default();
    batch.put(Cf::Bundles, [&keys::seq_key(5)[..], &[0]].concat(), b"x");
    batch.put(Cf::Bundles, [0xfe; 3], b"x");
    l.backend().write(batch).unwrap();
    let r = verify_all(&l);
    assert!(
        r.damage.iter().any(|d| d.kind == DamageKind::Unreadable
            && d.detail
                .contains("an entry bundle's key (000000000000000500) is not a seq")),
        "{r:?}"
    );
    assert!(
        r.damage.iter().any(|d| d.seq.is_none()
            && d.detail
                .contains("the last entry bundle's key (fefefe) is not a seq")),
        "{r:?}"
    );
    assert_eq!(r.entries_checked, 40);
}
