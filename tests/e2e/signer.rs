//! `cairn checkpoint` signs only a tree that extends what the ledger signed
//! before: a stored tree that contradicts the last checkpoint is refused, and
//! nothing is signed.

use cairn_core::checkpoint::Checkpoint;

use crate::support::TestLedger;

#[test]
fn cairn_checkpoint_refuses_a_tree_that_contradicts_the_last_signed_one() {
    let l = TestLedger::new("e2e.example/signer");
    l.append_synth(4, 20);
    l.cairn(&["checkpoint"], &[]).ok();
    l.append_synth(5, 10);
    // The last checkpoint, signed with the ledger's own key, now names a root
    // the stored tree does not have (as after its nodes were altered); stored
    // through the Ledger API, whatever the storage layout.
    {
        let ledger = cairn_store::datadir::open(&l.data).unwrap();
        let signer = cairn_store::datadir::signer(&l.data).unwrap();
        let note = signer.sign_checkpoint(&Checkpoint {
            origin: "e2e.example/signer".into(),
            size: 20,
            root: [0x5a; 32],
            extensions: vec![],
        });
        ledger.put_checkpoint(20, &note).unwrap();
        ledger.backend().flush().unwrap();
    }
    let out = l.cairn(&["checkpoint"], &[]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("refusing to sign a checkpoint")
            && out
                .stderr
                .contains("not a consistent extension of the signed checkpoint of size 20"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "nothing signed: {}", out.stdout);
    let ledger = cairn_store::datadir::open_read_only(&l.data).unwrap();
    assert_eq!(ledger.latest_checkpoint().unwrap().unwrap().0, 20);
}
