"""The checks of an archive (schemas/archive-v1.md "Checks"), from its objects alone.

`check_archive` opens the archive's `checkpoint` with the verifier key, reads the entry
bundles, payload bundles and level-0 tiles of the windows that hold the range, and
checks, for every entry of the range: that its bytes decode (entry-v1 "Rules"), carry
their own seq, link to the entry before and hash to the leaf stored for them; that each
payload matches its commitment, or that its erasure names a redaction entry that
erased it. It then recomputes the tree from those leaves (the stored tiles supplying
only the subtrees outside the range) and compares every stored tile hash above the
leaves with it, and the root with the signed root; given a checkpoint the auditor kept,
it builds the RFC 9162 consistency proof from the tree and verifies it against both
signed roots.

Damage is a finding in the report; `CannotCheck` is raised when the check cannot be
made at all (no checkpoint object, an unreadable source, a bad key, a kept checkpoint
that does not open). The damage kinds are those of `cairn verify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import archive_layout as layout
from archive_source import Source, SourceError
from archive_tree import TileProblem, TileTree
from checkpoint_note import open_note, parse_body
from entry_codec import DecodeError, decode_entry
from hashing import blake3
from merkle import TreeHash, verify_consistency, verify_inclusion

ZERO_HASH = bytes(32)
SLOTS = ("input", "output")


class CannotCheck(Exception):
    """The archive could not be checked (exit status 2)."""


@dataclass
class Damage:
    seq: int | None
    kind: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "detail": self.detail}


@dataclass
class Erasure:
    seq: int
    slot: str
    by: int


@dataclass
class Report:
    """What the check found; field names follow `cairn verify --json`."""

    source: str
    origin: str = ""
    size: int = 0
    start: int = 0
    end: int = 0
    entries_checked: int = 0
    payloads_checked: int = 0
    payload_bytes: int = 0
    checkpoints_checked: int = 0
    trusted_size: int | None = None
    root: bytes | None = None
    erased: list[Erasure] = field(default_factory=list)
    damage: list[Damage] = field(default_factory=list)

    def intact(self) -> bool:
        return not self.damage

    def first_damage(self) -> Damage | None:
        """The damage with the smallest seq; damage without a seq comes last."""
        if not self.damage:
            return None
        return min(self.damage, key=lambda d: (d.seq is None, d.seq or 0))

    def to_json(self) -> dict[str, Any]:
        first = self.first_damage()
        return {
            "status": "intact" if self.intact() else "damaged",
            "source": self.source,
            "origin": self.origin,
            "size": self.size,
            "from": self.start,
            "to": self.end,
            "entries_checked": self.entries_checked,
            "payloads_checked": self.payloads_checked,
            "payload_bytes": self.payload_bytes,
            "checkpoints_checked": self.checkpoints_checked,
            "trusted_size": self.trusted_size,
            "root": self.root.hex() if self.root is not None else None,
            "erased": [{"seq": e.seq, "slot": e.slot, "by": e.by} for e in self.erased],
            "first_damage": first.to_json() if first else None,
            "damage": [d.to_json() for d in self.damage],
        }


@dataclass
class Redaction:
    target: int
    slots: list[str]


class Walk:
    """One check of one archive."""

    def __init__(self, source: Source, key: str) -> None:
        self.source = source
        self.key = key
        self.report = Report(source=source.describe())
        self.tree: TileTree | None = None
        self.signed_root: bytes = b""
        self.seen_tiles: set[str] = set()
        self.leaves: dict[int, bytes] = {}
        self.redactions: dict[int, Redaction] = {}
        self.erasures: list[tuple[int, str, int]] = []

    def damage(self, seq: int | None, kind: str, detail: str) -> None:
        self.report.damage.append(Damage(seq, kind, detail))

    def get(self, name: str) -> bytes | None:
        try:
            return self.source.get(name)
        except SourceError as e:
            raise CannotCheck(str(e)) from None

    # -- the checkpoint ----------------------------------------------------------------

    def open_checkpoint(self) -> None:
        data = self.get("checkpoint")
        if data is None:
            raise CannotCheck(
                f"{self.source.describe()} has no `checkpoint` object: it is not an archive, "
                "holds nothing yet, or cannot be read"
            )
        try:
            note = data.decode("utf-8")
        except UnicodeDecodeError:
            raise CannotCheck("the `checkpoint` object is not UTF-8 text") from None
        try:
            origin, size, root, _, _ = open_note(note, self.key)
        except ValueError as e:
            self.damage(None, "bad-signature", f"the archive's checkpoint does not open: {e}")
            origin, size, root = self._unsigned_body(note)
        self.report.origin, self.report.size = origin, size
        self.signed_root = root
        self.report.checkpoints_checked += 1
        self.tree = TileTree(self.source, size, blake3)
        self._check_checkpoint_copy(note, size)

    def _unsigned_body(self, note: str) -> tuple[str, int, bytes]:
        """The body of a note whose signature failed, to go on checking the data."""
        at = note.rfind("\n\n")
        try:
            origin, size, root, _ = parse_body(note[: at + 1] if at >= 0 else note)
        except ValueError as e:
            raise CannotCheck(f"the archive's checkpoint is not a checkpoint: {e}") from None
        return origin, size, root

    def _check_checkpoint_copy(self, note: str, size: int) -> None:
        """`checkpoints/<size>` holds the same note (archive-v1 "Order of writes", 3-4)."""
        if size == 0:
            return
        name = layout.checkpoint_name(size)
        copy = self.get(name)
        if copy is None:
            self.damage(None, "missing", f"{name}, the history copy of the checkpoint, is absent")
        elif copy != note.encode("utf-8"):
            self.damage(None, "bad-signature", f"{name} differs from the `checkpoint` object")

    # -- entries and payloads ----------------------------------------------------------

    def check_range(self, start: int, end: int) -> None:
        self.report.start, self.report.end = start, end
        if start == end:
            return
        for window in range(start // layout.WINDOW, (end - 1) // layout.WINDOW + 1):
            self.check_window(window, start, end)
        self.check_erasures(start, end)

    def stored_leaf(self, seq: int) -> bytes | None:
        """The leaf stored for `seq` in its level-0 tile, or None (damage recorded)."""
        assert self.tree is not None
        try:
            return self.tree.stored_leaf(seq)
        except TileProblem as e:
            self.tile_damage(e)
            return None

    def tile_damage(self, e: TileProblem) -> None:
        if e.name in self.seen_tiles:
            return
        self.seen_tiles.add(e.name)
        self.damage(e.first_seq, "missing" if e.missing else "unreadable", str(e))

    def load_window(
        self, window: int, width: int, lo: int
    ) -> tuple[list[layout.StoredEntry], list[tuple[layout.Slot, layout.Slot]] | None] | None:
        """The window's stored entries and payload slots (None: damage recorded)."""
        name = layout.entries_name(window, width)
        data = self.get(name)
        if data is None:
            self.damage(lo, "missing", f"{name} is absent")
            return None
        try:
            entries = layout.decode_entry_piece(layout.decode_stored_value(data))
        except layout.LayoutError as e:
            # As `cairn verify`: a bundle that does not decode has its entries altered.
            self.damage(lo, "altered", f"{name} does not decode: {e}")
            return None
        pname = layout.payloads_name(window, width)
        pdata = self.get(pname)
        slots: list[tuple[layout.Slot, layout.Slot]] | None = None
        if pdata is None:
            self.damage(lo, "payload-missing", f"{pname} is absent")
        else:
            try:
                slots = layout.decode_payload_piece(
                    layout.decode_stored_value(pdata), window * layout.WINDOW
                )
            except layout.LayoutError as e:
                self.damage(lo, "payload-missing", f"{pname} does not decode: {e}")
        if slots is not None and len(slots) != width:
            at = window * layout.WINDOW + min(len(slots), width)
            kind = "payload-missing" if len(slots) < width else "unreadable"
            self.damage(at, kind, f"{pname} holds {len(slots)} records; its name says {width}")
        return entries, slots

    def check_window(self, window: int, start: int, end: int) -> None:
        first = window * layout.WINDOW
        width = layout.window_width(self.report.size, window)
        lo, hi = max(start, first), min(end, first + width)
        loaded = self.load_window(window, width, lo)
        if loaded is None:
            return
        entries, slots = loaded
        name = layout.entries_name(window, width)
        if len(entries) < width:
            # Entries gone before others the archive holds are missing; gone at its
            # end, the archive is shorter than its checkpoint says: truncated.
            last_window = first + width >= self.report.size
            self.damage(
                max(lo, first + len(entries)),
                "truncated" if last_window else "missing",
                f"{name} holds {len(entries)} entries; the checkpoint covers {width} in it",
            )
        elif len(entries) > width:
            self.damage(
                first + width,
                "unreadable",
                f"{name} holds {len(entries)} entries, its name says {width}",
            )
        for seq in range(lo, min(hi, first + len(entries))):
            stored = entries[seq - first]
            pair = slots[seq - first] if slots is not None and seq - first < len(slots) else None
            self.check_entry(seq, stored, pair, name)

    def check_entry(
        self,
        seq: int,
        stored: layout.StoredEntry,
        pair: tuple[layout.Slot, layout.Slot] | None,
        name: str,
    ) -> None:
        self.report.entries_checked += 1
        # The leaf of seq - 1 as stored (what a form-2 entry is rebuilt with, by
        # storage-v2) and as recomputed from that entry (what the chain must link to):
        # either stands in for the other when it is unavailable (damage reported).
        stored_prev = ZERO_HASH if seq == 0 else self.stored_leaf(seq - 1)
        link = ZERO_HASH if seq == 0 else self.leaves.get(seq - 1, stored_prev)
        prev = stored_prev if stored_prev is not None else link
        if prev is None or link is None:
            return
        data = stored.rebuild(prev)
        leaf = blake3(b"\x00" + data)
        stored_leaf = self.stored_leaf(seq)
        try:
            entry = decode_entry(data)
        except DecodeError as e:
            self.damage(seq, "altered", f"the entry in {name} does not decode: {e}")
            self._keep_leaf(seq, None, stored_leaf)
            return
        if entry["seq"] != seq:
            kind = "reordered" if entry["seq"] < self.report.size else "altered"
            self.damage(seq, kind, f"the entry stored at seq {seq} says it is seq {entry['seq']}")
        elif stored.has_prev_hash and bytes.fromhex(entry["prev_hash"]) != link:
            # (A form-2 entry's link is its rebuilt prev_hash: the stored leaf of
            # seq - 1, checked against that entry when it was hashed.)
            self.damage(seq, "altered", f"prev_hash does not link to the leaf of seq {seq - 1}")
        elif stored_leaf is not None and leaf != stored_leaf:
            self.damage(
                seq, "altered", f"the entry no longer hashes to its leaf in tile/0 ({name})"
            )
        self._keep_leaf(seq, leaf, stored_leaf)
        body = entry["body"]
        if body["variant"] == "RedactionV1":
            self.redactions[seq] = Redaction(body["target_seq"], list(body["slots"]))
        if pair is not None:
            self.check_payloads(seq, body, pair)

    def _keep_leaf(self, seq: int, leaf: bytes | None, stored: bytes | None) -> None:
        """The leaf the tree is recomputed from: the entry's, else (already reported
        as damage) the stored one, so that one damaged entry is reported once."""
        chosen = leaf if leaf is not None else stored
        if chosen is not None:
            self.leaves[seq] = chosen

    def check_payloads(
        self, seq: int, body: dict[str, Any], pair: tuple[layout.Slot, layout.Slot]
    ) -> None:
        decision = body["variant"] == "DecisionV1"
        for slot_name, slot in zip(SLOTS, pair, strict=True):
            if not decision:
                if slot.state != layout.SLOT_NONE:
                    self.damage(
                        seq,
                        "commitment-mismatch",
                        f"a {slot_name} payload is stored for a {body['variant']} entry, "
                        "which commits to none",
                    )
                continue
            ref = body[slot_name]
            if slot.state == layout.SLOT_STORED:
                self.report.payloads_checked += 1
                self.report.payload_bytes += len(slot.payload)
                if (
                    len(slot.payload) != ref["len"]
                    or blake3(slot.salt + slot.payload).hex() != ref["commitment"]
                ):
                    self.damage(
                        seq,
                        "commitment-mismatch",
                        f"the {slot_name} payload does not match its commitment",
                    )
            elif slot.state == layout.SLOT_ERASED:
                self.erasures.append((seq, slot_name, slot.redaction_seq))
            else:
                self.damage(
                    seq,
                    "payload-missing",
                    f"the {slot_name} payload is gone and no redaction is named",
                )

    def check_erasures(self, start: int, end: int) -> None:
        for seq, slot_name, by in self.erasures:
            redaction = self.redactions.get(by) if start <= by < end else self.redaction_outside(by)
            if (
                redaction is not None
                and by > seq
                and redaction.target == seq
                and slot_name in redaction.slots
            ):
                self.report.erased.append(Erasure(seq, slot_name, by))
            else:
                self.damage(
                    seq,
                    "payload-missing",
                    f"the {slot_name} payload is erased, but entry {by} is not a redaction "
                    "of it in the signed tree",
                )

    def redaction_outside(self, seq: int) -> Redaction | None:
        """Entry `seq`, outside the checked range, tied to the signed root by an
        inclusion proof; None if it is not a redaction or cannot be tied."""
        assert self.tree is not None
        size = self.report.size
        if seq >= size:
            return None
        window = seq // layout.WINDOW
        width = layout.window_width(size, window)
        data = self.get(layout.entries_name(window, width))
        try:
            if data is None:
                return None
            entries = layout.decode_entry_piece(layout.decode_stored_value(data))
            prev = ZERO_HASH if seq == 0 else self.tree.stored_leaf(seq - 1)
            raw = entries[seq - window * layout.WINDOW].rebuild(prev)
            entry = decode_entry(raw)
            proof = self.tree.inclusion_proof(seq)
        except (layout.LayoutError, DecodeError, IndexError, TileProblem):
            return None
        leaf = blake3(b"\x00" + raw)
        if not verify_inclusion(TreeHash(blake3), seq, size, leaf, proof, self.signed_root):
            return None
        body = entry["body"]
        if body["variant"] != "RedactionV1":
            return None
        return Redaction(body["target_seq"], list(body["slots"]))

    # -- the tree ----------------------------------------------------------------------

    def check_tree(self) -> None:
        assert self.tree is not None
        start, end = self.report.start, self.report.end
        if any(s not in self.leaves for s in range(start, end)):
            # An entry could be neither hashed nor replaced by its stored leaf: that
            # damage is reported; the tree cannot be recomputed around it.
            return
        self.tree.set_overlay(self.leaves, start, end)
        try:
            self.check_tiles_above(start, end)
            if start > 0:
                self.check_anchor(start - 1)
            root = self.tree.root()
        except TileProblem as e:
            self.tile_damage(e)
            return
        if root != self.signed_root:
            self.damage(
                None,
                "rewritten",
                f"the tree recomputed from the entries has root {root.hex()}, "
                f"the checkpoint signs {self.signed_root.hex()}",
            )
        elif start == 0 and end == self.report.size:
            self.report.root = root

    def check_tiles_above(self, start: int, end: int) -> None:
        """Every stored hash of tile level L >= 1 over a subtree inside the range must
        be the hash of the 256 stored hashes of level L - 1 below it. (The entries are
        tied to the signed root by the tree recomputed from them; this finds a stored
        tile that no longer hashes from the tiles below it, which a range read or a
        proof served from the tiles would trust.)"""
        assert self.tree is not None
        for level in range(1, layout.level_count(self.report.size)):
            height = layout.TILE_HEIGHT * level
            first = -(-start >> height)
            for index in range(first, end >> height):
                below = self.tree.tile(level - 1, index)
                if self.tree.fold(below) != self.tree.stored(level, index):
                    self.damage(
                        index << height,
                        "tree-mismatch",
                        f"hash {index} of tile level {level} is not the hash of "
                        f"tile {index} of level {level - 1} below it",
                    )

    def check_anchor(self, seq: int) -> None:
        """The stored leaf the range's first entry links to is in the signed tree."""
        assert self.tree is not None
        leaf = self.tree.stored_leaf(seq)
        proof = self.tree.inclusion_proof(seq)
        if not verify_inclusion(
            TreeHash(blake3), seq, self.report.size, leaf, proof, self.signed_root
        ):
            self.damage(
                seq,
                "tree-mismatch",
                f"the leaf stored for seq {seq} has no valid inclusion proof in the signed tree",
            )

    def check_kept(self, note: str) -> None:
        """Consistency with a checkpoint the auditor kept (entry-v1 "Checkpoints")."""
        assert self.tree is not None
        try:
            origin, kept_size, kept_root, _, _ = open_note(note, self.key)
        except ValueError as e:
            raise CannotCheck(f"your checkpoint does not open with the key: {e}") from None
        if origin != self.report.origin:
            raise CannotCheck(
                f"your checkpoint is of {origin!r}, the archive of {self.report.origin!r}"
            )
        self.report.trusted_size = kept_size
        size = self.report.size
        if kept_size > size:
            self.damage(
                size,
                "truncated",
                f"the archive's checkpoint covers {size} entries; yours covered {kept_size}",
            )
            return
        try:
            proof = self.tree.consistency_proof(kept_size) if 0 < kept_size < size else []
        except TileProblem as e:
            self.tile_damage(e)
            return
        if not verify_consistency(
            TreeHash(blake3), kept_size, size, kept_root, self.signed_root, proof
        ):
            self.damage(
                None,
                "rewritten",
                f"the archive is not a consistent extension of your checkpoint at size {kept_size}",
            )


def check_archive(
    source: Source, key: str, first: int = 0, last: int | None = None, kept: str | None = None
) -> Report:
    """Check `source` with the verifier key string `key`; seqs `first..=last` (default:
    all that the archive's checkpoint covers)."""
    walk = Walk(source, key)
    walk.open_checkpoint()
    size = walk.report.size
    end = size if last is None else min(last + 1, size)
    if first > end:
        raise CannotCheck(f"the range starts at seq {first}, beyond the archive's {size} entries")
    walk.check_range(first, end)
    walk.check_tree()
    if kept is not None:
        walk.check_kept(kept)
    return walk.report
