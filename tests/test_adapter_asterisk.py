"""Asterisk AMI events over HTTP: the recorded AMI sessions, posted as signed JSON and forms."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.inbound.ami_bridge import parse_block
from webhooks import (
    ADAPTERS,
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    SignatureError,
)
from webhooks.asterisk import AsteriskAdapter, ami_message_to_events

PAYLOADS = Path(__file__).parent / "payloads" / "asterisk"
SECRET = "asterisk-shared-secret"
NOW = datetime(2024, 5, 1, 7, 0, 30, tzinfo=UTC)
URL = "https://clinic.example/webhooks/asterisk"


def config(**extra: Any) -> dict[str, Any]:
    return {"ASTERISK_SECRET": SECRET, "REPLAY_WINDOW": 300, "REGION": "RU",
            "TIMEZONE": "Europe/Moscow", **extra}


def ami_events(name: str) -> list[dict[str, str]]:
    """The event blocks of a recorded AMI session (banner and Login answer skipped)."""
    text = (PAYLOADS / name).read_bytes().decode()
    blocks = [parse_block(b) for b in text.split("\r\n\r\n") if b.strip()]
    return [b for b in blocks if "Event" in b]


def post(body: bytes, content_type: str = "application/json", stamp: datetime = NOW,
         secret: str = SECRET) -> InboundRequest:
    unix = int(stamp.timestamp())
    signature = hmac.new(secret.encode(), f"{unix}.".encode() + body, hashlib.sha256).hexdigest()
    return InboundRequest(provider="asterisk", subpath="", method="POST", url=URL,
                          headers={"Content-Type": content_type,
                                   "X-Callcenter-Timestamp": str(unix),
                                   "X-Callcenter-Signature": signature},
                          body=body)


def accepted(request: InboundRequest) -> list[CallEvent]:
    adapter = AsteriskAdapter(clock=lambda: NOW)
    adapter.verify(request, config())
    events = adapter.parse(request, config())
    assert adapter.reply(request, events, config()).status == 204
    return events


def stamp(seconds: str) -> datetime:
    return datetime.fromtimestamp(float(seconds), UTC)


def test_registered_under_its_name() -> None:
    assert isinstance(ADAPTERS["asterisk"], AsteriskAdapter)


def test_answered_call_posted_as_one_json_list() -> None:
    events = accepted(post(json.dumps(ami_events("answered_call.ami.txt")).encode()))
    assert [(e.kind, e.extension, e.occurred_at, e.duration) for e in events] == [
        (CallEventKind.RINGING, None, stamp("1714546800.102311"), None),
        (CallEventKind.RECORDING, None, stamp("1714546800.210004"), None),
        (CallEventKind.RINGING, "101", stamp("1714546800.306877"), None),
        (CallEventKind.ANSWERED, "101", stamp("1714546805.118402"), None),
        (CallEventKind.ANSWERED, "101", stamp("1714546805.120553"), None),
        (CallEventKind.ENDED, "101", stamp("1714546865.009870"), None),
        # Cdr: Moscow wall-clock times, talk seconds from BillableSeconds
        (CallEventKind.ANSWERED, "101", datetime(2024, 5, 1, 7, 0, 5, tzinfo=UTC), None),
        (CallEventKind.ENDED, "101", datetime(2024, 5, 1, 7, 1, 5, tzinfo=UTC), 60),
    ]
    assert {e.provider_call_id for e in events} == {"1714546800.1"}
    ringing = events[0]
    assert (ringing.direction, ringing.caller, ringing.dialed, ringing.caller_raw) == (
        Direction.INBOUND, "+79001234567", "+74951234567", "79001234567")
    assert events[1].recording_url == ("/var/spool/asterisk/monitor/2024/05/01/"
                                       "in-74951234567-79001234567-20240501-100000-1714546800.1.wav")
    # DialEnd ANSWER and the desk phone entering the bridge are one answer
    assert events[3].dedupe_key == events[4].dedupe_key


def test_missed_call_to_a_ring_group() -> None:
    events = accepted(post(json.dumps(ami_events("missed_call.ami.txt")).encode()))
    assert [(e.kind, e.extension) for e in events] == [
        (CallEventKind.RINGING, None),
        (CallEventKind.RINGING, "101"),
        (CallEventKind.RINGING, "102"),
        # DialEnd CANCEL and the desk phones' hang-ups are not events of the call
        (CallEventKind.MISSED, None),
        (CallEventKind.MISSED, "101"),
        (CallEventKind.MISSED, "102"),
    ]
    assert events[3].occurred_at == stamp("1714554917.610000")
    assert events[3].extra["cause"] == "16"
    assert len({e.dedupe_key for e in events}) == len(events)


def test_one_event_as_a_form_post() -> None:
    dial_end = next(e for e in ami_events("answered_call.ami.txt") if e["Event"] == "DialEnd")
    (event,) = accepted(post(urlencode(dial_end).encode(), "application/x-www-form-urlencoded"))
    assert (event.kind, event.extension, event.provider_call_id) == (
        CallEventKind.ANSWERED, "101", "1714546800.1")


def test_one_event_as_a_json_object_without_timestamp_uses_receipt_time() -> None:
    newchannel = dict(ami_events("missed_call.ami.txt")[0])
    del newchannel["Timestamp"]
    (event,) = accepted(post(json.dumps(newchannel).encode()))
    assert event.occurred_at == NOW


def test_outbound_call_from_an_extension() -> None:
    fields = {"Event": "Newchannel", "Channel": "PJSIP/101-0000000a", "ChannelState": "4",
              "CallerIDNum": "101", "Exten": "89001234567", "Uniqueid": "1714560000.20",
              "Linkedid": "1714560000.20"}
    (event,) = ami_message_to_events(fields, config(), NOW)
    assert (event.direction, event.caller, event.dialed) == (
        Direction.OUTBOUND, None, "+79001234567")


def test_internal_call_between_extensions() -> None:
    fields = {"Event": "Newchannel", "CallerIDNum": "101", "Exten": "102",
              "Uniqueid": "1714560000.30", "Linkedid": "1714560000.30"}
    (event,) = ami_message_to_events(fields, config(), NOW)
    assert event.direction is Direction.INTERNAL


def test_cdr_of_an_internal_call() -> None:
    fields = {"Event": "Cdr", "UniqueID": "1714560000.40", "Source": "101", "Destination": "102",
              "DestinationChannel": "PJSIP/102-00000041", "Disposition": "ANSWERED",
              "AnswerTime": "2024-05-01 10:00:03", "EndTime": "2024-05-01 10:02:03",
              "BillableSeconds": "120"}
    answered, ended = ami_message_to_events(fields, config(), NOW)
    assert (ended.direction, ended.extension, ended.duration) == (Direction.INTERNAL, "102", 120)
    assert answered.occurred_at == datetime(2024, 5, 1, 7, 0, 3, tzinfo=UTC)


def test_holding_bridge_is_not_an_answer() -> None:
    fields = {"Event": "BridgeEnter", "BridgeType": "holding", "Channel": "PJSIP/101-00000002",
              "CallerIDNum": "101", "Uniqueid": "1714546800.2", "Linkedid": "1714546800.1"}
    assert ami_message_to_events(fields, config(), NOW) == []


def test_other_events_are_ignored() -> None:
    assert ami_message_to_events({"Event": "PeerStatus", "Peer": "PJSIP/101"}, config(), NOW) == []


@pytest.mark.parametrize(("fields", "field"), [
    ({"Channel": "PJSIP/1"}, "event"),
    ({"Event": "Newchannel", "Linkedid": "1.1"}, "uniqueid"),
    ({"Event": "DialBegin", "Uniqueid": "1.1", "DestChannel": "PJSIP/101-1"}, "linkedid"),
    ({"Event": "Hangup", "Uniqueid": "1.1", "Linkedid": "1.1", "Timestamp": "noon"}, "Timestamp"),
    ({"Event": "Cdr", "UniqueID": "1.1", "Disposition": "ANSWERED",
      "AnswerTime": "01/05/2024 10:00"}, "answertime"),
    ({"Event": "Cdr", "UniqueID": "1.1"}, "disposition"),
])
def test_malformed_events_name_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        ami_message_to_events(fields, config(), NOW)
    assert caught.value.field == field


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1, 2]", b'{"Event": {"nested": 1}}', b"[{"])
def test_malformed_bodies_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadError):
        AsteriskAdapter(clock=lambda: NOW).parse(post(body), config())


# --- signatures -------------------------------------------------------------------------


def test_tampered_body_is_rejected() -> None:
    request = post(json.dumps(ami_events("answered_call.ami.txt")[:1]).encode())
    forged = InboundRequest(**{**request.__dict__,
                               "body": request.body.replace(b"79001234567", b"79009999999")})
    with pytest.raises(SignatureError, match="does not match"):
        AsteriskAdapter(clock=lambda: NOW).verify(forged, config())


def test_missing_signature_is_rejected() -> None:
    request = post(b"[]")
    unsigned = InboundRequest(**{**request.__dict__, "headers": {}})
    with pytest.raises(SignatureError, match="missing"):
        AsteriskAdapter(clock=lambda: NOW).verify(unsigned, config())


def test_stale_request_is_rejected() -> None:
    old = post(b"[]", stamp=NOW - timedelta(seconds=301))
    with pytest.raises(SignatureError, match="replay window"):
        AsteriskAdapter(clock=lambda: NOW).verify(old, config())


def test_wrong_secret_and_no_secret_are_rejected() -> None:
    with pytest.raises(SignatureError):
        AsteriskAdapter(clock=lambda: NOW).verify(post(b"[]", secret="guess"), config())
    with pytest.raises(SignatureError, match="no secret"):
        AsteriskAdapter(clock=lambda: NOW).verify(post(b"[]"), config(ASTERISK_SECRET=""))


# --- anything else ----------------------------------------------------------------------

AMI_KEYS = st.sampled_from([
    "Event", "Uniqueid", "Linkedid", "UniqueID", "CallerIDNum", "ConnectedLineNum", "Exten",
    "ChannelState", "DestCallerIDNum", "DestChannel", "DestUniqueid", "DialStatus", "Channel",
    "BridgeType", "Timestamp", "Disposition", "AnswerTime", "EndTime", "BillableSeconds",
    "DestinationChannel", "Source", "Destination", "Variable", "Value",
])
AMI_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup", "Cdr",
                     "VarSet", "ANSWER", "ANSWERED", "NO ANSWER", "1714546800.1", "6", "101",
                     "2024-05-01 10:00:05", "PJSIP/101-00000002", "MIXMONITOR_FILENAME",
                     "1e400", "nan", "-1", "99999999999999999"]),
    st.integers(), st.floats(), st.none(), st.booleans(),
)


@settings(max_examples=400, deadline=None)
@given(fields=st.dictionaries(AMI_KEYS, AMI_VALUES, max_size=12))
def test_any_ami_fields_give_events_or_a_payload_error(fields: dict[str, Any]) -> None:
    try:
        events = ami_message_to_events(fields, config(), NOW)
    except PayloadError:
        return
    assert all(isinstance(e, CallEvent) for e in events)


@settings(max_examples=200, deadline=None)
@given(body=st.one_of(st.binary(max_size=300),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                   lambda inner: st.lists(inner, max_size=3)
                                   | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                                   max_leaves=10).map(lambda v: json.dumps(v).encode())))
def test_any_body_gives_events_or_a_payload_error(body: bytes) -> None:
    try:
        events = AsteriskAdapter(clock=lambda: NOW).parse(post(body), config())
    except PayloadError:
        return
    assert all(isinstance(e, CallEvent) for e in events)


@pytest.mark.parametrize(("body", "content_type", "field"), [
    (b'{"Event":"Newchannel","Uniqueid":"1.1","Linkedid":"1.1"}', "text/plain", "Content-Type"),
    (b'{"Event":"Newchannel","Uniqueid":"1.1","Linkedid":"1.1"}', "", "Content-Type"),
    # A form declared as JSON is not read as a form: the Content-Type decides, never the body.
    (b"Event=Newchannel&Uniqueid=1.1&Linkedid=1.1", "application/json", "body"),
    (b"Event=Newchannel&Event=Hangup&Uniqueid=1.1&Linkedid=1.1",
     "application/x-www-form-urlencoded", "Event"),
])
def test_the_declared_encoding_is_the_only_one_read(body: bytes, content_type: str,
                                                    field: str) -> None:
    request = post(body, content_type)
    AsteriskAdapter(clock=lambda: NOW).verify(request, config())
    with pytest.raises(PayloadError) as refused:
        AsteriskAdapter(clock=lambda: NOW).parse(request, config())
    assert refused.value.field == field
