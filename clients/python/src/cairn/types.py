"""Decisions as the client takes them, the receipts it gives back, and its errors.

A decision is a :class:`Decision` or any ``dict`` in the shape of
``schemas/decision.schema.json``; the client checks only that it is a JSON
object and leaves the rest to ``cairnd``, whose answer reaches the caller as
:class:`Rejected`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Model:
    """The model that decided."""

    name: str
    """Model name, e.g. ``fraud-model``."""
    version: str
    """Model version, e.g. ``7.2.0``."""
    digest: str | None = None
    """Content digest of the model artefact, e.g. ``sha256:<hex>``."""

    def to_json(self) -> dict[str, Any]:
        """The model as the decision's ``model`` member."""
        out: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.digest is not None:
            out["digest"] = self.digest
        return out


_OPTIONAL = (
    "request_id",
    "trace_id",
    "span_id",
    "subject",
    "session",
    "event_time",
    "operation",
    "params",
    "decision",
    "score",
    "latency_ms",
    "idempotency_key",
)


@dataclass
class Decision:
    """One model decision, with the fields of ``schemas/decision.schema.json``.

    Unset optional fields are left out of what is sent.
    """

    stream: str
    """The producer's stream, e.g. ``payments.fraud``."""
    model: Model
    """The model that decided."""
    input: Any
    """What the model saw: any JSON value."""
    output: Any
    """What the model answered: any JSON value."""
    request_id: str | None = None
    """The producer's request id."""
    trace_id: str | None = None
    """W3C trace-context trace id."""
    span_id: str | None = None
    """W3C trace-context span id."""
    subject: str | None = None
    """Who the decision is about."""
    session: str | None = None
    """Conversation or session the decision belongs to."""
    event_time: str | None = None
    """When the decision was made: RFC 3339 with a UTC offset."""
    operation: str | None = None
    """Operation name, e.g. ``score_transaction``."""
    params: dict[str, Any] | None = None
    """Model parameters (temperature, seed, ...)."""
    decision: str | None = None
    """Decision label, e.g. ``approve``."""
    score: float | None = None
    """Decision score."""
    latency_ms: float | None = None
    """Model latency in milliseconds."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Free-form string attributes (at most 64)."""
    idempotency_key: str | None = None
    """Makes retries safe; the recorder makes one up when it is ``None``."""

    def to_json(self) -> dict[str, Any]:
        """The decision as the JSON object the daemon takes."""
        out: dict[str, Any] = {
            "stream": self.stream,
            "model": self.model.to_json(),
            "input": self.input,
            "output": self.output,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.attributes:
            out["attributes"] = self.attributes
        return out


class Receipt(NamedTuple):
    """Proof that a decision is durable in the ledger.

    ``cairn verify``, the daemon's inclusion proofs and :func:`cairn.verify_receipt`
    check against the same two values, ``seq`` and ``leaf_hash``. A named tuple
    rather than a dataclass: a busy recorder makes tens of thousands a second,
    and a tuple is built several times faster.
    """

    seq: int
    """The entry's sequence number."""
    leaf_hash: str
    """The entry's leaf hash ``BLAKE3(0x00 || entry bytes)``, lower-case hex."""
    duplicate: bool = False
    """True when the daemon already held a decision with this idempotency key on
    this stream (an earlier attempt was stored) and answered with its receipt
    instead of appending again."""


@dataclass(frozen=True)
class Stats:
    """Counters since the recorder was created."""

    requests: int
    """HTTP requests sent, retries included."""
    retries: int
    """Of those, attempts after a transient failure."""
    recorded: int
    """Decisions answered with a receipt."""
    failed: int
    """Decisions answered with an error."""
    dropped: int
    """Decisions not queued because the queue stayed full (``on_full="drop"``)."""


class CairnError(Exception):
    """Base class of every error of this package."""


class InvalidDecision(CairnError):
    """The decision is not a JSON object, or cannot be written as JSON."""


class Rejected(CairnError):
    """The daemon refused the decision; sending it again will not help.

    For a decision in a batch, ``message`` is the daemon's error for that
    decision's line, and the other decisions of the batch are unaffected.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"cairnd refused the decision ({status} {code}): {message}")
        self.status = status
        """HTTP status of the answer."""
        self.code = code
        """The daemon's stable error code, e.g. ``invalid_batch`` or ``forbidden``."""
        self.message = message
        """What the daemon said."""


class GaveUp(CairnError):
    """Every attempt met an overloaded or unreachable daemon.

    The decision may still have been stored by an attempt whose answer was
    lost: record it again with the same ``idempotency_key`` to find out.
    """

    def __init__(self, attempts: int, last: str) -> None:
        super().__init__(f"gave up after {attempts} attempts; the last one: {last}")
        self.attempts = attempts
        self.last = last


class ProtocolError(CairnError):
    """The daemon answered with something this client does not understand."""


class QueueFull(CairnError):
    """The recorder's queue stayed full for the configured time."""


class Closed(CairnError):
    """The recorder is closed; it takes no more decisions."""
