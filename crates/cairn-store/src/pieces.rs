//! Entry and payload bundles (storage v2, `schemas/storage-v2.md`).
//!
//! Consecutive entries are stored together, in *windows* of [`BUNDLE_ENTRIES`]
//! seqs aligned on a multiple of it (window `w` holds seqs `[256w, 256w + 256)`).
//! A window is held by one or more *pieces*, each keyed by its first seq: a
//! group commit that does not fill a window writes a *fragment* with just its
//! own entries; the commit that completes a window writes the whole window as
//! one *sealed* piece under the window's first seq and deletes the window's other
//! fragments, in the same write batch. So a ledger fed one decision at a time
//! still ends up with one value per 256 entries, and every entry is compressed at
//! most twice.
//!
//! Entries and payloads are kept in separate pieces with the same keys and
//! bounds, so that erasing a payload rewrites only its payload piece. This
//! module is the pure part: the records of a piece and their raw encoding.

use crate::error::{Result, StoreError};

/// Seqs per window (and so at most per piece).
pub const BUNDLE_ENTRIES: u64 = 256;

/// A window whose entries and payloads together would exceed this many raw
/// bytes is left as fragments instead of being sealed into one value, and no
/// piece of more than one record holds more.
pub const SEAL_BYTES_MAX: usize = 32 << 20;

/// The most payload bytes (input and output together) one decision may
/// carry, so that a piece of one record stays far below the largest value a
/// reader accepts (`codec::VALUE_BYTES_MAX`).
pub const DECISION_PAYLOAD_BYTES_MAX: u64 = 64 << 20;

/// What a payload slot of a record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// No payload: the entry is not a decision.
    None,
    /// `salt ‖ canonical payload JSON`, whose BLAKE3 hash is the commitment.
    Stored(Vec<u8>),
    /// Erased by the redaction entry at this seq.
    Erased(u64),
}

/// One entry of a piece: its canonical bytes and its two payload slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The entry's canonical bytes (`entry-v1.md`).
    pub entry: Vec<u8>,
    /// Input and output payloads.
    pub payloads: [Slot; 2],
}

impl Record {
    /// Raw bytes this record adds to its two pieces.
    pub fn raw_len(&self) -> usize {
        4 + self.entry.len() + slots_len(&self.payloads)
    }
}

/// Raw bytes two slots take in a payload piece (form 1).
fn slots_len(slots: &[Slot; 2]) -> usize {
    slots
        .iter()
        .map(|s| match s {
            Slot::None => 1,
            Slot::Stored(b) => 5 + b.len(),
            Slot::Erased(_) => 9,
        })
        .sum()
}

/// The window (its first seq) that `seq` belongs to.
pub fn window_start(seq: u64) -> u64 {
    seq - seq % BUNDLE_ENTRIES
}

const SLOT_NONE: u8 = 0;
const SLOT_STORED: u8 = 1;
const SLOT_ERASED: u8 = 2;
const SLOT_DERIVED: u8 = 3;

/// The secret from which a window's payload salts are derived (form 2 of
/// the payload piece, `schemas/storage-v2.md`).
pub type WindowKey = [u8; 32];

/// The salt of the payload in `slot` (0 input, 1 output) of the entry at
/// `seq`, derived from its window's key: BLAKE3 keyed with the window key,
/// over `seq (u64 LE) ‖ slot (u8)`.
pub fn derive_salt(key: &WindowKey, seq: u64, slot: u8) -> [u8; 32] {
    let mut msg = [0u8; 9];
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    msg[8] = slot;
    *blake3::keyed_hash(key, &msg).as_bytes()
}

/// A new window key, from the operating system's randomness.
pub fn new_window_key() -> Result<WindowKey> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StoreError::Backend {
        op: "draw a window key",
        kind: crate::error::EngineErrorKind::Other,
        reason: format!("no randomness: {e}"),
    })?;
    Ok(key)
}

/// Set in the count word of a payload piece that carries a window key
/// (form 2).
const KEYED: u32 = 1 << 31;

/// Bytes of an entry before its `prev_hash`: the version byte and the seq.
pub const CHAIN_AT: usize = 9;
/// Bytes of an entry up to the end of its `prev_hash`.
pub const CHAIN_END: usize = CHAIN_AT + 32;
/// Set in the count word of an entry piece whose entries are stored without
/// their `prev_hash` (form 2, see `schemas/storage-v2.md`).
const CHAIN_ELIDED: u32 = 1 << 31;

/// The raw entry piece, form 2: count with [`CHAIN_ELIDED`] set (u32 LE), then
/// per entry its stored length (u32 LE) and canonical bytes without the 32
/// bytes of `prev_hash`, which is the leaf hash of the entry before and so is
/// already in the level-0 tile. Falls back to form 1 (every byte stored) if an
/// entry is too short to hold a `prev_hash`.
pub fn encode_entries<'a>(
    entries: impl Iterator<Item = &'a [u8]> + Clone,
    count: usize,
) -> Vec<u8> {
    let elide = entries.clone().all(|e| e.len() >= CHAIN_END);
    let mut out = Vec::with_capacity(4 + entries.clone().map(|e| 4 + e.len()).sum::<usize>());
    let word = count as u32 | if elide { CHAIN_ELIDED } else { 0 };
    out.extend_from_slice(&word.to_le_bytes());
    for e in entries {
        if elide {
            let len = e.len() - 32;
            out.extend_from_slice(&(len as u32).to_le_bytes());
            out.extend_from_slice(&e[..CHAIN_AT]);
            out.extend_from_slice(&e[CHAIN_END..]);
        } else {
            out.extend_from_slice(&(e.len() as u32).to_le_bytes());
            out.extend_from_slice(e);
        }
    }
    out
}

/// The raw payload piece of the records at seqs `first…`. Form 1 (`key`
/// `None`): count (u32 LE), then per entry its input and output slots, each
/// a tag byte: 0 none; 1 stored, then length (u32 LE) and `salt ‖ payload`;
/// 2 erased, then the redaction's seq (u64 LE). Form 2 (a window key given):
/// count with [`KEYED`] set, the key, then the slots, where tag 3 is a
/// payload whose salt is [`derive_salt`]'s, followed by its length (u32 LE)
/// and the payload alone (a stored salt that is not the derived one keeps
/// tag 1).
pub fn encode_payloads<'a>(
    records: impl Iterator<Item = &'a [Slot; 2]> + Clone,
    count: usize,
    first: u64,
    key: Option<&WindowKey>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(36 + records.clone().map(slots_len).sum::<usize>());
    let Some(key) = key else {
        out.extend_from_slice(&(count as u32).to_le_bytes());
        for slots in records {
            for slot in slots {
                encode_slot(&mut out, slot);
            }
        }
        return out;
    };
    out.extend_from_slice(&(count as u32 | KEYED).to_le_bytes());
    out.extend_from_slice(key);
    for (seq, slots) in (first..).zip(records) {
        for (side, slot) in (0u8..).zip(slots) {
            match slot {
                Slot::Stored(b) if b.len() >= 32 && b[..32] == derive_salt(key, seq, side) => {
                    out.push(SLOT_DERIVED);
                    out.extend_from_slice(&((b.len() - 32) as u32).to_le_bytes());
                    out.extend_from_slice(&b[32..]);
                }
                other => encode_slot(&mut out, other),
            }
        }
    }
    out
}

fn encode_slot(out: &mut Vec<u8>, slot: &Slot) {
    match slot {
        Slot::None => out.push(SLOT_NONE),
        Slot::Stored(b) => {
            out.push(SLOT_STORED);
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        Slot::Erased(by) => {
            out.push(SLOT_ERASED);
            out.extend_from_slice(&by.to_le_bytes());
        }
    }
}

/// Reads a raw piece front to back.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'a dyn Fn() -> String,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(StoreError::corrupt((self.what)(), "ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn done(&self) -> Result<()> {
        if !self.bytes.is_empty() {
            return Err(StoreError::corrupt((self.what)(), "has trailing bytes"));
        }
        Ok(())
    }
}

/// The number of entries of a raw entry piece, read from its first word.
pub fn entry_count(raw: &[u8], what: &dyn Fn() -> String) -> Result<usize> {
    let mut r = Reader { bytes: raw, what };
    let word = r.u32()?;
    count_of(word & !CHAIN_ELIDED, what)
}

/// The entries of a raw entry piece, as canonical bytes. A form-2 piece stores
/// no `prev_hash`: `chain(n)` gives the `n` hashes to put back, the leaf hashes
/// of the seqs `first − 1 … first + n − 2` (zeros before seq 0).
pub fn decode_entries(
    raw: &[u8],
    what: &dyn Fn() -> String,
    chain: &mut dyn FnMut(usize) -> Result<Vec<[u8; 32]>>,
) -> Result<Vec<Vec<u8>>> {
    let mut r = Reader { bytes: raw, what };
    let word = r.u32()?;
    let n = count_of(word & !CHAIN_ELIDED, what)?;
    let prevs = if word & CHAIN_ELIDED != 0 {
        let prevs = chain(n)?;
        if prevs.len() != n {
            return Err(StoreError::corrupt(what(), "chain hashes missing"));
        }
        Some(prevs)
    } else {
        None
    };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let len = r.u32()? as usize;
        let stored = r.take(len)?;
        match &prevs {
            None => out.push(stored.to_vec()),
            Some(prevs) => {
                if stored.len() < CHAIN_AT {
                    return Err(StoreError::corrupt(what(), "entry too short"));
                }
                let mut e = Vec::with_capacity(len + 32);
                e.extend_from_slice(&stored[..CHAIN_AT]);
                e.extend_from_slice(&prevs[i]);
                e.extend_from_slice(&stored[CHAIN_AT..]);
                out.push(e);
            }
        }
    }
    r.done()?;
    Ok(out)
}

fn count_of(n: u32, what: &dyn Fn() -> String) -> Result<usize> {
    if u64::from(n) > BUNDLE_ENTRIES || n == 0 {
        return Err(StoreError::corrupt(what(), format!("holds {n} entries")));
    }
    Ok(n as usize)
}

/// The slots of a raw payload piece whose first seq is `first`, two per
/// entry, every salt in place (derived ones put back), and the piece's window
/// key if it has one (form 2).
pub fn decode_payloads(
    raw: &[u8],
    first: u64,
    what: &dyn Fn() -> String,
) -> Result<(Option<WindowKey>, Vec<[Slot; 2]>)> {
    let mut r = Reader { bytes: raw, what };
    let word = r.u32()?;
    let n = count_of(word & !KEYED, what)?;
    let key = if word & KEYED != 0 {
        let mut k = [0u8; 32];
        k.copy_from_slice(r.take(32)?);
        Some(k)
    } else {
        None
    };
    let mut out = Vec::with_capacity(n);
    for seq in (first..).take(n) {
        out.push([
            decode_slot(&mut r, key.as_ref(), seq, 0)?,
            decode_slot(&mut r, key.as_ref(), seq, 1)?,
        ]);
    }
    r.done()?;
    Ok((key, out))
}

fn decode_slot(r: &mut Reader<'_>, key: Option<&WindowKey>, seq: u64, side: u8) -> Result<Slot> {
    match r.take(1)?[0] {
        SLOT_NONE => Ok(Slot::None),
        SLOT_STORED => {
            let len = r.u32()? as usize;
            Ok(Slot::Stored(r.take(len)?.to_vec()))
        }
        SLOT_ERASED => {
            let b = r.take(8)?;
            let mut s = [0u8; 8];
            s.copy_from_slice(b);
            Ok(Slot::Erased(u64::from_le_bytes(s)))
        }
        SLOT_DERIVED => {
            let key = key.ok_or_else(|| {
                StoreError::corrupt((r.what)(), "a derived salt in a piece without a window key")
            })?;
            let len = r.u32()? as usize;
            let payload = r.take(len)?;
            let mut b = Vec::with_capacity(32 + len);
            b.extend_from_slice(&derive_salt(key, seq, side));
            b.extend_from_slice(payload);
            Ok(Slot::Stored(b))
        }
        other => Err(StoreError::corrupt((r.what)(), format!("slot tag {other}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        vec![
            Record {
                entry: b"first".to_vec(),
                payloads: [Slot::Stored(vec![7; 40]), Slot::Erased(9)],
            },
            Record {
                entry: b"second entry".to_vec(),
                payloads: [Slot::None, Slot::None],
            },
        ]
    }

    fn no_chain(_: usize) -> Result<Vec<[u8; 32]>> {
        panic!("a form-1 piece asks for no chain hashes")
    }

    /// Entries long enough to have a `prev_hash` (bytes 9..41) to elide.
    fn chained() -> (Vec<Record>, Vec<[u8; 32]>) {
        let prevs = vec![[0xAA; 32], [0xBB; 32]];
        let records = prevs
            .iter()
            .enumerate()
            .map(|(i, prev)| {
                let mut entry = vec![1u8; CHAIN_AT];
                entry.extend_from_slice(prev);
                entry.extend_from_slice(format!("body of entry {i}").as_bytes());
                Record {
                    entry,
                    payloads: [Slot::None, Slot::None],
                }
            })
            .collect();
        (records, prevs)
    }

    const KEY: WindowKey = {
        let mut k = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            k[i] = i as u8;
            i += 1;
        }
        k
    };

    /// Records at seqs `first…`: a derived input salt, a chosen output salt,
    /// and one entry with no payloads.
    fn keyed_records(first: u64) -> Vec<Record> {
        let stored = |salt: [u8; 32], body: &[u8]| {
            let mut b = salt.to_vec();
            b.extend_from_slice(body);
            Slot::Stored(b)
        };
        vec![
            Record {
                entry: b"a".to_vec(),
                payloads: [
                    stored(derive_salt(&KEY, first, 0), b"{\"in\":1}"),
                    stored([5; 32], b"{\"out\":1}"),
                ],
            },
            Record {
                entry: b"b".to_vec(),
                payloads: [Slot::None, Slot::None],
            },
            Record {
                entry: b"c".to_vec(),
                payloads: [
                    stored(derive_salt(&KEY, first + 2, 0), b"2"),
                    stored(derive_salt(&KEY, first + 2, 1), b"3"),
                ],
            },
        ]
    }

    #[test]
    fn derived_salts_match_independent_vectors() {
        // BLAKE3 keyed with bytes 0..32, over seq (u64 LE) ‖ slot, as computed
        // by the reference implementation's Python binding.
        let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(derive_salt(&KEY, 0, 0)),
            "c00cb58d0b0d562c834c5be83464648e41da88c83d48736de8ab6419f42e70f5"
        );
        assert_eq!(
            hex(derive_salt(&KEY, 257, 1)),
            "11bbde039a00bc5d9b52b4cc7aaa73ac6350120072f181c985419f46d30e76d7"
        );
        assert_eq!(
            hex(derive_salt(&KEY, (1 << 40) + 3, 0)),
            "692595e297e5c2f700467b7665b60fff83f59bac4944fbd1d4d29d334f10201d"
        );
    }

    #[test]
    fn keyed_pieces_store_derived_salts_as_nothing_and_put_them_back() {
        let what = || "piece".to_string();
        let rs = keyed_records(300);
        let plain = encode_payloads(rs.iter().map(|r| &r.payloads), rs.len(), 300, None);
        let keyed = encode_payloads(rs.iter().map(|r| &r.payloads), rs.len(), 300, Some(&KEY));
        // Three derived salts are not stored; the key is, once.
        assert_eq!(keyed.len(), plain.len() + 32 - 3 * 32);
        let Slot::Stored(derived) = &rs[0].payloads[0] else {
            unreachable!()
        };
        assert!(!keyed.windows(32).any(|w| w == &derived[..32]));
        assert_eq!(&keyed[4..36], &KEY);
        let (key, slots) = decode_payloads(&keyed, 300, &what).unwrap();
        assert_eq!(key, Some(KEY));
        let want: Vec<[Slot; 2]> = rs.iter().map(|r| r.payloads.clone()).collect();
        assert_eq!(slots, want);
        // Read as if at other seqs, the salts come out different: they are
        // bound to their seq, and the commitments would not match.
        let (_, moved) = decode_payloads(&keyed, 301, &what).unwrap();
        assert_ne!(moved[0], want[0]);
        assert_eq!(moved[0][1], want[0][1], "a chosen salt is stored as it is");
    }

    #[test]
    fn pieces_round_trip() {
        let rs = records();
        let what = || "piece".to_string();
        let e = encode_entries(rs.iter().map(|r| r.entry.as_slice()), rs.len());
        let p = encode_payloads(rs.iter().map(|r| &r.payloads), rs.len(), 0, None);
        let entries = decode_entries(&e, &what, &mut no_chain).unwrap();
        let (key, slots) = decode_payloads(&p, 0, &what).unwrap();
        assert_eq!(key, None);
        assert_eq!(entries, vec![b"first".to_vec(), b"second entry".to_vec()]);
        assert_eq!(slots[0], rs[0].payloads);
        assert_eq!(slots[1], rs[1].payloads);
        let total: usize = rs.iter().map(Record::raw_len).sum();
        assert_eq!(total + 8, e.len() + p.len());
    }

    #[test]
    fn chain_hashes_are_not_stored_and_come_back_from_the_leaves() {
        let (rs, prevs) = chained();
        let what = || "piece".to_string();
        let e = encode_entries(rs.iter().map(|r| r.entry.as_slice()), rs.len());
        assert_eq!(
            e.len(),
            4 + rs.iter().map(|r| 4 + r.entry.len() - 32).sum::<usize>()
        );
        assert!(!e.windows(32).any(|w| w == prevs[0] || w == prevs[1]));
        assert_eq!(entry_count(&e, &what).unwrap(), 2);
        let mut asked = None;
        let back = decode_entries(&e, &what, &mut |n| {
            asked = Some(n);
            Ok(prevs.clone())
        })
        .unwrap();
        assert_eq!(asked, Some(2));
        assert_eq!(back, rs.iter().map(|r| r.entry.clone()).collect::<Vec<_>>());
        // Too few chain hashes is damage, not a panic.
        assert!(decode_entries(&e, &what, &mut |_| Ok(vec![[0; 32]])).is_err());
    }

    #[test]
    fn damaged_pieces_are_errors_not_panics() {
        let rs = records();
        let what = || "piece".to_string();
        let (chained, prevs) = chained();
        let e = encode_entries(rs.iter().map(|r| r.entry.as_slice()), rs.len());
        let c = encode_entries(chained.iter().map(|r| r.entry.as_slice()), chained.len());
        let p = encode_payloads(rs.iter().map(|r| &r.payloads), rs.len(), 0, None);
        let k = keyed_records(40);
        let pk = encode_payloads(k.iter().map(|r| &r.payloads), k.len(), 40, Some(&KEY));
        for cut in 0..pk.len() {
            assert!(decode_payloads(&pk[..cut], 40, &what).is_err());
        }
        // A derived payload in a piece that has no key to derive it from.
        let mut keyless = pk.clone();
        keyless[3] &= 0x7f;
        assert!(decode_payloads(&keyless, 40, &what).is_err());
        for cut in 0..e.len() {
            assert!(decode_entries(&e[..cut], &what, &mut no_chain).is_err());
        }
        for cut in 0..c.len() {
            assert!(decode_entries(&c[..cut], &what, &mut |n| Ok(prevs[..n].to_vec())).is_err());
        }
        for cut in 0..p.len() {
            assert!(decode_payloads(&p[..cut], 0, &what).is_err());
        }
        let mut long = e.clone();
        long.push(0);
        assert!(decode_entries(&long, &what, &mut no_chain).is_err());
        let mut bad = p.clone();
        bad[4] = 7;
        assert!(decode_payloads(&bad, 0, &what).is_err());
        assert!(
            decode_entries(&[0, 0, 0, 0], &what, &mut no_chain).is_err(),
            "an empty piece"
        );
        assert!(
            decode_entries(&[0, 0, 0, 0x80], &what, &mut no_chain).is_err(),
            "an empty form-2 piece"
        );
    }

    #[test]
    fn windows_are_aligned() {
        assert_eq!(window_start(0), 0);
        assert_eq!(window_start(255), 0);
        assert_eq!(window_start(256), 256);
        assert_eq!(window_start(1000), 768);
    }
}
