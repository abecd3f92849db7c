"""The checks of an evidence bundle: its document, key, checkpoint, entries, inclusion
proofs, the hash chain between adjacent entries, payload commitments and erasures.

Follows schemas/bundle-v1.md "Verification" (and "Document", "Entry object", "Payloads
object"), with entries, proofs and checkpoints as schemas/entry-v1.md defines them.
"""

from __future__ import annotations

import json
from typing import Any

from checkpoint_note import open_note
from entry_codec import SLOT_NAMES, DecodeError, decode_entry
from hashing import ZERO_HASH, blake3
from merkle import TreeHash, verify_inclusion


def bundle_problems(text: str, trusted_key: str) -> list[str]:
    """The checks of bundle-v1.md, Verification, with the trusted key `trusted_key`."""
    doc = json.loads(text)
    if doc.get("format") != "cairn-bundle" or doc.get("version") != 1:
        return ["not a version 1 cairn-bundle"]
    if set(doc) != {"format", "version", "verifier_key", "checkpoint", "entries"}:
        return ["wrong top-level members"]
    if doc["verifier_key"] != trusted_key:
        return ["verifier_key is not the trusted key"]
    try:
        _, size, root, _, _ = open_note(doc["checkpoint"], trusted_key)
    except ValueError as err:
        return [f"checkpoint: {err}"]
    problems: list[str] = []
    t = TreeHash(blake3)
    prev: tuple[int, bytes] | None = None
    entries = doc["entries"]
    by_seq: dict[int, dict[str, Any]] = {}
    for item in entries:
        seq = item["seq"]
        try:
            data = bytes.fromhex(item["entry"])
            e = decode_entry(data)
        except (ValueError, DecodeError) as err:
            problems.append(f"seq {seq}: {err}")
            continue
        leaf = blake3(b"\x00" + data)
        if e["seq"] != seq or seq >= size or (prev is not None and seq <= prev[0]):
            problems.append(f"seq {seq}: out of order or out of the tree")
        if leaf.hex() != item["leaf_hash"]:
            problems.append(f"seq {seq}: leaf_hash")
        proof = [bytes.fromhex(h) for h in item["proof"]]
        if not verify_inclusion(t, seq, size, leaf, proof, root):
            problems.append(f"seq {seq}: inclusion proof")
        if seq == 0 and e["prev_hash"] != ZERO_HASH.hex():
            problems.append("seq 0: prev_hash is not zeros")
        if prev is not None and prev[0] + 1 == seq and e["prev_hash"] != prev[1].hex():
            problems.append(f"seq {seq}: prev_hash does not link to seq {prev[0]}")
        prev = (seq, leaf)
        by_seq[seq] = e
        problems += payload_problems(seq, e, item.get("payloads"), by_seq, entries)
    return problems


def payload_problems(
    seq: int,
    e: dict[str, Any],
    payloads: dict[str, Any] | None,
    by_seq: dict[int, dict[str, Any]],
    entries: list[dict[str, Any]],
) -> list[str]:
    body = e["body"]
    if body["variant"] != "DecisionV1":
        return [] if payloads is None else [f"seq {seq}: payloads on a non-decision entry"]
    if payloads is None or set(payloads) != set(SLOT_NAMES):
        return [f"seq {seq}: payloads must hold input and output"]
    problems = []
    for slot in SLOT_NAMES:
        content = payloads[slot]
        ref = body[slot]
        if set(content) == {"salt", "text"}:
            data = content["text"].encode("utf-8")
            salt = bytes.fromhex(content["salt"])
            if len(data) != ref["len"] or blake3(salt + data).hex() != ref["commitment"]:
                problems.append(f"seq {seq}: {slot} payload does not match its commitment")
        elif set(content) == {"erased_by"}:
            by = content["erased_by"]
            red = next((x for x in entries if x["seq"] == by), None)
            r = decode_entry(bytes.fromhex(red["entry"]))["body"] if red else None
            if (
                r is None
                or r["variant"] != "RedactionV1"
                or r["target_seq"] != seq
                or slot not in r["slots"]
                or by <= seq
            ):
                problems.append(f"seq {seq}: {slot} erased_by {by} is not a redaction of it")
        else:
            problems.append(f"seq {seq}: {slot} slot object")
    return problems
