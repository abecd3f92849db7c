"""Verifying an evidence bundle offline, as ``schemas/bundle-v1.md`` § Verification
says: the document, the key, the signed checkpoint, every entry's bytes, leaf
hash and inclusion proof, and every payload's commitment or erasure.

Every problem found is reported, not only the first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ._entry import KINDS, SLOT_NAMES, DecodeError, decode_entry
from .types import CairnError
from .verify import (
    VerificationError,
    VerifierKey,
    blake3,
    leaf_hash,
    open_checkpoint,
    verify_inclusion,
)

BUNDLE_BYTES_MAX = 1 << 30
_TOP = {"format", "version", "verifier_key", "checkpoint", "entries"}
_ENTRY = {"seq", "leaf_hash", "entry", "proof", "payloads"}


class CannotCheck(CairnError):
    """The bundle could not be checked at all: unreadable, too large, not
    JSON, a bad trusted key, or a format version this code does not know."""


@dataclass
class BundleReport:
    """What checking a bundle found."""

    problems: list[str] = field(default_factory=list)
    """Every check that failed, naming where; empty when the bundle is valid."""
    origin: str = ""
    size: int = 0
    root_hex: str = ""
    key: str = ""
    key_trusted: bool = False
    """False when the bundle was checked with its own embedded key, which only
    shows that it is consistent with itself."""
    decisions: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)
    """The decoded entries, each with ``payloads`` (text or ``erased_by``)."""

    @property
    def valid(self) -> bool:
        """True when no check failed."""
        return not self.problems


def _load(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        if os.path.getsize(path) > BUNDLE_BYTES_MAX:
            raise CannotCheck(f"{path} is larger than 1 GiB")
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CannotCheck(f"cannot read {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != "cairn-bundle":
        raise CannotCheck(f'{path} is not a Cairn bundle (no "format": "cairn-bundle")')
    if doc.get("version") != 1:
        raise CannotCheck(f"bundle version {doc.get('version')!r}: only version 1 can be checked")
    return doc


def _is_hex(s: Any, length: int | None = None) -> bool:
    return (
        isinstance(s, str)
        and (length is None or len(s) == length)
        and len(s) % 2 == 0
        and all(c in "0123456789abcdef" for c in s)
    )


def verify_bundle(path: str | os.PathLike[str], key: str | None = None) -> BundleReport:
    """Check the bundle at ``path``; with ``key`` (a verifier key the caller
    trusts) the checkpoint must be signed by it and the bundle must name it.

    Returns a :class:`BundleReport` (``valid`` tells); raises :class:`CannotCheck`
    when the bundle cannot be checked at all.
    """
    doc = _load(path)
    report = BundleReport()
    bad = report.problems.append
    for extra in sorted(set(doc) - _TOP):
        bad(f"unknown member {extra!r}")
    for name, kind in [("verifier_key", str), ("checkpoint", str), ("entries", list)]:
        if not isinstance(doc.get(name), kind):
            bad(f"member {name!r} is missing or not a {kind.__name__}")
    if report.problems:
        return report

    try:
        trusted = VerifierKey.parse(key) if key is not None else None
    except VerificationError as e:
        raise CannotCheck(f"the given key: {e}") from None
    try:
        embedded = VerifierKey.parse(doc["verifier_key"])
    except VerificationError as e:
        bad(f"verifier_key: {e}")
        embedded = None
    if trusted is not None and embedded is not None and embedded.text != trusted.text:
        bad("verifier_key is not the key given to check with")
    signer = trusted or embedded
    report.key_trusted = trusted is not None
    report.key = signer.text if signer else ""
    if signer is None:
        return report
    try:
        cp = open_checkpoint(doc["checkpoint"], signer)
    except VerificationError as e:
        bad(f"checkpoint: {e}")
        return report
    report.origin, report.size, report.root_hex = cp.origin, cp.size, cp.root.hex()

    entries = doc["entries"]
    if not entries:
        bad("entries is empty")
    by_seq: dict[int, dict[str, Any]] = {}
    previous = -1
    for i, item in enumerate(entries):
        decoded = _check_entry(i, item, previous, cp.size, cp.root, bad)
        if decoded is not None:
            previous = decoded["seq"]
            by_seq[decoded["seq"]] = decoded
            report.entries.append(decoded)
    for decoded in report.entries:
        if decoded["body"]["variant"] == "DecisionV1":
            report.decisions += 1
            _check_payloads(decoded, by_seq, bad)
    return report


def _check_entry(
    i: int, item: Any, previous: int, size: int, root: bytes, bad: Any
) -> dict[str, Any] | None:
    where = f"entries[{i}]"
    if not isinstance(item, dict):
        bad(f"{where} is not an object")
        return None
    for extra in sorted(set(item) - _ENTRY):
        bad(f"{where}: unknown member {extra!r}")
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        bad(f"{where}: seq is missing or not a non-negative integer")
        return None
    where = f"entries[{i}] (seq {seq})"
    if not _is_hex(item.get("entry")):
        bad(f"{where}: entry is not lower-case hex")
        return None
    data = bytes.fromhex(item["entry"])
    try:
        decoded = decode_entry(data)
    except DecodeError as e:
        bad(f"{where}: entry does not decode: {e}")
        return None
    if decoded["seq"] != seq:
        bad(f"{where}: the entry bytes hold seq {decoded['seq']}")
    if seq <= previous:
        bad(f"{where}: not after the previous entry's seq {previous}")
    if seq >= size:
        bad(f"{where}: not in the checkpoint's tree of {size} entries")
    leaf = leaf_hash(data)
    claimed = item.get("leaf_hash")
    if not isinstance(claimed, str) or not _is_hex(claimed, 64):
        bad(f"{where}: leaf_hash is not 64 lower-case hex digits")
    elif bytes.fromhex(claimed) != leaf:
        bad(f"{where}: the entry bytes were altered (they do not hash to leaf_hash)")
    proof = item.get("proof")
    if not isinstance(proof, list) or not all(_is_hex(h, 64) for h in proof):
        bad(f"{where}: proof is not a list of 64-digit lower-case hex hashes")
    elif not verify_inclusion(seq, size, leaf, [bytes.fromhex(h) for h in proof], root):
        bad(f"{where}: the inclusion proof does not reach the checkpoint's root")
    kind = KINDS[decoded["body"]["variant"]]
    payloads = item.get("payloads")
    if kind == "decision":
        if not isinstance(payloads, dict) or set(payloads) != set(SLOT_NAMES):
            bad(f"{where}: payloads must have exactly input and output")
            payloads = {}
        decoded["payloads"] = payloads
    elif payloads is not None:
        bad(f"{where}: a {kind} entry has payloads")
    decoded["kind"] = kind
    decoded["leaf_hash"] = leaf.hex()
    return decoded


def _check_payloads(decoded: dict[str, Any], by_seq: dict[int, dict[str, Any]], bad: Any) -> None:
    seq = decoded["seq"]
    for slot in SLOT_NAMES:
        where = f"seq {seq} {slot}"
        p = decoded["payloads"].get(slot)
        ref = decoded["body"][slot]
        if not isinstance(p, dict):
            bad(f"{where}: slot is not an object")
        elif set(p) == {"salt", "text"}:
            salt, text = p["salt"], p["text"]
            if not _is_hex(salt, 64) or not isinstance(text, str):
                bad(f"{where}: salt must be 64 lower-case hex digits and text a string")
                continue
            raw = text.encode("utf-8")
            if len(raw) != ref["len"]:
                bad(f"{where}: {len(raw)} bytes, the entry committed to {ref['len']}")
            elif blake3(bytes.fromhex(salt) + raw).hex() != ref["commitment"]:
                bad(f"{where}: the payload does not match the entry's commitment")
        elif set(p) == {"erased_by"}:
            by = p["erased_by"]
            r = by_seq.get(by) if isinstance(by, int) else None
            body = r["body"] if r else {}
            if not (
                r is not None
                and body.get("variant") == "RedactionV1"
                and body.get("target_seq") == seq
                and slot in body.get("slots", [])
                and by > seq
            ):
                bad(f"{where}: erased_by {by!r} is not a redaction of this slot in the bundle")
        else:
            bad(f"{where}: a slot holds either salt and text or erased_by")
