"""Receipts checked against the daemon's signed checkpoints and inclusion proofs,
and evidence bundles written by ``cairn bundle export``, in pure Python."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import Daemon, cairn, decision

from cairn import (
    CannotCheck,
    Receipt,
    Recorder,
    VerificationError,
    open_checkpoint,
    verify_bundle,
    verify_receipt,
)

REPO = Path(__file__).resolve().parents[3]


def test_receipts_verify_against_the_daemons_checkpoint_and_proofs(daemon: Daemon) -> None:
    with Recorder(daemon.url) as rec:
        receipts = [f.result(timeout=30) for f in [rec.record(decision(i)) for i in range(37)]]
        note = daemon.checkpoint_covering(37)
        key = daemon.verifier_key
        for r in receipts:
            proof = rec.inclusion_proof(r.seq)
            # The proof's own note may be newer than ours; ask for our size.
            proof = rec.inclusion_proof(r.seq, size=open_checkpoint(note, key).size)
            cp = verify_receipt(r, note, proof, key)
        assert cp.origin == "test.example/python" and cp.size >= 37

        r, proof = receipts[5], rec.inclusion_proof(5)
        note = proof["checkpoint"]  # defaulted size: the proof carries its note
        verify_receipt(r, note, proof, key)

        forged = Receipt(r.seq, receipts[6].leaf_hash)
        with pytest.raises(VerificationError, match="leaf hash"):
            verify_receipt(forged, note, proof, key)
        bent = dict(proof, leaf_hash=receipts[6].leaf_hash)
        with pytest.raises(VerificationError, match="not proven"):
            verify_receipt(forged, note, bent, key)
        altered = dict(proof, proof=["00" * 32, *proof["proof"][1:]])
        with pytest.raises(VerificationError, match="not proven"):
            verify_receipt(r, note, altered, key)
        with pytest.raises(VerificationError, match="proof is for seq"):
            verify_receipt(receipts[4], note, proof, key)
        size = open_checkpoint(note, key).size
        lied = note.replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
        with pytest.raises(VerificationError, match="does not verify"):
            verify_receipt(r, lied, proof, key)


def test_a_checkpoint_opens_only_with_its_own_key(daemon: Daemon, tmp_path: Path) -> None:
    with Recorder(daemon.url) as rec:
        rec.record(decision(0)).result(timeout=30)
    note = daemon.checkpoint_covering(1)
    other = Daemon(tmp_path / "other").start()
    try:
        with pytest.raises(VerificationError, match="no signature by the key"):
            open_checkpoint(note, other.verifier_key)
    finally:
        other.kill()
    with pytest.raises(VerificationError):
        open_checkpoint(note, "not-a-key")


def test_the_format_vectors_open_and_prove() -> None:
    vectors = json.loads((REPO / "schemas/test-vectors/merkle-blake3.json").read_text())
    key = vectors["checkpoint_key"]["verifier_key"]
    for cp in vectors["checkpoints"]:
        opened = open_checkpoint(cp["note"], key)
        assert (opened.origin, opened.size, opened.root.hex()) == (
            cp["origin"],
            cp["size"],
            cp["root_hex"],
        )
    leaves = vectors["leaf_hashes_hex"]
    roots = vectors["roots_by_size_hex"]
    from cairn.verify import verify_inclusion

    for case in vectors["inclusion"]:
        m, n = case["index"], case["size"]
        proof = [bytes.fromhex(h) for h in case["proof_hex"]]
        assert verify_inclusion(m, n, bytes.fromhex(leaves[m]), proof, bytes.fromhex(roots[n]))
        assert not verify_inclusion(
            m, n, bytes.fromhex(leaves[m]), proof[:-1] or [b"\0" * 32], bytes.fromhex(roots[n])
        )


def test_a_bundle_exported_by_cairn_verifies_and_tampering_is_named(
    daemon: Daemon, tmp_path: Path
) -> None:
    with Recorder(daemon.url) as rec:
        for f in [rec.record(decision(i, subject="cust-9")) for i in range(12)]:
            f.result(timeout=30)
    daemon.checkpoint_covering(12)
    key = daemon.verifier_key
    daemon.stop()
    out = tmp_path / "evidence.json"
    cairn("bundle", "export", "--data", daemon.data, "--subject", "cust-9", "--out", out)

    report = verify_bundle(out, key)
    assert report.valid, report.problems
    assert report.decisions == 12 and report.key_trusted
    assert report.origin == "test.example/python"
    assert report.entries[3]["payloads"]["input"]["text"] == '{"amount":31.5,"i":3}'
    untrusted = verify_bundle(out)
    assert untrusted.valid and not untrusted.key_trusted

    doc = json.loads(out.read_text())
    doc["entries"][2]["payloads"]["output"]["text"] = '{"label":"deny"}'
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    report = verify_bundle(bad, key)
    assert not report.valid
    assert any("seq 2 output" in p for p in report.problems), report.problems

    doc = json.loads(out.read_text())
    doc["version"] = 2
    bad.write_text(json.dumps(doc))
    with pytest.raises(CannotCheck, match="version"):
        verify_bundle(bad, key)

    # The CLI agrees with this verifier on both files.
    assert cairn("bundle", "verify", out, "--key", key, check=False).returncode == 0
