//! The checks of a parsed bundle: key, checkpoint and signature, entries and
//! their inclusion proofs, payloads and erasures; then the summary of what a
//! valid bundle proves.

use std::collections::HashMap;

use crate::checkpoint::{open_checkpoint, Checkpoint, CheckpointError, NoteVerifier};
use crate::entry::{Entry, EntryBody, PayloadSlot};
use crate::hash::{leaf_hash, payload_commitment, Blake3Hasher, Hash, ZERO_HASH};
use crate::merkle::{verify_inclusion, VerifyError};

use super::diagnose::{self, Blame, KnownNodes};
use super::lowerhex;
use super::read::{RawBundle, RawEntry, RawPayloads, RawSlot};
use super::{BundleReport, Erasure, Location, ProvenEntry, VerifyOptions};

/// An entry whose fields all parsed.
struct Decoded<'r> {
    index: usize,
    entry: Entry,
    /// The leaf hash of the entry bytes as found.
    leaf: Hash,
    /// The `leaf_hash` field.
    stated_leaf: Hash,
    proof: Vec<Hash>,
    payloads: Option<&'r RawPayloads<'r>>,
}

impl Decoded<'_> {
    fn seq(&self) -> u64 {
        self.entry.seq
    }
}

/// What checking the signature found.
enum Signature {
    /// Verified.
    Good,
    /// Does not verify over the checkpoint text.
    Bad(String),
    /// Not checked (no usable key, or the note is malformed): already reported.
    Unchecked,
}

/// Runs every check, adding findings and the summary to `r`.
pub(super) fn check<'r>(raw: &'r RawBundle<'r>, opts: VerifyOptions<'_>, r: &mut BundleReport) {
    let key = resolve_key(&raw.verifier_key, opts.trusted_key, r);
    let checkpoint = read_checkpoint(&raw.checkpoint, r);
    let signature = match (&key, &checkpoint) {
        (Some(k), Some(_)) => check_signature(&raw.checkpoint, k, r),
        _ => Signature::Unchecked,
    };
    let entries = decode_entries(&raw.entries, r);
    if entries.is_empty() && raw.entries.is_empty() {
        r.find(
            Location::Document,
            "the bundle holds no entries: it proves nothing",
        );
    }
    if let Some(cp) = &checkpoint {
        check_order(&entries, r);
        check_proofs(&entries, cp, signature, r);
    }
    check_payloads(&entries, r);
    summarize(entries, opts.keep_entries, r);
}

fn resolve_key(
    embedded: &str,
    trusted: Option<&NoteVerifier>,
    r: &mut BundleReport,
) -> Option<NoteVerifier> {
    let parsed = NoteVerifier::parse(embedded);
    let key = match (trusted, parsed) {
        (Some(t), Ok(e)) if e == *t => Some(e),
        (Some(t), Ok(e)) => {
            r.find(
                Location::VerifierKey,
                format!("the bundle carries key {e}, not the key you trust ({t})"),
            );
            Some(t.clone())
        }
        (Some(t), Err(err)) => {
            r.find(
                Location::VerifierKey,
                format!("not a valid verifier key: {err}"),
            );
            Some(t.clone())
        }
        (None, Ok(e)) => Some(e),
        (None, Err(err)) => {
            r.find(
                Location::VerifierKey,
                format!("not a valid verifier key, so the signature cannot be checked: {err}"),
            );
            None
        }
    };
    if let Some(k) = &key {
        r.key_name = Some(k.name().to_owned());
        r.key = Some(k.to_string());
    }
    key
}

/// The checkpoint's body, parsed without looking at the signatures.
fn read_checkpoint(note: &str, r: &mut BundleReport) -> Option<Checkpoint> {
    // Before anything is parsed: a body of many lines costs memory per line.
    if note.len() > crate::checkpoint::MAX_NOTE_BYTES {
        r.find(
            Location::Checkpoint,
            format!(
                "the checkpoint note is {} bytes, over the {} a signed note may be",
                note.len(),
                crate::checkpoint::MAX_NOTE_BYTES
            ),
        );
        return None;
    }
    let Some(split) = note.rfind("\n\n") else {
        r.find(
            Location::Checkpoint,
            "not a signed note: no blank line separates the checkpoint from its signatures",
        );
        return None;
    };
    match Checkpoint::parse_body(&note[..split + 1]) {
        Ok(cp) => {
            r.origin = Some(cp.origin.clone());
            r.size = Some(cp.size);
            r.root = Some(cp.root);
            Some(cp)
        }
        Err(e) => {
            r.find(Location::Checkpoint, e.to_string());
            None
        }
    }
}

fn check_signature(note: &str, key: &NoteVerifier, r: &mut BundleReport) -> Signature {
    match open_checkpoint(note, key) {
        Ok(_) => Signature::Good,
        Err(CheckpointError::BadSignature { key_name }) => Signature::Bad(key_name),
        Err(CheckpointError::NoMatchingSignature { key_name }) => {
            r.find(
                Location::Signature,
                format!(
                    "the checkpoint carries no signature by key {key_name:?} with key id {}: \
                     it was not signed by this key, or the signature line's key name or id was altered",
                    hex::encode(key.key_id())
                ),
            );
            Signature::Unchecked
        }
        Err(e @ CheckpointError::TooLarge { .. }) => {
            r.find(Location::Checkpoint, e.to_string());
            Signature::Unchecked
        }
        Err(e) => {
            r.find(Location::Signature, e.to_string());
            Signature::Unchecked
        }
    }
}

fn decode_entries<'r>(raw: &'r [RawEntry<'r>], r: &mut BundleReport) -> Vec<Decoded<'r>> {
    raw.iter()
        .enumerate()
        .filter_map(|(index, e)| decode_entry(index, e, r))
        .collect()
}

fn decode_entry<'r>(
    index: usize,
    e: &'r RawEntry<'r>,
    r: &mut BundleReport,
) -> Option<Decoded<'r>> {
    let at = Location::Entry {
        index,
        seq: Some(e.seq),
    };
    let bytes = match lowerhex::decode(&e.entry) {
        Ok(b) => b,
        Err(err) => {
            r.find(at, format!("`entry` is not lower-case hex: {err}"));
            return None;
        }
    };
    let entry = match Entry::decode(&bytes) {
        Ok(entry) => entry,
        Err(err) => {
            r.find(at, format!("the entry bytes were altered: {err}"));
            return None;
        }
    };
    if entry.seq != e.seq {
        r.find(
            at,
            format!(
                "`seq` says {} but the entry bytes are seq {}: the seq field was altered",
                e.seq, entry.seq
            ),
        );
    }
    let seq = entry.seq;
    let stated_leaf = parse_hash(&e.leaf_hash)
        .map_err(|p| r.find(Location::LeafHash { seq }, p))
        .ok()?;
    // A tree of at most 2^64 leaves has proofs of at most 64 hashes.
    if e.proof.len() > 64 {
        r.find(
            Location::Proof { seq, hash: None },
            format!(
                "the proof holds {} hashes; no inclusion proof holds more than 64",
                e.proof.len()
            ),
        );
        return None;
    }
    let mut proof = Vec::with_capacity(e.proof.len());
    for (i, h) in e.proof.iter().enumerate() {
        match parse_hash(h) {
            Ok(h) => proof.push(h),
            Err(p) => {
                r.find(Location::Proof { seq, hash: Some(i) }, p);
                return None;
            }
        }
    }
    Some(Decoded {
        index,
        leaf: leaf_hash(&bytes),
        entry,
        stated_leaf,
        proof,
        payloads: e.payloads.as_ref(),
    })
}

fn parse_hash(text: &str) -> Result<Hash, String> {
    let mut h = [0u8; 32];
    lowerhex::decode_into(text, &mut h)
        .map_err(|e| format!("{:.80?} is not a 32-byte hash in lower-case hex: {e}", text))?;
    Ok(h)
}

/// Ascending seqs, and the hash chain wherever the bundle holds both ends of
/// a link (adjacent seqs, or seq 0 and its zero `prev_hash`).
fn check_order(entries: &[Decoded<'_>], r: &mut BundleReport) {
    let at = |d: &Decoded<'_>| Location::Entry {
        index: d.index,
        seq: Some(d.seq()),
    };
    if let Some(d) = entries
        .first()
        .filter(|d| d.seq() == 0 && d.entry.prev_hash != ZERO_HASH)
    {
        r.find(at(d), "seq 0 has a prev_hash other than 32 zero bytes");
    }
    for pair in entries.windows(2) {
        let (prev, d) = (&pair[0], &pair[1]);
        if prev.seq().checked_add(1) == Some(d.seq()) && d.entry.prev_hash != prev.leaf {
            let problem = format!(
                "prev_hash does not link to the leaf hash of seq {}",
                prev.seq()
            );
            r.find(at(d), problem);
        }
        if prev.seq() >= d.seq() {
            r.find(
                Location::Entry {
                    index: d.index,
                    seq: Some(d.seq()),
                },
                format!(
                    "entries must be in ascending seq order, without repeats; it follows seq {}",
                    prev.seq()
                ),
            );
        }
    }
}

/// The result of one entry's inclusion check, before diagnosis.
enum Outcome {
    Included,
    /// Reported already (a precise finding was possible without diagnosis).
    Reported,
    /// Neither the entry nor its stated leaf hash reach the root with the proof.
    Failed(VerifyError),
}

fn check_proofs(entries: &[Decoded<'_>], cp: &Checkpoint, sig: Signature, r: &mut BundleReport) {
    let outcomes: Vec<Outcome> = entries.iter().map(|d| inclusion(d, cp, r)).collect();
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(_)))
        .count();
    if let Signature::Bad(key_name) = &sig {
        if blame_checkpoint(entries, &outcomes, failed, cp, key_name, r) {
            return;
        }
    }
    if failed == 0 {
        return;
    }
    let mut known = KnownNodes::default();
    for (d, o) in entries.iter().zip(&outcomes) {
        if matches!(o, Outcome::Included) {
            known.learn(d.seq(), cp.size, &d.leaf, &d.proof);
        }
    }
    for (d, o) in entries.iter().zip(&outcomes) {
        if let Outcome::Failed(err) = o {
            report_failed_proof(d, err, cp.size, &known, r);
        }
    }
}

fn inclusion(d: &Decoded<'_>, cp: &Checkpoint, r: &mut BundleReport) -> Outcome {
    let seq = d.seq();
    let verify =
        |leaf: &Hash| verify_inclusion(&Blake3Hasher, seq, cp.size, leaf, &d.proof, &cp.root);
    let with_bytes = verify(&d.leaf);
    if d.leaf == d.stated_leaf {
        return match with_bytes {
            Ok(()) => Outcome::Included,
            Err(e) => Outcome::Failed(e),
        };
    }
    if with_bytes.is_ok() {
        r.find(
            Location::LeafHash { seq },
            format!(
                "`leaf_hash` was altered: the entry bytes hash to {}, which the proof and the checkpoint confirm",
                hex::encode(d.leaf)
            ),
        );
        return Outcome::Reported;
    }
    if verify(&d.stated_leaf).is_ok() {
        r.find(
            Location::Entry {
                index: d.index,
                seq: Some(seq),
            },
            format!(
                "the entry bytes were altered: they hash to {}, but the leaf the proof and the \
                 checkpoint vouch for is {}",
                hex::encode(d.leaf),
                hex::encode(d.stated_leaf)
            ),
        );
        return Outcome::Reported;
    }
    match with_bytes {
        Ok(()) => Outcome::Included,
        Err(e) => Outcome::Failed(e),
    }
}

/// When the signature does not verify, decides from the proofs whether the
/// checkpoint text or its signature was altered; true if that explains every
/// failed proof.
fn blame_checkpoint(
    entries: &[Decoded<'_>],
    outcomes: &[Outcome],
    failed: usize,
    cp: &Checkpoint,
    key_name: &str,
    r: &mut BundleReport,
) -> bool {
    if failed == 0 {
        r.find(
            Location::Signature,
            format!(
                "the signature by key {key_name:?} does not verify. Every entry's inclusion proof \
                 leads to the checkpoint's root, so the signature itself was altered, or else the \
                 checkpoint's origin, size or extension lines"
            ),
        );
        return true;
    }
    let detail = if failed == outcomes.len() {
        let proofs = entries
            .iter()
            .map(|d| (d.seq(), &d.leaf, d.proof.as_slice()));
        match diagnose::computed_roots(proofs, cp.size) {
            Some(root) if root != cp.root => format!(
                "every entry's proof leads to root {}, not to the checkpoint's {}: its root was altered",
                hex::encode(root),
                hex::encode(cp.root)
            ),
            _ => format!("no entry's inclusion proof fits its tree size {} and root", cp.size),
        }
    } else {
        format!(
            "the inclusion proofs of {failed} of {} entries do not fit its tree size {} and root",
            outcomes.len(),
            cp.size
        )
    };
    r.find(
        Location::Checkpoint,
        format!(
            "the checkpoint text was altered: its signature by key {key_name:?} no longer verifies, and {detail}"
        ),
    );
    failed == outcomes.len()
}

fn report_failed_proof(
    d: &Decoded<'_>,
    err: &VerifyError,
    size: u64,
    known: &KnownNodes,
    r: &mut BundleReport,
) {
    let seq = d.seq();
    if let VerifyError::IndexOutOfRange { .. } = err {
        r.find(
            Location::Entry {
                index: d.index,
                seq: Some(seq),
            },
            format!("seq {seq} is not in the tree of {size} entries the checkpoint signs"),
        );
        return;
    }
    if let VerifyError::WrongProofLength { expected, found } = err {
        r.find(
            Location::Proof { seq, hash: None },
            format!(
                "has {found} hashes; the proof of seq {seq} in a tree of {size} entries has {expected}: \
                 hashes were added or removed"
            ),
        );
        return;
    }
    match known.blame(seq, size, &d.leaf, &d.proof) {
        Blame::Leaf => r.find(
            Location::Entry { index: d.index, seq: Some(seq) },
            "the entry bytes (and its leaf_hash) were altered: the other entries' proofs vouch for \
             a different leaf at this seq",
        ),
        Blame::ProofHash(i) => r.find(
            Location::Proof { seq, hash: Some(i) },
            "altered: the other entries' proofs vouch for a different hash of this tree node",
        ),
        Blame::Unknown => r.find(
            Location::Proof { seq, hash: None },
            format!("does not lead from the entry to the checkpoint's root: the entry or its proof was altered ({err})"),
        ),
    }
}

fn check_payloads(entries: &[Decoded<'_>], r: &mut BundleReport) {
    let by_seq: HashMap<u64, &Decoded<'_>> = entries.iter().map(|d| (d.seq(), d)).collect();
    for d in entries {
        let at = Location::Entry {
            index: d.index,
            seq: Some(d.seq()),
        };
        match (&d.entry.body, d.payloads) {
            (EntryBody::DecisionV1(dec), Some(p)) => {
                for (slot, raw) in [
                    (PayloadSlot::Input, &p.input),
                    (PayloadSlot::Output, &p.output),
                ] {
                    check_slot(d.seq(), slot, dec.payload(slot), raw, &by_seq, r);
                }
            }
            (EntryBody::DecisionV1(_), None) => {
                r.find(
                    at,
                    "a decision without its `payloads` object (payloads or erasures)",
                );
            }
            (_, Some(_)) => r.find(
                at,
                format!(
                    "a {} entry has no payloads, but the bundle gives some",
                    d.entry.kind()
                ),
            ),
            (_, None) => {}
        }
    }
}

fn check_slot(
    seq: u64,
    slot: PayloadSlot,
    committed: &crate::entry::PayloadRef,
    raw: &RawSlot<'_>,
    by_seq: &HashMap<u64, &Decoded<'_>>,
    r: &mut BundleReport,
) {
    let at = Location::Payload { seq, slot };
    match (&raw.salt, &raw.text, raw.erased_by) {
        (Some(salt), Some(text), None) => {
            let salt = match parse_hash(salt) {
                Ok(s) => s,
                Err(p) => return r.find(at, format!("`salt`: {p}")),
            };
            let bytes = text.as_bytes();
            r.payloads_checked += 1;
            if bytes.len() as u64 != committed.len {
                return r.find(
                    at,
                    format!(
                        "the payload was altered: it is {} bytes, the entry commits to {}",
                        bytes.len(),
                        committed.len
                    ),
                );
            }
            if payload_commitment(&salt, bytes) != committed.commitment {
                r.find(
                    at,
                    "the payload or its salt was altered: BLAKE3(salt ‖ payload) differs from the \
                     commitment in the entry",
                );
            }
        }
        (None, None, Some(by)) => check_erasure(seq, slot, by, by_seq, r),
        _ => r.find(at, "needs `salt` and `text`, or `erased_by` alone"),
    }
}

fn check_erasure(
    seq: u64,
    slot: PayloadSlot,
    by: u64,
    by_seq: &HashMap<u64, &Decoded<'_>>,
    r: &mut BundleReport,
) {
    let at = Location::Payload { seq, slot };
    let Some(red) = by_seq.get(&by) else {
        return r.find(
            at,
            format!(
                "`erased_by` names seq {by}, which is not in the bundle: the erasure is not proven"
            ),
        );
    };
    let EntryBody::RedactionV1(red) = &red.entry.body else {
        return r.find(
            at,
            format!(
                "`erased_by` names seq {by}, which is a {} entry, not a redaction",
                red.entry.kind()
            ),
        );
    };
    if red.target_seq != seq || !red.slots.contains(&slot) || by <= seq {
        return r.find(
            at,
            format!(
                "`erased_by` names redaction {by}, which erases the {} of seq {}, not this payload",
                red.slots
                    .iter()
                    .map(|s| s.name())
                    .collect::<Vec<_>>()
                    .join(" and "),
                red.target_seq
            ),
        );
    }
    r.erased.push(Erasure {
        seq,
        slot,
        by,
        reason: red.reason.clone(),
        actor: red.actor.clone(),
    });
}

fn summarize(entries: Vec<Decoded<'_>>, keep: bool, r: &mut BundleReport) {
    for d in &entries {
        let seq = d.seq();
        r.seq_range = Some(match r.seq_range {
            Some((lo, hi)) => (lo.min(seq), hi.max(seq)),
            None => (seq, seq),
        });
        let EntryBody::DecisionV1(dec) = &d.entry.body else {
            r.other_entries += 1;
            continue;
        };
        r.decisions += 1;
        let t = dec.event_time_us.unwrap_or(d.entry.recorded_at_us);
        r.first_time_us = Some(r.first_time_us.map_or(t, |f| f.min(t)));
        r.last_time_us = Some(r.last_time_us.map_or(t, |l| l.max(t)));
    }
    if keep {
        r.entries = entries.into_iter().map(proven).collect();
    }
}

fn proven(d: Decoded<'_>) -> ProvenEntry {
    let payloads = match (&d.entry.body, d.payloads) {
        (EntryBody::DecisionV1(_), Some(p)) => vec![
            (
                PayloadSlot::Input,
                p.input.text.as_ref().map(|t| t.as_bytes().to_vec()),
            ),
            (
                PayloadSlot::Output,
                p.output.text.as_ref().map(|t| t.as_bytes().to_vec()),
            ),
        ],
        _ => Vec::new(),
    };
    ProvenEntry {
        entry: d.entry,
        payloads,
    }
}
