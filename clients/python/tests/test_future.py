"""The future ``record()`` returns behaves as a ``concurrent.futures.Future`` for
every way a caller may wait on it, whether it was settled before or after."""

from __future__ import annotations

import threading
from concurrent.futures import InvalidStateError, as_completed, wait

import pytest

from cairn._future import LazyFuture

DEADLINE_S = 60.0


def test_a_waiter_is_woken_by_the_result() -> None:
    f: LazyFuture[int] = LazyFuture()
    got: list[int] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        got.append(f.result(timeout=DEADLINE_S))

    t = threading.Thread(target=waiter)
    t.start()
    assert waiting.wait(DEADLINE_S)
    f.set_result(5)
    t.join(DEADLINE_S)
    assert got == [5]


def test_settled_before_anyone_looks() -> None:
    f: LazyFuture[int] = LazyFuture()
    assert not f.done()
    f.set_result(7)
    assert f.done() and f.result() == 7 and f.exception() is None
    with pytest.raises(InvalidStateError):
        f.set_result(8)
    e: LazyFuture[int] = LazyFuture()
    e.set_exception(ValueError("refused"))
    with pytest.raises(ValueError, match="refused"):
        e.result()
    assert isinstance(e.exception(), ValueError)


def test_callbacks_run_once_settled() -> None:
    f: LazyFuture[int] = LazyFuture()
    got: list[int] = []
    f.add_done_callback(lambda g: got.append(g.result()))
    f.set_result(1)
    late: list[int] = []
    f.add_done_callback(lambda g: late.append(g.result()))
    assert got == [1] and late == [1]


def test_as_completed_and_wait_see_every_future() -> None:
    fs: list[LazyFuture[int]] = [LazyFuture() for _ in range(50)]
    fs[0].set_result(0)  # settled before as_completed looks at it

    def settle() -> None:
        for i, g in enumerate(fs[1:], 1):
            g.set_result(i)

    threading.Thread(target=settle).start()
    assert sorted(g.result() for g in as_completed(fs, timeout=DEADLINE_S)) == list(range(50))
    some: list[LazyFuture[int]] = [LazyFuture() for _ in range(5)]
    some[2].set_result(1)
    done, not_done = wait(some, timeout=0.01)
    assert done == {some[2]} and len(not_done) == 4


def test_a_cancelled_future_refuses_a_result() -> None:
    f: LazyFuture[int] = LazyFuture()
    assert f.cancel() and f.cancelled()
    with pytest.raises(InvalidStateError):
        f.set_result(1)
