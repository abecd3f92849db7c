//! Posting lists: the indexes whose values many decisions share.
//!
//! A stream, a model version, a second of event time, and often a subject or
//! a session, is shared by several decisions of one append batch. Instead of one index key per decision (seven
//! random inserts into the index table for every decision, which measured as
//! a third of the daemon's CPU), each append batch writes one key per value it
//! touches, whose value lists the batch's seqs under it:
//!
//! - stream: `C` ‖ stream ‖ 0x00 ‖ first seq (u64 BE) → seq deltas;
//! - model: `M` ‖ name ‖ 0x00 ‖ version ‖ 0x00 ‖ first seq → seq deltas;
//! - subject: `S` ‖ subject ‖ 0x00 ‖ first seq → seq deltas;
//! - session: `E` ‖ session ‖ 0x00 ‖ first seq → seq deltas;
//! - time: `T` ‖ second (i64, sign bit flipped, BE) ‖ first seq → pairs of
//!   (seq delta, microseconds into that second).
//!
//! Deltas and offsets are unsigned LEB128 varints; the first delta is from the
//! key's first seq (so it is 0). Batches take disjoint, ascending seq ranges, so
//! the lists of one value, read in key order, are in seq order.
//!
//! Ledgers written before posting lists have one key per decision for these
//! indexes (`c`, `m`, `t`, `s`, `e`, see [`crate::keys`]); readers take both.

use std::collections::HashMap;

use crate::error::{Result, StoreError};

/// Microseconds in one time bucket.
pub const TIME_BUCKET_US: i64 = 1_000_000;

/// Tag of stream posting lists.
pub const STREAM_TAG: u8 = b'C';
/// Tag of model posting lists.
pub const MODEL_TAG: u8 = b'M';
/// Tag of subject posting lists.
pub const SUBJECT_TAG: u8 = b'S';
/// Tag of session posting lists (index format 2; format 3 puts sessions in
/// hashed buckets, [`SESSION_ID_TAG`]).
pub const SESSION_TAG: u8 = b'E';
/// Tag of time posting lists.
pub const TIME_TAG: u8 = b'T';

/// Tag of request id lists (hashed buckets).
pub const REQUEST_TAG: u8 = b'R';
/// Tag of trace id lists (hashed buckets).
pub const TRACE_TAG: u8 = b'X';
/// Tag of session lists (hashed buckets): most sessions hold a decision or
/// two, so a list per session per pass was nearly a key per decision.
pub const SESSION_ID_TAG: u8 = b'N';

/// The bucket and fingerprint of an id: the first byte of its BLAKE3 hash,
/// and the next four as a u32 (big-endian).
pub fn id_hash(value: &str) -> (u8, u32) {
    let h = blake3::hash(value.as_bytes());
    let b = h.as_bytes();
    (b[0], u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
}

/// The key prefix of an id's bucket: `tag ‖ bucket`.
pub fn id_prefix(tag: u8, value: &str) -> [u8; 2] {
    [tag, id_hash(value).0]
}

/// The bucket (second) of a time and its offset into it.
pub fn time_bucket(time_us: i64) -> (i64, u64) {
    // rem_euclid of a positive divisor is in [0, divisor): never negative.
    (
        time_us.div_euclid(TIME_BUCKET_US),
        time_us.rem_euclid(TIME_BUCKET_US).unsigned_abs(),
    )
}

/// The time of `offset` into `bucket`, if it is one.
fn bucket_time(bucket: i64, offset: u64) -> Option<i64> {
    if offset >= TIME_BUCKET_US.unsigned_abs() {
        return None;
    }
    // The first bucket starts before i64::MIN; its times that exist are valid.
    let t = i128::from(bucket) * i128::from(TIME_BUCKET_US) + i128::from(offset);
    i64::try_from(t).ok()
}

/// The key prefix of time bucket `bucket`: `T` ‖ bucket (sign flipped, BE).
pub fn time_prefix(bucket: i64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = TIME_TAG;
    k[1..].copy_from_slice(&crate::keys::ordered_i64(bucket));
    k
}

/// The key prefix of a value's lists: `tag` ‖ value ‖ 0x00.
pub fn value_prefix(tag: u8, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 10);
    put_value_prefix(&mut k, tag, &[value]);
    k
}

/// Append the key prefix of the value made of `parts` joined by 0x00:
/// `tag` ‖ value ‖ 0x00.
fn put_value_prefix(out: &mut Vec<u8>, tag: u8, parts: &[&str]) {
    out.push(tag);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(part.as_bytes());
    }
    out.push(0);
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one varint from the front of `bytes`, advancing it.
fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        let part = u64::from(b & 0x7f);
        if shift == 63 && part > 1 {
            return None;
        }
        v |= part << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// One list being built.
#[derive(Debug)]
struct List {
    first: u64,
    last: u64,
    bytes: Vec<u8>,
}

/// The posting lists of one append batch, keyed by prefix.
#[derive(Debug, Default)]
pub struct Builder {
    lists: HashMap<Vec<u8>, List>,
    /// The prefix being looked up (no allocation for a value already seen).
    scratch: Vec<u8>,
}

impl Builder {
    /// Add `seq` (ascending within a batch) to the list of `self.scratch`,
    /// followed by `extra` when there is one.
    fn push(&mut self, seq: u64, extra: Option<u64>) {
        let list = match self.lists.get_mut(&self.scratch) {
            Some(list) => list,
            None => self
                .lists
                .entry(self.scratch.clone())
                .or_insert_with(|| List {
                    first: seq,
                    last: seq,
                    bytes: Vec::with_capacity(16),
                }),
        };
        put_varint(&mut list.bytes, seq.saturating_sub(list.last));
        list.last = seq;
        if let Some(extra) = extra {
            put_varint(&mut list.bytes, extra);
        }
    }

    /// Add `seq` under the value made of `parts` joined by 0x00, in the lists
    /// tagged `tag` (the key prefix is [`value_prefix`] of the joined value).
    pub fn add(&mut self, tag: u8, parts: &[&str], seq: u64) {
        self.scratch.clear();
        put_value_prefix(&mut self.scratch, tag, parts);
        self.push(seq, None);
    }

    /// Add `seq` under id `value` in the hashed lists tagged `tag`: the
    /// list of the id's bucket, with the id's fingerprint after the seq.
    pub fn add_id(&mut self, tag: u8, value: &str, seq: u64) {
        let (bucket, fingerprint) = id_hash(value);
        self.scratch.clear();
        self.scratch.extend_from_slice(&[tag, bucket]);
        self.push(seq, Some(u64::from(fingerprint)));
    }

    /// Add `seq` at `time_us`.
    pub fn add_time(&mut self, time_us: i64, seq: u64) {
        let (bucket, offset) = time_bucket(time_us);
        self.scratch.clear();
        self.scratch.extend_from_slice(&time_prefix(bucket));
        self.push(seq, Some(offset));
    }

    /// The keys and values to write, one per list.
    pub fn finish(self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        self.lists.into_iter().map(|(mut key, list)| {
            key.extend_from_slice(&list.first.to_be_bytes());
            (key, list.bytes)
        })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::corrupt("index posting list", what)
}

/// The first seq of a list's key (its last eight bytes).
fn first_seq(key: &[u8], prefix_len: usize) -> Result<u64> {
    key.len()
        .checked_sub(8)
        .filter(|&t| t >= prefix_len)
        .and_then(|t| crate::keys::parse_seq(&key[t..]))
        .ok_or_else(|| corrupt("key too short"))
}

/// Append the seqs of one value's list (`key`, `value`) to `out`.
pub fn decode_seqs(key: &[u8], prefix_len: usize, value: &[u8], out: &mut Vec<u64>) -> Result<()> {
    let mut seq = first_seq(key, prefix_len)?;
    let mut rest = value;
    while !rest.is_empty() {
        let delta = take_varint(&mut rest).ok_or_else(|| corrupt("bad seq delta"))?;
        seq = seq
            .checked_add(delta)
            .ok_or_else(|| corrupt("seq overflow"))?;
        out.push(seq);
    }
    Ok(())
}

/// Append the (seq, fingerprint) pairs of one id list to `out`.
pub fn decode_ids(key: &[u8], value: &[u8], out: &mut Vec<(u64, u32)>) -> Result<()> {
    let mut seq = first_seq(key, 2)?;
    let mut rest = value;
    while !rest.is_empty() {
        let delta = take_varint(&mut rest).ok_or_else(|| corrupt("bad seq delta"))?;
        let fingerprint = take_varint(&mut rest)
            .and_then(|f| u32::try_from(f).ok())
            .ok_or_else(|| corrupt("bad id fingerprint"))?;
        seq = seq
            .checked_add(delta)
            .ok_or_else(|| corrupt("seq overflow"))?;
        out.push((seq, fingerprint));
    }
    Ok(())
}

/// Append the (time, seq) pairs of one time list to `out`.
pub fn decode_times(key: &[u8], value: &[u8], out: &mut Vec<(i64, u64)>) -> Result<()> {
    let bucket = key
        .get(1..9)
        .and_then(crate::keys::parse_ordered_i64)
        .ok_or_else(|| corrupt("time key too short"))?;
    let mut seq = first_seq(key, 9)?;
    let mut rest = value;
    while !rest.is_empty() {
        let delta = take_varint(&mut rest).ok_or_else(|| corrupt("bad seq delta"))?;
        let offset = take_varint(&mut rest).ok_or_else(|| corrupt("bad time offset"))?;
        seq = seq
            .checked_add(delta)
            .ok_or_else(|| corrupt("seq overflow"))?;
        let time = bucket_time(bucket, offset).ok_or_else(|| corrupt("time offset"))?;
        out.push((time, seq));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut s = &b[..];
            assert_eq!(take_varint(&mut s), Some(v));
            assert!(s.is_empty());
        }
        // Eleven continuation bytes, or a tenth byte over 1, is not a u64.
        assert_eq!(take_varint(&mut &[0xff; 11][..]), None);
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(take_varint(&mut &too_big[..]), None);
        assert_eq!(take_varint(&mut &[0x80][..]), None, "cut short");
    }

    #[test]
    fn time_buckets_cover_negative_times_and_sort_numerically() {
        assert_eq!(time_bucket(-1), (-1, 999_999));
        assert_eq!(time_bucket(1_500_000), (1, 500_000));
        assert_eq!(bucket_time(-1, 999_999), Some(-1));
        let (b, o) = time_bucket(i64::MIN);
        assert_eq!(bucket_time(b, o), Some(i64::MIN));
        let (b, o) = time_bucket(i64::MAX);
        assert_eq!(bucket_time(b, o), Some(i64::MAX));
        assert!(time_prefix(-1) < time_prefix(0));
        assert!(time_prefix(i64::MIN) < time_prefix(i64::MAX));
    }

    #[test]
    fn a_batch_writes_one_list_per_value_and_reads_back() {
        let mut b = Builder::default();
        let s = value_prefix(STREAM_TAG, "fraud");
        for seq in [10, 11, 15, 400] {
            b.add(STREAM_TAG, &["fraud"], seq);
        }
        b.add(STREAM_TAG, &["chat"], 12);
        b.add(MODEL_TAG, &["m", "v1"], 12);
        b.add_time(-3, 10);
        b.add_time(-2, 11);
        b.add_time(5_000_000, 12);
        let mut lists: Vec<_> = b.finish().collect();
        lists.sort();
        assert_eq!(lists.len(), 5, "two streams, a model, two seconds");
        let m = value_prefix(MODEL_TAG, "m\u{0}v1");
        assert!(lists
            .iter()
            .any(|(k, v)| k[..m.len()] == m[..] && v == &[0]));
        let mut seqs = Vec::new();
        let (k, v) = lists.iter().find(|(k, _)| k.starts_with(&s)).unwrap();
        decode_seqs(k, s.len(), v, &mut seqs).unwrap();
        assert_eq!(seqs, [10, 11, 15, 400]);
        let mut times = Vec::new();
        for (k, v) in lists.iter().filter(|(k, _)| k[0] == TIME_TAG) {
            decode_times(k, v, &mut times).unwrap();
        }
        assert_eq!(times, [(-3, 10), (-2, 11), (5_000_000, 12)]);
    }

    #[test]
    fn damaged_lists_are_errors_not_panics() {
        let key = [&value_prefix(STREAM_TAG, "a")[..], &7u64.to_be_bytes()].concat();
        let mut out = Vec::new();
        assert!(decode_seqs(&key, 3, &[0x80], &mut out).is_err());
        assert!(decode_seqs(&key[..5], 3, &[0], &mut out).is_err());
        assert!(decode_seqs(
            &key,
            3,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            &mut out
        )
        .is_err());
        let tkey = [&time_prefix(0)[..], &7u64.to_be_bytes()].concat();
        let mut times = Vec::new();
        assert!(decode_times(&tkey, &[0], &mut times).is_err(), "no offset");
        assert!(
            decode_times(&tkey, &[0, 0xc0, 0x84, 0x3d], &mut times).is_err(),
            "offset of a whole second"
        );
        assert!(decode_times(&tkey[..4], &[0, 0], &mut times).is_err());
    }
}
