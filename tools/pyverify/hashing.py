"""The hash functions: BLAKE3 for entries, payloads and the tree, SHA-256 for key ids
and the RFC 9162 reference vectors.

Follows schemas/entry-v1.md "Hashing" (and "Checkpoints" for the key id).
"""

from __future__ import annotations

import hashlib
import sys

try:
    import blake3 as _blake3
except ImportError:
    sys.exit(
        "verify_vectors.py needs the `blake3` package: pip install blake3  "
        "(see tools/pyverify/README.md)"
    )

ZERO_HASH = bytes(32)


def blake3(data: bytes) -> bytes:
    digest: bytes = _blake3.blake3(data).digest()
    return digest


def blake3_keyed(key: bytes, data: bytes) -> bytes:
    """BLAKE3 in keyed-hash mode (a 32-byte key)."""
    digest: bytes = _blake3.blake3(data, key=key).digest()
    return digest


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
