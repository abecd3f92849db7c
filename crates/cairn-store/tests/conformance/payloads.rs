//! Redaction, erasure and what the ledger says of each payload.

use super::*;

pub(super) fn redaction_erases_payloads_and_verify_says_so<H: Harness>() {
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

pub(super) fn a_payload_restored_after_its_redaction_is_never_served<H: Harness>() {
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
pub(super) fn no_compression_dictionary_is_ever_written<H: Harness>() {
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

pub(super) fn payload_state_tells_stored_erased_and_missing_apart<H: Harness>() {
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

pub(super) fn payload_states_of_many_answer_as_one_by_one<H: Harness>() {
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

/// A decision with an input document of `bytes` bytes.
fn large(i: usize, bytes: usize) -> Append {
    let doc = format!("{i:08}{}", "x".repeat(bytes.saturating_sub(8)));
    one(&format!(
        r#"{{"stream":"docs","model":{{"name":"m","version":"1"}},"input":{{"doc":"{doc}"}},"output":{{"ok":true}}}}"#
    ))
}

/// The first seqs of the pieces of the window at `start`.
fn pieces_of<B: Backend>(l: &Ledger<B>, cf: Cf, start: u64) -> Vec<u64> {
    l.backend()
        .scan(cf, &keys::seq_key(start), &keys::seq_key(start + 256))
        .map(|r| keys::parse_seq(&r.unwrap().0).unwrap())
        .collect()
}

pub(super) fn large_decisions_are_cut_into_pieces_and_stay_readable<H: Harness>() {
    let h = H::new();
    let l = Ledger::create(h.create(), "t").unwrap();
    l.append(decisions(3, 10), 1).unwrap();
    // 150 KB decisions: the rest of window 0 and all of window 1 are each
    // more than one piece may hold, in one batch (window 1 would otherwise
    // be laid out whole while the batch is staged).
    let big: Vec<Append> = (0..502).map(|i| large(i, 150_000)).collect();
    l.append(big, 2).unwrap();
    l.append(decisions(4, 5), 3).unwrap();
    for start in [0, 256] {
        let entries = pieces_of(&l, Cf::Bundles, start);
        assert!(entries.len() > 1, "window {start}: {entries:?}");
        assert_eq!(entries, pieces_of(&l, Cf::PayloadBundles, start));
    }
    let l = Ledger::open(h.reopen(l.into_backend())).unwrap();
    for seq in [0, 9, 10, 130, 255, 256, 400, 511] {
        assert_eq!(l.entry(seq).unwrap().seq, seq);
    }
    for (seq, i) in [(10, 0), (300, 290), (511, 501)] {
        let doc = l.payload(seq, PayloadSlot::Input).unwrap().unwrap();
        assert_eq!(doc.bytes.len(), 150_000 + 10, "seq {seq}");
        assert!(doc
            .bytes
            .starts_with(format!("{{\"doc\":\"{i:08}").as_bytes()));
    }
    l.append(decisions(5, 3), 4).unwrap();
    let report = verify_all(&l);
    assert!(report.intact(), "{:?}", report.damage);
    assert_eq!(report.entries_checked, 520);
}

pub(super) fn a_decision_over_the_payload_limit_is_refused_and_nothing_appended<H: Harness>() {
    let h = H::new();
    let l = new_ledger(&h, 3);
    let err = l
        .append(vec![decisions(9, 1).remove(0), large(0, 65 << 20)], 5)
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(
        err.to_string().contains("over the limit of 67108864 bytes"),
        "{err}"
    );
    assert_eq!(l.size(), 3);
}

pub(super) fn a_cut_window_whose_large_payloads_were_erased_is_sealed_whole<H: Harness>() {
    let h = H::new();
    let l = Ledger::create(h.create(), "t").unwrap();
    l.append(decisions(3, 10), 1).unwrap();
    // 40 MB of decisions in the open window: written as more than one piece.
    let big: Vec<Append> = (0..40).map(|i| large(i, 1_000_000)).collect();
    l.append(big, 2).unwrap();
    assert!(pieces_of(&l, Cf::Bundles, 0).len() > 2);
    // Their payloads erased, the window is small enough to seal; filling it
    // seals it whole, and no piece of the cut is left beside the seal.
    let erase: Vec<Append> = (10..50)
        .map(|seq| {
            Append::Redaction(RedactionV1 {
                target_seq: seq,
                slots: vec![PayloadSlot::Input],
                reason: "too large".into(),
                actor: "ops".into(),
            })
        })
        .collect();
    l.append(erase, 3).unwrap();
    l.append(decisions(4, 256 - 90), 4).unwrap();
    assert_eq!(l.size(), 256);
    assert_eq!(pieces_of(&l, Cf::Bundles, 0), [0]);
    assert_eq!(pieces_of(&l, Cf::PayloadBundles, 0), [0]);
    for seq in [0, 10, 45, 49, 50, 120, 255] {
        assert_eq!(l.entry(seq).unwrap().seq, seq);
    }
    assert!(l.payload(30, PayloadSlot::Input).unwrap().is_none());
    assert!(l.payload(30, PayloadSlot::Output).unwrap().is_some());
    let report = verify_all(&l);
    assert!(report.intact(), "{:?}", report.damage);
}
