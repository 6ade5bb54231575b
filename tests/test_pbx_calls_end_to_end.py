"""Recorded Twilio and generic calls through POST /webhooks/<provider>/... into the call log."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from callcenter.core.models import Call, CallStatus, RawState, RawWebhook
from tests.conftest import app_settings

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "0123456789abcdef0123456789abcdef"
PUBLIC = "https://clinic.example"
RECORDED_START = datetime(2024, 5, 1, 7, 0, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, TWILIO_AUTH_TOKEN=TOKEN,
                        PUBLIC_URL=PUBLIC, TWILIO_RING="sip:101@clinic-desk.sip.twilio.com",
                        GENERIC_SECRET="generic-secret")


def _moved_to_now(form: dict[str, str]) -> dict[str, str]:
    """The recorded call happens now: its Twilio times move by the same offset."""
    shift = datetime.now(UTC).replace(microsecond=0) - RECORDED_START
    moved = dict(form)
    for name in ("Timestamp", "RecordingStartTime"):
        if name in moved:
            moved[name] = format_datetime(parsedate_to_datetime(moved[name]) + shift)
    return moved


def post_twilio(client: Any, flow: str) -> list[Any]:
    responses = []
    for path in sorted((PAYLOADS / "twilio" / flow).glob("*.form.txt")):
        lines = path.read_text().splitlines()
        subpath = next(x for x in lines if x.startswith("# POST ")).split("/twilio/")[1].split()[0]
        form = _moved_to_now(dict(parse_qsl(lines[-1], keep_blank_values=True)))
        signature = RequestValidator(TOKEN).compute_signature(
            f"{PUBLIC}/webhooks/twilio/{subpath}", form)
        responses.append(client.post(f"/webhooks/twilio/{subpath}", data=urlencode(form),
                                     content_type="application/x-www-form-urlencoded",
                                     headers={"X-Twilio-Signature": signature}))
    return responses


def test_twilio_answered_call(client: Any, session: Session) -> None:
    responses = post_twilio(client, "answered")
    assert [r.status_code for r in responses] == [200, 204, 204, 204, 204, 204, 200, 204, 204]
    dial = ET.fromstring(responses[0].data).find("Dial")
    assert dial is not None and dial.attrib["action"] == f"{PUBLIC}/webhooks/twilio/dial"
    call = session.scalars(select(Call)).one()
    assert (call.status, call.extension, call.duration) == (CallStatus.COMPLETED, "101", 58)
    assert (call.caller, call.dialed) == ("+79001234567", "+74951234567")
    assert call.recording_url and call.recording_url.endswith("RE0a1b2c3d4e5f60718293a4b5c6d7e8f9")


def test_twilio_missed_call_with_voicemail(client: Any, session: Session) -> None:
    responses = post_twilio(client, "missed")
    assert [ET.fromstring(responses[3].data)[i].tag for i in (0, 1)] == ["Say", "Record"]
    call = session.scalars(select(Call)).one()
    assert call.status is CallStatus.MISSED
    assert call.recording_url and call.recording_url.endswith("RE9f8e7d6c5b4a39281706f5e4d3c2b1a0")


def test_forged_twilio_request_is_403_and_kept(client: Any, session: Session) -> None:
    response = client.post("/webhooks/twilio/voice", data="CallSid=CA1&CallStatus=ringing",
                           content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert response.status_code == 403
    assert session.scalars(select(RawWebhook)).one().state == RawState.REJECTED
    assert session.scalars(select(Call)).first() is None


def _generic_post(client: Any, item: Any) -> Any:
    body = json.dumps(item).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(b"generic-secret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return client.post("/webhooks/generic", data=body, content_type="application/json",
                       headers={"X-Callcenter-Timestamp": stamp,
                                "X-Callcenter-Signature": signature})


def test_generic_answered_call_and_a_retry(client: Any, session: Session) -> None:
    items = json.loads((PAYLOADS / "generic" / "answered_call.json").read_text())
    assert [_generic_post(client, item).status_code for item in items] == [204] * len(items)
    assert _generic_post(client, items[3]).status_code == 204  # a retried "ended"
    call = session.scalars(select(Call)).one()
    assert (call.status, call.extension, call.duration) == (CallStatus.COMPLETED, "101", 60)
    assert len(call.events) == len(items)


def test_generic_bad_field_is_400_naming_it(client: Any) -> None:
    response = _generic_post(client, {"call_id": "1", "event": "hold", "timestamp": 1714546800})
    assert response.status_code == 400
    assert response.json["field"] == "event"
