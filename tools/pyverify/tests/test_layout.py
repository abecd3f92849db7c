"""The archive layout's names and the tile tree, against the pages' own examples and the
plain RFC 9162 definitions of merkle.py (no binaries needed)."""

from __future__ import annotations

import pytest

from archive_layout import (
    LayoutError,
    checkpoint_name,
    decode_entry_piece,
    decode_payload_piece,
    decode_stored_value,
    derive_salt,
    entries_name,
    tile_index_path,
    tile_name,
)
from archive_tree import TileTree
from hashing import blake3
from merkle import TreeHash, consistency, mth, path, verify_inclusion


def test_names_follow_the_page() -> None:
    assert tile_index_path(0) == "000"
    assert tile_index_path(1234067) == "x001/x234/067"
    assert entries_name(3, 256) == "tile/entries/003"
    assert entries_name(1000, 17) == "tile/entries/x001/000.p/17"
    assert tile_name(1, 0, 2) == "tile/1/000.p/2"
    assert checkpoint_name(701) == "checkpoints/00000000000000000701"


class TreeSource:
    """The tiles of a tree of `leaves`, as an archive would hold them."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.objects: dict[str, bytes] = {}
        level, hashes = 0, leaves
        while hashes:
            for index in range(0, len(hashes), 256):
                tile = hashes[index : index + 256]
                self.objects[tile_name(level, index // 256, len(tile))] = b"".join(tile)
            complete = len(hashes) // 256
            hashes = [
                mth(TreeHash(blake3), hashes[i * 256 : i * 256 + 256]) for i in range(complete)
            ]
            level += 1

    def describe(self) -> str:
        return "memory"

    def get(self, name: str) -> bytes | None:
        return self.objects.get(name)


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 700, 65_536, 65_537, 70_001])
def test_tile_tree_root_and_proofs_match_rfc9162(size: int) -> None:
    t = TreeHash(blake3)
    leaves = [blake3(i.to_bytes(8, "little")) for i in range(size)]
    tree = TileTree(TreeSource(leaves), size, blake3)
    root = mth(t, leaves)
    assert tree.root() == root
    for m in {0, size // 3, size - 1}:
        proof = tree.inclusion_proof(m)
        if size <= 1024:
            assert proof == path(t, m, leaves)
        assert verify_inclusion(t, m, size, leaves[m], proof, root)
    for m in {1, size // 2, size - 1}:
        if 0 < m < size <= 1024:
            assert tree.consistency_proof(m) == consistency(t, m, leaves)
    # An overlay of recomputed leaves over a middle range gives the same root.
    lo, hi = size // 4, size // 4 + min(size, 600) // 2
    tree.set_overlay({s: leaves[s] for s in range(lo, hi)}, lo, hi)
    assert tree.root() == root


def test_overlay_leaf_that_differs_changes_the_root() -> None:
    leaves = [blake3(i.to_bytes(2, "little")) for i in range(300)]
    tree = TileTree(TreeSource(leaves), 300, blake3)
    overlay = {s: leaves[s] for s in range(10, 290)}
    overlay[200] = blake3(b"another entry")
    tree.set_overlay(overlay, 10, 290)
    assert tree.root() != mth(TreeHash(blake3), leaves)


def test_bad_objects_are_layout_errors_not_crashes() -> None:
    bad = [
        b"",
        b"\x07" + bytes(8),  # unknown codec
        b"\x00" + bytes(4) + (5).to_bytes(4, "little") + b"abc",  # raw_len says 5, holds 3
        b"\x01" + bytes(4) + (3).to_bytes(4, "little") + b"not zstd",
    ]
    for data in bad:
        with pytest.raises(LayoutError):
            decode_stored_value(data)
    for piece in [b"", (0).to_bytes(4, "little"), (2).to_bytes(4, "little") + b"\xff\xff\xff\xff"]:
        with pytest.raises(LayoutError):
            decode_entry_piece(piece)
    for piece in [(1).to_bytes(4, "little") + b"\x03", (1).to_bytes(4, "little") + b"\x01\x05"]:
        with pytest.raises(LayoutError):
            decode_payload_piece(piece)


def test_derived_salts_match_the_pages_vectors() -> None:
    # storage-v2 "Derived salts", the same vectors as the Rust reader's tests.
    key = bytes(range(32))
    assert derive_salt(key, 0, 0).hex().startswith("c00cb58d")
    assert derive_salt(key, 0, 0).hex().endswith("f42e70f5")
    assert derive_salt(key, 257, 1).hex().startswith("11bbde03")
    assert derive_salt(key, 257, 1).hex().endswith("d30e76d7")


def test_a_keyed_payload_piece_puts_derived_salts_back() -> None:
    key = bytes(range(32))
    first = 512

    def derived(payload: bytes) -> bytes:
        return b"\x03" + len(payload).to_bytes(4, "little") + payload

    stored = b"\x01" + (32 + 2).to_bytes(4, "little") + b"\x05" * 32 + b"{}"
    piece = (
        (2 | (1 << 31)).to_bytes(4, "little")
        + key
        + derived(b'{"a":1}')
        + stored
        + b"\x00"
        + derived(b"7")
    )
    slots = decode_payload_piece(piece, first)
    assert slots[0][0].salt == derive_salt(key, first, 0)
    assert slots[0][0].payload == b'{"a":1}'
    assert slots[0][1].salt == b"\x05" * 32 and slots[0][1].payload == b"{}"
    assert slots[1][1].salt == derive_salt(key, first + 1, 1)
    # Read as if at other seqs, the salts differ: they are bound to their seq.
    assert decode_payload_piece(piece, first + 256)[0][0].salt != slots[0][0].salt
    # Every cut of the piece is an error, never a wrong answer.
    for cut in range(len(piece)):
        with pytest.raises(LayoutError):
            decode_payload_piece(piece[:cut], first)
