"""The Merkle tree of an archive, from its tiles and from recomputed leaves.

schemas/archive-v1.md stores tile level L (the complete subtrees of height 8L, 256 per
tile); schemas/storage-v2.md "Tiles" recomputes the levels in between; the tree and its
proofs are RFC 9162's (schemas/entry-v1.md "Merkle tree and proofs"). A `TileTree`
answers the hash of any subtree of the tree of size S. Leaves the verifier recomputed
from entries (the checked range) are an *overlay*: a subtree that lies inside the
overlay is hashed from those leaves, one that lies outside it is read from the stored
tiles, and one that straddles its edge is split. So the root computed here ties every
overlay leaf to the signed root, and the stored tree supplies only what lies outside.
"""

from __future__ import annotations

from collections.abc import Callable

from archive_layout import TILE_HEIGHT, LayoutError, split_hashes, tile_name, tile_width
from archive_source import Source

Hasher = Callable[[bytes], bytes]


class TileProblem(Exception):
    """A tile the tree needs is absent or malformed."""

    def __init__(self, name: str, first_seq: int, missing: bool, detail: str) -> None:
        super().__init__(detail)
        self.name = name
        self.first_seq = first_seq
        self.missing = missing


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class TileTree:
    """The tree of `size` leaves, read from the tiles of `source`."""

    def __init__(self, source: Source, size: int, blake3: Hasher) -> None:
        self.source = source
        self.size = size
        self.h = blake3
        self.tiles: dict[tuple[int, int], list[bytes]] = {}
        self.problems: dict[tuple[int, int], TileProblem] = {}
        self.overlay: dict[int, bytes] = {}
        self.overlay_from = 0
        self.overlay_to = 0
        self._memo: dict[tuple[int, int], bytes] = {}

    def node_of(self, left: bytes, right: bytes) -> bytes:
        return self.h(b"\x01" + left + right)

    def set_overlay(self, leaves: dict[int, bytes], start: int, end: int) -> None:
        """Recomputed leaf hashes of seqs [start, end), every one present."""
        self.overlay = leaves
        self.overlay_from, self.overlay_to = start, end
        self._memo.clear()

    # -- stored tiles ------------------------------------------------------------------

    def tile(self, level: int, index: int) -> list[bytes]:
        """The hashes of tile (level, index) in the tree of `size` (full or partial)."""
        key = (level, index)
        if key in self.tiles:
            return self.tiles[key]
        if key in self.problems:
            raise self.problems[key]
        try:
            hashes = self._fetch(level, index)
        except TileProblem as e:
            self.problems[key] = e
            raise
        self.tiles[key] = hashes
        return hashes

    def _fetch(self, level: int, index: int) -> list[bytes]:
        width = tile_width(self.size, level, index)
        name = tile_name(level, index, width)
        first_seq = (index * 256) << (TILE_HEIGHT * level)
        if width == 0:
            raise TileProblem(name, first_seq, True, f"tile ({level}, {index}) is beyond size")
        data = self.source.get(name)
        if data is None:
            raise TileProblem(name, first_seq, True, f"{name} is absent")
        try:
            hashes = split_hashes(data, width)
        except LayoutError as e:
            raise TileProblem(name, first_seq, False, f"{name}: {e}") from None
        return hashes

    def stored(self, level: int, index: int) -> bytes:
        """Hash `index` of tile level `level` (a complete subtree of height 8·level)."""
        return self.tile(level, index // 256)[index % 256]

    def stored_leaf(self, seq: int) -> bytes:
        return self.stored(0, seq)

    # -- subtree hashes ----------------------------------------------------------------

    def complete(self, height: int, index: int) -> bytes:
        """The complete subtree of `height` holding leaves [index·2^h, (index+1)·2^h)."""
        lo, hi = index << height, (index + 1) << height
        if hi <= self.overlay_from or lo >= self.overlay_to:
            return self._from_tiles(height, index)
        if height == 0:
            return self.overlay[lo]
        if lo >= self.overlay_from and hi <= self.overlay_to and height >= TILE_HEIGHT:
            key = (height, index)
            got = self._memo.get(key)
            if got is None:
                got = self._children(height, index)
                self._memo[key] = got
            return got
        return self._children(height, index)

    def _children(self, height: int, index: int) -> bytes:
        return self.node_of(
            self.complete(height - 1, 2 * index), self.complete(height - 1, 2 * index + 1)
        )

    def _from_tiles(self, height: int, index: int) -> bytes:
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        return self.fold([self.stored(level, first + j) for j in range(1 << rest)])

    def fold(self, hashes: list[bytes]) -> bytes:
        """The root of the complete subtree over `hashes` (a power of two of them)."""
        while len(hashes) > 1:
            hashes = [self.node_of(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end), for the ranges RFC 9162's recursion visits."""
        n = end - start
        if n == 0:
            return self.h(b"")
        if n & (n - 1) == 0 and start % n == 0:
            return self.complete(n.bit_length() - 1, start // n)
        k = split_point(n)
        return self.node_of(self.range_hash(start, start + k), self.range_hash(start + k, end))

    def root(self) -> bytes:
        return self.range_hash(0, self.size)

    # -- proofs, built from the tree (RFC 9162 PATH and PROOF) ---------------------------

    def inclusion_proof(self, m: int) -> list[bytes]:
        """PATH(m, D[size])."""
        proof: list[bytes] = []
        start, end = 0, self.size
        while end - start > 1:
            k = split_point(end - start)
            if m - start < k:
                proof.append(self.range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self.range_hash(start, start + k))
                start += k
        proof.reverse()
        return proof

    def consistency_proof(self, m: int) -> list[bytes]:
        """PROOF(m, D[size]) for 0 < m < size."""
        return self._subproof(m, 0, self.size, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.range_hash(start, end)]
        k = split_point(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self.range_hash(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.range_hash(start, start + k)]
