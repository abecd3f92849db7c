"""Object names and object bytes of a Cairn archive, from schemas/archive-v1.md.

Pure functions, no I/O: the names a reader computes from a checkpoint's tree size, and
the decoding of the stored values (schemas/storage-v2.md "Stored values") and of the
entry and payload pieces inside them ("Entry piece", "Payload piece"). Every decoding
error is a `LayoutError` naming what is wrong; nothing here trusts a declared length
before checking it against the bytes that remain.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import zstandard

from hashing import blake3_keyed

WINDOW = 256
"""Entries per window, hashes per tile (archive-v1 "Objects")."""

TILE_HEIGHT = 8
"""Tree levels per tile level: tile level L holds the subtrees of height 8L."""

RAW_LEN_MAX = 256 * 1024 * 1024
"""A stored value's raw length is at most 256 MiB (storage-v2 "Stored values")."""

FORM2_FLAG = 0x8000_0000
PREV_HASH_AT = 9
"""Bytes 9..41 of an entry are its prev_hash; form 2 pieces leave them out."""

SLOT_NONE = 0x00
SLOT_STORED = 0x01
SLOT_ERASED = 0x02
SLOT_DERIVED = 0x03
SALT_BYTES = 32
KEYED = 1 << 31
"""Bit 31 of a payload piece's count: form 2, a window key follows (storage-v2
"Payload piece")."""


def derive_salt(key: bytes, seq: int, slot: int) -> bytes:
    """storage-v2 "Derived salts": BLAKE3 keyed with the window key, over
    seq (u64 LE) || slot (u8: 0 input, 1 output)."""
    return blake3_keyed(key, struct.pack("<QB", seq, slot))


class LayoutError(Exception):
    """An object's bytes do not have the shape the layout gives them."""


def tile_index_path(n: int) -> str:
    """`<N>` as in tlog-tiles: groups of three digits, all but the last prefixed `x`."""
    if n < 0:
        raise ValueError(f"negative index {n}")
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])


def _partial(name: str, width: int) -> str:
    return name if width == WINDOW else f"{name}.p/{width}"


def window_width(size: int, window: int) -> int:
    """How many entries of `window` a tree of `size` holds (0 to 256)."""
    return max(0, min(WINDOW, size - window * WINDOW))


def entries_name(window: int, width: int) -> str:
    return _partial(f"tile/entries/{tile_index_path(window)}", width)


def payloads_name(window: int, width: int) -> str:
    return _partial(f"tile/payloads/{tile_index_path(window)}", width)


def tile_name(level: int, index: int, width: int) -> str:
    return _partial(f"tile/{level}/{tile_index_path(index)}", width)


def checkpoint_name(size: int) -> str:
    """`checkpoints/<size>`: the size as 20 zero-padded decimal digits."""
    return f"checkpoints/{size:020d}"


def level_count(size: int) -> int:
    """The hashes a tree of `size` has at tile level L is `size >> 8L`; this is the
    number of tile levels with at least one hash."""
    levels = 0
    while size >> (TILE_HEIGHT * levels) > 0:
        levels += 1
    return levels


def tile_width(size: int, level: int, index: int) -> int:
    """How many hashes tile `index` of tile `level` holds in a tree of `size` (0-256)."""
    n = size >> (TILE_HEIGHT * level)
    return max(0, min(WINDOW, n - index * WINDOW))


def decode_stored_value(data: bytes) -> bytes:
    """`codec (u8) ‖ dict_id (u32) ‖ raw_len (u32) ‖ bytes` to the raw piece."""
    if len(data) < 9:
        raise LayoutError(f"stored value of {len(data)} bytes is shorter than its 9-byte header")
    codec = data[0]
    dict_id, raw_len = struct.unpack_from("<II", data, 1)
    body = data[9:]
    if dict_id != 0:
        raise LayoutError(f"dict_id {dict_id}: version 2 trains no dictionary")
    if raw_len > RAW_LEN_MAX:
        raise LayoutError(f"raw_len {raw_len} is over the 256 MiB limit")
    if codec == 0:
        raw = body
    elif codec == 1:
        raw = _unzstd(body, raw_len)
    else:
        raise LayoutError(f"unknown codec {codec} (0 raw, 1 zstd)")
    if len(raw) != raw_len:
        raise LayoutError(f"raw piece is {len(raw)} bytes, its header says {raw_len}")
    return raw


def _unzstd(body: bytes, raw_len: int) -> bytes:
    """One zstd frame, decompressed to at most raw_len bytes (+1 to see an overrun)."""
    try:
        reader = zstandard.ZstdDecompressor().decompressobj()
        raw = reader.decompress(body)
    except zstandard.ZstdError as e:
        raise LayoutError(f"not one valid zstd frame: {e}") from None
    if not reader.eof:
        raise LayoutError("the zstd frame ends before its end mark")
    if reader.unused_data:
        raise LayoutError(f"{len(reader.unused_data)} bytes after the zstd frame")
    if len(raw) > raw_len:
        raise LayoutError(f"zstd frame holds more than the {raw_len} bytes its header says")
    return raw


@dataclass(frozen=True)
class StoredEntry:
    """One entry of an entry piece, as stored."""

    data: bytes
    """The stored bytes: the whole entry (form 1) or the entry without bytes 9..41 (form 2)."""
    has_prev_hash: bool
    """False for form 2: the prev_hash must be put back from the level-0 tile."""

    def rebuild(self, prev_hash: bytes) -> bytes:
        """The entry bytes, with `prev_hash` put back for form 2."""
        if self.has_prev_hash:
            return self.data
        return self.data[:PREV_HASH_AT] + prev_hash + self.data[PREV_HASH_AT:]


def decode_entry_piece(raw: bytes) -> list[StoredEntry]:
    """An entry piece (form 1 or 2) to its stored entries, in seq order."""
    if len(raw) < 4:
        raise LayoutError("entry piece shorter than its 4-byte count")
    (word,) = struct.unpack_from("<I", raw, 0)
    form2 = bool(word & FORM2_FLAG)
    count = word & ~FORM2_FLAG
    if not 1 <= count <= WINDOW:
        raise LayoutError(f"entry piece count {count} is not 1..=256")
    out: list[StoredEntry] = []
    pos = 4
    for i in range(count):
        if len(raw) - pos < 4:
            raise LayoutError(f"entry piece ends before the length of its entry {i}")
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if n > len(raw) - pos:
            raise LayoutError(f"entry {i} of the piece declares {n} bytes, {len(raw) - pos} left")
        if form2 and n < PREV_HASH_AT:
            raise LayoutError(f"entry {i} of a form-2 piece is only {n} bytes")
        out.append(StoredEntry(raw[pos : pos + n], has_prev_hash=not form2))
        pos += n
    if pos != len(raw):
        raise LayoutError(f"{len(raw) - pos} bytes left over after the entry piece")
    return out


@dataclass(frozen=True)
class Slot:
    """One payload slot of a payload piece."""

    state: int
    """SLOT_NONE, SLOT_STORED or SLOT_ERASED (SLOT_DERIVED only inside the decoder)."""
    salt: bytes = b""
    payload: bytes = b""
    redaction_seq: int = 0


def decode_payload_piece(raw: bytes, first_seq: int = 0) -> list[tuple[Slot, Slot]]:
    """A payload piece whose first entry is `first_seq` to its (input, output) slot
    pairs, in seq order, every salt in place (derived ones put back from the key)."""
    if len(raw) < 4:
        raise LayoutError("payload piece shorter than its 4-byte count")
    (word,) = struct.unpack_from("<I", raw, 0)
    count = word & ~KEYED
    if count > WINDOW:
        raise LayoutError(f"payload piece count {count} is over 256")
    pos = 4
    key: bytes | None = None
    if word & KEYED:
        if len(raw) < 36:
            raise LayoutError("payload piece ends in its window key")
        key, pos = raw[4:36], 36
    out: list[tuple[Slot, Slot]] = []
    for i in range(count):
        pair = []
        for side, which in enumerate(("input", "output")):
            slot, pos = _read_slot(raw, pos, f"the {which} slot of record {i}")
            if slot.state == SLOT_DERIVED:
                if key is None:
                    raise LayoutError(f"{which} slot of record {i} derives its salt, no key")
                slot = Slot(SLOT_STORED, derive_salt(key, first_seq + i, side), slot.payload)
            pair.append(slot)
        out.append((pair[0], pair[1]))
    if pos != len(raw):
        raise LayoutError(f"{len(raw) - pos} bytes left over after the payload piece")
    return out


def _read_slot(raw: bytes, pos: int, what: str) -> tuple[Slot, int]:
    if pos >= len(raw):
        raise LayoutError(f"payload piece ends before {what}")
    tag = raw[pos]
    pos += 1
    if tag == SLOT_NONE:
        return Slot(SLOT_NONE), pos
    if tag == SLOT_STORED:
        n, pos = _read_len(raw, pos, what)
        if n < SALT_BYTES or n > len(raw) - pos:
            raise LayoutError(f"{what} declares {n} bytes ({len(raw) - pos} left, salt is 32)")
        salt, payload = raw[pos : pos + SALT_BYTES], raw[pos + SALT_BYTES : pos + n]
        return Slot(SLOT_STORED, salt=salt, payload=payload), pos + n
    if tag == SLOT_ERASED:
        if len(raw) - pos < 8:
            raise LayoutError(f"payload piece ends in the redaction seq of {what}")
        (seq,) = struct.unpack_from("<Q", raw, pos)
        return Slot(SLOT_ERASED, redaction_seq=seq), pos + 8
    if tag == SLOT_DERIVED:
        n, pos = _read_len(raw, pos, what)
        if n > len(raw) - pos:
            raise LayoutError(f"{what} declares {n} bytes ({len(raw) - pos} left)")
        return Slot(SLOT_DERIVED, payload=raw[pos : pos + n]), pos + n
    raise LayoutError(f"unknown tag {tag} of {what} (0 none, 1 stored, 2 erased, 3 derived)")


def _read_len(raw: bytes, pos: int, what: str) -> tuple[int, int]:
    """The u32 LE length of a slot at `pos`, and the position after it."""
    if len(raw) - pos < 4:
        raise LayoutError(f"payload piece ends in the length of {what}")
    (n,) = struct.unpack_from("<I", raw, pos)
    return n, pos + 4


def split_hashes(raw: bytes, expected: int) -> list[bytes]:
    """A tile's bytes to its hashes; the tile must hold exactly `expected` of them."""
    if len(raw) != 32 * expected:
        raise LayoutError(f"tile of {len(raw)} bytes, expected {expected} hashes of 32 bytes")
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]
