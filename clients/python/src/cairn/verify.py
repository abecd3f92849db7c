"""Holding Cairn to its word: checking receipts against signed checkpoints, and
evidence bundles offline, from ``schemas/entry-v1.md`` and
``schemas/bundle-v1.md`` alone.

Nothing here trusts the daemon: a receipt is checked with the inclusion proof
it serves and the checkpoint it signed, both verified against the ledger's
verifier key, which the caller should have obtained independently (e.g. from
the operator, or ``verifier.key`` in the ledger directory when it was created).
BLAKE3 comes from the ``blake3`` package and Ed25519 from ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

import blake3 as _blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .types import CairnError, Receipt


class VerificationError(CairnError):
    """A receipt, proof, checkpoint or key does not check out; the message
    says which and why."""


def blake3(data: bytes) -> bytes:
    """BLAKE3 with a 32-byte output."""
    return _blake3.blake3(data).digest()


def leaf_hash(entry_bytes: bytes) -> bytes:
    """``BLAKE3(0x00 || entry bytes)``."""
    return blake3(b"\x00" + entry_bytes)


def _node(left: bytes, right: bytes) -> bytes:
    return blake3(b"\x01" + left + right)


def verify_inclusion(m: int, n: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2 with BLAKE3 (entry-v1.md § Inclusion proofs): whether
    ``leaf`` is entry ``m`` of the tree of size ``n`` whose root is ``root``."""
    if m < 0 or m >= n:
        return False
    fn, sn, r = m, n - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 == 1 or fn == sn:
            r = _node(p, r)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# ----------------------------------------------------------------- checkpoints


def _is_control(c: str) -> bool:
    o = ord(c)
    return o <= 0x1F or 0x7F <= o <= 0x9F


def _b64(s: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(s, validate=True)
    except ValueError:
        raise VerificationError(f"{what} is not base64: {s!r}") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise VerificationError(f"{what} is not canonical padded standard base64: {s!r}")
    return raw


def _key_name_ok(name: str) -> bool:
    return name != "" and "+" not in name and not any(c.isspace() or _is_control(c) for c in name)


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + public_key).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A note verifier key ``<name>+<hex key id>+<base64(0x01 || public key)>``."""

    name: str
    key_id: bytes
    public_key: bytes
    text: str

    @staticmethod
    def parse(text: str) -> VerifierKey:
        """Parse and check a verifier key string (its key id must match)."""
        text = text.strip()
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise VerificationError(f"not a verifier key (<name>+<id>+<key>): {text!r}")
        name, id_hex, key_b64 = parts
        if not _key_name_ok(name):
            raise VerificationError(f"bad key name {name!r}")
        if len(id_hex) != 8 or any(c not in "0123456789abcdef" for c in id_hex):
            raise VerificationError("key id is not 8 lower-case hex digits")
        data = _b64(key_b64, "the key")
        if len(data) != 33 or data[0] != 0x01:
            raise VerificationError("key is not 0x01 followed by a 32-byte Ed25519 key")
        kid = bytes.fromhex(id_hex)
        if _key_id(name, data[1:]) != kid:
            raise VerificationError("key id does not match the key's name and bytes")
        return VerifierKey(name, kid, data[1:], text)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint whose signature was verified."""

    origin: str
    """The ledger's name."""
    size: int
    """The tree size: entries ``0 .. size-1`` are covered."""
    root: bytes = field(repr=False)
    """The 32-byte Merkle root."""
    extensions: list[str] = field(default_factory=list)
    """Extension lines of the body, if any."""
    note: str = field(default="", repr=False)
    """The signed note as given."""

    @property
    def root_hex(self) -> str:
        """The root in lower-case hex."""
        return self.root.hex()


def _parse_body(text: str) -> tuple[str, int, bytes, list[str]]:
    if any(_is_control(c) and c != "\n" for c in text):
        raise VerificationError("control character in the checkpoint body")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(line == "" for line in lines):
        raise VerificationError("checkpoint body needs origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not (size_text.isascii() and size_text.isdigit()) or (
        len(size_text) > 1 and size_text[0] == "0"
    ):
        raise VerificationError(f"bad tree size {size_text!r}")
    size = int(size_text)
    if size >= 2**64:
        raise VerificationError("tree size does not fit in 64 bits")
    root = _b64(root_text, "the root")
    if len(root) != 32:
        raise VerificationError("root is not 32 bytes")
    return origin, size, root, lines[3:]


def open_checkpoint(note: str, key: str | VerifierKey) -> Checkpoint:
    """Open a signed checkpoint note with a verifier key (entry-v1.md §
    Checkpoints): every signature line by that key must verify, and there
    must be at least one."""
    k = key if isinstance(key, VerifierKey) else VerifierKey.parse(key)
    if not note.endswith("\n"):
        raise VerificationError("checkpoint note does not end with a newline")
    at = note.rfind("\n\n")
    if at < 0:
        raise VerificationError("checkpoint note has no blank line before its signatures")
    text, sigs = note[: at + 1], note[at + 2 :]
    if sigs == "":
        raise VerificationError("checkpoint note has no signature lines")
    public = Ed25519PublicKey.from_public_bytes(k.public_key)
    matched = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise VerificationError(f"signature line does not start with an em dash: {line!r}")
        name, _, b64 = line[2:].partition(" ")
        blob = _b64(b64, "a signature")
        if len(blob) < 5 or name != k.name or blob[:4] != k.key_id:
            continue
        try:
            public.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise VerificationError(f"the signature by {k.name} does not verify") from None
        matched += 1
    if matched == 0:
        raise VerificationError(f"no signature by the key {k.name}+{k.key_id.hex()}")
    origin, size, root, extensions = _parse_body(text)
    return Checkpoint(origin, size, root, extensions, note)


# -------------------------------------------------------------------- receipts


def _hash(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise VerificationError(f"{what} is not 64 lower-case hex digits: {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise VerificationError(f"{what} is not hex: {value!r}") from None


def verify_receipt(
    receipt: Receipt | dict[str, Any], checkpoint: str, proof: dict[str, Any], key: str
) -> Checkpoint:
    """Check that the decision of ``receipt`` is in the ledger whose checkpoint
    ``checkpoint`` (a signed note) the verifier key ``key`` signed.

    ``proof`` is the daemon's answer to ``GET /v1/proofs/inclusion?seq=SEQ``
    (:meth:`Recorder.inclusion_proof`), for the checkpoint's tree size. Returns
    the verified checkpoint; raises :class:`VerificationError` naming what does
    not check out.
    """
    if isinstance(receipt, dict):
        receipt = Receipt(receipt["seq"], receipt["leaf_hash"], receipt.get("duplicate", False))
    cp = open_checkpoint(checkpoint, key)
    seq, size = proof.get("seq"), proof.get("size")
    if seq != receipt.seq:
        raise VerificationError(f"the proof is for seq {seq}, the receipt for {receipt.seq}")
    if size != cp.size:
        raise VerificationError(
            f"the proof is for a tree of {size} entries, the checkpoint for {cp.size}"
        )
    leaf = _hash(receipt.leaf_hash, "the receipt's leaf hash")
    if "leaf_hash" in proof and _hash(proof["leaf_hash"], "the proof's leaf hash") != leaf:
        raise VerificationError(
            f"entry {seq} has leaf hash {proof['leaf_hash']}, the receipt says {receipt.leaf_hash}"
        )
    path_raw = proof.get("proof")
    if not isinstance(path_raw, list):
        raise VerificationError("the proof has no list of hashes")
    path = [_hash(h, f"proof hash {i}") for i, h in enumerate(path_raw)]
    if not verify_inclusion(receipt.seq, cp.size, leaf, path, cp.root):
        raise VerificationError(
            f"seq {receipt.seq} with leaf hash {receipt.leaf_hash} is not proven to be in the "
            f"tree of {cp.size} entries signed in the checkpoint"
        )
    return cp
