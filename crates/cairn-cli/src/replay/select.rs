//! Selecting the decisions to replay. The store plans the selection
//! (`Ledger::candidates`: the most selective index given, or the whole ledger
//! without any); the deterministic sample is applied to the candidates, every
//! criterion is checked on the entry, and the first `--limit` in seq order are
//! kept. A selected decision whose input or output
//! was erased is reported as not replayable, with the redaction that erased it.

use anyhow::{Context, Result};
use cairn_core::entry::{DecisionV1, EntryBody, PayloadSlot};
use cairn_replay::selection::{sampled, seqs_digest};
use cairn_replay::{NotReplayable, Record, Selection};
use cairn_store::query::Query;
use cairn_store::{Backend, Ledger, PayloadState};
use serde_json::Value;

/// What to select.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    pub stream: Option<String>,
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub subject: Option<String>,
    pub session: Option<String>,
    pub request_ids: Vec<String>,
    /// Fraction and seed.
    pub sample: Option<(f64, u64)>,
    pub limit: Option<u64>,
}

/// The selected decisions.
pub struct Selected {
    /// Replayable decisions, in seq order.
    pub records: Vec<Record>,
    /// Selected decisions that cannot be replayed.
    pub not_replayable: Vec<NotReplayable>,
    /// The criteria as recorded.
    pub selection: Selection,
}

/// Select from `ledger` (as it is now).
pub fn select<B: Backend>(ledger: &Ledger<B>, c: &Criteria) -> Result<Selected> {
    let size = ledger.size();
    let limit = c.limit.unwrap_or(u64::MAX);
    let mut records = Vec::new();
    let mut not_replayable = Vec::new();
    let mut seqs = Vec::new();
    let mut chosen = Vec::new();
    let query = c.query();
    let (candidates, _) = ledger
        .candidates(&query, size)
        .context("selecting decisions")?;
    let seqs_in: Box<dyn Iterator<Item = u64>> = match candidates {
        Some(v) => Box::new(v.into_iter()),
        None => Box::new(0..size),
    };
    for seq in seqs_in {
        if seqs.len() as u64 >= limit {
            break;
        }
        if let Some((fraction, seed)) = c.sample {
            if !sampled(seed, seq, fraction) {
                continue;
            }
        }
        let entry = ledger
            .entry(seq)
            .with_context(|| format!("reading entry {seq}"))?;
        let EntryBody::DecisionV1(d) = entry.body else {
            continue;
        };
        let time = d.event_time_us.unwrap_or(entry.recorded_at_us);
        if !query.matches(&d, time) {
            continue;
        }
        seqs.push(seq);
        chosen.push((seq, d));
    }
    // The payloads of all of them at once: read window by window, in parallel.
    let states = ledger
        .payload_states(&seqs)
        .context("reading the selected decisions' payloads")?;
    for ((seq, d), states) in chosen.into_iter().zip(states) {
        match load(seq, &d, states) {
            Ok(r) => records.push(r),
            Err(reason) => not_replayable.push(NotReplayable { seq, reason }),
        }
    }
    let selection = Selection {
        stream: c.stream.clone(),
        model: c.model_name.clone(),
        model_version: c.model_version.clone(),
        from: c.from.clone(),
        to: c.to.clone(),
        subject: c.subject.clone(),
        session: c.session.clone(),
        request_ids: c.request_ids.clone(),
        sample: c.sample.map(|s| s.0),
        seed: c.sample.map(|s| s.1),
        limit: c.limit,
        ledger_size: size,
        seqs_blake3: seqs_digest(&seqs),
    };
    Ok(Selected {
        records,
        not_replayable,
        selection,
    })
}

impl Criteria {
    /// The store's query for these criteria.
    fn query(&self) -> Query {
        Query {
            from_us: self.from_us,
            to_us: self.to_us,
            stream: self.stream.clone(),
            subject: self.subject.clone(),
            session: self.session.clone(),
            request_ids: self.request_ids.clone(),
            model_name: self.model_name.clone(),
            model_version: self.model_version.clone(),
            ..Query::default()
        }
    }
}

/// The record of decision `seq` with its payloads' `states`, or why it
/// cannot be replayed.
fn load(
    seq: u64,
    d: &DecisionV1,
    states: [PayloadState; 2],
) -> std::result::Result<Record, String> {
    let mut payloads = Vec::with_capacity(2);
    // Slots gone, with the redactions that erased them (none: damage).
    let mut gone: Vec<(&str, Vec<u64>)> = Vec::new();
    for (slot, state) in PayloadSlot::ALL.into_iter().zip(states) {
        match state {
            PayloadState::Stored(p) => match serde_json::from_slice::<Value>(&p.bytes) {
                Ok(v) => payloads.push(v),
                Err(e) => return Err(format!("{} payload is not JSON: {e}", slot.name())),
            },
            PayloadState::Erased { by } => gone.push((slot.name(), by)),
            PayloadState::Missing => gone.push((slot.name(), Vec::new())),
        }
    }
    if !gone.is_empty() {
        return Err(why_gone(&gone));
    }
    let output = payloads.pop().unwrap_or(Value::Null);
    let input = payloads.pop().unwrap_or(Value::Null);
    Ok(Record {
        seq,
        input,
        output,
        params: d
            .params
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        model: d.model.clone(),
        session: d.session.clone(),
        latency_ms: d.latency_ms,
        decision: d.decision.clone(),
        score: d.score,
    })
}

/// Why a decision cannot be replayed, e.g. `input and output erased by
/// redaction 812`; slots erased alike are named together.
fn why_gone(gone: &[(&str, Vec<u64>)]) -> String {
    let mut parts: Vec<(Vec<&str>, &[u64])> = Vec::new();
    for (slot, by) in gone {
        match parts.iter_mut().find(|(_, b)| *b == by.as_slice()) {
            Some((slots, _)) => slots.push(slot),
            None => parts.push((vec![slot], by)),
        }
    }
    parts
        .iter()
        .map(|(slots, by)| {
            let slots = slots.join(" and ");
            if by.is_empty() {
                format!("{slots} payload missing (not erased by any redaction)")
            } else {
                let by: Vec<String> = by.iter().map(u64::to_string).collect();
                format!("{slots} erased by redaction {}", by.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_gone_alike_are_named_together() {
        assert_eq!(
            why_gone(&[("input", vec![812]), ("output", vec![812])]),
            "input and output erased by redaction 812"
        );
        assert_eq!(
            why_gone(&[("input", vec![5, 9]), ("output", vec![])]),
            "input erased by redaction 5, 9; output payload missing (not erased by any redaction)"
        );
    }
}
