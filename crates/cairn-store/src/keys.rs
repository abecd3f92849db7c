//! Storage keys. Integers are big-endian so that key order is numeric order, and
//! order on disk is order in time.

use cairn_core::entry::PayloadSlot;

/// Key of an entry, and the seq suffix of index keys.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Parse an 8-byte big-endian seq.
pub fn parse_seq(key: &[u8]) -> Option<u64> {
    key.try_into().ok().map(u64::from_be_bytes)
}

/// Key of a payload: seq ‖ slot.
pub fn payload_key(seq: u64, slot: PayloadSlot) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&seq.to_be_bytes());
    k[8] = slot.as_byte();
    k
}

/// Key of a complete subtree hash: level ‖ index.
pub fn node_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Metadata keys.
pub mod meta {
    /// The ledger's origin (its identity in checkpoints).
    pub const ORIGIN: &[u8] = b"origin";
    /// The format version of the entries written.
    pub const FORMAT: &[u8] = b"format";
    /// Number of entries (u64 BE), written in every append batch.
    pub const SIZE: &[u8] = b"size";
    /// The storage layout (one byte, `2`; absent in version 1 ledgers).
    pub const LAYOUT: &[u8] = b"layout";
    /// The index watermark: entries below it are in the indexes (u64 BE).
    /// Indexes of format 3 (request, trace and session ids in hashed buckets).
    pub const INDEXED: &[u8] = b"indexed3";
    /// The watermark of format 1 indexes (a key per request and trace id),
    /// which a writer drops and rebuilds ([`crate::Ledger::upgrade_indexes`]).
    pub const INDEXED_V1: &[u8] = b"indexed";
    /// The watermark of format 2 indexes (sessions in posting lists), which
    /// a writer drops and rebuilds too.
    pub const INDEXED_V2: &[u8] = b"indexed2";
    /// Local retention: the entry and payload bundles of seqs below this
    /// (u64 BE, a multiple of 256) were dropped from the local store once
    /// archived, and are read from the archive named by [`ARCHIVE`].
    pub const DROPPED: &[u8] = b"dropped";
    /// The URL of the archive that holds the dropped windows (UTF-8).
    pub const ARCHIVE: &[u8] = b"archive";
    /// Prefix of stored compression dictionaries: `dict/` ‖ id (u32 BE).
    pub const DICT_PREFIX: &[u8] = b"dict/";
    /// The key of dictionary `id`.
    pub fn dict(id: u32) -> Vec<u8> {
        let mut k = DICT_PREFIX.to_vec();
        k.extend_from_slice(&id.to_be_bytes());
        k
    }
    /// Prefix of pending purges: `purge/` ‖ window start (u64 BE), empty
    /// value. Written with a redaction, deleted once the old copies of the
    /// window's payload bundle are gone from the engine's files.
    pub const PURGE_PREFIX: &[u8] = b"purge/";
    /// The pending-purge key of the window starting at `window`.
    pub fn purge(window: u64) -> Vec<u8> {
        let mut k = PURGE_PREFIX.to_vec();
        k.extend_from_slice(&window.to_be_bytes());
        k
    }
}

/// The secondary indexes. Each index key is `tag ‖ value ‖ 0x00 ‖ seq`; values
/// never contain 0x00 (input validation rejects control characters). Stream,
/// model, subject, session and time are now written as posting lists
/// ([`crate::postings`]); their per-decision keys here are what older ledgers
/// hold, and are still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// Event time (or, without one, recorded time), microseconds.
    Time,
    /// `request_id`.
    Request,
    /// `subject`.
    Subject,
    /// `trace_id`.
    Trace,
    /// `model.name` 0x00 `model.version`.
    Model,
    /// `stream`.
    Stream,
    /// `session`.
    Session,
}

impl IndexKind {
    fn tag(self) -> u8 {
        match self {
            IndexKind::Time => b't',
            IndexKind::Request => b'r',
            IndexKind::Subject => b's',
            IndexKind::Trace => b'x',
            IndexKind::Model => b'm',
            IndexKind::Stream => b'c',
            IndexKind::Session => b'e',
        }
    }

    /// The tag of this index's posting lists, for the indexes that have them
    /// (see [`crate::postings`]).
    pub fn posting_tag(self) -> Option<u8> {
        match self {
            IndexKind::Stream => Some(crate::postings::STREAM_TAG),
            IndexKind::Model => Some(crate::postings::MODEL_TAG),
            IndexKind::Subject => Some(crate::postings::SUBJECT_TAG),
            _ => None,
        }
    }

    /// The tag of this index's hashed id lists, for the indexes that have
    /// them (request, trace and session ids, see
    /// [`crate::postings::Builder::add_id`]).
    pub fn id_tag(self) -> Option<u8> {
        match self {
            IndexKind::Request => Some(crate::postings::REQUEST_TAG),
            IndexKind::Trace => Some(crate::postings::TRACE_TAG),
            IndexKind::Session => Some(crate::postings::SESSION_ID_TAG),
            _ => None,
        }
    }

    /// The prefix of all index keys for `value`.
    pub fn prefix(self, value: &str) -> Vec<u8> {
        crate::postings::value_prefix(self.tag(), value)
    }

    /// The index key of `seq` under `value`.
    pub fn key(self, value: &str, seq: u64) -> Vec<u8> {
        let mut k = self.prefix(value);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
}

/// Time index key: `t` ‖ time (i64 with the sign bit flipped, BE) ‖ seq.
pub fn time_key(time_us: i64, seq: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = b't';
    k[1..9].copy_from_slice(&ordered_i64(time_us));
    k[9..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// An i64 as 8 bytes whose byte order is numeric order (sign bit flipped, BE).
pub fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The i64 of [`ordered_i64`] bytes.
pub fn parse_ordered_i64(bytes: &[u8]) -> Option<i64> {
    parse_seq(bytes).map(|v| (v ^ (1 << 63)) as i64)
}

/// Idempotency key: `k` ‖ stream ‖ 0x00 ‖ key → seq (u64 BE) as the value.
pub fn idempotency_key(stream: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + key.len() + 2);
    k.push(b'k');
    k.extend_from_slice(stream.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

/// First byte of every redaction index key.
pub const REDACTION_TAG: u8 = b'd';

/// Redaction index: `d` ‖ target seq ‖ redaction seq.
pub fn redaction_key(target: u64, redaction: u64) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = REDACTION_TAG;
    k[1..9].copy_from_slice(&target.to_be_bytes());
    k[9..].copy_from_slice(&redaction.to_be_bytes());
    k
}

/// The target and redaction seqs of a redaction index key (`None` when it is
/// not 17 bytes).
pub fn parse_redaction_key(key: &[u8]) -> Option<(u64, u64)> {
    if key.len() != 17 {
        return None;
    }
    Some((parse_seq(&key[1..9])?, parse_seq(&key[9..17])?))
}

/// The smallest key greater than every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_numerically_across_the_epoch() {
        assert!(time_key(-5, 0) < time_key(3, 0));
        assert!(time_key(3, 9) < time_key(4, 0));
        assert!(time_key(i64::MIN, 0) < time_key(i64::MAX, 0));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), b"ac");
        assert_eq!(prefix_end(&[1, 0xff]), vec![2]);
        let p = IndexKind::Subject.prefix("x");
        assert!(IndexKind::Subject.key("x", u64::MAX) < prefix_end(&p));
        assert!(IndexKind::Subject.key("x", 0) >= p);
    }
}
