"""Telnyx: the Ed25519 reference vector, the replay window, Telnyx's documented payloads."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PAYLOADS
from tests.dialects import ADAPTER_SETTINGS
from webhooks import CallEventKind, Direction, InboundRequest, SignatureError
from webhooks.telnyx import TelnyxAdapter

REFERENCE = PAYLOADS / "telnyx" / "reference"
VECTOR = json.loads((REFERENCE / "signature_example.json").read_text())
STAMP = int(VECTOR["telnyx-timestamp"])
SETTINGS = {**ADAPTER_SETTINGS, "TELNYX_PUBLIC_KEY": VECTOR["public_key_b64"]}


def _request(body: bytes, stamp: str = VECTOR["telnyx-timestamp"],
             signature: str = VECTOR["telnyx-signature-ed25519"]) -> InboundRequest:
    return InboundRequest(provider="telnyx", subpath="", method="POST", url="https://x/",
                          headers={"telnyx-timestamp": stamp,
                                   "telnyx-signature-ed25519": signature}, body=body)


def test_reference_vector_verifies_within_the_window() -> None:
    TelnyxAdapter(clock=lambda: STAMP + 299).verify(
        _request(VECTOR["raw_body"].encode()), SETTINGS)


@pytest.mark.parametrize("offset", [301, -301, 10**6])
def test_stale_or_future_time_stamps_are_refused(offset: int) -> None:
    with pytest.raises(SignatureError, match="replay window"):
        TelnyxAdapter(clock=lambda: STAMP + offset).verify(
            _request(VECTOR["raw_body"].encode()), SETTINGS)


def test_a_fresh_time_stamp_on_an_old_signature_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        TelnyxAdapter(clock=lambda: STAMP + 1000).verify(
            _request(VECTOR["raw_body"].encode(), stamp=str(STAMP + 1000)), SETTINGS)


@pytest.mark.parametrize("signature", ["", "not base64!", "c2hvcnQ="])
def test_malformed_signature_headers_are_refused(signature: str) -> None:
    with pytest.raises(SignatureError):
        TelnyxAdapter(clock=lambda: STAMP).verify(
            _request(VECTOR["raw_body"].encode(), signature=signature), SETTINGS)


def _doc(name: str) -> bytes:
    document = json.loads((REFERENCE / name).read_text())
    return json.dumps(document.get("body") or document["body_v1"]).encode()


def test_documented_payloads_map_to_events() -> None:
    adapter = TelnyxAdapter()
    (initiated,) = adapter.parse(_request(_doc("call_initiated.doc.json")), SETTINGS)
    assert initiated.kind == CallEventKind.RINGING and initiated.caller == "+12025550133"
    assert initiated.direction == Direction.INBOUND
    (answered_v1,) = adapter.parse(_request(_doc("call_answered.doc.json")), SETTINGS)
    assert answered_v1.kind == CallEventKind.ANSWERED
    (hangup,) = adapter.parse(_request(_doc("call_hangup.doc.json")), SETTINGS)
    assert hangup.kind == CallEventKind.ENDED and hangup.extra["hangup_cause"] == "call_rejected"
    (saved,) = adapter.parse(_request(_doc("call_recording_saved.doc.json")), SETTINGS)
    assert saved.recording_url == "http://example.com/recording.mp3"


def _leg(event_type: str, to: str) -> bytes:
    return json.dumps({"data": {"event_type": event_type, "id": f"id-{event_type}",
                                "occurred_at": "2024-05-01T10:00:05Z",
                                "payload": {"call_session_id": "s1", "call_leg_id": "l2",
                                            "from": "+74951234567", "to": to,
                                            "direction": "outgoing"}}}).encode()


def test_desk_phone_leg_carries_the_extension_and_its_hangup_does_not_end_the_call() -> None:
    adapter = TelnyxAdapter()
    (ringing,) = adapter.parse(_request(_leg("call.initiated", "sip:101@clinic.sip.telnyx.com")),
                               SETTINGS)
    assert ringing.extension == "101" and ringing.provider_call_id == "s1"
    assert adapter.parse(_request(_leg("call.hangup", "sip:101@clinic.sip.telnyx.com")),
                         SETTINGS) == []
    (outbound,) = adapter.parse(_request(_leg("call.initiated", "+79001234567")), SETTINGS)
    assert outbound.direction == Direction.OUTBOUND and outbound.dialed == "+79001234567"


def test_other_call_control_events_change_nothing() -> None:
    body = json.dumps({"data": {"event_type": "call.speak.ended", "id": "x",
                                "occurred_at": "2024-05-01T10:00:00Z", "payload": {}}}).encode()
    assert TelnyxAdapter().parse(_request(body), SETTINGS) == []
