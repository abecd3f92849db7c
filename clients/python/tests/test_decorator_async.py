"""``@recorder.decision(...)`` on sync and async functions, and the asyncio
recorder, against a real ``cairnd``."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import Future
from typing import Any

import pytest
from support import Daemon, Proxy, decision

from cairn import AsyncRecorder, Model, Receipt, Recorder


def entry(daemon: Daemon, seq: int) -> dict[str, Any]:
    status, body = daemon.get(f"/v1/entries/{seq}")
    assert status == 200, body
    e: dict[str, Any] = json.loads(body)
    return e


def test_a_decorated_function_is_recorded_with_input_output_latency_and_model(
    daemon: Daemon,
) -> None:
    receipts: list[Future[Receipt]] = []
    with Recorder(daemon.url) as rec:

        @rec.decision(
            stream="loans",
            model=Model("risk", "3.1"),
            operation="score",
            label_from=lambda r: r["label"],
            score_from=lambda r: r["p"],
            on_receipt=receipts.append,
        )
        def score(amount: float, country: str = "DE") -> dict[str, Any]:
            if amount < 0:
                raise ValueError("negative amount")
            return {"label": "deny" if amount > 1000 else "allow", "p": amount / 2000}

        assert score(1500.0) == {"label": "deny", "p": 0.75}
        with pytest.raises(ValueError, match="negative"):
            score(-1, country="FR")
        rec.flush(timeout=30)
    ok, failed = (f.result() for f in receipts)

    e = entry(daemon, ok.seq)
    assert e["stream"] == "loans" and e["model"] == {"name": "risk", "version": "3.1"}
    assert e["input"] == {"amount": 1500.0, "country": "DE"}
    assert e["output"] == {"label": "deny", "p": 0.75}
    assert e["decision"] == "deny" and e["score"] == 0.75 and e["operation"] == "score"
    assert e["latency_ms"] >= 0
    e = entry(daemon, failed.seq)
    assert e["input"] == {"amount": -1, "country": "FR"}
    assert e["output"] == {"error": "ValueError: negative amount"}
    assert e["attributes"]["error"] == "ValueError"


def test_a_decorated_method_leaves_self_out_and_takes_numpy_like_values(daemon: Daemon) -> None:
    class Vector:
        def __init__(self, xs: list[float]) -> None:
            self.xs = xs

        def tolist(self) -> list[float]:
            return self.xs

    with Recorder(daemon.url) as rec:

        class Doubler:
            @rec.decision(stream="s", model=("m", "1"))
            def predict(self, features: Vector) -> Vector:
                return Vector([x * 2 for x in features.xs])

        Doubler().predict(Vector([1.0, 2.5]))
        rec.flush(timeout=30)
    e = entry(daemon, 0)
    assert e["input"] == {"features": [1.0, 2.5]}
    assert e["output"] == [2.0, 5.0]


def test_the_async_recorder_and_an_async_decorated_function(daemon: Daemon) -> None:
    async def main() -> list[Receipt]:
        async with AsyncRecorder(daemon.url) as rec:

            @rec.decision(stream="chat", model=("llm", "2024-06"))
            async def answer(question: str) -> str:
                await asyncio.sleep(0)
                return question.upper()

            assert await answer("why?") == "WHY?"
            got = await asyncio.gather(*(rec.record(decision(i)) for i in range(20)))
            await rec.flush()
            return list(got)

    receipts = asyncio.run(main())
    assert sorted(r.seq for r in receipts) == list(range(1, 21))
    assert entry(daemon, 0)["output"] == "WHY?"


def test_the_async_recorder_waits_for_room_off_the_loop(proxy: Proxy) -> None:
    proxy.gate.clear()

    async def main() -> list[Receipt]:
        rec = AsyncRecorder(
            proxy.url, queue_entries_max=1, queue_full_wait_s=30, flush_interval_ms=0
        )
        first = await rec.enqueue(decision(0))
        second_task = asyncio.create_task(rec.enqueue(decision(1)))
        await asyncio.sleep(0.1)
        # The loop kept running while the second waited for room.
        assert not second_task.done()
        proxy.gate.set()
        second = await second_task
        out = [await first, await second]
        await rec.close()
        return out

    receipts = asyncio.run(main())
    assert [r.seq for r in receipts] == [0, 1]
