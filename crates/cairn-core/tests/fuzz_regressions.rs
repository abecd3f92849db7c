//! Replays every input kept in `fuzz/regressions/` (seeds and past crashes)
//! through the fuzz helpers, so a fixed crash stays fixed.

use std::path::PathBuf;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("regressions dir exists") {
        let path = entry.expect("readable dir").path();
        let data = std::fs::read(&path).expect("readable file");
        run(&data);
        n += 1;
    }
    n
}

#[test]
fn entry_decode_regressions() {
    assert!(replay("entry_decode", cairn_core::entry::fuzz_decode) >= 3);
}

#[test]
fn checkpoint_parse_regressions() {
    assert!(replay("checkpoint_parse", cairn_core::checkpoint::fuzz_parse) >= 2);
}

#[test]
fn proof_verify_regressions() {
    assert!(replay("proof_verify", cairn_core::merkle::fuzz_verify_proofs) >= 2);
}

#[test]
fn bundle_verify_regressions() {
    assert!(replay("bundle_verify", cairn_core::bundle::fuzz_verify) >= 2);
}

#[test]
fn decision_parse_regressions() {
    assert!(replay("decision_parse", cairn_core::decision::fuzz_parse) >= 4);
}
