"""Writer rules: what a writer must produce beyond bytes that decode (string limits and
control characters, sorted attributes and `params` keys, finite numbers, redaction
targets), which a verifier may report.

Follows schemas/entry-v1.md "Rules" / "Writing" (and "Payload bytes" for the key order
of JSON objects).
"""

from __future__ import annotations

import json
import math
from typing import Any

FIELD_BYTES_MAX = 1024
ATTRIBUTES_MAX = 64


# ---------------------------------------------------------------------------
# Writer rules ("Rules", "Writing").
# ---------------------------------------------------------------------------


def is_control(c: str) -> bool:
    o = ord(c)
    return o <= 0x1F or 0x7F <= o <= 0x9F


def check_field(what: str, s: str, non_empty: bool = True) -> list[str]:
    problems = []
    if non_empty and s == "":
        problems.append(f"{what} is empty")
    if len(s.encode("utf-8")) > FIELD_BYTES_MAX:
        problems.append(f"{what} is longer than {FIELD_BYTES_MAX} bytes")
    if any(is_control(c) for c in s):
        problems.append(f"{what} contains a control character")
    return problems


def writer_rule_problems(entry: dict[str, Any], previous: dict[int, dict[str, Any]]) -> list[str]:
    b = entry["body"]
    problems: list[str] = []
    if b["variant"] == "DecisionV1":
        problems += check_field("stream", b["stream"])
        problems += check_field("model.name", b["model"]["name"])
        problems += check_field("model.version", b["model"]["version"])
        if b["model"]["digest"] is not None:
            problems += check_field("model.digest", b["model"]["digest"])
        for f in [
            "request_id",
            "trace_id",
            "span_id",
            "subject",
            "session",
            "operation",
            "decision",
            "idempotency_key",
        ]:
            if b[f] is not None:
                problems += check_field(f, b[f])
        keys = [k.encode("utf-8") for k, _ in b["attributes"]]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            problems.append("attributes are not sorted by key bytes with unique keys")
        if len(keys) > ATTRIBUTES_MAX:
            problems.append("more than 64 attributes")
        for k, v in b["attributes"]:
            problems += check_field("attribute key", k) + check_field("attribute value", v, False)
        if b["params"] is not None:
            try:
                params = json.loads(b["params"])
            except ValueError:
                problems.append("params is not JSON")
            else:
                if not isinstance(params, dict):
                    problems.append("params is not a JSON object")
                elif not keys_sorted(params):
                    problems.append("params object keys are not sorted")
        for f in ["score", "latency_ms"]:
            if b[f] is not None and not math.isfinite(b[f]):
                problems.append(f"{f} is not finite")
        if b["latency_ms"] is not None and b["latency_ms"] < 0:
            problems.append("latency_ms is negative")
    elif b["variant"] == "RedactionV1":
        if not b["slots"]:
            problems.append("redaction names no slot")
        target = b["target_seq"]
        if target >= entry["seq"]:
            problems.append("redaction target is not an earlier entry")
        elif target in previous and previous[target]["body"]["variant"] != "DecisionV1":
            problems.append("redaction target is not a decision")
    return problems


def keys_sorted(v: Any) -> bool:
    """Whether every object in a parsed JSON value has its keys in UTF-8 byte order."""
    if isinstance(v, dict):
        keys = [k.encode("utf-8") for k in v]
        return keys == sorted(keys) and all(keys_sorted(x) for x in v.values())
    if isinstance(v, list):
        return all(keys_sorted(x) for x in v)
    return True


def keys_in_order(text: str) -> bool:
    """Whether the object members in JSON text appear with keys in UTF-8 byte order."""
    ok = True

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal ok
        keys = [k.encode("utf-8") for k, _ in pairs]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            ok = False
        return dict(pairs)

    json.loads(text, object_pairs_hook=hook)
    return ok
