"""Checkpoints: verifier key strings, key ids, checkpoint bodies, and opening a signed
checkpoint note with a verifier key.

Follows schemas/entry-v1.md "Checkpoints" (a C2SP tlog-checkpoint body in a C2SP
signed-note, signed with Ed25519).
"""

from __future__ import annotations

import base64

from ed25519 import ed25519_verify
from hashing import sha256
from writer_rules import is_control

# ---------------------------------------------------------------------------
# Checkpoints ("Checkpoints").
# ---------------------------------------------------------------------------


def b64decode_strict(s: str) -> bytes:
    raw = base64.b64decode(s, validate=True)
    if base64.b64encode(raw).decode("ascii") != s:
        raise ValueError(f"not canonical padded standard base64: {s!r}")
    return raw


def key_name_ok(name: str) -> bool:
    return name != "" and "+" not in name and not any(c.isspace() or is_control(c) for c in name)


def key_id(name: str, public_key: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\n" + b"\x01" + public_key)[:4]


def parse_verifier_key(s: str) -> tuple[str, bytes, bytes]:
    name, id_hex, key_b64 = s.split("+", 2)
    if not key_name_ok(name):
        raise ValueError(f"bad key name {name!r}")
    if len(id_hex) != 8 or id_hex != id_hex.lower():
        raise ValueError("key id is not 8 lower-case hex digits")
    kid = bytes.fromhex(id_hex)
    data = b64decode_strict(key_b64)
    if len(data) != 33 or data[0] != 0x01:
        raise ValueError("key is not 0x01 followed by a 32-byte Ed25519 key")
    public_key = data[1:]
    if key_id(name, public_key) != kid:
        raise ValueError("key id does not match the name and key")
    return name, kid, public_key


def parse_body(text: str) -> tuple[str, int, bytes, list[str]]:
    if not text.endswith("\n"):
        raise ValueError("body does not end with a newline")
    if any(is_control(c) and c != "\n" for c in text):
        raise ValueError("control character in body")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise ValueError("body needs origin, size and root lines and has no empty line")
    origin, size_text, root_text = lines[:3]
    if (
        not size_text.isascii()
        or not size_text.isdigit()
        or (len(size_text) > 1 and size_text[0] == "0")
    ):
        raise ValueError(f"bad tree size {size_text!r}")
    size = int(size_text)
    if size >= 2**64:
        raise ValueError("tree size does not fit in 64 bits")
    root = b64decode_strict(root_text)
    if len(root) != 32:
        raise ValueError("root is not 32 bytes")
    return origin, size, root, lines[3:]


def open_note(note: str, verifier_key: str) -> tuple[str, int, bytes, list[str], str]:
    name, kid, public_key = parse_verifier_key(verifier_key)
    if not note.endswith("\n"):
        raise ValueError("note does not end with a newline")
    split_at = note.rfind("\n\n")
    if split_at < 0:
        raise ValueError("no blank line before the signatures")
    text, sigs = note[: split_at + 1], note[split_at + 2 :]
    if sigs == "":
        raise ValueError("no signature lines")
    matched = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError(f"signature line does not start with an em dash: {line!r}")
        sig_name, _, b64 = line[2:].partition(" ")
        if not key_name_ok(sig_name):
            raise ValueError(f"bad key name in signature line: {sig_name!r}")
        blob = b64decode_strict(b64)
        if len(blob) < 5:
            raise ValueError("signature too short")
        if sig_name != name or blob[:4] != kid:
            continue
        if not ed25519_verify(public_key, text.encode("utf-8"), blob[4:]):
            raise ValueError("signature does not verify")
        matched += 1
    if matched == 0:
        raise ValueError("no signature by the verifier key")
    origin, size, root, extensions = parse_body(text)
    return origin, size, root, extensions, text
