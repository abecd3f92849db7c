//! What `verify` is asked to do and what it reports: options, the kinds of
//! damage, erasures found, and the report.

use cairn_core::checkpoint::NoteVerifier;
use cairn_core::entry::PayloadSlot;
use cairn_core::hash::Hash;

/// What to verify.
#[derive(Default)]
pub struct VerifyOptions<'a> {
    /// First seq to check.
    pub from: u64,
    /// One past the last seq to check (default: the ledger's size).
    pub to: Option<u64>,
    /// The key checkpoints must be signed with.
    pub verifier: Option<&'a NoteVerifier>,
    /// A checkpoint note the auditor kept: the ledger must extend it consistently.
    pub trusted: Option<&'a str>,
    /// Called with (entries done, entries to do).
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
}

/// The kinds of damage `verify` tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DamageKind {
    /// The entry's bytes were changed.
    Altered,
    /// An entry is gone from the middle of the ledger.
    Missing,
    /// An entry is stored at another entry's place.
    Reordered,
    /// The ledger is shorter than a checkpoint says it was.
    Truncated,
    /// The history up to a checkpoint no longer hashes to its root.
    Rewritten,
    /// A payload does not match the commitment in its entry.
    CommitmentMismatch,
    /// A payload is gone without a redaction entry erasing it.
    PayloadMissing,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// A stored tree node differs from the hash of the entries below it.
    TreeMismatch,
    /// The storage engine reports the data as corrupt.
    Unreadable,
    /// A derived index misses entries that belong under a value, or lists
    /// entries that do not (`cairn verify --indexes`).
    IndexMismatch,
    /// The ledger's recorded origin is not the one its checkpoints were
    /// signed for: it was rewritten.
    OriginMismatch,
}

impl DamageKind {
    /// The word used in reports.
    pub fn name(self) -> &'static str {
        match self {
            DamageKind::Altered => "altered",
            DamageKind::Missing => "missing",
            DamageKind::Reordered => "reordered",
            DamageKind::Truncated => "truncated",
            DamageKind::Rewritten => "rewritten",
            DamageKind::CommitmentMismatch => "commitment-mismatch",
            DamageKind::PayloadMissing => "payload-missing",
            DamageKind::BadSignature => "bad-signature",
            DamageKind::TreeMismatch => "tree-mismatch",
            DamageKind::Unreadable => "unreadable",
            DamageKind::IndexMismatch => "index-mismatch",
            DamageKind::OriginMismatch => "origin-mismatch",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The damaged seq, when the damage has one.
    pub seq: Option<u64>,
    /// What kind of damage.
    pub kind: DamageKind,
    /// A sentence for a person.
    pub detail: String,
}

/// A payload erased properly: by a redaction entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The decision whose payload was erased.
    pub seq: u64,
    /// Which payload.
    pub slot: PayloadSlot,
    /// The redaction entry that erased it.
    pub by: u64,
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// The ledger's origin.
    pub origin: String,
    /// Entries in the ledger.
    pub size: u64,
    /// First seq checked.
    pub from: u64,
    /// One past the last seq checked.
    pub to: u64,
    /// Entries checked.
    pub entries_checked: u64,
    /// Payloads whose commitment was checked.
    pub payloads_checked: u64,
    /// Bytes of payload checked.
    pub payload_bytes: u64,
    /// Stored checkpoints whose signature and root were checked.
    pub checkpoints_checked: u64,
    /// The size of the auditor's checkpoint, when one was given and checked.
    pub trusted_size: Option<u64>,
    /// Root recomputed from the entries (full walks only).
    pub root: Option<Hash>,
    /// Payloads erased by redaction entries.
    pub erased: Vec<Erasure>,
    /// Everything found damaged, by seq.
    pub damage: Vec<Damage>,
    /// Whether the indexes were checked against the entries (`--indexes`).
    pub indexes_checked: bool,
    /// The size of the signed checkpoint the checked entries were hashed up to
    /// (a full walk: the largest one; a range: the smallest that covers it, else
    /// the largest above its start). `None`: no signed root covers them (no key
    /// given, or no checkpoint signed since), so they were checked against the
    /// stored tree only.
    pub anchored: Option<u64>,
}

impl VerifyReport {
    /// True when nothing is damaged.
    pub fn intact(&self) -> bool {
        self.damage.is_empty()
    }

    /// The first damage, by seq (damage without a seq comes last).
    pub fn first_damage(&self) -> Option<&Damage> {
        self.damage
            .iter()
            .min_by_key(|d| (d.seq.is_none(), d.seq, d.kind))
    }
}
