//! Note signing and verifier keys: Ed25519 keys with their names, in the key
//! string format of Go's `golang.org/x/mod/sumdb/note` (see the module above).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::{
    bad_key, check_key_name, compute_key_id, quote, Checkpoint, CheckpointError, ALG_ED25519,
    PRIVATE_KEY_PREFIX, SIG_PREFIX,
};

/// An Ed25519 note signing key with its name.
///
/// `Debug` does not show the seed. The encoded key string is available from
/// [`NoteSigner::to_string`]; it is deliberately not a `Display` implementation so
/// that the secret key cannot end up in a log message through `{}` formatting.
#[derive(Clone)]
pub struct NoteSigner {
    pub(super) name: String,
    pub(super) key: SigningKey,
    pub(super) key_id: [u8; 4],
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
    pub(super) fn sign_text(&self, text: &str) -> String {
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

pub(super) fn message_bytes(context: &str, message: &[u8]) -> Vec<u8> {
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
    pub(super) name: String,
    pub(super) key: VerifyingKey,
    pub(super) key_id: [u8; 4],
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
