//! Signed checkpoints: C2SP [`tlog-checkpoint`] bodies wrapped in C2SP
//! [`signed-note`]s with Ed25519 signatures.
//!
//! A checkpoint commits to the state of the ledger's Merkle tree:
//!
//! ```text
//! example.com/log          <- origin
//! 20852163                 <- tree size (decimal, no leading zeros)
//! CsUYapGGPo4dkMgI...2I=   <- base64 of the 32-byte root hash
//! optional extension lines
//!
//! — example.com/log Az3grlgtzPICa5OS8npV...
//! ```
//!
//! The signature covers the body up to and including its final newline (not the
//! blank separator line). A signature line is an em dash (U+2014), a space, the key
//! name, a space, and `base64(key id ‖ Ed25519 signature)`, where the key id is
//! `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
//!
//! Key strings use the format of Go's `golang.org/x/mod/sumdb/note` package, so keys
//! and notes interoperate with the Go ecosystem:
//!
//! * verifier key: `<name>+<hex key id>+<base64(0x01 ‖ public key)>`
//! * signer key: `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`
//!
//! Parsing is strict: anything the formats do not allow is rejected with a
//! [`CheckpointError`] that names the offending line. Signing takes the key seed from
//! the caller; this module does no I/O and draws no randomness.
//!
//! [`tlog-checkpoint`]: https://c2sp.org/tlog-checkpoint
//! [`signed-note`]: https://c2sp.org/signed-note

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

use crate::hash::Hash;

mod keys;

#[cfg(test)]
use keys::message_bytes;
pub use keys::{NoteSigner, NoteVerifier, MESSAGE_CONTEXT};

/// Largest note [`open_checkpoint`] accepts, in bytes (1 MiB).
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// Most signature lines [`open_checkpoint`] accepts in one note (Go's limit).
pub const MAX_SIGNATURES: usize = 100;

/// Signature type byte of Ed25519 in the signed-note format.
const ALG_ED25519: u8 = 0x01;

/// Start of every signature line: em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Start of an encoded signer key.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Longest excerpt of untrusted input quoted in an error message.
const MAX_QUOTE: usize = 64;

/// Why a checkpoint, note or key was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note or checkpoint body does not follow the format.
    #[error("malformed checkpoint note, line {line}: {reason}")]
    Malformed {
        /// 1-based line number within the note (or body) where the problem is.
        line: usize,
        /// What is wrong with that line.
        reason: String,
    },
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("checkpoint note is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Size of the rejected note in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No signature line carries both the verifier's key name and key id.
    #[error(
        "the note has no signature by key {key_name:?} with the expected key id; \
         it was signed by other keys only (check that the configured verifier key is the log's current key)"
    )]
    NoMatchingSignature {
        /// Name of the verifier key that was looked for.
        key_name: String,
    },
    /// A signature line from the verifier's key does not verify.
    #[error(
        "signature by key {key_name:?} does not verify: the checkpoint text was altered, \
         or it was signed by a different key with the same name and key id"
    )]
    BadSignature {
        /// Name of the key whose signature failed.
        key_name: String,
    },
    /// A key name, signer key or verifier key string is invalid.
    #[error("invalid note key: {reason}")]
    BadKey {
        /// What is wrong with the key.
        reason: String,
    },
}

fn malformed(line: usize, reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed {
        line,
        reason: reason.into(),
    }
}

fn bad_key(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::BadKey {
        reason: reason.into(),
    }
}

/// Quotes untrusted text for an error message, truncated to a sane length.
fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// 1-based number of the line that contains byte offset `pos` of `text`.
fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Rejects control characters other than newline: Unicode general category
/// Cc, U+0000–U+001F and U+007F–U+009F (`schemas/entry-v1.md`, Checkpoints),
/// the same set a decision's strings may not hold.
fn check_no_control(text: &str) -> Result<(), CheckpointError> {
    match text
        .char_indices()
        .find(|&(_, c)| c.is_control() && c != '\n')
    {
        Some((pos, c)) => Err(malformed(
            line_of(text, pos),
            format!(
                "control character U+{:04X} is not allowed (only newline is)",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Why `name` is not a valid key name, if it is not.
///
/// Key names must be non-empty and contain no Unicode spaces and no `+`; control
/// characters are also refused because a note may not contain them.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("key name is empty")
    } else if name.chars().any(char::is_whitespace) {
        Some("key name contains a space character")
    } else if name.contains('+') {
        Some("key name contains '+'")
    } else if name.chars().any(char::is_control) {
        Some("key name contains a control character")
    } else {
        None
    }
}

fn check_key_name(name: &str) -> Result<(), CheckpointError> {
    match name_problem(name) {
        Some(p) => Err(bad_key(format!("{p}: {}", quote(name)))),
        None => Ok(()),
    }
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`, the signed-note Ed25519 key id.
fn compute_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public_key);
    let digest = h.finalize();
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest[..4]);
    id
}

/// A transparency-log checkpoint: the body of a signed note.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// Identity of the log, e.g. `example.com/log`. Non-empty, one line.
    pub origin: String,
    /// Number of entries (Merkle leaves) in the tree.
    pub size: u64,
    /// Merkle root of the first `size` entries.
    pub root: Hash,
    /// Opaque, non-empty extension lines, without their newlines.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n` then each extension line and a
    /// newline. This is exactly the text a signature covers.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            s.push_str(ext);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint body strictly.
    ///
    /// The text must end with a newline and consist of at least three non-empty
    /// lines: a non-empty origin, the tree size in decimal (no sign, no leading zeros
    /// except `0` itself, at most `u64::MAX`), and the root as padded standard base64
    /// of exactly 32 bytes; any further lines are extension lines and must be
    /// non-empty. No control characters (U+0000–U+001F, U+007F–U+009F) other than newline are allowed. A
    /// successfully parsed body re-encodes byte for byte with [`Checkpoint::body`].
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        check_no_control(text)?;
        let Some(content) = text.strip_suffix('\n') else {
            return Err(malformed(
                line_of(text, text.len()),
                "checkpoint body does not end with a newline",
            ));
        };
        let lines: Vec<&str> = content.split('\n').collect();
        if let Some(i) = lines.iter().position(|l| l.is_empty()) {
            return Err(malformed(
                i + 1,
                "empty line in checkpoint body (exactly one blank line must separate \
                 the body from the signatures, and the body may contain none)",
            ));
        }
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(malformed(
                lines.len(),
                format!(
                    "checkpoint body has {} line(s); it needs an origin, a tree size and a root hash",
                    lines.len()
                ),
            ));
        };
        let size = parse_size(size).map_err(|reason| malformed(2, reason))?;
        let root = parse_root(root).map_err(|reason| malformed(3, reason))?;
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|&e| e.to_owned()).collect(),
        })
    }

    /// Checks that [`Checkpoint::body`] would produce a body that parses back to this
    /// checkpoint: the origin and extension lines are non-empty and contain no
    /// newline or other control character.
    ///
    /// A checkpoint that fails this check still signs, but the resulting note is
    /// rejected by [`open_checkpoint`] (or opens as a different checkpoint).
    pub fn validate(&self) -> Result<(), CheckpointError> {
        let parsed = Checkpoint::parse_body(&self.body())?;
        if &parsed == self {
            Ok(())
        } else {
            Err(malformed(
                1,
                "origin or an extension line contains a newline, so the body does not parse back to this checkpoint",
            ))
        }
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "tree size {} is not a plain decimal number (digits 0-9 only, no sign or exponent)",
            quote(s)
        ));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(format!("tree size {} has a leading zero", quote(s)));
    }
    s.parse::<u64>()
        .map_err(|_| format!("tree size {} does not fit in 64 bits", quote(s)))
}

fn parse_root(s: &str) -> Result<Hash, String> {
    let bytes = STANDARD
        .decode(s)
        .map_err(|e| format!("root hash {} is not padded standard base64: {e}", quote(s)))?;
    Hash::try_from(bytes.as_slice()).map_err(|_| {
        format!(
            "root hash decodes to {} bytes; it must be exactly 32",
            bytes.len()
        )
    })
}

/// A checkpoint whose note carried a valid signature from the expected key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The parsed checkpoint body.
    pub checkpoint: Checkpoint,
    /// The complete signed note, byte for byte as received.
    pub note: String,
}

/// One syntactically valid signature line, not yet verified.
struct SignatureLine<'a> {
    name: &'a str,
    /// Key id followed by the signature bytes (at least 5 bytes in all).
    blob: Vec<u8>,
}

/// Parses the signed-note structure of `note` without verifying anything.
fn parse_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), CheckpointError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(CheckpointError::TooLarge {
            size: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    check_no_control(note)?;
    if !note.ends_with('\n') {
        return Err(malformed(
            line_of(note, note.len()),
            "note does not end with a newline",
        ));
    }
    // The text is separated from the signatures by the last blank line.
    let Some(split) = note.rfind("\n\n") else {
        // Point at the first signature line, if there is one.
        let line = match note.find(&format!("\n{SIG_PREFIX}")) {
            Some(pos) => line_of(note, pos + 1),
            None => line_of(note, note.len() - 1),
        };
        return Err(malformed(
            line,
            "no blank line separates the checkpoint body from the signature lines",
        ));
    };
    let text = &note[..split + 1];
    let sigs = &note[split + 2..];
    let first_sig_line = line_of(note, split + 2);
    if sigs.is_empty() {
        return Err(malformed(
            first_sig_line,
            "note has no signature lines after the blank line",
        ));
    }
    let mut out = Vec::new();
    // `sigs` ends with a newline and contains no empty line.
    for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
        let line_no = first_sig_line + i;
        if i >= MAX_SIGNATURES {
            return Err(malformed(
                line_no,
                format!("note has more than {MAX_SIGNATURES} signature lines"),
            ));
        }
        let Some(rest) = line.strip_prefix(SIG_PREFIX) else {
            return Err(malformed(
                line_no,
                format!(
                    "signature line {} does not start with an em dash (U+2014) and a space",
                    quote(line)
                ),
            ));
        };
        let Some((name, b64)) = rest.split_once(' ') else {
            return Err(malformed(
                line_no,
                "signature line has no space between the key name and the signature",
            ));
        };
        if let Some(p) = name_problem(name) {
            return Err(malformed(
                line_no,
                format!("signature line: {p}: {}", quote(name)),
            ));
        }
        let blob = STANDARD.decode(b64).map_err(|e| {
            malformed(
                line_no,
                format!("signature is not padded standard base64: {e}"),
            )
        })?;
        if blob.len() < 5 {
            return Err(malformed(
                line_no,
                format!(
                    "signature is {} bytes; it needs a 4-byte key id and at least one signature byte",
                    blob.len()
                ),
            ));
        }
        out.push(SignatureLine { name, blob });
    }
    Ok((text, out))
}

/// Verifies the signatures of a parsed note against `verifier`.
///
/// Every signature line with the verifier's name and key id must verify (with
/// `verify_strict`), and there must be at least one; all other lines are ignored.
fn verify_note(
    text: &str,
    signatures: &[SignatureLine<'_>],
    verifier: &NoteVerifier,
) -> Result<(), CheckpointError> {
    let mut matched = false;
    for line in signatures {
        let Some((key_id, sig)) = line.blob.split_first_chunk::<4>() else {
            continue; // parse_note guarantees at least 5 bytes
        };
        if line.name != verifier.name || *key_id != verifier.key_id {
            continue;
        }
        let bad = || CheckpointError::BadSignature {
            key_name: verifier.name.clone(),
        };
        let sig = <&[u8; 64]>::try_from(sig).map_err(|_| bad())?;
        verifier
            .key
            .verify_strict(text.as_bytes(), &Signature::from_bytes(sig))
            .map_err(|_| bad())?;
        matched = true;
    }
    if matched {
        Ok(())
    } else {
        Err(CheckpointError::NoMatchingSignature {
            key_name: verifier.name.clone(),
        })
    }
}

/// Parses a signed checkpoint note strictly and verifies its signature by
/// `verifier`.
///
/// The note must be at most [`MAX_NOTE_BYTES`], end with a newline, contain no
/// control character (U+0000–U+001F, U+007F–U+009F) other than newline, and consist of a checkpoint body (see
/// [`Checkpoint::parse_body`]), exactly one blank line, and 1 to [`MAX_SIGNATURES`]
/// well-formed signature lines. Signature lines whose key name or key id differ from
/// the verifier's are ignored (other logs, witnesses, rotated keys); every line
/// matching both must verify, and at least one must be present.
///
/// The caller decides whether `checkpoint.origin` is the origin it expects.
pub fn open_checkpoint(
    note: &str,
    verifier: &NoteVerifier,
) -> Result<SignedCheckpoint, CheckpointError> {
    let (text, signatures) = parse_note(note)?;
    let checkpoint = Checkpoint::parse_body(text)?;
    verify_note(text, &signatures, verifier)?;
    Ok(SignedCheckpoint {
        checkpoint,
        note: note.to_owned(),
    })
}

/// Fuzzing entry point: parses arbitrary bytes as a signed checkpoint note (and as
/// a checkpoint body and key strings) and checks round-trip invariants. Never panics
/// on any input unless an invariant is broken.
///
/// Notes are verified against the key named `fuzz.example/log` with seed
/// `[7; 32]`; seed corpora can be signed with
/// `NoteSigner::new("fuzz.example/log", &[7; 32])`.
pub fn fuzz_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(checkpoint) = Checkpoint::parse_body(text) {
        assert_eq!(
            checkpoint.body(),
            text,
            "parse_body accepted a non-canonical body"
        );
    }
    if let Ok(verifier) = NoteVerifier::parse(text) {
        let reparsed = NoteVerifier::parse(&verifier.to_string());
        assert_eq!(
            reparsed.ok(),
            Some(verifier),
            "verifier key does not round-trip"
        );
    }
    if let Ok(signer) = NoteSigner::parse(text) {
        let reparsed = NoteSigner::parse(&signer.to_string()).map(|s| s.to_string());
        assert_eq!(
            reparsed.ok(),
            Some(signer.to_string()),
            "signer key does not round-trip"
        );
    }
    let Ok(signer) = NoteSigner::new("fuzz.example/log", &[7; 32]) else {
        return;
    };
    if let Ok(signed) = open_checkpoint(text, &signer.verifier()) {
        assert!(
            text.starts_with(&signed.checkpoint.body()),
            "opened checkpoint is not the note's body"
        );
    }
}

#[cfg(test)]
mod tests;
