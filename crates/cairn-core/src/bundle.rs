//! Evidence bundles: selected entries with their payloads, an inclusion proof for
//! each against one signed checkpoint, that checkpoint and the verifier key, in
//! one JSON document that verifies offline (`schemas/bundle-v1.md`).
//!
//! [`Bundle::to_json`] writes a bundle; [`verify`] checks one. Verification is
//! pure: it needs the bundle's bytes and, to prove where the entries come from,
//! the verifier key the auditor trusts. Every field of a bundle is checked, and
//! every problem is reported as a [`Finding`] naming what is wrong where (which
//! entry, payload, proof hash, checkpoint or signature), never as a panic.

mod check;
mod diagnose;
mod lowerhex;
mod read;
mod write;

use std::fmt;

use crate::checkpoint::NoteVerifier;
use crate::decision::Payload;
use crate::entry::{Entry, PayloadSlot};
use crate::hash::Hash;

/// The value of a bundle's `format` field.
pub const FORMAT: &str = "cairn-bundle";
/// The bundle format version this code writes and reads.
pub const VERSION: u64 = 1;
/// Largest bundle [`verify`] accepts, in bytes (1 GiB).
pub const BUNDLE_BYTES_MAX: usize = 1 << 30;
/// Most findings a report lists; the rest are only counted.
pub const FINDINGS_MAX: usize = 200;

/// A bundle to write: entries in ascending seq order, each with its inclusion
/// proof in the tree the checkpoint signs.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The key that verifies the checkpoint's signature.
    pub verifier_key: NoteVerifier,
    /// The signed checkpoint note, byte for byte as stored.
    pub checkpoint: String,
    /// The entries, ascending by seq, no duplicates.
    pub entries: Vec<BundleEntry>,
}

/// One entry of a bundle.
#[derive(Debug, Clone)]
pub struct BundleEntry {
    /// The entry.
    pub entry: Entry,
    /// Its inclusion proof in the tree of the checkpoint's size, leaf first.
    pub proof: Vec<Hash>,
    /// For a decision: both payload slots, in [`PayloadSlot::ALL`] order.
    /// Empty for other kinds.
    pub payloads: Vec<(PayloadSlot, SlotContent)>,
}

/// What a bundle holds for one payload slot of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotContent {
    /// The payload and its salt.
    Present(Payload),
    /// The payload was erased by the redaction entry at this seq, which the
    /// bundle also holds.
    Erased {
        /// Seq of the redaction entry.
        by: u64,
    },
}

/// How to verify.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// The verifier key the auditor trusts. Without one, the key embedded in the
    /// bundle is used, which proves only that the bundle is self-consistent.
    pub trusted_key: Option<&'a NoteVerifier>,
    /// Keep the decoded entries and payloads in the report.
    pub keep_entries: bool,
}

/// Where the key that checked the signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The key the auditor passed: the bundle is proven to come from its holder.
    Trusted,
    /// The key embedded in the bundle: the bundle is only self-consistent.
    Embedded,
}

/// Part of a bundle a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// The document as a whole (its JSON or its top-level fields).
    Document,
    /// The `verifier_key` field.
    VerifierKey,
    /// The checkpoint's text (origin, size, root).
    Checkpoint,
    /// The checkpoint's signature.
    Signature,
    /// An entry's bytes or fields.
    Entry {
        /// Position in the `entries` array, from 0.
        index: usize,
        /// The entry's seq, when it could be read.
        seq: Option<u64>,
    },
    /// An entry's `leaf_hash` field.
    LeafHash {
        /// The entry's seq.
        seq: u64,
    },
    /// A payload of a decision.
    Payload {
        /// The decision's seq.
        seq: u64,
        /// Which payload.
        slot: PayloadSlot,
    },
    /// An entry's inclusion proof.
    Proof {
        /// The entry's seq.
        seq: u64,
        /// The altered hash, counted from 0 (the leaf's sibling), when known.
        hash: Option<usize>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Document => write!(f, "bundle"),
            Location::VerifierKey => write!(f, "verifier key"),
            Location::Checkpoint => write!(f, "checkpoint"),
            Location::Signature => write!(f, "checkpoint signature"),
            Location::Entry {
                seq: Some(seq),
                index,
            } => write!(f, "entry seq {seq} (entries[{index}])"),
            Location::Entry { seq: None, index } => write!(f, "entries[{index}]"),
            Location::LeafHash { seq } => write!(f, "leaf hash of seq {seq}"),
            Location::Payload { seq, slot } => write!(f, "{} payload of seq {seq}", slot.name()),
            Location::Proof { seq, hash: Some(h) } => {
                write!(f, "inclusion proof of seq {seq}, hash #{h}")
            }
            Location::Proof { seq, hash: None } => write!(f, "inclusion proof of seq {seq}"),
        }
    }
}

/// One problem with a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Where.
    pub at: Location,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.problem)
    }
}

/// An erased payload, proven erased by a redaction entry in the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The decision.
    pub seq: u64,
    /// The payload erased.
    pub slot: PayloadSlot,
    /// The redaction entry.
    pub by: u64,
    /// The reason the redaction entry records.
    pub reason: String,
    /// Who the redaction entry says asked for it.
    pub actor: String,
}

/// A decoded entry and the payloads the bundle holds for it (`None`: erased).
#[derive(Debug, Clone)]
pub struct ProvenEntry {
    /// The entry.
    pub entry: Entry,
    /// Payload bytes by slot; `None` when erased.
    pub payloads: Vec<(PayloadSlot, Option<Vec<u8>>)>,
}

/// What a bundle proves, or what is wrong with it.
#[derive(Debug, Clone)]
pub struct BundleReport {
    /// The checkpoint's origin: the ledger the entries come from.
    pub origin: Option<String>,
    /// The checkpoint's tree size.
    pub size: Option<u64>,
    /// The checkpoint's root.
    pub root: Option<Hash>,
    /// Name of the key the signature was checked with.
    pub key_name: Option<String>,
    /// The encoded verifier key the signature was checked with.
    pub key: Option<String>,
    /// Where that key came from.
    pub key_source: KeySource,
    /// Decision entries in the bundle.
    pub decisions: u64,
    /// Other entries (redactions proving erasures, replays).
    pub other_entries: u64,
    /// Earliest time of a decision (event time, or recorded time without one), µs.
    pub first_time_us: Option<i64>,
    /// Latest time of a decision, µs.
    pub last_time_us: Option<i64>,
    /// Smallest and largest seq in the bundle.
    pub seq_range: Option<(u64, u64)>,
    /// Payloads checked against their commitments.
    pub payloads_checked: u64,
    /// Payloads proven erased.
    pub erased: Vec<Erasure>,
    /// Problems, at most [`FINDINGS_MAX`].
    pub findings: Vec<Finding>,
    /// All problems found, including those not listed.
    pub findings_total: u64,
    /// The decoded entries, when asked for ([`VerifyOptions::keep_entries`]).
    pub entries: Vec<ProvenEntry>,
}

impl BundleReport {
    /// True when nothing is wrong with the bundle.
    pub fn valid(&self) -> bool {
        self.findings_total == 0
    }

    fn new(key_source: KeySource) -> BundleReport {
        BundleReport {
            origin: None,
            size: None,
            root: None,
            key_name: None,
            key: None,
            key_source,
            decisions: 0,
            other_entries: 0,
            first_time_us: None,
            last_time_us: None,
            seq_range: None,
            payloads_checked: 0,
            erased: Vec::new(),
            findings: Vec::new(),
            findings_total: 0,
            entries: Vec::new(),
        }
    }

    fn find(&mut self, at: Location, problem: impl Into<String>) {
        self.findings_total += 1;
        if self.findings.len() < FINDINGS_MAX {
            self.findings.push(Finding {
                at,
                problem: problem.into(),
            });
        }
    }
}

/// Why a bundle could not be checked at all (as opposed to being invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CannotCheck {
    /// The bundle is larger than [`BUNDLE_BYTES_MAX`].
    #[error("the bundle is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bundle is of a format version this code does not read.
    #[error("bundle format version {found} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
    },
}

/// Verifies a bundle completely offline. `Ok` holds a report whether the bundle
/// is valid or not ([`BundleReport::valid`]); `Err` means it could not be checked.
pub fn verify(text: &[u8], opts: VerifyOptions<'_>) -> Result<BundleReport, CannotCheck> {
    if text.len() > BUNDLE_BYTES_MAX {
        return Err(CannotCheck::TooLarge {
            size: text.len(),
            max: BUNDLE_BYTES_MAX,
        });
    }
    let source = match opts.trusted_key {
        Some(_) => KeySource::Trusted,
        None => KeySource::Embedded,
    };
    let mut report = BundleReport::new(source);
    match read::parse(text, &mut report)? {
        Some(raw) => check::check(&raw, opts, &mut report),
        None => debug_assert!(!report.valid()),
    }
    Ok(report)
}

/// Fuzzing entry point: verifies arbitrary bytes as a bundle. Must never panic;
/// a report without findings must come with a checkpoint and at least one entry.
pub fn fuzz_verify(data: &[u8]) {
    if let Ok(report) = verify(data, VerifyOptions::default()) {
        if report.valid() {
            assert!(report.size.is_some() && report.seq_range.is_some());
        }
    }
}

#[cfg(test)]
mod tests;
