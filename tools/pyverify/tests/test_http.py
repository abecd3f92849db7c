"""verify_archive.py reads an archive over HTTP from a real S3 server (SeaweedFS's S3
gateway with anonymous read, started by scripts/archive-tests.sh), with plain GETs.

Needs AWS_ENDPOINT_URL and CAIRN_TEST_S3_BUCKET (as `scripts/seaweedfs.sh start` prints
them); skipped without them, unless CAIRN_PYVERIFY_REQUIRE_S3=1 (as archive-tests.sh
sets it), when their absence is a failure.
"""

from __future__ import annotations

import os
import secrets
import urllib.request

import pytest
from conftest import REDACTED_SEQ, Archive
from support import pyverify


def gateway() -> tuple[str, str]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    bucket = os.environ.get("CAIRN_TEST_S3_BUCKET")
    if not endpoint or not bucket:
        reason = (
            "no S3 gateway: AWS_ENDPOINT_URL and CAIRN_TEST_S3_BUCKET are not set "
            "(scripts/archive-tests.sh starts SeaweedFS and runs this test)"
        )
        if os.environ.get("CAIRN_PYVERIFY_REQUIRE_S3") == "1":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return endpoint.rstrip("/"), bucket


def test_archive_in_s3_verifies_over_anonymous_http(small: Archive) -> None:
    endpoint, bucket = gateway()
    prefix = f"pyverify-{secrets.token_hex(4)}"
    small.ledger.archive(f"s3://{bucket}/{prefix}")
    base = f"{endpoint}/{bucket}/{prefix}"
    # The GETs below carry no credentials: the bucket is readable anonymously.
    with urllib.request.urlopen(f"{base}/checkpoint", timeout=30) as resp:
        assert resp.read() == (small.path / "checkpoint").read_bytes()

    over_http = pyverify(base, small.key, "--checkpoint", small.kept)
    assert over_http.status == 0, over_http.report
    from_dir = pyverify(small.path, small.key, "--checkpoint", small.kept)
    for field in ("size", "entries_checked", "payloads_checked", "root", "erased"):
        assert over_http.report[field] == from_dir.report[field], field
    assert {"seq": REDACTED_SEQ, "slot": "input", "by": small.size - 1} in list(
        over_http.report["erased"]  # type: ignore[call-overload]
    )

    # A range of the same archive, and a prefix that holds nothing (could not check).
    ranged = pyverify(base, small.key, "--from", "250", "--to", "520")
    assert ranged.status == 0 and ranged.report["entries_checked"] == 271, ranged.report
    nothing = pyverify(f"{endpoint}/{bucket}/no-such-{prefix}", small.key)
    assert nothing.status == 2, nothing.report
