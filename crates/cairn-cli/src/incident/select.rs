//! The filters `cairn incident` and `cairn bundle export` share, as given on
//! the command line and resolved into the store's [`cairn_store::query::Query`],
//! which plans and answers the selection (`Ledger::select`).

use anyhow::{bail, Context, Result};
use cairn_core::entry::{DecisionV1, Entry, EntryBody, PayloadSlot};
use cairn_core::hash::Hash;
use cairn_store::ledger::entry_time;
use cairn_store::{Backend, Ledger};
use serde_json::{json, Value};

use super::timespec::{parse_duration_us, parse_time};

/// The filters, as given on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Filters {
    /// Start of the time window, inclusive: RFC 3339, or relative to now like
    /// `-2h`, `-30m`, `-7d`. Times are event times (recorded times for entries
    /// without one).
    #[arg(
        long,
        value_name = "TIME",
        conflicts_with = "around",
        allow_hyphen_values = true
    )]
    pub from: Option<String>,
    /// End of the time window, exclusive: RFC 3339, `now`, or relative like `-1h`.
    #[arg(
        long,
        value_name = "TIME",
        conflicts_with = "around",
        allow_hyphen_values = true
    )]
    pub to: Option<String>,
    /// Only this stream.
    #[arg(long)]
    pub stream: Option<String>,
    /// Only decisions about this subject (customer, account).
    #[arg(long)]
    pub subject: Option<String>,
    /// Only this session or conversation.
    #[arg(long)]
    pub session: Option<String>,
    /// Only this request id.
    #[arg(long = "request-id", value_name = "ID")]
    pub request_id: Option<String>,
    /// Only this trace id.
    #[arg(long = "trace-id", value_name = "ID")]
    pub trace_id: Option<String>,
    /// Only this model, and version if given.
    #[arg(long, value_name = "NAME[@VERSION]")]
    pub model: Option<String>,
    /// Only decisions with this label.
    #[arg(long, value_name = "LABEL")]
    pub decision: Option<String>,
    /// Centre the time window on the time of entry SEQ (see --window).
    #[arg(long, value_name = "SEQ")]
    pub around: Option<u64>,
    /// With --around: how far before and after that time [default: 5m].
    #[arg(long, value_name = "DURATION", requires = "around")]
    pub window: Option<String>,
    /// At most this many decisions (the first ones, in ledger order).
    #[arg(long, default_value_t = 100_000)]
    pub limit: usize,
}

/// The filters, resolved: times in microseconds, the model split.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Window start, inclusive.
    pub from_us: Option<i64>,
    /// Window end, exclusive.
    pub to_us: Option<i64>,
    /// Stream.
    pub stream: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Session.
    pub session: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Model name and, optionally, version.
    pub model: Option<(String, Option<String>)>,
    /// Decision label.
    pub decision: Option<String>,
    /// Most decisions selected.
    pub limit: usize,
}

/// A selected decision, and what of it was erased.
#[derive(Debug, Clone)]
pub struct Row {
    /// The entry's seq.
    pub seq: u64,
    /// The entry's link to the one before.
    pub prev_hash: Hash,
    /// When the ledger accepted it, µs.
    pub recorded_at_us: i64,
    /// The decision.
    pub decision: DecisionV1,
    /// Erased payloads and the redaction entry that erased each.
    pub erased: Vec<(PayloadSlot, u64)>,
}

impl Row {
    /// Event time, or recorded time without one (the time the index uses).
    pub fn time_us(&self) -> i64 {
        self.decision.event_time_us.unwrap_or(self.recorded_at_us)
    }

    /// `name@version`.
    pub fn model(&self) -> String {
        format!(
            "{}@{}",
            self.decision.model.name, self.decision.model.version
        )
    }

    /// The ledger entry this row was read from.
    pub fn to_entry(&self) -> Entry {
        Entry {
            seq: self.seq,
            prev_hash: self.prev_hash,
            recorded_at_us: self.recorded_at_us,
            body: EntryBody::DecisionV1(self.decision.clone()),
        }
    }
}

/// The result of a selection.
#[derive(Debug)]
pub struct Selection {
    /// Matching decisions in ledger (seq) order.
    pub rows: Vec<Row>,
    /// More decisions matched than `limit`.
    pub truncated: bool,
    /// Which index gave the candidates.
    pub index: &'static str,
    /// Entries read and checked.
    pub examined: u64,
}

impl Filters {
    /// Resolves times (relative ones against `now_us`) and `--around`.
    pub fn resolve<B: Backend>(&self, ledger: &Ledger<B>, now_us: i64) -> Result<Query> {
        let mut q = Query {
            stream: self.stream.clone(),
            subject: self.subject.clone(),
            session: self.session.clone(),
            request_id: self.request_id.clone(),
            trace_id: self.trace_id.clone(),
            model: self.model.as_deref().map(split_model),
            decision: self.decision.clone(),
            limit: self.limit,
            ..Query::default()
        };
        let time = |t: &Option<String>, flag: &str| -> Result<Option<i64>> {
            t.as_deref()
                .map(|t| parse_time(t, now_us).with_context(|| format!("--{flag}")))
                .transpose()
        };
        q.from_us = time(&self.from, "from")?;
        q.to_us = time(&self.to, "to")?;
        if let Some(seq) = self.around {
            let w =
                parse_duration_us(self.window.as_deref().unwrap_or("5m")).context("--window")?;
            let centre = entry_time(
                &ledger
                    .entry(seq)
                    .with_context(|| format!("--around {seq}"))?,
            );
            q.from_us = Some(centre.saturating_sub(w));
            q.to_us = Some(centre.saturating_add(w).saturating_add(1));
        }
        if let (Some(f), Some(t)) = (q.from_us, q.to_us) {
            if f >= t {
                bail!("the window is empty: --from is not before --to");
            }
        }
        Ok(q)
    }
}

fn split_model(text: &str) -> (String, Option<String>) {
    match text.rsplit_once('@') {
        Some((name, version)) if !name.is_empty() => (name.to_owned(), Some(version.to_owned())),
        _ => (text.to_owned(), None),
    }
}

impl Query {
    /// The filters as JSON, for reports.
    pub fn to_json(&self) -> Value {
        let time = |t: Option<i64>| t.map(cairn_core::decision::format_time_us);
        json!({
            "from": time(self.from_us),
            "to": time(self.to_us),
            "stream": self.stream,
            "subject": self.subject,
            "session": self.session,
            "request_id": self.request_id,
            "trace_id": self.trace_id,
            "model": self.model.as_ref().map(|(n, v)| match v {
                Some(v) => format!("{n}@{v}"),
                None => n.clone(),
            }),
            "decision": self.decision,
            "limit": self.limit,
        })
    }
}

impl Query {
    /// The store's query for these filters.
    fn store_query(&self) -> cairn_store::query::Query {
        cairn_store::query::Query {
            from_us: self.from_us,
            to_us: self.to_us,
            stream: self.stream.clone(),
            subject: self.subject.clone(),
            session: self.session.clone(),
            request_ids: self.request_id.iter().cloned().collect(),
            trace_id: self.trace_id.clone(),
            model_name: self.model.as_ref().map(|(n, _)| n.clone()),
            model_version: self.model.as_ref().and_then(|(_, v)| v.clone()),
            decision: self.decision.clone(),
        }
    }
}

/// Selects the decisions matching `q`, in ledger order.
pub fn select<B: Backend>(ledger: &Ledger<B>, q: &Query) -> Result<Selection> {
    let found = ledger
        .select(&q.store_query(), ledger.size(), q.limit)
        .context("selecting decisions (if an entry is damaged, run `cairn verify`)")?;
    let mut rows = Vec::with_capacity(found.entries.len());
    for entry in found.entries {
        let seq = entry.seq;
        let EntryBody::DecisionV1(d) = entry.body else {
            continue;
        };
        rows.push(Row {
            seq,
            prev_hash: entry.prev_hash,
            recorded_at_us: entry.recorded_at_us,
            erased: erasures(ledger, seq)?,
            decision: d,
        });
    }
    Ok(Selection {
        rows,
        truncated: found.truncated,
        index: found.index,
        examined: found.examined,
    })
}

/// The erased payloads of decision `seq`, with the redaction that erased each.
fn erasures<B: Backend>(ledger: &Ledger<B>, seq: u64) -> Result<Vec<(PayloadSlot, u64)>> {
    let mut out = Vec::new();
    for by in ledger.redactions_of(seq)? {
        let entry = ledger
            .entry(by)
            .with_context(|| format!("reading redaction entry {by}"))?;
        if let EntryBody::RedactionV1(r) = entry.body {
            for slot in r.slots {
                if !out.iter().any(|(s, _)| *s == slot) {
                    out.push((slot, by));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_split_at_the_last_at_sign() {
        assert_eq!(split_model("fraud@7"), ("fraud".into(), Some("7".into())));
        assert_eq!(split_model("fraud"), ("fraud".into(), None));
        assert_eq!(split_model("org@x@v2"), ("org@x".into(), Some("v2".into())));
        assert_eq!(split_model("@x"), ("@x".into(), None));
    }
}
