"""The daemon killed with SIGKILL and restarted while decisions stream in: every
decision whose future resolved with a receipt is in the ledger, under that
receipt, and no decision is in it twice."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from support import Daemon, cairn, decision, free_port

from cairn import Receipt, Recorder


def test_kill_and_restart_mid_stream_loses_nothing_acknowledged_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "ledger"
    d = Daemon(data, port=free_port()).start()
    rec = Recorder(
        d.url,
        retries=40,
        backoff_initial_ms=20,
        backoff_max_ms=500,
        batch_entries_max=50,
        flush_interval_ms=1,
        queue_full_wait_s=60,
    )
    futures: list[Future[Receipt]] = []
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            futures.append(rec.record(decision(i)))
            i += 1
            if i % 20 == 0:
                time.sleep(0.002)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        for _ in range(2):
            # Kill while answers are flowing: wait for some receipts first.
            while sum(f.done() for f in list(futures)) < 300:
                time.sleep(0.01)
            acknowledged_before = sum(f.done() and f.exception() is None for f in futures)
            d.kill()
            time.sleep(0.3)
            d.start()
            # Receipts keep coming after the restart.
            while sum(f.done() for f in list(futures)) <= acknowledged_before + 300:
                time.sleep(0.01)
    finally:
        stop.set()
        producer.join()
    rec.close(timeout=120)
    assert rec.stats().retries > 0, "the kills were met by the client"

    receipts = [f.result(timeout=0) for f in futures]  # every one resolved with a receipt
    assert len(receipts) > 600
    keys_of_seq: dict[int, str] = {}
    seq = 0
    while True:
        status, body = d.get(f"/v1/entries/{seq}")
        if status == 404:
            break
        assert status == 200, body
        entry = json.loads(body)
        keys_of_seq[seq] = entry["idempotency_key"]
        seq += 1
    keys = list(keys_of_seq.values())
    assert len(keys) == len(set(keys)), "a decision is in the ledger twice"
    for r in receipts:
        status, body = d.get(f"/v1/entries/{r.seq}")
        assert status == 200
        assert json.loads(body)["receipt"]["leaf_hash"] == r.leaf_hash
    # Every receipt names a distinct entry, and every entry is one of ours.
    assert len({r.seq for r in receipts}) == len(receipts) == len(keys)

    assert d.stop() == 0
    verified = cairn("verify", "--data", data)
    assert "INTACT" in verified.stdout
    last = receipts[-1]
    got = json.loads(cairn("get", "--data", data, "--seq", str(last.seq)).stdout)
    assert got["receipt"]["leaf_hash"] == last.leaf_hash
