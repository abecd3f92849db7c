"""verify_archive.py on archives written by `cairn archive`: intact ones pass, and each
kind of damage is reported with exit status 1, its seq and its kind."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from pathlib import Path

from conftest import REDACTED_SEQ, Archive
from support import (
    VERIFY_ARCHIVE,
    copy_archive,
    flip_frame_byte,
    note_body,
    pyverify,
    raw_piece,
    rewrite_entry,
    shorten,
    sign_note,
    signing_seed,
    stored_value,
)

ENTRY_BODY_AT = 30
"""An offset inside a stored entry's body (a form-2 entry: version and seq are bytes
0..9, then recorded_at_us, the variant index and the stream's length and bytes)."""


def test_intact_archive_passes_with_its_root_and_erasures(small: Archive) -> None:
    out = pyverify(small.path, small.key)
    assert out.status == 0, out.report
    r = out.report
    assert r["status"] == "intact"
    assert r["size"] == small.size and r["entries_checked"] == small.size
    note = (small.path / "checkpoint").read_text()
    signed_root = base64.b64decode(note.split("\n")[2]).hex()
    assert r["root"] == signed_root
    erased = {(e["seq"], e["slot"]) for e in r["erased"]}  # type: ignore[attr-defined]
    assert erased == {(REDACTED_SEQ, "input"), (REDACTED_SEQ, "output")}
    # Every decision but the redacted one had both payloads checked.
    assert r["payloads_checked"] == 2 * (small.size - 2)


def test_human_output_says_intact(small: Archive) -> None:
    done = subprocess.run(
        [sys.executable, VERIFY_ARCHIVE, small.path, "--key", small.key],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"checkpoint at size {small.size}" in done.stdout
    assert f"erased properly: the input of seq {REDACTED_SEQ}" in done.stdout
    assert "INTACT: root " in done.stdout


def test_large_archive_with_two_tile_levels_passes(large: Archive) -> None:
    assert (large.path / "tile/1/000").is_file() and (large.path / "tile/2/000.p/1").is_file()
    out = pyverify(large.path, large.key, "--checkpoint", large.kept)
    assert out.status == 0, out.report
    assert out.report["entries_checked"] == large.size
    assert out.report["trusted_size"] == large.kept_size


def test_range_is_tied_to_the_signed_root(large: Archive) -> None:
    out = pyverify(large.path, large.key, "--from", "65000", "--to", "65700")
    assert out.status == 0, out.report
    assert out.report["entries_checked"] == 701
    assert out.report["from"] == 65000 and out.report["to"] == 65701


def test_consistent_with_a_kept_checkpoint(small: Archive) -> None:
    out = pyverify(small.path, small.key, "--checkpoint", small.kept)
    assert out.status == 0, out.report
    assert out.report["trusted_size"] == small.kept_size


def test_entry_rewritten_in_a_bundle_is_altered_at_its_seq(small: Archive, tmp_path: Path) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    rewrite_entry(archive / "tile/entries/001", 44, ENTRY_BODY_AT)
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == 256 + 44 and out.first["kind"] == "altered", out.report


def test_flipped_byte_in_a_compressed_bundle_is_damage_in_its_window(
    small: Archive, tmp_path: Path
) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    flip_frame_byte(archive / "tile/entries/001")
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == 256 and out.first["kind"] == "altered", out.report
    assert "does not decode" in str(out.first["detail"])


def test_flipped_payload_byte_is_a_commitment_mismatch(small: Archive, tmp_path: Path) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    obj = archive / "tile/payloads/000"
    raw = bytearray(raw_piece(obj))
    # Record 0's input slot: tag (1) ‖ len (4) ‖ salt (32) ‖ payload; flip a payload byte.
    assert raw[4] == 0x01
    raw[4 + 1 + 4 + 32 + 2] ^= 0x01
    obj.write_bytes(stored_value(bytes(raw)))
    out = pyverify(archive, small.key)
    assert out.status == 1
    assert out.first == {
        "seq": 0,
        "kind": "commitment-mismatch",
        "detail": "the input payload does not match its commitment",
    }


def test_deleted_entry_bundle_is_missing(small: Archive, tmp_path: Path) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    (archive / "tile/entries/001").unlink()
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == 256 and out.first["kind"] == "missing", out.report
    assert "tile/entries/001 is absent" in str(out.first["detail"])


def test_deleted_payload_bundle_is_payload_missing(small: Archive, tmp_path: Path) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    (archive / "tile/payloads/000").unlink()
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == 0 and out.first["kind"] == "payload-missing", out.report


def test_deleted_tile_is_missing(small: Archive, tmp_path: Path) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    (archive / "tile/0/001").unlink()
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == 256 and out.first["kind"] == "missing", out.report


def test_checkpoint_signed_by_another_key_is_a_bad_signature(
    small: Archive, tmp_path: Path
) -> None:
    archive = copy_archive(small.path, tmp_path / "a")
    note = (archive / "checkpoint").read_text()
    # The same body, signed under the ledger's key name by a key that is not its key.
    forged = sign_note(note_body(note), small.ledger.origin, bytes(range(32)))
    (archive / "checkpoint").write_text(forged)
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["kind"] == "bad-signature" and out.first["seq"] is None, out.report
    assert "no signature by the verifier key" in str(out.first["detail"])


def test_bundle_cut_short_is_missing_entries_or_a_truncated_archive(
    small: Archive, tmp_path: Path
) -> None:
    # Entries gone from a window in the middle are missing...
    archive = copy_archive(small.path, tmp_path / "a")
    shorten(archive / "tile/entries/001", 100)
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == 256 + 100 and out.first["kind"] == "missing", out.report
    # ...and gone from the right edge, the archive is shorter than its checkpoint.
    # The redaction entry (seq 700) went with them, so seq 5's erasure is no longer
    # justified by the archive: that is the first damage.
    archive = copy_archive(small.path, tmp_path / "b")
    shorten(archive / "tile/entries/002.p/189", 150)
    out = pyverify(archive, small.key)
    assert out.status == 1, out.report
    assert out.first["seq"] == REDACTED_SEQ and out.first["kind"] == "payload-missing"
    assert {"seq": 512 + 150, "kind": "truncated"} in [
        {"seq": d["seq"], "kind": d["kind"]} for d in out.damage()
    ], out.report


def test_archive_rolled_back_behind_a_kept_checkpoint_is_truncated(
    small: Archive, tmp_path: Path
) -> None:
    # The bucket's owner puts back the archive as it was at size 300 (all of it,
    # validly signed); the auditor kept the checkpoint at 701.
    out = pyverify(
        small.work / "archive-then", small.key, "--checkpoint", small.work / "newest.txt"
    )
    assert out.status == 1, out.report
    assert out.first["kind"] == "truncated" and out.first["seq"] == small.kept_size, out.report
    # Without the kept checkpoint the older archive is intact: only a kept
    # checkpoint shows a rollback.
    assert pyverify(small.work / "archive-then", small.key).status == 0


def test_history_rewritten_under_a_kept_checkpoint_is_rewritten(
    small: Archive, tmp_path: Path
) -> None:
    # A checkpoint at size 300 signed by the ledger's own key over another root: the
    # archive cannot be an extension of it.
    kept = small.kept.read_text()
    lines = note_body(kept).split("\n")
    lines[2] = base64.b64encode(bytes(32)).decode()
    forged = sign_note("\n".join(lines), small.ledger.origin, signing_seed(small.ledger.data))
    path = tmp_path / "kept.txt"
    path.write_text(forged)
    out = pyverify(small.path, small.key, "--checkpoint", path)
    assert out.status == 1, out.report
    assert out.first["kind"] == "rewritten", out.report


def test_could_not_check_is_exit_2(small: Archive, tmp_path: Path) -> None:
    assert pyverify(tmp_path / "nowhere", small.key).status == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    out = pyverify(empty, small.key)
    assert out.status == 2 and out.report["status"] == "error"
    assert "no `checkpoint` object" in str(out.report["error"])
    assert pyverify(small.path, "not-a-key").status == 2


def test_unreachable_http_server_is_could_not_check(small: Archive) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    out = pyverify(f"http://127.0.0.1:{port}/bucket/prefix", small.key)
    assert out.status == 2 and out.report["status"] == "error", out.report
