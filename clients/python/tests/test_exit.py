"""Decisions still queued when the interpreter exits are delivered."""

from __future__ import annotations

import json
import subprocess
import sys

from support import Daemon


def test_queued_decisions_are_delivered_at_interpreter_exit(daemon: Daemon) -> None:
    program = f"""
from cairn import Recorder
rec = Recorder({daemon.url!r}, flush_interval_ms=60_000)
for i in range(25):
    rec.record({{"stream": "exit", "model": {{"name": "m", "version": "1"}},
                "input": i, "output": None}})
print("queued", flush=True)
"""
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "queued"
    status, body = daemon.get("/v1/entries/24")
    assert status == 200 and json.loads(body)["input"] == 24
    assert daemon.get("/v1/entries/25")[0] == 404
