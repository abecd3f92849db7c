"""The recorder against a real ``cairnd``: receipts, per-line errors, the bounded
queue, retries, flush and close."""

from __future__ import annotations

import json
import threading

import pytest
from support import Daemon, Proxy, decision

from cairn import (
    Closed,
    ConfigError,
    Decision,
    GaveUp,
    InvalidDecision,
    Model,
    QueueFull,
    Receipt,
    Recorder,
    Rejected,
)


def test_each_decision_gets_a_receipt_and_is_stored_as_sent(daemon: Daemon) -> None:
    with Recorder(daemon.url) as rec:
        futures = [rec.record(decision(i)) for i in range(200)]
        typed = rec.record(
            Decision(
                "tests.python",
                Model("fraud", "2.0.0", "sha256:ab"),
                {"x": [1, 2]},
                {"label": "deny"},
                subject="cust-1",
                score=0.93,
                attributes={"region": "eu"},
            )
        )
        receipts = [f.result(timeout=30) for f in futures]
        last = typed.result(timeout=30)
    # One request at a time: the ledger holds them in record order.
    assert [r.seq for r in receipts] == list(range(200))
    assert last.seq == 200 and not last.duplicate
    entry = json.loads(daemon.get("/v1/entries/200")[1])
    assert entry["receipt"]["leaf_hash"] == last.leaf_hash
    assert entry["input"] == {"x": [1, 2]}
    assert entry["subject"] == "cust-1"
    assert entry["model"]["digest"] == "sha256:ab"
    assert json.loads(daemon.get("/v1/entries/7")[1])["input"] == {"i": 7, "amount": 73.5}


def test_per_line_errors_reach_only_their_own_futures(daemon: Daemon) -> None:
    # A long flush interval puts all five in one batch.
    with Recorder(daemon.url, flush_interval_ms=500) as rec:
        no_model = {k: v for k, v in decision(1).items() if k != "model"}
        bad_time = decision(3, event_time="yesterday")
        futures = [
            rec.record(d) for d in [decision(0), no_model, decision(2), bad_time, decision(4)]
        ]
        rec.flush(timeout=30)
    ok = [futures[i].result() for i in (0, 2, 4)]
    assert [r.seq for r in ok] == [0, 1, 2]
    for i, needle in [(1, "model"), (3, "event_time")]:
        with pytest.raises(Rejected) as e:
            futures[i].result()
        assert e.value.status == 400 and e.value.code == "invalid_batch"
        assert needle in e.value.message
    assert json.loads(daemon.get("/v1/entries/2")[1])["input"]["i"] == 4
    assert daemon.get("/v1/entries/3")[0] == 404, "nothing else was stored"
    assert rec.stats().failed == 2 and rec.stats().recorded == 3


def test_a_repeated_idempotency_key_is_stored_once(daemon: Daemon) -> None:
    with Recorder(daemon.url) as rec:
        first = rec.record(decision(1, idempotency_key="order-77")).result(timeout=30)
        again = rec.record(decision(1, idempotency_key="order-77")).result(timeout=30)
    assert again == Receipt(first.seq, first.leaf_hash, duplicate=True)


def test_what_is_not_a_decision_is_refused_before_it_is_queued(daemon: Daemon) -> None:
    with Recorder(daemon.url) as rec:
        with pytest.raises(InvalidDecision):
            rec.record([1, 2])  # type: ignore[arg-type]
        with pytest.raises(InvalidDecision):
            rec.record(decision(1, score=float("nan")))
        with pytest.raises(InvalidDecision):
            rec.record(decision(1, input=object()))
    with pytest.raises(ConfigError):
        Recorder("ftp://127.0.0.1:1")
    with pytest.raises(ConfigError):
        Recorder(daemon.url, queue_entries_max=0)


def test_a_full_queue_raises_after_waiting(proxy: Proxy) -> None:
    proxy.gate.clear()  # the daemon "hangs": nothing gets an answer
    rec = Recorder(proxy.url, queue_entries_max=3, queue_full_wait_s=0.05, flush_interval_ms=0)
    futures = [rec.record(decision(i)) for i in range(3)]
    with pytest.raises(QueueFull):
        rec.record(decision(3))
    assert rec.stats().dropped == 0
    proxy.gate.set()
    assert [f.result(timeout=30).seq for f in futures] == [0, 1, 2]
    # Room again once answered.
    assert rec.record(decision(4)).result(timeout=30).seq == 3
    rec.close()


def test_a_full_queue_drops_and_counts_when_told_to(proxy: Proxy) -> None:
    proxy.gate.clear()
    rec = Recorder(
        proxy.url, queue_entries_max=2, queue_full_wait_s=0.0, on_full="drop", flush_interval_ms=0
    )
    kept = [rec.record(decision(i)) for i in range(2)]
    dropped = [rec.record(decision(i)) for i in range(2, 5)]
    for f in dropped:
        with pytest.raises(QueueFull):
            f.result(timeout=0)
    assert rec.stats().dropped == 3
    proxy.gate.set()
    assert [f.result(timeout=30).seq for f in kept] == [0, 1]
    rec.close()
    assert rec.stats().recorded == 2


def test_a_caller_waiting_for_room_gets_it_when_answers_come(proxy: Proxy) -> None:
    proxy.gate.clear()
    rec = Recorder(proxy.url, queue_entries_max=1, queue_full_wait_s=30, flush_interval_ms=0)
    first = rec.record(decision(0))
    threading.Timer(0.2, proxy.gate.set).start()
    second = rec.record(decision(1))  # waits until the first is answered
    assert first.done()
    assert second.result(timeout=30).seq == 1
    rec.close()


def test_429_is_retried_after_retry_after(proxy: Proxy) -> None:
    proxy.refuse_next = 1
    proxy.retry_after_s = 1
    with Recorder(proxy.url, backoff_initial_ms=10, backoff_max_ms=20) as rec:
        receipt = rec.record(decision(0)).result(timeout=30)
    assert receipt.seq == 0 and not receipt.duplicate
    posts = [(t, s) for t, s in proxy.seen]
    assert [s for _, s in posts] == [429, 200]
    # The backoff alone would have retried after at most 20 ms.
    assert posts[1][0] - posts[0][0] >= 1.0
    assert rec.stats().retries == 1 and rec.stats().requests == 2


def test_an_unreachable_daemon_fails_the_futures_after_the_retries(daemon: Daemon) -> None:
    daemon.kill()
    with Recorder(daemon.url, retries=2, backoff_initial_ms=5, backoff_max_ms=10) as rec:
        fut = rec.record(decision(0))
        with pytest.raises(GaveUp) as e:
            fut.result(timeout=30)
    assert e.value.attempts == 3
    assert rec.stats().requests == 3 and rec.stats().failed == 1


def test_close_delivers_what_is_queued_and_then_refuses(daemon: Daemon) -> None:
    rec = Recorder(daemon.url, flush_interval_ms=10_000)
    futures = [rec.record(decision(i)) for i in range(10)]
    rec.close()
    assert all(f.done() for f in futures)
    assert [f.result().seq for f in futures] == list(range(10))
    with pytest.raises(Closed):
        rec.record(decision(10))
    rec.close()  # twice is fine


def test_flush_waits_for_every_outcome(daemon: Daemon) -> None:
    with Recorder(daemon.url, flush_interval_ms=10_000) as rec:
        futures = [rec.record(decision(i)) for i in range(5)]
        rec.flush(timeout=30)
        assert all(f.done() for f in futures)


def test_decisions_from_many_threads_over_many_connections_are_each_stored_once(
    daemon: Daemon,
) -> None:
    with Recorder(daemon.url, requests_in_flight_max=3, batch_entries_max=40) as rec:
        results: list[Receipt] = []
        lock = threading.Lock()

        def produce(t: int) -> None:
            fs = [rec.record(decision(t * 1000 + i)) for i in range(250)]
            got = [f.result(timeout=60) for f in fs]
            with lock:
                results.extend(got)

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rec.flush(timeout=60)
        assert rec.stats().requests >= 25
    assert sorted(r.seq for r in results) == list(range(1000))
