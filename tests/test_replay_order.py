"""Twilio, Asterisk (HTTP) and generic recorded calls: delivered twice, shuffled, the same calls.

Each flow is posted once in order through the real route; the call log is wiped; then every
request is posted twice in a random order. The resulting call rows must be identical, and every
stored webhook processed.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from callcenter.core.models import Call, CallStatus, RawState, RawWebhook
from callcenter.inbound.ami_bridge import parse_block
from tests.conftest import PAYLOADS, app_settings
from tests.test_pbx_calls_end_to_end import PUBLIC, TOKEN, _moved_to_now
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRET = "replay-secret"
Request = tuple[str, bytes, dict[str, str]]


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    return app_settings(database_url, redis_url, tmp_path, TWILIO_AUTH_TOKEN=TOKEN,
                        PUBLIC_URL=PUBLIC, TWILIO_RING="sip:101@clinic-desk.sip.twilio.com",
                        GENERIC_SECRET=SECRET, ASTERISK_SECRET=SECRET)


def _hmac_request(path: str, body: bytes) -> Request:
    now = int(time.time())
    return path, body, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                        SIGNATURE_HEADER: sign(SECRET, now, body)}


def twilio(flow: str) -> list[Request]:
    out = []
    for path in sorted((PAYLOADS / "twilio" / flow).glob("*.form.txt")):
        lines = path.read_text().splitlines()
        subpath = next(x for x in lines if x.startswith("# POST ")).split("/twilio/")[1].split()[0]
        form = _moved_to_now(dict(parse_qsl(lines[-1], keep_blank_values=True)))
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio/{subpath}",
                                                              form)
        out.append((f"/webhooks/twilio/{subpath}", urlencode(form).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature}))
    return out


def generic(flow: str) -> list[Request]:
    items = json.loads((PAYLOADS / "generic" / f"{flow}_call.json").read_text())
    return [_hmac_request("/webhooks/generic", json.dumps(item).encode()) for item in items]


def asterisk(flow: str) -> list[Request]:
    """The recorded AMI session, each event posted as the dialplan/AMI bridge would post it."""
    text = (PAYLOADS / "asterisk" / f"{flow}_call.ami.txt").read_text().replace("\r\n", "\n")
    blocks = [parse_block(b) for b in text.split("\n\n") if "Event:" in b]
    return [_hmac_request("/webhooks/asterisk", json.dumps(block).encode()) for block in blocks]


FLOWS = [(twilio, "answered"), (twilio, "missed"), (generic, "answered"), (generic, "missed"),
         (asterisk, "answered"), (asterisk, "missed")]
COLUMNS = ("provider", "provider_call_id", "direction", "status", "caller", "dialed", "extension",
           "duration", "recording_url", "ringing_at", "answered_at", "ended_at", "started_at",
           "channel_id", "caller_kind", "first_time")


def _snapshot(session: Session) -> list[tuple]:
    session.expire_all()
    return [(*(getattr(c, name) for name in COLUMNS), len(c.events))
            for c in session.scalars(select(Call).order_by(Call.provider, Call.provider_call_id))]


def _same(first: list[tuple], second: list[tuple]) -> bool:
    """Equal, except that times may differ by the seconds between the two deliveries: a webhook
    with no time of its own (Twilio's incoming-call request) is stamped when it is received."""
    if len(first) != len(second):
        return False
    for row_a, row_b in zip(first, second, strict=True):
        for a, b in zip(row_a, row_b, strict=True):
            if isinstance(a, datetime) and isinstance(b, datetime):
                if abs((a - b).total_seconds()) > 10:
                    return False
            elif a != b:
                return False
    return True


def _post_all(client: Any, requests: list[Request]) -> None:
    for path, body, headers in requests:
        response = client.post(path, data=body, headers=headers)
        assert response.status_code in (200, 204), (path, response.get_data(as_text=True))


@pytest.mark.parametrize(("builder", "flow"), FLOWS, ids=[f"{b.__name__}-{f}" for b, f in FLOWS])
def test_twice_and_shuffled_gives_the_same_calls(builder: Any, flow: str, client: Any,
                                                 session: Session) -> None:
    requests = builder(flow)
    _post_all(client, requests)
    orderly = _snapshot(session)
    assert len(orderly) == 1
    expected_status = CallStatus.COMPLETED if flow == "answered" else CallStatus.MISSED
    assert orderly[0][3] == expected_status
    session.execute(delete(Call))
    session.commit()
    for seed in (1, 2):
        shuffled = requests * 2
        random.Random(seed).shuffle(shuffled)
        _post_all(client, shuffled)
        again = _snapshot(session)
        assert _same(again, orderly), (again, orderly)
        session.execute(delete(Call))
        session.commit()
    states = set(session.scalars(select(RawWebhook.state)))
    assert states == {RawState.PROCESSED}
