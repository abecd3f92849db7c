"""The wire side of ``POST /v1/decisions``: decisions to NDJSON lines, answers to
receipts and per-line errors, and how long to wait before the next attempt.

Pure functions over bytes, so they are tested without a daemon.
"""

from __future__ import annotations

import itertools
import json
import json.encoder
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .types import Decision, InvalidDecision, Receipt

RETRY_AFTER_MAX_S = 60
"""The longest ``Retry-After`` honoured; a larger value is taken as this, so a
misconfigured proxy cannot park the client for hours."""

RETRYABLE_STATUS = frozenset({408, 429, 502, 503, 504})
"""Answers worth another attempt: the daemon is busy, stopping or unhealthy, a
proxy could not reach it, or the request took too long (it may have been
stored; the idempotency keys make the resend safe)."""

_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)


def _fast_encoder() -> Callable[[Any], str]:
    """Compact JSON through CPython's C encoder made once, without the
    circular-reference bookkeeping that ``JSONEncoder.encode`` sets up on every
    call: about a quarter less time per decision (measured in BENCHMARKS.md).
    A value it does not know raises ``TypeError`` (the caller then tries the
    lenient encoder); a circular one, ``RecursionError``."""
    if _c_make_encoder is None:  # an interpreter without the C speedups
        return _encoder.encode
    c = _c_make_encoder(
        None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
    )
    return lambda obj: "".join(c(obj, 0))


_fast = _fast_encoder()


def _jsonable(value: Any) -> Any:
    """JSON for values the standard encoder does not know: numpy arrays and
    scalars (``tolist``), sets and tuples-like iterables, dataclasses."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    as_json = getattr(value, "to_json", None)
    if callable(as_json):
        return as_json()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_lenient_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_jsonable)


class KeyMaker:
    """Idempotency keys unique across recorders and processes: a random prefix
    chosen once per recorder, then a counter."""

    def __init__(self) -> None:
        self.prefix = "cairn-py-" + os.urandom(16).hex() + "-"
        self._next = itertools.count()

    def line(self, decision: Decision | dict[str, Any]) -> bytes:
        """The decision as one compact JSON line (no newline), with an
        idempotency key added when it has none."""
        if isinstance(decision, Decision):
            obj = decision.to_json()
        elif isinstance(decision, dict):
            obj = decision
        else:
            raise InvalidDecision(
                f"the decision is not a JSON object: got {type(decision).__name__}"
            )
        if obj.get("idempotency_key") is None:
            obj = dict(obj)
            obj["idempotency_key"] = self.prefix + str(next(self._next))
        try:
            try:
                text = _fast(obj)
            except TypeError:
                text = _lenient_encoder.encode(obj)
        except (TypeError, ValueError, RecursionError) as e:
            raise InvalidDecision(f"the decision cannot be written as JSON: {e}") from None
        # Compact JSON never holds a raw newline, so this is one NDJSON line.
        return text.encode("utf-8")


def parse_receipts(body: bytes, expected: int) -> list[Receipt]:
    """The receipts of a ``200`` answer to an NDJSON batch of ``expected``
    decisions; raises ``ValueError`` when it is not that."""
    try:
        raw = json.loads(body)["receipts"]
        receipts = [Receipt(r["seq"], r["leaf_hash"], r.get("duplicate", False)) for r in raw]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"a 200 answer that is not a list of receipts ({e!r})") from None
    if len(receipts) != expected:
        raise ValueError(f"{len(receipts)} receipts for {expected} decisions")
    for r in receipts:
        if type(r.seq) is not int or type(r.leaf_hash) is not str or len(r.leaf_hash) != 64:
            raise ValueError(f"malformed receipt {r!r}")
    return receipts


@dataclass
class ErrorBody:
    """The daemon's error answer: ``{"error", "code", "lines"}``."""

    error: str = ""
    code: str = ""
    lines: list[tuple[int, str]] = field(default_factory=list)
    """``(line, error)``, lines counting from 1."""

    @staticmethod
    def parse(body: bytes) -> ErrorBody:
        """The error answer in ``body``; a body that is not one (a proxy's page,
        say) becomes its text as the message."""
        try:
            v = json.loads(body)
            lines = [(int(x["line"]), str(x["error"])) for x in v.get("lines") or []]
            return ErrorBody(str(v.get("error", "")), str(v.get("code", "")), lines)
        except (ValueError, KeyError, TypeError, AttributeError):
            return ErrorBody(body.decode("utf-8", "replace")[:500])


def backoff_delay_s(
    attempt: int, retry_after_s: int | None, random: float, initial_s: float, max_s: float
) -> float:
    """The wait after failed attempt number ``attempt`` (from 1).

    Without ``Retry-After``: "equal jitter", a random wait between half and all of
    ``initial * 2**(attempt-1)`` (capped at ``max_s``), so that many clients
    turned away at once do not come back at once. With it: the daemon's wait
    plus up to ``initial_s`` of jitter, or the backoff if that is longer.
    """
    random = min(max(random, 0.0), 1.0)
    ceiling = min(initial_s * float(2 ** min(attempt - 1, 62)), max_s)
    backoff = ceiling / 2 + (ceiling / 2) * random
    if retry_after_s is None:
        return backoff
    asked = float(min(retry_after_s, RETRY_AFTER_MAX_S))
    return max(asked + initial_s * random, backoff)


def retry_after(value: str | None) -> int | None:
    """A ``Retry-After`` header in seconds (the HTTP-date form is ignored)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None
