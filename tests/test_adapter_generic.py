"""The generic JSON webhook: recorded calls posted one event at a time, signed."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import require
from webhooks import (
    ADAPTERS,
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
)
from webhooks.generic import GenericAdapter

PAYLOADS = Path(__file__).parent / "payloads" / "generic"
SECRET = "generic-shared-secret"
NOW = datetime(2024, 5, 1, 7, 0, 30, tzinfo=UTC)


def config(**extra: Any) -> dict[str, Any]:
    return {"GENERIC_SECRET": SECRET, "REPLAY_WINDOW": 300, "REGION": "RU", **extra}


def post(body: bytes, stamp: datetime = NOW, secret: str = SECRET) -> InboundRequest:
    unix = int(stamp.timestamp())
    signature = hmac.new(secret.encode(), f"{unix}.".encode() + body, hashlib.sha256).hexdigest()
    return InboundRequest(provider="generic", subpath="", method="POST",
                          url="https://clinic.example/webhooks/generic",
                          headers={"Content-Type": "application/json",
                                   "X-Callcenter-Timestamp": str(unix),
                                   "X-Callcenter-Signature": signature},
                          body=body)


def deliver(item: Any) -> list[CallEvent]:
    adapter = GenericAdapter(clock=lambda: NOW)
    request = post(json.dumps(item).encode())
    adapter.verify(request, config())
    events = adapter.parse(request, config())
    assert adapter.reply(request, events, config()).status == 204
    return events


def recorded(name: str) -> list[dict[str, Any]]:
    return json.loads((PAYLOADS / name).read_text())


def at(hms: str) -> datetime:
    return datetime.fromisoformat(f"2024-05-01T{hms}+00:00")


def test_registered_under_its_name() -> None:
    assert isinstance(ADAPTERS["generic"], GenericAdapter)


def test_answered_call_with_transfer_and_recording() -> None:
    events = [event for item in recorded("answered_call.json") for event in deliver(item)]
    assert [(e.kind, e.extension, e.occurred_at, e.duration) for e in events] == [
        (CallEventKind.RINGING, None, at("07:00:00"), None),
        (CallEventKind.ANSWERED, "101", at("07:00:05"), None),
        (CallEventKind.TRANSFERRED, "104", at("07:00:40"), None),
        (CallEventKind.ENDED, "104", at("07:01:05"), 60),
        (CallEventKind.RECORDING, None, at("07:01:10"), 60),
    ]
    assert {e.provider_call_id for e in events} == {"pbx-20240501-0001"}
    assert (events[0].caller, events[0].dialed, events[0].direction) == (
        "+79001234567", "+74951234567", Direction.INBOUND)
    assert events[-1].recording_url == "https://pbx.clinic.example/recordings/pbx-20240501-0001.mp3"
    assert events[-1].dedupe_key == "recording:rec-pbx-20240501-0001"


def test_missed_call_numbers_written_the_local_way() -> None:
    events = deliver(recorded("missed_call.json"))  # a list in one POST
    assert [(e.kind, e.caller, e.dialed, e.caller_raw) for e in events] == [
        (CallEventKind.RINGING, "+79001234567", "+74951234567", "8 (900) 123-45-67"),
        (CallEventKind.MISSED, "+79001234567", "+74951234567", "8 (900) 123-45-67"),
    ]
    assert events[1].occurred_at == at("09:15:17")


def test_redelivery_is_the_same_event() -> None:
    for item in recorded("answered_call.json") + recorded("missed_call.json"):
        assert [e.dedupe_key for e in deliver(item)] == [e.dedupe_key for e in deliver(item)]


def test_outbound_and_hidden_caller() -> None:
    (outbound,) = deliver({"call_id": "c1", "event": "answered", "direction": "outbound",
                           "from": "+74951234567", "to": "+79001234567", "extension": "101",
                           "timestamp": "2024-05-01T10:00:00.250+03:00"})
    assert (outbound.direction, outbound.caller, outbound.dialed) == (
        Direction.OUTBOUND, "+74951234567", "+79001234567")
    assert outbound.occurred_at == at("07:00:00.250000")
    (hidden,) = deliver({"call_id": "c2", "event": "ringing", "from": "anonymous",
                         "to": "+74951234567", "timestamp": 1714546800.5})
    assert (hidden.caller, hidden.caller_raw) == (None, "anonymous")


@pytest.mark.parametrize(("item", "field"), [
    ({"event": "ringing", "timestamp": 1}, "call_id"),
    ({"call_id": "1", "timestamp": 1}, "event"),
    ({"call_id": "1", "event": "hold", "timestamp": 1}, "event"),
    ({"call_id": "1", "event": "ringing"}, "timestamp"),
    ({"call_id": "1", "event": "ringing", "timestamp": "2024-05-01T10:00:00"}, "timestamp"),
    ({"call_id": "1", "event": "ringing", "timestamp": "soon"}, "timestamp"),
    ({"call_id": "1", "event": "ringing", "timestamp": 1e300}, "timestamp"),
    ({"call_id": "1", "event": "ringing", "timestamp": 1, "direction": "up"}, "direction"),
    ({"call_id": "1", "event": "recording", "timestamp": 1}, "recording_url"),
    ({"call_id": "1", "event": "ended", "timestamp": 1, "duration": "long"}, "duration"),
    ({"call_id": "1", "event": "ended", "timestamp": 1, "duration": -5}, "duration"),
    ({"call_id": "1", "event": "ended", "timestamp": 1, "callerid": "x"}, "callerid"),
    ({"call_id": ["1"], "event": "ended", "timestamp": 1}, "call_id"),
    ({"call_id": "x" * 129, "event": "ended", "timestamp": 1}, "call_id"),
    ([{"call_id": "1", "event": "ended", "timestamp": 1}, "not an object"], "body[1]"),
    ("just text", "body"),
])
def test_malformed_events_name_the_field(item: Any, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        GenericAdapter(clock=lambda: NOW).parse(post(json.dumps(item).encode()), config())
    assert caught.value.field == field


def test_body_that_is_not_json() -> None:
    for body in (b"call_id=1&event=ringing", b"\xff", b"{"):
        with pytest.raises(PayloadError) as caught:
            GenericAdapter(clock=lambda: NOW).parse(post(body), config())
        assert caught.value.field == "body"


def test_signature_checks() -> None:
    adapter = GenericAdapter(clock=lambda: NOW)
    body = json.dumps(recorded("missed_call.json")).encode()
    forged = InboundRequest(**{**post(body).__dict__, "body": body.replace(b"missed", b"answered")})
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(forged, config())
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(InboundRequest(**{**post(body).__dict__, "headers": {}}), config())
    with pytest.raises(SignatureError, match="replay window"):
        adapter.verify(post(body, stamp=NOW - timedelta(minutes=6)), config())
    with pytest.raises(SignatureError, match="no secret"):
        adapter.verify(post(body), config(GENERIC_SECRET=""))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
EVENT_FIELDS = st.fixed_dictionaries({}, optional={
    "call_id": JSON_VALUES, "event": st.sampled_from(["ringing", "recording", "ended", "x"]) | JSON_VALUES,
    "direction": JSON_VALUES, "from": JSON_VALUES, "to": JSON_VALUES, "extension": JSON_VALUES,
    "timestamp": st.sampled_from(["2024-05-01T10:00:00Z", "0001-01-01T00:00:00+05:00", "1e5",
                                  "9999-12-31T23:59:59-23:59", "1714546800"]) | JSON_VALUES,
    "duration": JSON_VALUES, "recording_url": JSON_VALUES, "event_id": JSON_VALUES,
})


@settings(max_examples=400, deadline=None)
@given(item=st.one_of(EVENT_FIELDS, st.lists(EVENT_FIELDS, max_size=3), JSON_VALUES))
def test_any_json_gives_events_or_a_payload_error(item: Any) -> None:
    try:
        events = GenericAdapter(clock=lambda: NOW).parse(post(json.dumps(item).encode()), config())
    except PayloadError:
        return
    assert all(e.occurred_at.tzinfo is not None for e in events)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300))
def test_any_bytes_give_events_or_a_payload_error(body: bytes) -> None:
    try:
        events = GenericAdapter(clock=lambda: NOW).parse(post(body), config())
    except PayloadError:
        return
    assert all(isinstance(e, CallEvent) for e in events)


SCRIPT = Path(__file__).resolve().parent.parent / "integrations" / "asterisk" / "callcenter-event"


class _Capture(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_documented_pbx_script_sends_a_valid_signed_event(tmp_path: Path) -> None:
    require(shutil.which("curl") and shutil.which("openssl"), "curl and openssl are needed")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    secret_file = tmp_path / "callcenter.secret"
    secret_file.write_text(SECRET)
    env = {"PATH": os.environ["PATH"], "CALLCENTER_SECRET_FILE": str(secret_file),
           "CALLCENTER_URL": f"http://127.0.0.1:{server.server_port}/webhooks/generic"}
    subprocess.run([str(SCRIPT), "event=ended", "call_id=1714546800.1", 'from=7900"1234567',
                    "to=74951234567", "extension=101", "duration=60", "recording_url=",
                    "timestamp=1714546865"], env=env, check=True, timeout=20)
    thread.join(timeout=10)
    server.server_close()
    headers, body = _Capture.received[-1]
    request = InboundRequest(provider="generic", subpath="", method="POST",
                             url="https://clinic.example/webhooks/generic", headers=headers,
                             body=body)
    adapter = GenericAdapter()
    adapter.verify(request, config())
    (event,) = adapter.parse(request, config())
    assert (event.kind, event.provider_call_id, event.caller, event.dialed, event.extension,
            event.duration, event.occurred_at) == (
        CallEventKind.ENDED, "1714546800.1", "+79001234567", "+74951234567", "101", 60,
        datetime(2024, 5, 1, 7, 1, 5, tzinfo=UTC))


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=latin-1"])
def test_a_body_declared_as_anything_but_json_is_refused(content_type: str) -> None:
    adapter = GenericAdapter(clock=lambda: NOW)
    request = post(json.dumps({"call_id": "c1", "event": "ringing",
                               "timestamp": "2024-05-01T07:00:00Z"}).encode())
    request = InboundRequest(**{**request.__dict__, "headers": {**request.headers,
                                                                "Content-Type": content_type}})
    adapter.verify(request, config())
    with pytest.raises(PayloadError) as refused:
        adapter.parse(request, config())
    assert refused.value.field == "Content-Type"
