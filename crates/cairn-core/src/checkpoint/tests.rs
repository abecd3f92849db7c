//! Tests of `checkpoint`.

use super::*;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

/// Go `sumdb/note` example signer key (from the package documentation and tests).
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
/// Go `sumdb/note` example verifier key.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// Second verifier key from Go's tests.
const GO_ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const GO_ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

const NAME: &str = "example.com/log";
const SEED: [u8; 32] = [1; 32];

#[test]
fn signed_messages_verify_only_with_their_context_bytes_and_key() {
    let signer = signer();
    let verifier = signer.verifier();
    let sig = signer.sign_message("webhook", b"{\"a\":1}");
    assert!(verifier.verify_message("webhook", b"{\"a\":1}", &sig));
    assert!(!verifier.verify_message("webhook", b"{\"a\":2}", &sig));
    assert!(!verifier.verify_message("other", b"{\"a\":1}", &sig));
    assert!(!verifier.verify_message("webhook", b"{\"a\":1}", "not base64"));
    let other = NoteSigner::new("other.example/log", &[9; 32]).expect("valid signer");
    assert!(!other
        .verifier()
        .verify_message("webhook", b"{\"a\":1}", &sig));
    // What is signed starts with the context prefix, never a checkpoint body.
    assert!(message_bytes("webhook", b"x").starts_with(MESSAGE_CONTEXT.as_bytes()));
}

fn signer() -> NoteSigner {
    NoteSigner::new(NAME, &SEED).expect("valid signer")
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: NAME.to_owned(),
        size: 12345,
        root: [0xab; 32],
        extensions: Vec::new(),
    }
}

fn open(note: &str) -> Result<SignedCheckpoint, CheckpointError> {
    open_checkpoint(note, &signer().verifier())
}

fn assert_malformed(note: &str, want_line: usize) {
    match open(note) {
        Err(CheckpointError::Malformed { line, reason }) => {
            assert_eq!(line, want_line, "wrong line for {note:?}: {reason}");
        }
        other => panic!("expected Malformed at line {want_line} for {note:?}, got {other:?}"),
    }
}

fn assert_bad_signature(note: &str) {
    match open(note) {
        Err(CheckpointError::BadSignature { key_name }) => assert_eq!(key_name, NAME),
        other => panic!("expected BadSignature for {note:?}, got {other:?}"),
    }
}

fn assert_no_matching(note: &str) {
    match open(note) {
        Err(CheckpointError::NoMatchingSignature { key_name }) => assert_eq!(key_name, NAME),
        other => panic!("expected NoMatchingSignature for {note:?}, got {other:?}"),
    }
}

/// Signs `body` verbatim (even if it is not a valid checkpoint).
fn sign_raw(body: &str) -> String {
    signer().sign_text(body)
}

/// The base64 blob of the (last) signature line of `note`.
fn sig_blob(note: &str) -> Vec<u8> {
    let line = note
        .trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .expect("a line");
    let b64 = line.rsplit(' ').next().expect("a blob");
    STANDARD.decode(b64).expect("base64")
}

/// `note` with its (single) signature blob replaced by `blob`.
fn with_blob(note: &str, blob: &[u8]) -> String {
    let (head, line) = note
        .trim_end_matches('\n')
        .rsplit_once('\n')
        .expect("signature line");
    let (prefix, _) = line.rsplit_once(' ').expect("space");
    format!("{head}\n{prefix} {}\n", STANDARD.encode(blob))
}

#[test]
fn round_trip() {
    let cp = checkpoint();
    let note = signer().sign_checkpoint(&cp);
    let blob = sig_blob(&note);
    assert_eq!(blob.len(), 68);
    assert_eq!(blob[..4], signer().key_id());
    assert_eq!(
        note,
        format!(
            "{NAME}\n12345\n{}\n\n\u{2014} {NAME} {}\n",
            STANDARD.encode([0xab; 32]),
            STANDARD.encode(&blob)
        )
    );
    let opened = open(&note).expect("opens");
    assert_eq!(opened.checkpoint, cp);
    assert_eq!(opened.note, note);

    let empty = Checkpoint {
        size: 0,
        ..checkpoint()
    };
    let opened = open(&signer().sign_checkpoint(&empty)).expect("opens");
    assert_eq!(opened.checkpoint, empty);

    let max = Checkpoint {
        size: u64::MAX,
        ..checkpoint()
    };
    let opened = open(&signer().sign_checkpoint(&max)).expect("opens");
    assert_eq!(opened.checkpoint.size, u64::MAX);
}

#[test]
fn c1_control_characters_in_an_origin_are_refused_even_when_signed() {
    for c in ['\u{7f}', '\u{85}', '\u{9f}', '\u{1}'] {
        let cp = Checkpoint {
            origin: format!("example.com/a{c}b"),
            ..checkpoint()
        };
        assert!(cp.validate().is_err(), "U+{:04X}", u32::from(c));
        let err = open(&signer().sign_checkpoint(&cp))
            .expect_err("a control character in the origin")
            .to_string();
        let want = format!("control character U+{:04X} is not allowed", u32::from(c));
        assert!(err.contains(&want), "{err}");
    }
    // Other non-ASCII characters are fine.
    let cp = Checkpoint {
        origin: "example.com/caf\u{e9}\u{a0}".to_owned(),
        ..checkpoint()
    };
    let opened = open(&signer().sign_checkpoint(&cp)).expect("opens");
    assert_eq!(opened.checkpoint, cp);
}

#[test]
fn body_format_and_parse() {
    let cp = Checkpoint {
        origin: "example.com/behind-the-sofa".to_owned(),
        size: 20852163,
        root: STANDARD
            .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
            .expect("base64")
            .try_into()
            .expect("32 bytes"),
        extensions: vec!["ext".to_owned()],
    };
    let body = "example.com/behind-the-sofa\n20852163\n\
                CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n";
    assert_eq!(cp.body(), body);
    assert_eq!(Checkpoint::parse_body(body), Ok(cp.clone()));
    assert_eq!(cp.validate(), Ok(()));
    assert!(matches!(
        Checkpoint::parse_body(body.trim_end_matches('\n')),
        Err(CheckpointError::Malformed { line: 4, .. })
    ));
    assert!(matches!(
        Checkpoint::parse_body("a\n1\n"),
        Err(CheckpointError::Malformed { line: 2, .. })
    ));
    assert!(matches!(
        Checkpoint::parse_body(""),
        Err(CheckpointError::Malformed { line: 1, .. })
    ));
}

#[test]
fn validate_rejects_unsignable_checkpoints() {
    for bad in [
        Checkpoint {
            origin: String::new(),
            ..checkpoint()
        },
        Checkpoint {
            origin: "a\n5".to_owned(),
            ..checkpoint()
        },
        Checkpoint {
            extensions: vec![String::new()],
            ..checkpoint()
        },
        Checkpoint {
            extensions: vec!["x\ny".to_owned()],
            ..checkpoint()
        },
        Checkpoint {
            origin: "tab\there".to_owned(),
            ..checkpoint()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
        assert!(open(&signer().sign_checkpoint(&bad)).map(|s| s.checkpoint) != Ok(bad));
    }
}

#[test]
fn go_vector_keys() {
    let signer = NoteSigner::parse(GO_SKEY).expect("Go signer key");
    assert_eq!(signer.name(), "PeterNeumann");
    assert_eq!(signer.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(signer.to_string(), GO_SKEY);
    assert_eq!(signer.verifier().to_string(), GO_VKEY);

    let verifier = NoteVerifier::parse(GO_VKEY).expect("Go verifier key");
    assert_eq!(verifier, signer.verifier());
    assert_eq!(verifier.name(), "PeterNeumann");
    assert_eq!(verifier.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(verifier.to_string(), GO_VKEY);
    assert_eq!(GO_VKEY.parse::<NoteVerifier>(), Ok(verifier.clone()));

    let enoch = NoteVerifier::parse(GO_ENOCH_VKEY).expect("Go verifier key");
    assert_eq!(enoch.key_id(), [0xaf, 0x0c, 0xfe, 0x78]);
    assert_eq!(enoch.to_string(), GO_ENOCH_VKEY);

    // Go's `Sign` output for its example text, byte for byte.
    assert_eq!(
        signer.sign_text(GO_TEXT),
        format!("{GO_TEXT}\n{GO_PETER_SIG}")
    );
}

#[test]
fn go_vector_notes_verify() {
    let peter = NoteVerifier::parse(GO_VKEY).expect("key");
    let enoch = NoteVerifier::parse(GO_ENOCH_VKEY).expect("key");
    let msg = format!("{GO_TEXT}\n{GO_PETER_SIG}{GO_ENOCH_SIG}");
    let (text, sigs) = parse_note(&msg).expect("parses");
    assert_eq!(text, GO_TEXT);
    assert_eq!(sigs.len(), 2);
    assert_eq!(verify_note(text, &sigs, &peter), Ok(()));
    assert_eq!(verify_note(text, &sigs, &enoch), Ok(()));

    // Go's "invalid signature" case: ABCD spliced into Peter's signature.
    let spliced = format!(
        "{GO_TEXT}\n{}ABCD{}",
        &GO_PETER_SIG[..60],
        &GO_PETER_SIG[60..]
    );
    let (text, sigs) = parse_note(&spliced).expect("parses");
    assert!(matches!(
        verify_note(text, &sigs, &peter),
        Err(CheckpointError::BadSignature { .. })
    ));

    // Go's malformed messages.
    for bad in [
        GO_TEXT.to_owned(),
        format!("{GO_TEXT}\n"),
        format!("{GO_TEXT}\n{}", &GO_PETER_SIG[..GO_PETER_SIG.len() - 1]),
        format!("\x01{GO_TEXT}\n{GO_PETER_SIG}"),
        format!(
            "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
        ),
        format!("{GO_TEXT}\n{GO_PETER_SIG}Unexpected line.\n"),
        format!("{GO_TEXT}\n{}", GO_PETER_SIG.repeat(101)),
    ] {
        assert!(
            matches!(parse_note(&bad), Err(CheckpointError::Malformed { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn key_id_matches_independent_computation() {
    let seed = [42u8; 32];
    let name = "cairn.example/log";
    let signer = NoteSigner::new(name, &seed).expect("signer");
    let public = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    let mut input = Vec::new();
    input.extend_from_slice(name.as_bytes());
    input.push(0x0a);
    input.push(0x01);
    input.extend_from_slice(&public);
    let digest = Sha256::digest(&input);
    assert_eq!(signer.key_id()[..], digest[..4]);
    assert_eq!(signer.verifier().key_id(), signer.key_id());
    assert_eq!(signer.verifier().public_key(), public);

    let vkey = signer.verifier().to_string();
    let mut key_data = vec![0x01];
    key_data.extend_from_slice(&public);
    assert_eq!(
        vkey,
        format!(
            "{name}+{}+{}",
            hex::encode(&digest[..4]),
            STANDARD.encode(&key_data)
        )
    );
    let parsed = NoteVerifier::parse(&vkey).expect("round trip");
    assert_eq!(parsed, signer.verifier());
    assert_eq!(parsed.to_string(), vkey);
    assert_eq!(
        NoteVerifier::new(name, &public).expect("new"),
        signer.verifier()
    );

    let skey = signer.to_string();
    let reparsed = NoteSigner::parse(&skey).expect("signer round trip");
    assert_eq!(reparsed.to_string(), skey);
    assert_eq!(reparsed.key_id(), signer.key_id());
}

/// Go's key mangling tests: every proper substring and every one-byte change
/// of the example keys is rejected.
#[test]
fn mangled_keys_rejected() {
    for (key, parse) in [
        (
            GO_VKEY,
            (|s: &str| NoteVerifier::parse(s).map(|_| ())) as fn(&str) -> _,
        ),
        (GO_SKEY, |s: &str| NoteSigner::parse(s).map(|_| ())),
    ] {
        let b = key.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i != 0 || j != b.len() {
                    let s = &key[i..j];
                    assert!(
                        matches!(parse(s), Err(CheckpointError::BadKey { .. })),
                        "{s:?}"
                    );
                }
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).expect("ascii");
            assert!(parse(&s).is_err(), "{s:?}");
        }
    }
    // Wrong length key and unknown algorithm, each with an adjusted key id (Go).
    assert!(NoteVerifier::parse(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    assert!(NoteVerifier::parse(
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    .is_err());
    // A signer key is not a verifier key, and vice versa.
    assert!(NoteVerifier::parse(GO_SKEY).is_err());
    assert!(NoteSigner::parse(GO_VKEY).is_err());
}

#[test]
fn key_names_validated() {
    for bad in ["", "a b", "a+b", "a\nb", "a\u{3000}b", "a\u{1}b"] {
        assert!(
            matches!(
                NoteSigner::new(bad, &SEED),
                Err(CheckpointError::BadKey { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(NoteSigner::new("ünïcode.example/ok", &SEED).is_ok());
    // Debug never shows the seed.
    let dbg = format!("{:?}", signer());
    assert!(dbg.contains("redacted"));
    assert!(!dbg.contains(&STANDARD.encode(SEED)[..8]));
}

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

#[test]
fn fuzz_parse_smoke() {
    let fuzz_signer = NoteSigner::new("fuzz.example/log", &[7; 32]).expect("signer");
    let note = fuzz_signer.sign_checkpoint(&Checkpoint {
        origin: "fuzz.example/log".to_owned(),
        size: 3,
        root: [5; 32],
        extensions: vec!["e".to_owned()],
    });
    fuzz_parse(note.as_bytes());
    for i in 0..note.len() {
        fuzz_parse(&note.as_bytes()[..i]);
        fuzz_parse(&note.as_bytes()[i..]);
        let mut b = note.as_bytes().to_vec();
        b[i] ^= 0x20;
        fuzz_parse(&b);
    }
    for input in [
        &b""[..],
        b"\n",
        b"\n\n",
        b"\n\n\n",
        b"\xff\xfe",
        "\u{2014} \n".as_bytes(),
        GO_VKEY.as_bytes(),
        GO_SKEY.as_bytes(),
        b"a\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    ] {
        fuzz_parse(input);
    }
}

proptest! {
    #[test]
    fn prop_sign_open_round_trip(
        origin in "[a-z0-9./-]{1,40}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        extensions in proptest::collection::vec("[^\\x00-\\x1f\\x7f-\\u{9f}]{1,20}", 0..4),
        seed in any::<[u8; 32]>(),
    ) {
        let cp = Checkpoint { origin: origin.clone(), size, root, extensions };
        prop_assert_eq!(cp.validate(), Ok(()));
        let s = NoteSigner::new(&origin, &seed).expect("signer");
        let note = s.sign_checkpoint(&cp);
        let opened = open_checkpoint(&note, &s.verifier()).expect("opens");
        prop_assert_eq!(opened.checkpoint, cp);
        prop_assert_eq!(opened.note, note);
    }

    #[test]
    fn prop_fuzz_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzz_parse(&data);
    }
}
