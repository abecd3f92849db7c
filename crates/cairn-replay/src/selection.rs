//! What was selected for a replay, as recorded in the ledger's `replay` entry, and
//! the deterministic sample.
//!
//! The index look-ups themselves belong to the caller (only the store knows its
//! indexes); this module holds what is pure: the criteria, how they are written
//! down, and which seqs a `--sample FRACTION --seed N` keeps.

use serde::Serialize;

/// The selection criteria of a run. Written into the replay entry as compact JSON,
/// together with the ledger size they were applied to, which makes the selection
/// reproducible: a ledger only grows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Selection {
    /// Only this stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Only this model name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Only this model version (with `model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Decisions at or after this time (RFC 3339), by event time or, without one, recorded time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Decisions before this time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only this subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Only this session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Only these request ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_ids: Vec<String>,
    /// Keep this fraction of the matching decisions (see [`sampled`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<f64>,
    /// The seed of the sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// At most this many decisions, the first in seq order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The ledger's size when the selection was made.
    pub ledger_size: u64,
    /// BLAKE3 of the selected seqs, each as 8 bytes big-endian, in ascending order.
    pub seqs_blake3: String,
}

impl Selection {
    /// Compact JSON with a fixed field order, as stored in the replay entry.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Whether `seq` is in the sample of `fraction` drawn with `seed`: the first eight
/// bytes of `BLAKE3(seed as u64 LE ‖ seq as u64 LE)`, read as a little-endian u64 and
/// divided by 2^64, is below `fraction`. The same seed always picks the same
/// decisions, whatever else is selected with them.
pub fn sampled(seed: u64, seq: u64, fraction: f64) -> bool {
    if fraction >= 1.0 {
        return true;
    }
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(&seq.to_le_bytes());
    let bytes = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    let unit = u64::from_le_bytes(first) as f64 / 18_446_744_073_709_551_616.0;
    unit < fraction
}

/// The digest recorded as [`Selection::seqs_blake3`].
pub fn seqs_digest(seqs: &[u64]) -> String {
    let mut h = blake3::Hasher::new();
    for s in seqs {
        h.update(&s.to_be_bytes());
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_deterministic_and_close_to_its_fraction() {
        let pick = |seed| {
            (0..20_000u64)
                .filter(|&s| sampled(seed, s, 0.1))
                .collect::<Vec<_>>()
        };
        let a = pick(7);
        assert_eq!(a, pick(7), "same seed, same sample");
        assert_ne!(a, pick(8), "another seed, another sample");
        assert!(
            (1_800..2_200).contains(&a.len()),
            "10% of 20000, got {}",
            a.len()
        );
        assert!((0..100).all(|s| sampled(1, s, 1.0)));
        assert!((0..100).all(|s| !sampled(1, s, 0.0)));
    }

    #[test]
    fn selection_json_is_compact_and_skips_unset_criteria() {
        let s = Selection {
            stream: Some("payments.fraud".into()),
            ledger_size: 10,
            seqs_blake3: seqs_digest(&[1, 2]),
            ..Selection::default()
        };
        let j = s.to_json();
        assert!(
            j.starts_with(r#"{"stream":"payments.fraud","ledger_size":10,"seqs_blake3":""#),
            "{j}"
        );
    }
}
