"""The signature we define for the generic and Asterisk webhooks."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from webhooks import InboundRequest, SignatureError
from webhooks.hmac_signing import sign, verify_signed

SECRET = "s3cret-shared-with-the-pbx"
BODY = b'{"call_id":"1","event":"ringing","timestamp":1714546800}'
NOW = datetime(2024, 5, 1, 7, 0, 0, tzinfo=UTC)
STAMP = int(NOW.timestamp())


def request(headers: dict[str, str], body: bytes = BODY) -> InboundRequest:
    return InboundRequest(provider="generic", subpath="", method="POST",
                          url="https://clinic.example/webhooks/generic", headers=headers, body=body)


def test_signature_is_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    by_hand = hmac.new(SECRET.encode(), f"{STAMP}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, STAMP, BODY) == by_hand
    # the example in docs/generic-webhook.md
    assert sign("example-secret", 1714546800, b'{"call_id":"42","event":"ringing"}') == (
        hmac.new(b"example-secret", b'1714546800.{"call_id":"42","event":"ringing"}',
                 hashlib.sha256).hexdigest())


def test_fresh_signed_request_passes_and_header_names_are_case_insensitive() -> None:
    headers = {"x-callcenter-timestamp": str(STAMP),
               "X-CALLCENTER-SIGNATURE": sign(SECRET, STAMP, BODY).upper()}
    verify_signed(request(headers), SECRET, 300, NOW)


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "missing X-Callcenter-Timestamp"),
    ({"X-Callcenter-Timestamp": str(STAMP)}, "missing X-Callcenter-Signature"),
    ({"X-Callcenter-Timestamp": "2024-05-01", "X-Callcenter-Signature": "ab"}, "unix seconds"),
    ({"X-Callcenter-Timestamp": str(STAMP), "X-Callcenter-Signature": "00" * 32}, "does not match"),
    ({"X-Callcenter-Timestamp": str(STAMP), "X-Callcenter-Signature": "ünïcode"}, "does not match"),
])
def test_bad_headers_are_rejected(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify_signed(request(headers), SECRET, 300, NOW)


def test_tampered_body_is_rejected() -> None:
    headers = {"X-Callcenter-Timestamp": str(STAMP),
               "X-Callcenter-Signature": sign(SECRET, STAMP, BODY)}
    with pytest.raises(SignatureError, match="does not match"):
        verify_signed(request(headers, BODY.replace(b"ringing", b"missed")), SECRET, 300, NOW)


def test_stale_or_future_timestamp_is_rejected_even_when_signed() -> None:
    for stamp in (STAMP - 301, STAMP + 301):
        headers = {"X-Callcenter-Timestamp": str(stamp),
                   "X-Callcenter-Signature": sign(SECRET, stamp, BODY)}
        with pytest.raises(SignatureError, match="replay window"):
            verify_signed(request(headers), SECRET, 300, NOW)
    edge = STAMP - 300
    verify_signed(request({"X-Callcenter-Timestamp": str(edge),
                           "X-Callcenter-Signature": sign(SECRET, edge, BODY)}), SECRET, 300, NOW)


def test_no_secret_refuses_everything() -> None:
    headers = {"X-Callcenter-Timestamp": str(STAMP), "X-Callcenter-Signature": sign("", STAMP, BODY)}
    with pytest.raises(SignatureError, match="no secret"):
        verify_signed(request(headers), "", 300, NOW)
