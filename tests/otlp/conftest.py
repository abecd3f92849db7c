"""Fixtures: a real `cairnd` on a new ledger in a temp dir, on a free loopback
port, and the real `cairn` CLI to read what it stored."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_TIMEOUT_S = 60.0


def bin_dir() -> Path:
    """Where the release binaries are: $CAIRN_BIN_DIR, else $CARGO_TARGET_DIR/release."""
    explicit = os.environ.get("CAIRN_BIN_DIR")
    if explicit:
        return Path(explicit)
    target = os.environ.get(
        "CARGO_TARGET_DIR", str(Path(__file__).parents[2] / "target")
    )
    return Path(target) / "release"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Daemon:
    """A running `cairnd` and its ledger directory."""

    url: str
    data: Path
    process: subprocess.Popen[bytes]

    def traces_url(self) -> str:
        return f"{self.url}/v1/traces"

    def metric(self, name: str) -> float:
        """One value of `/metrics`, by its full name with labels."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as r:
            text: str = r.read().decode()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split(" ")[1])
        raise AssertionError(f"no metric {name} in /metrics")

    def cairn(self, *args: str) -> object:
        """Run the real `cairn` CLI on this ledger and parse its JSON output."""
        cmd = [str(bin_dir() / "cairn"), *args, "--data", str(self.data), "--json"]
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{cmd} exited {done.returncode}: {done.stderr}"
        return json.loads(done.stdout)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"cairnd exited with {process.returncode} before it was ready"
            )
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"cairnd not ready within {READY_TIMEOUT_S} s")


@pytest.fixture
def cairnd(tmp_path: Path) -> Iterator[Daemon]:
    """A `cairnd` on a new ledger; stopped with SIGTERM (which drains and fsyncs)."""
    cairnd_bin = bin_dir() / "cairnd"
    assert cairnd_bin.exists(), (
        f"{cairnd_bin} is missing: build the workspace in release first"
    )
    port = free_port()
    data = tmp_path / "ledger"
    log = (tmp_path / "cairnd.log").open("wb")
    process = subprocess.Popen(
        [
            str(cairnd_bin),
            "--init",
            "--data",
            str(data),
            "--origin",
            "otlp.test/ledger",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield Daemon(url=url, data=data, process=process)
    finally:
        process.terminate()
        code = process.wait(timeout=60)
        log.close()
        assert code == 0, (
            f"cairnd exited with {code}: {(tmp_path / 'cairnd.log').read_text()}"
        )
