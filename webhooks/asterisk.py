"""Asterisk AMI events, posted over HTTP (signed) or read from the manager port by ami_bridge.

One call = one Linkedid (the Uniqueid of the call's first channel). What becomes an event:
  Newchannel of the first channel   ringing; caller = CallerIDNum, dialed = Exten (the DID)
  DialBegin                         ringing at the dialed extension (DestCallerIDNum)
  DialEnd with DialStatus ANSWER    answered by that extension
  BridgeEnter of a later channel    answered (also covers queue members and call pickup;
                                    holding bridges are not an answer)
  Hangup of the first channel       ended; missed if that channel never came up
  Cdr                               answered (AnswerTime) + ended with talk seconds, or missed
  VarSet MIXMONITOR_FILENAME        recording (the file path on the PBX)
Everything else is ignored. An unanswered leg of a ring group (DialEnd NOANSWER, Hangup of a
desk phone) says nothing about the call: another phone may have answered.

Time: the `Timestamp` field (manager.conf `timestampevents = yes`), Cdr times in the clinic's
time zone (Asterisk writes local time), else when we received the event. Dedupe: each event id
names the channel and what happened to it, so the same AMI event delivered twice is one event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callcenter.core.phones import normalize
from webhooks.events import (
    CallEvent,
    CallEventKind,
    Direction,
    InboundRequest,
    PayloadError,
    WebhookReply,
)
from webhooks.hmac_signing import verify_signed
from webhooks.payload_fields import (
    FORM,
    JSON,
    Clock,
    declared,
    form_fields,
    optional_int,
    optional_text,
    required,
    system_clock,
)

PROVIDER = "asterisk"
# Internal extensions are short; anything longer is an outside number.
MAX_EXTENSION_DIGITS = 5
UP_STATE = "6"
# "PJSIP/101-00000002", "SIP/101-0000abcd", "Local/101@from-queue-00000001;1" → "101"
_PEER = re.compile(r"^[^/]+/(?P<peer>[^@;]+?)(?:-[0-9a-fA-F]{6,})?(?:[@;].*)?$")
CDR_TIME = "%Y-%m-%d %H:%M:%S"


class AsteriskAdapter:
    """AMI events as HTTP posts: a form (one event) or JSON (an object or a list of objects)."""

    name = PROVIDER

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock

    def verify(self, request: InboundRequest, settings: Mapping[str, Any]) -> None:
        verify_signed(request, settings.get("ASTERISK_SECRET") or "", settings["REPLAY_WINDOW"],
                      request.received_at or self.clock())

    def parse(self, request: InboundRequest, settings: Mapping[str, Any]) -> list[CallEvent]:
        received = request.received_at or self.clock()
        events: list[CallEvent] = []
        for fields in _messages(request):
            events.extend(ami_message_to_events(fields, settings, received))
        return events

    def reply(self, request: InboundRequest, events: list[CallEvent],
              settings: Mapping[str, Any]) -> WebhookReply:
        return WebhookReply(204)


def _messages(request: InboundRequest) -> list[dict[str, Any]]:
    """JSON (an event or a list) or one url-encoded event, as the Content-Type says: never guessed
    from the body, so the bytes are read one way only."""
    media = (request.header("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media == FORM:
        return [form_fields(request)]
    declared(request, JSON)
    if media != JSON:
        raise PayloadError("Content-Type", f"expected {JSON} or {FORM}")
    try:
        data = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PayloadError("body", "not valid JSON") from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise PayloadError(f"body[{index}]", "each AMI event must be an object")
    return items


def ami_message_to_events(fields: Mapping[str, Any], settings: Mapping[str, Any],
                          received: datetime) -> list[CallEvent]:
    """One AMI event (its Key: Value pairs) → call events; `received` stands in for a missing time."""
    message = {str(key).lower(): value for key, value in fields.items()}
    name = required(message, "event").lower()
    handler = _HANDLERS.get(name)
    if handler is None:
        return []
    return handler(message, settings, received)


def _is_extension(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= MAX_EXTENSION_DIGITS


def _peer(channel: str) -> str:
    match = _PEER.match(channel)
    return match.group("peer") if match else ""


def _extension(*candidates: str) -> str | None:
    return next((c for c in candidates if _is_extension(c)), None)


def _occurred(message: Mapping[str, Any], received: datetime) -> datetime:
    stamp = optional_text(message, "timestamp")
    if not stamp:
        return received
    try:
        return datetime.fromtimestamp(float(stamp), UTC)
    except (ValueError, OverflowError, OSError):
        raise PayloadError("Timestamp", "must be unix seconds") from None


def _first_channel(message: Mapping[str, Any]) -> bool:
    return optional_text(message, "uniqueid") == optional_text(message, "linkedid")


def _call(message: Mapping[str, Any], settings: Mapping[str, Any], call_id: str) -> dict[str, Any]:
    """Fields shared by a call's events; caller, dialed and direction come from the call's first
    channel (a later channel's event leaves them to the call's earlier events)."""
    base: dict[str, Any] = {"provider": PROVIDER, "provider_call_id": call_id}
    if not _first_channel(message):
        return base
    caller_num = optional_text(message, "calleridnum")
    exten = optional_text(message, "exten")
    region = settings["REGION"]
    return {**base, "direction": _direction(caller_num, exten),
            "caller": normalize(caller_num, region),
            "caller_raw": caller_num[:64], "dialed": normalize(exten, region)}


def _direction(caller: str, dialed: str) -> Direction:
    """An extension calling out is outbound, two extensions are internal, the rest inbound."""
    if _is_extension(caller):
        return Direction.INTERNAL if _is_extension(dialed) else Direction.OUTBOUND
    return Direction.INBOUND


def _channel_event(message: Mapping[str, Any], settings: Mapping[str, Any], received: datetime,
                   kind: CallEventKind, event_id: str, **values: Any) -> CallEvent:
    call = _call(message, settings, required(message, "linkedid"))
    return CallEvent(**call, kind=kind, occurred_at=_occurred(message, received),
                     event_id=event_id, raw=dict(message), **values)


def _newchannel(message: Mapping[str, Any], settings: Mapping[str, Any],
                received: datetime) -> list[CallEvent]:
    uniqueid = required(message, "uniqueid")
    if not _first_channel(message):
        return []  # a desk leg: DialBegin says who rings
    return [_channel_event(message, settings, received, CallEventKind.RINGING, f"{uniqueid}:new")]


def _dial_extension(message: Mapping[str, Any]) -> str | None:
    return _extension(optional_text(message, "destcalleridnum"), _peer(optional_text(message, "destchannel")),
                      optional_text(message, "calleridnum"))


def _dialbegin(message: Mapping[str, Any], settings: Mapping[str, Any],
               received: datetime) -> list[CallEvent]:
    leg = optional_text(message, "destuniqueid") or required(message, "destchannel")
    return [_channel_event(message, settings, received, CallEventKind.RINGING, f"{leg}:dial",
                           extension=_dial_extension(message))]


def _dialend(message: Mapping[str, Any], settings: Mapping[str, Any],
             received: datetime) -> list[CallEvent]:
    status = required(message, "dialstatus").upper()
    if status != "ANSWER":
        return []  # one phone of a group stopped ringing; the call goes on
    leg = optional_text(message, "destuniqueid") or required(message, "destchannel")
    return [_channel_event(message, settings, received, CallEventKind.ANSWERED, f"{leg}:answer",
                           extension=_dial_extension(message))]


def _bridgeenter(message: Mapping[str, Any], settings: Mapping[str, Any],
                 received: datetime) -> list[CallEvent]:
    uniqueid = required(message, "uniqueid")
    if _first_channel(message) or optional_text(message, "bridgetype").lower() == "holding":
        return []  # the caller's own channel, or a parking/holding bridge
    extension = _extension(optional_text(message, "calleridnum"), _peer(optional_text(message, "channel")),
                           optional_text(message, "connectedlinenum"))
    # Same id as DialEnd's answer of this channel: the two are one answer.
    return [_channel_event(message, settings, received, CallEventKind.ANSWERED,
                           f"{uniqueid}:answer", extension=extension)]


def _hangup(message: Mapping[str, Any], settings: Mapping[str, Any],
            received: datetime) -> list[CallEvent]:
    uniqueid = required(message, "uniqueid")
    if not _first_channel(message):
        return []  # a desk phone hung up or stopped ringing
    answered = optional_text(message, "channelstate") == UP_STATE
    kind = CallEventKind.ENDED if answered else CallEventKind.MISSED
    extra = {"cause": optional_text(message, "cause"), "cause_txt": optional_text(message, "cause-txt")}
    return [_channel_event(message, settings, received, kind, f"{uniqueid}:hangup",
                           extension=_extension(optional_text(message, "connectedlinenum")), extra=extra)]


def _cdr_time(message: Mapping[str, Any], name: str, zone: ZoneInfo) -> datetime | None:
    value = optional_text(message, name)
    if not value:
        return None
    try:
        return datetime.strptime(value, CDR_TIME).replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        raise PayloadError(name, f"expected {CDR_TIME}") from None


def _cdr(message: Mapping[str, Any], settings: Mapping[str, Any],
         received: datetime) -> list[CallEvent]:
    uniqueid = required(message, "uniqueid")
    call_id = optional_text(message, "linkedid") or uniqueid
    zone = ZoneInfo(settings["TIMEZONE"])
    destination = optional_text(message, "destinationchannel")
    extension = _extension(_peer(destination), optional_text(message, "source"))
    ended = _cdr_time(message, "endtime", zone) or _occurred(message, received)
    source = optional_text(message, "source")
    base = {"provider": PROVIDER, "provider_call_id": call_id, "extension": extension,
            "caller": normalize(source, settings["REGION"]), "caller_raw": source[:64],
            "dialed": normalize(optional_text(message, "destination"), settings["REGION"]),
            "direction": _direction(source, optional_text(message, "destination")),
            "raw": dict(message)}
    event_id = f"{uniqueid}:cdr:{destination}"
    disposition = required(message, "disposition").upper()
    extra = {"disposition": disposition}
    answered_at = _cdr_time(message, "answertime", zone)
    if disposition != "ANSWERED" or answered_at is None:
        # Asterisk writes one CDR per dialed phone: a NO ANSWER here can be one phone of a group.
        return [CallEvent(**base, kind=CallEventKind.MISSED, occurred_at=ended,
                          event_id=event_id, extra=extra)]
    return [
        CallEvent(**base, kind=CallEventKind.ANSWERED, occurred_at=answered_at,
                  event_id=event_id, extra=extra),
        CallEvent(**base, kind=CallEventKind.ENDED, occurred_at=ended, event_id=event_id,
                  duration=optional_int(message, "billableseconds"), extra=extra),
    ]


def _varset(message: Mapping[str, Any], settings: Mapping[str, Any],
            received: datetime) -> list[CallEvent]:
    if optional_text(message, "variable") != "MIXMONITOR_FILENAME":
        return []
    path = required(message, "value")
    uniqueid = required(message, "uniqueid")
    return [_channel_event(message, settings, received, CallEventKind.RECORDING,
                           f"{uniqueid}:{path}", recording_url=path)]


_HANDLERS = {
    "newchannel": _newchannel,
    "dialbegin": _dialbegin,
    "dialend": _dialend,
    "bridgeenter": _bridgeenter,
    "hangup": _hangup,
    "cdr": _cdr,
    "varset": _varset,
}
