"""The Merkle tree over leaf hashes, its root, and its inclusion and consistency proofs,
generic over the hash function (BLAKE3 for Cairn's tree, SHA-256 for the RFC 9162
reference vectors).

Follows schemas/entry-v1.md "Merkle tree and proofs" ("Tree hash", "Inclusion proofs",
"Consistency proofs"), which are those of RFC 9162 §2.1: MTH, PATH and PROOF, and the
verification algorithms of §2.1.3.2 and §2.1.4.2.
"""

from __future__ import annotations

from collections.abc import Callable

# ---------------------------------------------------------------------------
# Merkle tree ("Merkle tree and proofs"), generic over the hash function.
# ---------------------------------------------------------------------------


class TreeHash:
    def __init__(self, h: Callable[[bytes], bytes]):
        self.h = h

    def empty(self) -> bytes:
        return self.h(b"")

    def leaf(self, data: bytes) -> bytes:
        return self.h(b"\x00" + data)

    def node(self, left: bytes, right: bytes) -> bytes:
        return self.h(b"\x01" + left + right)


def split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(t: TreeHash, d: list[bytes]) -> bytes:
    """MTH over a list of leaf hashes."""
    if len(d) == 0:
        return t.empty()
    if len(d) == 1:
        return d[0]
    k = split(len(d))
    return t.node(mth(t, d[:k]), mth(t, d[k:]))


def path(t: TreeHash, m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = split(len(d))
    if m < k:
        return [*path(t, m, d[:k]), mth(t, d[k:])]
    return [*path(t, m - k, d[k:]), mth(t, d[:k])]


def subproof(t: TreeHash, m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(t, d)]
    k = split(n)
    if m <= k:
        return [*subproof(t, m, d[:k], b), mth(t, d[k:])]
    return [*subproof(t, m - k, d[k:], False), mth(t, d[:k])]


def consistency(t: TreeHash, m: int, d: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(d):
        return []
    return subproof(t, m, d, True)


def verify_inclusion(
    t: TreeHash, m: int, n: int, h: bytes, proof: list[bytes], root: bytes
) -> bool:
    if m >= n:
        return False
    fn, sn, r = m, n - 1, h
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 == 1 or fn == sn:
            r = t.node(p, r)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = t.node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    t: TreeHash, m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    if m > n:
        return False
    if m == 0:
        return not proof and old_root == t.empty()
    if m == n:
        return not proof and old_root == new_root
    if not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root, *proof]
    fn, sn = m - 1, n - 1
    while fn & 1 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 == 1 or fn == sn:
            fr = t.node(c, fr)
            sr = t.node(c, sr)
            if fn & 1 == 0:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = t.node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
