"""Archives made once per run by the real `cairn` binaries, shared read-only by the tests
(a test that damages one works on its own copy)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import Ledger, binary

SMALL_FIRST = 300
"""Decisions before the checkpoint the auditor keeps."""
SMALL_MORE = 400
REDACTED_SEQ = 5
LARGE_COUNT = 66_000
"""More than 256 x 256 entries: a full tile of level 1 and a partial one of level 2."""


@dataclass
class Archive:
    """An archive directory, the ledger it was made from and checkpoints kept on the way."""

    path: Path
    ledger: Ledger
    size: int
    kept: Path
    """The checkpoint an auditor kept before the ledger grew."""
    kept_size: int
    work: Path

    @property
    def key(self) -> str:
        return self.ledger.key


def _require_binaries() -> None:
    for name in ("cairn", "cairn-synth"):
        if not binary(name).is_file():
            pytest.fail(
                f"no {name} at {binary(name)}: build with `cargo build --release --bins` "
                "or set CARGO_TARGET_DIR / CAIRN_BIN / CAIRN_SYNTH_BIN",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """701 entries: 700 decisions (seq 5's payloads erased) and the redaction; a
    checkpoint kept at size 300; archived to a directory."""
    _require_binaries()
    work = tmp_path_factory.mktemp("small")
    ledger = Ledger.init(work / "ledger", "archive.test/small")
    ledger.append_synth(SMALL_FIRST, 1, work)
    kept = work / "kept.txt"
    ledger.checkpoint(kept)
    # The bucket as it was then: what a rollback would put back.
    ledger.archive((work / "archive-then").as_uri())
    ledger.append_synth(SMALL_MORE, 2, work)
    ledger.redact(REDACTED_SEQ)
    ledger.checkpoint(work / "newest.txt")
    path = work / "archive"
    ledger.archive(path.as_uri())
    yield Archive(path, ledger, SMALL_FIRST + SMALL_MORE + 1, kept, SMALL_FIRST, work)


@pytest.fixture(scope="session")
def large(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    """66,000 decisions archived to a directory, with a checkpoint kept at 1,000."""
    _require_binaries()
    work = tmp_path_factory.mktemp("large")
    ledger = Ledger.init(work / "ledger", "archive.test/large")
    ledger.append_synth(1000, 3, work)
    kept = work / "kept.txt"
    ledger.checkpoint(kept)
    ledger.append_synth(LARGE_COUNT - 1000, 4, work)
    ledger.checkpoint(work / "newest.txt")
    path = work / "archive"
    ledger.archive(path.as_uri())
    yield Archive(path, ledger, LARGE_COUNT, kept, 1000, work)
