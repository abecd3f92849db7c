//! Staging a batch of decisions on several cores: which decisions repeat an
//! idempotency key is settled first, in order; then every decision's entry
//! body and payload slots are encoded in parallel (they depend on nothing
//! before them); last, in order, each body is chained to the entry before it
//! (seq, link, time) and hashed into the tree. Only that last step is
//! sequential by nature, and it is a copy and a hash per entry.

use std::collections::HashMap;

use cairn_core::entry::{EncodedBody, Entry, EntryBody, ENTRY_WRITE_BYTES_MAX};
use cairn_core::hash::leaf_hash;
use rayon::prelude::*;

use super::write::Staged;
use super::{Append, Ledger, Receipt};
use crate::backend::{Backend, Cf};
use crate::error::{Result, StoreError};
use crate::keys;
use crate::pieces::{Record, Slot};

/// Batches of at least this many decisions are encoded on the thread pool;
/// smaller ones on the appending thread, where handing them over would cost
/// more than it saves.
const PARALLEL_MIN: usize = 64;

/// What becomes of one decision of a batch.
enum Fate {
    /// Appended; with its idempotency index key, if it has one.
    Append(Option<Vec<u8>>),
    /// Its key is in the ledger already: that entry's receipt.
    Repeat(Receipt),
    /// Its key was first used by the batch's decision at this index.
    RepeatOf(usize),
}

/// A decision ready to be chained.
struct Encoded {
    body: EncodedBody,
    payloads: [Slot; 2],
}

/// Whether every item is a decision, so that [`Ledger::stage_decisions`] may
/// stage the batch.
pub(super) fn all_decisions(items: &[Append]) -> bool {
    items
        .iter()
        .all(|i| matches!(i, Append::Decision(_) | Append::Packed(_)))
}

impl<B: Backend> Ledger<B> {
    /// Stage a batch of decisions (only decisions: see [`all_decisions`]) and
    /// return their receipts in order, as staging them one by one would.
    pub(super) fn stage_decisions(
        &self,
        st: &mut Staged,
        items: Vec<Append>,
        recorded_at_us: i64,
    ) -> Result<Vec<Receipt>> {
        let fates = self.fates(&items)?;
        let encode = |(item, fate): (Append, &Fate)| match fate {
            Fate::Append(_) => encode(item).map(Some),
            Fate::Repeat(_) | Fate::RepeatOf(_) => Ok(None),
        };
        let encoded: Vec<Option<Encoded>> = if items.len() >= PARALLEL_MIN {
            items
                .into_par_iter()
                .zip(fates.par_iter())
                .map(encode)
                .collect::<Result<_>>()?
        } else {
            items
                .into_iter()
                .zip(fates.iter())
                .map(encode)
                .collect::<Result<_>>()?
        };
        let mut receipts: Vec<Receipt> = Vec::with_capacity(fates.len());
        for (fate, enc) in fates.into_iter().zip(encoded) {
            let receipt = match (fate, enc) {
                (Fate::Append(ik), Some(enc)) => self.chain_decision(st, ik, enc, recorded_at_us),
                (Fate::Repeat(r), _) => r,
                (Fate::RepeatOf(first), _) => Receipt {
                    duplicate: true,
                    ..receipts[first]
                },
                (Fate::Append(_), None) => {
                    return Err(StoreError::Invalid("a decision was not encoded".into()))
                }
            };
            receipts.push(receipt);
        }
        Ok(receipts)
    }

    /// Settle, in order, which decisions repeat an idempotency key: one used
    /// earlier in the batch, or one the ledger holds.
    fn fates(&self, items: &[Append]) -> Result<Vec<Fate>> {
        let mut first_use: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut fates = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let body = match item {
                Append::Decision(d) => &d.body,
                Append::Packed(p) => &p.body,
                Append::Redaction(_) | Append::Replay(_) | Append::Alert(_) => {
                    return Err(StoreError::Invalid(
                        "only decisions are staged together".into(),
                    ))
                }
            };
            let Some(key) = &body.idempotency_key else {
                fates.push(Fate::Append(None));
                continue;
            };
            let ik = keys::idempotency_key(&body.stream, key);
            if let Some(&first) = first_use.get(&ik) {
                fates.push(Fate::RepeatOf(first));
                continue;
            }
            if let Some(seq) = self.backend.get(Cf::Index, &ik)? {
                let seq = keys::parse_seq(&seq)
                    .ok_or_else(|| StoreError::corrupt("idempotency index", "bad seq"))?;
                fates.push(Fate::Repeat(Receipt {
                    seq,
                    leaf_hash: self.leaf(seq)?,
                    duplicate: true,
                }));
                continue;
            }
            first_use.insert(ik.clone(), i);
            fates.push(Fate::Append(Some(ik)));
        }
        Ok(fates)
    }

    /// Chain an encoded decision to the staged head: its entry, leaf, tree
    /// nodes, idempotency key and record.
    fn chain_decision(
        &self,
        st: &mut Staged,
        ik: Option<Vec<u8>>,
        enc: Encoded,
        recorded_at_us: i64,
    ) -> Receipt {
        let seq = st.head.size;
        let bytes = Entry::encode_with_body(seq, &st.head.last_leaf, recorded_at_us, &enc.body);
        let leaf = leaf_hash(&bytes);
        self.push_leaf(st, leaf);
        let receipt = Receipt {
            seq,
            leaf_hash: leaf,
            duplicate: false,
        };
        if let Some(ik) = ik {
            st.batch.put(Cf::Index, ik.clone(), keys::seq_key(seq));
            st.seen_keys.insert(ik, receipt);
        }
        st.records.push(Record {
            entry: bytes,
            payloads: enc.payloads,
        });
        st.head.size += 1;
        st.head.last_leaf = leaf;
        receipt
    }
}

/// Encode one decision's entry body and lay out its payloads as stored.
fn encode(item: Append) -> Result<Encoded> {
    let (body, payloads) = match item {
        Append::Decision(d) => {
            let stored = [&d.input, &d.output].map(|p| {
                let mut raw = Vec::with_capacity(p.salt.len() + p.bytes.len());
                raw.extend_from_slice(&p.salt);
                raw.extend_from_slice(&p.bytes);
                Slot::Stored(raw)
            });
            (d.body, stored)
        }
        Append::Packed(p) => (p.body, p.stored.map(Slot::Stored)),
        Append::Redaction(_) | Append::Replay(_) | Append::Alert(_) => {
            return Err(StoreError::Invalid(
                "only decisions are staged together".into(),
            ))
        }
    };
    let body = EncodedBody::new(&EntryBody::DecisionV1(body));
    if body.entry_len() > ENTRY_WRITE_BYTES_MAX {
        return Err(StoreError::Invalid(format!(
            "entry would be {} bytes, over the limit of {}",
            body.entry_len(),
            ENTRY_WRITE_BYTES_MAX
        )));
    }
    Ok(Encoded { body, payloads })
}
