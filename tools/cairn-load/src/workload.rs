//! The requests of a run, generated before it starts so that generating them
//! does not limit throughput: synthetic decisions from `cairn-synth`, as
//! single JSON bodies (batch 1) or NDJSON batches.

use bytes::{BufMut, Bytes, BytesMut};
use cairn_synth::{Synth, SynthConfig};

/// One request body and how many decisions it holds.
#[derive(Debug, Clone)]
pub struct Body {
    /// The bytes sent.
    pub bytes: Bytes,
    /// Decisions in it.
    pub decisions: u32,
}

/// Every request body of a run, in order.
#[derive(Debug)]
pub struct Workload {
    /// Request bodies.
    pub bodies: Vec<Body>,
    /// `application/json` for single decisions, else `application/x-ndjson`.
    pub content_type: &'static str,
    /// Decisions in all bodies.
    pub decisions: u64,
    /// Bytes in all bodies.
    pub bytes: u64,
}

/// `count` decisions from seed `seed`, `batch` to a request (1: one JSON
/// decision per request).
pub fn generate(seed: u64, count: u64, batch: u32) -> Workload {
    let batch = batch.max(1) as usize;
    let synth = Synth::new(SynthConfig {
        seed,
        count,
        ..SynthConfig::default()
    });
    let mut bodies = Vec::with_capacity(count.div_ceil(batch as u64) as usize);
    let mut lines: Vec<Vec<u8>> = Vec::with_capacity(batch);
    let flush = |lines: &mut Vec<Vec<u8>>, bodies: &mut Vec<Body>| {
        if lines.is_empty() {
            return;
        }
        let decisions = lines.len() as u32;
        let bytes = if batch == 1 {
            Bytes::from(lines.remove(0))
        } else {
            let len = lines.iter().map(|l| l.len() + 1).sum();
            let mut body = BytesMut::with_capacity(len);
            for line in lines.drain(..) {
                body.put_slice(&line);
                body.put_u8(b'\n');
            }
            body.freeze()
        };
        lines.clear();
        bodies.push(Body { bytes, decisions });
    };
    for decision in synth {
        // A `Value` always serialises.
        lines.push(serde_json::to_vec(&decision).unwrap_or_default());
        if lines.len() == batch {
            flush(&mut lines, &mut bodies);
        }
    }
    flush(&mut lines, &mut bodies);
    let decisions = bodies.iter().map(|b| u64::from(b.decisions)).sum();
    let bytes = bodies.iter().map(|b| b.bytes.len() as u64).sum();
    Workload {
        bodies,
        content_type: if batch == 1 {
            "application/json"
        } else {
            "application/x-ndjson"
        },
        decisions,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn batches_hold_batch_lines_and_the_last_the_rest() {
        let w = generate(3, 25, 10);
        assert_eq!(w.content_type, "application/x-ndjson");
        let counts: Vec<u32> = w.bodies.iter().map(|b| b.decisions).collect();
        assert_eq!(counts, [10, 10, 5]);
        assert_eq!(w.decisions, 25);
        let lines = w.bodies[2]
            .bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty());
        for line in lines {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap();
            assert!(v["stream"].is_string());
        }
    }

    #[test]
    fn single_decisions_are_bare_json() {
        let w = generate(3, 2, 1);
        assert_eq!(w.content_type, "application/json");
        assert_eq!(w.bodies.len(), 2);
        let v: serde_json::Value = serde_json::from_slice(&w.bodies[0].bytes).unwrap();
        assert!(v.is_object());
        assert_eq!(
            w.bytes,
            w.bodies.iter().map(|b| b.bytes.len() as u64).sum::<u64>()
        );
    }
}
