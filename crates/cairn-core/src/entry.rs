//! The ledger entry model and its canonical binary encoding.
//!
//! An entry's bytes are `FORMAT_VERSION` followed by the bincode 2.0.1 encoding of
//! [`Entry`] with one fixed configuration: little-endian, fixed-width integers
//! (`u64` is 8 bytes, enum variant indices are `u32`, lengths are `u64`). The
//! layout is specified byte by byte in `schemas/entry-v1.md`; that page, not this
//! crate, is the contract with auditors.

use bincode::{Decode, Encode};

use crate::hash::{leaf_hash, Hash};

mod view;
pub use view::{BodyView, DecisionView, EntryView, ModelView};

/// The leading byte of every entry encoded by this version of the format.
pub const FORMAT_VERSION: u8 = 1;

/// The bincode decoder's own allocation limit (payloads are stored apart, so
/// entries are small; the limit keeps a corrupt length prefix from allocating).
pub const ENTRY_BYTES_MAX: usize = 1 << 20;
/// The size limit of an entry, version byte included (`schemas/entry-v1.md`,
/// Decoding rule 6): a writer never writes a longer entry and
/// [`Entry::decode`] rejects one, so that every verifier agrees on what an
/// entry is.
pub const ENTRY_WRITE_BYTES_MAX: usize = ENTRY_BYTES_MAX - 8 * 1024;

const fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Fixint,
    bincode::config::Limit<ENTRY_BYTES_MAX>,
> {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<ENTRY_BYTES_MAX>()
}

/// One entry of the ledger: its place in the chain and what it records.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct Entry {
    /// Position in the ledger, from 0.
    pub seq: u64,
    /// Leaf hash of the entry at `seq - 1`; all zeros for seq 0.
    pub prev_hash: Hash,
    /// When the ledger accepted the entry, microseconds since the Unix epoch (UTC).
    pub recorded_at_us: i64,
    /// What the entry records.
    pub body: EntryBody,
}

/// The kinds of entry. Each variant is one version of one kind; a new version of a
/// kind is a new variant appended at the end, so old bytes keep their meaning.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
// Decisions are by far the most common kind; boxing them would cost an allocation
// per entry to save stack space on the rare redaction and replay entries.
#[allow(clippy::large_enum_variant)]
pub enum EntryBody {
    /// Variant 0: a model decision, version 1.
    DecisionV1(DecisionV1),
    /// Variant 1: the erasure of a decision's payloads, version 1.
    RedactionV1(RedactionV1),
    /// Variant 2: evidence of a replay run, version 1.
    ReplayV1(ReplayV1),
    /// Variant 3: the live monitor's breaker opened, version 1.
    AlertV1(AlertV1),
}

/// The model that made a decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode)]
pub struct ModelRef {
    /// Model name, e.g. `fraud-model`.
    pub name: String,
    /// Model version, e.g. `7`.
    pub version: String,
    /// Optional content digest of the model artefact.
    pub digest: Option<String>,
}

/// A commitment to a payload stored apart from the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct PayloadRef {
    /// Length of the payload in bytes.
    pub len: u64,
    /// `blake3(salt ‖ payload)`.
    pub commitment: Hash,
}

/// Which payload of a decision: its input or its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum PayloadSlot {
    /// Variant 0: what the model saw.
    Input,
    /// Variant 1: what the model answered.
    Output,
}

impl PayloadSlot {
    /// Both slots, in key order.
    pub const ALL: [PayloadSlot; 2] = [PayloadSlot::Input, PayloadSlot::Output];

    /// The byte used for this slot in storage keys.
    pub fn as_byte(self) -> u8 {
        match self {
            PayloadSlot::Input => 0,
            PayloadSlot::Output => 1,
        }
    }

    /// Lower-case name, as used in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            PayloadSlot::Input => "input",
            PayloadSlot::Output => "output",
        }
    }
}

/// A model decision: metadata in the entry, input and output committed.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct DecisionV1 {
    /// The producer's stream, e.g. `payments.fraud`.
    pub stream: String,
    /// The model and version that decided.
    pub model: ModelRef,
    /// When the decision was made, by the producer's clock, microseconds since the epoch.
    pub event_time_us: Option<i64>,
    /// Producer's request id.
    pub request_id: Option<String>,
    /// W3C trace id.
    pub trace_id: Option<String>,
    /// W3C span id.
    pub span_id: Option<String>,
    /// Who the decision is about (customer, account).
    pub subject: Option<String>,
    /// Conversation or session the decision belongs to.
    pub session: Option<String>,
    /// Operation name.
    pub operation: Option<String>,
    /// Model parameters as compact JSON text with sorted keys.
    pub params: Option<String>,
    /// Decision label.
    pub decision: Option<String>,
    /// Decision score.
    pub score: Option<f64>,
    /// Model latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Free-form attributes, sorted by key, keys unique.
    pub attributes: Vec<(String, String)>,
    /// Producer's idempotency key (unique per stream).
    pub idempotency_key: Option<String>,
    /// Commitment to the input payload.
    pub input: PayloadRef,
    /// Commitment to the output payload.
    pub output: PayloadRef,
}

/// Bytes of an entry around its body's fields: version byte, seq, prev_hash,
/// recorded_at_us and the body's variant index.
const ENTRY_FRAME_BYTES: usize = 1 + 8 + 32 + 8 + 4;

/// The length of the entry a body of this kind makes, version byte included,
/// counted without writing it: every entry of one body has the same length,
/// whatever its seq, prev_hash and time.
/// Appends bincode's output to a `Vec` (without `std::io`'s indirection).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

fn entry_len_of<T: Encode>(body: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    // Counting cannot fail below the limit; past it the count is the limit's.
    match bincode::encode_into_writer(body, &mut size, config()) {
        Ok(()) => ENTRY_FRAME_BYTES + size.bytes_written,
        Err(_) => ENTRY_BYTES_MAX + 1,
    }
}

impl DecisionV1 {
    /// Bytes this body holds on the heap (its strings), for a caller that
    /// bounds what prepared requests cost in memory.
    pub fn heap_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let strings = [
            &self.request_id,
            &self.trace_id,
            &self.span_id,
            &self.subject,
            &self.session,
            &self.operation,
            &self.params,
            &self.decision,
            &self.idempotency_key,
            &self.model.digest,
        ];
        self.stream.capacity()
            + self.model.name.capacity()
            + self.model.version.capacity()
            + strings.into_iter().map(opt).sum::<usize>()
            + self.attributes.capacity() * std::mem::size_of::<(String, String)>()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.capacity() + v.capacity())
                .sum::<usize>()
    }

    /// The length of the entry this decision makes; a writer refuses it when
    /// over [`ENTRY_WRITE_BYTES_MAX`].
    pub fn entry_len(&self) -> usize {
        entry_len_of(self)
    }

    /// The commitment of one payload slot.
    pub fn payload(&self, slot: PayloadSlot) -> &PayloadRef {
        match slot {
            PayloadSlot::Input => &self.input,
            PayloadSlot::Output => &self.output,
        }
    }
}

/// The erasure of payloads of an earlier decision.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RedactionV1 {
    /// The decision whose payloads were erased.
    pub target_seq: u64,
    /// Which payloads were erased.
    pub slots: Vec<PayloadSlot>,
    /// Why (a ticket, a court order, a GDPR request).
    pub reason: String,
    /// Who asked for it.
    pub actor: String,
}

/// Evidence of a replay run: what was replayed against what, and a digest of the results.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ReplayV1 {
    /// The candidate: a URL or a command line.
    pub candidate: String,
    /// The candidate model, as the user named it.
    pub candidate_model: Option<ModelRef>,
    /// The selection, as compact JSON text.
    pub selection: String,
    /// Entries selected.
    pub selected: u64,
    /// Entries replayed.
    pub replayed: u64,
    /// Candidate errors.
    pub errors: u64,
    /// BLAKE3 of the full JSON results.
    pub results_digest: Hash,
}

impl ReplayV1 {
    /// The length of the entry this run makes; a writer refuses it when over
    /// [`ENTRY_WRITE_BYTES_MAX`].
    pub fn entry_len(&self) -> usize {
        entry_len_of(self)
    }
}

/// The live monitor's breaker on a stream opened: which drift check tripped,
/// with what statistic against what threshold, comparing which model versions
/// over which window of recorded time.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub struct AlertV1 {
    /// The stream whose breaker opened.
    pub stream: String,
    /// The check that tripped, e.g. `label_mix`.
    pub check: String,
    /// The check's statistic (PSI, KS distance, mean shift, latency ratio).
    pub statistic: f64,
    /// The threshold the statistic went past.
    pub threshold: f64,
    /// The test's p-value, for checks that have one.
    pub p_value: Option<f64>,
    /// The model version checked (the newest).
    pub current: ModelRef,
    /// The model version it was compared with.
    pub reference: ModelRef,
    /// Decisions of `current` in the window.
    pub samples: u64,
    /// Decisions of `reference` in its window.
    pub reference_samples: u64,
    /// Start of the current window, µs since the Unix epoch (recorded time).
    pub window_start_us: i64,
    /// End of the current window (exclusive).
    pub window_end_us: i64,
}

impl AlertV1 {
    /// The length of the entry this alert makes.
    pub fn entry_len(&self) -> usize {
        entry_len_of(self)
    }
}

/// Why bytes could not be decoded as an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes were empty.
    #[error("entry is empty")]
    Empty,
    /// The leading byte names a format this code does not know.
    #[error("unknown entry format version {found} (this build reads version {FORMAT_VERSION})")]
    UnknownVersion {
        /// The leading byte found.
        found: u8,
    },
    /// The body is not a valid encoding.
    #[error("entry body does not decode: {reason}")]
    Body {
        /// What the decoder said.
        reason: String,
    },
    /// Bytes were left over after a complete entry.
    #[error("{extra} trailing bytes after the entry")]
    TrailingBytes {
        /// How many bytes were left.
        extra: usize,
    },
    /// Longer than the size limit of an entry.
    #[error("entry is {len} bytes, over the {ENTRY_WRITE_BYTES_MAX}-byte limit of an entry")]
    TooLarge {
        /// Its length, version byte included.
        len: usize,
    },
}

/// An entry body encoded on its own: the bytes that follow an entry's frame
/// (version byte, seq, prev_hash, recorded_at_us), its variant index first.
/// A writer encodes bodies ahead of time, in parallel, and frames each with
/// [`Entry::encode_framed`] once its place in the chain is known; the result is
/// byte for byte [`Entry::encode`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBody(Vec<u8>);

impl EncodedBody {
    /// Encode `body`.
    pub fn new(body: &EntryBody) -> EncodedBody {
        let mut out = Vec::with_capacity(1024);
        // As in `Entry::encode`: only a body past the size limit could fail.
        if let Err(e) = bincode::encode_into_writer(body, VecWriter(&mut out), config()) {
            unreachable!("encoding an entry body into memory failed: {e}");
        }
        EncodedBody(out)
    }

    /// The length of the entry it makes, version byte included.
    pub fn entry_len(&self) -> usize {
        ENTRY_FRAME_BYTES - 4 + self.0.len()
    }
}

impl Entry {
    /// The canonical bytes: format version, then the fixed bincode encoding.
    pub fn encode(&self) -> Vec<u8> {
        // Most decision entries are 400–900 bytes: one allocation for them.
        let mut out = Vec::with_capacity(1024);
        out.push(FORMAT_VERSION);
        // Encoding into a Vec cannot fail except past the size limit, which the
        // validated inputs (each string capped) cannot reach.
        if let Err(e) = bincode::encode_into_writer(self, VecWriter(&mut out), config()) {
            unreachable!("encoding an entry into memory failed: {e}");
        }
        out
    }

    /// The canonical bytes of the entry at `seq` after `prev_hash`, recorded
    /// at `recorded_at_us`, whose body is already encoded.
    pub fn encode_framed(
        seq: u64,
        prev_hash: &Hash,
        recorded_at_us: i64,
        body: &EncodedBody,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.entry_len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(prev_hash);
        out.extend_from_slice(&recorded_at_us.to_le_bytes());
        out.extend_from_slice(&body.0);
        out
    }

    /// Decode canonical bytes. Every byte must be consumed.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        decode_framed(bytes, |body| bincode::decode_from_slice(body, config()))
    }

    /// `blake3(0x00 ‖ encode())`.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }

    /// The kind of entry, as a word.
    pub fn kind(&self) -> &'static str {
        self.body.kind()
    }
}

/// The rules every entry decoder shares: the size limit, the version byte,
/// and every byte of the body consumed by `body` (which decodes it and says
/// how many bytes it used).
fn decode_framed<'a, T>(
    bytes: &'a [u8],
    body: impl FnOnce(&'a [u8]) -> Result<(T, usize), bincode::error::DecodeError>,
) -> Result<T, DecodeError> {
    if bytes.len() > ENTRY_WRITE_BYTES_MAX {
        return Err(DecodeError::TooLarge { len: bytes.len() });
    }
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion { found: version });
    }
    let (entry, used) = body(rest).map_err(|e| DecodeError::Body {
        reason: e.to_string(),
    })?;
    if used != rest.len() {
        return Err(DecodeError::TrailingBytes {
            extra: rest.len() - used,
        });
    }
    Ok(entry)
}

impl EntryBody {
    /// The kind of entry, as a word: `decision`, `redaction`, `replay`, `alert`.
    pub fn kind(&self) -> &'static str {
        match self {
            EntryBody::DecisionV1(_) => "decision",
            EntryBody::RedactionV1(_) => "redaction",
            EntryBody::ReplayV1(_) => "replay",
            EntryBody::AlertV1(_) => "alert",
        }
    }
}

/// Decode arbitrary bytes as an entry; for fuzzing. Must never panic, and whatever
/// decodes must re-encode to the same bytes.
pub fn fuzz_decode(data: &[u8]) {
    let owned = Entry::decode(data);
    // The borrowed view reads exactly what the owned decoder reads, and
    // refuses what it refuses for the same kind of reason.
    match (&owned, EntryView::decode(data)) {
        (Ok(entry), Ok(view)) => assert_eq!(&view.to_entry(), entry, "the view reads otherwise"),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(&b),
            "the view refuses for another reason: {a} / {b}"
        ),
        (a, b) => panic!("the view and the owned decoder disagree: {a:?} / {b:?}"),
    }
    if let Ok(entry) = owned {
        assert_eq!(entry.encode(), data, "decoded entry re-encodes differently");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample() -> Entry {
        Entry {
            seq: 7,
            prev_hash: [9; 32],
            recorded_at_us: 1_700_000_000_000_000,
            body: EntryBody::DecisionV1(DecisionV1 {
                stream: "s".into(),
                model: ModelRef {
                    name: "m".into(),
                    version: "1".into(),
                    digest: None,
                },
                event_time_us: Some(5),
                request_id: Some("r".into()),
                trace_id: None,
                span_id: None,
                subject: None,
                session: None,
                operation: None,
                params: None,
                decision: Some("approve".into()),
                score: Some(0.5),
                latency_ms: None,
                attributes: vec![("k".into(), "v".into())],
                idempotency_key: None,
                input: PayloadRef {
                    len: 3,
                    commitment: [1; 32],
                },
                output: PayloadRef {
                    len: 4,
                    commitment: [2; 32],
                },
            }),
        }
    }

    #[test]
    fn round_trips_and_leads_with_version() {
        let e = sample();
        let bytes = e.encode();
        assert_eq!(bytes[0], FORMAT_VERSION);
        // seq is the first field: 8 bytes little-endian right after the version byte.
        assert_eq!(&bytes[1..9], &7u64.to_le_bytes());
        assert_eq!(Entry::decode(&bytes).unwrap(), e);
    }

    #[test]
    fn a_body_encoded_ahead_frames_into_the_same_bytes() {
        let decision = sample();
        let model = |version: &str| ModelRef {
            name: "m".into(),
            version: version.into(),
            digest: Some("sha256:ab".into()),
        };
        let others = [
            EntryBody::RedactionV1(RedactionV1 {
                target_seq: 3,
                slots: vec![PayloadSlot::Input],
                reason: "erasure request 12".into(),
                actor: "dpo".into(),
            }),
            EntryBody::ReplayV1(ReplayV1 {
                candidate: "http://127.0.0.1:9/score".into(),
                candidate_model: Some(model("3")),
                selection: "{}".into(),
                selected: 4,
                replayed: 4,
                errors: 0,
                results_digest: [7; 32],
            }),
            EntryBody::AlertV1(AlertV1 {
                stream: "pricing".into(),
                check: "label_mix".into(),
                statistic: 0.31,
                threshold: 0.2,
                p_value: None,
                current: model("2"),
                reference: model("1"),
                samples: 41,
                reference_samples: 100,
                window_start_us: 1,
                window_end_us: 9,
            }),
        ];
        let entries = std::iter::once(decision).chain(others.into_iter().map(|body| Entry {
            seq: u64::MAX - 1,
            prev_hash: [0xa5; 32],
            recorded_at_us: -3,
            body,
        }));
        for e in entries {
            let body = EncodedBody::new(&e.body);
            let framed = Entry::encode_framed(e.seq, &e.prev_hash, e.recorded_at_us, &body);
            assert_eq!(framed, e.encode(), "{}", e.kind());
            assert_eq!(body.entry_len(), framed.len());
        }
    }

    #[test]
    fn rejects_trailing_bytes_unknown_version_and_truncation() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert_eq!(
            Entry::decode(&bytes),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
        bytes.pop();
        bytes[0] = 2;
        assert_eq!(
            Entry::decode(&bytes),
            Err(DecodeError::UnknownVersion { found: 2 })
        );
        bytes[0] = FORMAT_VERSION;
        bytes.truncate(bytes.len() - 1);
        assert!(matches!(
            Entry::decode(&bytes),
            Err(DecodeError::Body { .. })
        ));
        assert_eq!(Entry::decode(&[]), Err(DecodeError::Empty));
    }

    #[test]
    fn the_borrowed_view_reads_what_the_owned_decoder_reads() {
        let mut d = match sample().body {
            EntryBody::DecisionV1(d) => d,
            _ => unreachable!(),
        };
        d.model.digest = Some("sha256:ab".into());
        d.subject = Some("cust-1".into());
        d.params = Some(r#"{"t":0.2}"#.into());
        d.attributes.push(("z".into(), "é".into()));
        let redaction = EntryBody::RedactionV1(RedactionV1 {
            target_seq: 3,
            slots: vec![PayloadSlot::Output],
            reason: "gdpr".into(),
            actor: "ops".into(),
        });
        for body in [EntryBody::DecisionV1(d), redaction] {
            let bytes = Entry { body, ..sample() }.encode();
            let view = EntryView::decode(&bytes).unwrap();
            assert_eq!(view.to_entry(), Entry::decode(&bytes).unwrap());
            // Every truncation and every single-byte change decodes (or fails)
            // the same way in both.
            for cut in 0..bytes.len() {
                fuzz_decode(&bytes[..cut]);
            }
            for i in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut b = bytes.clone();
                    b[i] ^= flip;
                    fuzz_decode(&b);
                }
            }
        }
        assert_eq!(
            EntryView::decode(&entry_of_len(ENTRY_WRITE_BYTES_MAX + 1)),
            Err(DecodeError::TooLarge {
                len: ENTRY_WRITE_BYTES_MAX + 1
            })
        );
    }

    /// An entry of exactly `len` bytes: `sample()` with a `params` string
    /// padded to fit.
    fn entry_of_len(len: usize) -> Vec<u8> {
        sample_with_len(len).encode()
    }

    fn sample_with_len(len: usize) -> Entry {
        let mut e = sample();
        let set = |e: &mut Entry, params: String| {
            let EntryBody::DecisionV1(d) = &mut e.body else {
                unreachable!()
            };
            d.params = Some(params);
        };
        set(&mut e, String::new());
        let base = e.encode().len();
        set(&mut e, "x".repeat(len - base));
        e
    }

    #[test]
    fn entry_len_is_the_encoded_length() {
        for len in [1000, 4096, ENTRY_WRITE_BYTES_MAX + 1] {
            let e = sample_with_len(len);
            let EntryBody::DecisionV1(d) = &e.body else {
                unreachable!()
            };
            assert_eq!((d.entry_len(), e.encode().len()), (len, len));
        }
        let r = ReplayV1 {
            candidate: "http://c".into(),
            candidate_model: None,
            selection: "{}".into(),
            selected: 1,
            replayed: 1,
            errors: 0,
            results_digest: [0; 32],
        };
        let entry = Entry {
            seq: 9,
            prev_hash: [1; 32],
            recorded_at_us: 3,
            body: EntryBody::ReplayV1(r.clone()),
        };
        assert_eq!(r.entry_len(), entry.encode().len());
    }

    #[test]
    fn the_size_limit_is_enforced_at_the_limit() {
        let at = entry_of_len(ENTRY_WRITE_BYTES_MAX);
        assert_eq!(at.len(), ENTRY_WRITE_BYTES_MAX);
        assert!(Entry::decode(&at).is_ok());
        let over = entry_of_len(ENTRY_WRITE_BYTES_MAX + 1);
        assert!(matches!(
            Entry::decode(&over),
            Err(DecodeError::TooLarge { len }) if len == ENTRY_WRITE_BYTES_MAX + 1
        ));
    }

    #[test]
    fn huge_length_prefix_is_an_error_not_an_allocation() {
        let mut bytes = sample().encode();
        // The stream string's length prefix sits after version(1)+seq(8)+prev(32)+time(8)+variant(4).
        let at = 1 + 8 + 32 + 8 + 4;
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Entry::decode(&bytes).is_err());
    }
}
