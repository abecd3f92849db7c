"""Decoding canonical entry bytes, from ``schemas/entry-v1.md`` ("Primitive
encodings", "The entry", "Entry bodies", "Shared types", "Decoding").

The same decoder as the independent verifier in ``tools/pyverify``: it rejects
rather than guesses, checks every declared length against the bytes that remain
before reading, and must consume every byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

FORMAT_VERSION = 0x01
MAX_ENTRY_BYTES = 1_040_384  # 1 MiB - 8 KiB, version byte included

BODY_VARIANTS = ["DecisionV1", "RedactionV1", "ReplayV1", "AlertV1"]
KINDS = {
    "DecisionV1": "decision",
    "RedactionV1": "redaction",
    "ReplayV1": "replay",
    "AlertV1": "alert",
}
SLOT_NAMES = ["input", "output"]


class DecodeError(ValueError):
    """The bytes are not a version-1 entry."""


class Reader:
    """Reads the primitive encodings from a byte string, front to back."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise DecodeError(
                f"need {n} bytes at offset {self.pos}, only {len(self.data) - self.pos} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def i64(self) -> int:
        return int(struct.unpack("<q", self.take(8))[0])

    def f64(self) -> float:
        return float(struct.unpack("<d", self.take(8))[0])

    def hash32(self) -> str:
        return self.take(32).hex()

    def string(self) -> str:
        at = self.pos
        n = self.u64()
        # The length is checked against the remaining bytes before anything is read.
        raw = self.take(n)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise DecodeError(f"string at offset {at} is not valid UTF-8: {e}") from None

    def option(self, read: Callable[[], Any]) -> Any:
        at = self.pos
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return read()
        raise DecodeError(f"Option tag {tag} at offset {at} (only 0 and 1 exist)")

    def vec(self, read: Callable[[], Any]) -> list[Any]:
        count = self.u64()
        # Each item takes at least one byte: a count beyond the remaining bytes is an error.
        if count > len(self.data) - self.pos:
            raise DecodeError(f"list of {count} items cannot fit in the remaining bytes")
        return [read() for _ in range(count)]

    def variant(self, names: list[str], what: str) -> int:
        at = self.pos
        index = self.u32()
        if index >= len(names):
            raise DecodeError(f"unknown {what} variant index {index} at offset {at}")
        return index


def read_model(r: Reader) -> dict[str, Any]:
    return {"name": r.string(), "version": r.string(), "digest": r.option(r.string)}


def read_payload_ref(r: Reader) -> dict[str, Any]:
    return {"len": r.u64(), "commitment": r.hash32()}


def read_slot(r: Reader) -> str:
    return SLOT_NAMES[r.variant(SLOT_NAMES, "PayloadSlot")]


def read_decision(r: Reader) -> dict[str, Any]:
    d: dict[str, Any] = {"variant": "DecisionV1"}
    d["stream"] = r.string()
    d["model"] = read_model(r)
    d["event_time_us"] = r.option(r.i64)
    for field in [
        "request_id",
        "trace_id",
        "span_id",
        "subject",
        "session",
        "operation",
        "params",
        "decision",
    ]:
        d[field] = r.option(r.string)
    d["score"] = r.option(r.f64)
    d["latency_ms"] = r.option(r.f64)
    d["attributes"] = r.vec(lambda: [r.string(), r.string()])
    d["idempotency_key"] = r.option(r.string)
    d["input"] = read_payload_ref(r)
    d["output"] = read_payload_ref(r)
    return d


def read_redaction(r: Reader) -> dict[str, Any]:
    return {
        "variant": "RedactionV1",
        "target_seq": r.u64(),
        "slots": r.vec(lambda: read_slot(r)),
        "reason": r.string(),
        "actor": r.string(),
    }


def read_replay(r: Reader) -> dict[str, Any]:
    return {
        "variant": "ReplayV1",
        "candidate": r.string(),
        "candidate_model": r.option(lambda: read_model(r)),
        "selection": r.string(),
        "selected": r.u64(),
        "replayed": r.u64(),
        "errors": r.u64(),
        "results_digest": r.hash32(),
    }


def read_alert(r: Reader) -> dict[str, Any]:
    return {
        "variant": "AlertV1",
        "stream": r.string(),
        "check": r.string(),
        "statistic": r.f64(),
        "threshold": r.f64(),
        "p_value": r.option(r.f64),
        "current": read_model(r),
        "reference": read_model(r),
        "samples": r.u64(),
        "reference_samples": r.u64(),
        "window_start_us": r.i64(),
        "window_end_us": r.i64(),
    }


def decode_entry(data: bytes) -> dict[str, Any]:
    """The entry's fields; raises :class:`DecodeError` on anything but one whole entry."""
    if len(data) == 0:
        raise DecodeError("no bytes")
    if len(data) > MAX_ENTRY_BYTES:
        raise DecodeError(f"entry of {len(data)} bytes is over the size limit")
    if data[0] != FORMAT_VERSION:
        raise DecodeError(f"unknown format version byte 0x{data[0]:02x}")
    r = Reader(data)
    r.u8()
    entry: dict[str, Any] = {"seq": r.u64(), "prev_hash": r.hash32(), "recorded_at_us": r.i64()}
    index = r.variant(BODY_VARIANTS, "EntryBody")
    entry["body"] = [read_decision, read_redaction, read_replay, read_alert][index](r)
    if r.pos != len(data):
        raise DecodeError(f"{len(data) - r.pos} bytes left over after the entry")
    return entry
