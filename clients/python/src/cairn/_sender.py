"""Sending one batch to ``POST /v1/decisions`` until every decision in it has an
outcome: a receipt, or an error for its caller alone.

- ``429``, ``503``, ``502``, ``504``, ``408`` and transport errors are retried
  with backoff (honouring ``Retry-After``), resending the same bytes: the
  idempotency keys make a resend of something already stored answer with the
  original receipts.
- A batch refused for some of its lines (``400``, ``403``, ``413`` with a line
  list) fails those decisions only; the rest are sent again. The daemon stores
  nothing of a refused batch, so this cannot duplicate anything.
- A batch too large for the daemon (``body_too_large``, ``batch_too_long``) is
  split in two, and each half is sent in turn.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

from ._http import Connection
from ._wire import RETRYABLE_STATUS, ErrorBody, backoff_delay_s, parse_receipts, retry_after
from .types import CairnError, GaveUp, ProtocolError, Receipt, Rejected

log = logging.getLogger("cairn")

Job = tuple[bytes, "Future[Receipt]"]
"""One queued decision: its JSON line (no newline) and its caller's future."""


@dataclass
class Counters:
    """Counters shared by the sender threads and :meth:`cairn.Recorder.stats`."""

    requests: int = 0
    retries: int = 0
    recorded: int = 0
    failed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


@dataclass
class _Stored:
    receipts: list[Receipt]


@dataclass
class _Lines:
    refused: dict[int, CairnError]
    """Position in the request -> its error; never empty."""


@dataclass
class _TooLarge:
    error: CairnError


@dataclass
class _Failed:
    error: CairnError


_Answer = _Stored | _Lines | _TooLarge | _Failed


def _settle(future: Future[Receipt], outcome: Receipt | CairnError) -> None:
    # A caller that cancelled its future stopped waiting; that is no error, and
    # the decision was still sent.
    try:
        if isinstance(outcome, Receipt):
            future.set_result(outcome)
        else:
            future.set_exception(outcome)
    except InvalidStateError:
        pass


class Sender:
    """Delivers batches over one connection; used by one thread at a time."""

    def __init__(
        self,
        conn: Connection,
        retries: int,
        backoff_initial_s: float,
        backoff_max_s: float,
        counters: Counters,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn = conn
        self.retries = retries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.counters = counters
        self.sleep = sleep

    def deliver(self, jobs: list[Job]) -> None:
        """Deliver ``jobs`` and settle every future."""
        work = [jobs]
        while work:
            group = work.pop()
            answer = self._send(group)
            if isinstance(answer, _Stored):
                self.counters.add("recorded", len(group))
                # The common path, inlined: settling is a good part of the
                # sender's time per decision (BENCHMARKS.md).
                for (_, fut), receipt in zip(group, answer.receipts, strict=True):
                    try:  # noqa: SIM105 - suppress() is a context manager per decision
                        fut.set_result(receipt)
                    except InvalidStateError:  # cancelled by its caller
                        pass
            elif isinstance(answer, _Lines):
                rest = []
                for i, job in enumerate(group):
                    e = answer.refused.get(i)
                    if e is None:
                        rest.append(job)
                    else:
                        self.counters.add("failed")
                        _settle(job[1], e)
                if rest:
                    work.append(rest)
            elif isinstance(answer, _TooLarge) and len(group) > 1:
                half = len(group) // 2
                log.debug("batch of %d too large for the daemon; splitting", len(group))
                work.append(group[half:])
                work.append(group[:half])
            else:
                self.counters.add("failed", len(group))
                for _, fut in group:
                    _settle(fut, answer.error)

    def _send(self, group: list[Job]) -> _Answer:
        """Send ``group`` as one NDJSON request, retrying transient failures."""
        body = b"\n".join(line for line, _ in group) + b"\n"
        attempt = 0
        while True:
            attempt += 1
            self.counters.add("requests")
            wait_s: int | None = None
            try:
                r = self.conn.request("POST", "/v1/decisions", body, "application/x-ndjson")
            except (OSError, http.client.HTTPException) as e:
                why = f"{type(e).__name__}: {e}"
            else:
                if r.status == 200:
                    try:
                        return _Stored(parse_receipts(r.body, len(group)))
                    except ValueError as e:
                        return _Failed(ProtocolError(str(e)))
                if r.status not in RETRYABLE_STATUS:
                    return _refused(r.status, r.body, len(group))
                eb = ErrorBody.parse(r.body)
                wait_s = retry_after(r.retry_after)
                why = f"{r.status} {eb.code}: {eb.error}"
            if attempt > self.retries:
                return _Failed(GaveUp(attempt, why))
            delay = backoff_delay_s(
                attempt, wait_s, random.random(), self.backoff_initial_s, self.backoff_max_s
            )
            log.debug("attempt %d failed (%s); retrying in %.3f s", attempt, why, delay)
            self.counters.add("retries")
            self.sleep(delay)


def _refused(status: int, body: bytes, decisions: int) -> _Answer:
    """A final refusal: per line when the daemon listed lines, else for all."""
    e = ErrorBody.parse(body)
    # Lines count every line of the body from 1, and the body is one decision
    # per line, so line n is decision n-1.
    lines: dict[int, CairnError] = {
        line - 1: Rejected(status, e.code, message)
        for line, message in e.lines
        if 1 <= line <= decisions
    }
    if lines:
        return _Lines(lines)
    whole = Rejected(status, e.code, e.error)
    if e.code in ("body_too_large", "batch_too_long"):
        return _TooLarge(whole)
    return _Failed(whole)
