//! Tests of `checkpoint`.

use super::*;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

mod notes;

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
