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

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::Hash;

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

/// An Ed25519 note signing key with its name.
///
/// `Debug` does not show the seed. The encoded key string is available from
/// [`NoteSigner::to_string`]; it is deliberately not a `Display` implementation so
/// that the secret key cannot end up in a log message through `{}` formatting.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl NoteSigner {
    /// A signer named `name` (usually the log's origin) with the Ed25519 key derived
    /// from the 32-byte `seed`. The caller supplies the seed's randomness.
    ///
    /// Fails with [`CheckpointError::BadKey`] if the name is empty or contains a
    /// space, a `+` or a control character.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, CheckpointError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let key_id = compute_key_id(name, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_owned(),
            key,
            key_id,
        })
    }

    /// Parses an encoded signer key, `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖
    /// seed)>`, checking that the key id matches the key.
    pub fn parse(s: &str) -> Result<NoteSigner, CheckpointError> {
        let Some(rest) = s.strip_prefix(PRIVATE_KEY_PREFIX) else {
            return Err(bad_key(
                "signer key does not start with \"PRIVATE+KEY+\" (is this a verifier key?)",
            ));
        };
        let (name, claimed_id, seed) = parse_key_parts(rest, "signer")?;
        let signer = NoteSigner::new(name, &seed)?;
        if signer.key_id != claimed_id {
            return Err(bad_key(format!(
                "signer key id {} does not match the key (computed {})",
                hex::encode(claimed_id),
                hex::encode(signer.key_id)
            )));
        }
        Ok(signer)
    }

    /// The encoded signer key, `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖
    /// seed)>`. This is secret: anyone holding it can sign checkpoints.
    #[allow(clippy::inherent_to_string)] // deliberately not Display; see the type docs
    pub fn to_string(&self) -> String {
        let mut data = Vec::with_capacity(33);
        data.push(ALG_ED25519);
        data.extend_from_slice(self.key.as_bytes());
        format!(
            "{PRIVATE_KEY_PREFIX}{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            STANDARD.encode(&data)
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The matching verifier (public) key.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    /// Signs `checkpoint` and returns the complete note: the body, a blank line and
    /// the signature line `— <name> <base64(key id ‖ signature)>\n`.
    ///
    /// The checkpoint should pass [`Checkpoint::validate`]; otherwise the note will
    /// not open as the same checkpoint.
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> String {
        self.sign_text(&checkpoint.body())
    }

    /// Signs a message that is not a note (a webhook body, say): the Ed25519
    /// signature of `MESSAGE_CONTEXT ‖ context ‖ "\n" ‖ message`, returned as
    /// `base64(key id ‖ signature)` like a note's signature. The prefix keeps such
    /// a signature from ever being one of a checkpoint note, whose text never
    /// starts with it.
    pub fn sign_message(&self, context: &str, message: &[u8]) -> String {
        let signature = self.key.sign(&message_bytes(context, message));
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&signature.to_bytes());
        STANDARD.encode(&blob)
    }

    /// Signs an arbitrary note text (which must end with a newline).
    fn sign_text(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&signature.to_bytes());
        format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(&blob)
        )
    }
}

/// What [`NoteSigner::sign_message`] signs before the context.
pub const MESSAGE_CONTEXT: &str = "cairn-signed-message-v1 ";

fn message_bytes(context: &str, message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(MESSAGE_CONTEXT.len() + context.len() + 1 + message.len());
    m.extend_from_slice(MESSAGE_CONTEXT.as_bytes());
    m.extend_from_slice(context.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(message);
    m
}

/// An Ed25519 note verifier key with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    key_id: [u8; 4],
}

impl NoteVerifier {
    /// A verifier named `name` for the Ed25519 public key `public_key`.
    ///
    /// Fails with [`CheckpointError::BadKey`] if the name is invalid, or the key is
    /// not a valid Ed25519 point or is a weak (small-order) key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<NoteVerifier, CheckpointError> {
        check_key_name(name)?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| bad_key("public key is not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad_key("public key is a weak (small-order) Ed25519 key"));
        }
        Ok(NoteVerifier {
            name: name.to_owned(),
            key,
            key_id: compute_key_id(name, public_key),
        })
    }

    /// Checks a [`NoteSigner::sign_message`] signature of `message` in `context`.
    pub fn verify_message(&self, context: &str, message: &[u8], signature_b64: &str) -> bool {
        let Ok(blob) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        if blob.len() != 4 + 64 || blob[..4] != self.key_id {
            return false;
        }
        let Ok(sig) = Signature::from_slice(&blob[4..]) else {
            return false;
        };
        self.key
            .verify_strict(&message_bytes(context, message), &sig)
            .is_ok()
    }

    /// Parses an encoded verifier key, `<name>+<hex key id>+<base64(0x01 ‖ public
    /// key)>`, checking that the key id matches the name and key.
    pub fn parse(s: &str) -> Result<NoteVerifier, CheckpointError> {
        if s.starts_with(PRIVATE_KEY_PREFIX) {
            return Err(bad_key(
                "this is a private signer key, not a verifier key; do not distribute it",
            ));
        }
        let (name, claimed_id, public_key) = parse_key_parts(s, "verifier")?;
        let verifier = NoteVerifier::new(name, &public_key)?;
        if verifier.key_id != claimed_id {
            return Err(bad_key(format!(
                "verifier key id {} does not match the name and key (computed {})",
                hex::encode(claimed_id),
                hex::encode(verifier.key_id)
            )));
        }
        Ok(verifier)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signed-note key id: `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl fmt::Display for NoteVerifier {
    /// Writes the encoded verifier key, `<name>+<hex key id>+<base64(0x01 ‖ public
    /// key)>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut data = Vec::with_capacity(33);
        data.push(ALG_ED25519);
        data.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id),
            STANDARD.encode(&data)
        )
    }
}

impl FromStr for NoteVerifier {
    type Err = CheckpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoteVerifier::parse(s)
    }
}

/// Splits `<name>+<hex key id>+<base64(0x01 ‖ 32 bytes)>` into its parts.
fn parse_key_parts<'a>(
    s: &'a str,
    what: &str,
) -> Result<(&'a str, [u8; 4], [u8; 32]), CheckpointError> {
    let format = "<name>+<8 hex digit key id>+<base64 key>";
    let Some((name, rest)) = s.split_once('+') else {
        return Err(bad_key(format!("{what} key is not of the form {format}")));
    };
    let Some((id_hex, key_b64)) = rest.split_once('+') else {
        return Err(bad_key(format!("{what} key is not of the form {format}")));
    };
    check_key_name(name)?;
    let mut id = [0u8; 4];
    if id_hex.len() != 8 || hex::decode_to_slice(id_hex, &mut id).is_err() {
        return Err(bad_key(format!(
            "{what} key id {} is not 8 hex digits",
            quote(id_hex)
        )));
    }
    let data = STANDARD.decode(key_b64).map_err(|e| {
        bad_key(format!(
            "{what} key data is not padded standard base64: {e}"
        ))
    })?;
    let Some((&alg, key)) = data.split_first() else {
        return Err(bad_key(format!("{what} key data is empty")));
    };
    if alg != ALG_ED25519 {
        return Err(bad_key(format!(
            "{what} key has signature type 0x{alg:02x}; only Ed25519 (0x01) is supported"
        )));
    }
    let key = <[u8; 32]>::try_from(key).map_err(|_| {
        bad_key(format!(
            "{what} key is {} bytes after the type byte; Ed25519 keys are 32",
            key.len()
        ))
    })?;
    Ok((name, id, key))
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
mod tests {
    use super::*;
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
        assert_no_matching(
            &note.replace(&format!("\u{2014} {NAME} "), "\u{2014} other.example/log "),
        );
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
}
