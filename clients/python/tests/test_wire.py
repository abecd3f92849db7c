"""The pure parts: backoff, ``Retry-After``, answers read into receipts and
per-line errors, and decisions written as lines."""

from __future__ import annotations

import json

import pytest

from cairn import Decision, InvalidDecision, Model, Receipt
from cairn._wire import ErrorBody, KeyMaker, backoff_delay_s, parse_receipts, retry_after


def test_backoff_grows_within_half_and_whole_and_is_capped() -> None:
    assert backoff_delay_s(1, None, 0.0, 0.1, 1.0) == pytest.approx(0.05)
    assert backoff_delay_s(1, None, 0.999, 0.1, 1.0) == pytest.approx(0.09995)
    assert backoff_delay_s(3, None, 0.0, 0.1, 1.0) == pytest.approx(0.2)
    assert backoff_delay_s(200, None, 1.0, 0.1, 1.0) == pytest.approx(1.0)


def test_retry_after_is_a_floor_and_is_capped() -> None:
    assert backoff_delay_s(1, 2, 0.0, 0.1, 1.0) == pytest.approx(2.0)
    assert backoff_delay_s(1, 2, 0.5, 0.1, 1.0) == pytest.approx(2.05)
    assert backoff_delay_s(10, 0, 0.0, 0.1, 1.0) == pytest.approx(0.5)
    assert backoff_delay_s(1, 1_000_000, 0.0, 0.1, 1.0) == pytest.approx(60.0)
    assert retry_after("3") == 3 and retry_after(" 7 ") == 7
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None and retry_after(None) is None


def test_receipts_are_read_in_order_and_counted() -> None:
    h = "ab" * 32
    body = json.dumps(
        {
            "receipts": [
                {"seq": 4, "leaf_hash": h, "duplicate": False},
                {"seq": 2, "leaf_hash": h, "duplicate": True},
            ]
        }
    ).encode()
    assert parse_receipts(body, 2) == [Receipt(4, h, False), Receipt(2, h, True)]
    with pytest.raises(ValueError, match="2 receipts for 3 decisions"):
        parse_receipts(body, 3)
    with pytest.raises(ValueError):
        parse_receipts(b'{"receipts":[{"seq":1,"leaf_hash":"zz"}]}', 1)
    with pytest.raises(ValueError):
        parse_receipts(b"<html>", 1)


def test_error_bodies_are_read_or_kept_as_text() -> None:
    e = ErrorBody.parse(
        b'{"error":"1 of 2 lines rejected","code":"invalid_batch",'
        b'"lines":[{"line":2,"error":"missing field `model`"}]}'
    )
    assert (e.code, e.lines) == ("invalid_batch", [(2, "missing field `model`")])
    e = ErrorBody.parse(b"<html>bad gateway</html>")
    assert e.error == "<html>bad gateway</html>" and e.code == ""


def test_a_key_is_added_once_and_kept_when_given() -> None:
    keys = KeyMaker()
    d = Decision("s", Model("m", "1"), 1, 2)
    a, b = json.loads(keys.line(d)), json.loads(keys.line(d))
    assert a["idempotency_key"] != b["idempotency_key"]
    assert "request_id" not in a, "unset fields are left out"
    given = {"stream": "s", "idempotency_key": "mine"}
    assert json.loads(keys.line(given))["idempotency_key"] == "mine"
    plain = {"stream": "s"}
    keys.line(plain)
    assert plain == {"stream": "s"}, "the caller's dict is not changed"
    null = {"stream": "s", "idempotency_key": None}
    assert json.loads(keys.line(null))["idempotency_key"].startswith("cairn-py-")
    assert b"\n" not in keys.line({"input": "a\nb"})
    circular: dict[str, object] = {"stream": "s"}
    circular["input"] = circular
    with pytest.raises(InvalidDecision, match="cannot be written as JSON"):
        keys.line(circular)
    with pytest.raises(InvalidDecision, match="cannot be written as JSON"):
        keys.line({"score": float("inf")})
    assert json.loads(keys.line({"input": {1, 2}}))["input"] == [1, 2]
    with pytest.raises(InvalidDecision, match="not a JSON object"):
        keys.line([1, 2])  # type: ignore[arg-type]
