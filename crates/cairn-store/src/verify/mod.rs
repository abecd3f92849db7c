//! `verify`: walk the chain, the tree and the payload commitments of a ledger and
//! compare them with signed checkpoints, reporting precisely what is damaged.
//!
//! A verification that finds damage returns `Ok` with the damage listed; `Err`
//! means it could not check at all (I/O failure, no key, unreadable metadata).

use std::collections::BTreeMap;

use cairn_core::checkpoint::{open_checkpoint, Checkpoint, NoteVerifier};
use cairn_core::hash::{Blake3Hasher, Hash, TreeHasher, ZERO_HASH};
use cairn_core::merkle::{self, NodeSource, TreeEdge};

use crate::backend::{Backend, Cf};
use crate::error::{Result, StoreError};
use crate::keys;
use crate::ledger::Ledger;
use crate::pieces;
use crate::tiles::TILE_HEIGHT;

mod anchor;
mod chunk;
mod report;

use anchor::Overlay;
use chunk::{check_chunk, ChunkReport};
pub use report::{Damage, DamageKind, Erasure, VerifyOptions, VerifyReport};

/// How often (in entries) the progress callback is called.
pub const PROGRESS_EVERY: u64 = 8192;

/// At most this many findings are kept; the first ones matter most.
const DAMAGE_MAX: usize = 1000;

/// Entries checked per window: the leaves of one window are held in memory
/// (32 bytes each) between the parallel entry checks and the tree pass.
/// (Small in unit tests, so that they cross windows.)
#[cfg(not(test))]
const WINDOW: u64 = 1 << 20;
#[cfg(test)]
const WINDOW: u64 = 512;
/// Windows shorter than this are checked as one chunk.
#[cfg(not(test))]
const PARALLEL_MIN: u64 = 4096;
#[cfg(test)]
const PARALLEL_MIN: u64 = 256;
/// Entries per chunk of a longer window, about: enough chunks that both cores
/// stay busy and the tree pass after the last one is short.
#[cfg(not(test))]
const CHUNK_ENTRIES: u64 = 1 << 15;
#[cfg(test)]
const CHUNK_ENTRIES: u64 = 128;

/// Entries past the end of the stored ones that a walk still visits (each
/// reported missing); the rest are one damage of the recorded size.
const MISSING_WALKED_MAX: u64 = 1 << 16;

/// The sequential part of a verification: checkpoints, the tree, the report.
struct Walk<'l, B: Backend> {
    ledger: &'l Ledger<B>,
    report: VerifyReport,
    edge: Option<TreeEdge>,
    /// Checkpoint roots to compare with, by size.
    roots: BTreeMap<u64, (Hash, bool)>,
    /// Range walks: the signed root (size, root) the range is hashed up to.
    anchor: Option<(u64, Hash)>,
}

/// Verify a ledger. See the module docs for what `Ok` and `Err` mean.
pub fn verify<B: Backend>(ledger: &Ledger<B>, mut opts: VerifyOptions<'_>) -> Result<VerifyReport> {
    let size = ledger.size();
    let to = opts.to.unwrap_or(size).min(size);
    if opts.from > to {
        return Err(StoreError::OutOfRange {
            what: format!("range {}..{}", opts.from, to),
            size,
        });
    }
    let mut walk = Walk {
        ledger,
        report: VerifyReport {
            origin: ledger.origin().to_owned(),
            size,
            from: opts.from,
            to,
            ..VerifyReport::default()
        },
        edge: (opts.from == 0).then(TreeEdge::new),
        roots: BTreeMap::new(),
        anchor: None,
    };
    // Entries missing past the stored end are reported one by one, up to a
    // bound: a raised size must not make the walk endless.
    let stored_end = walk.check_beyond_size()?;
    let to = to.min(stored_end.saturating_add(MISSING_WALKED_MAX).max(opts.from));
    walk.report.to = to;
    walk.load_checkpoints(opts.verifier)?;
    let trusted = match opts.trusted {
        Some(note) => Some(walk.load_trusted(note, opts.verifier)?),
        None => None,
    };
    walk.pick_anchor();
    let mut prev = match opts.from {
        0 => ZERO_HASH,
        from => node_or_zero(ledger, from - 1),
    };
    // The other families are read while the entries are checked: that pass
    // is one sequential scan, and the entry checks leave a core idle between
    // windows and while the tree is hashed.
    let (rest, walked) = std::thread::scope(|s| {
        let rest = s.spawn(|| the_rest(ledger));
        let walked = (|| -> Result<()> {
            let mut at = opts.from;
            while at < to {
                let end = to.min(at + WINDOW);
                prev = walk.window(at, end, prev)?;
                at = end;
                if let Some(p) = opts.progress.as_mut() {
                    p(at - opts.from, to - opts.from);
                }
            }
            walk.finish_tree(trusted.as_ref())
        })();
        (rest.join(), walked)
    });
    walked?;
    let rest = rest.map_err(|_| {
        StoreError::Invalid("reading the other families failed unexpectedly".into())
    })?;
    for detail in rest? {
        walk.damage(None, DamageKind::Unreadable, detail);
    }
    walk.report
        .damage
        .sort_by_key(|d| (d.seq.is_none(), d.seq, d.kind));
    walk.report.damage.truncate(DAMAGE_MAX);
    Ok(walk.report)
}

fn node_or_zero<B: Backend>(ledger: &Ledger<B>, seq: u64) -> Hash {
    ledger.leaf(seq).unwrap_or(ZERO_HASH)
}

pub(super) fn push_damage(
    list: &mut Vec<Damage>,
    seq: Option<u64>,
    kind: DamageKind,
    detail: String,
) {
    if list.len() < DAMAGE_MAX {
        list.push(Damage { seq, kind, detail });
    }
}

impl<B: Backend> Walk<'_, B> {
    fn damage(&mut self, seq: Option<u64>, kind: DamageKind, detail: String) {
        push_damage(&mut self.report.damage, seq, kind, detail);
    }

    /// Which signed root the checked entries are tied to (see
    /// [`VerifyReport::anchored`]). A full walk recomputes the whole tree, so
    /// every root it reaches ties the entries below it; a range walk hashes its
    /// entries up to one root through [`Overlay`].
    fn pick_anchor(&mut self) {
        let (from, to) = (self.report.from, self.report.to);
        if self.edge.is_some() {
            self.report.anchored = self.roots.range(1..=to).next_back().map(|(s, _)| *s);
            return;
        }
        let covering = self.roots.range(to.max(1)..).next();
        let partial = self.roots.range(from + 1..).next_back();
        self.anchor = covering.or(partial).map(|(s, (r, _))| (*s, *r));
        self.report.anchored = self.anchor.map(|(s, _)| s);
    }

    /// Range walks: hash the leaves recomputed for `[from, ..)` up to the
    /// anchor's signed root, with the stored tree supplying only the nodes
    /// outside them.
    fn anchor_window(&mut self, from: u64, leaves: &[Hash]) {
        let Some((size, root)) = self.anchor else {
            return;
        };
        let end = size.min(from + leaves.len() as u64);
        if end <= from {
            return;
        }
        let nodes = self.ledger.nodes();
        let overlay = Overlay {
            stored: &nodes,
            from,
            leaves: &leaves[..(end - from) as usize],
        };
        match overlay.root(size) {
            Ok(r) if r == root => return,
            Ok(_) => {}
            Err(e) => {
                let detail = format!("the tree above seq {from}..{end}: {e}");
                self.damage(Some(from), DamageKind::TreeMismatch, detail);
                return;
            }
        }
        let located = overlay.mismatched_nodes(size).unwrap_or_default();
        for (level, index, seq) in located {
            self.damage(
                Some(seq),
                DamageKind::TreeMismatch,
                format!("the entries under tree node ({level}, {index}) no longer hash to the stored node: entries were rewritten together with their leaves"),
            );
        }
        self.damage(
            None,
            DamageKind::Rewritten,
            format!("entries {from}..{end} no longer hash to the root signed at size {size}: they were rewritten (with their stored tree) since it was signed"),
        );
    }

    /// Compare the recorded size with where the stored entries end, and
    /// return that end (the size itself when it cannot be told).
    fn check_beyond_size(&mut self) -> Result<u64> {
        let size = self.report.size;
        let last = self
            .ledger
            .backend()
            .last_in(Cf::Bundles, &[], &[0xff; 9])?;
        let Some((k, v)) = last else {
            if size > 0 {
                self.damage(
                    None,
                    DamageKind::Missing,
                    format!("the recorded size is {size}, but the entry bundle that should end the ledger is not there: the last entries are gone, or the size was raised"),
                );
            }
            return Ok(0);
        };
        let Some(first) = keys::parse_seq(&k) else {
            self.damage(
                None,
                DamageKind::Unreadable,
                format!("the last entry bundle's key ({}) is not a seq", key_hex(&k)),
            );
            return Ok(size);
        };
        let end = match self.ledger.entry_piece_len(first, &v) {
            Ok(n) => first.saturating_add(n as u64),
            Err(_) => first.saturating_add(1),
        };
        if end > size {
            self.damage(
                Some(size),
                DamageKind::Altered,
                format!("entries exist up to seq {} beyond the recorded size {size}: the size was rolled back", end - 1),
            );
        } else if end < size {
            self.damage(
                Some(end),
                DamageKind::Missing,
                format!("the recorded size is {size}, but the stored entries end at seq {end}: the size was raised, or the last entries are gone"),
            );
        }
        Ok(end)
    }

    fn load_checkpoints(&mut self, verifier: Option<&NoteVerifier>) -> Result<()> {
        let size = self.report.size;
        for (at, note) in self.ledger.checkpoints()? {
            let Some(verifier) = verifier else { break };
            let cp = match open_checkpoint(&note, verifier) {
                Ok(signed) => signed.checkpoint,
                Err(e) => {
                    self.damage(
                        None,
                        DamageKind::BadSignature,
                        format!("stored checkpoint at size {at}: {e}"),
                    );
                    continue;
                }
            };
            self.report.checkpoints_checked += 1;
            if cp.origin != self.report.origin {
                self.damage(
                    None,
                    DamageKind::OriginMismatch,
                    format!(
                        "the checkpoint stored at size {at} was signed for ledger {:?}, but this ledger's recorded origin is {:?}: the origin was rewritten",
                        cp.origin, self.report.origin
                    ),
                );
            }
            if cp.size != at {
                self.damage(
                    None,
                    DamageKind::BadSignature,
                    format!(
                        "stored checkpoint at size {at} is for {} at size {}",
                        cp.origin, cp.size
                    ),
                );
                continue;
            }
            if cp.size > size {
                self.damage(
                    Some(size),
                    DamageKind::Truncated,
                    format!("a checkpoint signed at size {} but the ledger has {size} entries: truncated or rolled back", cp.size),
                );
                continue;
            }
            self.roots.insert(cp.size, (cp.root, false));
        }
        Ok(())
    }

    fn load_trusted(&mut self, note: &str, verifier: Option<&NoteVerifier>) -> Result<Checkpoint> {
        let verifier = verifier.ok_or_else(|| {
            StoreError::Invalid("a verifier key is needed to check a checkpoint".into())
        })?;
        let cp = open_checkpoint(note, verifier)
            .map_err(|e| StoreError::Invalid(format!("your checkpoint does not verify: {e}")))?
            .checkpoint;
        if cp.origin != self.report.origin {
            // Signed by this ledger's key for another name: the recorded origin
            // was rewritten (or the key signs two ledgers, which it must not).
            self.damage(
                None,
                DamageKind::OriginMismatch,
                format!(
                    "your checkpoint, signed with this ledger's key, is for ledger {:?}, but this ledger's recorded origin is {:?}",
                    cp.origin, self.report.origin
                ),
            );
        }
        if cp.size > self.report.size {
            self.damage(
                Some(self.report.size),
                DamageKind::Truncated,
                format!(
                    "your checkpoint is at size {} but the ledger has {} entries: truncated or rolled back",
                    cp.size, self.report.size
                ),
            );
        } else {
            self.report.trusted_size = Some(cp.size);
            self.roots.insert(cp.size, (cp.root, false));
        }
        Ok(cp)
    }

    /// Check entries `[from, to)` in chunks on the pool, and put each chunk's
    /// leaves into the tree on this thread as soon as it and every chunk
    /// before it are checked, so that hashing the tree overlaps checking the
    /// entries; returns the last leaf.
    fn window(&mut self, from: u64, to: u64, prev: Hash) -> Result<Hash> {
        use rayon::iter::{ParallelBridge, ParallelIterator};
        let parts = if to - from < PARALLEL_MIN {
            1
        } else {
            (to - from).div_ceil(CHUNK_ENTRIES)
        };
        // Chunks end on bundle boundaries, so that no bundle is read twice.
        let step = (to - from)
            .div_ceil(parts)
            .next_multiple_of(pieces::BUNDLE_ENTRIES);
        let bounds: Vec<(u64, u64)> = (0..parts)
            .map(|i| (from + i * step, to.min(from + (i + 1) * step)))
            .filter(|(a, b)| a < b)
            .collect();
        let ledger = self.ledger;
        let anchoring = self.edge.is_none() && self.anchor.is_some();
        let mut window_leaves = Vec::new();
        let mut last = prev;
        let (sent, done) = std::sync::mpsc::channel();
        std::thread::scope(|s| -> Result<()> {
            let done = done;
            let chunks = &bounds;
            // `par_bridge` hands the chunks out in order, so they finish
            // nearly in order and few wait for the tree.
            s.spawn(move || {
                chunks
                    .iter()
                    .enumerate()
                    .par_bridge()
                    .for_each_with(sent, |sent, (i, &(a, b))| {
                        let chunk = check_chunk(ledger, a, b, (i == 0).then_some(prev));
                        // A send fails only once the walk stopped on an error.
                        drop(sent.send((i, chunk)));
                    });
            });
            let mut waiting = BTreeMap::new();
            let mut next = 0;
            for (i, chunk) in done.iter() {
                waiting.insert(i, chunk);
                while let Some(chunk) = waiting.remove(&next) {
                    let chunk = chunk?;
                    let a = bounds[next].0;
                    next += 1;
                    let leaves = self.adopt_chunk(a, chunk, last);
                    last = leaves.last().copied().unwrap_or(last);
                    if anchoring {
                        window_leaves.extend_from_slice(&leaves);
                    }
                }
            }
            Ok(())
        })?;
        if anchoring {
            self.anchor_window(from, &window_leaves);
        }
        Ok(last)
    }

    /// Take in what checking the chunk starting at `a` found, and put its
    /// leaves into the tree; `last` is the leaf before the chunk. Returns
    /// the chunk's leaves.
    fn adopt_chunk(&mut self, a: u64, chunk: ChunkReport, last: Hash) -> Vec<Hash> {
        if let Some(first_prev) = chunk.first_prev {
            if first_prev != last && a > 0 {
                let detail = format!(
                    "entry {} was altered: entry {a} records a different hash for it",
                    a - 1
                );
                self.damage(Some(a - 1), DamageKind::Altered, detail);
            }
        }
        self.report.entries_checked += chunk.entries;
        self.report.payloads_checked += chunk.payloads;
        self.report.payload_bytes += chunk.payload_bytes;
        self.report.erased.extend(chunk.erased);
        for d in chunk.damage {
            self.damage(d.seq, d.kind, d.detail);
        }
        self.tree_pass(a, &chunk.leaves);
        chunk.leaves
    }

    /// Push leaves `from..` into the recomputed tree, comparing every completed
    /// node with the stored one and every checkpointed size with its root.
    fn tree_pass(&mut self, from: u64, leaves: &[Hash]) {
        let Some(mut edge) = self.edge.take() else {
            return;
        };
        for (i, leaf) in leaves.iter().enumerate() {
            let seq = from + i as u64;
            for (level, index, hash) in edge.push(&Blake3Hasher, *leaf) {
                if level == 0 {
                    continue;
                }
                if level % TILE_HEIGHT != 0 {
                    continue;
                }
                let stored = self.stored_node(level, index);
                let problem = match stored {
                    Ok(Some(v)) if v == hash => continue,
                    Ok(Some(_)) => {
                        format!("tree node ({level}, {index}) differs from the hash of its entries")
                    }
                    Ok(None) => format!("tree node ({level}, {index}) is missing"),
                    Err(e) => format!("tree node ({level}, {index}): {e}"),
                };
                self.damage(Some(seq), DamageKind::TreeMismatch, problem);
            }
            let size = edge.size();
            if let Some((root, seen)) = self.roots.get_mut(&size) {
                *seen = true;
                if edge.root(&Blake3Hasher) != *root {
                    self.damage(
                        None,
                        DamageKind::Rewritten,
                        format!("the first {size} entries no longer hash to the root signed at size {size}: history was altered or rewritten"),
                    );
                }
            }
        }
        self.edge = Some(edge);
    }

    /// A stored node of a level that tiles hold (a multiple of 8), else `None`
    /// (those levels are recomputed, not stored).
    fn stored_node(&mut self, level: u8, index: u64) -> Result<Option<Hash>> {
        if !level.is_multiple_of(TILE_HEIGHT) {
            return Ok(None);
        }
        self.ledger
            .nodes()
            .hashes(level / TILE_HEIGHT, index, 1)
            .map(|h| h.first().copied())
    }

    fn finish_tree(&mut self, trusted: Option<&Checkpoint>) -> Result<()> {
        let ledger = self.ledger;
        let nodes = ledger.nodes();
        let full = self
            .edge
            .as_ref()
            .is_some_and(|e| e.size() == self.report.size);
        let current = match (&self.edge, full) {
            (Some(edge), true) => edge.root(&Blake3Hasher),
            _ => match merkle::root(&Blake3Hasher, &nodes, self.report.size) {
                Ok(r) => r,
                Err(e) => {
                    self.damage(None, DamageKind::TreeMismatch, e.to_string());
                    return Ok(());
                }
            },
        };
        if full {
            self.report.root = Some(current);
        }
        // Checkpoints the walk did not reach (range mode) are checked against stored nodes.
        let unseen: Vec<(u64, Hash)> = self
            .roots
            .iter()
            .filter(|(_, (_, seen))| !seen)
            .map(|(s, (r, _))| (*s, *r))
            .collect();
        for (size, root) in unseen {
            if size == 0 {
                continue;
            }
            if root_or_damaged(&nodes, size)? != Some(root) {
                self.damage(
                    None,
                    DamageKind::Rewritten,
                    format!("the tree at size {size} no longer has the root signed at size {size}"),
                );
            }
        }
        if let (Some(cp), Some(_)) = (trusted, self.report.trusted_size) {
            self.check_trusted(cp, current)?;
        }
        Ok(())
    }

    fn check_trusted(&mut self, cp: &Checkpoint, current: Hash) -> Result<()> {
        let size = self.report.size;
        let proof = match self.ledger.consistency_proof(cp.size, size) {
            Ok(p) => p,
            Err(e) => {
                self.damage(
                    None,
                    DamageKind::TreeMismatch,
                    format!("consistency proof: {e}"),
                );
                return Ok(());
            }
        };
        let consistent =
            merkle::verify_consistency(&Blake3Hasher, cp.size, size, &cp.root, &current, &proof)
                .is_ok();
        let root_here = match (&self.edge, cp.size) {
            (_, 0) => Some(Blake3Hasher.empty_root()),
            _ => root_or_damaged(&self.ledger.nodes(), cp.size)?,
        };
        if !consistent || root_here != Some(cp.root) {
            self.damage(
                None,
                DamageKind::Rewritten,
                format!(
                    "the ledger is not a consistent extension of your checkpoint at size {}: its first {} entries were rewritten or rolled back and re-appended",
                    cp.size, cp.size
                ),
            );
        }
        Ok(())
    }
}

/// Read every other column family once, so that damage the storage engine can
/// detect anywhere (a checksum mismatch in an index table) is reported: what
/// it found, as details of `Unreadable` damage.
fn the_rest<B: Backend>(ledger: &Ledger<B>) -> Result<Vec<String>> {
    let mut found = Vec::new();
    match ledger.backend().check_tables() {
        Ok(()) => {}
        Err(e) if e.is_engine_corruption() => found.push(format!("table files: {e}")),
        Err(e) => return Err(e),
    }
    for cf in [Cf::Index, Cf::Meta, Cf::Checkpoints, Cf::Tiles] {
        match ledger.backend().read_all(cf) {
            Ok(_) => {}
            Err(e) if e.is_engine_corruption() => found.push(format!("{}: {e}", cf.name())),
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

/// A key as lower-case hex, for damage that names it.
pub(super) fn key_hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// The root of the stored tree at `size`; `None` when the nodes are damaged
/// (the caller reports that), an error when they could not be read (an
/// archive out of reach): the root could not be checked.
fn root_or_damaged<S: NodeSource<Error = StoreError>>(
    nodes: &S,
    size: u64,
) -> Result<Option<Hash>> {
    match merkle::root(&Blake3Hasher, nodes, size) {
        Ok(root) => Ok(Some(root)),
        Err(e) if e.is_unavailable() => Err(e),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{tamper, Append, MemoryBackend};
    use cairn_core::decision::DecisionInput;

    /// 2,000 decisions: four windows of the verify walk, two chunks each.
    fn ledger() -> Ledger<MemoryBackend> {
        let l = Ledger::create(MemoryBackend::new(), "test.example/verify").unwrap();
        let items: Vec<Append> = (0..2000)
            .map(|i| {
                let line = format!(
                    r#"{{"stream":"s","model":{{"name":"m","version":"1"}},"input":{{"i":{i}}},"output":{i}}}"#
                );
                let d = DecisionInput::parse(line.as_bytes()).unwrap();
                Append::Decision(d.prepare([1; 32], [2; 32]))
            })
            .collect();
        for chunk in items.chunks(300) {
            l.append(chunk.to_vec(), 1).unwrap();
        }
        l
    }

    /// A ledger whose payload pieces cannot be read, as when the archive
    /// holding them is out of reach.
    struct Unreachable(MemoryBackend);

    fn out_of_reach() -> StoreError {
        StoreError::ArchiveUnavailable {
            url: "s3://bucket/ledger".into(),
            seq: 0,
            reason: "connection refused".into(),
        }
    }

    impl Backend for Unreachable {
        fn write(&self, batch: crate::backend::WriteBatch) -> Result<()> {
            self.0.write(batch)
        }
        fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
            match cf {
                Cf::PayloadBundles => Err(out_of_reach()),
                _ => self.0.get(cf, key),
            }
        }
        fn scan<'a>(
            &'a self,
            cf: Cf,
            from: &[u8],
            to: &[u8],
        ) -> Box<dyn Iterator<Item = Result<crate::backend::KeyValue>> + 'a> {
            match cf {
                Cf::PayloadBundles => Box::new(std::iter::once(Err(out_of_reach()))),
                _ => self.0.scan(cf, from, to),
            }
        }
        fn last_in(
            &self,
            cf: Cf,
            from: &[u8],
            to: &[u8],
        ) -> Result<Option<crate::backend::KeyValue>> {
            self.0.last_in(cf, from, to)
        }
    }

    #[test]
    fn payloads_out_of_reach_are_a_failure_to_check_not_damage() {
        let l = Ledger::open_unchecked(Unreachable(ledger().into_backend())).unwrap();
        match verify(&l, VerifyOptions::default()) {
            Err(e) => assert!(e.is_unavailable(), "{e}"),
            Ok(r) => panic!("reported as damage: {:?}", r.first_damage()),
        }
    }

    fn first(l: &Ledger<MemoryBackend>) -> (Option<u64>, DamageKind) {
        let r = verify(l, VerifyOptions::default()).unwrap();
        let d = r.first_damage().unwrap();
        (d.seq, d.kind)
    }

    #[test]
    fn damage_is_placed_exactly_across_windows_and_chunks() {
        let l = ledger();
        let r = verify(&l, VerifyOptions::default()).unwrap();
        assert!(r.intact(), "{r:?}");
        assert_eq!(r.entries_checked, 2000);

        let l = ledger();
        // The first entry of a window of the walk.
        let mut bytes = l.entry_bytes(1024).unwrap().unwrap();
        bytes[45] ^= 1;
        tamper::set_entry(&l, 1024, bytes).unwrap();
        assert_eq!(first(&l), (Some(1024), DamageKind::Altered));

        // The last two of the window before it.
        let l = ledger();
        tamper::swap_entries(&l, 1022, 1023).unwrap();
        assert_eq!(first(&l), (Some(1022), DamageKind::Reordered));

        let l = ledger();
        tamper::delete_entry(&l, 1536).unwrap();
        assert_eq!(first(&l), (Some(1536), DamageKind::Missing));

        // The last entry of the last window.
        let l = ledger();
        let mut bytes = l.entry_bytes(1999).unwrap().unwrap();
        bytes[45] ^= 1;
        tamper::set_entry(&l, 1999, bytes).unwrap();
        assert_eq!(first(&l), (Some(1999), DamageKind::Altered));
    }
}
