"""verify_archive.py and `cairn verify --source` give the same verdict on the same
archives: two implementations of schemas/archive-v1.md, one written from the page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Archive
from support import (
    cairn_verify,
    copy_archive,
    flip_frame_byte,
    note_body,
    pyverify,
    rewrite_entry,
    shorten,
    sign_note,
)

Damage = Callable[[Path, Archive], None]


def unlink(name: str) -> Damage:
    return lambda path, _: (path / name).unlink()


def other_key(path: Path, small: Archive) -> None:
    """The newest checkpoint, and its history copy, signed by a key not the ledger's."""
    note = (path / "checkpoint").read_text()
    forged = sign_note(note_body(note), small.ledger.origin, bytes(32))
    (path / "checkpoint").write_text(forged)
    (path / f"checkpoints/{small.size:020d}").write_text(forged)


def other_key_head_only(path: Path, small: Archive) -> None:
    """The `checkpoint` object alone signed by another key; its history copy intact."""
    note = (path / "checkpoint").read_text()
    (path / "checkpoint").write_text(sign_note(note_body(note), small.ledger.origin, bytes(32)))


CASES: dict[str, Damage | None] = {
    "intact": None,
    "entry rewritten": lambda path, _: rewrite_entry(path / "tile/entries/001", 44, 30),
    "bundle byte flipped": lambda path, _: flip_frame_byte(path / "tile/entries/001"),
    "entry bundle deleted": unlink("tile/entries/001"),
    "payload bundle deleted": unlink("tile/payloads/000"),
    "edge entry bundle deleted": unlink("tile/entries/002.p/189"),
    "tile deleted": unlink("tile/0/001"),
    "checkpoint by another key": other_key,
    "checkpoint object alone by another key": other_key_head_only,
    "bundle cut short": lambda path, _: shorten(path / "tile/entries/001", 100),
    "edge bundle cut short": lambda path, _: shorten(path / "tile/entries/002.p/189", 100),
}

SEQ_DIFFERS = {"tile deleted"}


@pytest.mark.parametrize("case", list(CASES))
def test_same_verdict_as_cairn_verify_source(small: Archive, tmp_path: Path, case: str) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    damage = CASES[case]
    if damage is not None:
        damage(archive, small)
    ours = pyverify(archive, small.key)
    theirs = cairn_verify(archive, small.key)
    assert ours.status == theirs.status, (ours.report, theirs.report)
    assert ours.status == (0 if damage is None else 1), ours.report
    if damage is None:
        for field in ("size", "entries_checked", "payloads_checked", "payload_bytes", "root"):
            assert ours.report[field] == theirs.report[field], field
        assert ours.report["erased"] == theirs.report["erased"]
    elif case in SEQ_DIFFERS:
        # Both report the absent tile; `cairn verify --source` stops rebuilding the
        # window's entries without it, cannot read the redaction entry 700 beyond it,
        # and so names seq 5's erased payloads first. This verifier rebuilds them by
        # the chain, ties them to the signed root, and names the tile first.
        assert any(d["kind"] == "altered" and d["seq"] == 256 for d in theirs.damage())
        assert ours.first == {"seq": 256, "kind": "missing", "detail": "tile/0/001 is absent"}
    else:
        assert ours.first["seq"] == theirs.first["seq"], (ours.first, theirs.first)
        assert ours.first["kind"] == theirs.first["kind"], (ours.first, theirs.first)


def test_same_verdict_on_a_range_and_a_kept_checkpoint(large: Archive) -> None:
    extra = ("--from", "30000", "--to", "40000", "--checkpoint", large.kept)
    ours, theirs = (
        pyverify(large.path, large.key, *extra),
        cairn_verify(large.path, large.key, *extra),
    )
    assert ours.status == theirs.status == 0, (ours.report, theirs.report)
    assert ours.report["entries_checked"] == theirs.report["entries_checked"] == 10_001
    assert ours.report["trusted_size"] == theirs.report["trusted_size"] == large.kept_size


def test_same_verdict_on_a_rolled_back_archive(small: Archive) -> None:
    then, newest = small.work / "archive-then", small.work / "newest.txt"
    ours = pyverify(then, small.key, "--checkpoint", newest)
    theirs = cairn_verify(then, small.key, "--checkpoint", newest)
    assert ours.status == theirs.status == 1, (ours.report, theirs.report)
    assert ours.first["kind"] == theirs.first["kind"] == "truncated"
