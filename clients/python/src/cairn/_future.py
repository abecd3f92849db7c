"""The future :meth:`cairn.Recorder.record` returns: a
:class:`concurrent.futures.Future` whose condition variable is made only when
someone waits on it, adds a callback or cancels it.

``Future()`` builds a ``threading.Condition`` (a Python ``__init__``, an RLock,
a deque and five bound methods) and two lists for every decision, which a
service that records and moves on never uses: eleven objects the garbage
collector tracks per live future (one for this class, counted with
``gc.get_objects``). Making them, and the collector's passes over them, were
about 8 of the 20 µs of CPU a ``record()`` call took (BENCHMARKS.md, "Python
client").

Every method of ``Future`` that reads or changes its state does so under
``self._condition`` (and ``concurrent.futures.wait``/``as_completed`` take it
too), so the condition is a property that makes it on first use, under one
module lock. While it does not exist nobody can be waiting or have added a
callback, so :meth:`set_result`/:meth:`set_exception` may settle the future
under that module lock alone; once it exists they are ``Future``'s own.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, InvalidStateError
from concurrent.futures._base import FINISHED, PENDING
from typing import Any, TypeVar

T = TypeVar("T")

_MAKE = threading.Lock()
"""Held to make a future's condition, and to settle a future that has none."""


class LazyFuture(Future[T]):
    """A ``concurrent.futures.Future`` that makes its condition on first use."""

    def __init__(self) -> None:
        # Future.__init__'s attributes, but the condition and the lists of
        # waiters and callbacks, which are only used under the condition.
        self._lazy_condition: threading.Condition | None = None
        self._state = PENDING
        self._result: Any = None
        self._exception: BaseException | None = None

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        c = self._lazy_condition
        if c is None:
            with _MAKE:
                c = self._lazy_condition
                if c is None:
                    self._waiters: list[Any] = []
                    self._done_callbacks: list[Any] = []
                    c = self._lazy_condition = threading.Condition()
        return c

    def set_result(self, result: T) -> None:
        if self._lazy_condition is None:
            with _MAKE:
                if self._lazy_condition is None:
                    if self._state != PENDING:
                        raise InvalidStateError(f"the future is already {self._state}")
                    self._result = result
                    self._state = FINISHED
                    return
        super().set_result(result)

    def set_exception(self, exception: BaseException | None) -> None:
        if self._lazy_condition is None:
            with _MAKE:
                if self._lazy_condition is None:
                    if self._state != PENDING:
                        raise InvalidStateError(f"the future is already {self._state}")
                    self._exception = exception
                    self._state = FINISHED
                    return
        super().set_exception(exception)

    def _settled(self) -> bool:
        """True when settled and never waited on: its outcome is final and read
        without making a condition."""
        if self._lazy_condition is not None:
            return False
        with _MAKE:
            return self._lazy_condition is None and self._state == FINISHED

    def done(self) -> bool:
        if self._lazy_condition is None:
            with _MAKE:
                if self._lazy_condition is None:
                    return self._state == FINISHED
        return super().done()

    def result(self, timeout: float | None = None) -> T:
        if self._settled():
            if self._exception is not None:
                raise self._exception
            result: T = self._result
            return result
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if self._settled():
            return self._exception
        return super().exception(timeout)
