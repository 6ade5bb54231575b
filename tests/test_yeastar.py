"""Yeastar P-Series: the reference X-Signature example, Yeastar's own CDR and invitation payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import PAYLOADS
from tests.dialects import ADAPTER_SETTINGS
from webhooks import CallEventKind, Direction, InboundRequest, SignatureError
from webhooks.yeastar import YeastarAdapter

ADAPTER = YeastarAdapter()
REFERENCE = PAYLOADS / "yeastar" / "reference"


def _request(body: bytes, signature: str | None = None) -> InboundRequest:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Signature"] = signature
    return InboundRequest(provider="yeastar", subpath="", method="POST", url="https://x/",
                          headers=headers, body=body)


def _reference_payload(name: str) -> bytes:
    return json.dumps(json.loads((REFERENCE / name).read_text())["payload"]).encode()


def test_reference_signature_example() -> None:
    example = json.loads((REFERENCE / "webhook_signature_example.json").read_text())
    settings = {**ADAPTER_SETTINGS, "YEASTAR_SECRET": example["secret"]}
    ADAPTER.verify(_request(example["raw_body"].encode(), example["X-Signature"]), settings)
    with pytest.raises(SignatureError):
        ADAPTER.verify(_request(example["raw_body"].encode() + b" ", example["X-Signature"]),
                       settings)


def test_yeastars_cdr_example_is_an_internal_answered_call() -> None:
    events = ADAPTER.parse(_request(_reference_payload("p_series_30012_new_cdr.doc.json")),
                           {**ADAPTER_SETTINGS, "TIMEZONE": "Asia/Shanghai"})
    assert [e.kind for e in events] == [CallEventKind.RINGING, CallEventKind.ANSWERED,
                                        CallEventKind.ENDED, CallEventKind.RECORDING]
    assert {e.direction for e in events} == {Direction.INTERNAL}
    assert events[0].occurred_at == datetime(2022, 4, 27, 11, 4, 36, tzinfo=UTC)
    assert events[2].duration == 21
    assert events[3].recording_url.endswith("1651057476.362-2005-2002-Internal.wav")


def test_call_id_seconds_match_the_cdr_start_in_yeastars_example() -> None:
    """Why status events may be stamped from the call id: Yeastar's own CDR agrees."""
    msg = json.loads(json.loads((REFERENCE / "p_series_30012_new_cdr.doc.json").read_text())
                     ["payload"]["msg"])
    (ringing, *_rest) = ADAPTER.parse(_request(_reference_payload(
        "p_series_30012_new_cdr.doc.json")), {**ADAPTER_SETTINGS, "TIMEZONE": "Asia/Shanghai"})
    assert int(msg["call_id"].split(".")[0]) == int(ringing.occurred_at.timestamp())


def test_yeastars_invitation_example_rings() -> None:
    (event,) = ADAPTER.parse(
        _request(_reference_payload("p_series_30016_inbound_call_invitation.doc.json")),
        ADAPTER_SETTINGS)
    assert event.kind == CallEventKind.RINGING and event.direction == Direction.INBOUND
    assert event.provider_call_id == "1648861726.280" and event.caller_raw == "5503301"
    assert event.occurred_at == datetime.fromtimestamp(1648861726, UTC)


def test_msg_may_arrive_as_an_object() -> None:
    body = json.dumps({"type": 30011, "sn": "x", "msg": {"call_id": "1714557600.9", "members": [
        {"extension": {"number": "101", "member_status": "ANSWER"}},
        {"outbound": {"from": "101", "to": "79001234567", "member_status": "ANSWERED"}}]}})
    (event,) = ADAPTER.parse(_request(body.encode()), ADAPTER_SETTINGS)
    assert event.kind == CallEventKind.ANSWERED and event.direction == Direction.OUTBOUND
    assert event.dialed == "+79001234567" and event.extension == "101"


def test_other_event_types_change_nothing() -> None:
    body = json.dumps({"type": 30008, "sn": "x", "msg": "{\"extension\":\"101\"}"}).encode()
    assert ADAPTER.parse(_request(body), ADAPTER_SETTINGS) == []
