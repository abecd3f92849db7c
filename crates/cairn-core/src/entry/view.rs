//! A borrowed view of an entry: the same bytes and the same rules as
//! [`Entry::decode`], with every string of a decision left in the entry's bytes
//! instead of copied. For the passes that read every entry and keep nothing of
//! it (`verify`, the indexer): most of what decoding a decision cost was
//! allocating its strings.

use bincode::BorrowDecode;

use super::{
    config, decode_framed, AlertV1, DecisionV1, DecodeError, Entry, EntryBody, ModelRef,
    PayloadRef, PayloadSlot, RedactionV1, ReplayV1,
};
use crate::hash::Hash;

/// An [`Entry`] whose decision strings borrow from the encoded bytes.
#[derive(Debug, Clone, PartialEq, BorrowDecode)]
pub struct EntryView<'a> {
    /// Position in the ledger, from 0.
    pub seq: u64,
    /// Leaf hash of the entry at `seq - 1`.
    pub prev_hash: Hash,
    /// When the ledger accepted the entry, µs since the Unix epoch.
    pub recorded_at_us: i64,
    /// What the entry records.
    pub body: BodyView<'a>,
}

/// [`EntryBody`], with decisions borrowed (the other kinds are rare and
/// decoded as they are).
#[derive(Debug, Clone, PartialEq, BorrowDecode)]
#[allow(clippy::large_enum_variant)]
pub enum BodyView<'a> {
    /// Variant 0.
    DecisionV1(DecisionView<'a>),
    /// Variant 1.
    RedactionV1(RedactionV1),
    /// Variant 2.
    ReplayV1(ReplayV1),
    /// Variant 3.
    AlertV1(AlertV1),
}

/// [`ModelRef`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorrowDecode)]
pub struct ModelView<'a> {
    /// Model name.
    pub name: &'a str,
    /// Model version.
    pub version: &'a str,
    /// Content digest of the model artefact.
    pub digest: Option<&'a str>,
}

/// [`DecisionV1`], borrowed: the fields in the same order.
#[derive(Debug, Clone, PartialEq, BorrowDecode)]
pub struct DecisionView<'a> {
    /// The producer's stream.
    pub stream: &'a str,
    /// The model and version that decided.
    pub model: ModelView<'a>,
    /// Producer's clock, µs since the epoch.
    pub event_time_us: Option<i64>,
    /// Producer's request id.
    pub request_id: Option<&'a str>,
    /// W3C trace id.
    pub trace_id: Option<&'a str>,
    /// W3C span id.
    pub span_id: Option<&'a str>,
    /// Who the decision is about.
    pub subject: Option<&'a str>,
    /// Conversation or session.
    pub session: Option<&'a str>,
    /// Operation name.
    pub operation: Option<&'a str>,
    /// Model parameters, compact JSON text.
    pub params: Option<&'a str>,
    /// Decision label.
    pub decision: Option<&'a str>,
    /// Decision score.
    pub score: Option<f64>,
    /// Model latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Free-form attributes.
    pub attributes: Vec<(&'a str, &'a str)>,
    /// Producer's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Commitment to the input payload.
    pub input: PayloadRef,
    /// Commitment to the output payload.
    pub output: PayloadRef,
}

impl<'a> EntryView<'a> {
    /// Decode canonical bytes as [`Entry::decode`] does (same limits, same
    /// errors), borrowing the decision's strings from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<EntryView<'a>, DecodeError> {
        decode_framed(bytes, |body| {
            bincode::borrow_decode_from_slice(body, config())
        })
    }

    /// The owned entry.
    pub fn to_entry(&self) -> Entry {
        Entry {
            seq: self.seq,
            prev_hash: self.prev_hash,
            recorded_at_us: self.recorded_at_us,
            body: match &self.body {
                BodyView::DecisionV1(d) => EntryBody::DecisionV1(d.to_decision()),
                BodyView::RedactionV1(r) => EntryBody::RedactionV1(r.clone()),
                BodyView::ReplayV1(r) => EntryBody::ReplayV1(r.clone()),
                BodyView::AlertV1(a) => EntryBody::AlertV1(a.clone()),
            },
        }
    }
}

impl DecisionView<'_> {
    /// The commitment of one payload slot.
    pub fn payload(&self, slot: PayloadSlot) -> &PayloadRef {
        match slot {
            PayloadSlot::Input => &self.input,
            PayloadSlot::Output => &self.output,
        }
    }

    /// The owned decision.
    pub fn to_decision(&self) -> DecisionV1 {
        let own = |s: Option<&str>| s.map(str::to_owned);
        DecisionV1 {
            stream: self.stream.to_owned(),
            model: ModelRef {
                name: self.model.name.to_owned(),
                version: self.model.version.to_owned(),
                digest: own(self.model.digest),
            },
            event_time_us: self.event_time_us,
            request_id: own(self.request_id),
            trace_id: own(self.trace_id),
            span_id: own(self.span_id),
            subject: own(self.subject),
            session: own(self.session),
            operation: own(self.operation),
            params: own(self.params),
            decision: own(self.decision),
            score: self.score,
            latency_ms: self.latency_ms,
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            idempotency_key: own(self.idempotency_key),
            input: self.input,
            output: self.output,
        }
    }
}
