#!/usr/bin/env python3
"""Independent verifier of Cairn's format test vectors.

Written from schemas/entry-v1.md and schemas/bundle-v1.md alone. It decodes every entry of
schemas/test-vectors/entries-v1.json field by field, re-encodes it, recomputes leaf
hashes, payload commitments, the hash chain and the tree root, checks that every
invalid entry is rejected, recomputes the roots and proofs of
schemas/test-vectors/merkle-blake3.json and verifies them with the RFC 9162
verification algorithms, opens the signed checkpoints (Ed25519 verified in pure
Python) and refuses the invalid ones, and verifies the evidence bundles of
schemas/test-vectors/bundles-v1.json. If schemas/test-vectors/rfc9162-sha256.json is present, the same tree code
is also checked against those SHA-256 reference vectors.

The format code is in the modules beside this file, one per part of the pages:
entry_codec.py (entry decoding and encoding), writer_rules.py (the writer rules),
merkle.py (the tree and its proofs), ed25519.py (signature verification),
checkpoint_note.py (verifier keys and checkpoint notes), bundle_check.py (bundle
verification) and hashing.py (BLAKE3 and SHA-256). This file holds the checks of the
vectors and the command line.

Usage: python3 verify_vectors.py [--vectors DIR] [-v]
Prints "N passed, 0 failed" and exits 0 when everything agrees; exits 1 otherwise.

Requires Python 3.11+ and the `blake3` package (pip install blake3).
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path

from bundle_check import bundle_problems
from checkpoint_note import key_id, open_note, parse_verifier_key
from ed25519 import ed25519_verify
from entry_codec import (
    BODY_VARIANTS,
    FORMAT_VERSION,
    SLOT_NAMES,
    DecodeError,
    decode_entry,
    encode_entry,
    same,
)
from hashing import ZERO_HASH, blake3, sha256
from merkle import TreeHash, consistency, mth, path, verify_consistency, verify_inclusion
from writer_rules import keys_in_order, writer_rule_problems


# ---------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------


class Checks:
    def __init__(self, verbose: bool):
        self.passed = 0
        self.failed = 0
        self.verbose = verbose

    def check(self, name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            self.failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
        else:
            self.passed += 1
            if self.verbose:
                print(f"ok   {name}")


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


def check_entries(c: Checks, path_: Path) -> None:
    v = json.loads(path_.read_text(encoding="utf-8"))
    expect_version = v.get("format_version")
    c.check("entries: format_version", lambda: expect(expect_version == FORMAT_VERSION, str(expect_version)))
    decoded: dict[int, dict] = {}
    leaves: list[bytes] = []

    for i, vec in enumerate(v["entries"]):
        name = f"entries[{i}] {vec['name']}"
        data = bytes.fromhex(vec["entry_hex"])
        # The chain links the bytes as given, whether or not they decode.
        prev = leaves[-1] if leaves else ZERO_HASH
        leaf = blake3(b"\x00" + data)
        leaves.append(leaf)

        def one(vec: dict = vec, data: bytes = data, i: int = i, prev: bytes = prev,
                leaf: bytes = leaf) -> None:
            e = decode_entry(data)
            expect(same(e, vec["entry"]), f"decoded fields differ:\n  got  {e}\n  want {vec['entry']}")
            expect(encode_entry(e) == data, "re-encoding the decoded entry gives other bytes")
            expect(len(data) == vec["entry_len"], "entry_len")
            expect(BODY_VARIANTS.index(e["body"]["variant"]) == struct.unpack("<I", data[49:53])[0],
                   "variant index at offset 49")
            expect(
                {"DecisionV1": "decision", "RedactionV1": "redaction", "ReplayV1": "replay",
                 "AlertV1": "alert"}[
                    e["body"]["variant"]] == vec["kind"], "kind")
            expect(leaf.hex() == vec["leaf_hash_hex"], f"leaf hash {leaf.hex()}")
            expect(e["seq"] == i, f"seq {e['seq']} at position {i}")
            expect(e["prev_hash"] == prev.hex(), "prev_hash is not the previous leaf hash")
            problems = writer_rule_problems(e, decoded)
            expect(not problems, "; ".join(problems))
            if e["body"]["variant"] == "DecisionV1":
                for slot in SLOT_NAMES:
                    salt = bytes.fromhex(vec[f"{slot}_salt_hex"])
                    payload = bytes.fromhex(vec[f"{slot}_payload_hex"])
                    ref = e["body"][slot]
                    expect(len(salt) == 32, f"{slot} salt is not 32 bytes")
                    expect(ref["len"] == len(payload), f"{slot} length")
                    commitment = blake3(salt + payload).hex()
                    expect(commitment == ref["commitment"], f"{slot} commitment")
                    expect(commitment == vec[f"{slot}_commitment_hex"], f"{slot} commitment_hex")
                    expect(payload.decode("utf-8") == vec[f"{slot}_payload_utf8"], f"{slot} utf8")
                    expect(keys_in_order(payload.decode("utf-8")), f"{slot} payload keys not sorted")
            decoded[e["seq"]] = e

        c.check(name, one)

    t = TreeHash(blake3)
    c.check("entries: tree root", lambda: expect(
        len(leaves) == v["tree_size"] and mth(t, leaves).hex() == v["tree_root_hex"], "tree root"))

    for bad in v["invalid_entries"]:
        def reject(bad: dict = bad) -> None:
            try:
                decode_entry(vector_bytes(bad))
            except DecodeError:
                return
            raise AssertionError(f"decoded, but must be rejected: {bad['why']}")

        c.check(f"invalid entry {bad['name']} is rejected", reject)

    for good in v["limit_entries"]:
        def accept(good: dict = good) -> None:
            data = vector_bytes(good)
            expect(len(data) == good["entry_len"], "entry_len")
            e = decode_entry(data)
            expect(encode_entry(e) == data, "re-encoding gives other bytes")
            expect(blake3(b"\x00" + data).hex() == good["leaf_hash_hex"], "leaf hash")

        c.check(f"limit entry {good['name']} is accepted", accept)


def vector_bytes(vec: dict) -> bytes:
    """`entry_hex`, or `entry_parts`: [hex, count] pairs, each repeated count times."""
    if "entry_parts" in vec:
        return b"".join(bytes.fromhex(h) * n for h, n in vec["entry_parts"])
    return bytes.fromhex(vec["entry_hex"])


def check_tree_vectors(c: Checks, label: str, t: TreeHash, inputs: list[bytes],
                       leaf_hashes: list[bytes] | None, roots: list[bytes],
                       inclusion: list[dict], consistency_cases: list[dict]) -> list[bytes]:
    d = [t.leaf(x) for x in inputs]
    if leaf_hashes is not None:
        c.check(f"{label}: leaf hashes", lambda: expect(d == leaf_hashes, "leaf hashes differ"))

    def roots_ok() -> None:
        for n in range(len(roots)):
            expect(mth(t, d[:n]) == roots[n], f"root of size {n}")

    c.check(f"{label}: roots of sizes 0..{len(roots) - 1}", roots_ok)

    for case in inclusion:
        m, n = case["index"], case["size"]
        proof = [bytes.fromhex(h) for h in case["proof_hex"]]

        def incl(m: int = m, n: int = n, proof: list[bytes] = proof) -> None:
            expect(path(t, m, d[:n]) == proof, "proof differs from PATH(m, D[n])")
            expect(verify_inclusion(t, m, n, d[m], proof, roots[n]), "proof does not verify")
            expect(not verify_inclusion(t, m, n, flip(d[m]), proof, roots[n]), "altered leaf verifies")
            expect(not verify_inclusion(t, m, n, d[m], proof, flip(roots[n])), "altered root verifies")
            for j in range(len(proof)):
                bad = proof[:j] + [flip(proof[j])] + proof[j + 1:]
                expect(not verify_inclusion(t, m, n, d[m], bad, roots[n]), "altered proof verifies")
            expect(not verify_inclusion(t, m, n, d[m], proof + [roots[n]], roots[n]), "longer proof")

        c.check(f"{label}: inclusion {m} in {n}", incl)

    for case in consistency_cases:
        m, n = case["size1"], case["size2"]
        proof = [bytes.fromhex(h) for h in case["proof_hex"]]

        def cons(m: int = m, n: int = n, proof: list[bytes] = proof) -> None:
            expect(consistency(t, m, d[:n]) == proof, "proof differs from PROOF(m, D[n])")
            expect(verify_consistency(t, m, n, roots[m], roots[n], proof), "proof does not verify")
            if 0 < m < n:
                expect(not verify_consistency(t, m, n, flip(roots[m]), roots[n], proof), "altered old root")
                expect(not verify_consistency(t, m, n, roots[m], flip(roots[n]), proof), "altered new root")
                for j in range(len(proof)):
                    bad = proof[:j] + [flip(proof[j])] + proof[j + 1:]
                    expect(not verify_consistency(t, m, n, roots[m], roots[n], bad), "altered proof")
            expect(not verify_consistency(t, m, n, roots[m], roots[n], proof + [roots[n]]), "longer proof")

        c.check(f"{label}: consistency {m} -> {n}", cons)
    return d


def check_merkle(c: Checks, path_: Path) -> None:
    v = json.loads(path_.read_text(encoding="utf-8"))
    t = TreeHash(blake3)
    inputs = [bytes.fromhex(x) for x in v["leaf_inputs_hex"]]
    roots = [bytes.fromhex(x) for x in v["roots_by_size_hex"]]
    c.check("merkle: leaf i is the byte i", lambda: expect(
        inputs == [bytes([i]) for i in range(len(inputs))], "leaf inputs"))
    c.check("merkle: empty root is BLAKE3('')", lambda: expect(
        bytes.fromhex(v["empty_root_hex"]) == blake3(b"") == roots[0], "empty root"))
    check_tree_vectors(c, "merkle-blake3", t, inputs,
                       [bytes.fromhex(x) for x in v["leaf_hashes_hex"]], roots,
                       v["inclusion"], v["consistency"])

    key = v["checkpoint_key"]

    def key_ok() -> None:
        name, kid, public_key = parse_verifier_key(key["verifier_key"])
        expect(name == key["name"], "key name")
        expect(kid.hex() == key["key_id_hex"], "key id")
        expect(public_key.hex() == key["public_key_hex"], "public key")
        expect(key_id(name, public_key) == kid, "key id recomputed")

    c.check("checkpoint key", key_ok)

    for i, cp in enumerate(v["checkpoints"]):
        def one(cp: dict = cp) -> None:
            origin, size, root, extensions, text = open_note(cp["note"], key["verifier_key"])
            expect(origin == cp["origin"] and size == cp["size"], "origin or size")
            expect(root == roots[size] and root.hex() == cp["root_hex"], "root is not the tree root")
            expect(extensions == cp["extensions"], "extension lines")
            expect(text == cp["body"], "body text")
            rebuilt = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n" + "".join(
                x + "\n" for x in extensions)
            expect(rebuilt == text, "body does not re-encode")
            expect(ed25519_verify(bytes.fromhex(key["public_key_hex"]), text.encode(),
                                  bytes.fromhex(cp["signature_hex"])), "signature_hex")
            # An altered body must not open.
            altered = cp["note"].replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
            try:
                open_note(altered, key["verifier_key"])
            except ValueError:
                pass
            else:
                raise AssertionError("a note with an altered size opens")

        c.check(f"checkpoint {i} (size {cp['size']})", one)

    for bad in v["invalid_checkpoints"]:
        def reject(bad: dict = bad) -> None:
            try:
                open_note(bad["note"], key["verifier_key"])
            except ValueError:
                return
            raise AssertionError(f"opens, but must be rejected: {bad['why']}")

        c.check(f"invalid checkpoint {bad['name']} is rejected", reject)


def check_bundles(c: Checks, path_: Path) -> None:
    v = json.loads(path_.read_text(encoding="utf-8"))
    for b in v["bundles"]:
        def one(b: dict = b) -> None:
            problems = bundle_problems(b["bundle"], v["verifier_key"])
            if b["valid"]:
                expect(not problems, "; ".join(problems))
            else:
                expect(bool(problems), f"accepted, but must be rejected: {b['why']}")

        c.check(f"bundle {b['name']} is {'valid' if b['valid'] else 'invalid'}", one)


def check_rfc9162_sha256(c: Checks, path_: Path) -> None:
    v = json.loads(path_.read_text(encoding="utf-8"))
    t = TreeHash(sha256)
    inputs = [bytes.fromhex(x) for x in v["leaf_inputs_hex"]]
    roots = [bytes.fromhex(x) for x in v["roots_by_size_hex"]]
    if len(roots) == len(inputs):
        # Some publications list roots for sizes 1..n only.
        roots = [t.empty()] + roots
    check_tree_vectors(c, "rfc9162-sha256", t, inputs, None, roots, v["inclusion"], v["consistency"])


def main() -> int:
    default_dir = Path(__file__).resolve().parent.parent.parent / "schemas" / "test-vectors"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", type=Path, default=default_dir,
                    help=f"directory holding the vector files (default: {default_dir})")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every check")
    args = ap.parse_args()

    c = Checks(args.verbose)
    check_entries(c, args.vectors / "entries-v1.json")
    check_merkle(c, args.vectors / "merkle-blake3.json")
    check_bundles(c, args.vectors / "bundles-v1.json")
    reference = args.vectors / "rfc9162-sha256.json"
    if reference.exists():
        check_rfc9162_sha256(c, reference)
    elif args.verbose:
        print(f"(no {reference.name}; SHA-256 reference vectors skipped)")
    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
