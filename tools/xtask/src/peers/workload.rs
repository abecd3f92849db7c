//! The workload of a run, generated once before any system sees it: synthetic
//! decisions from `cairn-synth` as NDJSON batches in memory, and the query of
//! the run (one subject's hour) chosen from them.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use cairn_core::decision::parse_time_us;
use cairn_synth::{format_event_time, Synth, SynthConfig};
use serde::Serialize;

/// Microseconds in an hour.
const HOUR_US: i64 = 3_600_000_000;

/// "Every decision of this subject in this hour": the read every system answers.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectHour {
    /// The subject.
    pub subject: String,
    /// Start of the hour, Unix microseconds (inclusive).
    pub from_us: i64,
    /// End of the hour, Unix microseconds (exclusive).
    pub to_us: i64,
    /// Start of the hour as RFC 3339, as the decisions write their `event_time`.
    pub from: String,
    /// End of the hour as RFC 3339.
    pub to: String,
}

impl SubjectHour {
    fn new(subject: &str, event_time: &str) -> Result<SubjectHour> {
        let at = parse_time_us(event_time).map_err(anyhow::Error::msg)?;
        let from_us = at.div_euclid(HOUR_US) * HOUR_US;
        let to_us = from_us + HOUR_US;
        Ok(SubjectHour {
            subject: subject.to_owned(),
            from_us,
            to_us,
            from: format_event_time(from_us / 1000),
            to: format_event_time(to_us / 1000),
        })
    }
}

/// The decisions of a run, as NDJSON batches.
#[derive(Debug)]
pub struct Workload {
    /// NDJSON bodies, every line ending in `\n`.
    pub batches: Vec<Bytes>,
    /// Decisions in each body.
    pub batch_lens: Vec<u32>,
    /// Decisions in all bodies.
    pub decisions: u64,
    /// Bytes of NDJSON in all bodies.
    pub bytes: u64,
    /// The read of the run.
    pub query: SubjectHour,
    /// Seconds it took to generate.
    pub generate_seconds: f64,
}

impl Workload {
    /// `count` decisions from `seed`, `batch` to a body. The query's subject is
    /// the busiest one (most decisions; the first such in the run on a tie), as
    /// an investigation of a heavy customer would ask; its hour is the hour of
    /// that subject's last decision.
    pub fn generate(seed: u64, count: u64, batch: u32) -> Result<Workload> {
        if count == 0 || batch == 0 {
            bail!("the workload needs at least one decision and batches of at least one");
        }
        let started = Instant::now();
        let batch = batch as usize;
        let mut batches = Vec::with_capacity(count.div_ceil(batch as u64) as usize);
        let mut batch_lens = Vec::with_capacity(batches.capacity());
        let mut body = Vec::new();
        let mut in_body = 0u32;
        // Per subject: decisions, first index, last event time.
        let mut subjects: HashMap<String, (u64, usize, String)> = HashMap::new();
        let synth = Synth::new(SynthConfig {
            seed,
            count,
            ..SynthConfig::default()
        });
        for (i, decision) in synth.enumerate() {
            if let (Some(s), Some(t)) = (
                decision["subject"].as_str(),
                decision["event_time"].as_str(),
            ) {
                let seen = subjects
                    .entry(s.to_owned())
                    .or_insert_with(|| (0, i, String::new()));
                seen.0 += 1;
                t.clone_into(&mut seen.2);
            }
            serde_json::to_writer(&mut body, &decision).context("serialising a decision")?;
            body.push(b'\n');
            in_body += 1;
            if in_body as usize == batch {
                batches.push(Bytes::from(std::mem::take(&mut body)));
                batch_lens.push(in_body);
                in_body = 0;
            }
        }
        if in_body > 0 {
            batches.push(Bytes::from(body));
            batch_lens.push(in_body);
        }
        let busiest = subjects
            .iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)));
        let Some((subject, (_, _, last))) = busiest else {
            bail!("no decision of the workload has a subject and an event time");
        };
        let query = SubjectHour::new(subject, last)?;
        Ok(Workload {
            decisions: batch_lens.iter().map(|&n| u64::from(n)).sum(),
            bytes: batches.iter().map(|b| b.len() as u64).sum(),
            batches,
            batch_lens,
            query,
            generate_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Average bytes of NDJSON per batch.
    pub fn batch_bytes_mean(&self) -> u64 {
        self.bytes / self.batches.len().max(1) as u64
    }
}

/// The lines of an NDJSON body, without their newlines.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batches_split_the_run_and_the_query_is_an_hour_of_a_real_subject() {
        let w = Workload::generate(5, 2500, 1000).unwrap();
        assert_eq!(w.batch_lens, [1000, 1000, 500]);
        assert_eq!(w.decisions, 2500);
        assert_eq!(lines(&w.batches[2]).count(), 500);
        assert_eq!(w.query.to_us - w.query.from_us, HOUR_US);
        assert!(w.query.from.ends_with(":00:00.000Z"), "{}", w.query.from);
        let needle = format!("\"subject\":\"{}\"", w.query.subject);
        let hits = w
            .batches
            .iter()
            .flat_map(|b| lines(b))
            .filter(|l| String::from_utf8_lossy(l).contains(&needle))
            .count();
        assert!(hits > 0);
    }
}
