"""The recorder: queues decisions without blocking the caller and sends them to
``cairnd`` in NDJSON batches from one background thread.

How it works:

- :meth:`Recorder.record` turns the decision into one JSON line, adds an
  ``idempotency_key`` if it has none, queues it and returns a
  :class:`concurrent.futures.Future` that resolves with its :class:`Receipt`
  once the decision is durable in the ledger (or with the reason it is not).
- The queue holds at most ``queue_entries_max`` decisions without an outcome.
  When it is full, ``record`` waits up to ``queue_full_wait_s`` and then raises
  :class:`QueueFull` (``on_full="raise"``) or drops the decision, counts it in
  :attr:`Stats.dropped` and returns a future failed with :class:`QueueFull`
  (``on_full="drop"``). It never grows without bound.
- The background thread sends a batch as soon as it holds
  ``batch_entries_max`` decisions or ``batch_bytes_max`` bytes, or
  ``flush_interval_ms`` after it started filling, one request at a time, so
  decisions reach the ledger in the order they were recorded.
- ``429``/``503`` (honouring ``Retry-After``), gateway errors, timeouts and
  broken connections are retried with exponential backoff and jitter, up to
  ``retries`` times, resending the same idempotency keys: what the daemon had
  already stored is answered with its original receipt, never appended twice.
- A batch the daemon refuses because of some of its lines fails those
  decisions only, each future with its own :class:`Rejected`; the rest are
  sent again.
- :meth:`Recorder.flush` waits until everything recorded before it has an
  outcome; :meth:`Recorder.close` (also the end of a ``with`` block and, unless
  turned off, interpreter exit) refuses new decisions, delivers the queued
  ones and stops the thread.
"""

from __future__ import annotations

import atexit
import json
import ssl
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Literal

from ._future import LazyFuture
from ._http import ConfigError, Connection, Endpoint
from ._sender import Counters, Job, Sender, log
from ._wire import ErrorBody, KeyMaker
from .types import Closed, Decision, QueueFull, Receipt, Rejected, Stats


class Recorder:
    """A client of one ``cairnd``; thread-safe, one background sender thread.

    >>> with Recorder("http://127.0.0.1:7070") as rec:          # doctest: +SKIP
    ...     fut = rec.record(Decision("payments.fraud", Model("fraud", "7"),
    ...                               {"amount": 120}, {"label": "allow"}))
    ...     print(fut.result().seq)
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        batch_entries_max: int = 1000,
        batch_bytes_max: int = 1 << 20,
        flush_interval_ms: float = 5,
        queue_entries_max: int = 10_000,
        requests_in_flight_max: int = 1,
        on_full: Literal["raise", "drop"] = "raise",
        queue_full_wait_s: float = 1.0,
        retries: int = 8,
        backoff_initial_ms: float = 100,
        backoff_max_ms: float = 10_000,
        request_timeout_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        close_at_exit: bool = True,
    ) -> None:
        """Start a recorder for the daemon at ``url`` (e.g. ``http://127.0.0.1:7070``).

        ``token`` is sent as ``Authorization: Bearer``. ``batch_entries_max``
        should stay at or below the daemon's ``batch_len_max`` (a batch the
        daemon finds too long is split). ``requests_in_flight_max`` is the
        number of sender threads, each with its own connection: with 1,
        decisions reach the ledger in the order they were recorded; more gives
        up that order for throughput. ``retries`` counts attempts after the
        first. ``close_at_exit`` registers :meth:`close` to run at interpreter
        exit, so queued decisions are delivered (waiting at most
        ``EXIT_TIMEOUT_S``, 30 s).
        """
        for name, value in [
            ("batch_entries_max", batch_entries_max),
            ("batch_bytes_max", batch_bytes_max),
            ("queue_entries_max", queue_entries_max),
            ("requests_in_flight_max", requests_in_flight_max),
            ("backoff_initial_ms", backoff_initial_ms),
            ("request_timeout_s", request_timeout_s),
        ]:
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if flush_interval_ms < 0 or queue_full_wait_s < 0 or retries < 0:
            raise ConfigError("flush_interval_ms, queue_full_wait_s and retries cannot be negative")
        if backoff_max_ms < backoff_initial_ms:
            raise ConfigError("backoff_max_ms is shorter than backoff_initial_ms")
        if on_full not in ("raise", "drop"):
            raise ConfigError(f"on_full must be 'raise' or 'drop', got {on_full!r}")
        endpoint = Endpoint.parse(url)
        self.url = url
        self._batch_entries_max = batch_entries_max
        self._batch_bytes_max = batch_bytes_max
        self._interval_s = flush_interval_ms / 1000
        self._queue_max = queue_entries_max
        self._on_full = on_full
        self._full_wait_s = queue_full_wait_s
        self._keys = KeyMaker()
        self._counters = Counters()
        self._dropped = 0
        self._senders = [
            Sender(
                Connection(endpoint, token, request_timeout_s, ssl_context),
                retries,
                backoff_initial_ms / 1000,
                backoff_max_ms / 1000,
                self._counters,
            )
            for _ in range(requests_in_flight_max)
        ]
        self._reads = Connection(endpoint, token, request_timeout_s, ssl_context)
        self._reads_lock = threading.Lock()

        lock = threading.Lock()
        self._lock = lock
        self._wake = threading.Condition(lock)  # the sender waits on it
        self._space = threading.Condition(lock)  # full-queue callers wait on it
        self._done = threading.Condition(lock)  # flush waits on it
        self._pending: deque[Job] = deque()
        self._pending_bytes = 0
        self._outstanding = 0  # queued or in flight, without an outcome
        self._submitted = 0
        self._settled = 0
        self._taken = 0  # decisions handed to a sender, in record order
        self._in_flight: set[int] = set()  # record index of each batch being sent
        self._flush_target = 0
        self._idle = 0  # sender threads waiting for a first decision
        self._filling = False  # one sender thread is waiting for its batch to fill
        self._closed = False
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, args=(sender,), name="cairn-recorder", daemon=True)
            for sender in self._senders
        ]
        for t in self._threads:
            t.start()
        self._atexit: Any = None
        if close_at_exit:
            ref = weakref.ref(self)
            self._atexit = lambda: _close_ref(ref)
            atexit.register(self._atexit)

    # ----------------------------------------------------------------- record

    def record(self, decision: Decision | dict[str, Any]) -> Future[Receipt]:
        """Queue a decision; the future resolves with its receipt once it is
        durable, or with a :class:`CairnError` saying why it is not.

        Raises :class:`InvalidDecision` at once for something that is not a
        JSON object, :class:`Closed` after :meth:`close`, and :class:`QueueFull`
        when the queue stayed full (with ``on_full="raise"``). Cancelling the
        future does not withdraw the decision.
        """
        line = self._keys.line(decision)
        fut: Future[Receipt] = LazyFuture()
        with self._lock:
            if self._closed:
                raise Closed("the recorder is closed")
            if self._outstanding >= self._queue_max and not self._wait_for_space():
                if self._on_full == "raise":
                    raise QueueFull(
                        f"{self._outstanding} decisions are waiting for cairnd "
                        f"(queue_entries_max {self._queue_max})"
                    )
                self._dropped += 1
                fut.set_exception(QueueFull("dropped: the queue stayed full"))
                return fut
            self._pending.append((line, fut))
            self._pending_bytes += len(line) + 1
            self._outstanding += 1
            self._submitted += 1
            self._wake_sender()
        return fut

    def _wake_sender(self) -> None:
        """With the lock held, after queueing: wake an idle sender for a first
        decision, or the filling one once its batch is full."""
        if self._filling:
            if (
                len(self._pending) >= self._batch_entries_max
                or self._pending_bytes >= self._batch_bytes_max
            ):
                self._wake.notify_all()
        elif self._idle:
            self._wake.notify()

    def _wait_for_space(self) -> bool:
        """With the lock held: wait until the queue has room, at most
        ``queue_full_wait_s``. False when it had none."""
        deadline = time.monotonic() + self._full_wait_s
        while self._outstanding >= self._queue_max and not self._closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._space.wait(left)
        if self._closed:
            raise Closed("the recorder was closed while waiting for room in its queue")
        return True

    def try_enqueue(self, decision: Decision | dict[str, Any]) -> Future[Receipt] | None:
        """Like :meth:`record` but never waits: ``None`` when the queue is full."""
        line = self._keys.line(decision)
        fut: Future[Receipt] = LazyFuture()
        with self._lock:
            if self._closed:
                raise Closed("the recorder is closed")
            if self._outstanding >= self._queue_max:
                return None
            self._pending.append((line, fut))
            self._pending_bytes += len(line) + 1
            self._outstanding += 1
            self._submitted += 1
            self._wake_sender()
        return fut

    # ---------------------------------------------------------- flush, close

    def flush(self, timeout: float | None = None) -> None:
        """Send what is queued now and wait until every decision recorded
        before this call has an outcome. Raises ``TimeoutError`` after
        ``timeout`` seconds."""
        with self._lock:
            target = self._submitted
            self._flush_target = max(self._flush_target, target)
            self._wake.notify_all()
            ok = self._done.wait_for(
                lambda: (
                    (self._taken >= target and all(start >= target for start in self._in_flight))
                    or not any(t.is_alive() for t in self._threads)
                ),
                timeout,
            )
            if not ok:
                raise TimeoutError(f"{self._outstanding} decisions still without an outcome")

    def close(self, timeout: float | None = None) -> None:
        """Refuse new decisions, deliver every queued one, and stop the
        background threads. Safe to call more than once.

        Raises ``TimeoutError`` when decisions are still without an outcome
        after ``timeout`` seconds; they go on being delivered (and their
        futures resolved) while the process lives.
        """
        with self._lock:
            self._closed = True
            self._space.notify_all()
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        delivered = False
        try:
            self.flush(timeout)
            delivered = True
        finally:
            with self._lock:
                self._stopping = True
                self._wake.notify_all()
            for t, sender in zip(self._threads, self._senders, strict=True):
                # Once everything is delivered the threads stop at once.
                t.join(None if timeout is None else (max(timeout, 1.0) if delivered else 0))
                if not t.is_alive():  # a thread still delivering keeps its connection
                    sender.conn.close()
            with self._reads_lock:
                self._reads.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> Stats:
        """Counters since the recorder was created."""
        c = self._counters
        return Stats(c.requests, c.retries, c.recorded, c.failed, self._dropped)

    def decision(self, stream: str, model: Any, **options: Any) -> Any:
        """A decorator recording each call of a function: see
        :func:`cairn.decorate.decision`."""
        from .decorate import decision

        return decision(self, stream, model, **options)

    # --------------------------------------------------------- sender thread

    def _run(self, sender: Sender) -> None:
        try:
            while True:
                taken = self._next_batch()
                if taken is None:
                    return
                start, batch = taken
                try:
                    sender.deliver(batch)
                finally:
                    with self._lock:
                        self._in_flight.discard(start)
                        self._settled += len(batch)
                        self._outstanding -= len(batch)
                        self._space.notify_all()
                        self._done.notify_all()
        except BaseException as e:  # a bug here must not leave callers waiting forever
            log.exception("a sender thread of the recorder stopped")
            self._fail_pending(e)
            raise

    def _next_batch(self) -> tuple[int, list[Job]] | None:
        """The next batch and the record index of its first decision, once it
        is full, ``flush_interval_ms`` after it started filling, or wanted by
        a flush; None when the recorder stops."""
        with self._lock:
            while not self._pending or self._filling:
                if not self._pending and self._stopping:
                    return None
                self._idle += 1
                self._wake.wait()
                self._idle -= 1
            self._filling = True
            deadline = time.monotonic() + self._interval_s
            while (
                len(self._pending) < self._batch_entries_max
                and self._pending_bytes < self._batch_bytes_max
                and self._flush_target <= self._taken
                and not self._stopping
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._wake.wait(left)
            self._filling = False
            batch: list[Job] = []
            size = 0
            pending = self._pending
            while pending and len(batch) < self._batch_entries_max:
                line_size = len(pending[0][0]) + 1
                if batch and size + line_size > self._batch_bytes_max:
                    break
                batch.append(pending.popleft())
                size += line_size
            self._pending_bytes -= size
            start = self._taken
            self._taken += len(batch)
            self._in_flight.add(start)
            if self._idle:
                # Another sender may start on what is left, or fill the next batch.
                self._wake.notify()
            return start, batch

    def _fail_pending(self, e: BaseException) -> None:
        with self._lock:
            jobs = list(self._pending)
            self._pending.clear()
            self._settled += len(jobs)
            self._taken += len(jobs)
            self._outstanding -= len(jobs)
            self._closed = True
            self._done.notify_all()
            self._space.notify_all()
        for _, fut in jobs:
            if not fut.done():
                fut.set_exception(Closed(f"the recorder's sender thread stopped: {e!r}"))

    # ------------------------------------------------------------------ reads

    def _get_json(self, route: str) -> Any:
        with self._reads_lock:
            r = self._reads.request("GET", route)
        if r.status != 200:
            e = ErrorBody.parse(r.body)
            raise Rejected(r.status, e.code, e.error)
        return r.body if route == "/v1/checkpoint" else json.loads(r.body)

    def checkpoint(self) -> str:
        """The daemon's newest signed checkpoint note (``GET /v1/checkpoint``).
        Raises :class:`Rejected` with code ``no_checkpoint`` before the first."""
        body: bytes = self._get_json("/v1/checkpoint")
        return body.decode("utf-8")

    def inclusion_proof(self, seq: int, size: int | None = None) -> dict[str, Any]:
        """``GET /v1/proofs/inclusion``: the proof of entry ``seq`` in the tree of
        ``size`` entries, by default the newest checkpoint's (then the answer's
        ``checkpoint`` holds that note)."""
        query = f"?seq={int(seq)}" + ("" if size is None else f"&size={int(size)}")
        proof: dict[str, Any] = self._get_json("/v1/proofs/inclusion" + query)
        return proof

    def entry(self, seq: int) -> dict[str, Any]:
        """``GET /v1/entries/{seq}``: the entry, its payloads and its receipt."""
        entry: dict[str, Any] = self._get_json(f"/v1/entries/{int(seq)}")
        return entry


EXIT_TIMEOUT_S = 30.0
"""How long interpreter exit waits for a recorder's queued decisions."""


def _close_ref(ref: weakref.ref[Recorder]) -> None:
    rec = ref()
    if rec is None:
        return
    try:
        rec.close(timeout=EXIT_TIMEOUT_S)
    except TimeoutError as e:
        log.warning("exiting with decisions not delivered to cairnd: %s", e)
