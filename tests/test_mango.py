"""Mango Office: the reference sign example, Mango's own event sequences and summaries, the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.conftest import PAYLOADS
from tests.dialects import ADAPTER_SETTINGS
from webhooks import CallEventKind, Direction, InboundRequest, SignatureError
from webhooks.mango import MangoAdapter

ADAPTER = MangoAdapter()
REFERENCE = PAYLOADS / "mango" / "reference"


def _request(subpath: str, data: dict, sign: str = "unchecked") -> InboundRequest:
    body = urlencode({"vpbx_api_key": "test-key", "sign": sign, "json": json.dumps(data)})
    return InboundRequest(provider="mango", subpath=subpath, method="POST", url="https://x/",
                          headers={}, body=body.encode())


def _reference(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def test_reference_signed_form_verifies() -> None:
    body = next(line for line in (REFERENCE / "events_call_appeared_signed.form.txt")
                .read_text().splitlines() if not line.startswith("#"))
    request = InboundRequest(provider="mango", subpath="events/call", method="POST",
                             url="https://x/", headers={}, body=body.encode())
    ADAPTER.verify(request, ADAPTER_SETTINGS)
    (event,) = ADAPTER.parse(request, ADAPTER_SETTINGS)
    assert event.kind == CallEventKind.RINGING and event.extension == "123"
    assert event.provider_call_id == "232wc3e3w3s222"


def test_right_sign_from_another_key_is_refused() -> None:
    body = next(line for line in (REFERENCE / "events_call_appeared_signed.form.txt")
                .read_text().splitlines() if not line.startswith("#"))
    request = InboundRequest(provider="mango", subpath="events/call", method="POST",
                             url="https://x/", headers={}, body=body.encode())
    with pytest.raises(SignatureError):
        ADAPTER.verify(request, {**ADAPTER_SETTINGS, "MANGO_API_KEY": "other-key"})


def test_ivr_then_agent_sequence_from_mangos_docs() -> None:
    events = [e for step in _reference("events_call_inbound_ivr_route_sequence.doc.json")["events"]
              for e in ADAPTER.parse(_request("events/call", step), ADAPTER_SETTINGS)]
    assert [(e.kind, e.extension) for e in events] == [
        (CallEventKind.RINGING, None), (CallEventKind.RINGING, "123"),
        (CallEventKind.ANSWERED, "123")]
    assert {e.provider_call_id for e in events} == {"232wc3e3w3s222"}
    assert {e.dialed for e in events} == {None}  # 7800123456789 is not a valid number
    assert events[2].occurred_at - events[1].occurred_at == timedelta(seconds=11)


def test_outbound_sequence_from_mangos_docs() -> None:
    events = [e for step in _reference("events_call_outbound_sequence.doc.json")["events"]
              for e in ADAPTER.parse(_request("events/call", step), ADAPTER_SETTINGS)]
    assert [e.kind for e in events] == [CallEventKind.RINGING, CallEventKind.ANSWERED]
    assert {e.direction for e in events} == {Direction.OUTBOUND}
    assert events[1].caller == "+74955404444" and events[1].extension == "1234"


@pytest.mark.parametrize(("example", "kinds", "direction"), [
    ("1_inbound_answered_by_ext_123", ["ringing", "answered", "ended"], Direction.INBOUND),
    ("2_inbound_ended_in_ivr", ["ringing", "missed"], Direction.INBOUND),
    ("3_outbound_answered", ["ringing", "answered", "ended"], Direction.OUTBOUND),
    ("4_outbound_not_answered", ["ringing", "missed"], Direction.OUTBOUND),
])
def test_summary_examples_from_mangos_docs(example: str, kinds: list[str],
                                           direction: Direction) -> None:
    data = _reference("events_summary.doc.json")["examples"][example]
    events = ADAPTER.parse(_request("events/summary", data), ADAPTER_SETTINGS)
    assert [str(e.kind) for e in events] == kinds
    assert {e.direction for e in events} == {direction}
    if "ended" in kinds:
        assert events[-1].duration == 10  # end_time - talk_time


def test_disconnected_leg_does_not_end_the_call() -> None:
    data = _reference("events_call_disconnected_full.doc.json")["json"]
    assert ADAPTER.parse(_request("events/call", data), ADAPTER_SETTINGS) == []


def test_time_stamps_are_unix_utc_unless_a_shift_is_configured() -> None:
    data = {"entry_id": "e", "call_id": "c", "timestamp": 1714557600, "seq": 1,
            "call_state": "Appeared", "location": "ivr", "from": {"number": "79001234567"},
            "to": {"number": "74951234567", "line_number": "74951234567"}}
    (plain,) = ADAPTER.parse(_request("events/call", data), ADAPTER_SETTINGS)
    assert plain.occurred_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    shifted_settings = {**ADAPTER_SETTINGS, "MANGO_CLOCK_SHIFT": 10800}
    (shifted,) = ADAPTER.parse(_request("events/call", data), shifted_settings)
    assert shifted.occurred_at == datetime(2024, 5, 1, 7, tzinfo=UTC)


def test_recording_started_and_too_short_give_nothing() -> None:
    base = {"recording_id": "r1", "entry_id": "e", "call_id": "c", "timestamp": "1714557600"}
    started = ADAPTER.parse(_request("events/recording", {**base, "recording_state": "Started"}),
                            ADAPTER_SETTINGS)
    short = ADAPTER.parse(_request("events/recording", {
        **base, "recording_state": "Completed", "completion_code": 4002}), ADAPTER_SETTINGS)
    ready = ADAPTER.parse(_request("events/record/added", {**base, "product_id": 1}),
                          ADAPTER_SETTINGS)
    assert started == [] and short == []
    assert [e.recording_url for e in ready] == ["mango-recording:r1"]


def test_other_notifications_are_accepted_quietly() -> None:
    assert ADAPTER.parse(_request("events/dtmf", {"entry_id": "e"}), ADAPTER_SETTINGS) == []


def test_only_a_url_encoded_post_is_read() -> None:
    """verify and parse read the one encoding Mango signs; anything else is refused, not guessed."""
    body = next(line for line in (REFERENCE / "events_call_appeared_signed.form.txt")
                .read_text().splitlines() if not line.startswith("#"))
    for headers, method, field in (
            ({"Content-Type": "multipart/form-data; boundary=x"}, "POST", "Content-Type"),
            ({"Content-Type": "application/json"}, "POST", "Content-Type"),
            ({"Content-Type": "application/x-www-form-urlencoded; charset=koi8-r"}, "POST",
             "Content-Type"),
            ({}, "GET", "method")):
        # The sign travels inside the form: without that form there is no proof (403).
        request = InboundRequest(provider="mango", subpath="events/call", method=method,
                                 url="https://x/", headers=headers, body=body.encode(),
                                 query=body if method == "GET" else "")
        with pytest.raises(SignatureError, match=field):
            ADAPTER.verify(request, ADAPTER_SETTINGS)


def test_a_second_json_field_is_refused() -> None:
    body = next(line for line in (REFERENCE / "events_call_appeared_signed.form.txt")
                .read_text().splitlines() if not line.startswith("#")) + "&json=%7B%7D"
    request = InboundRequest(provider="mango", subpath="events/call", method="POST",
                             url="https://x/", headers={}, body=body.encode())
    with pytest.raises(SignatureError, match="json: sent more than once"):
        ADAPTER.verify(request, ADAPTER_SETTINGS)
