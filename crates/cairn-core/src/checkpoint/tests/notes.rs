//! Reading signed notes: what is refused and as what (malformed, a bad
//! signature, no matching signature), other signatures and extension lines
//! passed over or kept, the size and signature-count limits, and the errors'
//! wording.

use super::*;

#[test]
fn rejects_missing_trailing_newline() {
    let note = signer().sign_checkpoint(&checkpoint());
    assert_malformed(note.trim_end_matches('\n'), 5);
}

#[test]
fn rejects_missing_blank_line() {
    let note = signer().sign_checkpoint(&checkpoint());
    assert_malformed(&note.replacen("\n\n", "\n", 1), 4);
}

#[test]
fn rejects_two_blank_lines() {
    let note = signer().sign_checkpoint(&checkpoint());
    assert_malformed(&note.replacen("\n\n", "\n\n\n", 1), 4);
}

#[test]
fn rejects_no_signatures() {
    assert_malformed(&format!("{}\n", checkpoint().body()), 5);
}

#[test]
fn rejects_bad_sizes() {
    let root = STANDARD.encode([0xab; 32]);
    for size in [
        "01",
        "00",
        "-1",
        "+1",
        "1e3",
        " 1",
        "1 ",
        "0x10",
        "١",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        assert_malformed(&sign_raw(&format!("{NAME}\n{size}\n{root}\n")), 2);
    }
    // The largest u64 is fine.
    let note = sign_raw(&format!("{NAME}\n18446744073709551615\n{root}\n"));
    assert_eq!(open(&note).expect("opens").checkpoint.size, u64::MAX);
}

#[test]
fn rejects_bad_roots() {
    let good = STANDARD.encode([0xab; 32]);
    for root in [
        STANDARD.encode([0xab; 31]),
        STANDARD.encode([0xab; 33]),
        "x".to_owned(),
        good.trim_end_matches('=').to_owned(),
        format!("{good}="),
        format!("{good} "),
        good.replace('q', "-"),
        "not base64!".to_owned(),
        hex::encode([0xab; 32]),
    ] {
        assert_malformed(&sign_raw(&format!("{NAME}\n12345\n{root}\n")), 3);
    }
    // Non-zero trailing bits are not canonical base64.
    let mut noncanonical = good.clone();
    noncanonical.replace_range(42..43, "t");
    assert_ne!(noncanonical, good);
    assert_malformed(&sign_raw(&format!("{NAME}\n12345\n{noncanonical}\n")), 3);
}

#[test]
fn rejects_bad_body_shapes() {
    let root = STANDARD.encode([0xab; 32]);
    assert_malformed(&sign_raw(&format!("\n12345\n{root}\n")), 1);
    assert_malformed(&sign_raw("example.com/log\n12345\n"), 2);
    assert_malformed(&sign_raw(&format!("{NAME}\n12345\n{root}\n\next\n")), 4);
    assert_malformed(&sign_raw(&format!("{NAME}\r\n12345\n{root}\n")), 1);
}

#[test]
fn rejects_bad_signature_lines() {
    let note = signer().sign_checkpoint(&checkpoint());
    let (head, line) = note.trim_end_matches('\n').rsplit_once('\n').expect("line");
    let b64 = line.rsplit(' ').next().expect("b64");
    let bad_lines = [
        format!("- {NAME} {b64}"),
        format!("-- {NAME} {b64}"),
        format!("\u{2013} {NAME} {b64}"),
        format!("\u{2014}{NAME} {b64}"),
        format!("\u{2014} {NAME}{b64}"),
        format!("\u{2014} {NAME}  {b64}"),
        format!("\u{2014} {NAME} {b64} "),
        format!("\u{2014} {NAME} "),
        format!("\u{2014}  {b64}"),
        format!("\u{2014} a+b {b64}"),
        format!("\u{2014} {NAME} {}", b64.trim_end_matches('=')),
        format!(
            "\u{2014} {NAME} {}",
            b64.replace('+', "-").replace('/', "_")
        ),
        format!("\u{2014} {NAME} AAAAAA=="),
        format!("\u{2014} {NAME} !!!!"),
    ];
    for bad in bad_lines {
        assert_malformed(&format!("{head}\n{bad}\n"), 5);
    }
    // A malformed line is rejected even next to a valid one.
    assert_malformed(&format!("{note}garbage\n"), 6);
}

#[test]
fn wrong_key_id_is_no_matching_signature() {
    let note = signer().sign_checkpoint(&checkpoint());
    let mut blob = sig_blob(&note);
    blob[0] ^= 1;
    assert_no_matching(&with_blob(&note, &blob));
}

#[test]
fn other_keys_only_is_no_matching_signature() {
    let cp = checkpoint();
    // Different name, different key.
    let other = NoteSigner::new("witness.example/w1", &[2; 32]).expect("signer");
    assert_no_matching(&other.sign_checkpoint(&cp));
    // Same name, different key (different key id): e.g. a rotated key.
    let rotated = NoteSigner::new(NAME, &[3; 32]).expect("signer");
    assert_ne!(rotated.key_id(), signer().key_id());
    assert_no_matching(&rotated.sign_checkpoint(&cp));
    // Same key id, different name.
    let note = signer().sign_checkpoint(&cp);
    assert_no_matching(&note.replace(&format!("\u{2014} {NAME} "), "\u{2014} other.example/log "));
}

#[test]
fn other_signatures_are_ignored() {
    let cp = checkpoint();
    let note = signer().sign_checkpoint(&cp);
    let witness = NoteSigner::new("witness.example/w1", &[2; 32]).expect("signer");
    let witness_line = witness
        .sign_checkpoint(&cp)
        .rsplit_once("\n\n")
        .expect("split")
        .1
        .to_owned();
    let two = format!("{note}{witness_line}");
    assert_eq!(open(&two).expect("opens").checkpoint, cp);
    let two_first = format!(
        "{}\n{witness_line}{}",
        cp.body(),
        &note[cp.body().len() + 1..]
    );
    assert_eq!(open(&two_first).expect("opens").checkpoint, cp);
    // A signature line of unknown (non-Ed25519-sized) length from another key.
    let odd = format!(
        "{note}\u{2014} pq.example/key {}\n",
        STANDARD.encode([9u8; 100])
    );
    assert_eq!(open(&odd).expect("opens").checkpoint, cp);
}

#[test]
fn altered_body_is_bad_signature() {
    let note = signer().sign_checkpoint(&checkpoint());
    // Size changed.
    assert_bad_signature(&note.replacen("\n12345\n", "\n12346\n", 1));
    // Root changed (first base64 character: still exactly 32 bytes).
    let root = STANDARD.encode([0xab; 32]);
    let mut other_root = root.clone();
    other_root.replace_range(0..1, "r");
    assert_ne!(other_root, root);
    assert_bad_signature(&note.replacen(&root, &other_root, 1));
    // Origin changed.
    assert_bad_signature(&note.replacen("example.com/log\n12345", "example.com/loh\n12345", 1));
    // Extension line added.
    assert_bad_signature(&note.replacen("\n\n", "\nextra\n\n", 1));
}

#[test]
fn flipped_signature_byte_is_bad_signature() {
    let note = signer().sign_checkpoint(&checkpoint());
    let blob = sig_blob(&note);
    for i in [4, 20, 35, 36, 50, 67] {
        let mut b = blob.clone();
        b[i] ^= 0x01;
        assert_bad_signature(&with_blob(&note, &b));
    }
    // Truncated or extended signatures from the right key id.
    assert_bad_signature(&with_blob(&note, &blob[..67]));
    let mut longer = blob.clone();
    longer.push(0);
    assert_bad_signature(&with_blob(&note, &longer));
}

#[test]
fn duplicate_matching_signatures_must_all_verify() {
    let note = signer().sign_checkpoint(&checkpoint());
    let (head, line) = note.trim_end_matches('\n').rsplit_once('\n').expect("line");
    assert!(open(&format!("{note}{line}\n")).is_ok());
    let mut blob = sig_blob(&note);
    blob[40] ^= 0x80;
    let bad_line = with_blob(&note, &blob);
    let bad_line = bad_line
        .trim_end_matches('\n')
        .rsplit_once('\n')
        .expect("x")
        .1;
    assert_bad_signature(&format!("{head}\n{line}\n{bad_line}\n"));
    assert_bad_signature(&format!("{head}\n{bad_line}\n{line}\n"));
}

#[test]
fn extensions_preserved_and_signed() {
    let cp = Checkpoint {
        extensions: vec!["ext one".to_owned(), "— ext+two".to_owned()],
        ..checkpoint()
    };
    let note = signer().sign_checkpoint(&cp);
    assert!(note.starts_with(&format!(
        "{NAME}\n12345\n{}\next one\n— ext+two\n\n",
        STANDARD.encode([0xab; 32])
    )));
    let opened = open(&note).expect("opens");
    assert_eq!(opened.checkpoint, cp);
    assert_bad_signature(&note.replacen("ext one", "ext One", 1));
    assert_bad_signature(&note.replacen("ext one\n", "", 1));
    assert_bad_signature(&note.replacen("— ext+two\n", "", 1));
}

#[test]
fn signature_count_limit() {
    let note = signer().sign_checkpoint(&checkpoint());
    let line = note.rsplit_once("\n\n").expect("split").1;
    let body = checkpoint().body();
    let ok = format!("{body}\n{}", line.repeat(MAX_SIGNATURES));
    assert!(open(&ok).is_ok());
    let too_many = format!("{body}\n{}", line.repeat(MAX_SIGNATURES + 1));
    assert_malformed(&too_many, 5 + MAX_SIGNATURES);
}

#[test]
fn size_limit() {
    let cp = Checkpoint {
        extensions: vec!["x".repeat(MAX_NOTE_BYTES)],
        ..checkpoint()
    };
    let note = signer().sign_checkpoint(&cp);
    assert!(matches!(
        open(&note),
        Err(CheckpointError::TooLarge {
            max: MAX_NOTE_BYTES,
            ..
        })
    ));
}

#[test]
fn error_messages_are_actionable() {
    let note = signer().sign_checkpoint(&checkpoint());
    let err = open(&note.replacen("\n12345\n", "\n012345\n", 1)).expect_err("leading zero");
    let msg = err.to_string();
    assert!(
        msg.contains("line 2") && msg.contains("leading zero"),
        "{msg}"
    );
    let err = open(&note.replacen("\n12345\n", "\n12346\n", 1)).expect_err("altered");
    assert!(err.to_string().contains("does not verify"), "{err}");
    let other = NoteSigner::new("w.example", &[2; 32]).expect("signer");
    let err = open(&other.sign_checkpoint(&checkpoint())).expect_err("other key");
    assert!(err.to_string().contains("example.com/log"), "{err}");
    // Long garbage is truncated in messages.
    let long = "9x".repeat(10_000);
    let err = open(&sign_raw(&format!(
        "{NAME}\n{long}\n{}\n",
        STANDARD.encode([0; 32])
    )))
    .expect_err("bad size");
    assert!(err.to_string().len() < 400, "{err}");
}
