//! Archiving: extend the archive in a bucket to the ledger's newest
//! checkpoint, in the order of `schemas/archive-v1.md` (data, tiles,
//! checkpoints, then the `checkpoint` watermark, then deletes of superseded
//! partial objects), so that the bucket is consistent at every step and a run
//! stopped anywhere is resumed by the next one.

use std::collections::BTreeSet;

use cairn_core::checkpoint::Checkpoint;
use cairn_core::entry::{Entry, EntryBody};
use cairn_store::backend::{Backend, Cf};
use cairn_store::codec::Codec;
use cairn_store::keys;
use cairn_store::pieces::{self, Record, Slot, BUNDLE_ENTRIES};
use cairn_store::tiles::{tile_key, TILE_WIDTH};
use cairn_store::{Ledger, StoreError};

use crate::bucket::Bucket;
use crate::error::{ArchiveError, Result};
use crate::layout;

/// Windows uploaded per round of parallel puts.
const WINDOWS_PER_ROUND: u64 = 16;

/// zstd level of the bundles the archiver has to re-encode (a window stored
/// as fragments, the right edge).
const LEVEL: i32 = cairn_store::ledger::BUNDLE_LEVEL;

/// What one archiving run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveReport {
    /// The archive's size before the run.
    pub from: u64,
    /// The archive's size after it: every entry below it is in the bucket.
    pub through: u64,
    /// Entries of the ledger after its newest checkpoint, which wait for the
    /// next one.
    pub pending: u64,
    /// Objects written.
    pub objects: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Archived payload bundles rewritten because a redaction erased a payload.
    pub rewritten: u64,
    /// Superseded partial objects deleted.
    pub deleted: u64,
}

/// Progress of a run: (entries archived in this run, entries to archive).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// The origin and size named by a checkpoint note, without checking its
/// signature (the reader of an archive checks signatures).
pub fn note_checkpoint(what: &str, note: &[u8]) -> Result<Checkpoint> {
    let damaged = |reason: String| ArchiveError::Damaged {
        name: what.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(note).map_err(|_| damaged("is not UTF-8".into()))?;
    let body = match text.find("\n\n") {
        Some(at) => &text[..at + 1],
        None => return Err(damaged("is not a signed note".into())),
    };
    Checkpoint::parse_body(body).map_err(|source| ArchiveError::Checkpoint {
        what: what.to_owned(),
        source,
    })
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// The archive's current size, after checking that it archives this ledger.
pub fn archived_size<B: Backend>(ledger: &Ledger<B>, bucket: &Bucket) -> Result<u64> {
    let Some(note) = bucket.get(layout::CHECKPOINT)? else {
        return Ok(0);
    };
    let cp = note_checkpoint(layout::CHECKPOINT, &note)?;
    if cp.origin != ledger.origin() {
        return Err(ArchiveError::OtherLedger {
            archived: cp.origin,
            origin: ledger.origin().to_owned(),
        });
    }
    if cp.size > ledger.size() {
        return Err(ArchiveError::Diverged {
            size: cp.size,
            archived: hex(&cp.root),
            local: format!("none (the ledger has {} entries)", ledger.size()),
        });
    }
    let local = ledger.root_at(cp.size)?;
    if local != cp.root {
        return Err(ArchiveError::Diverged {
            size: cp.size,
            archived: hex(&cp.root),
            local: hex(&local),
        });
    }
    Ok(cp.size)
}

/// Extend the archive in `bucket` to the ledger's newest checkpoint.
pub fn archive<B: Backend>(
    ledger: &Ledger<B>,
    bucket: &Bucket,
    progress: Progress<'_>,
) -> Result<ArchiveReport> {
    let from = archived_size(ledger, bucket)?;
    let mut report = ArchiveReport {
        from,
        through: from,
        pending: ledger.size().saturating_sub(from),
        ..ArchiveReport::default()
    };
    let Some((to, note)) = ledger.latest_checkpoint()? else {
        return Ok(report);
    };
    if to <= from {
        report.pending = ledger.size() - from;
        return Ok(report);
    }
    let mut run = Run {
        ledger,
        bucket,
        report: &mut report,
    };
    // 1. Payload bundles that redactions rewrote, then the new windows.
    let erased = run.erased_windows(from, to)?;
    for n in erased {
        let (_, payloads) = run.window(n, BUNDLE_ENTRIES, false)?;
        run.put(vec![(layout::payloads(n, BUNDLE_ENTRIES), payloads)])?;
        run.report.rewritten += 1;
    }
    let mut n = from / BUNDLE_ENTRIES;
    let last = to.div_ceil(BUNDLE_ENTRIES);
    while n < last {
        let end = (n + WINDOWS_PER_ROUND).min(last);
        let mut objects = Vec::new();
        for w in n..end {
            let width = (to - w * BUNDLE_ENTRIES).min(BUNDLE_ENTRIES);
            let (entries, payloads) = run.window(w, width, true)?;
            objects.push((layout::entries(w, width), entries));
            objects.push((layout::payloads(w, width), payloads));
        }
        run.put(objects)?;
        n = end;
        progress((n * BUNDLE_ENTRIES).min(to) - from, to - from);
    }
    // 2. Tiles from the old right edge on.
    let mut objects = Vec::new();
    for (level, index, width) in layout::tiles(to) {
        let old = layout::level_hashes(from, level) / TILE_WIDTH;
        if index < old {
            continue;
        }
        let name = layout::tile(level, index, width);
        let stored = ledger
            .backend()
            .get(Cf::Tiles, &tile_key(level, index))?
            .ok_or_else(|| StoreError::Corrupt {
                what: format!("tree tile ({level}, {index})"),
                reason: "missing".into(),
            })?;
        let len = width as usize * 32;
        let bytes = stored.get(..len).ok_or_else(|| StoreError::Corrupt {
            what: format!("tree tile ({level}, {index})"),
            reason: format!("holds {} bytes, {len} expected", stored.len()),
        })?;
        objects.push((name, bytes.to_vec()));
        if objects.len() >= 64 {
            run.put(std::mem::take(&mut objects))?;
        }
    }
    run.put(objects)?;
    // 3. Every checkpoint the ledger signed in (from, to].
    let mut objects = Vec::new();
    let (lo, hi) = (keys::seq_key(from + 1), keys::seq_key(to + 1));
    for row in ledger.backend().scan(Cf::Checkpoints, &lo, &hi) {
        let (k, v) = row?;
        let size = keys::parse_seq(&k).ok_or_else(|| StoreError::Corrupt {
            what: "checkpoints".into(),
            reason: "key is not a size".into(),
        })?;
        objects.push((layout::checkpoint_at(size), v));
        if objects.len() >= 64 {
            run.put(std::mem::take(&mut objects))?;
        }
    }
    run.put(objects)?;
    // 4. The watermark.
    run.put(vec![(layout::CHECKPOINT.to_owned(), note.into_bytes())])?;
    // 5. Partial objects of the old edge that the new edge does not use.
    let keep: BTreeSet<String> = layout::partial_names(to).into_iter().collect();
    for name in layout::partial_names(from) {
        if !keep.contains(&name) {
            bucket.delete(&name)?;
            report.deleted += 1;
        }
    }
    report.through = to;
    report.pending = ledger.size() - to;
    Ok(report)
}

struct Run<'a, B: Backend> {
    ledger: &'a Ledger<B>,
    bucket: &'a Bucket,
    report: &'a mut ArchiveReport,
}

impl<B: Backend> Run<'_, B> {
    fn put(&mut self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        if objects.is_empty() {
            return Ok(());
        }
        self.report.objects += objects.len() as u64;
        self.report.bytes += objects.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
        self.bucket.put_all(objects)
    }

    /// Full windows below the archive's old right edge whose payloads a
    /// redaction in `[from, to)` erased: their archived bundles hold the
    /// payload and must be rewritten. (The window of the old right edge is
    /// written again anyway.)
    fn erased_windows(&self, from: u64, to: u64) -> Result<BTreeSet<u64>> {
        let mut out = BTreeSet::new();
        let sealed = from / BUNDLE_ENTRIES;
        self.ledger.for_each_entry(from, to, |seq, bytes| {
            let entry = Entry::decode(bytes).map_err(|e| StoreError::Corrupt {
                what: format!("entry {seq}"),
                reason: e.to_string(),
            })?;
            if let EntryBody::RedactionV1(r) = entry.body {
                let n = r.target_seq / BUNDLE_ENTRIES;
                if n < sealed {
                    out.insert(n);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The stored entry and payload values of the first `width` entries of
    /// window `n`: the ledger's own values when it holds the window as one
    /// sealed piece, else the window's pieces re-encoded as one.
    fn window(&self, n: u64, width: u64, entries: bool) -> Result<(Vec<u8>, Vec<u8>)> {
        let start = n * BUNDLE_ENTRIES;
        let e = if entries {
            self.piece(Cf::Bundles, start, width)?
        } else {
            Vec::new()
        };
        let p = self.piece(Cf::PayloadBundles, start, width)?;
        Ok((e, p))
    }

    fn piece(&self, cf: Cf, start: u64, width: u64) -> Result<Vec<u8>> {
        let backend = self.ledger.backend();
        let rows: Vec<(Vec<u8>, Vec<u8>)> = backend
            .scan(cf, &keys::seq_key(start), &keys::seq_key(start + width))
            .collect::<Result<_, StoreError>>()?;
        let missing = || StoreError::Corrupt {
            what: format!("{} at {start}", cf.name()),
            reason: "missing".into(),
        };
        if width == BUNDLE_ENTRIES && rows.len() == 1 && rows[0].0 == keys::seq_key(start) {
            // One piece at the window's start in a full window: the sealed piece.
            return Ok(rows
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .ok_or_else(missing)?);
        }
        let mut records: Vec<Record> = Vec::with_capacity(width as usize);
        for (k, v) in rows {
            let first = keys::parse_seq(&k).ok_or_else(missing)?;
            if first != start + records.len() as u64 {
                return Err(missing().into());
            }
            match cf {
                Cf::Bundles => {
                    for entry in self.ledger.decode_entry_piece(first, &v)? {
                        records.push(Record {
                            entry,
                            payloads: [Slot::None, Slot::None],
                        });
                    }
                }
                _ => {
                    for payloads in self.ledger.decode_payload_piece(first, &v)? {
                        records.push(Record {
                            entry: Vec::new(),
                            payloads,
                        });
                    }
                }
            }
        }
        if (records.len() as u64) < width {
            return Err(missing().into());
        }
        records.truncate(width as usize);
        let raw_len: usize = records.iter().map(Record::raw_len).sum();
        if raw_len > cairn_store::codec::VALUE_BYTES_MAX {
            // One object per window: a window this large (decisions of about a
            // megabyte each) would be an object no reader takes. It is not
            // archived, so its local copy is never dropped.
            return Err(StoreError::Invalid(format!(
                "the window at {start} holds {raw_len} raw bytes, over the {} one archive \
                 object may hold; it stays in the local ledger only",
                cairn_store::codec::VALUE_BYTES_MAX
            ))
            .into());
        }
        let raw = match cf {
            Cf::Bundles => {
                pieces::encode_entries(records.iter().map(|r| r.entry.as_slice()), records.len())
            }
            _ => pieces::encode_payloads(
                records.iter().map(|r| &r.payloads),
                records.len(),
                start,
                None,
            ),
        };
        Ok(Codec::new().compress_at(&raw, Some(LEVEL)))
    }
}
