"""The asyncio flavour: the same recorder, with awaitables that never block the
event loop.

The sending still happens on the recorder's own thread (one keep-alive
connection, batches by size or time); only waiting is async. When the queue
is full, the wait for room runs in the loop's default executor instead of on
the loop.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from .recorder import Recorder
from .types import Decision, Receipt, Stats


class AsyncRecorder:
    """A :class:`Recorder` for async services.

    >>> async with AsyncRecorder("http://127.0.0.1:7070") as rec:     # doctest: +SKIP
    ...     receipt = await rec.record(decision)
    """

    def __init__(self, url: str, token: str | None = None, **options: Any) -> None:
        """Same arguments as :class:`Recorder`."""
        self.sync = Recorder(url, token, **options)
        """The underlying thread-based recorder."""

    async def enqueue(self, decision: Decision | dict[str, Any]) -> asyncio.Future[Receipt]:
        """Queue a decision (waiting, off the loop, while the queue is full) and
        return a future of its receipt; awaiting it is optional."""
        fut = self.sync.try_enqueue(decision)
        if fut is None:
            loop = asyncio.get_running_loop()
            fut = await loop.run_in_executor(None, self.sync.record, decision)
        return asyncio.wrap_future(fut)

    async def record(self, decision: Decision | dict[str, Any]) -> Receipt:
        """Record a decision and wait until it is durable; its receipt."""
        return await (await self.enqueue(decision))

    async def flush(self, timeout: float | None = None) -> None:
        """:meth:`Recorder.flush`, awaited off the loop."""
        await asyncio.to_thread(self.sync.flush, timeout)

    async def close(self, timeout: float | None = None) -> None:
        """:meth:`Recorder.close`, awaited off the loop."""
        await asyncio.to_thread(self.sync.close, timeout)

    def stats(self) -> Stats:
        """Counters since the recorder was created."""
        return self.sync.stats()

    def decision(self, stream: str, model: Any, **options: Any) -> Any:
        """The decorator of :meth:`Recorder.decision`; it also wraps ``async def``."""
        return self.sync.decision(stream, model, **options)

    async def __aenter__(self) -> AsyncRecorder:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
