"""Archives made by the real `cairn` binaries, and ways to damage them, for the tests.

Binaries: CAIRN_BIN / CAIRN_SYNTH_BIN, else $CARGO_TARGET_DIR/release/ (default
`target/` at the repository root), as scripts/python-tests.sh finds them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent
PYVERIFY = HERE.parent
REPO = PYVERIFY.parent.parent
VERIFY_ARCHIVE = PYVERIFY / "verify_archive.py"
RUN_TIMEOUT_S = 600


def binary(name: str) -> Path:
    var = name.upper().replace("-", "_") + "_BIN"
    if os.environ.get(var):
        return Path(os.environ[var])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / name


def run(*args: str | Path | int, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a command that must succeed; its output is kept for the failure message."""
    argv = [str(a) for a in args]
    done = subprocess.run(
        argv, check=False, input=stdin, capture_output=True, timeout=RUN_TIMEOUT_S
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode(errors='replace')}"
        )
    return done


@dataclass
class Outcome:
    """What a verifier said: its exit status and its --json object."""

    status: int
    report: dict[str, object]
    stderr: str

    def damage(self) -> list[dict[str, object]]:
        found = self.report.get("damage")
        assert isinstance(found, list), self.report
        return found

    @property
    def first(self) -> dict[str, object]:
        first = self.report.get("first_damage")
        assert isinstance(first, dict), self.report
        return first


def _outcome(argv: list[str]) -> Outcome:
    done = subprocess.run(argv, check=False, capture_output=True, timeout=RUN_TIMEOUT_S)
    text = done.stdout.decode()
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        raise AssertionError(f"{argv} printed no JSON ({done.returncode}): {text!r}") from None
    return Outcome(done.returncode, report, done.stderr.decode(errors="replace"))


def pyverify(source: str | Path, key: str, *extra: str | Path) -> Outcome:
    """verify_archive.py SOURCE --key KEY EXTRA --json."""
    argv = [sys.executable, str(VERIFY_ARCHIVE), str(source), "--key", key, "--json"]
    return _outcome(argv + [str(e) for e in extra])


def cairn_verify(archive: Path, key: str, *extra: str | Path) -> Outcome:
    """cairn verify --source file:///ARCHIVE --key KEY EXTRA --json."""
    argv = [str(binary("cairn")), "verify", "--source", archive.as_uri(), "--key", key, "--json"]
    return _outcome(argv + [str(e) for e in extra])


@dataclass
class Ledger:
    """A ledger directory made with `cairn init`, and its keys."""

    data: Path
    key: str
    origin: str

    @classmethod
    def init(cls, data: Path, origin: str) -> Ledger:
        run(binary("cairn"), "init", "--data", data, "--origin", origin)
        key = (data / "verifier.key").read_text().strip()
        return cls(data, key, origin)

    def append_synth(self, count: int, seed: int, work: Path) -> None:
        ndjson = work / f"synth-{seed}-{count}.ndjson"
        run(binary("cairn-synth"), "--seed", seed, "--count", count, "--small", "--out", ndjson)
        run(binary("cairn"), "append", "--data", self.data, ndjson)

    def checkpoint(self, out: Path) -> str:
        run(binary("cairn"), "checkpoint", "--data", self.data, "--out", out)
        return out.read_text()

    def redact(self, seq: int) -> None:
        run(binary("cairn"), "redact", "--data", self.data, "--seq", seq, "--reason", "test")

    def archive(self, to: str) -> None:
        run(binary("cairn"), "archive", "--data", self.data, "--to", to)


# -- damage ----------------------------------------------------------------------------


def stored_value(raw: bytes) -> bytes:
    """A stored value (storage-v2 "Stored values") holding `raw` in one zstd frame."""
    frame = zstandard.ZstdCompressor(level=3).compress(raw)
    return bytes([1]) + (0).to_bytes(4, "little") + len(raw).to_bytes(4, "little") + frame


def raw_piece(obj: Path) -> bytes:
    data = obj.read_bytes()
    body = data[9:]
    if data[0] == 0:
        return body
    return zstandard.ZstdDecompressor().decompress(body, max_output_size=256 << 20)


def piece_entries(raw: bytes) -> tuple[int, list[bytes]]:
    """An entry piece's first word and its stored entries."""
    word = int.from_bytes(raw[:4], "little")
    count = word & 0x7FFF_FFFF
    out, pos = [], 4
    for _ in range(count):
        n = int.from_bytes(raw[pos : pos + 4], "little")
        out.append(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return word & 0x8000_0000, out


def piece_of(flag: int, entries: list[bytes]) -> bytes:
    out = (len(entries) | flag).to_bytes(4, "little")
    for e in entries:
        out += len(e).to_bytes(4, "little") + e
    return out


def rewrite_entry(obj: Path, index: int, change: int) -> None:
    """Re-encode the entry bundle `obj` with one byte of its entry `index` flipped at
    offset `change` of the stored entry: a valid object with one altered entry."""
    flag, entries = piece_entries(raw_piece(obj))
    e = bytearray(entries[index])
    e[change] ^= 0x01
    entries[index] = bytes(e)
    obj.write_bytes(stored_value(piece_of(flag, entries)))


def shorten(obj: Path, keep: int) -> None:
    """Re-encode the entry bundle `obj` holding only its first `keep` entries."""
    flag, entries = piece_entries(raw_piece(obj))
    obj.write_bytes(stored_value(piece_of(flag, entries[:keep])))


def flip_frame_byte(obj: Path) -> None:
    """Flip one bit of the zstd frame of the stored value `obj`, in its magic number:
    a byte flipped in a compressed bundle, at a place whose outcome does not depend
    on the bundle's (time-dependent) compressed bytes."""
    data = bytearray(obj.read_bytes())
    assert data[0] == 1, "a zstd stored value"
    data[9] ^= 0x40
    obj.write_bytes(bytes(data))


def copy_archive(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- notes signed by a key of the test's own --------------------------------------------


def note_body(note: str) -> str:
    return note[: note.rfind("\n\n") + 1]


def sign_note(body: str, name: str, seed: bytes) -> str:
    """A C2SP signed note of `body` by the Ed25519 key `seed` under `name`."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    sig = key.sign(body.encode())
    return f"{body}\n\u2014 {name} {base64.b64encode(key_id + sig).decode()}\n"


def signing_seed(data: Path) -> bytes:
    """The seed of a ledger's `signing.key` (PRIVATE+KEY+NAME+ID+base64(0x01 ‖ seed))."""
    text = (data / "signing.key").read_text().strip()
    blob = base64.b64decode(text.split("+", 4)[4])
    assert blob[0] == 0x01 and len(blob) == 33
    return blob[1:]
