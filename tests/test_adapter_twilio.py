"""Twilio adapter on recorded callbacks, signed with Twilio's own RequestValidator."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from webhooks import (
    ADAPTERS,
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
)
from webhooks.twilio import TwilioAdapter

PAYLOADS = Path(__file__).parent / "payloads" / "twilio"
TOKEN = "0123456789abcdef0123456789abcdef"
BASE = "https://clinic.example/webhooks/twilio"
RECEIVED = datetime(2024, 5, 1, 7, 0, 0, tzinfo=UTC)
PARENT = "CA5b0a2c3e4f5061728394a5b6c7d8e9f0"
MISSED_PARENT = "CA6c1b2a3948576f0e1d2c3b4a59687766"
RING = "sip:101@clinic-desk.sip.twilio.com, client:reception2, +74951230000"
TWIML = "{http://www.w3.org/2001/XMLSchema-instance}"


def config(**extra: Any) -> dict[str, Any]:
    values = {"TWILIO_AUTH_TOKEN": TOKEN, "REGION": "RU", "LOCALE": "ru", "TWILIO_RING": RING,
              "TWILIO_RECORD": False}
    values.update(extra)
    return values


def signed(subpath: str, body: str, token: str = TOKEN, url: str | None = None) -> InboundRequest:
    url = url or f"{BASE}/{subpath}"
    params = dict(parse_qsl(body, keep_blank_values=True))
    signature = RequestValidator(token).compute_signature(url, params)
    return InboundRequest(provider="twilio", subpath=subpath, method="POST", url=url,
                          headers={"X-Twilio-Signature": signature,
                                   "Content-Type": "application/x-www-form-urlencoded"},
                          body=body.encode())


def recorded(flow: str) -> list[tuple[str, str]]:
    """(subpath, body) of each recorded callback of a call, in the order Twilio sent them."""
    steps = []
    for path in sorted((PAYLOADS / flow).glob("*.form.txt")):
        lines = path.read_text().splitlines()
        post_line = next(line for line in lines if line.startswith("# POST "))
        subpath = post_line.split("/webhooks/twilio/", 1)[1].split()[0]
        steps.append((subpath, lines[-1]))
    return steps


class Clock:
    """Receipt times one second apart, like callbacks arriving during a call."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def replay(flow: str, settings_: dict[str, Any]) -> list[tuple[str, list[CallEvent], Any]]:
    adapter = TwilioAdapter(clock=Clock(RECEIVED))
    results = []
    for subpath, body in recorded(flow):
        request = signed(subpath, body)
        adapter.verify(request, settings_)
        events = adapter.parse(request, settings_)
        results.append((subpath, events, adapter.reply(request, events, settings_)))
    return results


def summary(event: CallEvent) -> tuple[Any, ...]:
    return (event.kind, event.provider_call_id, event.extension, event.occurred_at, event.duration)


def at(hms: str) -> datetime:
    return datetime.fromisoformat(f"2024-05-01T{hms}+00:00")


def test_registered_under_its_name() -> None:
    assert isinstance(ADAPTERS["twilio"], TwilioAdapter)


def test_answered_call_from_ring_to_recording() -> None:
    results = replay("answered", config())
    events = [event for _, batch, _ in results for event in batch]
    assert [summary(e) for e in events] == [
        (CallEventKind.RINGING, PARENT, None, RECEIVED + timedelta(seconds=1), None),
        (CallEventKind.RINGING, PARENT, "101", at("07:00:01"), None),
        (CallEventKind.RINGING, PARENT, "reception2", at("07:00:01"), None),
        (CallEventKind.ANSWERED, PARENT, "101", at("07:00:06"), None),
        # the browser phone's leg was canceled: not an event of the call
        (CallEventKind.ENDED, PARENT, "101", at("07:01:04"), 58),
        (CallEventKind.ENDED, PARENT, None, RECEIVED + timedelta(seconds=7), 58),
        (CallEventKind.ENDED, PARENT, None, RECEIVED + timedelta(seconds=8), None),
        (CallEventKind.RECORDING, PARENT, None, at("07:01:04"), 58),
    ]
    first = events[0]
    assert (first.direction, first.caller, first.dialed) == (
        Direction.INBOUND, "+79001234567", "+74951234567")
    assert events[-1].recording_url == (
        "https://api.twilio.com/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        "/Recordings/RE0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    assert events[6].extra["call_duration"] == 64  # the whole call, ringing included
    assert events[3].extra["sequence"] == "1"
    assert len({e.dedupe_key for e in events}) == len(events)


def test_missed_call_goes_to_voicemail() -> None:
    results = replay("missed", config())
    events = [event for _, batch, _ in results for event in batch]
    assert [(e.kind, e.extension) for e in events] == [
        (CallEventKind.RINGING, None),
        (CallEventKind.RINGING, "101"),
        (CallEventKind.MISSED, None),
        (CallEventKind.RECORDING, None),
        (CallEventKind.RECORDING, None),
        (CallEventKind.ENDED, None),
    ]
    assert {e.provider_call_id for e in events} == {MISSED_PARENT}
    # the <Record> action and the recording callback are one recording
    assert events[3].dedupe_key == events[4].dedupe_key
    assert events[4].occurred_at == at("09:15:47")
    assert events[2].extra["dial_status"] == "no-answer"


def test_a_retried_callback_is_the_same_event() -> None:
    adapter = TwilioAdapter(clock=Clock(RECEIVED))
    for subpath, body in recorded("answered") + recorded("missed"):
        request = signed(subpath, body)
        first = adapter.parse(request, config())
        again = adapter.parse(request, config())
        assert [e.dedupe_key for e in first] == [e.dedupe_key for e in again]


def _twiml(reply: Any) -> ET.Element:
    assert reply.status == 200 and reply.content_type.startswith("text/xml")
    return ET.fromstring(reply.body)


def test_incoming_call_rings_every_desk_phone_at_once() -> None:
    results = replay("answered", config())
    response = _twiml(results[0][2])
    dial = response.find("Dial")
    assert dial is not None
    assert dial.attrib["action"] == f"{BASE}/dial"
    assert dial.attrib["answerOnBridge"] == "true"
    assert int(dial.attrib["timeout"]) > 0
    assert "record" not in dial.attrib
    legs = [(leg.tag, leg.text) for leg in dial]
    assert legs == [("Sip", "sip:101@clinic-desk.sip.twilio.com"), ("Client", "reception2"),
                    ("Number", "+74951230000")]
    for leg in dial:
        assert leg.attrib["statusCallback"] == f"{BASE}/status"
        assert leg.attrib["statusCallbackEvent"] == "ringing answered completed"


def test_recording_the_desk_is_a_setting() -> None:
    adapter = TwilioAdapter()
    subpath, body = recorded("answered")[0]
    request = signed(subpath, body)
    dial = _twiml(adapter.reply(request, [], config(TWILIO_RECORD=True))).find("Dial")
    assert dial is not None
    assert dial.attrib["record"] == "record-from-answer-dual"
    assert dial.attrib["recordingStatusCallback"] == f"{BASE}/recording"


def test_unanswered_desk_leads_to_voicemail_in_the_clinic_locale() -> None:
    results = replay("missed", config(LOCALE="en"))
    replies = {subpath: reply for subpath, _, reply in results}
    response = _twiml(replies["dial"])
    say, record = list(response)
    assert say.tag == "Say" and say.attrib["language"] == "en-US" and say.text
    assert record.tag == "Record"
    assert record.attrib["recordingStatusCallback"] == f"{BASE}/recording"
    assert record.attrib["action"] == f"{BASE}/recording"
    # the <Record> action answers with a hang-up, the status callbacks with an empty 204
    assert [child.tag for child in _twiml(results[4][2])] == ["Hangup"]
    assert (results[5][2].status, results[5][2].body) == (204, "")
    assert (results[1][2].status, results[1][2].body) == (204, "")


def test_answered_dial_action_hangs_up() -> None:
    results = replay("answered", config())
    dial_reply = next(reply for subpath, _, reply in results if subpath == "dial")
    assert [child.tag for child in _twiml(dial_reply)] == ["Hangup"]


def test_no_desk_phones_configured_means_straight_to_voicemail() -> None:
    adapter = TwilioAdapter()
    subpath, body = recorded("missed")[0]
    response = _twiml(adapter.reply(signed(subpath, body), [], config(TWILIO_RING="")))
    assert [child.tag for child in response] == ["Say", "Record"]


def test_reply_urls_follow_the_signed_public_url() -> None:
    adapter = TwilioAdapter()
    subpath, body = recorded("answered")[0]
    url = "https://desk.clinic.example:8443/base/webhooks/twilio/voice?clinic=2"
    dial = _twiml(adapter.reply(signed(subpath, body, url=url), [], config())).find("Dial")
    assert dial is not None
    assert dial.attrib["action"] == "https://desk.clinic.example:8443/base/webhooks/twilio/dial"


# --- signatures -------------------------------------------------------------------------


def _vector_requests() -> list[tuple[str, InboundRequest, str]]:
    data = json.loads((PAYLOADS / "signature_test_vectors.json").read_text())
    first_params = data["vectors"][0]["params"]
    cases = []
    for vector in data["vectors"]:
        url = vector.get("url", data["url"])
        if "body" in vector:
            body, content_type = vector["body"], "application/json"
        elif "params_multi" in vector:
            body, content_type = urlencode([tuple(pair) for pair in vector["params_multi"]]), "application/x-www-form-urlencoded"
        else:
            body = urlencode(vector.get("params", first_params))
            content_type = "application/x-www-form-urlencoded"
        request = InboundRequest(provider="twilio", subpath="voice", method="POST", url=url,
                                 headers={"X-Twilio-Signature": vector["expected"],
                                          "Content-Type": content_type},
                                 body=body.encode(), query=url.partition("?")[2])
        cases.append((vector["name"], request, data["auth_token"]))
    return cases


# Valid for Twilio's validator, refused here: voice callbacks are url-encoded forms with each key
# once. A repeated key is signed as a sorted set, so its order (which value parse would take) is
# not covered; a JSON body would be verified by its hash but is not what the callbacks send.
REFUSED_VECTORS = {"duplicate keys (sorted keys, sorted+deduped values)": "Digits",
                   "JSON body: bodySHA256 query param": "Content-Type"}


@pytest.mark.parametrize(("name", "request_", "token"), _vector_requests(),
                         ids=[case[0] for case in _vector_requests()])
def test_published_signature_vectors_verify(name: str, request_: InboundRequest, token: str) -> None:
    if name in REFUSED_VECTORS:
        with pytest.raises(PayloadError) as refused:
            TwilioAdapter().verify(request_, config(TWILIO_AUTH_TOKEN=token))
        assert refused.value.field == REFUSED_VECTORS[name]
        return
    TwilioAdapter().verify(request_, config(TWILIO_AUTH_TOKEN=token))


def test_twilio_docs_example_signature() -> None:
    body = urlencode({"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
                      "From": "+12349013030", "To": "+18005551212"})
    request = InboundRequest(provider="twilio", subpath="voice", method="POST",
                             url="https://mycompany.com/myapp.php?foo=1&bar=2",
                             headers={"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
                             body=body.encode(), query="foo=1&bar=2")
    TwilioAdapter().verify(request, config(TWILIO_AUTH_TOKEN="12345"))
    tampered = InboundRequest(**{**request.__dict__, "body": body.replace("1234", "1235").encode()})
    with pytest.raises(SignatureError):
        TwilioAdapter().verify(tampered, config(TWILIO_AUTH_TOKEN="12345"))


def test_tampered_body_is_rejected() -> None:
    subpath, body = recorded("answered")[0]
    request = signed(subpath, body)
    forged = InboundRequest(**{**request.__dict__,
                               "body": body.replace("%2B79001234567", "%2B79009999999").encode()})
    with pytest.raises(SignatureError, match="does not match"):
        TwilioAdapter().verify(forged, config())


def test_missing_signature_is_rejected() -> None:
    subpath, body = recorded("answered")[0]
    request = signed(subpath, body)
    unsigned = InboundRequest(**{**request.__dict__, "headers": {}})
    with pytest.raises(SignatureError, match="missing X-Twilio-Signature"):
        TwilioAdapter().verify(unsigned, config())


def test_other_accounts_token_is_rejected() -> None:
    subpath, body = recorded("answered")[0]
    with pytest.raises(SignatureError):
        TwilioAdapter().verify(signed(subpath, body, token="another-account-token"), config())


def test_signature_covers_the_url_behind_a_proxy() -> None:
    """Twilio signed the public https URL; checking the internal http one fails."""
    subpath, body = recorded("answered")[0]
    request = signed(subpath, body)
    internal = InboundRequest(**{**request.__dict__,
                                 "url": "http://127.0.0.1:5000/webhooks/twilio/voice"})
    with pytest.raises(SignatureError):
        TwilioAdapter().verify(internal, config())


def test_no_auth_token_refuses_everything() -> None:
    subpath, body = recorded("answered")[0]
    with pytest.raises(SignatureError, match="TWILIO_AUTH_TOKEN"):
        TwilioAdapter().verify(signed(subpath, body), config(TWILIO_AUTH_TOKEN=""))


# --- parsing details --------------------------------------------------------------------


def _form(subpath: str, **fields: str) -> InboundRequest:
    return signed(subpath, urlencode(fields))


@pytest.mark.parametrize("hidden", ["+266696687", "anonymous", "Restricted", ""])
def test_hidden_caller_has_no_number_but_keeps_the_raw_text(hidden: str) -> None:
    request = _form("voice", CallSid="CA1", CallStatus="ringing", Direction="inbound",
                    From=hidden, To="+74951234567")
    (event,) = TwilioAdapter().parse(request, config())
    assert event.caller is None
    assert event.caller_raw == hidden


def test_outbound_api_call_keeps_from_and_to() -> None:
    request = _form("status", CallSid="CA2", CallStatus="in-progress", Direction="outbound-api",
                    From="+74951234567", To="89001234567", AnsweredBy="human",
                    Timestamp="Wed, 01 May 2024 10:00:05 +0300", SequenceNumber="2")
    (event,) = TwilioAdapter().parse(request, config())
    assert (event.kind, event.direction) == (CallEventKind.ANSWERED, Direction.OUTBOUND)
    assert (event.caller, event.dialed) == ("+74951234567", "+79001234567")
    assert event.occurred_at == at("07:00:05")
    assert event.extra["answered_by"] == "human"


def test_outbound_call_duration_is_talk_time() -> None:
    request = _form("status", CallSid="CA3", CallStatus="completed", Direction="outbound-api",
                    From="+74951234567", To="+79001234567", CallDuration="42")
    (event,) = TwilioAdapter().parse(request, config())
    assert (event.kind, event.duration) == (CallEventKind.ENDED, 42)


@pytest.mark.parametrize("status", ["busy", "no-answer", "canceled", "failed"])
def test_final_unanswered_status_of_the_call_is_missed(status: str) -> None:
    request = _form("status", CallSid="CA4", CallStatus=status, Direction="outbound-api",
                    From="+74951234567", To="+79001234567")
    (event,) = TwilioAdapter().parse(request, config())
    assert event.kind is CallEventKind.MISSED


def test_queued_and_initiated_are_not_events() -> None:
    for status in ("queued", "initiated"):
        request = _form("status", CallSid="CA5", CallStatus=status, Direction="outbound-api")
        assert TwilioAdapter().parse(request, config()) == []


@pytest.mark.parametrize(("subpath", "fields", "field"), [
    ("voice", {"CallStatus": "ringing"}, "CallSid"),
    ("status", {"CallSid": "CA1"}, "CallStatus"),
    ("status", {"CallSid": "CA1", "CallStatus": "exploded"}, "CallStatus"),
    ("status", {"CallSid": "CA1", "CallStatus": "ringing", "Timestamp": "yesterday"}, "Timestamp"),
    ("status", {"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "-3"}, "CallDuration"),
    ("status", {"CallSid": "CA1", "CallStatus": "ringing", "Direction": "sideways"}, "Direction"),
    ("dial", {"CallSid": "CA1"}, "DialCallStatus"),
    ("dial", {"CallSid": "CA1", "DialCallStatus": "maybe"}, "DialCallStatus"),
    ("recording", {"CallSid": "CA1", "RecordingStatus": "completed",
                   "RecordingUrl": "https://api.twilio.com/x"}, "RecordingSid"),
    ("elsewhere", {"CallSid": "CA1"}, "subpath"),
])
def test_malformed_callbacks_name_the_field(subpath: str, fields: dict[str, str], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        TwilioAdapter().parse(_form(subpath, **fields), config())
    assert caught.value.field == field


def test_body_that_is_not_utf8_is_a_payload_error() -> None:
    request = InboundRequest(provider="twilio", subpath="voice", method="POST", url=f"{BASE}/voice",
                             headers={}, body=b"CallSid=\xff\xfe")
    with pytest.raises(PayloadError) as caught:
        TwilioAdapter().parse(request, config())
    assert caught.value.field == "body"


FIELD_NAMES = st.sampled_from([
    "CallSid", "ParentCallSid", "CallStatus", "Direction", "From", "To", "Timestamp",
    "SequenceNumber", "CallDuration", "DialCallStatus", "DialCallDuration", "RecordingStatus",
    "RecordingUrl", "RecordingSid", "RecordingDuration", "RecordingStartTime", "AnsweredBy",
])
FIELD_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["ringing", "in-progress", "completed", "no-answer", "busy", "canceled",
                     "inbound", "outbound-api", "outbound-dial", "+79001234567", "-1", "99",
                     "Wed, 01 May 2024 10:00:05 +0000", "Wed, 01 May 2024 10:00:05 -0000",
                     "Sun, 31 Dec 9999 23:59:59 -2359", "completed", "answered"]),
)


@settings(max_examples=300, deadline=None)
@given(subpath=st.sampled_from(["voice", "status", "dial", "recording", "x"]),
       form=st.dictionaries(FIELD_NAMES, FIELD_VALUES, max_size=10))
def test_any_form_parses_or_raises_payload_error(subpath: str, form: dict[str, str]) -> None:
    request = InboundRequest(provider="twilio", subpath=subpath, method="POST", url=f"{BASE}/{subpath}",
                             headers={}, body=urlencode(form).encode())
    try:
        events = TwilioAdapter().parse(request, config())
    except PayloadError:
        return
    assert all(isinstance(e, CallEvent) and e.occurred_at.tzinfo is not None for e in events)


@settings(max_examples=200, deadline=None)
@given(subpath=st.sampled_from(["voice", "status", "dial", "recording"]), body=st.binary(max_size=300))
def test_any_bytes_parse_or_raise_payload_error(subpath: str, body: bytes) -> None:
    request = InboundRequest(provider="twilio", subpath=subpath, method="POST", url=f"{BASE}/{subpath}",
                             headers={}, body=body)
    try:
        events = TwilioAdapter().parse(request, config())
    except PayloadError:
        return
    assert all(isinstance(e, CallEvent) for e in events)


def _click_to_call(sid: str, to: str, status: str, parent: str = "", **more: str) -> InboundRequest:
    fields = {"CallSid": sid, "CallStatus": status, "From": "+74951234567", "To": to,
              "Direction": "outbound-dial" if parent else "outbound-api",
              "Timestamp": "Wed, 01 May 2024 07:00:00 +0000", **more}
    if parent:
        fields["ParentCallSid"] = parent
    return _form("status", **fields)


def test_click_to_call_rings_the_receptionist_first_then_the_patient() -> None:
    """REST call to the desk phone, whose TwiML <Dial>s the patient: one outbound call."""
    adapter = TwilioAdapter()
    agent, patient = "CAagent", "CApatient"
    steps = [
        _click_to_call(agent, "sip:101@clinic-desk.sip.twilio.com", "ringing"),
        _click_to_call(agent, "sip:101@clinic-desk.sip.twilio.com", "in-progress"),
        _click_to_call(patient, "+79001234567", "ringing", parent=agent),
        _click_to_call(patient, "+79001234567", "in-progress", parent=agent),
        _click_to_call(patient, "+79001234567", "completed", parent=agent, CallDuration="95"),
    ]
    events = [e for step in steps for e in adapter.parse(step, config())]
    assert [(e.kind, e.provider_call_id, e.direction, e.extension, e.dialed, e.duration)
            for e in events] == [
        (CallEventKind.RINGING, agent, Direction.OUTBOUND, "101", None, None),
        # the receptionist picking up her own phone is not an answer
        (CallEventKind.RINGING, agent, Direction.OUTBOUND, None, "+79001234567", None),
        (CallEventKind.ANSWERED, agent, Direction.OUTBOUND, None, "+79001234567", None),
        (CallEventKind.ENDED, agent, Direction.OUTBOUND, None, "+79001234567", 95),
    ]


def test_click_to_call_patient_not_reached_is_missed() -> None:
    request = _click_to_call("CApatient", "+79001234567", "no-answer", parent="CAagent")
    (event,) = TwilioAdapter().parse(request, config())
    assert (event.kind, event.provider_call_id) == (CallEventKind.MISSED, "CAagent")


def test_a_number_in_the_ring_list_is_a_desk_phone() -> None:
    request = _form("status", CallSid="CAleg", ParentCallSid=PARENT, CallStatus="no-answer",
                    Direction="outbound-dial", From="+79001234567", To="+74951230000")
    assert TwilioAdapter().parse(request, config()) == []
