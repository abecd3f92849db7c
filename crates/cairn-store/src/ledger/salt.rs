//! Before a batch is staged: which of its items are repeats of an
//! idempotency key, and the salts of the decisions that are not, derived
//! from the key of the window each lands in (`schemas/storage-v2.md`,
//! "Derived salts") and laid out as stored.

use std::collections::{BTreeMap, HashSet};

use cairn_core::decision::{PreparedDecision, UnsaltedDecision, SALT_LEN};
use cairn_core::entry::{EncodedBody, EntryBody};

use super::{Append, Ledger, Receipt};
use crate::backend::{Backend, Cf};
use crate::error::{Result, StoreError};
use crate::keys;
use crate::pieces::{self, WindowKey};

/// What the idempotency check decided for one item, before it is staged.
pub(super) enum Plan {
    /// Appended, at the next seq; the key its idempotency key is indexed
    /// under, if it has one.
    Fresh(Option<Vec<u8>>),
    /// A repeat of an entry already stored: that entry's receipt.
    Stored(Receipt),
    /// A repeat of an earlier item of this batch (its idempotency key).
    InBatch(Vec<u8>),
}

impl<B: Backend> Ledger<B> {
    /// Which items are repeats (by idempotency key) and which are appended.
    pub(super) fn plan(&self, items: &[Append]) -> Result<Vec<Plan>> {
        let mut seen = HashSet::new();
        let mut plan = Vec::with_capacity(items.len());
        for item in items {
            if let Some(d) = item.decision() {
                let bytes = d.input.len.saturating_add(d.output.len);
                if bytes > pieces::DECISION_PAYLOAD_BYTES_MAX {
                    return Err(StoreError::Invalid(format!(
                        "a decision's input and output are {bytes} bytes together, over the \
                         limit of {} bytes; store large documents elsewhere and record their \
                         digest",
                        pieces::DECISION_PAYLOAD_BYTES_MAX
                    )));
                }
            }
            let Some(ik) = item.idempotency_key() else {
                plan.push(Plan::Fresh(None));
                continue;
            };
            if seen.contains(&ik) {
                plan.push(Plan::InBatch(ik));
            } else if let Some(seq) = self.backend.get(Cf::Index, &ik)? {
                let seq = keys::parse_seq(&seq)
                    .ok_or_else(|| StoreError::corrupt("idempotency index", "bad seq"))?;
                plan.push(Plan::Stored(Receipt {
                    seq,
                    leaf_hash: self.leaf(seq)?,
                    duplicate: true,
                }));
            } else {
                seen.insert(ik.clone());
                plan.push(Plan::Fresh(Some(ik)));
            }
        }
        Ok(plan)
    }

    /// The seq each item will be appended at (`None` for a repeat), from
    /// `next` on. A window the batch starts gets a new key here.
    pub(super) fn seqs(
        &self,
        keys: &mut BTreeMap<u64, Option<WindowKey>>,
        mut next: u64,
        plan: &[Plan],
    ) -> Result<Vec<Option<u64>>> {
        let mut seqs = Vec::with_capacity(plan.len());
        for p in plan {
            if !matches!(p, Plan::Fresh(_)) {
                seqs.push(None);
                continue;
            }
            let window = pieces::window_start(next);
            if let std::collections::btree_map::Entry::Vacant(v) = keys.entry(window) {
                v.insert(Some(pieces::new_window_key()?));
            }
            seqs.push(Some(next));
            next += 1;
        }
        Ok(seqs)
    }
}

/// An item made ready to stage.
pub(super) enum Packed {
    /// A decision: its entry body encoded and its payloads laid out as
    /// stored (`salt ‖ bytes`), so that staging only frames and hashes it.
    Decision {
        body: EncodedBody,
        stored: [Vec<u8>; 2],
    },
    /// Anything else (or a repeat, which is not appended), as it came:
    /// rare, so boxed to keep the decisions' variant small.
    Other(Box<Append>),
}

/// Salt a decision that will be appended at `seq`, encode its body and lay
/// its payloads out as stored; anything else is returned as it is.
pub(super) fn pack(
    item: Append,
    seq: Option<u64>,
    keys: &BTreeMap<u64, Option<WindowKey>>,
) -> Result<Packed> {
    match (item, seq) {
        (Append::Unsalted(d), Some(seq)) => Ok(packed(salted(d, seq, keys)?)),
        (Append::Decision(d), Some(_)) => Ok(packed(d)),
        (other, _) => Ok(Packed::Other(Box::new(other))),
    }
}

/// The salt key of `window`, if it has one.
pub(super) fn key_of(keys: &BTreeMap<u64, Option<WindowKey>>, window: u64) -> Option<WindowKey> {
    keys.get(&window).copied().flatten()
}

/// `d` salted for `seq`: salts derived from its window's key, or drawn at
/// random where the window has none.
pub(super) fn salted(
    d: UnsaltedDecision,
    seq: u64,
    keys: &BTreeMap<u64, Option<WindowKey>>,
) -> Result<PreparedDecision> {
    let salts = match key_of(keys, pieces::window_start(seq)) {
        Some(key) => [
            pieces::derive_salt(&key, seq, 0),
            pieces::derive_salt(&key, seq, 1),
        ],
        None => {
            let mut s = [[0u8; SALT_LEN]; 2];
            for salt in &mut s {
                getrandom::fill(salt).map_err(|e| StoreError::Backend {
                    op: "draw a salt",
                    kind: crate::error::EngineErrorKind::Other,
                    reason: format!("no randomness: {e}"),
                })?;
            }
            s
        }
    };
    Ok(d.salt(salts[0], salts[1]))
}

/// A decision with its body encoded and its payloads laid out as stored.
fn packed(d: PreparedDecision) -> Packed {
    let stored = [&d.input, &d.output].map(|p| {
        let mut raw = Vec::with_capacity(p.salt.len() + p.bytes.len());
        raw.extend_from_slice(&p.salt);
        raw.extend_from_slice(&p.bytes);
        raw
    });
    Packed::Decision {
        body: EncodedBody::new(&EntryBody::DecisionV1(d.body)),
        stored,
    }
}
