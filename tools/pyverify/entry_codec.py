"""Entry decoding and encoding: the entry's bytes to its fields and back.

Follows schemas/entry-v1.md "Primitive encodings", "The entry", "Entry bodies", "Shared
types" and "Rules" / "Decoding". Decoding rejects what that section says to reject;
encoding is written from the same tables, to check that decoding is lossless.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

FORMAT_VERSION = 0x01
MAX_ENTRY_BYTES = 1_040_384  # 1 MiB - 8 KiB, version byte included

BODY_VARIANTS = ["DecisionV1", "RedactionV1", "ReplayV1", "AlertV1"]
SLOT_NAMES = ["input", "output"]


# ---------------------------------------------------------------------------
# Entry decoding ("Primitive encodings", "The entry", "Entry bodies", "Shared types").
# ---------------------------------------------------------------------------


class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, data: bytes):
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
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value

    def i64(self) -> int:
        value: int = struct.unpack("<q", self.take(8))[0]
        return value

    def f64(self) -> float:
        value: float = struct.unpack("<d", self.take(8))[0]
        return value

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


def same(a: Any, b: Any) -> bool:
    """Equality of decoded values; floats are compared by their 8 bytes."""
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, float) and isinstance(b, float)):
            return False
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------------------
# Entry encoding, from the same tables, to check that decoding is lossless.
# ---------------------------------------------------------------------------


def enc_u32(v: int) -> bytes:
    return struct.pack("<I", v)


def enc_u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def enc_i64(v: int) -> bytes:
    return struct.pack("<q", v)


def enc_f64(v: float) -> bytes:
    return struct.pack("<d", v)


def enc_string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return enc_u64(len(raw)) + raw


def enc_option(v: Any, enc: Callable[[Any], bytes]) -> bytes:
    return b"\x00" if v is None else b"\x01" + enc(v)


def enc_vec(items: list[Any], enc: Callable[[Any], bytes]) -> bytes:
    return enc_u64(len(items)) + b"".join(enc(i) for i in items)


def enc_model(m: dict[str, Any]) -> bytes:
    return enc_string(m["name"]) + enc_string(m["version"]) + enc_option(m["digest"], enc_string)


def enc_payload_ref(p: dict[str, Any]) -> bytes:
    return enc_u64(p["len"]) + bytes.fromhex(p["commitment"])


def encode_entry(e: dict[str, Any]) -> bytes:
    b = e["body"]
    out = bytes([FORMAT_VERSION]) + enc_u64(e["seq"]) + bytes.fromhex(e["prev_hash"])
    out += enc_i64(e["recorded_at_us"]) + enc_u32(BODY_VARIANTS.index(b["variant"]))
    if b["variant"] == "DecisionV1":
        out += enc_string(b["stream"]) + enc_model(b["model"])
        out += enc_option(b["event_time_us"], enc_i64)
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
            out += enc_option(b[field], enc_string)
        out += enc_option(b["score"], enc_f64) + enc_option(b["latency_ms"], enc_f64)
        out += enc_vec(b["attributes"], lambda kv: enc_string(kv[0]) + enc_string(kv[1]))
        out += enc_option(b["idempotency_key"], enc_string)
        out += enc_payload_ref(b["input"]) + enc_payload_ref(b["output"])
    elif b["variant"] == "RedactionV1":
        out += enc_u64(b["target_seq"])
        out += enc_vec(b["slots"], lambda s: enc_u32(SLOT_NAMES.index(s)))
        out += enc_string(b["reason"]) + enc_string(b["actor"])
    elif b["variant"] == "AlertV1":
        out += enc_string(b["stream"]) + enc_string(b["check"])
        out += enc_f64(b["statistic"]) + enc_f64(b["threshold"]) + enc_option(b["p_value"], enc_f64)
        out += enc_model(b["current"]) + enc_model(b["reference"])
        out += enc_u64(b["samples"]) + enc_u64(b["reference_samples"])
        out += enc_i64(b["window_start_us"]) + enc_i64(b["window_end_us"])
    else:
        out += enc_string(b["candidate"]) + enc_option(b["candidate_model"], enc_model)
        out += enc_string(b["selection"])
        out += enc_u64(b["selected"]) + enc_u64(b["replayed"]) + enc_u64(b["errors"])
        out += bytes.fromhex(b["results_digest"])
    return out
