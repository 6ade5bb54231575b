"""Thousands of malformed requests at every webhook endpoint, on SQLite and PostgreSQL: never a
5xx, never a call from junk.

Unsigned junk goes to every registered provider (and an unknown one), `%00` in paths included;
signed junk goes to the formats whose signature a test can produce for any body (generic,
Asterisk, Twilio), so the parsers behind the signature check are exercised through the real route
too. Hostile text (NUL, lone surrogates, strings longer than their column) goes into otherwise
well-formed events, so it reaches the database unless it is refused first.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from callcenter import create_app
from callcenter.core.models import Call
from tests.conftest import app_settings
from webhooks import ADAPTERS
from webhooks.hmac_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

SECRETS = {"GENERIC_SECRET": "g-secret", "ASTERISK_SECRET": "a-secret",
           "TWILIO_AUTH_TOKEN": "t-token", "PUBLIC_URL": "https://clinic.example"}
ALLOWED = {200, 204, 400, 403, 404, 405, 413, 429}
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# NUL (PostgreSQL refuses it in text), lone surrogates (no driver encodes them), and strings longer
# than the provider_call_id, extension and caller_raw columns.
FORM_HOSTILE = ["\x00", "a\x00b", "%00", "c" * 129, "e" * 33, "r" * 65, "\x00" * 200]
hostile_form_text = st.sampled_from(FORM_HOSTILE)  # a form body is UTF-8: no surrogates in it
hostile_text = st.sampled_from([*FORM_HOSTILE, "\ud800", "x\udfffy"])
texts = st.text(max_size=40) | hostile_text
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)
EVENT_KEYS = ["call_id", "event", "direction", "from", "to", "extension", "timestamp", "duration",
              "recording_url", "Event", "Linkedid", "Uniqueid", "Channel", "CallSid", "CallStatus",
              "From", "To", "Timestamp", "DialCallStatus", "RecordingUrl"]
near_events = st.dictionaries(st.sampled_from(EVENT_KEYS), json_values, max_size=8)
bodies = st.one_of(
    st.binary(max_size=600),
    json_values.map(lambda v: json.dumps(v).encode()),
    near_events.map(lambda v: json.dumps(v).encode()),
    near_events.map(lambda v: urlencode({k: json.dumps(x) for k, x in v.items()}).encode()),
)
content_types = st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                 "text/plain", "multipart/form-data; boundary=x", ""])
subpaths = st.sampled_from(["", "voice", "status", "dial", "recording", "events/call",
                            "events/summary", "lookup", "journal", "x/../../y", "%00", "voice%00",
                            "a/%00/b", "outbound/1/status%00", "outbound/%00/status",
                            "outbound/2147483648/status", "outbound/9223372036854775808/twiml"])


@pytest.fixture
def fuzz_client(database_url: str, redis_url: str, tmp_path: Path) -> Any:
    app = create_app(app_settings(database_url, redis_url, tmp_path, **SECRETS))
    yield app.test_client(), app.extensions["callcenter"]
    app.extensions["callcenter"].close()


def _calls(runtime: Any) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count(Call.id)))


def _check(client: Any, runtime: Any, path: str, body: bytes, headers: dict[str, str]) -> int:
    before = _calls(runtime)
    # input_stream: exactly these bytes, never re-encoded by the test client (it would build a
    # multipart body of its own for a multipart content type).
    response = client.post(path, input_stream=io.BytesIO(body), content_length=len(body),
                           headers=headers)
    assert response.status_code in ALLOWED, (path, body[:80], response.get_data()[:200])
    if response.status_code >= 400:
        assert response.is_json and "error" in response.json
        assert _calls(runtime) == before, "a refused request created a call"
    return response.status_code


@FUZZ
@given(provider=st.sampled_from([*sorted(ADAPTERS), "nosuchpbx"]), subpath=subpaths, body=bodies,
       content_type=content_types)
def test_unsigned_junk_everywhere(fuzz_client: Any, provider: str, subpath: str, body: bytes,
                                  content_type: str) -> None:
    client, runtime = fuzz_client
    path = f"/webhooks/{provider}" + (f"/{subpath}" if subpath else "")
    _check(client, runtime, path, body, {"Content-Type": content_type} if content_type else {})


@FUZZ
@given(provider=st.sampled_from(["generic", "asterisk"]), body=bodies, content_type=content_types)
def test_signed_junk_through_hmac_formats(fuzz_client: Any, provider: str, body: bytes,
                                          content_type: str) -> None:
    client, runtime = fuzz_client
    secret = SECRETS["GENERIC_SECRET"] if provider == "generic" else SECRETS["ASTERISK_SECRET"]
    now = int(time.time())
    headers = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(secret, now, body)}
    if content_type:
        headers["Content-Type"] = content_type
    status = _check(client, runtime, f"/webhooks/{provider}", body, headers)
    assert status != 403, "a correctly signed request was refused"


@FUZZ
@given(subpath=st.sampled_from(["voice", "status", "dial", "recording"]),
       form=st.dictionaries(st.sampled_from([*EVENT_KEYS, "AccountSid", "Direction", "CallDuration",
                                                     "RecordingSid", "ParentCallSid"]),
                            st.text(max_size=30) | hostile_form_text, max_size=10))
def test_signed_junk_through_twilio(fuzz_client: Any, subpath: str, form: dict[str, str]) -> None:
    client, runtime = fuzz_client
    try:
        body = urlencode(form).encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates cannot travel over HTTP at all
    url = f"{SECRETS['PUBLIC_URL']}/webhooks/twilio/{subpath}"
    signature = RequestValidator(SECRETS["TWILIO_AUTH_TOKEN"]).compute_signature(url, form)
    status = _check(client, runtime, f"/webhooks/twilio/{subpath}", body,
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature})
    assert status != 403, "a correctly signed request was refused"


def _generic_event(call_id: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"call_id": call_id, "event": kind, "timestamp": "2026-03-10T10:00:00+03:00", **fields}


well_formed = st.builds(
    _generic_event, call_id=st.sampled_from(["fz-1", "fz-2"]) | hostile_text,
    kind=st.sampled_from(["ringing", "answered", "ended", "missed"]),
    **{name: st.sampled_from(["+79001234567", "+74951234567", "101"]) | hostile_text
       for name in ("from", "to", "extension", "event_id")},
)


@FUZZ
@given(events=st.lists(well_formed, min_size=1, max_size=4))
def test_hostile_text_in_well_formed_events(fuzz_client: Any, events: list[dict[str, Any]]) -> None:
    client, runtime = fuzz_client
    body = json.dumps(events).encode()  # a lone surrogate travels as the escape \ud800
    now = int(time.time())
    status = _check(client, runtime, "/webhooks/generic", body,
                    {"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                     SIGNATURE_HEADER: sign(SECRETS["GENERIC_SECRET"], now, body)})
    assert status in (204, 400), status
