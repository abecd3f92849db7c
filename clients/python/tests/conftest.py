"""Fixtures: a real ``cairnd`` in a temp dir, and a proxy in front of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Daemon, Proxy


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "ledger").start()
    yield d
    d.kill()


@pytest.fixture
def proxy(daemon: Daemon) -> Iterator[Proxy]:
    p = Proxy(daemon.port)
    yield p
    p.close()
